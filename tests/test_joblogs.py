"""Per-config job logs: rotation and tail."""

from __future__ import annotations

from pathlib import Path

from pytaaad.joblogs import JobLogs, tail
from pytaaad.jobs import Job, JobState


def _job(job_id: int) -> Job:
    return Job(
        job_id, "/srv/configs/naz100.json", "test", job_id, JobState.RUNNING, 0.0
    )


def test_a_new_run_keeps_the_previous_log(tmp_path: Path) -> None:
    """The second run's log replaces the first, which stays as .log.1."""
    logs = JobLogs(tmp_path)
    first = logs.begin(_job(1))
    first.write("from the first run")
    second = logs.begin(_job(2))
    first.write("late line of the first run")
    second.write("from the second run")
    first.close()
    second.close()
    assert logs.find(_job(2)) == logs.path("/srv/configs/naz100.json")
    previous = logs.find(_job(1))
    assert previous is not None
    assert previous.name.endswith(".log.1")
    assert "late line of the first run" in previous.read_text()
    assert logs.find(_job(3)) is None


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    """tail() gives the requested number of last lines."""
    path = tmp_path / "x.log"
    path.write_text("".join(f"line {n}\n" for n in range(100)))
    assert tail(path, 3) == ["line 97", "line 98", "line 99"]
