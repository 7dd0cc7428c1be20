"""Executors run the tasks of jobs: a local process pool here, Dask elsewhere.

The scheduler sees one interface, ``Executor``: open a job, run its trial chunks and its
render task, stop it, close it. The local executor uses a ProcessPoolExecutor with the
spawn start method; workers are the daemon's own children, so PR_SET_PDEATHSIG ends them
when the daemon dies.

Stopping a job sets its byte on the stop board (workers check it before each trial and
task, so its queued tasks return at once), and after a grace period kills the process
group of any worker still running one of its tasks. Pool futures are never cancelled:
before Python 3.12 (gh-107219) a cancelled future in a pool that breaks kills the
pool's manager thread, which then leaves the other futures unresolved and its pipes
open. Killing a worker breaks a ProcessPoolExecutor for good, so the executor swaps in
a new pool at once, reads the exit codes of the old one to find which task's worker
died and how (that job is ``crashed``), and runs the other interrupted tasks again on
the new pool.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import multiprocessing
import os
import signal
import weakref
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

import orjson
import psutil

from pytaaad import worker
from pytaaad.errors import ExecutorError, JobStopped, ShuttingDown, WorkerCrashed
from pytaaad.kinds import JobKind, OutputPairs

logger = logging.getLogger(__name__)

GRACE_SECONDS = 2.0
STOP_SLOTS = 1024
MAX_TASK_ATTEMPTS = 3
MAX_TASK_RETRIES = 20
PROGRESS_READ_BYTES = 64 * 1024
POOL_TEARDOWN_SECONDS = 5.0
START_SECONDS = 60.0
CLOSE_SECONDS = 2.0


@dataclass(eq=False)
class JobHandle:
    """The executor's view of one job: where its progress goes and why it stops."""

    job_id: int
    on_trial: Callable[[int], None]
    log_path: Path | None
    stop_reason: str | None = None


class Executor(Protocol):
    """Where the tasks of jobs run."""

    @property
    def workers(self) -> int:
        """How many tasks can run at once."""
        ...

    async def start(self) -> None: ...

    def open_job(
        self, job_id: int, on_trial: Callable[[int], None], log_path: Path | None
    ) -> JobHandle:
        """Prepare to run the tasks of a job."""
        ...

    async def run_trials(
        self, handle: JobHandle, kind: JobKind[Any], spec: Any, trial_ids: list[int]
    ) -> list[Any]:
        """Run one chunk; raise JobStopped, WorkerCrashed or the task's own error."""
        ...

    async def render(
        self,
        handle: JobHandle,
        kind: JobKind[Any],
        spec: Any,
        *,
        results: list[Any],
        token: str,
        timings: dict[str, float],
        part: Any,
    ) -> OutputPairs:
        """Run one render task of a job; return its (staged, final) output pairs."""
        ...

    def stop_job(self, handle: JobHandle, reason: str) -> None:
        """Stop every task of the job: cooperatively, then by force after the grace."""
        ...

    def close_job(self, handle: JobHandle) -> None:
        """Release the job; stops whatever of it still runs."""
        ...

    def job_pids(self, handle: JobHandle) -> list[int]:
        """Process ids of the workers running the job's tasks now."""
        ...

    async def close(self) -> None:
        """Stop every task and every worker."""
        ...


@dataclass(eq=False)
class _LocalJob:
    handle: JobHandle
    slot: int
    tasks: dict[int, _Task] = field(default_factory=dict)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    enforcer: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Task:
    id: int
    job: _LocalJob
    pool: ProcessPoolExecutor
    future: Future[Any]
    process: psutil.Process | None = None


@dataclass(frozen=True)
class _BreakReport:
    """How the workers of a broken pool ended: exit code (negative: signal) by pid."""

    exit_codes: dict[int, int | None]
    killed_by_us: frozenset[int]

    def crash_of(self, task: _Task) -> str | None:
        """Why the worker of ``task`` died, if its death broke the pool."""
        if task.process is None:
            return None
        pid = task.process.pid
        code = self.exit_codes.get(pid)
        # The pool itself sends SIGTERM to every worker once one has died, and we kill
        # stragglers that ignore it: neither marks the worker that broke the pool.
        if code is None or code == -signal.SIGTERM or pid in self.killed_by_us:
            return None
        return describe_exit(pid, code)

    def culprits(self) -> list[int]:
        """Workers that died of something other than the pool's own SIGTERM or our
        kill of a straggler during its shutdown.
        """
        return [
            pid
            for pid, code in sorted(self.exit_codes.items())
            if code not in (None, -signal.SIGTERM) and pid not in self.killed_by_us
        ]

    def describe(self) -> str:
        codes = self.exit_codes
        ends = [describe_exit(pid, codes[pid] or 0) for pid in self.culprits()]
        return "; ".join(ends) or "no worker died on its own"


def describe_exit(pid: int, code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else "?"
        return f"worker {pid} was killed by signal {-code} ({name})"
    return f"worker {pid} exited with code {code}"


class LocalExecutor:
    """Tasks in a local ProcessPoolExecutor, rebuilt whenever a worker dies."""

    def __init__(
        self,
        workers: int,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        self._workers = workers
        self._grace = grace_seconds
        self._context = multiprocessing.get_context("spawn")
        self._board = self._context.RawArray(ctypes.c_ubyte, STOP_SLOTS)
        self._free_slots = list(range(STOP_SLOTS - 1, -1, -1))
        self._progress_in, self._progress_out = self._context.Pipe(duplex=False)
        self._buffer = b""
        self._task_ids = itertools.count(1)
        self._tasks: dict[int, _Task] = {}
        self._jobs: dict[int, _LocalJob] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._reports: weakref.WeakKeyDictionary[
            ProcessPoolExecutor, asyncio.Future[_BreakReport]
        ] = weakref.WeakKeyDictionary()
        self._shutdowns: weakref.WeakKeyDictionary[
            ProcessPoolExecutor, asyncio.Task[_BreakReport]
        ] = weakref.WeakKeyDictionary()
        self._pool_workers: weakref.WeakKeyDictionary[ProcessPoolExecutor, set[int]] = (
            weakref.WeakKeyDictionary()
        )
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._ready: set[int] = set()
        self._all_ready = asyncio.Event()

    @property
    def workers(self) -> int:
        return self._workers

    async def start(self) -> None:
        # Spawned workers inherit the environment when they exec, before any import.
        os.environ.update(worker.WORKER_ENVIRONMENT)
        self._loop = asyncio.get_running_loop()
        fd = self._progress_in.fileno()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._drain)
        self._pool = self._new_pool()
        # The pool starts a process per task while none is idle: one task per worker
        # starts them all now, so that a worker that cannot start stops the daemon
        # rather than its first job. Each worker reports once its set-up is done. A
        # job's own modules are imported by its first task in each worker.
        started = [outcome(self._pool.submit(os.getpid)) for _ in range(self._workers)]
        try:
            await asyncio.wait_for(
                asyncio.gather(self._all_ready.wait(), *started), START_SECONDS
            )
        except Exception as exc:
            raise ExecutorError(f"worker processes did not start: {exc!r}") from exc
        logger.info(
            "started %d worker processes: %s", self._workers, sorted(self._ready)
        )

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=self._context,
            initializer=worker.initialize,
            initargs=(self._progress_out, self._board, os.getpid()),
        )

    def open_job(
        self, job_id: int, on_trial: Callable[[int], None], log_path: Path | None
    ) -> JobHandle:
        if not self._free_slots:
            raise ExecutorError(f"all {STOP_SLOTS} stop slots are in use")
        slot = self._free_slots.pop()
        self._board[slot] = 0
        handle = JobHandle(job_id, on_trial, log_path)
        self._jobs[job_id] = _LocalJob(handle, slot)
        return handle

    async def run_trials(
        self, handle: JobHandle, kind: JobKind[Any], spec: Any, trial_ids: list[int]
    ) -> list[Any]:
        result: list[Any] = await self._run(
            handle, worker.run_trials, kind, spec, trial_ids
        )
        return result

    async def render(
        self,
        handle: JobHandle,
        kind: JobKind[Any],
        spec: Any,
        *,
        results: list[Any],
        token: str,
        timings: dict[str, float],
        part: Any,
    ) -> OutputPairs:
        pairs: OutputPairs = await self._run(
            handle,
            worker.render_outputs,
            kind,
            spec,
            results=results,
            token=token,
            timings=timings,
            part=part,
        )
        return pairs

    def stop_job(self, handle: JobHandle, reason: str) -> None:
        job = self._jobs.get(handle.job_id)
        if job is None:
            return
        if handle.stop_reason is None:
            handle.stop_reason = reason
        # Queued tasks see the flag and return at once; see the module docstring for
        # why they are not cancelled.
        self._board[job.slot] = 1
        self.close_job(handle)

    def close_job(self, handle: JobHandle) -> None:
        job = self._jobs.get(handle.job_id)
        if job is None:
            return
        job.closing = True
        if not job.tasks:
            self._release(job)
        elif handle.stop_reason is None:
            self.stop_job(handle, "its job ended")
        elif job.enforcer is None:
            job.enforcer = self._spawn(self._enforce_stop(job))

    def job_pids(self, handle: JobHandle) -> list[int]:
        job = self._jobs.get(handle.job_id)
        if job is None:
            return []
        return sorted(
            task.process.pid
            for task in job.tasks.values()
            if task.process is not None and not task.future.done()
        )

    async def close(self) -> None:
        self._closing = True
        for job in list(self._jobs.values()):
            self.stop_job(job.handle, "the daemon is shutting down")
        if self._background:
            await asyncio.wait(self._background, timeout=self._grace + CLOSE_SECONDS)
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._shut_down(pool)
        if self._loop is not None:
            self._loop.remove_reader(self._progress_in.fileno())
        self._progress_in.close()
        self._progress_out.close()

    async def _run(
        self, handle: JobHandle, function: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        _raise_if_stopping(handle)
        job = self._jobs[handle.job_id]
        unexplained = 0
        for _ in range(MAX_TASK_RETRIES):
            _raise_if_stopping(handle)
            task = self._submit(job, partial(function, *args, **kwargs))
            try:
                return await outcome(task.future)
            except BrokenProcessPool:
                report = await asyncio.shield(self._recover(task.pool))
            _raise_if_stopping(handle)
            crash = report.crash_of(task)
            if crash is not None:
                self.stop_job(handle, f"a worker of this job died: {crash}")
                raise WorkerCrashed(crash)
            # A break that another job's worker caused (it died, or was killed after
            # its grace period) says nothing about this task: only count the others.
            if not report.culprits():
                unexplained += 1
                if unexplained >= MAX_TASK_ATTEMPTS:
                    break
            logger.warning(
                "job %s: task %s lost its worker pool (%s); retrying",
                handle.job_id,
                task.id,
                report.describe(),
            )
        raise WorkerCrashed(
            f"the worker pool broke under this job {MAX_TASK_ATTEMPTS} times "
            "without a worker that died"
        )

    def _submit(self, job: _LocalJob, call: Callable[..., Any]) -> _Task:
        pool = self._pool
        if pool is None:
            raise ShuttingDown("the executor is closed")
        task_id = next(self._task_ids)
        ref = worker.TaskRef(job.slot, task_id, job.handle.log_path)
        try:
            future = pool.submit(call, task=ref)
        except BrokenProcessPool as exc:
            future = Future()
            future.set_exception(exc)
        task = _Task(task_id, job, pool, future)
        self._tasks[task_id] = job.tasks[task_id] = task
        job.settled.clear()
        future.add_done_callback(partial(self._on_done, task))
        return task

    def _on_done(self, task: _Task, _future: Future[Any]) -> None:
        # Runs in the pool's management thread, or in ours for a cancelled task.
        assert self._loop is not None
        with suppress(RuntimeError):  # the loop closed after a straggling task
            self._loop.call_soon_threadsafe(self._settle, task)

    def _settle(self, task: _Task) -> None:
        self._drain()
        future = task.future
        if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
            # At once, even if nobody awaits this task any more (its job has ended).
            self._recover(task.pool)
        self._tasks.pop(task.id, None)
        job = task.job
        job.tasks.pop(task.id, None)
        if not job.tasks:
            job.settled.set()
            if job.closing:
                self._release(job)

    def _release(self, job: _LocalJob) -> None:
        if self._jobs.pop(job.handle.job_id, None) is None:
            return
        if job.enforcer is not None:
            job.enforcer.cancel()
        self._board[job.slot] = 0
        self._free_slots.append(job.slot)

    async def _enforce_stop(self, job: _LocalJob) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(job.settled.wait(), self._grace)
        self._drain()
        for task in list(job.tasks.values()):
            if task.process is not None and not task.future.done():
                logger.warning(
                    "job %s: worker %s did not stop within %.1fs; killing it",
                    job.handle.job_id,
                    task.process.pid,
                    self._grace,
                )
                kill_process_group(task.process)

    def _drain(self) -> None:
        """Read every progress line the workers have written so far."""
        while True:
            try:
                chunk = os.read(self._progress_in.fileno(), PROGRESS_READ_BYTES)
            except OSError:  # BlockingIOError: nothing more to read now
                break
            if not chunk:
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._dispatch(orjson.loads(line))

    def _dispatch(self, message: dict[str, int]) -> None:
        if "ready" in message:
            self._ready.add(message["ready"])
            if len(self._ready) >= self._workers:
                self._all_ready.set()
            return
        task = self._tasks.get(message["task"])
        if task is None:
            return
        if "pid" in message:
            with suppress(psutil.NoSuchProcess):
                task.process = psutil.Process(message["pid"])
                self._pool_workers.setdefault(task.pool, set()).add(message["pid"])
        if "trial" in message:
            try:
                task.job.handle.on_trial(message["trial"])
            except Exception:
                logger.exception(
                    "progress callback of job %s failed", task.job.handle.job_id
                )

    def _recover(self, pool: ProcessPoolExecutor) -> asyncio.Future[_BreakReport]:
        """Replace a broken pool, once; the future tells how its workers ended."""
        report = self._reports.get(pool)
        if report is None:
            report = asyncio.get_running_loop().create_future()
            self._reports[pool] = report
            if self._pool is pool and not self._closing:
                self._pool = self._new_pool()
            self._spawn(self._diagnose(pool, report))
        return report

    async def _diagnose(
        self, pool: ProcessPoolExecutor, report: asyncio.Future[_BreakReport]
    ) -> None:
        result = await self._shut_down(pool)
        kill_orphaned_groups(set(self._pool_workers.pop(pool, ())))
        # Whatever the pool left unresolved (its manager thread can die before it has
        # failed every task) fails now, so that no job waits for it forever.
        broken = BrokenProcessPool("the worker pool broke")
        for task in list(self._tasks.values()):
            if task.pool is pool and not task.future.done():
                with suppress(InvalidStateError):
                    task.future.set_exception(broken)
        logger.warning("worker pool broke (%s); using a new pool", result.describe())
        report.set_result(result)

    async def _shut_down(self, pool: ProcessPoolExecutor) -> _BreakReport:
        """Shut ``pool`` down, once however often asked, and return its workers' exit
        codes. (Twice would close its pipes twice, and a reused descriptor number
        could by then belong to another file.)
        """
        task = self._shutdowns.get(pool)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._tear_down(pool))
            self._shutdowns[pool] = task
        return await asyncio.shield(task)

    async def _tear_down(self, pool: ProcessPoolExecutor) -> _BreakReport:
        """Shut ``pool`` down and return its workers' exit codes.

        The exit codes live only in the pool's private process table, which shutdown()
        discards, so it is copied first. Workers still alive after POOL_TEARDOWN_SECONDS
        (a job that ignores SIGTERM) are killed.
        """
        processes = dict(pool._processes or {})
        # Tasks still queued belong to stopped jobs (they return at once) or have
        # failed with the pool already; cancelling them would race gh-107219.
        closing = asyncio.ensure_future(asyncio.to_thread(pool.shutdown, wait=True))
        await asyncio.wait([closing], timeout=POOL_TEARDOWN_SECONDS)
        killed: set[int] = set()
        # Also after a shutdown that returned early because the manager thread died.
        for pid, process in processes.items():
            if process.exitcode is None:
                logger.warning("worker %s did not exit with its pool; killing it", pid)
                process.kill()
                killed.add(pid)
        await closing
        await asyncio.to_thread(_join_all, processes.values())
        codes = {pid: process.exitcode for pid, process in processes.items()}
        return _BreakReport(codes, frozenset(killed))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def outcome(future: Future[Any]) -> asyncio.Future[Any]:
    """An asyncio future that takes ``future``'s result, and whose cancellation (a
    task group's, a shutdown's) never reaches ``future``, unlike ``wrap_future``'s.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()

    def copy(done: Future[Any]) -> None:
        if waiter.cancelled():
            return
        if done.cancelled():
            waiter.cancel()
        elif (error := done.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    def settle(done: Future[Any]) -> None:
        with suppress(RuntimeError):  # the loop closed after a straggling task
            loop.call_soon_threadsafe(copy, done)

    future.add_done_callback(settle)
    return waiter


def _join_all(processes: Iterable[BaseProcess]) -> None:
    for process in processes:
        process.join(POOL_TEARDOWN_SECONDS)


def _raise_if_stopping(handle: JobHandle) -> None:
    if handle.stop_reason is not None:
        raise JobStopped(handle.stop_reason)


def kill_process_group(leader: psutil.Process) -> None:
    """SIGKILL a live worker and every process in its group (what its job started)."""
    # is_running() compares start times, so a reused pid is never signalled.
    if leader.is_running():
        with suppress(ProcessLookupError):
            os.killpg(leader.pid, signal.SIGKILL)


def kill_orphaned_groups(pgids: set[int]) -> None:
    """SIGKILL what is left in the process groups of workers that have died.

    Linux reuses no pid while a group of that id has members, so a live process whose
    pid equals one of ``pgids`` leads a new, unrelated group: that group is spared.
    """
    pgids = {pgid for pgid in pgids if not psutil.pid_exists(pgid)}
    if not pgids:
        return
    for process in psutil.process_iter():
        with suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) in pgids:
                logger.warning("killing process %s left by a dead worker", process.pid)
                process.kill()
