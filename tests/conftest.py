"""Shared fixtures: synthetic quote stores, configs, the real shared data, daemons.

Daemon fixtures start real daemons on sockets under tmp_path and always stop them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import DaemonProcess

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"
GOLDEN = SHARED / "golden" / "naz100"

BASE_VALUATION: dict[str, Any] = {
    "stockList": "Naz100",
    "uptrendSignalMethod": "HMAs",
    "numberStocksTraded": 3,
    "monthsToHold": 1,
    "LongPeriod": 60,
    "MA1": 40,
    "MA2": 8,
    "MA3": 12,
    "sma2factor": 1.1,
    "lowPct": 20.0,
    "hiPct": 80.0,
    "trade_cost": 7.95,
    "window_size": 20,
    "montecarlo_trials": 6,
    "seed": 1,
}


def random_walk(n_symbols: int, n_days: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic daily closes: geometric random walks on business days from 2015."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0004, 0.0003, n_symbols)
    returns = rng.normal(drift, 0.015, (n_days, n_symbols))
    prices = 50.0 * np.exp(np.cumsum(returns, axis=0))
    dates = pd.bdate_range("2015-01-02", periods=n_days)
    columns = [f"S{i:02d}" for i in range(n_symbols)]
    return pd.DataFrame(np.round(prices, 4), index=dates, columns=columns)


@pytest.fixture
def synthetic_frame() -> pd.DataFrame:
    """Eight stocks over 900 days; S07 lists late and S06 is delisted early."""
    frame = random_walk(8, 900, seed=3)
    frame.iloc[:150, 7] = np.nan
    frame.iloc[700:, 6] = np.nan
    return frame


@pytest.fixture
def synthetic_store(tmp_path: Path, synthetic_frame: pd.DataFrame) -> Path:
    """The synthetic frame as a wide CSV.gz quote store."""
    path = tmp_path / "quotes.csv.gz"
    synthetic_frame.rename_axis("date").to_csv(path)
    return path


ConfigFactory = Callable[..., Path]


@pytest.fixture
def make_config(tmp_path: Path, synthetic_store: Path) -> ConfigFactory:
    """Write a config for the synthetic store; keyword arguments override Valuation."""

    def factory(name: str = "config.json", **overrides: Any) -> Path:
        valuation = {
            **BASE_VALUATION,
            "quotes_file": str(synthetic_store),
            "webpage": str(tmp_path / "out" / "web"),
            "performance_store": str(tmp_path / "out" / "store"),
            **overrides,
        }
        valuation = {k: v for k, v in valuation.items() if v is not None}
        path = tmp_path / name
        path.write_text(json.dumps({"Valuation": valuation}))
        return path

    return factory


@pytest.fixture
def shared_data() -> Path:
    """The real quote files in ../shared/data; the test is skipped without them."""
    if not (SHARED_DATA / "naz100_adjclose.csv.gz").is_file():
        pytest.skip("real quotes not found in ../shared/data")
    return SHARED_DATA


@pytest.fixture
def golden() -> Path:
    """The legacy program's golden outputs; skipped when absent or without PyTables."""
    pytest.importorskip("tables")
    if not (GOLDEN / "naz100_hma.mc.params").is_file():
        pytest.skip("golden files not found in ../shared/golden")
    return GOLDEN


StartDaemon = Callable[..., DaemonProcess]


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[StartDaemon]:
    """Start daemons on demand; each is shut down after the test, and must exit 0."""
    started: list[DaemonProcess] = []

    def start(*extra: str, **options: Any) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, *extra, **options)
        started.append(daemon)
        return daemon

    yield start
    failures = []
    for daemon in started:
        was_running = daemon.process.poll() is None
        code = daemon.stop()
        if was_running and code != 0:
            failures.append(f"daemon {daemon.pid} exited {code}:\n{daemon.log()}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> DaemonProcess:
    """One daemon with two workers that runs test jobs."""
    return start_daemon()


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """The folder the daemon accepts configs from."""
    folder = tmp_path / "configs"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def shared_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One daemon for the tests that neither stop it nor kill its workers."""
    root = tmp_path_factory.mktemp("shared")
    daemon = DaemonProcess(root, roots=(root, root))
    yield daemon
    code = daemon.stop()
    assert code == 0, f"shared daemon exited {code}:\n{daemon.log()}"


@pytest.fixture
def shared_configs(
    shared_daemon: DaemonProcess, request: pytest.FixtureRequest
) -> Path:
    """This test's own config folder within the shared daemon's roots."""
    name = re.sub(r"\W+", "_", request.node.name)
    folder = shared_daemon.root / name / "configs"
    folder.mkdir(parents=True)
    (folder.parent / "out").mkdir()
    return folder
