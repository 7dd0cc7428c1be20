"""One exception tree for pytaaad, rooted in PytaaadError."""

from __future__ import annotations

import functools


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


class ProtocolError(PytaaadError):
    """A client sent a frame that is not a valid version 1 request.

    ``request_id`` is the client's request id when the frame was readable enough.
    """

    code = "bad_request"
    request_id: str | int | None = None


class BadJson(ProtocolError):
    """A frame is not a JSON object."""

    code = "bad_json"


class FrameTooLarge(ProtocolError):
    """A frame is longer than the protocol's limit."""

    code = "frame_too_large"


class UnknownOp(ProtocolError):
    """A request names an operation the daemon does not have."""

    code = "unknown_op"


class UnsupportedVersion(ProtocolError):
    """A request speaks a protocol version the daemon does not."""

    code = "bad_version"


class AccessDenied(PytaaadError):
    """A peer's credentials are not on the daemon's allow-list."""

    code = "permission_denied"


class TooManyConnections(PytaaadError):
    """The daemon holds as many client connections as it serves at once."""

    code = "busy"


class PathNotAllowed(PytaaadError):
    """A config or output path lies outside the configured roots."""

    code = "path_not_allowed"


class UnknownJobKind(PytaaadError):
    """A submit names a job kind this daemon does not run."""

    code = "unknown_kind"


class UnknownJob(PytaaadError):
    """No job has the requested id or config."""

    code = "not_found"


class JobNotInFlight(PytaaadError):
    """A cancel names a job that has already ended."""

    code = "not_in_flight"


class IllegalTransition(PytaaadError):
    """A job was asked to move to a state its current state cannot reach."""

    code = "illegal_transition"


class ShuttingDown(PytaaadError):
    """The daemon is stopping and takes no new work."""

    code = "shutting_down"


class WorkerCrashed(PytaaadError):
    """A worker process died while running a task of the job."""

    code = "worker_crashed"


class ExecutorError(PytaaadError):
    """The executor cannot take the job (for example, no stop slot is free)."""

    code = "executor_failed"


class HistoryError(PytaaadError):
    """The job history database cannot be opened or written."""

    code = "history_failed"


class AlreadyRunning(PytaaadError):
    """Another daemon holds the lock of the requested socket."""

    code = "already_running"


class InternalError(PytaaadError):
    """The daemon failed while handling a request; its log has the traceback."""

    code = "internal"


class DaemonUnreachable(PytaaadError):
    """No daemon answers on the socket: there is none, it refuses, or it went away."""

    code = "unreachable"


class BadReply(PytaaadError):
    """What came back on the socket is not a protocol version 1 reply."""

    code = "bad_reply"


def error_from_reply(code: str, message: str) -> PytaaadError:
    """The exception an error reply stands for: the class with that code, the message.

    A code this version does not know (a newer daemon) gives a PytaaadError that keeps
    the code.
    """
    error = _classes_by_code().get(code, PytaaadError)(message)
    error.code = code
    return error


@functools.cache
def _classes_by_code() -> dict[str, type[PytaaadError]]:
    classes: dict[str, type[PytaaadError]] = {}
    pending = [PytaaadError]
    while pending:
        cls = pending.pop()
        classes.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return classes
