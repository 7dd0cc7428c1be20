"""Fixtures that start real daemons on sockets under tmp_path and always stop them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DaemonProcess

StartDaemon = Callable[..., DaemonProcess]


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[StartDaemon]:
    """Start daemons on demand; each is shut down after the test, and must exit 0."""
    started: list[DaemonProcess] = []

    def start(*extra: str, **options: Any) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, *extra, **options)
        started.append(daemon)
        return daemon

    yield start
    failures = []
    for daemon in started:
        was_running = daemon.process.poll() is None
        code = daemon.stop()
        if was_running and code != 0:
            failures.append(f"daemon {daemon.pid} exited {code}:\n{daemon.log()}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> DaemonProcess:
    """One daemon with two workers that runs test jobs."""
    return start_daemon()


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """The folder the daemon accepts configs from."""
    folder = tmp_path / "configs"
    folder.mkdir(exist_ok=True)
    return folder
