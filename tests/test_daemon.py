"""The daemon end to end: a real ``python -m pytaaad`` on a socket under tmp_path."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

from pytaaad.daemon import OneLineFormatter
from tests.conftest import NAZ100_HMA, StartDaemon
from tests.helpers import (
    DaemonProcess,
    RequestFailed,
    alive,
    survivors,
    wait_until,
    workers_idle,
    write_job_config,
)

GRACE_SECONDS = 2.0


async def _running_on_workers(daemon: DaemonProcess, job_id: int, count: int) -> None:
    async def busy() -> bool:
        return len((await daemon.job(job_id))["pids"]) >= count

    await wait_until(busy, 20.0, f"job {job_id} to run on {count} workers")


@pytest.mark.parametrize("hang", [False, True], ids=["cooperative", "hung"])
async def test_replace_stops_old_job_and_publishes_only_the_new(
    daemon: DaemonProcess, configs: Path, tmp_path: Path, hang: bool
) -> None:
    """A submit during a running job replaces it; old CPU use ends, only new outputs."""
    hang_at = 0 if hang else None
    config = write_job_config(
        configs, trials=20, seconds_per_trial=0.3, label="old", hang_at_trial=hang_at
    )
    old = (await daemon.submit(config))["job"]
    await _running_on_workers(daemon, old["id"], 2)
    old_workers = [psutil.Process(pid) for pid in (await daemon.job(old["id"]))["pids"]]
    write_job_config(configs, trials=1, seconds_per_trial=0.0, label="new")
    replaced_at = time.monotonic()
    reply = await daemon.submit(config)
    new = reply["job"]
    assert reply["replaced"] == old["id"]
    old_now = await daemon.job(old["id"])
    assert old_now["state"] == "replaced"
    assert f"job {new['id']}" in old_now["reason"]

    deadline = replaced_at + GRACE_SECONDS + 1.0
    await wait_until(
        lambda: workers_idle(daemon),
        deadline - time.monotonic(),
        "the old job's workers to stop using CPU",
    )
    if hang:
        # On a loaded machine a spinning worker at nice 10 can look idle before its
        # kill: the kill itself must come within the same bound.
        left = max(0.0, deadline - time.monotonic())
        assert survivors(old_workers, timeout=left) == []
    finished = await daemon.wait_for_state(new["id"], "succeeded", "failed", "crashed")
    assert finished["state"] == "succeeded"
    output = tmp_path / "out" / "job.txt"
    assert output.read_text() == "label=new\ntrials=1\n"
    assert [p.name for p in output.parent.iterdir()] == ["job.txt"]


async def test_fifty_concurrent_submits_leave_only_the_last_running(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """Of 50 concurrent submits for one config, only the last accepted runs."""
    config = write_job_config(shared_configs, trials=4, seconds_per_trial=0.1)
    replies = await asyncio.gather(*(shared_daemon.submit(config) for _ in range(50)))
    jobs = [reply["job"] for reply in replies]
    last = max(jobs, key=lambda job: job["generation"])
    assert last["id"] == max(job["id"] for job in jobs)
    finished = await shared_daemon.wait_for_state(last["id"], "succeeded", "failed")
    assert finished["state"] == "succeeded"
    others = [await shared_daemon.job(job["id"]) for job in jobs if job is not last]
    assert {job["state"] for job in others} == {"replaced"}
    assert len(others) == 49


async def test_killed_worker_crashes_only_its_job(
    daemon: DaemonProcess, configs: Path
) -> None:
    """SIGKILL of a worker mid-job marks the job crashed; the next submit succeeds."""
    config = write_job_config(configs, trials=8, seconds_per_trial=0.5, chunk_size=8)
    job = (await daemon.submit(config))["job"]
    await _running_on_workers(daemon, job["id"], 1)
    (pid,) = (await daemon.job(job["id"]))["pids"]
    os.kill(pid, signal.SIGKILL)
    crashed = await daemon.wait_for_state(job["id"], "crashed", "failed", "succeeded")
    assert crashed["state"] == "crashed"
    assert "SIGKILL" in crashed["reason"]
    write_job_config(configs, trials=2, seconds_per_trial=0.0)
    again = (await daemon.submit(config))["job"]
    finished = await daemon.wait_for_state(
        again["id"], "succeeded", "failed", "crashed"
    )
    assert finished["state"] == "succeeded"


async def test_killed_worker_spares_the_job_on_the_other_worker(
    daemon: DaemonProcess, configs: Path
) -> None:
    """A job whose task lost its pool to another job's crash runs it again."""
    doomed = write_job_config(
        configs, "doomed", trials=8, seconds_per_trial=0.5, chunk_size=8
    )
    bystander = write_job_config(
        configs, "bystander", trials=3, seconds_per_trial=0.5, chunk_size=3
    )
    victim = (await daemon.submit(doomed))["job"]
    other = (await daemon.submit(bystander))["job"]
    await _running_on_workers(daemon, victim["id"], 1)
    await _running_on_workers(daemon, other["id"], 1)
    (pid,) = (await daemon.job(victim["id"]))["pids"]
    os.kill(pid, signal.SIGKILL)
    crashed = await daemon.wait_for_state(
        victim["id"], "crashed", "failed", "succeeded"
    )
    assert crashed["state"] == "crashed"
    survived = await daemon.wait_for_state(
        other["id"], "succeeded", "failed", "crashed"
    )
    assert survived["state"] == "succeeded"


async def test_killed_daemon_leaves_no_worker_and_restarts(
    start_daemon: StartDaemon, configs: Path
) -> None:
    """After SIGKILL of the daemon no worker survives 2 s; a restart marks the job."""
    daemon = start_daemon()
    config = write_job_config(configs, trials=20, seconds_per_trial=0.5)
    job = (await daemon.submit(config))["job"]
    await _running_on_workers(daemon, job["id"], 2)
    tree = daemon.descendants()
    daemon.process.kill()
    daemon.process.wait()
    assert survivors(tree, timeout=2.0) == []

    restarted = start_daemon()
    (record,) = (await restarted.call("history", config=str(config)))["jobs"]
    assert record["id"] == job["id"]
    assert record["state"] == "interrupted"
    write_job_config(configs, trials=1)
    again = (await restarted.submit(config))["job"]
    assert again["id"] > job["id"]
    assert again["generation"] == job["generation"] + 1
    finished = await restarted.wait_for_state(again["id"], "succeeded", "failed")
    assert finished["state"] == "succeeded"


async def test_second_daemon_on_the_same_socket_refuses(
    shared_daemon: DaemonProcess, tmp_path: Path
) -> None:
    """A second daemon on a busy socket exits non-zero; the first keeps serving."""
    second = subprocess.run(
        [sys.executable, "-m", "pytaaad", "--socket", str(shared_daemon.socket)],
        env=dict(os.environ, PYTAAAD_STATE_DIR=str(tmp_path / "other")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode != 0
    assert "another pytaaad daemon is serving" in second.stderr
    assert (await shared_daemon.call("ping"))["pong"] is True


async def test_status_answers_while_every_worker_is_busy(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """With both workers busy, status requests are still answered."""
    config = write_job_config(shared_configs, trials=40, seconds_per_trial=0.5)
    job = (await shared_daemon.submit(config))["job"]
    await _running_on_workers(shared_daemon, job["id"], 2)
    for _ in range(20):
        reply = await asyncio.wait_for(shared_daemon.call("status"), timeout=2.0)
        assert reply["jobs"][0]["state"] == "running"
    await shared_daemon.call("cancel", job=job["id"])


@pytest.mark.parametrize("hang", [False, True], ids=["cooperative", "hung"])
async def test_cancel_leaves_no_process_behind(
    daemon: DaemonProcess, configs: Path, hang: bool
) -> None:
    """Cancelling a job that started a child process ends the child too."""
    config = write_job_config(
        configs,
        trials=50,
        seconds_per_trial=0.2,
        chunk_size=50,
        child_at_trial=0,
        hang_at_trial=1 if hang else None,
    )
    job = (await daemon.submit(config))["job"]

    async def child_started() -> bool:
        return any(p.name() == "sleep" for p in daemon.descendants())

    await wait_until(child_started, 20.0, "the job's child process")
    child = next(p for p in daemon.descendants() if p.name() == "sleep")
    cancelled = (await daemon.call("cancel", job=job["id"]))["job"]
    assert cancelled["state"] == "cancelled"

    async def child_gone() -> bool:
        return not alive(child)

    await wait_until(child_gone, GRACE_SECONDS + 1.0, "the child process to end")
    assert all(p.name() != "sleep" for p in daemon.descendants())


async def test_sigterm_interrupts_jobs_removes_socket_and_exits_zero(
    start_daemon: StartDaemon, configs: Path
) -> None:
    """SIGTERM mid-job: job interrupted, workers gone, socket removed, exit code 0,
    and no error logged for the killed workers or an idle client connection.
    """
    daemon = start_daemon()
    config = write_job_config(
        configs, trials=4, seconds_per_trial=30.0, hang_at_trial=0
    )
    job = (await daemon.submit(config))["job"]
    await _running_on_workers(daemon, job["id"], 2)
    tree = daemon.descendants()
    _, idle = await asyncio.open_unix_connection(str(daemon.socket))
    assert daemon.stop() == 0
    idle.close()
    assert not daemon.socket.exists()
    assert survivors(tree, timeout=0.5) == []
    assert " ERROR " not in daemon.log()
    assert "Traceback" not in daemon.log()
    restarted = start_daemon()
    (record,) = (await restarted.call("history", config=str(config)))["jobs"]
    assert record["state"] == "interrupted"
    assert "SIGTERM" in record["reason"]


async def test_shutdown_op_stops_the_daemon(daemon: DaemonProcess) -> None:
    """The shutdown op is answered, then the daemon exits 0."""
    assert (await daemon.call("shutdown"))["stopping"] is True
    assert daemon.process.wait(30) == 0
    assert not daemon.socket.exists()


async def test_fresh_outputs_skip_a_submit_unless_forced(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """A resubmit with unchanged config and data is skipped; force or new data runs."""
    data = shared_configs / "quotes.csv"
    data.write_text("1\n")
    config = write_job_config(shared_configs, trials=1, data_file="quotes.csv")
    first = (await shared_daemon.submit(config))["job"]
    await shared_daemon.wait_for_state(first["id"], "succeeded")
    skipped = (await shared_daemon.submit(config))["job"]
    assert skipped["state"] == "skipped_fresh"
    assert f"job {first['id']}" in skipped["reason"]
    logs = await shared_daemon.call("logs", config=str(config))
    assert logs["job"] == first["id"], "the log of the job that ran, not of the skip"
    forced = (await shared_daemon.submit(config, force=True))["job"]
    assert forced["state"] in ("queued", "running")
    await shared_daemon.wait_for_state(forced["id"], "succeeded")
    data.write_text("1\n2\n")
    changed = (await shared_daemon.submit(config))["job"]
    assert changed["state"] in ("queued", "running")
    await shared_daemon.wait_for_state(changed["id"], "succeeded")


async def test_jobs_beyond_the_limit_wait_in_fifo_order(
    start_daemon: StartDaemon, configs: Path
) -> None:
    """With --max-jobs 1, later jobs stay queued and start in submit order."""
    daemon = start_daemon("--max-jobs", "1")
    first = write_job_config(configs, "first", trials=2, seconds_per_trial=0.5)
    second = write_job_config(configs, "second", trials=1)
    third = write_job_config(configs, "third", trials=1)
    ids = [(await daemon.submit(path))["job"]["id"] for path in (first, second, third)]
    states = [(await daemon.job(job_id))["state"] for job_id in ids]
    assert states == ["running", "queued", "queued"]
    done = [await daemon.wait_for_state(job_id, "succeeded") for job_id in ids]
    starts = [job["started_at"] for job in done]
    assert starts == sorted(starts)
    assert done[1]["started_at"] >= done[0]["finished_at"]


async def test_failing_job_is_failed_with_its_traceback_in_the_log(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """A job that raises ends failed; its log holds the traceback."""
    config = write_job_config(shared_configs, trials=3, fail_at_trial=1)
    job = (await shared_daemon.submit(config))["job"]
    failed = await shared_daemon.wait_for_state(job["id"], "failed", "succeeded")
    assert failed["state"] == "failed"
    assert (
        failed["error"] == "RuntimeError: test job failed at trial 1 as its config asks"
    )
    lines = (await shared_daemon.call("logs", job=job["id"], lines=200))["lines"]
    assert any("Traceback" in line for line in lines)


async def test_log_of_the_previous_run_is_kept(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """Each run recreates the key's log; the previous run's log stays readable."""
    config = write_job_config(shared_configs, trials=1)
    first = (await shared_daemon.submit(config))["job"]
    await shared_daemon.wait_for_state(first["id"], "succeeded")
    second = (await shared_daemon.submit(config, force=True))["job"]
    await shared_daemon.wait_for_state(second["id"], "succeeded")
    old = await shared_daemon.call("logs", job=first["id"])
    new = await shared_daemon.call("logs", config=str(config))
    assert old["path"].endswith(".log.1")
    assert old["lines"][0].startswith(f"# pytaaad job {first['id']} ")
    assert new["job"] == second["id"]
    assert new["lines"][0].startswith(f"# pytaaad job {second['id']} ")


async def test_cancel_of_a_finished_job_is_refused(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """Cancelling a job that already ended gives a not_in_flight error."""
    config = write_job_config(shared_configs, trials=1)
    job = (await shared_daemon.submit(config))["job"]
    await shared_daemon.wait_for_state(job["id"], "succeeded")
    with pytest.raises(RequestFailed) as refused:
        await shared_daemon.call("cancel", job=job["id"])
    assert refused.value.code == "not_in_flight"


async def test_cancel_without_a_job_is_a_bad_request(
    shared_daemon: DaemonProcess,
) -> None:
    """A cancel naming neither a job nor a config is refused as a bad request."""
    with pytest.raises(RequestFailed) as refused:
        await shared_daemon.call("cancel")
    assert refused.value.code == "bad_request"
    assert "'job'" in refused.value.message


def _montecarlo_config(folder: Path, name: str, **changes: object) -> Path:
    valuation: dict[str, object] = {
        **NAZ100_HMA,
        "quotes_file": "quotes.csv",
        "webpage": "../out/web",
        "performance_store": "../out/store",
    }
    valuation.update(changes)
    valuation = {key: value for key, value in valuation.items() if value is not None}
    path = folder / f"{name}.json"
    path.write_bytes(orjson.dumps({"Valuation": valuation}))
    return path


async def _refusal(
    daemon: DaemonProcess, config: Path, **args: object
) -> RequestFailed:
    with pytest.raises(RequestFailed) as refused:
        await daemon.call("submit", config=str(config), **args)
    return refused.value


async def test_bad_configs_get_clear_error_replies(
    shared_daemon: DaemonProcess, shared_configs: Path, tmp_path: Path
) -> None:
    """A missing key, a missing quote file or a path outside the roots is refused."""
    (shared_configs / "quotes.csv").write_text("date,AAPL\n2020-01-02,1.0\n")
    no_webpage = _montecarlo_config(shared_configs, "no_webpage", webpage=None)
    refused = await _refusal(shared_daemon, no_webpage)
    assert refused.code == "bad_config"
    assert "Valuation.webpage is missing" in refused.message
    assert str(no_webpage) in refused.message

    no_quotes = _montecarlo_config(
        shared_configs, "no_quotes", quotes_file="nowhere.csv"
    )
    refused = await _refusal(shared_daemon, no_quotes)
    assert refused.code == "bad_config"
    assert (
        f"quote store {shared_configs / 'nowhere.csv'} does not exist"
        in refused.message
    )

    outside = write_job_config(tmp_path / "elsewhere")
    refused = await _refusal(shared_daemon, outside, kind="test")
    assert refused.code == "path_not_allowed"
    assert f"config {outside} is outside the allowed roots" in refused.message


async def test_outputs_outside_the_roots_are_refused(
    shared_daemon: DaemonProcess, shared_configs: Path, tmp_path: Path
) -> None:
    """A config whose outputs would land outside the output roots is refused."""
    config = write_job_config(shared_configs, output_dir=str(tmp_path / "elsewhere"))
    refused = await _refusal(shared_daemon, config, kind="test")
    assert refused.code == "path_not_allowed"
    assert "output folder" in refused.message


async def test_relative_config_paths_and_unknown_kinds_are_refused(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """A relative config path or an unknown job kind gets an error reply."""
    config = write_job_config(shared_configs)
    relative = await _refusal(shared_daemon, Path("configs/job.json"))
    assert relative.code == "bad_request"
    unknown = await _refusal(shared_daemon, config, kind="astrology")
    assert unknown.code == "unknown_kind"


async def test_test_jobs_need_the_hidden_flag(
    start_daemon: StartDaemon, configs: Path
) -> None:
    """A daemon started without --enable-test-jobs does not run the test job."""
    daemon = start_daemon(test_jobs=False)
    refused = await _refusal(daemon, write_job_config(configs), kind="test")
    assert refused.code == "unknown_kind"


async def test_workers_ignore_sigint_and_use_one_blas_thread(
    shared_daemon: DaemonProcess,
) -> None:
    """Workers ignore SIGINT, start with one BLAS thread and the Agg backend."""
    workers = [
        p for p in shared_daemon.descendants() if "spawn_main" in " ".join(p.cmdline())
    ]
    assert len(workers) == 2
    for worker in workers:
        status = Path(f"/proc/{worker.pid}/status").read_text()
        ignored = int(status.split("SigIgn:")[1].split()[0], 16)
        assert ignored & (1 << (signal.SIGINT - 1))
        environment = worker.environ()
        assert environment["OMP_NUM_THREADS"] == environment["MKL_NUM_THREADS"] == "1"
        assert environment["MPLBACKEND"] == "Agg"


async def test_worker_dying_beside_its_child_crashes_its_job_at_once(
    daemon: DaemonProcess, configs: Path
) -> None:
    """A worker that dies while a process its job started lives on still ends its
    job crashed promptly, and that process goes too.
    """
    config = write_job_config(
        configs,
        trials=3,
        seconds_per_trial=0.2,
        chunk_size=3,
        child_at_trial=0,
        crash_at_trial=1,
    )
    job = (await daemon.submit(config))["job"]
    ended = await daemon.wait_for_state(
        job["id"], "crashed", "failed", "succeeded", timeout=10.0
    )
    assert ended["state"] == "crashed"
    lines = (await daemon.call("logs", job=job["id"]))["lines"]
    (child,) = [
        int(line.rsplit(" ", 1)[1]) for line in lines if "started child process" in line
    ]

    async def child_gone() -> bool:
        try:
            return not alive(psutil.Process(child))
        except psutil.NoSuchProcess:
            return True

    await wait_until(child_gone, 5.0, "the job's child process to be killed")
    write_job_config(configs, trials=1)
    again = (await daemon.submit(config))["job"]
    finished = await daemon.wait_for_state(again["id"], "succeeded", "failed")
    assert finished["state"] == "succeeded"


async def test_a_job_survives_pool_breaks_that_other_jobs_cause(
    start_daemon: StartDaemon, configs: Path
) -> None:
    """Hung jobs killed after their grace period again and again never crash the
    job of another config; it runs its lost tasks again and succeeds.
    """
    daemon = start_daemon("--grace", "0.3")
    steady = write_job_config(
        configs, "steady", trials=4, seconds_per_trial=0.5, chunk_size=4
    )
    hung = write_job_config(configs, "hung", trials=1, hang_at_trial=0)
    bystander = (await daemon.submit(steady))["job"]
    for _ in range(4):
        victim = (await daemon.submit(hung))["job"]
        await _running_on_workers(daemon, victim["id"], 1)
        await daemon.submit(hung, force=True)
        await daemon.wait_for_state(victim["id"], "replaced")
        await asyncio.sleep(0.6)
    await daemon.call("cancel", config=str(hung))
    finished = await daemon.wait_for_state(
        bystander["id"], "succeeded", "crashed", "failed", timeout=60.0
    )
    assert finished["state"] == "succeeded"


async def test_a_submit_never_keeps_a_job_in_flight_as_fresh(
    daemon: DaemonProcess, configs: Path
) -> None:
    """While a job runs, a submit whose config matches the last success again still
    replaces it rather than being skipped, so the running job cannot publish.
    """
    config = write_job_config(configs, trials=1, label="first")
    first = (await daemon.submit(config))["job"]
    await daemon.wait_for_state(first["id"], "succeeded")
    original = config.read_bytes()
    write_job_config(configs, trials=20, seconds_per_trial=0.3, label="edited")
    edited = (await daemon.submit(config))["job"]
    await _running_on_workers(daemon, edited["id"], 1)
    config.write_bytes(original)
    reply = await daemon.submit(config)
    assert reply["replaced"] == edited["id"]
    assert reply["job"]["state"] != "skipped_fresh"
    await daemon.wait_for_state(reply["job"]["id"], "succeeded")
    assert "label=first" in (configs.parent / "out" / "job.txt").read_text()


async def test_outputs_that_are_gone_are_not_fresh(
    daemon: DaemonProcess, configs: Path
) -> None:
    """A deleted output makes the next submit run again, within the freshness window."""
    config = write_job_config(configs, trials=1)
    first = (await daemon.submit(config))["job"]
    await daemon.wait_for_state(first["id"], "succeeded")
    output = configs.parent / "out" / "job.txt"
    output.unlink()
    again = (await daemon.submit(config))["job"]
    assert again["state"] == "queued"
    await daemon.wait_for_state(again["id"], "succeeded")
    assert output.exists()


async def test_second_daemon_on_the_same_state_dir_refuses(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    """A daemon on another socket but the same state dir exits non-zero."""
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytaaad",
            "--socket",
            str(tmp_path / "other" / "p.sock"),
            "--state-dir",
            str(daemon.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode != 0
    assert f"uses the state dir {daemon.state_dir}" in second.stderr
    assert (await daemon.call("ping"))["pong"] is True


def test_a_file_in_place_of_the_log_folder_is_a_clear_error(tmp_path: Path) -> None:
    """A state dir whose logs folder is a file stops the start with one clear line."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "logs").write_text("not a folder")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytaaad"),
            *("--socket", str(tmp_path / "run" / "p.sock")),
            *("--state-dir", str(state)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"cannot use state dir {state / 'logs'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_log_lines_cannot_be_forged_by_a_path() -> None:
    """A line break in a logged value is escaped; a traceback keeps its own lines."""
    formatter = OneLineFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord(
        "pytaaad.jobs", logging.INFO, __file__, 1, "key=%s", ("/a\nINFO forged",), None
    )
    assert formatter.format(record) == "INFO key=/a\\nINFO forged"
    try:
        raise ValueError("boom")
    except ValueError:
        failure = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    lines = formatter.format(failure).splitlines()
    assert lines[0] == "ERROR failed"
    assert lines[1].startswith("Traceback")


async def test_a_job_queued_behind_a_killed_job_still_runs(
    start_daemon: StartDaemon, configs: Path
) -> None:
    """Cancelling a hung job with tasks still queued, then killing its worker, leaves
    the tasks of another job that wait behind them to fail over and run.
    """
    daemon = start_daemon("--max-jobs", "2", "--grace", "0.5", workers=1)
    hung = write_job_config(configs, "hung", trials=12, hang_at_trial=0)
    other = write_job_config(configs, "other", trials=1, seconds_per_trial=0.0)
    first = (await daemon.submit(hung))["job"]
    await _running_on_workers(daemon, first["id"], 1)
    second = (await daemon.submit(other))["job"]
    await daemon.call("cancel", job=first["id"])
    ended = await daemon.wait_for_state(
        second["id"], "succeeded", "failed", "crashed", timeout=30
    )
    assert ended["state"] == "succeeded", ended
    assert " ERROR " not in daemon.log()


async def test_a_failed_job_with_queued_and_hung_tasks_leaves_the_pool_sound(
    start_daemon: StartDaemon, configs: Path
) -> None:
    """A job that fails while its other tasks wait or hang is stopped without
    cancelling pool futures: the pool breaks cleanly and the next job runs.
    """
    daemon = start_daemon("--max-jobs", "2", "--grace", "0.5", workers=1)
    failing = write_job_config(
        configs, "failing", trials=40, fail_at_trial=1, hang_at_trial=2
    )
    other = write_job_config(configs, "other", trials=2, seconds_per_trial=0.0)
    first = (await daemon.submit(failing))["job"]
    second = (await daemon.submit(other))["job"]
    failed = await daemon.wait_for_state(first["id"], "failed", "crashed", timeout=30)
    assert failed["state"] == "failed", failed
    ended = await daemon.wait_for_state(
        second["id"], "succeeded", "failed", "crashed", timeout=30
    )
    assert ended["state"] == "succeeded", ended
    third = (await daemon.submit(other, force=True))["job"]
    again = await daemon.wait_for_state(third["id"], "succeeded", "failed", "crashed")
    assert again["state"] == "succeeded", again
    assert " ERROR " not in daemon.log()
