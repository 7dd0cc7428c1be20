"""pytaaa-ctl's text: durations, bars, labels, and the status and history tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytaaad.display import (
    bar,
    config_label,
    daemon_line,
    duration,
    history_table,
    newest_finished,
    outcome,
    status_table,
)
from pytaaad.jobs import JobState
from pytaaad.replies import DaemonInfo, JobInfo, Status

NOW = 1_800_000_000.0
DAEMON = DaemonInfo("0.1.0", 1, 42, 60.0, 2, 2, 1, 0)


def job(job_id: int, key: str = "/c/a.json", **changes: object) -> JobInfo:
    """A job record; keyword arguments change its fields."""
    record = JobInfo(
        id=job_id,
        key=key,
        kind="test",
        generation=job_id,
        state=JobState.SUCCEEDED,
        queued_at=NOW - 100.0,
        started_at=NOW - 99.0,
        finished_at=NOW - 10.0,
        elapsed=10.0,
        trials_total=4,
        trials_done=4,
        reason="all 4 trials done; outputs published",
        error=None,
        outputs=(),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-1.0, "0.0s"),
        (0.44, "0.4s"),
        (12.7, "12s"),
        (185.0, "3m05s"),
        (3720.0, "1h02m"),
        (2 * 86400 + 3 * 3600 + 59, "2d03h"),
    ],
)
def test_durations_are_short_and_keep_two_units(seconds: float, text: str) -> None:
    """Seconds with a decimal below ten, then two units at most."""
    assert duration(seconds) == text


def test_bars_fill_in_eighths_or_in_ascii() -> None:
    """A Unicode bar fills a cell in eighths; an ASCII one in whole cells."""
    assert bar(0.0, cells=4) == "    "
    assert bar(0.5, cells=4) == "██  "
    assert bar(0.5625, cells=4) == "██▎ "
    assert bar(2.0, cells=4) == "████"
    assert bar(0.5, unicode=False, cells=4) == "[##..]"


def test_config_labels_are_relative_to_the_directory_or_home() -> None:
    """A key under the working directory or home is shown shorter; others in full."""
    cwd, home = Path("/home/me/pytaaa"), Path("/home/me")
    assert config_label("/home/me/pytaaa/naz.json", cwd, home) == "naz.json"
    assert config_label("/home/me/other/naz.json", cwd, home) == "~/other/naz.json"
    assert config_label("/srv/naz.json", cwd, home) == "/srv/naz.json"


def test_outcomes_say_how_and_when_a_job_ended() -> None:
    """Success needs no detail; other ends carry the error or the reason, on a line."""
    assert outcome(job(1), NOW) == "succeeded 10s ago"
    failed = job(2, state=JobState.FAILED, error="RuntimeError: a\n  b")
    assert outcome(failed, NOW) == "failed 10s ago: RuntimeError: a b"
    replaced = job(3, state=JobState.REPLACED, reason="replaced by job 4")
    assert outcome(replaced, NOW) == "replaced 10s ago: replaced by job 4"


def test_skipped_or_never_started_jobs_are_not_a_last_result() -> None:
    """The last result of a key is its newest job that ran and ended."""
    ran = job(1)
    skipped = job(2, state=JobState.SKIPPED_FRESH)
    running = job(3, state=JobState.RUNNING, finished_at=None)
    never_started = job(4, state=JobState.CANCELLED, started_at=None)
    assert newest_finished([never_started, running, skipped, ran]) == {ran.key: ran}


def test_the_status_table_has_one_row_per_config_newest_first() -> None:
    """Each key's newest job gives its row, with its progress and the last result."""
    jobs = (
        job(3, state=JobState.RUNNING, trials_done=1, finished_at=None),
        job(2, "/c/b.json", state=JobState.FAILED, error="boom", trials_done=2),
        job(1),
    )
    lines = status_table(
        Status(DAEMON, jobs),
        newest_finished(jobs),
        NOW,
        labels={"/c/a.json": "a.json"},
        unicode=False,
    )
    assert lines[0].split() == [
        "CONFIG",
        "JOB",
        "STATE",
        "PROGRESS",
        "ELAPSED",
        "LAST",
        "RESULT",
    ]
    assert lines[1].split()[:5] == ["a.json", "3", "running", "[###.........]", "1/4"]
    assert lines[1].endswith("  10s      succeeded 10s ago")
    assert lines[2].split()[:4] == ["/c/b.json", "2", "failed", "[######......]"]
    assert lines[2].endswith("failed 10s ago: boom")
    assert len(lines) == 3


def test_empty_tables_say_so() -> None:
    """No jobs gives one explaining line instead of a bare header."""
    assert status_table(Status(DAEMON, ()), {}, NOW, labels={}) == [
        "no jobs in the daemon's table (see pytaaa-ctl history)"
    ]
    assert history_table((), labels={}) == ["no jobs in the history"]


def test_daemon_line_counts_in_words() -> None:
    """The daemon line says "1 job", not "1 jobs"."""
    one = DaemonInfo("0.1.0", 1, 42, 60.0, 1, 1, 0, 0)
    line = daemon_line(one, Path("/run/p.sock"))
    assert line.endswith("1 worker, at most 1 job at once")
    assert daemon_line(DAEMON, Path("/run/p.sock")).endswith(
        "2 workers, at most 2 jobs at once"
    )
