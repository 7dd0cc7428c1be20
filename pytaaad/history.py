"""Job history in SQLite under the state directory, one row per job, across restarts."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from pytaaad.errors import HistoryError
from pytaaad.jobs import Job, JobState

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 5.0
MAX_HISTORY_ROWS = 1000
COLUMNS = (
    "id",
    "key",
    "kind",
    "generation",
    "state",
    "queued_at",
    "config_sha256",
    "fresh_key",
    "trials_total",
    "trials_done",
    "started_at",
    "finished_at",
    "reason",
    "error",
    "outputs",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    generation INTEGER NOT NULL,
    state TEXT NOT NULL,
    queued_at REAL NOT NULL,
    config_sha256 TEXT NOT NULL,
    fresh_key TEXT NOT NULL,
    trials_total INTEGER NOT NULL,
    trials_done INTEGER NOT NULL,
    started_at REAL,
    finished_at REAL,
    reason TEXT,
    error TEXT,
    outputs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (key, id);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
"""
_UPSERT = (
    f"INSERT INTO jobs ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in COLUMNS[1:])
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM jobs"


class History:
    """The jobs table of ``<state dir>/history.sqlite3``.

    Writes go through WAL with ``synchronous=NORMAL``: a commit costs no fsync, so the
    event loop can record every transition without stalling a submit. A power cut may
    lose the last transitions, never the database. Automatic checkpoints are off,
    because one costs an fsync of ~10 ms; the owner calls ``checkpoint`` from a thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
        except sqlite3.Error as exc:
            raise HistoryError(f"history {path}: cannot open ({exc})") from exc
        self._db.isolation_level = None
        with self._guard("prepare"):
            self._prepare()

    def _prepare(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"history {self.path}: schema version {version} is newer than this "
                f"pytaaad ({SCHEMA_VERSION})"
            )
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise HistoryError(f"history {self.path}: cannot {action} ({exc})") from exc

    def close(self) -> None:
        self._db.close()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database; safe to call from any thread."""
        with (
            self._guard("checkpoint"),
            contextlib.closing(sqlite3.connect(self.path, BUSY_TIMEOUT_SECONDS)) as db,
        ):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def save(self, job: Job) -> None:
        """Insert or update the row of ``job``."""
        row = job.to_dict()
        row["outputs"] = orjson.dumps(job.outputs).decode()
        with self._guard(f"save job {job.id}"):
            self._db.execute(_UPSERT, [row[name] for name in COLUMNS])

    def interrupt_unfinished(self, reason: str) -> list[int]:
        """Mark jobs a previous daemon left queued or running as interrupted."""
        in_flight = (str(JobState.QUEUED), str(JobState.RUNNING))
        with self._guard("mark interrupted jobs"):
            rows = self._db.execute(
                "UPDATE jobs SET state = ?, reason = ?, finished_at = ? "
                "WHERE state IN (?, ?) RETURNING id",
                (str(JobState.INTERRUPTED), reason, time.time(), *in_flight),
            ).fetchall()
        return sorted(row[0] for row in rows)

    def next_job_id(self) -> int:
        with self._guard("read job ids"):
            (largest,) = self._db.execute("SELECT max(id) FROM jobs").fetchone()
        return int(largest or 0) + 1

    def generations(self) -> dict[str, int]:
        """The newest generation recorded for every key."""
        with self._guard("read generations"):
            rows = self._db.execute(
                "SELECT key, max(generation) FROM jobs GROUP BY key"
            )
            return {key: int(generation) for key, generation in rows}

    def get(self, job_id: int) -> Job | None:
        jobs = self._select("WHERE id = ?", (job_id,))
        return jobs[0] if jobs else None

    def last_success(self, key: str) -> Job | None:
        jobs = self._select(
            "WHERE key = ? AND state = ? ORDER BY id DESC LIMIT 1",
            (key, str(JobState.SUCCEEDED)),
        )
        return jobs[0] if jobs else None

    def recent(self, key: str | None, limit: int) -> list[Job]:
        """Newest first, at most ``limit`` (capped at MAX_HISTORY_ROWS) jobs."""
        limit = max(1, min(limit, MAX_HISTORY_ROWS))
        if key is None:
            return self._select("ORDER BY id DESC LIMIT ?", (limit,))
        return self._select("WHERE key = ? ORDER BY id DESC LIMIT ?", (key, limit))

    def _select(self, clause: str, params: tuple[Any, ...]) -> list[Job]:
        with self._guard("read jobs"):
            rows = self._db.execute(f"{_SELECT} {clause}", params).fetchall()
        return [_job_from_row(row) for row in rows]


def _job_from_row(row: tuple[Any, ...]) -> Job:
    record = dict(zip(COLUMNS, row, strict=True))
    record["outputs"] = orjson.loads(record["outputs"])
    return Job.from_dict(record)
