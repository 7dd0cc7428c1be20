"""Speed of the Monte Carlo engine on the real quotes in ../shared/data.

Prints, for Nasdaq-100 from 1991 with HMAs and S&P 500 with percentile channels:
- load: reading and preparing the quote store once;
- trials/s: 51 trials in this process pinned to one core with one BLAS thread, no
  plots (after the load);
- job: ``runner.run_job`` with a fresh 2-worker pool, 51 trials and every output
  written (pool start, loads in the workers, trials, both PNGs, files);
- command: the whole ``pytaaad run CONFIG`` command, Python's start-up included.

Usage: python benchmarks/bench_engine.py [--trials 51] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

NAZ100 = {
    "stockList": "Naz100",
    "uptrendSignalMethod": "HMAs",
    "numberStocksTraded": 8,
    "monthsToHold": 1,
    "LongPeriod": 245,
    "MA1": 152,
    "MA2": 17,
    "MA3": 21,
    "sma2factor": 2.1440129588219037,
    "trade_cost": 7.95,
    "quotes_file": str(DATA / "naz100_adjclose.csv.gz"),
    "backtest_start": "1991-01-02",
}
SP500 = {
    "stockList": "SP500",
    "uptrendSignalMethod": "percentileChannels",
    "numberStocksTraded": 7,
    "monthsToHold": 1,
    "LongPeriod": 600,
    "lowPct": 17.0,
    "hiPct": 84.0,
    "minperiod": 4,
    "maxperiod": 12,
    "incperiod": 3,
    "trade_cost": 0.0,
    "quotes_file": str(DATA / "sp500_adjclose.csv.gz"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=51)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="end-to-end runs")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no real quotes at {DATA}; nothing to measure")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        for name, valuation in (("Naz100 HMAs", NAZ100), ("S&P 500 pctch", SP500)):
            config = _config(Path(folder), name, valuation)
            _measure(name, config, args.trials, args.workers, args.repeat)
    return 0


def _config(folder: Path, name: str, valuation: dict[str, object]) -> Path:
    slug = name.split(maxsplit=1)[0].lower().replace("&", "")
    document = {
        "Valuation": {
            **valuation,
            "seed": 1,
            "webpage": str(folder / slug / "web"),
            "performance_store": str(folder / slug / "store"),
        }
    }
    path = folder / f"{slug}.json"
    path.write_text(json.dumps(document))
    return path


def _measure(name: str, config: Path, trials: int, workers: int, repeat: int) -> None:
    # One BLAS thread, as in the workers; numpy reads this when it is first imported.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    from pytaaad.backtest import job
    from pytaaad.config import load_settings
    from pytaaad.runner import run_job

    settings = load_settings(config)
    spec = job.make_spec(settings, trials=trials, seed=1)
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        started = time.perf_counter()
        market = job.load_market(settings)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        job.run_trials(spec, list(range(trials)))
        compute = time.perf_counter() - started
    finally:
        os.sched_setaffinity(0, cores)
    jobs = [_seconds(lambda: run_job(spec, workers)) for _ in range(repeat)]
    command = [sys.executable, "-m", "pytaaad", "run", str(config), "--no-progress"]
    command += ["--trials", str(trials), "--workers", str(workers)]
    runs = [_seconds(lambda: _run(command)) for _ in range(repeat)]
    print(
        f"{name}: {market.n_symbols - 1} symbols x {market.n_days} days | "
        f"load {loaded:.2f} s | {trials} trials on 1 core {compute:.2f} s = "
        f"{trials / compute:.1f} trials/s | {workers} workers, all outputs: "
        f"job {_spread(jobs)}, pytaaad run {_spread(runs)}"
    )
    sys.stdout.flush()


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _spread(values: list[float]) -> str:
    median = statistics.median(values)
    return f"median {median:.2f} s (min {min(values):.2f}, max {max(values):.2f})"


if __name__ == "__main__":
    sys.exit(main())
