"""Typed records of the daemon's replies, as the clients return them.

Each record's fields carry the names of the protocol's JSON fields, so ``orjson.dumps``
of a record (it serialises dataclasses itself) is the daemon's object again, minus any
field a newer daemon added.
"""

from __future__ import annotations

import functools
import logging
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pytaaad.errors import BadReply
from pytaaad.jobs import JobState

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

logger = logging.getLogger(__name__)

ENDED_WELL = frozenset({JobState.SUCCEEDED, JobState.SKIPPED_FRESH})

RecordT = TypeVar("RecordT", bound="DataclassInstance")


@dataclass(frozen=True)
class DaemonInfo:
    """What a daemon says about itself; ``uptime`` in seconds."""

    version: str
    protocol: int
    pid: int
    uptime: float
    workers: int
    max_jobs: int
    running: int
    queued: int


@dataclass(frozen=True)
class JobInfo:
    """One job as the daemon reports it; ``key`` is the resolved config path.

    Times are Unix seconds; ``elapsed`` runs from the submit to the end, or to the
    moment of the reply while the job is in flight. ``pids`` are the worker processes
    running its tasks (only in status replies, and only with the local executor).
    """

    id: int
    key: str
    kind: str
    generation: int
    state: JobState
    queued_at: float
    started_at: float | None
    finished_at: float | None
    elapsed: float
    trials_total: int
    trials_done: int
    reason: str | None
    error: str | None
    outputs: tuple[str, ...]
    pids: tuple[int, ...] = ()
    config_sha256: str = ""
    fresh_key: str = ""

    @property
    def finished(self) -> bool:
        """True once the job is in its terminal state."""
        return self.state.terminal

    @property
    def ended_well(self) -> bool:
        """True if the job succeeded, or was skipped because its outputs are fresh."""
        return self.state in ENDED_WELL


@dataclass(frozen=True)
class SubmitResult:
    """The job a submit created, and the id of the job it replaced, if any."""

    job: JobInfo
    replaced: int | None


@dataclass(frozen=True)
class Status:
    """The daemon, and the jobs a status request asked for, newest first."""

    daemon: DaemonInfo
    jobs: tuple[JobInfo, ...]


@dataclass(frozen=True)
class LogTail:
    """The last lines of a job's log file (a path on the daemon's machine)."""

    job: int
    path: str
    lines: tuple[str, ...]


def daemon_info(result: Mapping[str, Any]) -> DaemonInfo:
    return _record(DaemonInfo, result)


def job_info(record: object) -> JobInfo:
    fields = _object(JobInfo, record)
    try:
        state = JobState(str(fields.get("state")))
    except ValueError:
        raise BadReply(f"a job has an unknown state {fields.get('state')!r}") from None
    return _record(
        JobInfo,
        fields,
        state=state,
        outputs=_tuple(fields, "outputs"),
        pids=_tuple(fields, "pids"),
    )


def job_list(result: Mapping[str, Any]) -> tuple[JobInfo, ...]:
    jobs = result.get("jobs")
    if not isinstance(jobs, list):
        raise BadReply("the reply has no list of jobs")
    return tuple(job_info(record) for record in jobs)


def submit_result(result: Mapping[str, Any]) -> SubmitResult:
    return _record(SubmitResult, result, job=job_info(result.get("job")))


def status(result: Mapping[str, Any]) -> Status:
    return Status(
        daemon_info(_object(DaemonInfo, result.get("daemon"))), job_list(result)
    )


def cancelled_job(result: Mapping[str, Any]) -> JobInfo:
    return job_info(result.get("job"))


def log_tail(result: Mapping[str, Any]) -> LogTail:
    return _record(LogTail, result, lines=_tuple(result, "lines"))


def _tuple(fields: Mapping[str, Any], name: str) -> tuple[Any, ...]:
    value = fields.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadReply(f"a reply's {name} is {_cut(value)}, not a list")
    return tuple(value)


def _object(cls: type[Any], value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise BadReply(f"expected a {cls.__name__} object, got {type(value).__name__}")
    return value


def _record(cls: type[RecordT], value: object, **converted: object) -> RecordT:
    """Build ``cls`` from a reply's object, checking each field's JSON type; fields
    it does not know are dropped.
    """
    hints = _field_types(cls)
    fields = {k: v for k, v in _object(cls, value).items() if k in hints}
    fields.update(converted)
    for name, given in fields.items():
        if not _matches(given, hints[name]):
            raise BadReply(
                f"a {cls.__name__} in the reply has {name}={_cut(given)}, "
                f"not {getattr(hints[name], '__name__', hints[name])}"
            )
    try:
        return cls(**fields)
    except TypeError as exc:
        raise BadReply(f"a {cls.__name__} in the reply is incomplete: {exc}") from None


@functools.cache
def _field_types(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _matches(value: object, hint: Any) -> bool:
    """Whether a decoded JSON value fits a record field's annotation."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_matches(value, option) for option in typing.get_args(hint))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, tuple) and all(_matches(v, item) for v in value)
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def _cut(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
