"""One exception tree for pytaaad, rooted in PytaaadError."""

from __future__ import annotations


class PytaaadError(Exception):
    """Base of every error pytaaad raises on purpose.

    ``code`` is the stable, machine-readable name used in protocol error replies.
    """

    code = "error"


class ConfigError(PytaaadError):
    """A PyTAAA config file is missing, unreadable or invalid."""

    code = "bad_config"


class QuoteDataError(PytaaadError):
    """A quote store is missing, unreadable, empty or too short."""

    code = "bad_quotes"


class OutputError(PytaaadError):
    """An output could not be written."""

    code = "output_failed"


class JobStopped(PytaaadError):
    """A job was asked to stop (replaced or cancelled) at a trial boundary."""

    code = "stopped"
