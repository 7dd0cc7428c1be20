"""The pytaaad daemon: options, single-instance lock, lifecycle and request handlers.

Start-up order: lock, history, scheduler, workers (while the engine imports in a
thread), then the socket, so a client that can connect is served at once. Shutdown
(SIGTERM, SIGINT or the ``shutdown`` op) runs the same steps backwards: stop accepting,
interrupt jobs, stop workers, close the history, remove the socket, release the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import uvloop
from filelock import FileLock, Timeout

from pytaaad import __version__, systemd
from pytaaad.errors import (
    AlreadyRunning,
    HistoryError,
    ProtocolError,
    PytaaadError,
)
from pytaaad.executors import Executor, LocalExecutor
from pytaaad.history import History
from pytaaad.joblogs import JobLogs, tail
from pytaaad.jobs import Job
from pytaaad.kinds import JobKind
from pytaaad.montecarlo import MonteCarloKind
from pytaaad.options import Options, parse_options
from pytaaad.protocol import PROTOCOL_VERSION, Request
from pytaaad.roots import Roots, absolute_path
from pytaaad.scheduler import Scheduler
from pytaaad.server import (
    Peer,
    PeerPolicy,
    Server,
    prepare_directory,
    raise_descriptor_limit,
)

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
STATE_LOCK = "daemon.lock"
STATE_DIR_MODE = 0o750
_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r"})
HISTORY_FILE = "history.sqlite3"
LOG_FOLDER = "logs"
DEFAULT_LOG_LINES = 100
DEFAULT_HISTORY_ROWS = 50
CHECKPOINT_SECONDS = 30.0
ENGINE_MODULES = ("pytaaad.backtest.job",)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def main(argv: list[str]) -> int:
    """Run the daemon in the foreground until told to stop; return the exit code."""
    options = parse_options(argv)
    configure_logging(options.log_level)
    try:
        uvloop.run(serve(options))
    except PytaaadError as exc:
        logger.error("%s", exc)
        return 1
    return 0


def configure_logging(level: str) -> None:
    # journald stamps every line itself; JOURNAL_STREAM says stderr goes there.
    fmt = JOURNAL_LOG_FORMAT if "JOURNAL_STREAM" in os.environ else LOG_FORMAT
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])
    logging.captureWarnings(True)
    threading.excepthook = _thread_exception


class OneLineFormatter(logging.Formatter):
    """Keeps each message on its line: a config path with a line break in it (a legal
    file name) must not forge log lines. Tracebacks still follow on lines of their own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.translate(_LINE_BREAKS)
        return super().formatMessage(record)


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    """Log an exception that ended a thread (a pool's manager thread, say) through
    the daemon's log, so that it reaches the journal in the daemon's format.
    """
    if args.exc_type is SystemExit:
        return
    logger.error(
        "thread %s failed",
        args.thread.name if args.thread else "?",
        exc_info=args.exc_value,
    )


async def serve(options: Options) -> None:
    """Hold the socket's lock and run a daemon until it stops."""
    policy = PeerPolicy(options.allow_group)
    inherited = _socket_from_systemd()
    path = systemd.socket_path(inherited) if inherited is not None else options.socket
    if path is None:
        raise PytaaadError("no socket path and no socket passed by systemd")
    options = dataclasses.replace(options, socket=path)
    prepare_directory(path.parent, policy.gid)
    _prepare_state_dir(options.state_dir)
    raise_descriptor_limit()
    with contextlib.ExitStack() as locks:
        _hold(locks, Path(str(path) + LOCK_SUFFIX), f"is serving {path}")
        # Two daemons on one history would hand out the same job ids.
        _hold(
            locks,
            options.state_dir / STATE_LOCK,
            f"uses the state dir {options.state_dir}",
        )
        await Daemon(options, path, policy, inherited).run()


def _hold(locks: contextlib.ExitStack, path: Path, doing: str) -> None:
    """Take the lock file ``path`` for this daemon's life, or raise AlreadyRunning."""
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise AlreadyRunning(
            f"another pytaaad daemon {doing} (it holds {path}); "
            "not starting a second one"
        ) from None
    locks.callback(lock.release)


def _prepare_state_dir(folder: Path) -> None:
    """Create the state dir and its job log folder (0750: job logs and history are
    nobody else's business), or say why they cannot be used.
    """
    for path in (folder, folder / LOG_FOLDER):
        try:
            if not path.is_dir():
                path.mkdir(parents=True, mode=STATE_DIR_MODE)
                os.chmod(path, STATE_DIR_MODE)
            if not os.access(path, os.W_OK | os.X_OK):
                raise PytaaadError(f"state dir {path} is not writable")
        except OSError as exc:
            raise PytaaadError(f"cannot use state dir {path}: {exc}") from exc


def _socket_from_systemd() -> socket.socket | None:
    try:
        sock = systemd.inherited_socket()
    except (OSError, ValueError) as exc:
        raise PytaaadError(f"cannot use the socket passed by systemd: {exc}") from exc
    if sock is not None:
        logger.info("serving the socket passed by systemd: %s", sock.getsockname())
    return sock


class Daemon:
    """One daemon's life: start the parts, serve until asked to stop, stop the parts."""

    def __init__(
        self,
        options: Options,
        socket_path: Path,
        policy: PeerPolicy,
        inherited: socket.socket | None = None,
    ) -> None:
        self.options = options
        self.socket_path = socket_path
        self._policy = policy
        self._inherited = inherited
        self._notifier = systemd.Notifier()
        self._stop = asyncio.Event()
        self._stop_reason = "stopped"
        self._started = time.monotonic()
        self._scheduler: Scheduler | None = None
        self._handlers: Mapping[str, Callable[[Mapping[str, Any], Peer], Any]] = {
            "ping": self._ping,
            "submit": self._submit,
            "status": self._status,
            "cancel": self._cancel,
            "logs": self._logs,
            "history": self._history,
            "shutdown": self._shutdown,
        }

    def request_stop(self, reason: str) -> None:
        if self._stop.is_set():
            logger.info("already stopping; ignoring %s", reason)
            return
        self._stop_reason = reason
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(
                signum, self.request_stop, signal.Signals(signum).name
            )
        # Callbacks unwind in reverse: stop accepting, interrupt jobs, stop the workers,
        # drop connections and the socket file, close the history.
        async with contextlib.AsyncExitStack() as stack:
            options = self.options
            history = History(options.state_dir / HISTORY_FILE)
            stack.callback(history.close)
            checkpoints = loop.create_task(_checkpoint_periodically(history))
            stack.callback(checkpoints.cancel)
            server = Server(
                self.socket_path, self._policy, self._handle, self._inherited
            )
            stack.push_async_callback(server.close)
            executor = _make_executor(options)
            stack.push_async_callback(executor.close)
            scheduler = self._start_scheduler(history, executor)
            # The engine takes a second to import; do it while the workers start, so
            # that no Monte Carlo submit ever waits for it on the event loop.
            await asyncio.gather(
                asyncio.to_thread(_import_modules, ENGINE_MODULES), executor.start()
            )
            stack.push_async_callback(self._interrupt_jobs, scheduler)
            stack.callback(server.stop_accepting)
            await server.start()
            self._announce_ready()
            reporter = loop.create_task(self._notifier.keep_alive(self._status_line))
            stack.callback(reporter.cancel)
            await self._stop.wait()
            logger.info("shutting down: %s", self._stop_reason)
            self._notifier.notify("STOPPING=1")
        logger.info("stopped")

    def _start_scheduler(self, history: History, executor: Executor) -> Scheduler:
        options = self.options
        interrupted = history.interrupt_unfinished("the daemon stopped while it ran")
        if interrupted:
            logger.warning(
                "jobs %s were in flight when the last daemon stopped", interrupted
            )
        self._scheduler = Scheduler(
            executor=executor,
            history=history,
            logs=JobLogs(options.state_dir / LOG_FOLDER),
            kinds=_job_kinds(options),
            config_roots=Roots(options.config_roots, "config"),
            output_roots=Roots(options.output_roots, "output folder"),
            max_running=options.max_jobs,
            grace_seconds=options.grace,
        )
        return self._scheduler

    def _announce_ready(self) -> None:
        self._notifier.notify("READY=1")
        logger.info(
            "pytaaad %s serving %s: pid %s, %d workers, at most %d running jobs",
            __version__,
            self.socket_path,
            os.getpid(),
            self.options.workers,
            self.options.max_jobs,
        )
        for what, roots in (
            ("configs", self.options.config_roots),
            ("outputs", self.options.output_roots),
        ):
            if not roots:
                logger.warning("no roots given for %s: any path is accepted", what)

    def _status_line(self) -> str:
        """One line for systemctl status: job counts and the latest finished job."""
        table = self.scheduler.table
        line = f"{table.running_count} running, {table.queued_count} queued"
        finished = [job for job in table if job.finished_at is not None]
        if finished:
            last = max(finished, key=lambda job: job.finished_at or 0.0)
            name = os.path.basename(last.key)
            line += (
                f"; last: job {last.id} {name} {last.state} in {last.elapsed():.1f}s"
            )
        return line

    async def _interrupt_jobs(self, scheduler: Scheduler) -> None:
        await scheduler.shutdown(f"the daemon is shutting down ({self._stop_reason})")

    async def _handle(self, request: Request, peer: Peer) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self._handlers[request.op](request.args, peer)
        return result

    @property
    def scheduler(self) -> Scheduler:
        assert self._scheduler is not None
        return self._scheduler

    def _ping(self, args: Mapping[str, Any], peer: Peer) -> dict[str, Any]:
        table = self.scheduler.table
        return {
            "pong": True,
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "uptime": round(time.monotonic() - self._started, 3),
            "workers": self.options.workers,
            "max_jobs": self.options.max_jobs,
            "running": table.running_count,
            "queued": table.queued_count,
        }

    def _submit(self, args: Mapping[str, Any], peer: Peer) -> dict[str, Any]:
        job, replaced = self.scheduler.submit(
            absolute_path(args["config"], "config"),
            args.get("kind", MonteCarloKind().name),
            force=args.get("force", False),
            trials=args.get("trials"),
            seed=args.get("seed"),
        )
        return {
            "job": self.scheduler.describe(job),
            "replaced": replaced.id if replaced is not None else None,
        }

    def _status(self, args: Mapping[str, Any], peer: Peer) -> dict[str, Any]:
        if "job" in args or "config" in args:
            jobs = [self._one_job(args)]
        else:
            jobs = sorted(self.scheduler.table, key=lambda job: job.id, reverse=True)
        return {
            "jobs": [self.scheduler.describe(job) for job in jobs],
            "daemon": self._ping(args, peer),
        }

    def _cancel(self, args: Mapping[str, Any], peer: Peer) -> dict[str, Any]:
        job = self._one_job(args)
        self.scheduler.cancel(job, f"a client, {peer}")
        return {"job": self.scheduler.describe(job)}

    def _logs(self, args: Mapping[str, Any], peer: Peer) -> dict[str, Any]:
        job = self._one_job(args, ran=True)
        path = self.scheduler.log_of(job)
        lines = tail(path, args.get("lines", DEFAULT_LOG_LINES))
        return {"job": job.id, "path": str(path), "lines": lines}

    def _history(self, args: Mapping[str, Any], peer: Peer) -> dict[str, Any]:
        key = absolute_path(args["config"], "config") if "config" in args else None
        jobs = self.scheduler.history(key, args.get("limit", DEFAULT_HISTORY_ROWS))
        return {"jobs": [job.to_dict() for job in jobs]}

    def _shutdown(self, args: Mapping[str, Any], peer: Peer) -> dict[str, Any]:
        logger.info("%s asked the daemon to shut down", peer)
        self.request_stop(f"asked by {peer}")
        return {"stopping": True}

    def _one_job(self, args: Mapping[str, Any], ran: bool = False) -> Job:
        if "job" in args and "config" in args:
            raise ProtocolError("name a job by 'job' or by 'config', not both")
        if "job" in args:
            return self.scheduler.find(args["job"])
        if "config" in args:
            key = absolute_path(args["config"], "config")
            return self.scheduler.latest(key, ran=ran)
        raise ProtocolError("name a job with 'job' (its id) or 'config' (its path)")


def _import_modules(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


async def _checkpoint_periodically(history: History) -> None:
    while True:
        await asyncio.sleep(CHECKPOINT_SECONDS)
        try:
            await asyncio.to_thread(history.checkpoint)
        except HistoryError as exc:
            logger.warning("%s", exc)


def _make_executor(options: Options) -> Executor:
    if options.executor == "dask":
        try:
            from pytaaad.dask_executor import DaskExecutor
        except ImportError as exc:
            raise PytaaadError(
                f"the dask executor needs the pytaaad[dask] extra ({exc})"
            ) from exc
        return DaskExecutor(options.workers, options.grace, options.dask_scheduler)
    return LocalExecutor(options.workers, options.grace)


def _job_kinds(options: Options) -> dict[str, JobKind[Any]]:
    kinds: list[JobKind[Any]] = [MonteCarloKind()]
    if options.enable_test_jobs:
        from pytaaad.testjob import ControlledJobKind

        kinds.append(ControlledJobKind())
    return {kind.name: kind for kind in kinds}
