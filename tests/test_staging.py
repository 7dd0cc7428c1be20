"""Staging folder names and the cleanup of those that killed processes left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytaaad import staging


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def _folder(parent: Path, token: str, age_seconds: float = 0.0) -> Path:
    folder = parent / f"{staging.STAGING_PREFIX}{token}"
    folder.mkdir(parents=True)
    when = os.stat(folder).st_mtime - age_seconds
    os.utime(folder, (when, when))
    return folder


def test_a_token_names_this_host_and_process() -> None:
    """A token is [prefix]<host>.<pid>-<random> and its owner reads back."""
    token = staging.staging_token(staging.RUN_TOKEN_PREFIX)
    assert token.startswith(f"{staging.RUN_TOKEN_PREFIX}{staging.host_tag()}.")
    name = staging.STAGING_PREFIX + token
    assert staging.staging_owner(name) == os.getpid()
    assert staging.staging_token() != staging.staging_token()


def test_a_dead_process_of_this_host_leaves_nothing_behind(tmp_path: Path) -> None:
    """A fresh folder of a gone process here is removed; a live one's is kept."""
    host = staging.host_tag()
    orphan = _folder(tmp_path, f"{host}.{_dead_pid()}-aa")
    live = _folder(tmp_path, f"{host}.{os.getpid()}-bb")
    staging.discard_stale(tmp_path)
    assert not orphan.exists()
    assert live.exists()


def test_another_hosts_folder_waits_until_it_is_old(tmp_path: Path) -> None:
    """A pid from another host means nothing here: only age clears its folder."""
    fresh = _folder(tmp_path, f"0000beef.{_dead_pid()}-aa")
    old = _folder(tmp_path, f"0000beef.{_dead_pid()}-bb", age_seconds=7200)
    staging.discard_stale(tmp_path)
    assert fresh.exists()
    assert not old.exists()
