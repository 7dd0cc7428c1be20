"""``pytaaad run CONFIG``: one Monte Carlo job in the foreground, without a daemon."""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import NoReturn

from tqdm import tqdm

from pytaaad import lifeline, staging
from pytaaad.backtest import job
from pytaaad.backtest.job import JobSpec, TrialResult
from pytaaad.config import load_settings
from pytaaad.errors import ConfigError, PytaaadError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
TASKS_PER_WORKER = 6
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytaaad run",
        description=(
            "Run the Monte Carlo backtest of one PyTAAA config in the foreground and "
            "write its outputs (PNGs and report to Valuation.webpage, values, CSV and "
            "summary to Valuation.performance_store). No daemon needed."
        ),
    )
    parser.add_argument("config", type=Path, help="PyTAAA JSON config file")
    parser.add_argument(
        "--trials", type=_positive, help="number of trials (default: config, else 51)"
    )
    parser.add_argument(
        "--seed", type=_non_negative, help="random seed (default: config, else random)"
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=os.cpu_count() or 1,
        help="worker processes (default: CPU count; 1 runs everything in this process)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the progress bar"
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=LOG_LEVELS,
        help="DEBUG, INFO, WARNING (default) or ERROR",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(args.config)
        spec = job.make_spec(settings, args.trials, args.seed)
    except ConfigError as exc:
        print(f"pytaaad run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # SIGTERM unwinds like ^C, so that staging folders are removed on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        job.check_output_folders(settings)
        outputs = run_job(spec, args.workers, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            "pytaaad run: interrupted; previous outputs left as they were",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except PytaaadError as exc:
        print(f"pytaaad run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        print(f"{spec.trials} trials, seed {spec.seed}")
        for path in outputs:
            print(path)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (head, say) went away; stop writing without a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_job(spec: JobSpec, workers: int, progress: bool = False) -> list[Path]:
    """Run every trial, render and publish the outputs; return the published paths.

    With one worker everything runs in this process; otherwise in a process pool,
    trials in chunks and the two figures at once.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    token = staging.staging_token(staging.RUN_TOKEN_PREFIX)
    bar = tqdm(total=spec.trials, unit="trial", disable=not progress, file=sys.stderr)
    with bar:
        try:
            if workers == 1:
                results = job.run_trials(
                    spec, range(spec.trials), on_trial=lambda _: _advance(bar)
                )
                timings["trials_seconds"] = time.perf_counter() - started
                bar.set_postfix_str("rendering")
                pairs = job.render_outputs(spec, results, token, timings)
            else:
                pairs = _in_pool(spec, workers, token, timings, bar)
        except BaseException:
            job.discard_staging(job.staging_dirs(spec, token))
            raise
    job.publish_outputs(pairs)
    return [final for _, final in pairs]


def _in_pool(
    spec: JobSpec,
    workers: int,
    token: str,
    timings: dict[str, float],
    bar: tqdm[NoReturn],
) -> list[tuple[Path, Path]]:
    started = time.perf_counter()
    with _pool(workers) as pool:
        results = _run_trials(pool, spec, workers, bar.update)
        timings["trials_seconds"] = time.perf_counter() - started
        bar.set_postfix_str("rendering")
        renders = [
            pool.submit(job.render_outputs, spec, results, token, timings, parts)
            for parts in job.RENDER_TASKS
        ]
        return [pair for future in renders for pair in future.result()]


def _advance(bar: tqdm[NoReturn]) -> None:
    bar.update(1)


def _run_trials(
    pool: Executor, spec: JobSpec, workers: int, advance: Callable[[int], object]
) -> list[TrialResult]:
    size = max(1, math.ceil(spec.trials / (workers * TASKS_PER_WORKER)))
    chunks = job.trial_chunks(spec, workers, chunk_size=size)
    futures: list[Future[list[TrialResult]]] = [
        pool.submit(job.run_trials, spec, chunk) for chunk in chunks
    ]
    results: list[TrialResult] = []
    try:
        for future in as_completed(futures):
            chunk_results = future.result()
            results.extend(chunk_results)
            advance(len(chunk_results))
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results


def _pool(workers: int) -> ProcessPoolExecutor:
    for name in SINGLE_THREAD_ENV:
        os.environ.setdefault(name, "1")
    # The fork server, started with the pool, reads this to die with this process.
    # Set before runguard is first imported here, so that its import-time check sees
    # this process's own pid (not one inherited) and leaves this process alone.
    os.environ[lifeline.RUN_PID_ENV] = str(os.getpid())
    from pytaaad.runguard import tie_to_fork_server

    context = multiprocessing.get_context("forkserver")
    # Import the numeric stack once in the fork server rather than in every worker.
    context.set_forkserver_preload(["pytaaad.runguard", "pytaaad.backtest.job"])
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=tie_to_fork_server
    )


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value
