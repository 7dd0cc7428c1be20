"""The Monte Carlo backtest as a job kind, adapting ``pytaaad.backtest.job``.

``pytaaad.backtest.job`` brings numpy, pandas and matplotlib along (about a second to
import), so each method imports it when first called: a daemon that has not run a
Monte Carlo job, and the workers of one that runs only test jobs, never pay for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytaaad.config import load_settings
from pytaaad.kinds import OnTrial, OutputPairs, PreparedJob, ShouldStop

if TYPE_CHECKING:
    from pytaaad.backtest.job import JobSpec

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
        from pytaaad.backtest import job as backtest

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
        from pytaaad.backtest import job as backtest

        return backtest.trial_chunks(spec, workers)

    def run_trials(
        self,
        spec: JobSpec,
        trial_ids: list[int],
        on_trial: OnTrial,
        should_stop: ShouldStop,
    ) -> list[Any]:
        from pytaaad.backtest import job as backtest

        return list(backtest.run_trials(spec, trial_ids, on_trial, should_stop))

    def render_parts(self, spec: JobSpec) -> list[Any]:
        from pytaaad.backtest import job as backtest

        return list(backtest.RENDER_TASKS)

    def render_outputs(
        self,
        spec: JobSpec,
        results: list[Any],
        token: str,
        timings: dict[str, float],
        part: Any,
    ) -> OutputPairs:
        from pytaaad.backtest import job as backtest

        return backtest.render_outputs(spec, results, token, timings, part)

    def staging_dirs(self, spec: JobSpec, token: str) -> list[Path]:
        from pytaaad.backtest import job as backtest

        return backtest.staging_dirs(spec, token)
