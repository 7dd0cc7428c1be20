"""The scheduler: turns submits into jobs, runs them on the executor, publishes outputs.

Everything here runs on the event loop. ``submit``, ``cancel`` and ``status`` are plain
synchronous methods, so a request never waits for work and two requests can never
interleave halfway through a replace. The publishing helpers of
``pytaaad.backtest.job`` are imported where used, as in ``pytaaad.montecarlo``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import traceback
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson

from pytaaad import staging
from pytaaad.errors import (
    ExecutorError,
    HistoryError,
    JobStopped,
    OutputError,
    ShuttingDown,
    UnknownJob,
    UnknownJobKind,
    WorkerCrashed,
)
from pytaaad.executors import Executor, JobHandle
from pytaaad.history import History
from pytaaad.joblogs import JobLog, JobLogs
from pytaaad.jobs import Job, JobState, JobTable, fresh_reason
from pytaaad.kinds import JobKind, PreparedJob
from pytaaad.roots import Roots

logger = logging.getLogger(__name__)

SHUTDOWN_MARGIN_SECONDS = 3.0
LATEST_SCAN_ROWS = 50

T = TypeVar("T")


@dataclass(eq=False)
class _Run:
    """A job in flight, with what only the running daemon has: spec, handle, log."""

    job: Job
    kind: JobKind[Any]
    prepared: PreparedJob[Any]
    handle: JobHandle | None = None
    log: JobLog | None = None
    task: asyncio.Task[None] | None = None
    trials_seen: set[int] = field(default_factory=set)


class Scheduler:
    """The job table, wired to the executor, the history and the job logs."""

    def __init__(
        self,
        *,
        executor: Executor,
        history: History,
        logs: JobLogs,
        kinds: Mapping[str, JobKind[Any]],
        config_roots: Roots,
        output_roots: Roots,
        max_running: int,
        grace_seconds: float,
    ) -> None:
        self._executor = executor
        self._history = history
        self._logs = logs
        self._kinds = kinds
        self._config_roots = config_roots
        self._output_roots = output_roots
        self._grace = grace_seconds
        self._runs: dict[int, _Run] = {}
        self._closing = False
        self.table = JobTable(
            max_running,
            self._record,
            first_id=history.next_job_id(),
            generations=history.generations(),
        )

    def submit(
        self,
        config: Path,
        kind_name: str,
        force: bool = False,
        trials: int | None = None,
        seed: int | None = None,
    ) -> tuple[Job, Job | None]:
        """Queue a job for ``config``, or skip it as fresh.

        Returns the job and the job it replaced, if any.
        """
        if self._closing:
            raise ShuttingDown("the daemon is shutting down and takes no new jobs")
        kind, key, prepared = self._prepare(config, kind_name, trials, seed)
        fresh_key = _fresh_key(kind.name, prepared, trials, seed)
        details = {
            "config_sha256": prepared.config_sha256,
            "fresh_key": fresh_key,
            "trials_total": prepared.trials,
        }
        # A job in flight is replaced, never kept: its config may have changed since.
        if not force and self.table.in_flight(key) is None:
            last = self._history.last_success(key)
            hours = prepared.freshness_hours
            reason = fresh_reason(last, fresh_key, hours, time.time())
            if reason is not None:
                return self.table.record_skipped(
                    key, kind.name, reason, **details
                ), None
        job, replaced = self.table.submit(key, kind.name, **details)
        self._runs[job.id] = _Run(job, kind, prepared)
        if replaced is not None:
            self._wind_down(replaced)
        # Starting a job rotates its log and hands tasks to the pool: work that the
        # submit's reply need not wait for.
        asyncio.get_running_loop().call_soon(self._start_ready)
        return job, replaced

    def _prepare(
        self, config: Path, kind_name: str, trials: int | None, seed: int | None
    ) -> tuple[JobKind[Any], str, PreparedJob[Any]]:
        """Check the kind and the roots, and load the config; return the job key."""
        kind = self._kinds.get(kind_name)
        if kind is None:
            raise UnknownJobKind(f"this daemon runs no job kind {kind_name!r}")
        key = self._config_roots.check(config)
        prepared = kind.prepare(key, trials, seed)
        for folder in prepared.output_dirs:
            self._output_roots.check(folder)
        return kind, str(key), prepared

    def cancel(self, job: Job, requester: str) -> Job:
        self.table.cancel(job, f"cancelled by {requester}")
        self._wind_down(job)
        return job

    def find(self, job_id: int) -> Job:
        """A job of this daemon's table, or else of the history."""
        try:
            return self.table.get(job_id)
        except UnknownJob:
            job = self._history.get(job_id)
            if job is None:
                raise
            return job

    def latest(self, key: Path, ran: bool = False) -> Job:
        """The newest job for a config, in flight or finished; with ``ran``, the
        newest that started running (the one the config's log is about), skipping
        jobs still queued, skipped as fresh or ended before they started.
        """
        job = self.table.in_flight(str(key))
        if job is not None and (not ran or job.started_at is not None):
            return job
        for job in self._history.recent(str(key), LATEST_SCAN_ROWS):
            if not ran or job.started_at is not None:
                return job
        raise UnknownJob(f"no job{' that ran' if ran else ''} for config {key}")

    def describe(self, job: Job) -> dict[str, Any]:
        """A job's record for a status reply, with its live worker pids."""
        record = job.to_dict()
        run = self._runs.get(job.id)
        handle = run.handle if run is not None else None
        live = handle is not None and not job.state.terminal
        record["pids"] = self._executor.job_pids(handle) if live and handle else []
        return record

    def log_of(self, job: Job) -> Path:
        path = self._logs.find(job)
        if path is None:
            raise UnknownJob(f"the log of job {job.id} is no longer kept")
        return path

    def history(self, key: Path | None, limit: int) -> list[Job]:
        return self._history.recent(str(key) if key is not None else None, limit)

    async def shutdown(self, reason: str) -> None:
        """Interrupt every job and wait (bounded) until their tasks have stopped."""
        self._closing = True
        for job in list(self.table):
            if not job.state.terminal:
                self.table.finish(job, JobState.INTERRUPTED, reason)
                self._wind_down(job)
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        if tasks:
            deadline = self._grace + SHUTDOWN_MARGIN_SECONDS
            _, late = await asyncio.wait(tasks, timeout=deadline)
            for task in late:
                task.cancel()

    def _wind_down(self, job: Job) -> None:
        """Stop what a job that just ended still has running."""
        run = self._runs.get(job.id)
        if run is None:
            return
        if run.handle is not None:
            self._executor.stop_job(run.handle, job.reason or str(job.state))
        elif run.task is None:
            del self._runs[job.id]

    def _start_ready(self) -> None:
        if self._closing:
            return
        for job in self.table.start_ready():
            run = self._runs[job.id]
            try:
                run.log = self._logs.begin(job)
                run.handle = self._executor.open_job(
                    job.id, partial(self._on_trial, run), run.log.path
                )
            except (ExecutorError, OSError) as exc:
                self._end(run, JobState.FAILED, "it could not start", str(exc))
                if run.log is not None:
                    run.log.close()
                del self._runs[job.id]
                continue
            run.task = asyncio.get_running_loop().create_task(self._run(run))

    def _on_trial(self, run: _Run, trial: int) -> None:
        if run.job.state is not JobState.RUNNING or trial in run.trials_seen:
            return
        run.trials_seen.add(trial)
        run.job.trials_done = len(run.trials_seen)
        if run.log is not None:
            run.log.write(
                f"trial {trial} done ({run.job.trials_done}/{run.job.trials_total})"
            )

    async def _run(self, run: _Run) -> None:
        # Names this daemon, so that a later one can clear it after a SIGKILL.
        token = staging.staging_token()
        published = False
        try:
            results = await self._run_trials(run)
            published = await self._render_and_publish(run, results, token)
        except JobStopped as exc:
            # Expected after a replace, cancel or shutdown, which already ended the
            # job; a job that stops on its own accord has failed.
            self._end(run, JobState.FAILED, "it stopped without being asked", str(exc))
        except WorkerCrashed as exc:
            self._end(run, JobState.CRASHED, str(exc))
        except Exception as exc:
            self._fail(run, exc)
        finally:
            if not published:
                _discard(run.kind.staging_dirs(run.prepared.spec, token))
            assert run.handle is not None
            assert run.log is not None
            self._executor.close_job(run.handle)
            run.log.close()
            del self._runs[run.job.id]
            self._start_ready()

    async def _run_trials(self, run: _Run) -> list[Any]:
        assert run.handle is not None
        spec = run.prepared.spec
        chunks = run.kind.chunks(spec, self._executor.workers)
        if run.log is not None:
            run.log.write(
                f"running {run.job.trials_total} trials in {len(chunks)} tasks"
            )
        results = await _all_or_first_error(
            self._executor.run_trials(run.handle, run.kind, spec, chunk)
            for chunk in chunks
        )
        return [result for chunk_results in results for result in chunk_results]

    async def _render_and_publish(
        self, run: _Run, results: list[Any], token: str
    ) -> bool:
        assert run.handle is not None
        assert run.job.started_at is not None
        timings = {
            "queued_seconds": run.job.started_at - run.job.queued_at,
            "trials_seconds": time.time() - run.job.started_at,
        }
        spec = run.prepared.spec
        # Rendering stages files beside the outputs.
        self._check_output_dirs(run)
        parts = await _all_or_first_error(
            self._executor.render(
                run.handle,
                run.kind,
                spec,
                results=results,
                token=token,
                timings=timings,
                part=part,
            )
            for part in run.kind.render_parts(spec)
        )
        return self._publish(run, [pair for pairs in parts for pair in pairs])

    def _publish(self, run: _Run, pairs: list[tuple[Path, Path]]) -> bool:
        """Move the staged outputs into place, if the job is still the newest."""
        job = run.job
        if job.state is not JobState.RUNNING or not self.table.is_current(job):
            return False
        from pytaaad.backtest.job import publish_outputs

        self._check_output_dirs(run)
        try:
            publish_outputs(pairs)
        except OSError as exc:
            raise OutputError(f"cannot move outputs into place: {exc}") from exc
        job.trials_done = job.trials_total
        outputs = [str(final) for _, final in pairs]
        reason = f"all {job.trials_total} trials done; outputs published"
        self._end(run, JobState.SUCCEEDED, reason, None, outputs)
        return True

    def _check_output_dirs(self, run: _Run) -> None:
        """Check a job's output folders against the roots again: since the submit, one
        may have become a symlink out of them.
        """
        for folder in run.prepared.output_dirs:
            self._output_roots.check(folder)

    def _fail(self, run: _Run, exc: Exception) -> None:
        text = "".join(traceback.format_exception(exc))
        if run.log is not None:
            run.log.write(f"the job raised:\n{text}")
        else:
            logger.error("job %s raised", run.job.id, exc_info=exc)
        self._end(
            run,
            JobState.FAILED,
            "the job raised an error",
            f"{type(exc).__name__}: {exc}",
        )

    def _end(
        self,
        run: _Run,
        state: JobState,
        reason: str,
        error: str | None = None,
        outputs: list[str] | None = None,
    ) -> None:
        if not run.job.state.terminal:
            self.table.finish(run.job, state, reason, error, outputs)

    def _record(self, job: Job) -> None:
        """Persist a transition and note it in the job's log."""
        try:
            self._history.save(job)
        except HistoryError as exc:
            logger.error("job %s: %s", job.id, exc)
        run = self._runs.get(job.id)
        if run is not None and run.log is not None:
            run.log.write(f"{job.state}: {job.reason or '-'}")


async def _all_or_first_error(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run the tasks of one job step at once; on an error, cancel the rest and raise it.

    Raised outside the ``except`` block so the error does not carry the group along.
    """
    failure: Exception | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except ExceptionGroup as errors:
        failure = _most_telling(errors)
    if failure is not None:
        raise failure
    return [task.result() for task in tasks]


def _discard(folders: list[Path]) -> None:
    """Remove staging folders; most jobs that end unpublished never made any."""
    if any(folder.exists() for folder in folders):
        from pytaaad.backtest.job import discard_staging

        discard_staging(folders)


def _most_telling(errors: ExceptionGroup[Exception]) -> Exception:
    """The error that explains a job's end: anything but JobStopped, if there is one."""
    flat: list[Exception] = []
    pending: list[Exception] = [errors]
    while pending:
        error = pending.pop(0)
        if isinstance(error, ExceptionGroup):
            pending[:0] = error.exceptions
        else:
            flat.append(error)
    return next((e for e in flat if not isinstance(e, JobStopped)), flat[0])


def _fresh_key(
    kind: str, prepared: PreparedJob[Any], trials: int | None, seed: int | None
) -> str:
    identity = {
        "kind": kind,
        "config": prepared.config_sha256,
        "data": prepared.data_fingerprint,
        "trials": trials,
        "seed": seed,
    }
    encoded = orjson.dumps(identity, default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()
