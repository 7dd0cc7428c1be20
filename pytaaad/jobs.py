"""The job table: keys, generations, states, replace and cancel, FIFO start, freshness.

A job's key is its resolved config path. Every runnable submit for a key gets the next
generation number and replaces the job in flight for that key, if any; only the job of
the newest generation may publish outputs. The table is plain synchronous state: the
scheduler drives it from the event loop and persists each change through ``on_change``.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytaaad.errors import IllegalTransition, JobNotInFlight, UnknownJob

logger = logging.getLogger(__name__)

RETAINED_FINISHED_JOBS = 500
SECONDS_PER_HOUR = 3600.0


class JobState(enum.StrEnum):
    """Where a job is in its life; every job ends in exactly one terminal state."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REPLACED = "replaced"
    CRASHED = "crashed"
    INTERRUPTED = "interrupted"
    SKIPPED_FRESH = "skipped_fresh"

    @property
    def terminal(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


_STOPS = frozenset(
    {JobState.FAILED, JobState.CANCELLED, JobState.REPLACED, JobState.INTERRUPTED}
)
TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    JobState.QUEUED: _STOPS | {JobState.RUNNING},
    JobState.RUNNING: _STOPS | {JobState.SUCCEEDED, JobState.CRASHED},
}


@dataclass
class Job:
    """One submit and everything the daemon knows about it; times are Unix seconds."""

    id: int
    key: str
    kind: str
    generation: int
    state: JobState
    queued_at: float
    config_sha256: str = ""
    fresh_key: str = ""
    trials_total: int = 0
    trials_done: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    error: str | None = None
    outputs: list[str] = field(default_factory=list)

    def elapsed(self, now: float | None = None) -> float:
        """Seconds from submit to the end, or to now while the job is in flight."""
        end = self.finished_at if self.finished_at is not None else now or time.time()
        return max(0.0, end - self.queued_at)

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: asdict() deep-copies and costs a submit 0.1 ms.
        record = {name: getattr(self, name) for name in self.__dataclass_fields__}
        record["outputs"] = list(self.outputs)
        record["state"] = str(self.state)
        record["elapsed"] = round(self.elapsed(), 3)
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Job:
        values = {name: record[name] for name in cls.__dataclass_fields__}
        values["state"] = JobState(values["state"])
        values["outputs"] = list(values["outputs"] or [])
        return cls(**values)


class JobTable:
    """This daemon's jobs, with the generation of every key and a FIFO start queue."""

    def __init__(
        self,
        max_running: int,
        on_change: Callable[[Job], None],
        first_id: int = 1,
        generations: Mapping[str, int] | None = None,
    ) -> None:
        self.max_running = max_running
        self._on_change = on_change
        self._next_id = first_id
        self._generations: dict[str, int] = dict(generations or {})
        self._jobs: dict[int, Job] = {}
        self._current: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._running: set[int] = set()
        self._finished: deque[int] = deque()
        self._skipped: dict[str, int] = {}
        # Jobs that went to the head of the queue by replacing a running job.
        self._jumped: set[int] = set()

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs.values())

    @property
    def running_count(self) -> int:
        return len(self._running)

    @property
    def queued_count(self) -> int:
        return len(self._queue)

    def get(self, job_id: int) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise UnknownJob(f"no job {job_id} in this daemon's table") from None

    def in_flight(self, key: str) -> Job | None:
        """The queued or running job for ``key``, if any."""
        job = self._current.get(key)
        return job if job is not None and not job.state.terminal else None

    def is_current(self, job: Job) -> bool:
        """True while ``job`` is the newest runnable generation of its key."""
        return self._current.get(job.key) is job

    def submit(self, key: str, kind: str, **details: Any) -> tuple[Job, Job | None]:
        """Queue a new generation for ``key``; return it and the job it replaced."""
        generation = self._generations.get(key, 0) + 1
        self._generations[key] = generation
        job = self._new_job(key, kind, generation, JobState.QUEUED, details)
        replaced = self.in_flight(key)
        place, jumped = self._place(replaced)
        if jumped:
            self._jumped.add(job.id)
        if replaced is not None:
            self.finish(
                replaced,
                JobState.REPLACED,
                f"replaced by job {job.id} (generation {generation})",
            )
        self._current[key] = job
        self._queue.insert(place, job)
        self._announce(job)
        return job, replaced

    def _place(self, replaced: Job | None) -> tuple[int, bool]:
        """Where a new job goes in the queue, and whether it went ahead to get there.

        A queued job's successor takes its place; a running job's goes to the head,
        so that a replace never waits behind jobs submitted after the old one. Only
        once in a row, though: a config resubmitted faster than its job runs would
        otherwise keep every other job waiting.
        """
        if replaced is None:
            return len(self._queue), False
        jumped = replaced.id in self._jumped
        if replaced.state is JobState.QUEUED:
            return self._queue.index(replaced), jumped
        if jumped:
            return len(self._queue), False
        return 0, True

    def record_skipped(self, key: str, kind: str, reason: str, **details: Any) -> Job:
        """Record a submit that needs no run because the key's outputs are fresh."""
        generation = self._generations.get(key, 0)
        job = self._new_job(key, kind, generation, JobState.SKIPPED_FRESH, details)
        job.reason = reason
        job.finished_at = job.queued_at
        # The table keeps the newest skip of a key: a page build every few minutes
        # would otherwise push every real job out of it.
        earlier = self._skipped.pop(key, None)
        if earlier is not None and self._jobs.pop(earlier, None) is not None:
            self._finished.remove(earlier)
        self._skipped[key] = job.id
        self._retire(job)
        self._announce(job)
        return job

    def start_ready(self) -> list[Job]:
        """Move queued jobs to running, oldest first, while the running limit allows."""
        started = []
        while self._queue and len(self._running) < self.max_running:
            job = self._queue.popleft()
            self._move(job, JobState.RUNNING, None)
            job.started_at = time.time()
            self._running.add(job.id)
            self._announce(job)
            started.append(job)
        return started

    def cancel(self, job: Job, reason: str) -> None:
        if job.state.terminal:
            raise JobNotInFlight(f"job {job.id} has already ended ({job.state})")
        self.finish(job, JobState.CANCELLED, reason)

    def finish(
        self,
        job: Job,
        state: JobState,
        reason: str,
        error: str | None = None,
        outputs: list[str] | None = None,
    ) -> None:
        """End ``job`` in the terminal ``state``, recording why."""
        if not state.terminal:
            raise IllegalTransition(f"job {job.id}: {state} is not a terminal state")
        was_queued = job.state is JobState.QUEUED
        self._move(job, state, reason)
        job.finished_at = time.time()
        job.error = error
        job.outputs = list(outputs or [])
        if was_queued:
            self._queue.remove(job)
        self._running.discard(job.id)
        self._retire(job)
        self._announce(job)

    def _new_job(
        self,
        key: str,
        kind: str,
        generation: int,
        state: JobState,
        details: Mapping[str, Any],
    ) -> Job:
        job = Job(self._next_id, key, kind, generation, state, time.time(), **details)
        self._next_id += 1
        self._jobs[job.id] = job
        return job

    def _move(self, job: Job, state: JobState, reason: str | None) -> None:
        if state not in TRANSITIONS.get(job.state, frozenset()):
            raise IllegalTransition(
                f"job {job.id}: cannot go from {job.state} to {state}"
            )
        job.state = state
        job.reason = reason

    def _retire(self, job: Job) -> None:
        self._finished.append(job.id)
        while len(self._finished) > RETAINED_FINISHED_JOBS:
            old = self._jobs.pop(self._finished.popleft())
            if self._current.get(old.key) is old:
                del self._current[old.key]
            if self._skipped.get(old.key) == old.id:
                del self._skipped[old.key]
            self._jumped.discard(old.id)

    def _announce(self, job: Job) -> None:
        logger.info(
            "job %s %s key=%s generation=%s elapsed=%.3fs reason=%s",
            job.id,
            job.state,
            job.key,
            job.generation,
            job.elapsed(),
            job.reason or "-",
        )
        self._on_change(job)


def fresh_reason(
    last_success: Job | None, fresh_key: str, freshness_hours: float, now: float
) -> str | None:
    """Why a submit can be skipped, or None when it must run.

    Fresh means: the last successful job of the key used the same config content, quote
    data and options (``fresh_key``), finished less than ``freshness_hours`` ago, and
    its outputs are all still there.
    """
    if last_success is None or last_success.finished_at is None:
        return None
    if last_success.fresh_key != fresh_key:
        return None
    if not all(os.path.exists(path) for path in last_success.outputs):
        return None
    age_hours = (now - last_success.finished_at) / SECONDS_PER_HOUR
    if not 0.0 <= age_hours < freshness_hours:
        return None
    return (
        f"outputs of job {last_success.id} are fresh: same config and quote data, "
        f"{age_hours:.2f} h old, window {freshness_hours:g} h"
    )
