"""pytaaa-ctl's long-running views: wait for jobs, watch the status, follow a log.

The protocol has no subscriptions, so each view polls the daemon every ``interval``
seconds on one connection. A daemon that goes away ends the view with
DaemonUnreachable; Ctrl-C ends it with KeyboardInterrupt, which the caller turns into
an exit code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pytaaad.client import Client
from pytaaad.errors import UnknownJob
from pytaaad.replies import JobInfo, LogTail

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)

# The daemon's cap on a log tail; following asks for all of it each time.
FOLLOW_LINES = 5000


def wait_for_jobs(
    client: Client, jobs: Sequence[JobInfo], interval: float
) -> list[JobInfo]:
    """Show a progress bar per job on stderr until every job has ended.

    Returns the final records, in the order of ``jobs``.
    """
    # tqdm costs ~40 ms of start-up that only this view needs.
    from tqdm import tqdm

    latest = {job.id: job for job in jobs}
    bars = {
        job.id: tqdm(
            desc=f"job {job.id} {Path(job.key).name}",
            total=job.trials_total or None,
            unit="trial",
            position=position,
            leave=True,
            disable=None,
            dynamic_ncols=True,
        )
        for position, job in enumerate(jobs)
    }
    try:
        while True:
            for job_id, job in latest.items():
                if not job.finished:
                    latest[job_id] = client.job(job_id)
                _show(bars[job_id], latest[job_id])
            if all(job.finished for job in latest.values()):
                return [latest[job.id] for job in jobs]
            time.sleep(interval)
    finally:
        for progress_bar in bars.values():
            progress_bar.close()


def _show(progress_bar: tqdm[Any], job: JobInfo) -> None:
    progress_bar.update(job.trials_done - progress_bar.n)
    progress_bar.set_postfix_str(str(job.state))


def watch(refresh: Callable[[], None], interval: float) -> NoReturn:
    """Call ``refresh`` (which shows the status once) every ``interval`` s, forever."""
    while True:
        refresh()
        time.sleep(interval)


def follow_log(
    fetch: Callable[[int, int | None], LogTail],
    seen: LogTail,
    show: Callable[[LogTail, bool], None],
    interval: float,
) -> NoReturn:
    """Show the lines a log gains, forever; a new run of the config starts over,
    after the last lines of the run before.

    ``fetch(lines, job)`` gets the current tail, or that of run ``job``;
    ``show(tail, new_job)`` prints new lines.
    """
    while True:
        time.sleep(interval)
        tail = fetch(FOLLOW_LINES, None)
        if tail.job != seen.job:
            _show_gain(seen, _last_of(fetch, seen), show)
            show(tail, True)
        else:
            _show_gain(seen, tail, show)
        seen = tail


def _last_of(fetch: Callable[[int, int | None], LogTail], run: LogTail) -> LogTail:
    """The end of a run's log, or what was seen of it if the log is gone."""
    try:
        return fetch(FOLLOW_LINES, run.job)
    except UnknownJob:
        return run


def _show_gain(
    seen: LogTail, tail: LogTail, show: Callable[[LogTail, bool], None]
) -> None:
    lines = appended(seen.lines, tail.lines)
    if lines:
        show(LogTail(tail.job, tail.path, lines), False)


def appended(old: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    """The lines of ``new`` after those ``old`` already had.

    Both are tails of one growing file, so ``new`` starts where ``old`` has its
    longest suffix that ``new`` begins with; without one, all of ``new`` is new.
    """
    # Longest overlap first; comparing the first line before slicing keeps it cheap.
    for start in range(max(0, len(old) - len(new)), len(old)):
        overlap = len(old) - start
        if old[start] == new[0] and tuple(old[start:]) == tuple(new[:overlap]):
            return tuple(new[overlap:])
    return tuple(new)
