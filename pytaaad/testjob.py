"""A controllable job kind for testing the daemon: timed trials that can misbehave.

Only a daemon started with the hidden ``--enable-test-jobs`` flag accepts it, selected
by ``"kind": "test"`` in a submit. Its config is a JSON file with one ``testjob``
object; relative paths are relative to the config's folder::

    {"testjob": {"trials": 4, "seconds_per_trial": 0.2, "output_dir": "out",
                 "label": "any text", "chunk_size": 1, "freshness_hours": 20,
                 "data_file": null, "hang_at_trial": null, "fail_at_trial": null,
                 "crash_at_trial": null, "child_at_trial": null}}

Each trial keeps one CPU busy for ``seconds_per_trial``. At ``hang_at_trial`` it spins
forever without looking at the stop flag; at ``fail_at_trial`` it raises; at
``crash_at_trial`` the worker kills itself with SIGKILL; at ``child_at_trial`` it starts
a ``sleep`` child process and carries on. The one output, ``<config stem>.txt`` in
``output_dir``, holds the label and the trial count.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pytaaad.config import DEFAULT_FRESHNESS_HOURS, read_config_file
from pytaaad.errors import ConfigError, JobStopped
from pytaaad.kinds import OnTrial, OutputPairs, PreparedJob, ShouldStop
from pytaaad.protocol import MAX_TRIALS
from pytaaad.staging import STAGING_PREFIX

logger = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 64 * 1024
CHILD_SLEEP_SECONDS = 600
# The Monte Carlo job's prefix, spelled out so that test workers need not import the
# numeric stack that comes with pytaaad.backtest.job.
_OPTIONAL_TRIALS = (
    "hang_at_trial",
    "fail_at_trial",
    "crash_at_trial",
    "child_at_trial",
)
_KNOWN = frozenset(
    {"trials", "chunk_size", "seconds_per_trial", "output_dir", "label"}
    | {"freshness_hours", "data_file"}
    | set(_OPTIONAL_TRIALS)
)


@dataclass(frozen=True)
class ControlledSpec:
    """A parsed test job config."""

    config_path: Path
    label: str
    trials: int
    seconds_per_trial: float
    chunk_size: int
    output_dir: Path
    hang_at_trial: int | None = None
    fail_at_trial: int | None = None
    crash_at_trial: int | None = None
    child_at_trial: int | None = None


@dataclass(frozen=True)
class ControlledJobKind:
    """The test job; see the module docstring."""

    @property
    def name(self) -> str:
        return "test"

    def prepare(
        self, config: Path, trials: int | None, seed: int | None
    ) -> PreparedJob[ControlledSpec]:
        raw = _read(config)
        section = _section(config, raw)
        spec = _spec(config, section, trials)
        return PreparedJob(
            spec=spec,
            config_sha256=hashlib.sha256(raw).hexdigest(),
            data_fingerprint=_data_fingerprint(config, section.get("data_file")),
            freshness_hours=_number(
                config, section, "freshness_hours", DEFAULT_FRESHNESS_HOURS
            ),
            trials=spec.trials,
            output_dirs=(spec.output_dir,),
        )

    def chunks(self, spec: ControlledSpec, workers: int) -> list[list[int]]:
        ids = list(range(spec.trials))
        return [
            ids[i : i + spec.chunk_size] for i in range(0, len(ids), spec.chunk_size)
        ]

    def run_trials(
        self,
        spec: ControlledSpec,
        trial_ids: list[int],
        on_trial: OnTrial,
        should_stop: ShouldStop,
    ) -> list[Any]:
        for trial in trial_ids:
            if should_stop():
                raise JobStopped(f"test job stopped before trial {trial}")
            _misbehave(spec, trial)
            hang = trial == spec.hang_at_trial
            _spin(math.inf if hang else spec.seconds_per_trial)
            on_trial(trial)
        return list(trial_ids)

    def render_parts(self, spec: ControlledSpec) -> list[Any]:
        return ["text"]

    def render_outputs(
        self,
        spec: ControlledSpec,
        results: list[Any],
        token: str,
        timings: dict[str, float],
        part: Any,
    ) -> OutputPairs:
        (staging,) = self.staging_dirs(spec, token)
        staging.mkdir(parents=True, exist_ok=True)
        name = f"{spec.config_path.stem}.txt"
        (staging / name).write_text(f"label={spec.label}\ntrials={len(results)}\n")
        return [(staging / name, spec.output_dir / name)]

    def staging_dirs(self, spec: ControlledSpec, token: str) -> list[Path]:
        return [spec.output_dir / f"{STAGING_PREFIX}{token}"]


def _misbehave(spec: ControlledSpec, trial: int) -> None:
    if trial == spec.child_at_trial:
        sleeper = ["sleep", str(CHILD_SLEEP_SECONDS)]
        pid = os.posix_spawnp("sleep", sleeper, os.environ)
        logger.info("test job started child process %s", pid)
    if trial == spec.fail_at_trial:
        raise RuntimeError(f"test job failed at trial {trial} as its config asks")
    if trial == spec.crash_at_trial:
        os.kill(os.getpid(), signal.SIGKILL)


def _spin(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < deadline:
        total += sum(range(1000))


def _read(config: Path) -> bytes:
    raw = read_config_file(config, MAX_CONFIG_BYTES)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {config}: larger than {MAX_CONFIG_BYTES} bytes")
    return raw


def _section(config: Path, raw: bytes) -> Mapping[str, Any]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"config {config}: not valid JSON ({exc})") from exc
    section = document.get("testjob") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"config {config}: missing object 'testjob'")
    unknown = sorted(set(section) - _KNOWN)
    if unknown:
        raise ConfigError(f"config {config}: unknown key testjob.{unknown[0]}")
    return section


def _spec(
    config: Path, section: Mapping[str, Any], trials: int | None
) -> ControlledSpec:
    output_dir = section.get("output_dir")
    if not isinstance(output_dir, str) or not output_dir:
        raise ConfigError(f"config {config}: testjob.output_dir must be a path string")
    label = section.get("label", "")
    if not isinstance(label, str):
        raise ConfigError(f"config {config}: testjob.label must be a string")
    misbehaviour = {
        name: _trial_index(config, section, name) for name in _OPTIONAL_TRIALS
    }
    return ControlledSpec(
        config_path=config,
        label=label,
        trials=trials if trials is not None else _count(config, section, "trials"),
        seconds_per_trial=_number(config, section, "seconds_per_trial", 0.0),
        chunk_size=_count(config, section, "chunk_size"),
        output_dir=(config.parent / output_dir).resolve(),
        **misbehaviour,
    )


def _count(config: Path, section: Mapping[str, Any], name: str) -> int:
    value = section.get(name, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"config {config}: testjob.{name} must be an integer >= 1")
    if value > MAX_TRIALS:
        raise ConfigError(
            f"config {config}: testjob.{name} must be at most {MAX_TRIALS}"
        )
    return value


def _trial_index(config: Path, section: Mapping[str, Any], name: str) -> int | None:
    value = section.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"config {config}: testjob.{name} must be a trial id >= 0")
    return value


def _number(
    config: Path, section: Mapping[str, Any], name: str, default: float
) -> float:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"config {config}: testjob.{name} must be a number >= 0")
    return float(value)


def _data_fingerprint(config: Path, data_file: object) -> dict[str, object]:
    if data_file is None:
        return {}
    if not isinstance(data_file, str):
        raise ConfigError(f"config {config}: testjob.data_file must be a path string")
    path = (config.parent / data_file).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(
            f"config {config}: data file {path} ({exc.strerror})"
        ) from exc
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
