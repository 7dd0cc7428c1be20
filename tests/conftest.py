"""Shared fixtures: synthetic quote stores, config files and the real shared data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

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
