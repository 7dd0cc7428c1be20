"""Allowed roots: the folders configs may be read from and outputs written to."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from pytaaad.errors import ConfigError, PathNotAllowed, ProtocolError

logger = logging.getLogger(__name__)


def absolute_path(raw: str, what: str) -> Path:
    """A client's path, resolved; clients send absolute paths, the daemon has no cwd."""
    try:
        path = Path(raw).expanduser()
        if not path.is_absolute():
            raise ProtocolError(f"{what} must be an absolute path, got {raw!r}")
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a loop, ~nobody, a NUL
        raise ConfigError(f"{what} {raw!r}: cannot resolve the path ({exc})") from None


class Roots:
    """Folders a path must lie in, after resolving symlinks; none means anywhere."""

    def __init__(self, folders: Iterable[Path], what: str) -> None:
        self.folders = tuple(folder.expanduser().resolve() for folder in folders)
        self.what = what

    def check(self, path: Path) -> Path:
        """Return ``path`` resolved, or raise PathNotAllowed."""
        resolved = path.resolve()
        if self.folders and not any(resolved.is_relative_to(f) for f in self.folders):
            allowed = ", ".join(str(folder) for folder in self.folders)
            raise PathNotAllowed(
                f"{self.what} {resolved} is outside the allowed roots ({allowed})"
            )
        return resolved
