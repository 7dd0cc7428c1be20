"""The daemon's Python clients: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Both speak protocol version 1 on the daemon's Unix socket, keep one connection open
between requests, return the typed records of ``pytaaad.replies`` and raise an error
reply as the ``PytaaadError`` subclass of its code, with the daemon's message::

    with Client() as client:
        job = client.submit("naz100_hma.json").job
        print(job.id, job.state)

A daemon that is not there (no socket, connection refused), goes away or does not
answer in time raises ``DaemonUnreachable``; one that answers garbage, ``BadReply``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shlex
import socket
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from pytaaad import replies
from pytaaad.errors import BadReply, ConfigError, DaemonUnreachable, error_from_reply
from pytaaad.places import SOCKET_VARIABLE, SYSTEM_SOCKET, default_socket
from pytaaad.protocol import IDLE_SECONDS, PROTOCOL_VERSION
from pytaaad.replies import DaemonInfo, JobInfo, LogTail, Status, SubmitResult

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 86_400.0
WAIT_POLL_SECONDS = 0.5
MAX_REPLY_BYTES = 16 * 1024 * 1024
RECEIVE_BYTES = 64 * 1024
CLOSED_MESSAGE = "the daemon closed the connection"
CONNECT_RETRY_SECONDS = 0.02
# A connection idle for longer is replaced before a request rather than risked: the
# daemon may close it (after IDLE_SECONDS) just as the request goes out.
REUSE_SECONDS = IDLE_SECONDS / 2

ResultT = TypeVar("ResultT")
PathArg = str | os.PathLike[str]


def find_socket(
    explicit: PathArg | None = None, environ: Mapping[str, str] = os.environ
) -> Path:
    """The daemon's socket: ``explicit``, else $PYTAAAD_SOCKET, else the default.

    The default is the daemon's own (systemd's RuntimeDirectory, else
    $XDG_RUNTIME_DIR/pytaaad/pytaaad.sock); if no socket is there but the system
    service's /run/pytaaad/pytaaad.sock exists, that one.
    """
    chosen = explicit if explicit else environ.get(SOCKET_VARIABLE)
    if chosen:
        return Path(chosen).expanduser().absolute()
    own = default_socket(environ)
    if own is not None and (own.exists() or not _exists(SYSTEM_SOCKET)):
        return own
    return SYSTEM_SOCKET


def _exists(path: Path) -> bool:
    # A folder this user may not enter hides the path; connecting then says why.
    try:
        return path.exists()
    except OSError:
        return True


def checked_timeout(timeout: float) -> float:
    """``timeout`` if it is a usable number of seconds; else ValueError."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT_SECONDS
    ):
        raise ValueError(
            f"timeout must be a number of seconds above 0 and at most "
            f"{MAX_TIMEOUT_SECONDS:g}, got {timeout!r}"
        )
    return float(timeout)


def config_path(config: PathArg) -> str:
    """A config path as the daemon keys it: absolute, from this process's directory.

    Raises ConfigError for a path that cannot be resolved or sent.
    """
    if not isinstance(config, str | os.PathLike):
        raise ConfigError(f"a config path must be a string, got {config!r}")
    try:
        resolved = str(Path(config).expanduser().resolve())
        resolved.encode("utf-8")
    except (OSError, RuntimeError, UnicodeError) as exc:
        raise ConfigError(f"config {config!r}: cannot use this path ({exc})") from None
    return resolved


@dataclass(frozen=True)
class Call(Generic[ResultT]):
    """One request, and how to read its result."""

    op: str
    args: Mapping[str, Any]
    read: Callable[[Mapping[str, Any]], ResultT]


def ping_call() -> Call[DaemonInfo]:
    return Call("ping", {}, replies.daemon_info)


def submit_call(
    config: PathArg,
    force: bool,
    trials: int | None,
    seed: int | None,
    kind: str | None,
) -> Call[SubmitResult]:
    args: dict[str, Any] = {"config": config_path(config), "force": force or None}
    args |= {"trials": trials, "seed": seed, "kind": kind}
    return Call("submit", args, replies.submit_result)


def status_call(config: PathArg | None, job: int | None) -> Call[Status]:
    return Call("status", _job_args(config, job), replies.status)


def cancel_call(config: PathArg | None, job: int | None) -> Call[JobInfo]:
    return Call("cancel", _job_args(config, job), replies.cancelled_job)


def logs_call(
    config: PathArg | None, job: int | None, lines: int | None
) -> Call[LogTail]:
    return Call("logs", {**_job_args(config, job), "lines": lines}, replies.log_tail)


def history_call(
    config: PathArg | None, limit: int | None
) -> Call[tuple[JobInfo, ...]]:
    args = {"config": config_path(config) if config else None, "limit": limit}
    return Call("history", args, replies.job_list)


def shutdown_call() -> Call[None]:
    return Call("shutdown", {}, lambda result: None)


def _job_args(config: PathArg | None, job: int | None) -> dict[str, Any]:
    if config is not None and job is not None:
        raise ValueError("name a job by its config or by its id, not both")
    return {"config": config_path(config) if config else None, "job": job}


class Wire:
    """Framing both clients share, and errors that describe the daemon at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids = itertools.count(1)

    def request(self, call: Call[Any]) -> tuple[int, bytes]:
        request_id = next(self._ids)
        args = {name: value for name, value in call.args.items() if value is not None}
        message = {"v": PROTOCOL_VERSION, "op": call.op, "id": request_id, **args}
        # The standard json module: orjson's import alone would double the run time of
        # a pytaaa-ctl command, for one small request and reply.
        encoded = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        return request_id, encoded.encode() + b"\n"

    def reply(self, request_id: int, line: bytes) -> dict[str, Any]:
        """The reply object, checked to be a version 1 reply to this request."""
        try:
            reply = json.loads(line)
        except ValueError as exc:
            raise BadReply(f"{self.path} answered with invalid JSON ({exc})") from None
        if not isinstance(reply, dict) or reply.get("v") != PROTOCOL_VERSION:
            raise BadReply(
                f"{self.path} does not answer in protocol version {PROTOCOL_VERSION}: "
                f"{line[:200]!r}"
            )
        # A request the daemon refused before reading it gets an error without an id.
        unnumbered_error = reply.get("ok") is False and reply.get("id") is None
        if reply.get("id") != request_id and not unnumbered_error:
            raise BadReply(
                f"{self.path} answered request {reply.get('id')!r} to request "
                f"{request_id}"
            )
        return reply

    def result(self, reply: Mapping[str, Any]) -> Mapping[str, Any]:
        """The result of a success reply; an error reply raised as its exception."""
        if reply.get("ok") is True and isinstance(reply.get("result"), dict):
            result: Mapping[str, Any] = reply["result"]
            return result
        error = reply.get("error")
        if reply.get("ok") is not False or not isinstance(error, dict):
            raise BadReply(f"{self.path} sent a reply with neither result nor error")
        raise error_from_reply(str(error.get("code")), str(error.get("message")))

    def unreachable(self, exc: OSError) -> DaemonUnreachable:
        if isinstance(exc, ConnectionRefusedError) and not _is_socket(self.path):
            return DaemonUnreachable(
                f"{self.path} is not a socket, so no pytaaad daemon listens there; "
                "give the daemon's socket with --socket or $PYTAAAD_SOCKET"
            )
        if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
            why = (
                "no such socket"
                if isinstance(exc, FileNotFoundError)
                else "connection refused, a stale socket"
            )
            return DaemonUnreachable(
                f"no pytaaad daemon is listening on {self.path} ({why}); start one "
                f"with 'systemctl start pytaaad' or '{self._start_command()}'"
            )
        if isinstance(exc, PermissionError):
            return DaemonUnreachable(
                f"no permission to use the pytaaad daemon at {self.path}; it admits "
                f"its own user, root and members of its --allow-group"
            )
        return DaemonUnreachable(
            f"cannot connect to the pytaaad daemon at {self.path}: "
            f"{exc.strerror or exc}"
        )

    def lost(self, exc: OSError) -> DaemonUnreachable:
        return DaemonUnreachable(
            f"lost the connection to the pytaaad daemon at {self.path} before it "
            f"replied ({exc.strerror or exc}); did it stop?"
        )

    def silent(self, timeout: float) -> DaemonUnreachable:
        return DaemonUnreachable(
            f"the pytaaad daemon at {self.path} did not reply within {timeout:g} s"
        )

    def _start_command(self) -> str:
        if self.path == default_socket(os.environ):
            return "pytaaad"
        return f"pytaaad --socket {shlex.quote(str(self.path))}"


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the daemon closed ``sock`` (or sent something unasked) while idle."""
    # With a timeout set, Python waits for data before it reads: look without one.
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)
    return True


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


class Client:
    """A blocking client; use it as a context manager, or call ``close``.

    Not thread-safe: give each thread its own. ``timeout`` bounds each request, from
    connecting to the end of the reply.
    """

    def __init__(
        self,
        socket_path: PathArg | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.socket_path = find_socket(socket_path)
        self.timeout = checked_timeout(timeout)
        self._wire = Wire(self.socket_path)
        self._sock: socket.socket | None = None
        self._used_at = 0.0
        self._buffer = bytearray()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer.clear()

    def ping(self) -> DaemonInfo:
        return self._run(ping_call())

    def submit(
        self,
        config: PathArg,
        *,
        force: bool = False,
        trials: int | None = None,
        seed: int | None = None,
        kind: str | None = None,
    ) -> SubmitResult:
        """Queue a job for ``config``, replacing any job in flight for it."""
        return self._run(submit_call(config, force, trials, seed, kind))

    def status(
        self, config: PathArg | None = None, *, job: int | None = None
    ) -> Status:
        """Every job of the daemon's table, or the newest of ``config``, or ``job``."""
        return self._run(status_call(config, job))

    def job(self, job: int) -> JobInfo:
        (info,) = self.status(job=job).jobs
        return info

    def cancel(
        self, config: PathArg | None = None, *, job: int | None = None
    ) -> JobInfo:
        return self._run(cancel_call(config, job))

    def logs(
        self,
        config: PathArg | None = None,
        *,
        job: int | None = None,
        lines: int | None = None,
    ) -> LogTail:
        return self._run(logs_call(config, job, lines))

    def history(
        self, config: PathArg | None = None, *, limit: int | None = None
    ) -> tuple[JobInfo, ...]:
        """Past and present jobs from the daemon's history, newest first."""
        return self._run(history_call(config, limit))

    def shutdown(self) -> None:
        self._run(shutdown_call())

    def wait(
        self,
        job: int,
        *,
        interval: float = WAIT_POLL_SECONDS,
        on_update: Callable[[JobInfo], None] | None = None,
    ) -> JobInfo:
        """Poll ``job`` every ``interval`` seconds until it ends; return its record."""
        while True:
            info = self.job(job)
            if on_update is not None:
                on_update(info)
            if info.finished:
                return info
            time.sleep(interval)

    def _run(self, call: Call[ResultT]) -> ResultT:
        request_id, frame = self._wire.request(call)
        deadline = time.monotonic() + self.timeout
        try:
            sock = self._connected(deadline)
            sock.sendall(frame)
            line = self._read_line(sock, deadline)
            self._used_at = time.monotonic()
            reply = self._wire.reply(request_id, line)
        except TimeoutError:
            self.close()
            raise self._wire.silent(self.timeout) from None
        except OSError as exc:
            self.close()
            raise self._wire.lost(exc) from None
        except BaseException:
            # A bad reply, or an exception (a signal handler's, say) mid-request: the
            # connection may still carry a late reply, so it is not used again.
            self.close()
            raise
        if reply.get("id") is None:
            self.close()
        return call.read(self._wire.result(reply))

    def _connected(self, deadline: float) -> socket.socket:
        idle = time.monotonic() - self._used_at > REUSE_SECONDS
        if self._sock is not None and (idle or _closed_by_peer(self._sock)):
            # The daemon closes connections that stay idle; it read nothing of ours.
            self.close()
        if self._sock is None:
            self._sock = self._connect(deadline)
            self._used_at = time.monotonic()
        return self._sock

    def _connect(self, deadline: float) -> socket.socket:
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.socket_path))
                return sock
            except BlockingIOError:
                # The daemon's listen queue is full: it is busy, not gone.
                sock.close()
                if time.monotonic() + CONNECT_RETRY_SECONDS > deadline:
                    raise TimeoutError from None
                time.sleep(CONNECT_RETRY_SECONDS)
            except TimeoutError:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                raise self._wire.unreachable(exc) from None

    def _read_line(self, sock: socket.socket, deadline: float) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise BadReply(f"a reply is longer than {MAX_REPLY_BYTES} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(RECEIVE_BYTES)
            if not chunk:
                raise ConnectionResetError(CLOSED_MESSAGE)
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


def __getattr__(name: str) -> Any:
    # AsyncClient lives in its own module so that pytaaa-ctl, which only needs the
    # blocking client, never pays the tens of milliseconds asyncio takes to import.
    if name == "AsyncClient":
        from pytaaad.aioclient import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
