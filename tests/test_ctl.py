"""pytaaa-ctl against a real daemon: every command, its --json shape, its exit code.

Most tests call ``ctl.main`` in-process; those that need Ctrl-C, a terminal or a
daemon that dies mid-command run ``python -m pytaaad.ctl`` as a child process. Tests
that leave the daemon running share one; each cancels what it leaves in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from pytaaad.client import Client
from pytaaad.ctl import main
from pytaaad.errors import JobNotInFlight
from tests.helpers import (
    REPO,
    DaemonProcess,
    RequestFailed,
    wait_for_end,
    wait_for_running,
    wait_until,
    write_job_config,
)

JOB_FIELDS = {
    "id",
    "key",
    "kind",
    "generation",
    "state",
    "queued_at",
    "started_at",
    "finished_at",
    "elapsed",
    "trials_total",
    "trials_done",
    "reason",
    "error",
    "outputs",
    "pids",
    "config_sha256",
    "fresh_key",
}
DAEMON_FIELDS = {
    "version",
    "protocol",
    "pid",
    "uptime",
    "workers",
    "max_jobs",
    "running",
    "queued",
}
EXIT_SECONDS = 30.0
POLL = ("--interval", "0.05")


@dataclass(frozen=True)
class Run:
    """What one pytaaa-ctl command returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The one JSON document the command printed."""
        (line,) = self.out.splitlines()
        return orjson.loads(line)


Ctl = Callable[..., Run]


def run_ctl(socket: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Run pytaaa-ctl in-process against the daemon on ``socket``."""
    code = main(["--socket", str(socket), *argv])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


@pytest.fixture
def ctl(shared_daemon: DaemonProcess, capsys: pytest.CaptureFixture[str]) -> Ctl:
    """Run pytaaa-ctl in-process against the shared daemon."""

    def run(*argv: str) -> Run:
        return run_ctl(shared_daemon.socket, capsys, *argv)

    return run


@pytest.fixture
def client(shared_daemon: DaemonProcess, shared_configs: Path) -> Iterator[Client]:
    """A client of the shared daemon; this test's jobs in flight are cancelled after."""
    with Client(shared_daemon.socket) as connected:
        yield connected
        for job in connected.status().jobs:
            if not job.finished and Path(job.key).is_relative_to(shared_configs):
                with contextlib.suppress(JobNotInFlight):
                    connected.cancel(job=job.id)


def spawn(socket: Path, *argv: str, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``python -m pytaaad.ctl --socket SOCKET ARGV...`` as a child process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
    command = [sys.executable, "-m", "pytaaad.ctl", "--socket", str(socket), *argv]
    return subprocess.Popen(command, env=env, **popen)


def slow_config(configs: Path, name: str = "job") -> Path:
    """A test job that runs for twenty seconds unless stopped."""
    return write_job_config(configs, name, trials=40, seconds_per_trial=0.5)


def test_submit_prints_the_job_id_and_returns_while_the_job_runs(
    ctl: Ctl, client: Client, shared_configs: Path
) -> None:
    """submit prints the new job's id and exits 0 before the job has ended."""
    config = slow_config(shared_configs)
    run = ctl("submit", str(config), "--kind", "test")
    assert run.code == 0
    found = re.fullmatch(rf"job (\d+) queued: {re.escape(str(config))}\n", run.out)
    assert found is not None
    assert not client.job(int(found.group(1))).finished


def test_submit_sends_relative_paths_as_absolute_ones(
    ctl: Ctl, shared_configs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config named relative to the working directory reaches the daemon absolute."""
    write_job_config(shared_configs, trials=1)
    monkeypatch.chdir(shared_configs)
    run = ctl("submit", "--json", "--kind", "test", "../configs/job.json")
    (entry,) = run.json()["submitted"]
    assert entry["config"] == entry["job"]["key"] == str(shared_configs / "job.json")


def test_submit_json_lists_each_config_with_its_job_or_error(
    ctl: Ctl, shared_configs: Path, tmp_path: Path
) -> None:
    """One entry per config, a refused one with its error; the exit code is 4."""
    good = write_job_config(shared_configs, trials=1)
    outside = write_job_config(tmp_path / "elsewhere")
    run = ctl("submit", "--json", "--kind", "test", str(good), str(outside))
    assert run.code == 4
    accepted, refused = run.json()["submitted"]
    assert set(accepted) == {"config", "job", "replaced"}
    assert set(accepted["job"]) == JOB_FIELDS
    assert accepted["replaced"] is None
    assert refused["config"] == str(outside)
    assert refused["error"]["code"] == "path_not_allowed"
    assert "outside the allowed roots" in refused["error"]["message"]
    assert f"pytaaa-ctl: config {outside} is outside the allowed roots" in run.err


def test_submit_wait_exits_zero_when_the_job_succeeds(
    ctl: Ctl, shared_configs: Path
) -> None:
    """--wait follows the job to its end; success exits 0 with the final records."""
    config = write_job_config(shared_configs, trials=3)
    run = ctl("submit", "--wait", "--json", *POLL, "--kind", "test", str(config))
    assert run.code == 0
    document = run.json()
    (job,) = document["finished"]
    assert set(job) == JOB_FIELDS
    assert (job["state"], job["trials_done"]) == ("succeeded", 3)
    assert document["submitted"][0]["job"]["id"] == job["id"]


def test_submit_wait_exits_one_when_the_job_fails(
    ctl: Ctl, shared_configs: Path
) -> None:
    """A job that fails makes --wait exit 1 and say why on stderr."""
    config = write_job_config(shared_configs, trials=3, fail_at_trial=1)
    run = ctl("submit", "--wait", *POLL, "--kind", "test", str(config))
    assert run.code == 1
    assert re.search(r"job \d+ failed after .*RuntimeError: test job failed", run.err)


def test_a_skipped_submit_counts_as_success(ctl: Ctl, shared_configs: Path) -> None:
    """A config whose outputs are fresh is skipped; --wait still exits 0."""
    config = write_job_config(shared_configs, trials=1)
    assert ctl("submit", "--wait", *POLL, "--kind", "test", str(config)).code == 0
    run = ctl("submit", "--wait", *POLL, "--kind", "test", str(config))
    assert run.code == 0
    assert "skipped_fresh" in run.out
    assert "are fresh" in run.out


def test_status_shows_a_row_per_config_with_progress_and_last_result(
    ctl: Ctl, client: Client, shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """A running config's row shows its progress and how its previous job ended."""
    config = write_job_config(shared_configs, trials=1)
    other = write_job_config(shared_configs, "other", trials=1, fail_at_trial=0)
    ctl("submit", "--wait", *POLL, "--kind", "test", str(config), str(other))
    slow_config(shared_configs)
    running = ctl("submit", "--json", "--kind", "test", str(config))
    job_id = running.json()["submitted"][0]["job"]["id"]
    wait_for_running(client, job_id)
    run = ctl("status")
    assert run.code == 0
    title, header, *rows = run.out.splitlines()
    assert f"on {shared_daemon.socket} (pid {shared_daemon.pid}" in title
    assert header.split() == [
        "CONFIG",
        "JOB",
        "STATE",
        "PROGRESS",
        "ELAPSED",
        "LAST",
        "RESULT",
    ]
    mine = [row for row in rows if row.startswith(str(shared_configs))]
    assert len(mine) == 2
    name, other_name = re.escape(str(config)), re.escape(str(other))
    assert re.search(rf"^{name}\s+{job_id}\s+running\s+\S+\s+\d+/40\s", mine[0])
    assert re.search(r"succeeded [\d.hms]+ ago$", mine[0])
    assert re.search(
        rf"^{other_name}\s+\d+\s+failed\s.*failed .* ago: Runtime", mine[1]
    )


def test_status_json_has_the_daemon_and_its_jobs(
    ctl: Ctl, shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """status --json prints the daemon and the jobs; with a config only its newest."""
    first = write_job_config(shared_configs, "first", trials=1)
    second = write_job_config(shared_configs, "second", trials=1)
    ctl("submit", "--wait", *POLL, "--kind", "test", str(first), str(second))
    every = ctl("status", "--json").json()
    assert set(every) == {"daemon", "jobs"}
    assert set(every["daemon"]) == DAEMON_FIELDS
    assert every["daemon"]["pid"] == shared_daemon.pid
    keys = [job["key"] for job in every["jobs"]]
    assert [key for key in keys if key in (str(first), str(second))] == [
        str(second),
        str(first),
    ]
    assert all(set(job) == JOB_FIELDS for job in every["jobs"])
    one = ctl("status", "--json", str(first)).json()
    assert [job["key"] for job in one["jobs"]] == [str(first)]


def test_status_of_an_unknown_config_is_refused(ctl: Ctl, shared_configs: Path) -> None:
    """A config the daemon never ran is an error reply: exit 4 and the message."""
    never = shared_configs / "never.json"
    run = ctl("status", str(never))
    assert run.code == 4
    assert f"no job for config {never}" in run.err


def test_cancel_ends_the_running_job_and_refuses_a_finished_one(
    ctl: Ctl, client: Client, shared_configs: Path
) -> None:
    """cancel CONFIG cancels the job in flight; cancelling it again exits 4."""
    config = slow_config(shared_configs)
    job_id = client.submit(config, kind="test").job.id
    run = ctl("cancel", "--json", str(config))
    assert run.code == 0
    document = run.json()
    assert set(document) == {"job"}
    assert (document["job"]["id"], document["job"]["state"]) == (job_id, "cancelled")
    again = ctl("cancel", "--job", str(job_id))
    assert again.code == 4
    assert f"job {job_id} has already ended (cancelled)" in again.err


def test_logs_prints_the_end_of_the_newest_jobs_log(
    ctl: Ctl, client: Client, shared_configs: Path
) -> None:
    """logs CONFIG --tail N prints the last N lines; --json adds the job and path."""
    config = write_job_config(shared_configs, trials=3)
    job_id = client.submit(config, kind="test").job.id
    wait_for_end(client, job_id)
    run = ctl("logs", str(config), "--tail", "2")
    assert run.code == 0
    lines = run.out.splitlines()
    assert len(lines) == 2
    assert lines[-1].endswith("succeeded: all 3 trials done; outputs published")
    document = ctl("logs", "--json", "--job", str(job_id)).json()
    assert set(document) == {"job", "path", "lines"}
    assert document["job"] == job_id
    assert document["lines"][0].startswith(f"# pytaaad job {job_id} ")


def test_history_lists_jobs_newest_first(ctl: Ctl, shared_configs: Path) -> None:
    """history prints a table and --json the records, newest first; --limit cuts."""
    config = write_job_config(shared_configs, trials=1)
    submit = ("submit", "--json", "--wait", *POLL, "--kind", "test", str(config))
    first = ctl(*submit).json()["finished"][0]["id"]
    second = ctl(*submit, "--force").json()["finished"][0]["id"]
    table = ctl("history", str(config)).out.splitlines()
    assert table[0].split()[:3] == ["JOB", "SUBMITTED", "CONFIG"]
    assert [row.split()[0] for row in table[1:]] == [str(second), str(first)]
    document = ctl("history", "--json", str(config)).json()
    assert set(document) == {"jobs"}
    assert [job["id"] for job in document["jobs"]] == [second, first]
    assert all(set(job) == JOB_FIELDS for job in document["jobs"])
    limited = ctl("history", "--json", "--limit", "1", str(config)).json()
    assert [job["id"] for job in limited["jobs"]] == [second]


def test_ping_describes_the_daemon(ctl: Ctl, shared_daemon: DaemonProcess) -> None:
    """ping prints the daemon's pid and figures; --json its record."""
    run = ctl("ping")
    assert run.code == 0
    assert f"on {shared_daemon.socket} (pid {shared_daemon.pid}, up " in run.out
    document = ctl("ping", "--json").json()
    assert set(document) == {"daemon"}
    assert set(document["daemon"]) == DAEMON_FIELDS
    assert document["daemon"]["protocol"] == 1


def test_shutdown_stops_the_daemon(
    daemon: DaemonProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """shutdown is acknowledged, then the daemon exits 0."""
    run = run_ctl(daemon.socket, capsys, "shutdown", "--json")
    assert (run.code, run.json()) == (0, {"stopping": True})
    assert daemon.process.wait(EXIT_SECONDS) == 0


def test_no_daemon_exits_3_and_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a daemon every command exits 3 and names the commands that start one."""
    path = tmp_path / "none.sock"
    assert main(["--socket", str(path), "status"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no pytaaad daemon is listening on {path}" in captured.err
    assert "systemctl start pytaaad" in captured.err
    assert main(["ping", "--json", "--socket", str(path)]) == 3
    error = orjson.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "unreachable"
    assert f"'pytaaad --socket {path}'" in error["message"]


def test_the_socket_can_come_from_pytaaad_socket(
    shared_daemon: DaemonProcess,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --socket, $PYTAAAD_SOCKET names the daemon's socket."""
    monkeypatch.setenv("PYTAAAD_SOCKET", str(shared_daemon.socket))
    assert main(["ping"]) == 0
    assert f"(pid {shared_daemon.pid}," in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["submit"],
        ["submit", "job.json", "--trials", "0"],
        ["submit", "job.json", "--seed", "soon"],
        ["cancel"],
        ["cancel", "job.json", "--job", "3"],
        ["status", "--watch", "--interval", "-1"],
        ["logs", "job.json", "--tail", "none"],
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing command or argument, or a bad value, exits 2 with a usage message."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "usage: pytaaa-ctl" in capsys.readouterr().err


def test_help_explains_every_command_and_the_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--help lists the commands and documents exit codes 0 to 4."""
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    for command in ("submit", "status", "cancel", "logs", "history", "ping"):
        assert re.search(rf"^    {command} ", text, re.MULTILINE)
    assert "shutdown" in text
    for code in range(5):
        assert re.search(rf"^  {code}  ", text, re.MULTILINE)


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
async def test_wait_exits_3_when_the_daemon_goes_away(
    daemon: DaemonProcess, configs: Path, json_mode: bool
) -> None:
    """A daemon killed while submit --wait follows its job ends the wait with 3;
    with --json, the document still names the accepted job.
    """
    config = slow_config(configs)
    waiting = spawn(
        daemon.socket,
        *(["--json"] if json_mode else []),
        *("submit", "--wait", "--interval", "0.1", "--kind", "test", str(config)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    async def running() -> bool:
        jobs = (await daemon.call("status"))["jobs"]
        return bool(jobs) and jobs[0]["trials_done"] > 0

    await wait_until(running, EXIT_SECONDS, "the job to run")
    daemon.process.kill()
    out, err = await asyncio.to_thread(waiting.communicate, timeout=EXIT_SECONDS)
    assert waiting.returncode == 3
    assert re.search(rb"pytaaad daemon .*" + re.escape(bytes(daemon.socket)), err)
    if json_mode:
        document = orjson.loads(out)
        assert document["submitted"][0]["job"]["id"] == 1
        assert document["error"]["code"] == "unreachable"


async def test_wait_exits_1_when_another_submit_replaces_the_job(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """A job replaced by a newer submit ends the first submit --wait with 1."""
    config = slow_config(shared_configs)
    waiting = spawn(
        shared_daemon.socket,
        *("submit", "--wait", "--json", "--interval", "0.1", "--kind", "test"),
        str(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    await wait_until(
        lambda: _has_job(shared_daemon, config), EXIT_SECONDS, "the first submit"
    )
    await shared_daemon.submit(config, trials=1)
    out, _ = await asyncio.to_thread(waiting.communicate, timeout=EXIT_SECONDS)
    assert waiting.returncode == 1
    (job,) = orjson.loads(out)["finished"]
    assert job["state"] == "replaced"


async def test_ctrl_c_stops_waiting_with_130_and_leaves_the_job_running(
    shared_daemon: DaemonProcess, client: Client, shared_configs: Path
) -> None:
    """Ctrl-C during submit --wait exits 130; the job goes on in the daemon."""
    config = slow_config(shared_configs)
    printed = shared_configs / "stdout.txt"
    with printed.open("wb") as stdout:
        waiting = spawn(
            shared_daemon.socket,
            *("submit", "--wait", "--interval", "0.1", "--kind", "test", str(config)),
            stdout=stdout,
            stderr=subprocess.PIPE,
        )

    async def submitted() -> bool:
        return printed.read_text().startswith("job ")

    await wait_until(submitted, EXIT_SECONDS, "the job id on stdout")
    waiting.send_signal(signal.SIGINT)
    _, err = await asyncio.to_thread(waiting.communicate, timeout=EXIT_SECONDS)
    assert waiting.returncode == 130
    assert b"Traceback" not in err
    assert not client.status(config).jobs[0].finished


async def test_status_watch_redraws_in_place_until_ctrl_c(
    shared_daemon: DaemonProcess, client: Client, shared_configs: Path
) -> None:
    """On a terminal, --watch redraws the table over itself; Ctrl-C exits 0."""
    config = slow_config(shared_configs)
    client.submit(config, kind="test")
    terminal, child_side = pty.openpty()
    watching = spawn(
        shared_daemon.socket,
        *("status", str(config), "--watch", "--interval", "0.1"),
        stdout=child_side,
        stderr=subprocess.PIPE,
    )
    os.close(child_side)
    screen = bytearray()

    async def redrawn_twice() -> bool:
        while select.select([terminal], [], [], 0)[0]:
            screen.extend(os.read(terminal, 65536))
        return screen.count(b"\x1b[J") >= 2

    try:
        await wait_until(redrawn_twice, EXIT_SECONDS, "two redraws")
    finally:
        watching.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(watching.communicate, timeout=EXIT_SECONDS)
        os.close(terminal)
    assert watching.returncode == 0
    assert b"Traceback" not in err
    assert re.search(rb"\x1b\[3F\x1b\[Jpytaaad ", screen)
    assert b"CONFIG" in screen


async def test_logs_follow_prints_each_new_line_once_until_ctrl_c(
    shared_daemon: DaemonProcess, shared_configs: Path
) -> None:
    """--follow prints lines as the job writes them, none twice; Ctrl-C exits 0."""
    config = write_job_config(shared_configs, trials=40, seconds_per_trial=0.1)
    job = (await shared_daemon.submit(config))["job"]
    await shared_daemon.wait_for_state(job["id"], "running")
    printed = shared_configs / "follow.txt"
    with printed.open("wb") as stdout:
        following = spawn(
            shared_daemon.socket,
            *("logs", str(config), "--follow", "--interval", "0.1"),
            stdout=stdout,
            stderr=subprocess.PIPE,
        )

    async def followed() -> bool:
        return "succeeded" in printed.read_text()

    await wait_until(followed, EXIT_SECONDS, "the job's last log line")
    following.send_signal(signal.SIGINT)
    _, err = await asyncio.to_thread(following.communicate, timeout=EXIT_SECONDS)
    assert following.returncode == 0
    assert b"Traceback" not in err
    lines = printed.read_text().splitlines()
    trials = [line for line in lines if re.search(r" trial \d+ done ", line)]
    assert len(trials) == len(set(trials)) == 40
    assert lines[0].startswith(f"# pytaaad job {job['id']} ")


async def _has_job(daemon: DaemonProcess, config: Path) -> bool:
    try:
        await daemon.call("status", config=str(config))
    except RequestFailed:
        return False
    return True
