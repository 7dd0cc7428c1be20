"""The Monte Carlo job as the daemon and ``pytaaad run`` see it: plan, trials, outputs.

Everything here is picklable and free of asyncio, so it runs in any worker process:

1. ``make_spec(settings, trials, seed)`` in the parent: cheap, fixes the seed.
2. ``run_trials(spec, trial_ids, on_trial, should_stop)`` in workers, once per chunk.
3. ``render_outputs(spec, results, staging)`` in a worker: writes every output file into
   staging directories next to their final places and returns (staged, final) pairs.
4. ``publish_outputs(pairs)`` in the parent: ``os.replace`` each file into place, only
   for the current generation of a job.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pytaaad.backtest import report, trials
from pytaaad.backtest.market import Market, prepare_market
from pytaaad.backtest.quotes import load_quotes
from pytaaad.config import Settings, StrategyParams
from pytaaad.errors import ConfigError, JobStopped, OutputError, QuoteDataError
from pytaaad.protocol import MAX_SEED, MAX_TRIALS
from pytaaad.staging import STAGING_PREFIX, discard_stale

logger = logging.getLogger(__name__)

PREVIOUS_PREFIX = ".previous-"
MARKETS_PER_PROCESS = 2
PLANS_PER_PROCESS = 8
MIN_TRADING_DAYS_AFTER_WARMUP = 21

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class JobSpec:
    """One Monte Carlo job: validated settings, trial count and seed."""

    settings: Settings
    trials: int
    seed: int


def make_spec(
    settings: Settings, trials: int | None = None, seed: int | None = None
) -> JobSpec:
    """Fix the trial count and seed: the request wins, then the config, then random.

    Raises ConfigError for a trial count or seed outside the protocol's ranges.
    """
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(f"trials must be from 1 to {MAX_TRIALS}, got {trials}")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be from 0 to {MAX_SEED}, got {seed}")
    chosen_seed = seed if seed is not None else settings.seed
    if chosen_seed is None:
        chosen_seed = secrets.randbits(63)
    return JobSpec(
        settings=settings,
        trials=trials if trials is not None else settings.trials,
        seed=chosen_seed,
    )


def trial_chunks(
    spec: JobSpec, workers: int, chunk_size: int | None = None
) -> list[list[int]]:
    """Split trial ids into chunks for workers; trial 0 (the config) comes first."""
    size = chunk_size or max(1, min(4, spec.trials // max(1, workers * 4)))
    ids = list(range(spec.trials))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def staging_dirs(spec: JobSpec, token: str) -> list[Path]:
    """The staging directories ``render_outputs`` writes into, one per output folder."""
    settings = spec.settings
    folders = dict.fromkeys([settings.webpage, settings.performance_store])
    return [folder / f"{STAGING_PREFIX}{token}" for folder in folders]


RENDER_TASKS: tuple[tuple[str, ...], ...] = (("full",), ("recent", "files"))


def publish_outputs(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Move staged files into place with ``os.replace``, all of them or none.

    Each file it replaces is first linked into the staging folder, so that when a
    later move fails the earlier ones are undone. The staging folders are removed in
    every case. Raises OutputError naming the file that could not be placed.
    """
    staging = {staged.parent for staged, _ in pairs}
    moved: list[tuple[Path, Path | None]] = []
    try:
        blocked = [final for _, final in pairs if final.is_dir()]
        if blocked:
            raise OutputError(f"cannot write {blocked[0]}: it is a directory")
        for staged, final in pairs:
            backup = _keep_previous(final, staged.parent)
            os.replace(staged, final)
            moved.append((final, backup))
    except OSError as exc:
        _undo(moved)
        raise OutputError(f"cannot move outputs into place: {exc}") from exc
    finally:
        discard_staging(staging)


def _keep_previous(final: Path, staging: Path) -> Path | None:
    if not final.exists():
        return None
    backup = staging / f"{PREVIOUS_PREFIX}{final.name}"
    try:
        os.link(final, backup)
    except OSError:
        shutil.copy2(final, backup)
    return backup


def _undo(moved: list[tuple[Path, Path | None]]) -> None:
    for final, backup in reversed(moved):
        with contextlib.suppress(OSError):
            if backup is None:
                final.unlink()
            else:
                os.replace(backup, final)


def check_output_folders(settings: Settings) -> None:
    """Create the output folders if needed; raise OutputError unless both are
    writable, so that a run fails before its trials rather than after them.
    """
    for folder in dict.fromkeys([settings.webpage, settings.performance_store]):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {folder}: {exc}") from exc
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {folder} is not writable")


def discard_staging(folders: Sequence[Path] | set[Path]) -> None:
    """Remove staging folders of a job that will not publish."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


OnTrial = Callable[[int], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class TrialResult:
    """One finished trial: its parameters, daily values (n_days,) in dollars, number
    of trades, and the weights bought at its last trade, by symbol.
    """

    trial: int
    params: StrategyParams
    values: FloatArray
    trades: int
    last_trade_day: int
    holdings: tuple[tuple[str, float], ...]
    seconds: float


def quote_fingerprint(settings: Settings) -> dict[str, object]:
    """Cheap identity of the quote data (path, size, mtime), for freshness checks."""
    stat = settings.quotes_file.stat()
    return {
        "path": str(settings.quotes_file),
        "key": settings.quotes_key,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "backtest_start": str(settings.backtest_start)
        if settings.backtest_start
        else None,
    }


def run_trials(
    spec: JobSpec,
    trial_ids: Sequence[int],
    on_trial: OnTrial | None = None,
    should_stop: ShouldStop | None = None,
) -> list[TrialResult]:
    """Run the given trials of ``spec`` in this process.

    Checks ``should_stop`` before each trial and raises JobStopped when it says so;
    calls ``on_trial(trial_id)`` after each one.
    """
    settings = spec.settings
    market = load_market(settings)
    plan = trial_plan(spec)
    check_history(market, plan, settings)
    results = []
    for trial in trial_ids:
        if should_stop is not None and should_stop():
            raise JobStopped(f"stopped before trial {trial}")
        started = time.perf_counter()
        run = trials.run_trial(market, settings, plan[trial])
        results.append(
            TrialResult(
                trial=trial,
                params=plan[trial],
                values=run.values,
                trades=run.trades,
                last_trade_day=run.last_trade_day,
                holdings=_holdings(market, run.last_weights),
                seconds=time.perf_counter() - started,
            )
        )
        if on_trial is not None:
            on_trial(trial)
    return results


@functools.lru_cache(maxsize=PLANS_PER_PROCESS)
def trial_plan(spec: JobSpec) -> tuple[StrategyParams, ...]:
    """The parameters of every trial of ``spec`` (trial 0: the config), memoised so
    that each chunk of a job does not draw the whole plan again.
    """
    return tuple(trials.plan_trials(spec.settings, spec.trials, spec.seed))


def check_history(
    market: Market, plan: Sequence[StrategyParams], settings: Settings
) -> None:
    """Refuse a history shorter than any trial's longest look-back plus a month."""
    needed = max(trials.longest_window(p, settings.window_size) for p in plan)
    needed += MIN_TRADING_DAYS_AFTER_WARMUP
    if market.n_days < needed:
        quotes = market.quotes
        raise QuoteDataError(
            f"quote store {quotes.path}: {market.n_days} trading days "
            f"({quotes.first_date} to {quotes.last_date}) are too few for this config; "
            f"its trials' longest look-back (with the perturbed parameters) needs at "
            f"least {needed}"
        )


def load_market(settings: Settings) -> Market:
    """The prepared market for ``settings``, cached per process by file identity."""
    fingerprint = quote_fingerprint(settings)
    legacy = settings.legacy_lookahead
    key = (tuple(sorted(fingerprint.items())), settings.window_size, legacy)
    market = _MARKETS.get(key)
    if market is not None:
        _MARKETS.move_to_end(key)
        return market
    quotes = load_quotes(
        settings.quotes_file, settings.quotes_key, settings.backtest_start
    )
    market = prepare_market(quotes, settings.window_size, legacy)
    _MARKETS[key] = market
    while len(_MARKETS) > MARKETS_PER_PROCESS:
        _MARKETS.popitem(last=False)
    logger.info(
        "loaded %s: %d symbols, %d days to %s",
        settings.quotes_file,
        market.n_symbols - 1,
        market.n_days,
        quotes.last_date,
    )
    return market


def _holdings(market: Market, weights: FloatArray) -> tuple[tuple[str, float], ...]:
    held = np.flatnonzero(weights)
    order = held[np.argsort(-weights[held], kind="stable")]
    return tuple((market.quotes.symbols[i], float(weights[i])) for i in order)


_MARKETS: OrderedDict[tuple[object, ...], Market] = OrderedDict()


def render_outputs(
    spec: JobSpec,
    results: Sequence[TrialResult],
    token: str,
    timings: dict[str, float],
    parts: Sequence[str] = report.PARTS,
) -> list[tuple[Path, Path]]:
    """Write the outputs of a finished job into its staging folders.

    Returns (staged, final) path pairs for ``publish_outputs``. ``parts`` picks a
    subset (see ``report.write_all``) so that separate workers can render the two
    figures and the files at once. On any error the staging folders are removed and
    the published outputs are untouched.
    """
    settings = spec.settings
    market = load_market(settings)
    folders = staging_dirs(spec, token)
    try:
        for folder in folders:
            discard_stale(folder.parent)
            folder.mkdir(parents=True, exist_ok=True)
        run = report.Run(
            settings=settings,
            market=market,
            seed=spec.seed,
            results=sorted(results, key=lambda r: r.trial),
            timings=timings,
        )
        return report.write_all(run, folders[0], folders[-1], parts)
    except OSError as exc:
        discard_staging(folders)
        raise OutputError(f"cannot write the outputs: {exc}") from exc
    except BaseException:
        discard_staging(folders)
        raise
