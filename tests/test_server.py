"""The socket server: permissions, peer credentials, bad frames."""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pytaaad import server as server_module
from pytaaad.errors import PytaaadError
from pytaaad.server import Peer, PeerPolicy, Server, bind_socket, prepare_directory
from tests.conftest import StartDaemon
from tests.helpers import DaemonProcess, exchange, wait_until

NOBODY = 65534


def test_policy_allows_own_uid_and_root_only_by_default() -> None:
    """Without a group, only the daemon's own user and root may connect."""
    policy = PeerPolicy()
    assert policy.allows(Peer(1, os.getuid(), 0))
    assert policy.allows(Peer(1, 0, 0))
    assert not policy.allows(Peer(1, NOBODY + 1, NOBODY + 1))


def test_policy_allows_members_of_the_configured_group() -> None:
    """With --allow-group, a peer whose group is that group is allowed."""
    policy = PeerPolicy(str(NOBODY + 7))
    assert policy.allows(Peer(1, NOBODY + 1, NOBODY + 7))
    assert not policy.allows(Peer(1, NOBODY + 1, NOBODY + 8))


def test_unknown_group_name_is_an_error() -> None:
    """A group name that does not exist stops the daemon with a clear error."""
    with pytest.raises(PytaaadError, match="no group named"):
        PeerPolicy("no-such-group-pytaaad")


def test_socket_folder_and_socket_get_narrow_modes(tmp_path: Path) -> None:
    """A new socket folder is 0750 and the socket 0660."""
    path = tmp_path / "run" / "p.sock"
    prepare_directory(path.parent, None)
    sock = bind_socket(path, None)
    sock.close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE(path.stat().st_mode) == 0o660


def test_stale_socket_is_replaced_but_other_files_are_not(tmp_path: Path) -> None:
    """A left-over socket file is removed before binding; a regular file is refused."""
    path = tmp_path / "p.sock"
    bind_socket(path, None).close()
    bind_socket(path, None).close()
    path.unlink()
    path.write_text("precious")
    with pytest.raises(PytaaadError, match="not a socket"):
        bind_socket(path, None)
    assert path.read_text() == "precious"


async def test_malformed_frames_get_errors_and_other_clients_carry_on(
    shared_daemon: DaemonProcess,
) -> None:
    """Garbage, a 2 MiB line, wrong types, ops or versions get error replies."""
    done = asyncio.Event()
    answered = []

    async def other_client() -> None:
        reader, writer = await asyncio.open_unix_connection(str(shared_daemon.socket))
        while not done.is_set():
            writer.write(b'{"v": 1, "op": "ping"}\n')
            await writer.drain()
            answered.append(orjson.loads(await reader.readline())["ok"])
        writer.close()

    other = asyncio.create_task(other_client())
    frames = [
        b"garbage\n",
        b"x" * (2 * 1024 * 1024) + b"\n",
        b'{"v": 1, "op": "submit", "config": 5}\n',
        b'{"v": 1, "op": "status", "job": true}\n',
        b'{"v": 1, "op": "frobnicate"}\n',
        b'{"v": 2, "op": "ping"}\n',
        b"[1, 2]\n",
        b'{"v": 1, "op": "ping", "id": 7}\n',
    ]
    replies = await exchange(shared_daemon.socket, frames)
    done.set()
    await other
    codes = [reply["error"]["code"] if not reply["ok"] else "ok" for reply in replies]
    assert codes == [
        "bad_json",
        "frame_too_large",
        "bad_request",
        "bad_request",
        "unknown_op",
        "bad_version",
        "bad_json",
        "ok",
    ]
    assert replies[-1]["id"] == 7
    assert answered
    assert all(answered)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder under /tmp that any user can enter."""
    folder = Path(tempfile.mkdtemp(prefix="pytaaad-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="connecting as another user needs root")
async def test_peer_of_another_user_is_refused_and_logged(
    start_daemon: StartDaemon, open_folder: Path
) -> None:
    """Even through loosened file modes, the credential check refuses another user."""
    socket_path = open_folder / "run" / "pytaaad.sock"
    daemon = start_daemon(socket=socket_path)
    socket_path.parent.chmod(0o755)
    socket_path.chmod(0o666)
    script = (
        "import os, socket, sys\n"
        f"os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        's.sendall(b\'{"v": 1, "op": "ping"}\\n\'); print(s.recv(4096).decode())\n'
    )
    refused = subprocess.run(
        [sys.executable, "-c", script, str(socket_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 0, refused.stderr
    reply = orjson.loads(refused.stdout)
    assert reply["error"]["code"] == "permission_denied"

    async def logged() -> bool:
        return f"uid {NOBODY} may not use this daemon" in daemon.log()

    await wait_until(logged, 5.0, "the refusal in the daemon log")


async def test_an_idle_connection_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that asks nothing for IDLE_SECONDS is closed; the server goes on
    serving new connections.
    """
    monkeypatch.setattr(server_module, "IDLE_SECONDS", 0.2)

    async def handle(request: object, peer: Peer) -> dict[str, bool]:
        return {"pong": True}

    path = tmp_path / "idle.sock"
    server = Server(path, PeerPolicy(), handle)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
        assert await asyncio.wait_for(reader.read(), 5.0) == b""
        writer.close()
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b'{"v": 1, "op": "ping", "id": 1}\n')
        reply = orjson.loads(await asyncio.wait_for(reader.readline(), 5.0))
        assert reply["result"] == {"pong": True}
        writer.close()
    finally:
        await server.close()


def test_descriptor_limit_is_raised_and_bounds_the_connections() -> None:
    """With a soft limit of 300 the daemon keeps a reserve; raised, the full cap."""
    script = (
        "import resource\n"
        "from pytaaad import server\n"
        "_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))\n"
        "print(server.connection_limit())\n"
        "server.raise_descriptor_limit()\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
        "print(server.connection_limit())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    before, soft, after = (int(line) for line in result.stdout.splitlines())
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = hard == resource.RLIM_INFINITY
    assert before == 300 - server_module.RESERVED_DESCRIPTORS
    assert soft == (server_module.UNLIMITED_TARGET if unlimited else hard)
    reserve = server_module.RESERVED_DESCRIPTORS
    assert after == min(server_module.MAX_CONNECTIONS, soft - reserve)
