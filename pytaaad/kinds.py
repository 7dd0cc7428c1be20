"""The job-kind interface: what a kind of job gives the daemon and its workers.

A kind is a stateless, picklable object. The daemon calls ``prepare`` (cheap, on the
event loop) and ``chunks``; workers call ``run_trials`` once per chunk and
``render_outputs`` once per render part; the daemon then publishes or discards what
was rendered. The Monte Carlo backtest (``pytaaad.montecarlo``) and the controllable
test job (``pytaaad.testjob``) implement it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

SpecT = TypeVar("SpecT")
OnTrial = Callable[[int], None]
ShouldStop = Callable[[], bool]
OutputPairs = list[tuple[Path, Path]]


@dataclass(frozen=True)
class PreparedJob(Generic[SpecT]):
    """What the daemon learns from a config before it queues a job.

    ``spec`` travels to the workers; ``data_fingerprint`` is a cheap identity of the
    input data, used with ``config_sha256`` to decide freshness.
    """

    spec: SpecT
    config_sha256: str
    data_fingerprint: Mapping[str, object]
    freshness_hours: float
    trials: int
    output_dirs: tuple[Path, ...]


class JobKind(Protocol[SpecT]):
    """A kind of job the daemon can run."""

    @property
    def name(self) -> str:
        """The value of a submit's ``kind`` field that selects this kind."""
        ...

    def prepare(
        self, config: Path, trials: int | None, seed: int | None
    ) -> PreparedJob[SpecT]:
        """Load and validate ``config``; raise ConfigError with a clear message."""
        ...

    def chunks(self, spec: SpecT, workers: int) -> list[list[int]]:
        """Split the trial ids into tasks for ``workers`` processes."""
        ...

    def run_trials(
        self,
        spec: SpecT,
        trial_ids: list[int],
        on_trial: OnTrial,
        should_stop: ShouldStop,
    ) -> list[Any]:
        """Run trials in a worker; check ``should_stop`` before each one.

        Calls ``on_trial(trial_id)`` after each trial and raises JobStopped when asked
        to stop. The results must be picklable.
        """
        ...

    def render_parts(self, spec: SpecT) -> list[Any]:
        """The render tasks, run at once: one picklable part for each."""
        ...

    def render_outputs(
        self,
        spec: SpecT,
        results: list[Any],
        token: str,
        timings: dict[str, float],
        part: Any,
    ) -> OutputPairs:
        """Write one part of the outputs into ``staging_dirs(spec, token)``.

        ``results`` holds every trial's result in trial order. Returns (staged, final)
        path pairs.
        """
        ...

    def staging_dirs(self, spec: SpecT, token: str) -> list[Path]:
        """The folders ``render_outputs`` writes into, to discard when not published."""
        ...
