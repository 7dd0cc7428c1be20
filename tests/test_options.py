"""Daemon options from the command line and PYTAAAD_* variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytaaad.options import parse_options


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
