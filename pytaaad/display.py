"""Text for people: pytaaa-ctl's tables, progress bars, durations and job lines.

Pure functions of the records they show, the current time and the screen width.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pytaaad.jobs import JobState
from pytaaad.replies import DaemonInfo, JobInfo, Status, SubmitResult

logger = logging.getLogger(__name__)

BAR_CELLS = 12
# A cell of a Unicode bar fills in eighths.
BAR_EIGHTHS = " ▏▎▍▌▋▊▉"
BAR_FULL = "█"
COLUMN_GAP = "  "
DETAIL_CHARS = 200
MIN_LABEL_CHARS = 16
LAST_COLUMN_CHARS = 24
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


def duration(seconds: float) -> str:
    """A short duration: 0.4s, 12s, 3m05s, 1h02m, 2d03h."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < SECONDS_PER_MINUTE:
        return f"{whole}s"
    if whole < SECONDS_PER_HOUR:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < SECONDS_PER_DAY:
        return f"{whole // SECONDS_PER_HOUR}h{whole % SECONDS_PER_HOUR // 60:02d}m"
    return (
        f"{whole // SECONDS_PER_DAY}d{whole % SECONDS_PER_DAY // SECONDS_PER_HOUR:02d}h"
    )


def progress(job: JobInfo, unicode: bool = True) -> str:
    """A bar of the job's trials and the count, ``███▌         7/25``."""
    if job.state is JobState.SKIPPED_FRESH or job.trials_total <= 0:
        return ""
    done = min(job.trials_done, job.trials_total)
    return f"{bar(done / job.trials_total, unicode)} {done}/{job.trials_total}"


def bar(fraction: float, unicode: bool = True, cells: int = BAR_CELLS) -> str:
    """A bar of ``cells`` characters filled to ``fraction`` (0 to 1)."""
    eighths = round(max(0.0, min(1.0, fraction)) * cells * 8)
    full, part = divmod(eighths, 8)
    if not unicode:
        return "[" + ("#" * full).ljust(cells, ".") + "]"
    partial = BAR_EIGHTHS[part] if part else ""
    return (BAR_FULL * full + partial).ljust(cells)


def config_label(key: str, cwd: Path, home: Path) -> str:
    """A config's path as short as it stays clear: relative to ``cwd`` or ``~``."""
    path = Path(key)
    if path.is_relative_to(cwd):
        return str(path.relative_to(cwd))
    if path.is_relative_to(home):
        return str(Path("~") / path.relative_to(home))
    return key


def outcome(job: JobInfo, now: float) -> str:
    """How a finished job ended and when: ``failed 5m02s ago: RuntimeError: boom``."""
    end = job.finished_at if job.finished_at is not None else job.queued_at
    text = f"{job.state} {duration(now - end)} ago"
    detail = job.error or (None if job.state is JobState.SUCCEEDED else job.reason)
    return f"{text}: {_one_line(detail)}" if detail else text


def submit_line(result: SubmitResult) -> str:
    """The line ``submit`` prints for one accepted config."""
    job = result.job
    text = f"job {job.id} {job.state}: {job.key}"
    if result.replaced is not None:
        text += f" (replaces job {result.replaced})"
    if job.state is JobState.SKIPPED_FRESH and job.reason:
        text += f"; {job.reason}"
    return text


def end_line(job: JobInfo) -> str:
    """The line for a job ``submit --wait`` saw end."""
    text = f"job {job.id} {job.state} after {duration(job.elapsed)}: {job.key}"
    detail = job.error or (None if job.ended_well else job.reason)
    return f"{text}: {_one_line(detail)}" if detail else text


def job_line(job: JobInfo) -> str:
    """One job in a line: ``job 14 cancelled: /srv/naz100.json``."""
    return f"job {job.id} {job.state}: {job.key}"


def daemon_line(info: DaemonInfo, socket: Path) -> str:
    """The daemon in a line: ``pytaaad 0.1.0 on PATH (pid 7, up 3m05s): ...``."""
    return (
        f"pytaaad {info.version} on {socket} (pid {info.pid}, up "
        f"{duration(info.uptime)}): {info.running} running, {info.queued} queued; "
        f"{_count(info.workers, 'worker')}, at most {_count(info.max_jobs, 'job')} "
        "at once"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def status_table(
    status: Status,
    last: Mapping[str, JobInfo],
    now: float,
    *,
    labels: Mapping[str, str],
    unicode: bool = True,
    width: int | None = None,
) -> list[str]:
    """One row per config: its newest job's state and progress, and the last result.

    ``last`` maps a key to its newest job that ran and ended (``newest_finished``);
    ``labels`` maps a key to the name to show. With ``width``, config names are
    shortened from the left so that the other columns fit.
    """
    rows = [("CONFIG", "JOB", "STATE", "PROGRESS", "ELAPSED", "LAST RESULT")]
    for job in newest_per_key(status.jobs):
        previous = last.get(job.key)
        rows.append(
            (
                labels.get(job.key, job.key),
                str(job.id),
                str(job.state),
                progress(job, unicode),
                duration(job.elapsed),
                outcome(previous, now) if previous is not None else "-",
            )
        )
    if len(rows) == 1:
        return ["no jobs in the daemon's table (see pytaaa-ctl history)"]
    return _columns(_fitted(rows, 0, width))


def history_table(
    jobs: Sequence[JobInfo], *, labels: Mapping[str, str], width: int | None = None
) -> list[str]:
    """One row per job, newest first, with when it was submitted and how it ended.

    With ``width``, config names are shortened from the left to fit it.
    """
    if not jobs:
        return ["no jobs in the history"]
    rows = [("JOB", "SUBMITTED", "CONFIG", "STATE", "TRIALS", "ELAPSED", "RESULT")]
    for job in jobs:
        submitted_at = dt.datetime.fromtimestamp(job.queued_at).astimezone()
        detail = job.error or (None if job.state is JobState.SUCCEEDED else job.reason)
        rows.append(
            (
                str(job.id),
                submitted_at.strftime("%Y-%m-%d %H:%M:%S"),
                labels.get(job.key, job.key),
                str(job.state),
                f"{job.trials_done}/{job.trials_total}",
                duration(job.elapsed),
                _one_line(detail) if detail else "-",
            )
        )
    return _columns(_fitted(rows, 2, width))


def newest_per_key(jobs: Iterable[JobInfo]) -> list[JobInfo]:
    """The newest job of each key, newest first."""
    newest: dict[str, JobInfo] = {}
    for job in jobs:
        if job.key not in newest or job.id > newest[job.key].id:
            newest[job.key] = job
    return sorted(newest.values(), key=lambda job: job.id, reverse=True)


def newest_finished(jobs: Iterable[JobInfo]) -> dict[str, JobInfo]:
    """The newest job of each key that ran (or tried to) and has ended.

    A submit skipped as fresh, or a job that ended while still queued, ran nothing;
    the run before it says more.
    """
    return {
        job.key: job
        for job in sorted(jobs, key=lambda job: job.id)
        if job.finished
        and job.started_at is not None
        and job.state is not JobState.SKIPPED_FRESH
    }


def clip(lines: Iterable[str], width: int) -> list[str]:
    """Lines cut to ``width`` characters, so that a terminal never wraps them."""
    return [line if len(line) <= width else line[: width - 1] + "…" for line in lines]


def clip_height(lines: Sequence[str], height: int) -> list[str]:
    """At most ``height`` lines, the last saying how many were left out."""
    if len(lines) <= height:
        return list(lines)
    kept = max(1, height - 1)
    return [*lines[:kept], f"… {len(lines) - kept} more lines"]


def _fitted(
    rows: Sequence[Sequence[str]], column: int, width: int | None
) -> Sequence[Sequence[str]]:
    """Rows whose ``column`` is shortened from the left (``…/naz100.json``) until
    the table fits ``width`` with the start of its last column, but not below
    MIN_LABEL_CHARS. The last column (free text) is left to ``clip``.
    """
    if width is None:
        return rows
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[-1] = min(widths[-1], LAST_COLUMN_CHARS)
    total = sum(widths) + len(COLUMN_GAP) * (len(widths) - 1)
    room = max(MIN_LABEL_CHARS, widths[column] - max(0, total - width))
    return [
        (*row[:column], _left_cut(row[column], room), *row[column + 1 :])
        for row in rows
    ]


def _left_cut(text: str, room: int) -> str:
    return text if len(text) <= room else "…" + text[len(text) - room + 1 :]


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns; the last one is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        COLUMN_GAP.join(
            [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            + [row[-1]]
        )
        for row in rows
    ]


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= DETAIL_CHARS else flat[: DETAIL_CHARS - 1] + "…"
