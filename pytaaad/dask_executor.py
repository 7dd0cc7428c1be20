"""The Dask backend: the tasks of jobs on a Dask distributed cluster, as an Executor.

Optional: it needs ``pytaaad[dask]`` and is imported only for ``--executor dask``. With
``--dask-scheduler ADDRESS`` the daemon uses that cluster; without, it starts a local
cluster of ``--workers`` single-threaded worker processes. A job's stop flag is a
distributed Event, progress comes back as worker events on one topic, and a task still
running after the grace period gets its worker restarted by the worker's nanny.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, Event, Future, LocalCluster, get_worker
from distributed import wait as wait_for_futures
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from pytaaad.errors import ExecutorError, JobStopped, WorkerCrashed
from pytaaad.executors import JobHandle
from pytaaad.kinds import JobKind, OutputPairs
from pytaaad.worker import WORKER_ENVIRONMENT

logger = logging.getLogger(__name__)

PROGRESS_TOPIC = "pytaaad-progress"
RESTART_SECONDS = 30.0
CLOSE_SECONDS = 10.0
LOCAL_HOST = "127.0.0.1"


@dataclass(frozen=True)
class _Ref:
    """What a task needs to know about its job on a Dask worker."""

    job_id: int
    stop_event: str


@dataclass(frozen=True)
class _Stopped:
    """A task's answer when its job's stop flag was set; Dask would log a raise."""

    reason: str


@dataclass(eq=False)
class _DaskJob:
    handle: JobHandle
    ref: _Ref
    futures: set[Future[Any]] = field(default_factory=set)
    stopping: asyncio.Task[None] | None = None


class DaskExecutor:
    """Tasks on a Dask cluster; see the module docstring."""

    def __init__(self, workers: int, grace_seconds: float, address: str | None) -> None:
        self._workers = workers
        self._grace = grace_seconds
        self._address = address
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._jobs: dict[int, _DaskJob] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def client(self) -> Client:
        if self._client is None:
            raise ExecutorError("the Dask executor has not started")
        return self._client

    async def start(self) -> None:
        target: str | LocalCluster
        # A render task carries every trial's values; distributed warns about any
        # task graph over 10 MB, once per job of a few hundred trials.
        warnings.filterwarnings("ignore", message="Sending large graph")
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # A local scheduler runs in this process; its INFO chatter would drown
            # the daemon's one line per job transition.
            logging.getLogger("distributed").setLevel(logging.WARNING)
        if self._address is None:
            self._cluster = await LocalCluster(
                n_workers=self._workers,
                threads_per_worker=1,
                processes=True,
                asynchronous=True,
                host=LOCAL_HOST,
                # Its ports listen on loopback, where any local user could connect
                # and run code as the daemon: TLS with a throwaway certificate that
                # only this process and its workers hold keeps them out.
                security=True,
                # The scheduler's HTTP server cannot be switched off; keep it local
                # on a free port rather than on 8787 of every interface.
                dashboard_address=f"{LOCAL_HOST}:0",
                env=dict(WORKER_ENVIRONMENT),
            )
            target = self._cluster
        else:
            target = self._address
        try:
            self._client = await Client(target, asynchronous=True)
        except OSError as exc:  # distributed's timeouts and closed comms are OSErrors
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {target}: {exc}"
            ) from None
        self._client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)
        logger.info("using Dask scheduler %s", self._client.scheduler_info()["address"])

    def open_job(
        self, job_id: int, on_trial: Callable[[int], None], log_path: Path | None
    ) -> JobHandle:
        handle = JobHandle(job_id, on_trial, log_path)
        event = f"pytaaad-stop-{job_id}-{secrets.token_hex(4)}"
        self._jobs[job_id] = _DaskJob(handle, _Ref(job_id, event))
        return handle

    async def run_trials(
        self, handle: JobHandle, kind: JobKind[Any], spec: Any, trial_ids: list[int]
    ) -> list[Any]:
        result: list[Any] = await self._run(handle, _trials_task, kind, spec, trial_ids)
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
            handle, _render_task, kind, spec, results, token, timings, part
        )
        return pairs

    def stop_job(self, handle: JobHandle, reason: str) -> None:
        job = self._jobs.get(handle.job_id)
        if job is None:
            return
        if handle.stop_reason is None:
            handle.stop_reason = reason
        if job.stopping is None:
            job.stopping = self._spawn(self._stop(job))

    def close_job(self, handle: JobHandle) -> None:
        job = self._jobs.get(handle.job_id)
        if job is None:
            return
        if job.futures:
            self.stop_job(handle, "its job ended")
        elif job.stopping is None:
            del self._jobs[handle.job_id]

    def job_pids(self, handle: JobHandle) -> list[int]:
        return []

    async def close(self) -> None:
        for job in list(self._jobs.values()):
            self.stop_job(job.handle, "the daemon is shutting down")
        if self._background:
            await asyncio.wait(self._background, timeout=self._grace + CLOSE_SECONDS)
        if self._client is not None:
            await self._client.close()
        if self._cluster is not None:
            closing = self._cluster.close()
            if closing is not None:  # None only for a synchronous cluster
                await closing

    async def _run(
        self, handle: JobHandle, function: Callable[..., Any], *args: Any
    ) -> Any:
        _raise_if_stopping(handle)
        job = self._jobs[handle.job_id]
        future = self.client.submit(function, *args, ref=job.ref, pure=False)
        # Tracked until done, not until we stop awaiting it: a task that ignores its
        # stop flag must still be found and its worker restarted.
        job.futures.add(future)
        future.add_done_callback(job.futures.discard)
        try:
            result = await future
        except KilledWorker as exc:
            raise WorkerCrashed(f"its Dask workers kept dying: {exc}") from exc
        except FutureCancelledError:
            _raise_if_stopping(handle)
            raise
        if isinstance(result, _Stopped):
            raise JobStopped(result.reason)
        return result

    async def _stop(self, job: _DaskJob) -> None:
        """Set the stop event; after the grace, cancel and restart what is left."""
        event = Event(job.ref.stop_event, client=self.client)
        await event.set()
        tasks = list(job.futures)
        if tasks:
            try:
                await wait_for_futures(tasks, timeout=self._grace)
            except TimeoutError:
                await self._end_stuck([task for task in tasks if not task.done()])
        await event.clear()
        self._jobs.pop(job.handle.job_id, None)

    async def _end_stuck(self, tasks: list[Future[Any]]) -> None:
        # Look up the workers before cancelling: a cancelled task leaves the scheduler's
        # books at once, though its thread keeps running until the worker restarts.
        keys = {task.key for task in tasks}
        processing = await self.client.processing()
        stuck = [address for address, held in processing.items() if keys & set(held)]
        await self.client.cancel(tasks)
        if stuck:
            logger.warning("restarting Dask workers %s: a task did not stop", stuck)
            await self.client.restart_workers(stuck, timeout=RESTART_SECONDS)

    def _on_progress(self, event: tuple[float, dict[str, int]]) -> None:
        _, message = event
        job = self._jobs.get(message["job"])
        if job is not None:
            job.handle.on_trial(message["trial"])

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _raise_if_stopping(handle: JobHandle) -> None:
    if handle.stop_reason is not None:
        raise JobStopped(handle.stop_reason)


def _trials_task(
    kind: JobKind[Any], spec: Any, trial_ids: list[int], *, ref: _Ref
) -> list[Any] | _Stopped:
    """Runs on a Dask worker: one chunk of trials."""
    node = get_worker()
    stop = Event(ref.stop_event)

    def on_trial(trial: int) -> None:
        node.log_event(PROGRESS_TOPIC, {"job": ref.job_id, "trial": trial})

    if stop.is_set():
        return _Stopped("stopped before its first trial")
    try:
        return kind.run_trials(spec, trial_ids, on_trial, stop.is_set)
    except JobStopped as exc:
        return _Stopped(str(exc))


def _render_task(
    kind: JobKind[Any],
    spec: Any,
    results: list[Any],
    token: str,
    timings: dict[str, float],
    part: Any,
    *,
    ref: _Ref,
) -> OutputPairs | _Stopped:
    """Runs on a Dask worker: one render task of a job."""
    if Event(ref.stop_event).is_set():
        return _Stopped("stopped before rendering outputs")
    return kind.render_outputs(spec, results, token, timings, part)
