"""Where a daemon's socket is by default; the daemon and its clients share this."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

APP_NAME = "pytaaad"
SOCKET_NAME = "pytaaad.sock"
# The daemon reads it as its --socket option; clients use it to find the daemon.
SOCKET_VARIABLE = "PYTAAAD_SOCKET"
# Where the system service listens: its unit's RuntimeDirectory=pytaaad.
SYSTEM_SOCKET = Path("/run") / APP_NAME / SOCKET_NAME


def default_socket(environ: Mapping[str, str]) -> Path | None:
    """systemd's RuntimeDirectory, else $XDG_RUNTIME_DIR/pytaaad, else nothing."""
    runtime = environ.get("RUNTIME_DIRECTORY")
    if runtime:
        return Path(runtime.split(":")[0]) / SOCKET_NAME
    xdg = environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / APP_NAME / SOCKET_NAME
    return None
