"""Daemon options from the command line and PYTAAAD_* variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytaaad.options import MAX_WORKERS_PER_CPU, parse_options


def test_environment_fills_options_the_command_line_leaves_out(tmp_path: Path) -> None:
    """PYTAAAD_* variables set options; repeatable ones split on os.pathsep."""
    environ = {
        "PYTAAAD_SOCKET": str(tmp_path / "s.sock"),
        "PYTAAAD_WORKERS": "3",
        "PYTAAAD_CONFIG_ROOT": os.pathsep.join(
            [str(tmp_path / "a"), str(tmp_path / "b")]
        ),
        "PYTAAAD_LOG_LEVEL": "debug",
    }
    options = parse_options([], environ)
    assert options.socket == tmp_path / "s.sock"
    assert options.workers == 3
    assert options.max_jobs == 3
    assert options.config_roots == (tmp_path / "a", tmp_path / "b")
    assert options.log_level == "DEBUG"


def test_command_line_wins_over_the_environment(tmp_path: Path) -> None:
    """A flag overrides the matching variable, also for repeatable options."""
    environ = {
        "PYTAAAD_WORKERS": "3",
        "PYTAAAD_OUTPUT_ROOT": str(tmp_path / "env"),
        "PYTAAAD_SOCKET": str(tmp_path / "s.sock"),
    }
    options = parse_options(
        ["--workers", "5", "--output-root", str(tmp_path / "cli")], environ
    )
    assert options.workers == 5
    assert options.output_roots == (tmp_path / "cli",)


def test_invalid_values_exit_with_usage_error() -> None:
    """A bad value, from a flag or a variable, is a usage error (exit 2)."""
    with pytest.raises(SystemExit) as flag:
        parse_options(["--workers", "0"], {})
    with pytest.raises(SystemExit) as variable:
        parse_options([], {"PYTAAAD_GRACE": "soon"})
    with pytest.raises(SystemExit) as nowhere:
        parse_options([], {})
    assert flag.value.code == variable.value.code == nowhere.value.code == 2


def test_workers_are_capped_per_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    """More than four workers per CPU is refused with the limit, not started."""
    limit = MAX_WORKERS_PER_CPU * len(os.sched_getaffinity(0))
    socket = ["--socket", "/tmp/x.sock"]
    assert parse_options([*socket, "--workers", str(limit)], {}).workers == limit
    with pytest.raises(SystemExit) as too_many:
        parse_options([*socket], {"PYTAAAD_WORKERS": "100000"})
    assert too_many.value.code == 2
    assert f"more than {limit}" in capsys.readouterr().err


def test_default_places_follow_systemd_then_xdg(tmp_path: Path) -> None:
    """The socket and state folder default to systemd's, then the XDG folders."""
    systemd = {
        "RUNTIME_DIRECTORY": "/run/pytaaad",
        "STATE_DIRECTORY": "/var/lib/pytaaad",
    }
    options = parse_options([], systemd)
    assert options.socket == Path("/run/pytaaad/pytaaad.sock")
    assert options.state_dir == Path("/var/lib/pytaaad")
    xdg = parse_options([], {"XDG_RUNTIME_DIR": str(tmp_path)})
    assert xdg.socket == tmp_path / "pytaaad" / "pytaaad.sock"
