"""Tests for pytaaad.backtest.signals against direct, loop-based definitions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pytaaad.backtest import signals
from pytaaad.backtest.market import Market, prepare_market
from pytaaad.backtest.quotes import Quotes
from pytaaad.config import MinMaxChannelSignal, PercentileChannelSignal

NAN = np.nan


def _market(n_symbols: int = 4, n_days: int = 120, seed: int = 5) -> Market:
    rng = np.random.default_rng(seed)
    prices = 20.0 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_symbols, n_days)), axis=1))
    prices = np.vstack((prices, np.ones(n_days)))
    dates = np.datetime64("2020-01-01") + np.arange(n_days)
    symbols = (*(f"S{i}" for i in range(n_symbols)), "CASH")
    return prepare_market(
        Quotes(Path("x"), dates, symbols, prices, True), window_size=10
    )


def _direct_wma(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(len(x), NAN)
    weights = np.arange(1, k + 1, dtype=float)
    for t in range(k - 1, len(x)):
        out[t] = np.dot(x[t - k + 1 : t + 1], weights) / weights.sum()
    return out


def _direct_hma(x: np.ndarray, p: int, legacy: bool) -> np.ndarray:
    raw = 2 * _direct_wma(x, p // 2) - _direct_wma(x, p)
    m = math.isqrt(p)
    out = np.full(len(x), NAN)
    for t in range(len(x)):
        window = raw[max(0, t - m + 1) : t + 1]
        if t >= m - 1 and not np.isnan(window).any():
            out[t] = window.mean() if legacy else _direct_wma(window, m)[-1]
    return out


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("period", [5, 17, 30])
def test_hma_matches_direct_definition(period: int, legacy: bool) -> None:
    """HMA on any days equals smooth(2*WMA(p//2) - WMA(p)) computed window by window."""
    market = _market()
    days = np.arange(market.n_days, dtype=np.int64)
    values = signals.moving_average(market, "HMAs", period, legacy, days)
    for row in range(market.n_symbols):
        expected = _direct_hma(market.prices[row], period, legacy)
        np.testing.assert_allclose(values[row], expected, rtol=1e-12, equal_nan=True)


def test_hma_warmup_length() -> None:
    """The first valid HMA is on day p - 1 + isqrt(p) - 1 (doc §12 C3)."""
    market = _market()
    days = np.arange(market.n_days, dtype=np.int64)
    values = signals.moving_average(market, "HMAs", 17, True, days)
    assert np.isnan(values[0, 18])
    assert not np.isnan(values[0, 19])


@pytest.mark.parametrize("legacy", [True, False])
def test_sma_matches_direct_definition(legacy: bool) -> None:
    """Legacy SMA: mean of prices[max(0, t-p) : t+1]; textbook: the last p, else NaN."""
    market = _market()
    period = 12
    days = np.arange(market.n_days, dtype=np.int64)
    values = signals.moving_average(market, "SMAs", period, legacy, days)
    x = market.prices[1]
    for t in range(market.n_days):
        if legacy:
            expected = x[max(0, t - period) : t + 1].mean()
        else:
            expected = x[t - period + 1 : t + 1].mean() if t >= period - 1 else NAN
        np.testing.assert_allclose(values[1, t], expected, rtol=1e-12, equal_nan=True)


def test_grid_and_direct_moving_averages_agree() -> None:
    """Values cached on the month-start grid equal values computed for the same days."""
    market = _market(n_days=400)
    grid = market.decision_grids["open"]
    cached = signals.moving_average(market, "HMAs", 21, False, grid[2:])
    direct = signals._moving_average(market, "HMAs", 21, False, grid[2:])
    np.testing.assert_array_equal(cached, direct)


def test_rule_with_legacy_min_ignores_nan_mid() -> None:
    """Legacy min(short, mid) is short when mid is NaN; the default then says no."""
    prices = np.array([[10.0]])
    short, before, mid, long = (np.array([[v]]) for v in (9.0, 8.0, NAN, 20.0))
    assert signals.moving_average_rule(prices, short, before, mid, long, True)[0, 0]
    assert not signals.moving_average_rule(prices, short, before, mid, long, False)[
        0, 0
    ]


def test_rule_long_average_alone_is_enough() -> None:
    """A price above the scaled long average is an uptrend whatever else holds."""
    prices = np.array([[10.0]])
    short, before, mid, long = (np.array([[v]]) for v in (11.0, 12.0, 11.0, 9.0))
    assert signals.moving_average_rule(prices, short, before, mid, long, False)[0, 0]


def _legacy_channels(
    x: np.ndarray, periods: tuple[int, ...], low_pct: float, hi_pct: float
):
    low = np.zeros(len(x))
    high = np.zeros(len(x))
    for t in range(len(x)):
        for p in periods:
            start = max(1, t - p)
            if len(x[start:t]) < 1:
                low[t] += x[t]
                high[t] += x[t]
            else:
                low[t] += np.percentile(x[start : t + 1], low_pct)
                high[t] += np.percentile(x[start : t + 1], hi_pct)
        low[t] /= len(periods)
        high[t] /= len(periods)
    return low, high


def test_legacy_percentile_channels_are_bit_identical_to_loops() -> None:
    """Legacy channels equal the loop over np.percentile exactly (doc §12 C4)."""
    market = _market()
    params = PercentileChannelSignal(19.9, 77.5, 4, 12, 3)
    low, high = signals.percentile_channels(market, params, legacy=True)
    for row in range(market.n_symbols):
        want_low, want_high = _legacy_channels(
            market.prices[row], params.periods, 19.9, 77.5
        )
        np.testing.assert_array_equal(low[row], want_low)
        np.testing.assert_array_equal(high[row], want_high)


def test_channel_state_machine_by_hand() -> None:
    """Each crossing rule of the channel state machine, on channels 4.5 and 10."""
    prices = np.array([[5.0, 4.0, 6.0, 8.0, 8.0, 3.0, 4.0, 6.0, 11.0, 9.0, 9.5]])
    low = np.full_like(prices, 4.5)
    high = np.full_like(prices, 10.0)
    days = np.arange(prices.shape[1], dtype=np.int64)
    state = signals.channel_state(prices, low, high, days)
    # 2: up through low -> in; 3-4 hold; 5: below low -> out; 6 below low; 7: up
    # through low -> in; 8: above high; 9: down through high -> out; 10 holds.
    np.testing.assert_array_equal(state[0], [0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0])


def test_minmax_channels_see_a_steady_rise_as_uptrend() -> None:
    """A price making new highs sits high in every channel."""
    prices = np.linspace(10, 20, 200)[None, :]
    params = MinMaxChannelSignal((5, 20), (20, 40), (50, 100))
    days = np.array([150, 199], dtype=np.int64)
    assert signals.minmax_channel_signal(prices, params, days).all()
    falling = prices[:, ::-1].copy()
    assert not signals.minmax_channel_signal(falling, params, days).any()


def test_minmax_lookbacks_are_seven_whole_days() -> None:
    """Seven integer look-backs from the lower towards the upper bound."""
    assert signals.minmax_lookbacks((6.0, 40.2)) == [6, 10, 15, 20, 25, 30, 35]


def test_minmax_channels_agree_on_few_and_on_all_days() -> None:
    """Channels walked back from a few days equal the rolling ones on every day."""
    market = _market(n_days=400)
    params = MinMaxChannelSignal((5, 20), (20, 40), (50, 150))
    every_day = np.arange(market.n_days, dtype=np.int64)
    few = every_day[::37]
    rolling = signals.minmax_channel_signal(market.prices, params, every_day)
    sparse = signals.minmax_channel_signal(market.prices, params, few)
    np.testing.assert_array_equal(rolling[:, few], sparse)
    low_all, high_all = signals._minmax_channel(market.prices, params.wide, every_day)
    low_few, high_few = signals._minmax_channel(market.prices, params.wide, few)
    np.testing.assert_array_equal(low_all[:, few], low_few)
    np.testing.assert_array_equal(high_all[:, few], high_few)


def test_percentile_channels_without_the_sorted_cache_are_identical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long look-backs that do not fit in memory give the same channels by partition."""
    params = PercentileChannelSignal(19.9, 77.5, 4, 12, 3)
    cached = signals.percentile_channels(_market(), params, legacy=True)
    monkeypatch.setattr(signals, "SORTED_WINDOWS_BYTES", 0)
    monkeypatch.setattr(signals, "PARTITION_BYTES", 1000)
    market = _market()
    partitioned = signals.percentile_channels(market, params, legacy=True)
    np.testing.assert_array_equal(cached[0], partitioned[0])
    np.testing.assert_array_equal(cached[1], partitioned[1])
    assert not any(key[0] == "sorted" for key in market.cache)
