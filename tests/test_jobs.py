"""The job table: generations, replace, FIFO start, transitions, freshness."""

from __future__ import annotations

import pytest

from pytaaad.errors import IllegalTransition, JobNotInFlight
from pytaaad.jobs import Job, JobState, JobTable, fresh_reason

HOUR = 3600.0


def _table(max_running: int = 1) -> tuple[JobTable, list[tuple[int, JobState]]]:
    changes: list[tuple[int, JobState]] = []
    table = JobTable(max_running, lambda job: changes.append((job.id, job.state)))
    return table, changes


def test_submit_replaces_the_job_in_flight_for_the_same_key() -> None:
    """A second submit for a key marks the first replaced and bumps the generation."""
    table, _ = _table()
    first, replaced = table.submit("/a.json", "test")
    assert replaced is None
    table.start_ready()
    second, replaced = table.submit("/a.json", "test")
    assert replaced is first
    assert first.state is JobState.REPLACED
    assert first.reason == "replaced by job 2 (generation 2)"
    assert (first.generation, second.generation) == (1, 2)
    assert table.is_current(second)
    assert not table.is_current(first)


def test_replacing_a_queued_job_removes_it_from_the_queue() -> None:
    """A queued job that is replaced never starts."""
    table, _ = _table(max_running=1)
    table.submit("/busy.json", "test")
    table.start_ready()
    queued, _ = table.submit("/a.json", "test")
    newer, _ = table.submit("/a.json", "test")
    assert queued.state is JobState.REPLACED
    table.finish(table.get(1), JobState.SUCCEEDED, "done")
    assert table.start_ready() == [newer]


def test_replacing_a_queued_job_keeps_its_place() -> None:
    """A queued job's successor starts where the replaced job would have."""
    table, _ = _table(max_running=1)
    table.submit("/busy.json", "test")
    table.start_ready()
    table.submit("/a.json", "test")
    later, _ = table.submit("/b.json", "test")
    newer, _ = table.submit("/a.json", "test")
    table.finish(table.get(1), JobState.SUCCEEDED, "done")
    assert table.start_ready() == [newer]
    assert later.state is JobState.QUEUED


def test_replacing_a_running_job_goes_before_the_queue() -> None:
    """A running job's successor starts next, before jobs queued after the old one."""
    table, _ = _table(max_running=1)
    running, _ = table.submit("/a.json", "test")
    table.start_ready()
    queued, _ = table.submit("/b.json", "test")
    newer, _ = table.submit("/a.json", "test")
    assert running.state is JobState.REPLACED
    assert table.start_ready() == [newer]
    assert queued.state is JobState.QUEUED


def test_a_config_replaced_again_and_again_goes_ahead_only_once() -> None:
    """Replacing the successor that went ahead sends the next one to the back."""
    table, _ = _table(max_running=1)
    table.submit("/a.json", "test")
    table.start_ready()
    other, _ = table.submit("/b.json", "test")
    ahead, _ = table.submit("/a.json", "test")
    assert table.start_ready() == [ahead]
    behind, _ = table.submit("/a.json", "test")
    assert table.start_ready() == [other]
    table.finish(other, JobState.SUCCEEDED, "done")
    assert table.start_ready() == [behind]


def test_jobs_start_in_fifo_order_within_the_limit() -> None:
    """Only max_running jobs run; the rest start oldest first."""
    table, _ = _table(max_running=2)
    jobs = [table.submit(f"/{name}.json", "test")[0] for name in "abcd"]
    assert table.start_ready() == jobs[:2]
    assert table.queued_count == 2
    table.finish(jobs[1], JobState.FAILED, "boom")
    assert table.start_ready() == [jobs[2]]


def test_every_transition_is_reported_once() -> None:
    """The change listener sees queued, running and the terminal state."""
    table, changes = _table()
    job, _ = table.submit("/a.json", "test")
    table.start_ready()
    table.finish(job, JobState.SUCCEEDED, "done")
    assert changes == [
        (1, JobState.QUEUED),
        (1, JobState.RUNNING),
        (1, JobState.SUCCEEDED),
    ]
    assert job.finished_at is not None


def test_illegal_transitions_raise() -> None:
    """A terminal job cannot move; a queued job cannot succeed."""
    table, _ = _table()
    job, _ = table.submit("/a.json", "test")
    with pytest.raises(IllegalTransition):
        table.finish(job, JobState.SUCCEEDED, "too early")
    table.cancel(job, "a client")
    with pytest.raises(IllegalTransition):
        table.finish(job, JobState.FAILED, "again")
    with pytest.raises(JobNotInFlight):
        table.cancel(job, "a client")


def test_skipped_submit_keeps_the_generation_and_the_job_in_flight() -> None:
    """A fresh skip records a job without replacing the one in flight."""
    table, _ = _table()
    running, _ = table.submit("/a.json", "test")
    skipped = table.record_skipped("/a.json", "test", "fresh")
    assert skipped.state is JobState.SKIPPED_FRESH
    assert skipped.generation == running.generation
    assert table.in_flight("/a.json") is running


def test_job_records_round_trip_through_dicts() -> None:
    """to_dict and from_dict preserve a job."""
    table, _ = _table()
    job, _ = table.submit("/a.json", "test", trials_total=5, fresh_key="k")
    assert Job.from_dict(job.to_dict()) == job


def _success(finished_at: float, fresh_key: str = "k") -> Job:
    return Job(
        id=4,
        key="/a.json",
        kind="test",
        generation=1,
        state=JobState.SUCCEEDED,
        queued_at=finished_at - 10.0,
        fresh_key=fresh_key,
        finished_at=finished_at,
    )


@pytest.mark.parametrize(
    ("last", "fresh"),
    [
        (None, False),
        (_success(finished_at=100 * HOUR - 19 * HOUR), True),
        (_success(finished_at=100 * HOUR - 21 * HOUR), False),
        (_success(finished_at=100 * HOUR - HOUR, fresh_key="other"), False),
    ],
)
def test_freshness_needs_same_inputs_within_the_window(
    last: Job | None, fresh: bool
) -> None:
    """Fresh means the same config and data, finished within freshness_hours."""
    reason = fresh_reason(last, "k", 20.0, now=100 * HOUR)
    assert (reason is not None) is fresh
