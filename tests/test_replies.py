"""Reading reply objects into records: unknown fields dropped, bad ones refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pytaaad.errors import BadReply
from pytaaad.jobs import JobState
from pytaaad.replies import job_info, status, submit_result

RECORD: dict[str, Any] = {
    "id": 7,
    "key": "/c/a.json",
    "kind": "montecarlo",
    "generation": 2,
    "state": "running",
    "queued_at": 1.0,
    "started_at": 2.0,
    "finished_at": None,
    "elapsed": 3.0,
    "trials_total": 51,
    "trials_done": 9,
    "reason": None,
    "error": None,
    "outputs": [],
    "pids": [11, 12],
    "config_sha256": "ab",
    "fresh_key": "cd",
}


def test_a_job_record_reads_into_a_job_and_back_into_the_same_json() -> None:
    """Typed fields on the way in; orjson gives the protocol's object back."""
    job = job_info(RECORD)
    assert job.state is JobState.RUNNING
    assert job.pids == (11, 12)
    assert not job.finished
    assert orjson.loads(orjson.dumps(job)) == RECORD


def test_fields_a_newer_daemon_adds_are_dropped() -> None:
    """An unknown field does not break the client."""
    assert job_info({**RECORD, "priority": 3}) == job_info(RECORD)


def test_a_history_record_without_pids_reads() -> None:
    """History records carry no pids; the record has none."""
    record = {k: v for k, v in RECORD.items() if k != "pids"}
    assert job_info(record).pids == ()


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        ({**RECORD, "state": "dreaming"}, "unknown state 'dreaming'"),
        ({k: v for k, v in RECORD.items() if k != "key"}, "incomplete"),
        ([RECORD], "expected a JobInfo object, got list"),
    ],
    ids=["unknown-state", "missing-field", "not-an-object"],
)
def test_malformed_job_records_raise_bad_reply(reply: object, match: str) -> None:
    """An unknown state, a missing field or a non-object is a BadReply."""
    with pytest.raises(BadReply, match=match):
        job_info(reply)


def test_submit_and_status_results_read_their_parts() -> None:
    """A submit result holds its job; a status result its daemon and jobs."""
    assert submit_result({"job": RECORD, "replaced": 3}).replaced == 3
    daemon = {"version": "0.1.0", "protocol": 1, "pid": 4, "uptime": 1.0}
    daemon |= {"workers": 2, "max_jobs": 2, "running": 1, "queued": 0}
    assert status({"daemon": daemon, "jobs": [RECORD]}).jobs == (job_info(RECORD),)
    with pytest.raises(BadReply, match="no list of jobs"):
        status({"daemon": daemon, "jobs": None})
