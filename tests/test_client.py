"""The Python clients: finding the socket, and requests to a real daemon."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytaaad import client as client_module
from pytaaad.client import (
    REUSE_SECONDS,
    AsyncClient,
    Client,
    config_path,
    find_socket,
)
from pytaaad.errors import (
    BadReply,
    ConfigError,
    DaemonUnreachable,
    JobNotInFlight,
    PathNotAllowed,
    UnknownJob,
)
from pytaaad.jobs import JobState
from pytaaad.replies import JobInfo
from tests.helpers import (
    DaemonProcess,
    wait_for_end,
    wait_for_running,
    write_job_config,
)

DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.05


@pytest.fixture
def no_system_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the system service's socket at a path that does not exist."""
    path = tmp_path / "system" / "pytaaad.sock"
    monkeypatch.setattr(client_module, "SYSTEM_SOCKET", path)
    return path


def test_an_explicit_socket_wins_over_the_variable_and_the_default(
    tmp_path: Path, no_system_socket: Path
) -> None:
    """--socket beats $PYTAAAD_SOCKET, which beats $XDG_RUNTIME_DIR/pytaaad."""
    environ = {"PYTAAAD_SOCKET": "/env/s.sock", "XDG_RUNTIME_DIR": str(tmp_path)}
    assert find_socket("/given/s.sock", environ) == Path("/given/s.sock")
    assert find_socket(None, environ) == Path("/env/s.sock")
    del environ["PYTAAAD_SOCKET"]
    assert find_socket(None, environ) == tmp_path / "pytaaad" / "pytaaad.sock"


def test_the_system_socket_is_used_when_the_users_default_is_absent(
    tmp_path: Path, no_system_socket: Path
) -> None:
    """Without a socket at the daemon's own default, the system service's is used."""
    environ = {"XDG_RUNTIME_DIR": str(tmp_path / "user")}
    own = tmp_path / "user" / "pytaaad" / "pytaaad.sock"
    assert find_socket(None, {}) == no_system_socket
    assert find_socket(None, environ) == own
    no_system_socket.parent.mkdir()
    no_system_socket.touch()
    assert find_socket(None, environ) == no_system_socket
    own.parent.mkdir(parents=True)
    own.touch()
    assert find_socket(None, environ) == own


def test_relative_paths_are_made_absolute_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative socket or config path is taken from the current directory."""
    monkeypatch.chdir(tmp_path)
    assert find_socket("run/s.sock", {}) == tmp_path / "run" / "s.sock"
    assert config_path("configs/../job.json") == str(tmp_path.resolve() / "job.json")


def test_submit_returns_the_job_and_wait_its_final_record(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """A submit returns a queued job; wait reports progress and the finished record."""
    config = write_job_config(shared_configs, trials=3)
    with Client(shared_daemon.socket) as client:
        result = client.submit(config, kind="test")
        assert result.replaced is None
        assert result.job.key == str(config)
        assert result.job.state in (JobState.QUEUED, JobState.RUNNING)
        seen: list[JobInfo] = []
        wait_for_end(client, result.job.id)
        done = client.wait(result.job.id, interval=POLL_SECONDS, on_update=seen.append)
    assert done.state is JobState.SUCCEEDED
    assert done.ended_well
    assert done.trials_done == done.trials_total == 3
    assert done.outputs == (str(shared_configs.parent / "out" / "job.txt"),)
    assert seen == [done]


def test_a_second_submit_replaces_the_job_in_flight(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """Resubmitting a running config replaces its job; status shows both."""
    config = write_job_config(shared_configs, trials=40, seconds_per_trial=0.5)
    with Client(shared_daemon.socket) as client:
        first = client.submit(config, kind="test").job
        second = client.submit(config, kind="test", trials=1)
        assert second.replaced == first.id
        assert client.job(first.id).state is JobState.REPLACED
        status = client.status()
        mine = [job.id for job in status.jobs if job.key == str(config)]
        assert mine == [second.job.id, first.id]
        assert status.daemon.pid == shared_daemon.pid
        assert wait_for_end(client, second.job.id).state is JobState.SUCCEEDED


def test_cancel_logs_and_history_name_a_job_by_config_or_id(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """cancel ends a running job; its log and the history show it."""
    config = write_job_config(shared_configs, trials=40, seconds_per_trial=0.5)
    with Client(shared_daemon.socket) as client:
        job = client.submit(config, kind="test").job
        wait_for_running(client, job.id)
        cancelled = client.cancel(config)
        assert cancelled.id == job.id
        assert cancelled.state is JobState.CANCELLED
        tail = client.logs(job=job.id, lines=500)
        assert tail.job == job.id
        assert tail.lines[0].startswith(f"# pytaaad job {job.id} ")
        assert any("cancelled" in line for line in tail.lines)
        (record,) = client.history(config)
        assert (record.id, record.state) == (job.id, JobState.CANCELLED)
        assert client.history(config, limit=1) == (record,)


def test_error_replies_raise_their_exception_with_the_daemons_message(
    shared_daemon: DaemonProcess, shared_configs: Path, tmp_path: Path
) -> None:
    """Refusals raise their PytaaadError subclass; the connection stays usable."""
    outside = write_job_config(tmp_path / "elsewhere")
    broken = shared_configs / "broken.json"
    broken.write_text("{")
    finished = write_job_config(shared_configs, "finished", trials=1)
    with Client(shared_daemon.socket) as client:
        with pytest.raises(PathNotAllowed, match="outside the allowed roots"):
            client.submit(outside, kind="test")
        with pytest.raises(ConfigError, match="not valid JSON") as bad:
            client.submit(broken, kind="test")
        assert bad.value.code == "bad_config"
        with pytest.raises(UnknownJob, match="no job 999999"):
            client.cancel(job=999999)
        job = client.submit(finished, kind="test").job
        wait_for_end(client, job.id)
        with pytest.raises(JobNotInFlight, match="already ended"):
            client.cancel(job=job.id)
        assert client.ping().pid == shared_daemon.pid


def test_no_daemon_raises_unreachable_saying_how_to_start_one(tmp_path: Path) -> None:
    """Without a socket the error says so and names the commands that start one."""
    path = tmp_path / "none.sock"
    with pytest.raises(DaemonUnreachable) as caught:
        Client(path).ping()
    message = str(caught.value)
    assert f"no pytaaad daemon is listening on {path} (no such socket)" in message
    assert "'systemctl start pytaaad'" in message
    assert f"'pytaaad --socket {path}'" in message


def test_a_stale_socket_raises_unreachable(tmp_path: Path) -> None:
    """A socket file nothing listens on, as a killed daemon leaves, is refused."""
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))
    with pytest.raises(DaemonUnreachable, match=r"\(connection refused, a stale"):
        Client(path).status()


def test_a_daemon_that_stops_between_requests_is_unreachable(
    daemon: DaemonProcess,
) -> None:
    """A connection the daemon closed is dropped; with no daemon left to reconnect
    to, the next request raises DaemonUnreachable.
    """
    with Client(daemon.socket) as client:
        client.ping()
        daemon.stop()
        with pytest.raises(DaemonUnreachable, match="no pytaaad daemon is listening"):
            client.ping()


def test_a_connection_closed_while_idle_is_replaced(daemon: DaemonProcess) -> None:
    """The daemon closing an idle connection costs the client nothing: the next
    request goes out on a new connection.
    """
    with Client(daemon.socket) as client:
        first = client.ping()
        assert client._sock is not None
        # What the daemon does to a connection idle for IDLE_SECONDS.
        client._sock.shutdown(socket.SHUT_RD)
        assert client.ping().pid == first.pid


def test_a_connection_idle_for_long_is_replaced_before_a_request(
    daemon: DaemonProcess,
) -> None:
    """A connection the daemon may be about to close is not used for a request."""
    with Client(daemon.socket) as client:
        client.ping()
        old = client._sock
        client.ping()
        assert client._sock is old
        client._used_at -= REUSE_SECONDS + 1
        client.ping()
        assert client._sock is not old


def test_a_socket_without_permission_says_who_may_connect(tmp_path: Path) -> None:
    """A socket this user may not open gets an error naming who the daemon admits."""
    path = tmp_path / "private.sock"
    with socket.socket(socket.AF_UNIX) as private:
        private.bind(str(path))
        private.listen()
        path.chmod(0)
        if os.access(path, os.W_OK):
            pytest.skip("this user (root?) may connect to any socket")
        with pytest.raises(DaemonUnreachable, match="admits its own user, root"):
            Client(path).ping()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    """A Unix socket that listens under tmp_path but is no pytaaad daemon."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "other.sock"))
        sock.listen()
        sock.settimeout(DEADLINE_SECONDS)
        yield sock


def test_a_silent_listener_times_out(listener: socket.socket) -> None:
    """A listener that never replies raises DaemonUnreachable after the timeout."""
    with pytest.raises(DaemonUnreachable, match=r"did not reply within 0\.2 s"):
        Client(listener.getsockname(), timeout=0.2).ping()


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"hello\n", "invalid JSON"),
        (b'{"v": 2, "id": 1, "ok": true, "result": {}}\n', "protocol version 1"),
        (b'{"v": 1, "id": 7, "ok": true, "result": {}}\n', "request 7 to request 1"),
        (b'{"v": 1, "id": 1, "ok": true, "result": {"pong": true}}\n', "incomplete"),
    ],
    ids=["not-json", "other-version", "other-id", "missing-fields"],
)
def test_a_reply_that_is_not_protocol_v1_raises_bad_reply(
    listener: socket.socket, reply: bytes, match: str
) -> None:
    """Garbage, another version, another request's id or missing fields: BadReply."""

    def answer() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(reply)

    server = threading.Thread(target=answer)
    server.start()
    try:
        with (
            Client(listener.getsockname()) as client,
            pytest.raises(BadReply, match=match),
        ):
            client.ping()
    finally:
        server.join()


async def test_async_client_does_what_the_blocking_one_does(
    shared_daemon: DaemonProcess, shared_configs: Path, tmp_path: Path
) -> None:
    """AsyncClient submits, answers concurrent requests in turn, waits and cancels."""
    quick = write_job_config(shared_configs, "quick", trials=2)
    slow = write_job_config(shared_configs, "slow", trials=40, seconds_per_trial=0.5)
    async with AsyncClient(shared_daemon.socket) as client:
        pings = await asyncio.gather(*(client.ping() for _ in range(10)))
        assert {info.pid for info in pings} == {shared_daemon.pid}
        job = (await client.submit(quick, kind="test")).job
        done = await asyncio.wait_for(
            client.wait(job.id, interval=POLL_SECONDS), DEADLINE_SECONDS
        )
        assert done.state is JobState.SUCCEEDED
        running = (await client.submit(slow, kind="test")).job
        assert (await client.cancel(job=running.id)).state is JobState.CANCELLED
        assert (await client.status(slow)).jobs[0].id == running.id
        assert (await client.logs(quick)).job == job.id
        newest = (await client.history(limit=2))[0]
        assert newest.id == running.id
        with pytest.raises(PathNotAllowed):
            await client.submit(tmp_path / "outside.json", kind="test")


async def test_async_client_reports_a_missing_daemon(tmp_path: Path) -> None:
    """AsyncClient raises DaemonUnreachable with the same advice."""
    async with AsyncClient(tmp_path / "none.sock") as client:
        with pytest.raises(DaemonUnreachable, match="systemctl start pytaaad"):
            await client.ping()


async def test_async_client_sees_a_daemon_that_stops(daemon: DaemonProcess) -> None:
    """After the daemon stops, the next request raises DaemonUnreachable."""
    async with AsyncClient(daemon.socket) as client:
        await client.ping()
        await asyncio.to_thread(daemon.stop)
        with pytest.raises(DaemonUnreachable):
            await client.ping()
