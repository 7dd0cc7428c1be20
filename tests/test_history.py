"""The SQLite job history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pytaaad.errors import HistoryError
from pytaaad.history import History
from pytaaad.jobs import Job, JobState


def _job(
    job_id: int, state: JobState, key: str = "/a.json", generation: int = 1
) -> Job:
    return Job(job_id, key, "test", generation, state, 1000.0 + job_id, fresh_key="k")


def test_saved_jobs_read_back_equal(tmp_path: Path) -> None:
    """A saved job, updated later, reads back with its latest fields."""
    history = History(tmp_path / "h.sqlite3")
    job = _job(1, JobState.RUNNING)
    history.save(job)
    job.state = JobState.SUCCEEDED
    job.outputs = ["/out/a.png"]
    history.save(job)
    assert history.get(1) == job
    assert history.last_success("/a.json") == job


def test_unfinished_jobs_become_interrupted_on_reopen(tmp_path: Path) -> None:
    """Jobs left queued or running by a dead daemon read back as interrupted."""
    history = History(tmp_path / "h.sqlite3")
    for job in (
        _job(1, JobState.SUCCEEDED),
        _job(2, JobState.RUNNING),
        _job(3, JobState.QUEUED),
    ):
        history.save(job)
    history.close()
    reopened = History(tmp_path / "h.sqlite3")
    assert reopened.interrupt_unfinished("restart") == [2, 3]
    states = [job.state for job in reopened.recent(None, 10)]
    assert states == [JobState.INTERRUPTED, JobState.INTERRUPTED, JobState.SUCCEEDED]


def test_ids_and_generations_continue_after_a_restart(tmp_path: Path) -> None:
    """The next job id and each key's generation come from the history."""
    history = History(tmp_path / "h.sqlite3")
    history.save(_job(7, JobState.SUCCEEDED, generation=3))
    history.save(_job(8, JobState.SUCCEEDED, key="/b.json", generation=1))
    assert history.next_job_id() == 9
    assert history.generations() == {"/a.json": 3, "/b.json": 1}


def test_recent_filters_by_key_newest_first(tmp_path: Path) -> None:
    """recent() lists one key's jobs, newest first, up to the limit."""
    history = History(tmp_path / "h.sqlite3")
    for job_id in range(1, 6):
        history.save(
            _job(job_id, JobState.FAILED, key="/a.json" if job_id % 2 else "/b.json")
        )
    assert [job.id for job in history.recent("/a.json", 2)] == [5, 3]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer pytaaad is not touched."""
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="newer"):
        History(path)
