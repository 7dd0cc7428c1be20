"""Tests for pytaaad.backtest.metrics on hand-computed series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytaaad.backtest import metrics


def test_statistics_of_a_four_day_series() -> None:
    """CAGR, total return, Sharpe and drawdowns of 100, 110, 99, 121."""
    stats = metrics.window_statistics(np.array([[100.0, 110.0, 99.0, 121.0]]))
    assert list(stats) == ["Life"]
    life = {name: float(v[0]) for name, v in stats["Life"].items()}
    returns = np.array([0.1, -0.1, 22 / 99])
    assert life["total_return"] == pytest.approx(0.21)
    assert life["cagr"] == pytest.approx(1.21 ** (252 / 3) - 1)
    assert life["sharpe"] == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(252)
    )
    assert life["max_drawdown"] == pytest.approx(-0.1)
    assert life["avg_drawdown"] == pytest.approx(-0.025)


def test_windows_cover_only_what_the_history_holds() -> None:
    """A 300-day history has Life, 1Y and shorter windows, no multi-year ones."""
    assert list(metrics.window_days(300)) == ["Life", "1Y", "6M", "3M", "1M"]
    assert metrics.window_days(300)["Life"] == 299
    assert "15Y" in metrics.window_days(15 * 252 + 1)


def test_window_uses_last_n_returns_and_restarts_the_peak() -> None:
    """The 1M window sees only its own 21 returns and its own running maximum."""
    values = np.concatenate((np.full(10, 200.0), np.linspace(100.0, 121.0, 22)))
    stats = metrics.window_statistics(values[None, :])
    assert stats["1M"]["total_return"][0] == pytest.approx(0.21)
    assert stats["1M"]["max_drawdown"][0] == pytest.approx(0.0)
    assert stats["Life"]["max_drawdown"][0] == pytest.approx(-0.5)


def test_flat_series_has_no_sharpe() -> None:
    """A series that never moves has an undefined (NaN) Sharpe ratio."""
    stats = metrics.window_statistics(np.full((1, 30), 10_000.0))
    assert np.isnan(stats["Life"]["sharpe"][0])
    assert stats["Life"]["cagr"][0] == 0.0


def test_daily_band_is_percentiles_over_trials() -> None:
    """The band holds the 5th, 50th and 95th percentile of each day's values."""
    values = np.arange(1.0, 102.0)[:, None] * np.array([1.0, 2.0])
    band = metrics.daily_band(values)
    np.testing.assert_allclose(band[:, 0], [6.0, 51.0, 96.0])
    np.testing.assert_allclose(band[:, 1], [12.0, 102.0, 192.0])


def test_spread_ignores_nan_samples() -> None:
    """The spread summary skips NaN and reports count, mean and extremes."""
    summary = metrics.spread(np.array([1.0, np.nan, 3.0, 2.0]))
    assert summary["count"] == 3
    assert summary["p50"] == 2.0
    assert summary["mean"] == 2.0
    assert (summary["min"], summary["max"]) == (1.0, 3.0)
    assert metrics.spread(np.array([np.nan])) == {"count": 0}
