"""Imported only by the fork server of ``pytaaad run``: it dies with the run.

The fork server is a child of the run and the parent of its workers. With this, a run
killed by SIGKILL (an OOM kill, a cron timeout) takes the fork server with it, and the
workers, which ask for the same in their initializer, follow.
"""

from __future__ import annotations

import os

from pytaaad.lifeline import RUN_PID_ENV, die_with_parent

_RUN_PID = os.environ.get(RUN_PID_ENV, "")
if _RUN_PID.isdigit() and int(_RUN_PID) != os.getpid():
    die_with_parent(int(_RUN_PID))
