"""The hidden staging folders outputs are rendered into: their names and cleanup.

A token names the process that made it: ``[prefix]<host>.<pid>-<random>``, where
``<host>`` stands for this machine and pid namespace. A folder left by a killed process
of this host is cleared as soon as that process is gone; one of another host (a
container, a machine sharing the folder over NFS) only once it is old enough to be
nobody's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import socket
import time
from functools import cache
from pathlib import Path

STAGING_PREFIX = ".pytaaad-staging-"
RUN_TOKEN_PREFIX = "run-"
STALE_STAGING_SECONDS = 3600.0
HOST_TAG_CHARS = 8


def staging_token(prefix: str = "") -> str:
    """A fresh staging token that names this process on this host."""
    return f"{prefix}{host_tag()}.{os.getpid()}-{secrets.token_hex(8)}"


@cache
def host_tag() -> str:
    """A short tag for this host and pid namespace, the space a pid is valid in."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    digest = hashlib.sha256(f"{socket.gethostname()}/{namespace}".encode())
    return digest.hexdigest()[:HOST_TAG_CHARS]


def discard_stale(folder: Path) -> None:
    """Remove the staging folders in ``folder`` that killed processes left behind."""
    if not folder.is_dir():
        return
    limit = time.time() - STALE_STAGING_SECONDS
    for stale in folder.glob(f"{STAGING_PREFIX}*"):
        with contextlib.suppress(OSError):
            owner = staging_owner(stale.name)
            orphaned = owner is not None and not _process_exists(owner)
            if stale.is_dir() and (orphaned or stale.stat().st_mtime < limit):
                shutil.rmtree(stale, ignore_errors=True)


def staging_owner(name: str) -> int | None:
    """The pid that made the staging folder ``name``, if it was made on this host."""
    token = name.removeprefix(STAGING_PREFIX).removeprefix(RUN_TOKEN_PREFIX)
    host, _, rest = token.partition(".")
    pid, _, _ = rest.partition("-")
    if host != host_tag() or not pid.isdigit():
        return None
    return int(pid)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
