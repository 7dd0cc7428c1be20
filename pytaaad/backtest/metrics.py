"""Performance statistics over standard trailing windows, and their spread over trials.

Conventions: a window of n trading days covers the last n daily returns (n + 1
values). CAGR = (end / start) ** (252 / n) - 1. Sharpe = mean / standard deviation
(ddof 1) of daily simple returns times sqrt(252), with a zero risk-free rate. Drawdown
on a day = value / running maximum within the window - 1; the window's maximum
drawdown is its most negative drawdown, the average drawdown its mean.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

TRADING_DAYS_PER_YEAR = 252
WINDOWS: tuple[tuple[str, int | None], ...] = (
    ("Life", None),
    ("15Y", 15 * 252),
    ("10Y", 10 * 252),
    ("5Y", 5 * 252),
    ("3Y", 3 * 252),
    ("2Y", 2 * 252),
    ("1Y", 252),
    ("6M", 126),
    ("3M", 63),
    ("1M", 21),
)
STATISTICS = ("cagr", "total_return", "sharpe", "max_drawdown", "avg_drawdown")
SPREAD_PERCENTILES = (5, 25, 50, 75, 95)

FloatArray = npt.NDArray[np.float64]


def window_days(n_days: int) -> dict[str, int]:
    """The windows a history of ``n_days`` values covers, with their return counts."""
    covered = {}
    for name, days in WINDOWS:
        returns = n_days - 1 if days is None else days
        if 1 <= returns <= n_days - 1:
            covered[name] = returns
    return covered


def window_statistics(values: FloatArray) -> dict[str, dict[str, FloatArray]]:
    """Statistics per covered window for each row of ``values``: (n_series, n_days)
    dollars. Returns {window: {statistic: (n_series,)}}; NaN where undefined.
    """
    return {
        name: _statistics(values[:, -(returns + 1) :], returns)
        for name, returns in window_days(values.shape[1]).items()
    }


def _statistics(values: FloatArray, returns: int) -> dict[str, FloatArray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = values[:, -1] / values[:, 0]
        daily = values[:, 1:] / values[:, :-1] - 1.0
        spread = (
            daily.std(axis=1, ddof=1) if returns > 1 else np.full(len(values), np.nan)
        )
        sharpe = np.where(
            spread > 0,
            daily.mean(axis=1) / spread * math.sqrt(TRADING_DAYS_PER_YEAR),
            np.nan,
        )
        drawdown = values / np.maximum.accumulate(values, axis=1) - 1.0
        return {
            "cagr": growth ** (TRADING_DAYS_PER_YEAR / returns) - 1.0,
            "total_return": growth - 1.0,
            "sharpe": sharpe,
            "max_drawdown": drawdown.min(axis=1),
            "avg_drawdown": drawdown.mean(axis=1),
        }


def daily_band(values: FloatArray) -> FloatArray:
    """5th percentile, median and 95th percentile of value per day over trials:
    (3, n_days) from ``values`` (n_trials, n_days).
    """
    band: FloatArray = np.percentile(values, [5, 50, 95], axis=0)
    return band


def spread(samples: FloatArray) -> dict[str, float | None]:
    """Distribution summary of one statistic over trials (NaN samples ignored)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return {"count": 0}
    summary: dict[str, Any] = {
        f"p{q}": float(v)
        for q, v in zip(
            SPREAD_PERCENTILES, np.percentile(finite, SPREAD_PERCENTILES), strict=True
        )
    }
    summary.update(
        count=int(finite.size),
        mean=float(finite.mean()),
        min=float(finite.min()),
        max=float(finite.max()),
    )
    return summary
