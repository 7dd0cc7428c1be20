"""Executor pieces that need no worker processes."""

from __future__ import annotations

import signal
from typing import Any
from unittest import mock

from pytaaad.executors import _BreakReport, describe_exit


def _task_on(pid: int | None) -> Any:
    process = None if pid is None else mock.Mock(pid=pid)
    return mock.Mock(process=process)


def test_the_worker_that_died_on_its_own_is_the_culprit() -> None:
    """A worker killed by a signal other than the pool's SIGTERM broke the pool."""
    report = _BreakReport({10: -signal.SIGKILL, 11: -signal.SIGTERM}, frozenset())
    assert report.crash_of(_task_on(10)) == "worker 10 was killed by signal 9 (SIGKILL)"
    assert report.crash_of(_task_on(11)) is None
    assert report.crash_of(_task_on(None)) is None


def test_stragglers_killed_by_the_daemon_are_not_blamed() -> None:
    """Workers the daemon killed for ignoring SIGTERM do not crash their jobs."""
    report = _BreakReport({10: -signal.SIGKILL}, frozenset({10}))
    assert report.crash_of(_task_on(10)) is None
    assert report.culprits() == []


def test_exit_descriptions_name_signal_or_code() -> None:
    """Exit codes read as signals (negative) or plain exit codes."""
    assert (
        describe_exit(5, -signal.SIGSEGV)
        == "worker 5 was killed by signal 11 (SIGSEGV)"
    )
    assert describe_exit(5, 3) == "worker 5 exited with code 3"
