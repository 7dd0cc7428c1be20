"""Tests for pytaaad.backtest.ranking: rolling Sharpe, selection and clipping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pytaaad.backtest.market import prepare_market
from pytaaad.backtest.quotes import Quotes
from pytaaad.backtest.ranking import rolling_sharpe, select_weights

NAN = np.nan


def _weights(
    sharpe: list[float], eligible: list[bool], n: int, legacy: bool
) -> np.ndarray:
    table = np.array([*sharpe, 0.0])[:, None]
    mask = np.array([*eligible, False])[:, None]
    return select_weights(table, mask, n, cash_index=len(sharpe), legacy=legacy)[:, 0]


def test_top_n_by_sharpe_with_ties_in_row_order() -> None:
    """The two best eligible stocks win; a tie goes to the earlier row."""
    weights = _weights([2.0, 1.0, 1.0, 5.0], [True, True, True, False], 2, legacy=False)
    np.testing.assert_allclose(weights, [2 / 3, 1 / 3, 0.0, 0.0, 0.0])


def test_weights_are_clipped_once_then_renormalised() -> None:
    """Raw Sharpe shares [10, 1, 1]/12 are clipped to [0.1, 0.9] and rescaled once."""
    weights = _weights([10.0, 1.0, 1.0], [True] * 3, 3, legacy=False)
    clipped = np.array([10 / 12, 0.1, 0.1])
    np.testing.assert_allclose(weights[:3], clipped / clipped.sum())
    assert weights.sum() == pytest.approx(1.0)


def test_negative_sharpe_sum_is_not_inverted_by_default() -> None:
    """All-negative picks get equal weights by default; legacy inverts them (B32)."""
    default = _weights([-1.0, -3.0], [True, True], 2, legacy=False)
    legacy = _weights([-1.0, -3.0], [True, True], 2, legacy=True)
    np.testing.assert_allclose(default[:2], [0.5, 0.5])
    np.testing.assert_allclose(legacy[:2], [0.25, 0.75])


def test_nothing_eligible_means_all_cash() -> None:
    """With no eligible stock the whole book is CASH."""
    weights = _weights([1.0, 2.0], [False, False], 2, legacy=False)
    np.testing.assert_array_equal(weights, [0.0, 0.0, 1.0])


def test_at_most_twenty_stocks_are_held() -> None:
    """numberStocksTraded above 20 is clamped to 20."""
    sharpe = list(np.linspace(1.0, 2.0, 30))
    weights = _weights(sharpe, [True] * 30, 25, legacy=False)
    assert np.count_nonzero(weights) == 20
    assert weights.sum() == pytest.approx(1.0)


def _market(prices: np.ndarray):
    dates = np.datetime64("2021-01-01") + np.arange(prices.shape[1])
    rows = np.vstack((prices, np.ones(prices.shape[1])))
    symbols = (*(f"S{i}" for i in range(prices.shape[0])), "CASH")
    return prepare_market(Quotes(Path("x"), dates, symbols, rows, True), window_size=5)


@pytest.mark.parametrize("legacy", [False, True])
def test_rolling_sharpe_matches_direct_computation(legacy: bool) -> None:
    """Sharpe = mean / std (ddof 1) * sqrt(252) over LP (legacy LP + 1) returns to t."""
    rng = np.random.default_rng(2)
    prices = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (2, 60)), axis=1))
    market = _market(prices)
    period = 10
    days = np.arange(60, dtype=np.int64)
    sharpe = rolling_sharpe(market, days, period, legacy)
    returns = market.gains[0] - 1.0
    count = period + 1 if legacy else period
    for t in range(period + 1, 60):
        window = returns[t - count + 1 : t + 1]
        expected = window.mean() / window.std(ddof=1) * math.sqrt(252)
        assert sharpe[0, t] == pytest.approx(expected, rel=1e-10)
    assert (sharpe[-1] == 0).all() if legacy else np.isnan(sharpe[-1]).all()


def test_sharpe_needs_real_history_by_default() -> None:
    """A stock listed for fewer than LP days has no Sharpe (legacy: zero early on)."""
    rng = np.random.default_rng(4)
    prices = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (1, 40)), axis=1))
    prices[0, :15] = NAN
    market = _market(prices)
    days = np.arange(40, dtype=np.int64)
    sharpe = rolling_sharpe(market, days, 10, legacy=False)
    assert np.isnan(sharpe[0, :24]).all()
    assert np.isfinite(sharpe[0, 25:]).all()
    assert (rolling_sharpe(market, days, 10, legacy=True)[0, :10] == 0).all()
