"""Tests for pytaaad.backtest.market on tiny hand-checkable tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytaaad.backtest.market import (
    clean_prices,
    daily_gains,
    legacy_zero_end,
    month_keys,
    prepare_market,
    quality_mask,
    rebalance_days,
)
from pytaaad.backtest.quotes import Quotes

NAN = np.nan


def test_cleaning_holds_prices_without_looking_ahead() -> None:
    """Gaps hold the last price; before the first quote the first price holds."""
    raw = np.array([[NAN, 2.0, NAN, 4.0, NAN], [1.0, NAN, NAN, 4.0, 5.0]])
    cleaned = clean_prices(raw)
    np.testing.assert_allclose(cleaned[0], [2.0, 2.0, 2.0, 4.0, 4.0])
    np.testing.assert_allclose(cleaned[1], [1.0, 1.0, 1.0, 4.0, 5.0])


def test_legacy_cleaning_interpolates_inside_a_life() -> None:
    """The legacy cleaning fills gaps linearly, from the next quote too."""
    raw = np.array([[NAN, 2.0, NAN, 4.0, NAN], [1.0, NAN, NAN, 4.0, 5.0]])
    cleaned = clean_prices(raw, interpolate=True)
    np.testing.assert_allclose(cleaned[0], [2.0, 2.0, 3.0, 4.0, 4.0])
    np.testing.assert_allclose(cleaned[1], [1.0, 2.0, 3.0, 4.0, 5.0])


def test_gains_are_one_on_day_zero_and_for_bad_ratios() -> None:
    """gain[t] = P[t] / P[t-1]; day 0 and non-finite ratios are 1."""
    prices = np.array([[2.0, 3.0, 6.0], [NAN, NAN, NAN]])
    np.testing.assert_allclose(daily_gains(prices), [[1.0, 1.5, 2.0], [1.0, 1.0, 1.0]])


def test_quality_mask_zeroes_flat_and_mostly_still_windows() -> None:
    """Windows with a flat price, or with fewer than half the days moving, fail."""
    window = 4
    gains = np.ones((3, 8))
    gains[1, 1:] = [1.01, 0.99, 1.02, 0.98, 1.01, 0.99, 1.02]
    gains[2, 1:] = [1.01, 1.0, 1.0, 1.0, 1.0, 0.99, 1.02]
    mask = quality_mask(gains, window)
    assert mask[:, : window - 1].all(), "days before a full window always pass"
    assert not mask[0, window - 1 :].any()
    assert mask[1].all()
    # row 2 moves on days 1, 6 and 7 only; a window needs 2 of its 4 gains moving,
    # which only the window of days 4..7 has.
    np.testing.assert_array_equal(mask[2, 3:], [False, False, False, False, True])


def test_legacy_zero_end_is_first_change_minus_one() -> None:
    """The slice end is the first day whose gain moves, minus one (doc §12 C1)."""
    gains = np.ones((3, 6))
    gains[0, 4] = 1.05
    gains[1, 1] = 0.98
    assert list(legacy_zero_end(gains)) == [3, 0, -1]


def test_rebalance_days_are_anchored_at_january() -> None:
    """Every month for 1; Jan/Apr/Jul/Oct for 3; day 0 is never one."""
    dates = np.array(
        [
            "2020-01-02",
            "2020-01-03",
            "2020-02-03",
            "2020-03-02",
            "2020-04-01",
            "2020-04-02",
            "2020-07-01",
            "2021-01-04",
        ],
        dtype="datetime64[D]",
    )
    keys = month_keys(dates)
    assert list(rebalance_days(keys, 1)) == [2, 3, 4, 6, 7]
    assert list(rebalance_days(keys, 3)) == [4, 6, 7]
    assert list(rebalance_days(keys, 12)) == [7]


def _quotes(prices: np.ndarray) -> Quotes:
    dates = np.datetime64("2020-01-01") + np.arange(prices.shape[1])
    symbols = (*(f"S{i}" for i in range(prices.shape[0] - 1)), "CASH")
    return Quotes(Path("x.csv"), dates, symbols, prices, synthetic_cash=True)


def test_market_listing_and_buy_and_hold() -> None:
    """Listing spans first to last real quote; buy-and-hold averages symbol values."""
    prices = np.array(
        [[NAN, 10.0, 20.0, NAN], [4.0, 4.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0]]
    )
    market = prepare_market(_quotes(prices), window_size=1)
    np.testing.assert_array_equal(market.listed[0], [False, True, True, False])
    np.testing.assert_array_equal(market.listed_count(), [1, 2, 2, 1])
    # Quotes that stop within the filter window of the end are late, not delisted.
    recent = prepare_market(_quotes(prices), window_size=2)
    np.testing.assert_array_equal(recent.listed[0], [False, True, True, True])
    # S0 doubles from its listing, S1 halves: (20000 + 5000) / 2; CASH joins in legacy.
    assert market.buy_and_hold(legacy=False)[-1] == pytest.approx(12_500.0)
    assert market.buy_and_hold(legacy=True)[-1] == pytest.approx(35_000.0 / 3)
    np.testing.assert_allclose(market.growth[0], [1.0, 1.0, 2.0, 2.0])
