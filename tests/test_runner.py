"""Tests for ``pytaaad run``: one job in the foreground."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from pytaaad.backtest import outputs
from tests.conftest import ConfigFactory
from tests.helpers import poll_until, survivors

ROOT = Path(__file__).resolve().parents[1]


def _pytaaad(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytaaad", "run", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_run_writes_outputs_and_lists_them(
    make_config: ConfigFactory, tmp_path: Path, workers: str
) -> None:
    """``pytaaad run`` exits 0 and prints the seed and every published path."""
    result = _pytaaad(
        str(make_config()), "--workers", workers, "--no-progress", "--seed", "5"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "6 trials, seed 5"
    assert str(tmp_path / "out" / "web" / outputs.PNG_FULL) in lines
    assert all(Path(line).is_file() for line in lines[1:])


def test_bad_config_exits_2_with_the_problem(make_config: ConfigFactory) -> None:
    """A config error is a usage error (exit 2) that names the key."""
    result = _pytaaad(str(make_config(MA1=None)), "--no-progress")
    assert result.returncode == 2
    assert "Valuation.MA1 is missing" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--log-level", "bogus", "invalid choice: 'BOGUS'"),
        ("--trials", "abc", "not a whole number: 'abc'"),
    ],
)
def test_bad_option_is_a_usage_error(
    make_config: ConfigFactory, option: str, value: str, message: str
) -> None:
    """A bad option value exits 2 with argparse's message, no traceback."""
    result = _pytaaad(str(make_config()), option, value)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_failing_job_exits_1_and_says_why(make_config: ConfigFactory) -> None:
    """A job that cannot run (history too short) exits 1 with the reason."""
    result = _pytaaad(
        str(make_config(LongPeriod=5000)), "--workers", "1", "--no-progress"
    )
    assert result.returncode == 1
    assert "too few" in result.stderr


def test_unusable_output_folder_fails_before_the_trials(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    """An output folder that cannot be created is reported at once, exit 1."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = make_config(webpage=str(blocker / "web"))
    result = _pytaaad(str(config), "--workers", "1", "--no-progress")
    assert result.returncode == 1
    assert f"cannot create output folder {blocker / 'web'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_explains_the_command() -> None:
    """``pytaaad run --help`` describes the outputs and every option."""
    result = _pytaaad("--help")
    assert result.returncode == 0
    for word in ("--trials", "--seed", "--workers", "Valuation.webpage"):
        assert word in result.stdout


def test_killed_run_leaves_no_process_behind(make_config: ConfigFactory) -> None:
    """After a SIGKILL of ``pytaaad run``, its fork server and workers exit too."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytaaad", "run", str(make_config())]
    run = subprocess.Popen(
        [*command, "--trials", "10000", "--workers", "2", "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(run.pid)
    try:
        # The resource tracker, the fork server and its two workers, perhaps not yet
        # initialised: the kill may come between a worker's fork and its initializer.
        poll_until(lambda: len(parent.children(recursive=True)) >= 4, 60, "workers")
        descendants = parent.children(recursive=True)
    finally:
        run.kill()
        run.wait()
    try:
        assert survivors(descendants, timeout=5) == []
    finally:
        for process in survivors(descendants, timeout=0):
            process.kill()
