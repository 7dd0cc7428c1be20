"""The daemon's asyncio client, ``AsyncClient``; see ``pytaaad.client``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pytaaad.client import (
    CLOSED_MESSAGE,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_REPLY_BYTES,
    REUSE_SECONDS,
    WAIT_POLL_SECONDS,
    Call,
    PathArg,
    ResultT,
    Wire,
    cancel_call,
    checked_timeout,
    find_socket,
    history_call,
    logs_call,
    ping_call,
    shutdown_call,
    status_call,
    submit_call,
)
from pytaaad.errors import BadReply
from pytaaad.replies import DaemonInfo, JobInfo, LogTail, Status, SubmitResult

logger = logging.getLogger(__name__)


class AsyncClient:
    """An asyncio client; use it as an async context manager, or await ``close``.

    Requests from concurrent tasks take turns on the one connection.
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
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._used_at = 0.0
        self._turn = asyncio.Lock()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._streams is None:
            return
        _, writer = self._streams
        self._streams = None
        writer.close()
        try:
            await writer.wait_closed()
        except OSError as exc:
            logger.debug("closing the connection to %s: %s", self.socket_path, exc)

    async def ping(self) -> DaemonInfo:
        return await self._run(ping_call())

    async def submit(
        self,
        config: PathArg,
        *,
        force: bool = False,
        trials: int | None = None,
        seed: int | None = None,
        kind: str | None = None,
    ) -> SubmitResult:
        """Queue a job for ``config``, replacing any job in flight for it."""
        return await self._run(submit_call(config, force, trials, seed, kind))

    async def status(
        self, config: PathArg | None = None, *, job: int | None = None
    ) -> Status:
        """Every job of the daemon's table, or the newest of ``config``, or ``job``."""
        return await self._run(status_call(config, job))

    async def job(self, job: int) -> JobInfo:
        (info,) = (await self.status(job=job)).jobs
        return info

    async def cancel(
        self, config: PathArg | None = None, *, job: int | None = None
    ) -> JobInfo:
        return await self._run(cancel_call(config, job))

    async def logs(
        self,
        config: PathArg | None = None,
        *,
        job: int | None = None,
        lines: int | None = None,
    ) -> LogTail:
        return await self._run(logs_call(config, job, lines))

    async def history(
        self, config: PathArg | None = None, *, limit: int | None = None
    ) -> tuple[JobInfo, ...]:
        """Past and present jobs from the daemon's history, newest first."""
        return await self._run(history_call(config, limit))

    async def shutdown(self) -> None:
        await self._run(shutdown_call())

    async def wait(
        self,
        job: int,
        *,
        interval: float = WAIT_POLL_SECONDS,
        on_update: Callable[[JobInfo], None] | None = None,
    ) -> JobInfo:
        """Poll ``job`` every ``interval`` seconds until it ends; return its record."""
        while True:
            info = await self.job(job)
            if on_update is not None:
                on_update(info)
            if info.finished:
                return info
            await asyncio.sleep(interval)

    async def _run(self, call: Call[ResultT]) -> ResultT:
        request_id, frame = self._wire.request(call)
        async with self._turn:
            try:
                async with asyncio.timeout(self.timeout):
                    reply = await self._exchange(request_id, frame)
            except TimeoutError:
                await self.close()
                raise self._wire.silent(self.timeout) from None
            except OSError as exc:
                await self.close()
                raise self._wire.lost(exc) from None
            except BadReply:
                await self.close()
                raise
            except BaseException:
                # Cancelled mid-request: the reply may still come, and would answer
                # the next request. Drop the connection instead.
                self._abandon()
                raise
            if reply.get("id") is None:
                await self.close()
        return call.read(self._wire.result(reply))

    def _abandon(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def _exchange(self, request_id: int, frame: bytes) -> dict[str, Any]:
        reader, writer = await self._connected()
        writer.write(frame)
        await writer.drain()
        try:
            line = await reader.readuntil(b"\n")
            self._used_at = time.monotonic()
        except asyncio.IncompleteReadError:
            raise ConnectionResetError(CLOSED_MESSAGE) from None
        except asyncio.LimitOverrunError:
            raise BadReply(f"a reply is longer than {MAX_REPLY_BYTES} bytes") from None
        return self._wire.reply(request_id, line[:-1])

    async def _connected(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        idle = time.monotonic() - self._used_at > REUSE_SECONDS
        if self._streams is not None and (idle or self._streams[0].at_eof()):
            # The daemon closes connections that stay idle; it read nothing of ours.
            self._abandon()
        if self._streams is None:
            try:
                self._streams = await asyncio.open_unix_connection(
                    str(self.socket_path), limit=MAX_REPLY_BYTES
                )
                self._used_at = time.monotonic()
            except OSError as exc:
                raise self._wire.unreachable(exc) from None
        return self._streams
