"""Tests for pytaaad.backtest.portfolio on hand-computed books."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytaaad.backtest import portfolio
from pytaaad.backtest.market import Market, prepare_market
from pytaaad.backtest.quotes import Quotes

A, B, CASH = 0, 1, 2


def _market(a: list[float], b: list[float]) -> Market:
    prices = np.array([a, b, [1.0] * len(a)])
    dates = np.datetime64("2022-01-03") + np.arange(len(a))
    return prepare_market(Quotes(Path("x"), dates, ("A", "B", "CASH"), prices, True), 2)


def _targets(*columns: list[float]) -> np.ndarray:
    return np.array(columns, dtype=float).T


def test_causal_trade_pays_cost_and_earns_from_next_day() -> None:
    """Bought at day 2's close for $7.95, the book earns days 3 and 4 only."""
    market = _market([10, 10, 11, 12.1, 13.31], [5, 5, 5, 5, 5])
    trades = portfolio.causal_trades(np.array([2]), _targets([1, 0, 0]), CASH, 7.95)
    values = portfolio.simulate(market, trades, portfolio.cash_start(5))
    expected = 10_000 - 7.95
    np.testing.assert_allclose(
        values, [10_000, 10_000, expected, expected * 1.1, expected * 1.21]
    )


def test_legacy_trade_earns_the_days_own_gain() -> None:
    """Legacy weights of day t earn day t's gain (B7) and count CASH as a trade."""
    market = _market([10, 10, 11, 11, 11], [5, 5, 5, 5, 5])
    before = _targets([0, 0, 1])
    after = _targets([1, 0, 0])
    trades = portfolio.legacy_trades(np.array([2]), before, after, 7.95)
    values = portfolio.simulate(market, trades, portfolio.cash_start(5))
    base = 10_000 - 2 * 7.95
    np.testing.assert_allclose(
        values, [10_000, 10_000, base * 1.1, base * 1.1, base * 1.1]
    )


def test_unchanged_targets_do_not_trade_and_positions_drift() -> None:
    """A rebalance day whose targets equal the last ones neither trades nor pays."""
    market = _market([10, 10, 20, 20, 20], [10, 10, 10, 10, 10])
    targets = _targets([0.5, 0.5, 0], [0.5, 0.5, 0])
    trades = portfolio.causal_trades(np.array([1, 3]), targets, CASH, 1.0)
    assert list(trades.days) == [1]
    values = portfolio.simulate(market, trades, portfolio.cash_start(5))
    base = 10_000 - 2.0
    # A doubled on day 2 and the book was not reset on day 3: 2/3 of it is A.
    np.testing.assert_allclose(values[2:], [base * 1.5] * 3)


def test_cost_counts_every_stock_whose_target_changed() -> None:
    """Going from A to a 50/50 A/B book resizes A and buys B: two paid trades."""
    trades = portfolio.causal_trades(
        np.array([1, 2]), _targets([1, 0, 0], [0.5, 0.5, 0]), CASH, 3.0
    )
    np.testing.assert_allclose(trades.costs, [3.0, 6.0])


def test_value_never_goes_below_zero() -> None:
    """A cost larger than the book leaves it at zero instead of negative."""
    market = _market([10, 10, 10], [5, 5, 5])
    trades = portfolio.causal_trades(np.array([1]), _targets([1, 0, 0]), CASH, 20_000.0)
    values = portfolio.simulate(market, trades, portfolio.cash_start(3))
    assert values[1:].tolist() == [0.0, 0.0]


def test_weights_sum_to_one_per_trade() -> None:
    """Every trade buys weights summing to one."""
    targets = _targets([0.2, 0.8, 0], [0, 0, 1], [0.6, 0.4, 0])
    trades = portfolio.causal_trades(np.array([1, 2, 3]), targets, CASH, 0.0)
    assert trades.weights.sum(axis=0) == pytest.approx([1.0, 1.0, 1.0])
