"""The Unix socket server: safe permissions, peer credentials, one reply per request."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import resource
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytaaad.errors import (
    AccessDenied,
    FrameTooLarge,
    ProtocolError,
    PytaaadError,
    TooManyConnections,
)
from pytaaad.protocol import (
    IDLE_SECONDS,
    MAX_FRAME_BYTES,
    Request,
    encode_error,
    encode_result,
    parse_request,
    read_frame,
)

logger = logging.getLogger(__name__)

SOCKET_MODE = 0o660
SOCKET_UMASK = 0o117
DIRECTORY_MODE = 0o750
MAX_CONNECTIONS = 1024
# Descriptors kept for what is not a connection: pool pipes, job logs, SQLite.
RESERVED_DESCRIPTORS = 256
# The soft limit to ask for when the hard limit is unlimited (which the kernel refuses).
UNLIMITED_TARGET = 65536
LISTEN_BACKLOG = 1024
CLOSE_SECONDS = 1.0
REFUSAL_READ_SECONDS = 1.0
_CREDENTIALS = struct.Struct("3i")

Handler = Callable[[Request, "Peer"], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Peer:
    """The process at the other end of a connection, from SO_PEERCRED."""

    pid: int
    uid: int
    gid: int

    def __str__(self) -> str:
        return f"pid {self.pid} (uid {self.uid}, gid {self.gid})"


class PeerPolicy:
    """Who may talk to the daemon: its own user, root, and members of one group."""

    def __init__(self, group: str | None = None) -> None:
        self.uid = os.getuid()
        self.gid = _group_id(group) if group is not None else None

    def allows(self, peer: Peer) -> bool:
        if peer.uid in (0, self.uid):
            return True
        if self.gid is None:
            return False
        return peer.gid == self.gid or self.gid in _groups_of(peer.uid)


def _group_id(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise PytaaadError(f"--allow-group: no group named {name!r}") from None


def _groups_of(uid: int) -> list[int]:
    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return []
    return os.getgrouplist(user.pw_name, user.pw_gid)


def prepare_directory(folder: Path, gid: int | None) -> None:
    """Create the socket's folder 0750 (group ``gid``), or check an existing one."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=DIRECTORY_MODE)
        os.chmod(folder, DIRECTORY_MODE)
        if gid is not None:
            os.chown(folder, -1, gid)
        return
    status = folder.stat()
    if status.st_uid not in (0, os.getuid()):
        raise PytaaadError(
            f"socket folder {folder} belongs to uid {status.st_uid}, not to this user"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & ~DIRECTORY_MODE & 0o777:
        logger.warning(
            "socket folder %s has mode %o, wider than %o; the peer check still applies",
            folder,
            mode,
            DIRECTORY_MODE,
        )


def bind_socket(path: Path, gid: int | None) -> socket.socket:
    """Bind a listening socket at ``path`` (mode 0660), replacing a stale one.

    The caller holds the instance lock, so a socket file already there is stale.
    """
    if path.is_socket():
        path.unlink()
    elif path.exists():
        raise PytaaadError(f"{path} exists and is not a socket; not touching it")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask makes the file 0660 from the first moment, not after a chmod.
    previous = os.umask(SOCKET_UMASK)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise PytaaadError(f"cannot bind {path}: {exc.strerror}") from exc
    finally:
        os.umask(previous)
    if gid is not None:
        os.chown(path, -1, gid)
    os.chmod(path, SOCKET_MODE)
    return sock


def raise_descriptor_limit() -> None:
    """Lift this process's soft limit on open descriptors to its hard limit.

    The usual soft limit, 1024, is as many as MAX_CONNECTIONS alone; the hard limit
    (524288 under systemd) leaves room for the reserve as well.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, UNLIMITED_TARGET)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def connection_limit() -> int:
    """MAX_CONNECTIONS, or fewer if the descriptor limit leaves no reserve for them."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft - RESERVED_DESCRIPTORS))


class Server:
    """Serves requests on a Unix socket until closed; each request gets one reply."""

    def __init__(
        self,
        path: Path,
        policy: PeerPolicy,
        handler: Handler,
        inherited: socket.socket | None = None,
    ) -> None:
        self.path = path
        self._policy = policy
        self._handler = handler
        self._inherited = inherited
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.max_connections = connection_limit()

    async def start(self) -> None:
        # A socket from systemd belongs to its socket unit: serve it, never unlink it.
        sock = self._inherited
        if sock is None:
            sock = bind_socket(self.path, self._policy.gid)
            self._inode = self.path.stat().st_ino
        self._server = await asyncio.start_unix_server(
            self._serve, sock=sock, limit=MAX_FRAME_BYTES, backlog=LISTEN_BACKLOG
        )

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        """Stop accepting, end every connection and remove the socket file."""
        self.stop_accepting()
        for task in self._connections:
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=CLOSE_SECONDS)
        self.remove_socket()

    def remove_socket(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            peer = _peer_of(writer)
            refusal = self._refusal(peer)
            if refusal is None:
                await self._converse(reader, writer, peer)
            else:
                logger.warning("refused %s: %s", peer, refusal)
                await self._refuse(reader, writer, refusal)
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled by close(): end quietly, since asyncio's stream protocol logs
            # a handler task that ends cancelled as an error.
            pass
        except Exception:
            logger.exception("connection handler failed")
        finally:
            self._connections.discard(task)
            writer.close()

    def _refusal(self, peer: Peer) -> PytaaadError | None:
        if not self._policy.allows(peer):
            return AccessDenied(f"uid {peer.uid} may not use this daemon")
        if len(self._connections) > self.max_connections:
            return TooManyConnections(
                f"more than {self.max_connections} open connections"
            )
        return None

    async def _refuse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        refusal: PytaaadError,
    ) -> None:
        # Answer the first request rather than the bare connect: a client that writes
        # before it reads would otherwise hit a closed socket and never see why.
        with contextlib.suppress(TimeoutError, FrameTooLarge):
            await asyncio.wait_for(read_frame(reader), REFUSAL_READ_SECONDS)
        writer.write(encode_error(None, refusal.code, str(refusal)))
        await writer.drain()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while True:
            try:
                # A client that keeps a connection without asking anything for long
                # holds one of the max_connections places; the clients reconnect.
                frame = await asyncio.wait_for(read_frame(reader), IDLE_SECONDS)
            except TimeoutError:
                logger.debug("closing the idle connection of %s", peer)
                return
            except FrameTooLarge as exc:
                logger.warning("%s from %s", exc, peer)
                writer.write(encode_error(None, exc.code, str(exc)))
                await writer.drain()
                continue
            if frame is None:
                return
            if frame.strip():
                writer.write(await self._respond(frame, peer))
                await writer.drain()

    async def _respond(self, frame: bytes, peer: Peer) -> bytes:
        try:
            request = parse_request(frame)
        except ProtocolError as exc:
            logger.info("bad request from %s: %s", peer, exc)
            return encode_error(exc.request_id, exc.code, str(exc))
        try:
            result = await self._handler(request, peer)
        except PytaaadError as exc:
            return encode_error(request.id, exc.code, str(exc))
        except Exception:
            logger.exception("op %s from %s failed", request.op, peer)
            return encode_error(
                request.id, "internal", "internal error; see the daemon log"
            )
        return encode_result(request.id, result)


def _peer_of(writer: asyncio.StreamWriter) -> Peer:
    sock = writer.get_extra_info("socket")
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    pid, uid, gid = _CREDENTIALS.unpack(raw)
    return Peer(pid, uid, gid)
