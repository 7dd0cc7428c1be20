"""The daemon's command line; every option can also come from a PYTAAAD_* variable.

A command-line value wins over the environment, which wins over the default. Repeatable
options take several paths from one variable, separated by ``os.pathsep``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from pytaaad.executors import GRACE_SECONDS
from pytaaad.places import APP_NAME, default_socket

logger = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EXECUTORS = ("local", "dask")
MAX_GRACE_SECONDS = 20.0
MAX_WORKERS_PER_CPU = 4
# sun_path holds 108 bytes with the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107


@dataclass(frozen=True)
class Options:
    """Everything the daemon is told at start."""

    socket: Path | None
    state_dir: Path
    workers: int
    max_jobs: int
    config_roots: tuple[Path, ...]
    output_roots: tuple[Path, ...]
    log_level: str
    allow_group: str | None
    grace: float
    executor: str
    dask_scheduler: str | None
    enable_test_jobs: bool


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """systemd's StateDirectory, else $XDG_STATE_HOME/pytaaad."""
    state = environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    return platformdirs.user_state_path(APP_NAME)


def _path(text: str) -> Path:
    return Path(text).expanduser().absolute()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{value} is not a positive integer")
    return value


def _workers(text: str) -> int:
    value = _positive_int(text)
    # Every worker holds its own copy of the quotes; far more than the cores only
    # costs memory (and the pool starts them all at once).
    limit = MAX_WORKERS_PER_CPU * len(os.sched_getaffinity(0))
    if value > limit:
        per_cpu = MAX_WORKERS_PER_CPU
        raise ValueError(f"{value} is more than {limit} ({per_cpu} per CPU)")
    return value


def _grace(text: str) -> float:
    value = float(text)
    # systemd's TimeoutStopSec=30 must cover the grace plus the rest of the shutdown.
    if not 0.0 <= value <= MAX_GRACE_SECONDS:
        raise ValueError(f"{text} is not from 0 to {MAX_GRACE_SECONDS:g} seconds")
    return value


def _socket_path(text: str) -> Path:
    path = _path(text)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise ValueError(
            f"{path} is longer than the {MAX_SOCKET_PATH_BYTES} bytes a Unix socket "
            "path may have"
        )
    return path


def _level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"{text} is not one of {', '.join(LOG_LEVELS)}")
    return level


def _executor(text: str) -> str:
    if text not in EXECUTORS:
        raise ValueError(f"{text} is not one of {', '.join(EXECUTORS)}")
    return text


_Convert = Callable[[str], Any]
# name: (flag, variable, converter, repeatable, help)
_OPTIONS: tuple[tuple[str, str, _Convert, bool, str], ...] = (
    ("socket", "--socket", _socket_path, False, "socket path"),
    ("state_dir", "--state-dir", _path, False, "where history and job logs live"),
    ("workers", "--workers", _workers, False, "worker processes (CPU count)"),
    ("max_jobs", "--max-jobs", _positive_int, False, "running jobs at once (workers)"),
    ("config_roots", "--config-root", _path, True, "folder configs may come from"),
    ("output_roots", "--output-root", _path, True, "folder outputs may go to"),
    ("log_level", "--log-level", _level, False, "DEBUG, INFO, WARNING or ERROR"),
    ("allow_group", "--allow-group", str, False, "group whose members may connect"),
    ("grace", "--grace", _grace, False, "seconds a job gets to stop before a kill"),
    ("executor", "--executor", _executor, False, "local (default) or dask"),
    ("dask_scheduler", "--dask-scheduler", str, False, "Dask scheduler address"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=APP_NAME,
        description=(
            "Run the pytaaad job daemon in the foreground ('pytaaad serve' is the "
            "same). To run one job without a daemon: pytaaad run CONFIG (see "
            "'pytaaad run --help'); to talk to a daemon: pytaaa-ctl."
        ),
        epilog="Each option can also be set by PYTAAAD_<OPTION>, e.g. PYTAAAD_SOCKET.",
    )
    for name, flag, _, repeatable, text in _OPTIONS:
        action = "append" if repeatable else "store"
        parser.add_argument(
            flag, dest=name, action=action, metavar=flag[2:].upper(), help=text
        )
    parser.add_argument(
        "--enable-test-jobs", action="store_true", help=argparse.SUPPRESS
    )
    return parser


def parse_options(argv: list[str], environ: Mapping[str, str] = os.environ) -> Options:
    """Read the command line and PYTAAAD_* variables; exit 2 if they are invalid."""
    parser = _parser()
    args = parser.parse_args(argv)
    values = _values(parser, args, environ)
    socket = values["socket"] or default_socket(environ)
    if socket is None and "LISTEN_FDS" not in environ:
        parser.error(
            "no socket path: give --socket or set PYTAAAD_SOCKET, RUNTIME_DIRECTORY "
            "or XDG_RUNTIME_DIR"
        )
    workers = values["workers"] or len(os.sched_getaffinity(0))
    test_jobs = args.enable_test_jobs or environ.get("PYTAAAD_ENABLE_TEST_JOBS") == "1"
    return Options(
        socket=socket,
        state_dir=values["state_dir"] or default_state_dir(environ),
        workers=workers,
        max_jobs=values["max_jobs"] or workers,
        config_roots=values["config_roots"],
        output_roots=values["output_roots"],
        log_level=values["log_level"] or "INFO",
        allow_group=values["allow_group"],
        grace=GRACE_SECONDS if values["grace"] is None else values["grace"],
        executor=values["executor"] or "local",
        dask_scheduler=values["dask_scheduler"],
        enable_test_jobs=test_jobs,
    )


def _values(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Each option's value from its flag, else its variable, else None; converted."""
    values: dict[str, Any] = {}
    for name, flag, convert, repeatable, _ in _OPTIONS:
        variable = "PYTAAAD_" + flag[2:].upper().replace("-", "_")
        raw, source = getattr(args, name), flag
        if raw is None and environ.get(variable):
            raw, source = environ[variable], variable
            if repeatable:
                raw = raw.split(os.pathsep)
        try:
            values[name] = _convert(raw, convert, repeatable)
        except ValueError as exc:
            parser.error(f"{source}: {exc}")
    return values


def _convert(raw: Any, convert: _Convert, repeatable: bool) -> Any:
    if repeatable:
        return tuple(convert(item) for item in raw or () if item)
    return None if raw is None else convert(raw)
