"""The Monte Carlo backtest as a job kind, adapting ``pytaaad.backtest.job``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytaaad.backtest import job as backtest
from pytaaad.backtest.job import JobSpec
from pytaaad.config import load_settings
from pytaaad.kinds import OnTrial, OutputPairs, PreparedJob, ShouldStop

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonteCarloKind:
    """The PyTAAA Monte Carlo backtest of one config."""

    @property
    def name(self) -> str:
        return "montecarlo"

    def prepare(
        self, config: Path, trials: int | None, seed: int | None
    ) -> PreparedJob[JobSpec]:
        settings = load_settings(config)
        spec = backtest.make_spec(settings, trials, seed)
        return PreparedJob(
            spec=spec,
            config_sha256=settings.config_sha256,
            data_fingerprint=backtest.quote_fingerprint(settings),
            freshness_hours=settings.freshness_hours,
            trials=spec.trials,
            output_dirs=tuple(
                dict.fromkeys([settings.webpage, settings.performance_store])
            ),
        )

    def chunks(self, spec: JobSpec, workers: int) -> list[list[int]]:
        return backtest.trial_chunks(spec, workers)

    def run_trials(
        self,
        spec: JobSpec,
        trial_ids: list[int],
        on_trial: OnTrial,
        should_stop: ShouldStop,
    ) -> list[Any]:
        return list(backtest.run_trials(spec, trial_ids, on_trial, should_stop))

    def render_parts(self, spec: JobSpec) -> list[Any]:
        return list(backtest.RENDER_TASKS)

    def render_outputs(
        self,
        spec: JobSpec,
        results: list[Any],
        token: str,
        timings: dict[str, float],
        part: Any,
    ) -> OutputPairs:
        return backtest.render_outputs(spec, results, token, timings, part)

    def staging_dirs(self, spec: JobSpec, token: str) -> list[Path]:
        return backtest.staging_dirs(spec, token)
