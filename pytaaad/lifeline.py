"""Tie a process's life to its parent's, so that no worker outlives what started it."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
# Set by ``pytaaad run`` for its fork server, which imports ``pytaaad.runguard``.
RUN_PID_ENV = "PYTAAAD_RUN_PID"


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux).

    ``parent_pid`` is the parent expected; None takes the current one. A parent that
    died before the request sends no signal, so the process exits at once instead.
    """
    parent = os.getppid() if parent_pid is None else parent_pid
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:
        os._exit(1)
