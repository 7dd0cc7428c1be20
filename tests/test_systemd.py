"""systemd integration: the unit files, socket activation and sd_notify messages."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytaaad import systemd
from tests.helpers import REPO, call

UNITS = REPO / "systemd"
START_SECONDS = 30.0
SOCKET_ACTIVATION = 'exec 3<&"$FD" && exec {FD}<&- && LISTEN_PID=$$ WATCHDOG_PID=$$ '


def _verify(folder: Path, user: bool) -> subprocess.CompletedProcess[str]:
    command = ["systemd-analyze", *(["--user"] if user else []), "verify"]
    env = dict(os.environ, XDG_RUNTIME_DIR=str(folder))
    units = [str(folder / "pytaaad.service"), str(folder / "pytaaad.socket")]
    return subprocess.run(
        [*command, *units], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_units_verify(tmp_path: Path, user: bool) -> None:
    """systemd-analyze verify accepts the service and socket units."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    source = UNITS / "user" if user else UNITS
    for name in ("pytaaad.service", "pytaaad.socket"):
        text = (source / name).read_text()
        # verify checks that ExecStart's program exists; point it at this Python.
        for program in ("/usr/local/bin/pytaaad", "%h/.local/bin/pytaaad"):
            text = text.replace(
                f"ExecStart={program}", f"ExecStart={sys.executable} -m pytaaad"
            )
        (tmp_path / name).write_text(text)
    tmp_path.chmod(0o700)
    result = _verify(tmp_path, user)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_tmpfiles_line_makes_the_socket_folder_the_services(tmp_path: Path) -> None:
    """systemd-tmpfiles creates the socket unit's folder, 0750, owned by pytaaad."""
    if shutil.which("systemd-tmpfiles") is None:
        pytest.skip("systemd-tmpfiles is not installed")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("pytaaad:x:990:991::/:/sbin/nologin\n")
    (tmp_path / "etc" / "group").write_text("pytaaad:x:991:\n")
    command = ["systemd-tmpfiles", f"--root={tmp_path}", "--create"]
    subprocess.run([*command, str(UNITS / "pytaaad-tmpfiles.conf")], check=True)
    socket_unit = (UNITS / "pytaaad.socket").read_text()
    listen = next(
        line.partition("=")[2]
        for line in socket_unit.splitlines()
        if line.startswith("ListenStream=")
    )
    folder = tmp_path / Path(listen).parent.relative_to("/")
    info = folder.stat()
    assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o750, 990, 991)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify.sock"))
        sock.settimeout(0.2)
        yield sock


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[socket.socket]:
    """A listening socket as a socket unit would create it."""
    folder = tmp_path / "run"
    folder.mkdir(mode=0o750)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(folder / "pytaaad.sock"))
        sock.listen(16)
        yield sock


def _activate(tmp_path: Path, listening: socket.socket) -> subprocess.Popen[bytes]:
    """Start the daemon the way systemd does: socket on fd 3, LISTEN_* and notify."""
    fd = listening.fileno()
    env = dict(
        os.environ,
        FD=str(fd),
        LISTEN_FDS="1",
        NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
        WATCHDOG_USEC="400000",
        PYTHONPATH=str(REPO),
    )
    daemon = [sys.executable, "-m", "pytaaad", "--state-dir", str(tmp_path / "state")]
    daemon += ["--workers", "1", "--log-level", "INFO"]
    script = SOCKET_ACTIVATION + " ".join(daemon)
    with (tmp_path / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            ["bash", "-c", script], env=env, pass_fds=(fd,), stdout=log, stderr=log
        )


def _messages(sock: socket.socket, until: str, timeout: float) -> list[str]:
    received: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            received.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if received[-1].startswith(until):
            return received
    raise AssertionError(f"no {until} within {timeout}s; got {received}")


async def test_socket_activation_serves_and_keeps_the_socket(
    tmp_path: Path, listening: socket.socket, notify_socket: socket.socket
) -> None:
    """An inherited socket is served, reported over sd_notify and left in place."""
    path = tmp_path / "run" / "pytaaad.sock"
    process = _activate(tmp_path, listening)
    try:
        ready = _messages(notify_socket, "READY=1", START_SECONDS)
        assert (await call(path, "ping"))["pid"] == process.pid
        later = _messages(notify_socket, "WATCHDOG=1", 5.0)
        assert any(m.startswith("STATUS=0 running, 0 queued") for m in ready + later)
        await call(path, "shutdown")
        assert "STOPPING=1" in _messages(notify_socket, "STOPPING=1", 10.0)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert path.is_socket()


async def test_connection_waiting_on_the_socket_is_served_by_the_next_start(
    tmp_path: Path, listening: socket.socket, notify_socket: socket.socket
) -> None:
    """A client that connects while no daemon runs is answered once one starts."""
    path = tmp_path / "run" / "pytaaad.sock"
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(b'{"v": 1, "op": "ping", "id": "early"}\n')
    await writer.drain()
    process = _activate(tmp_path, listening)
    try:
        reply = await asyncio.wait_for(reader.readline(), START_SECONDS)
        assert b'"id":"early"' in reply
        assert b'"ok":true' in reply
    finally:
        writer.close()
        process.terminate()
        process.wait(20)
    assert path.is_socket()


def test_no_listen_variables_means_no_inherited_socket() -> None:
    """Without LISTEN_PID and LISTEN_FDS the daemon binds its own socket."""
    assert systemd.inherited_socket({}) is None


def test_listen_variables_for_another_process_are_ignored() -> None:
    """LISTEN_FDS meant for another process is not used, and is cleared."""
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "x"}
    assert systemd.inherited_socket(environ) is None
    assert environ == {}


def test_notifier_is_silent_outside_systemd() -> None:
    """Without NOTIFY_SOCKET nothing is sent and nothing fails."""
    notifier = systemd.Notifier({})
    assert not notifier.enabled
    notifier.notify("READY=1")
