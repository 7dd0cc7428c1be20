"""Tests for pytaaad.backtest.highlow: record counts and causality."""

from __future__ import annotations

import numpy as np

from pytaaad.backtest import highlow

NAN = np.nan


def test_strict_new_lows_and_highs_are_counted() -> None:
    """A close below the previous w-1 closes is a low; above them, a high."""
    prices = np.array([[5.0, 4.0, 3.0, 3.0, 6.0], [1.0, 2.0, 3.0, 4.0, NAN]])
    frame = highlow.pd.DataFrame(prices.T)
    lows, highs = highlow._record_counts(frame, window=3)
    # day 2: row 0 at 3 < min(5, 4); row 1 at 3 > max(1, 2). day 3: row 0 ties, row 1
    # is a high again. day 4: row 0 at 6 > max(3, 3); row 1 has no quote.
    np.testing.assert_array_equal(lows, [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(highs, [0, 0, 1, 1, 1])


def test_columns_never_depend_on_later_prices() -> None:
    """Changing prices after day t leaves both columns unchanged up to t (B23 fixed)."""
    rng = np.random.default_rng(1)
    prices = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (30, 1200)), axis=1))
    highs, lows = highlow.new_highs_lows(prices, highlow.NAZ100)
    changed = prices.copy()
    changed[:, 900:] *= 3.0
    highs2, lows2 = highlow.new_highs_lows(changed, highlow.NAZ100)
    np.testing.assert_array_equal(highs[:900], highs2[:900])
    np.testing.assert_array_equal(lows[:900], lows2[:900])
    assert (lows[:500] == highlow.LOWS_SENTINEL).all()
    assert np.isfinite(highs).all()
