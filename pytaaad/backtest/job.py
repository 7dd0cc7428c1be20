"""The Monte Carlo job as the daemon and ``pytaaad run`` see it: plan, trials, outputs.

Everything here is picklable and free of asyncio, so it runs in any worker process:

1. ``make_spec(settings, trials, seed)`` in the parent: cheap, fixes the seed.
2. ``run_trials(spec, trial_ids, on_trial, should_stop)`` in workers, one call per chunk.
3. ``render_outputs(spec, results, staging)`` in a worker: writes every output file into
   staging directories next to their final places and returns (staged, final) pairs.
4. ``publish_outputs(pairs)`` in the parent: ``os.replace`` each file into place, only
   for the current generation of a job.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytaaad.config import Settings

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".pytaaad-staging-"


@dataclass(frozen=True)
class JobSpec:
    """One Monte Carlo job: validated settings, trial count and seed."""

    settings: Settings
    trials: int
    seed: int


def make_spec(settings: Settings, trials: int | None = None, seed: int | None = None) -> JobSpec:
    """Fix the trial count and seed: the request wins, then the config, then random."""
    chosen_seed = seed if seed is not None else settings.seed
    if chosen_seed is None:
        chosen_seed = secrets.randbits(63)
    return JobSpec(settings=settings, trials=trials or settings.trials, seed=chosen_seed)


def trial_chunks(spec: JobSpec, workers: int, chunk_size: int | None = None) -> list[list[int]]:
    """Split trial ids into chunks for workers; trial 0 (the config trial) comes first."""
    size = chunk_size or max(1, min(4, spec.trials // max(1, workers * 4)))
    ids = list(range(spec.trials))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def staging_dirs(spec: JobSpec, token: str) -> list[Path]:
    """The staging directories ``render_outputs`` writes into, one per output folder."""
    settings = spec.settings
    folders = dict.fromkeys([settings.webpage, settings.performance_store])
    return [folder / f"{STAGING_PREFIX}{token}" for folder in folders]


def publish_outputs(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Move staged files into place with ``os.replace`` and remove the staging folders."""
    for staged, final in pairs:
        os.replace(staged, final)
    discard_staging({staged.parent for staged, _ in pairs})


def discard_staging(folders: Sequence[Path] | set[Path]) -> None:
    """Remove staging folders of a job that will not publish."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


OnTrial = Callable[[int], None]
ShouldStop = Callable[[], bool]
