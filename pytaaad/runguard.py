"""Imported only by the fork server of ``pytaaad run``: it dies with the run.

The fork server is a child of the run and the parent of its workers. With this, a run
killed by SIGKILL (an OOM kill, a cron timeout) takes the fork server with it, and the
workers, whose pool initializer is ``tie_to_fork_server``, follow.
"""

from __future__ import annotations

import os

from pytaaad.lifeline import RUN_PID_ENV, die_with_parent

# Set in the fork server; its workers, forked from it, inherit the value.
FORK_SERVER_PID: int | None = None

_RUN_PID = os.environ.get(RUN_PID_ENV, "")
if _RUN_PID.isdigit() and int(_RUN_PID) != os.getpid():
    die_with_parent(int(_RUN_PID))
    FORK_SERVER_PID = os.getpid()


def tie_to_fork_server() -> None:
    """Pool initializer: die with the fork server, or at once if it is already gone
    (a worker forked just before the run was killed).
    """
    die_with_parent(FORK_SERVER_PID)
