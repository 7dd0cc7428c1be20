"""Per-config job log files under the state directory, recreated per run.

Each key has ``<stem>-<hash>.log`` for its newest run and ``.log.1`` for the run before;
the first line of a file names the job that wrote it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
from pathlib import Path
from typing import TextIO

from pytaaad.jobs import Job

logger = logging.getLogger(__name__)

HEADER_PREFIX = "# pytaaad job "
PREVIOUS_SUFFIX = ".1"
MAX_TAIL_LINES = 5000
MAX_TAIL_BYTES = 512 * 1024
STEM_CHARS = 60
HASH_CHARS = 10


class JobLog:
    """The open log of one job run; it follows the file when a newer run rotates it.

    Writes never raise: a full disk must not fail the job.
    """

    def __init__(self, path: Path, stream: TextIO) -> None:
        self.path = path
        self._stream = stream

    def write(self, message: str) -> None:
        stamp = dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
        try:
            self._stream.write(f"{stamp} {message}\n")
        except OSError as exc:
            logger.warning("cannot write job log %s: %s", self.path, exc)

    def close(self) -> None:
        self._stream.close()


class JobLogs:
    """Where job logs live, and the rotation that keeps the previous run's log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o750)

    def path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:HASH_CHARS]
        return self.folder / f"{Path(key).stem[:STEM_CHARS]}-{digest}.log"

    def begin(self, job: Job) -> JobLog:
        """Keep the key's last log as ``.log.1`` and start a new one for ``job``."""
        path = self.path(job.key)
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, _previous(path))
        stream = path.open("a", buffering=1, encoding="utf-8")
        stream.write(
            f"{HEADER_PREFIX}{job.id} kind={job.kind} generation={job.generation} "
            f"key={job.key}\n"
        )
        return JobLog(path, stream)

    def find(self, job: Job) -> Path | None:
        """The log file of ``job``, or None when no run of it is kept."""
        current = self.path(job.key)
        for candidate in (current, _previous(current)):
            if _header_job(candidate) == job.id:
                return candidate
        return None


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of ``path`` (capped by MAX_TAIL_LINES and _BYTES)."""
    lines = max(1, min(lines, MAX_TAIL_LINES))
    with path.open("rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        start = max(0, size - MAX_TAIL_BYTES)
        stream.seek(start)
        data = stream.read()
    text = data.decode("utf-8", errors="replace").splitlines()
    if start > 0 and text:
        text = text[1:]
    return text[-lines:]


def _previous(path: Path) -> Path:
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def _header_job(path: Path) -> int | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            first = stream.readline()
    except OSError:
        return None
    if not first.startswith(HEADER_PREFIX):
        return None
    number = first[len(HEADER_PREFIX) :].split(" ", 1)[0]
    return int(number) if number.isdigit() else None
