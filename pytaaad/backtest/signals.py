"""Uptrend signals: SMAs, HMAs, percentile channels and min/max channels.

Every function takes ``prices``: (n_symbols, n_days) cleaned adjusted closes and returns
arrays of the same shape. ``legacy=True`` reproduces the legacy program's definitions
(partial SMA windows of p+1 points, HMA smoothed by a simple mean, windows starting at
day 1); the default uses the textbook ones.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from pytaaad.backtest.market import Market
from pytaaad.backtest.rolling import WindowSums
from pytaaad.config import (
    MinMaxChannelSignal,
    MovingAverageSignal,
    PercentileChannelSignal,
    SignalParams,
)

logger = logging.getLogger(__name__)

MINMAX_LOOKBACKS = 7

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def uptrend(
    market: Market, params: SignalParams, legacy: bool, days: IntArray
) -> BoolArray:
    """Raw uptrend signal on ``days``, (n_symbols, len(days)), before any masking."""
    if isinstance(params, MovingAverageSignal):
        return _moving_average_signal(market, params, legacy, days)
    if isinstance(params, PercentileChannelSignal):
        low, high = percentile_channels(market, params, legacy)
        return channel_state(market.prices, low, high)[:, days]
    return minmax_channel_signal(market.prices, params)[:, days]


def _moving_average_signal(
    market: Market, params: MovingAverageSignal, legacy: bool, days: IntArray
) -> BoolArray:
    # Legacy compares day 0 with the last day (a wrapped index); the textbook rule
    # has nothing to compare it with.
    wrapped = np.where(days > 0, days - 1, market.n_days - 1)
    short = moving_average(market, params.kind, params.short, legacy, days)
    previous = moving_average(market, params.kind, params.short, legacy, wrapped)
    if not legacy:
        previous[:, days == 0] = np.nan
    mid = moving_average(market, params.kind, params.mid, legacy, days)
    long = params.long_factor * moving_average(
        market, params.kind, params.long, legacy, days
    )
    return moving_average_rule(market.prices[:, days], short, previous, mid, long, legacy)


def moving_average_rule(
    prices: FloatArray,
    short: FloatArray,
    short_before: FloatArray,
    mid: FloatArray,
    long: FloatArray,
    legacy: bool,
) -> BoolArray:
    """Uptrend if P > long, or if P > min(short, mid) while the short average rises.

    A NaN (warm-up) average makes its clause false. Legacy mode computes
    min(short, mid) as Python's ``min`` does, returning ``short`` when ``mid`` is NaN.
    """
    floor = np.where(mid < short, mid, short) if legacy else np.minimum(short, mid)
    with np.errstate(invalid="ignore"):
        result: BoolArray = (prices > long) | ((prices > floor) & (short > short_before))
    return result


def moving_average(
    market: Market, kind: str, period: int, legacy: bool, days: IntArray
) -> FloatArray:
    """The SMA or HMA of prices on ``days``, (n_symbols, len(days)), memoised per job.

    Legacy SMA: mean of prices[max(0, t-period) : t+1] (up to period+1 points, no
    warm-up NaN). Textbook SMA: the last ``period`` prices, NaN until available.
    HMA: smooth(2*WMA(period//2) - WMA(period), isqrt(period)); the textbook smoothing
    is a WMA, legacy uses a simple mean. NaN until period - 1 + isqrt(period) - 1.
    """
    key = (kind, period, legacy, days.tobytes())
    cached = market.cache.get(key)
    if cached is None:
        sums = market.window_sums(period + 1)
        if kind == "HMAs":
            cached = _hma(sums, period, legacy, days)
        else:
            cached = _sma(sums, period, legacy, days)
        market.cache[key] = cached
    return cached.copy()


def _sma(sums: WindowSums, period: int, legacy: bool, days: IntArray) -> FloatArray:
    if legacy:
        starts = np.maximum(0, days - period)
        legacy_result: FloatArray = sums.sums(days, starts) / (days - starts + 1)
        return legacy_result
    valid = days >= period - 1
    result = np.full((sums.plain.shape[0], len(days)), np.nan)
    ends = days[valid]
    result[:, valid] = sums.sums(ends, ends - period + 1) / period
    return result


def wma(sums: WindowSums, period: int, days: IntArray) -> FloatArray:
    """Weighted moving average (weights 1..period, newest heaviest) on ``days``.

    NaN where fewer than ``period`` days precede and include the day.
    """
    valid = days >= period - 1
    result = np.full((sums.plain.shape[0], len(days)), np.nan)
    result[:, valid] = sums.linear(days[valid], period) / (period * (period + 1) / 2.0)
    return result


def _hma(sums: WindowSums, period: int, legacy: bool, days: IntArray) -> FloatArray:
    span = max(1, math.isqrt(period))
    lags = np.arange(span - 1, -1, -1)
    needed = (days[:, None] - lags).ravel()
    usable = np.maximum(needed, 0)
    raw = 2.0 * wma(sums, max(1, period // 2), usable) - wma(sums, period, usable)
    raw[:, needed < 0] = np.nan
    raw = raw.reshape(raw.shape[0], len(days), span)
    if legacy:
        legacy_result: FloatArray = raw.mean(axis=2)
        return legacy_result
    weights = np.arange(1, span + 1, dtype=np.float64)
    result: FloatArray = raw @ weights / weights.sum()
    return result


def _percentile_signal(
    market: Market, params: PercentileChannelSignal, legacy: bool
) -> BoolArray:
    low, high = percentile_channels(market, params, legacy)
    return channel_state(market.prices, low, high)


def percentile_channels(
    market: Market, params: PercentileChannelSignal, legacy: bool
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper channel: the mean over look-backs p of the lowPct and hiPct
    percentiles (numpy's linear definition) of prices[start : t+1], where
    start = max(first, t - p) and first is 1 in legacy mode, else 0.
    """
    low = np.zeros_like(market.prices)
    high = np.zeros_like(market.prices)
    for period in params.periods:
        low += _channel_percentile(market, period, params.low_pct, legacy)
        high += _channel_percentile(market, period, params.hi_pct, legacy)
    count = len(params.periods)
    return low / count, high / count


def _channel_percentile(market: Market, period: int, pct: float, legacy: bool) -> FloatArray:
    n = period + 1
    position = (n - 1) * (pct / 100.0)
    lower = min(int(math.floor(position)), n - 1)
    upper = min(lower + 1, n - 1)
    gamma = position - lower
    below = _order_statistic(market, period, lower, legacy)
    above = _order_statistic(market, period, upper, legacy)
    result = _lerp(below, above, gamma)
    _percentile_warmup(market.prices, period, pct, legacy, result)
    return result


def _lerp(below: FloatArray, above: FloatArray, gamma: float) -> FloatArray:
    # numpy's percentile interpolates from the nearer neighbour; doing the same keeps
    # results bit-identical to np.percentile, which legacy mode relies on.
    difference = above - below
    if gamma >= 0.5:
        return above - difference * (1.0 - gamma)
    return below + difference * gamma


def _order_statistic(market: Market, period: int, rank: int, legacy: bool) -> FloatArray:
    """rank-th smallest of prices[t-period : t+1] for t >= period (earlier: NaN)."""
    key = ("order", period, rank)
    cached = market.cache.get(key)
    if cached is not None:
        return cached
    prices = market.prices
    result = np.full_like(prices, np.nan)
    if prices.shape[1] > period:
        windows = np.lib.stride_tricks.sliding_window_view(prices, period + 1, axis=1)
        result[:, period:] = np.partition(windows, rank, axis=2)[:, :, rank]
    market.cache[key] = result
    return result


def _percentile_warmup(
    prices: FloatArray, period: int, pct: float, legacy: bool, out: FloatArray
) -> None:
    """Fill the days whose window is partial (t <= period) directly."""
    first = 1 if legacy else 0
    for day in range(min(period + first, prices.shape[1])):
        start = max(first, day - period)
        window = prices[:, start : day + 1]
        out[:, day] = prices[:, day] if window.shape[1] == 0 else np.percentile(
            window, pct, axis=1
        )


def channel_state(prices: FloatArray, low: FloatArray, high: FloatArray) -> BoolArray:
    """The channel state machine, starting out of trend on day 0.

    In trend from day t if the price crosses up through the lower channel or closes
    above the upper one; out of trend if it crosses down through the upper channel or
    closes below the lower one; otherwise the state holds.
    """
    with np.errstate(invalid="ignore"):
        enter = np.zeros_like(prices, dtype=bool)
        leave = np.zeros_like(prices, dtype=bool)
        enter[:, 1:] = (prices[:, 1:] > low[:, 1:]) & (prices[:, :-1] <= low[:, :-1])
        enter[:, 1:] |= prices[:, 1:] > high[:, 1:]
        leave[:, 1:] = (prices[:, 1:] < high[:, 1:]) & (prices[:, :-1] >= high[:, :-1])
        leave[:, 1:] |= prices[:, 1:] < low[:, 1:]
    leave &= ~enter
    event = enter | leave
    days = np.arange(prices.shape[1])
    last_event = np.maximum.accumulate(np.where(event, days, -1), axis=1)
    state = np.take_along_axis(enter, np.maximum(last_event, 0), axis=1)
    result: BoolArray = state & (last_event >= 0)
    return result


def minmax_channel_signal(prices: FloatArray, params: MinMaxChannelSignal) -> BoolArray:
    """Uptrend when the narrow channel's middle sits high in the medium and wide
    channels: 2*((mid_narrow - min_c)/(max_c - min_c) - 0.5) summed over c in
    (medium, wide) is positive. Channel min/max: mean over 7 look-backs of the rolling
    min/max of prices[max(0, t-p) : t+1].
    """
    narrow_low, narrow_high = _minmax_channel(prices, params.narrow)
    narrow_mid = (narrow_low + narrow_high) / 2.0
    score = np.zeros_like(prices)
    for days in (params.medium, params.wide):
        low, high = _minmax_channel(prices, days)
        with np.errstate(divide="ignore", invalid="ignore"):
            score += 2.0 * ((narrow_mid - low) / (high - low) - 0.5)
    with np.errstate(invalid="ignore"):
        result: BoolArray = score > 0
    return result


def minmax_lookbacks(days: tuple[float, float]) -> list[int]:
    """Seven whole-day look-backs from days[0] towards days[1] (end excluded)."""
    low, high = days
    step = (high - low) / MINMAX_LOOKBACKS
    return [max(1, int(low + k * step)) for k in range(MINMAX_LOOKBACKS)]


def _minmax_channel(prices: FloatArray, days: tuple[float, float]) -> tuple[FloatArray, FloatArray]:
    frame = pd.DataFrame(prices.T)
    low = np.zeros_like(prices)
    high = np.zeros_like(prices)
    lookbacks = minmax_lookbacks(days)
    for period in lookbacks:
        window = frame.rolling(period + 1, min_periods=1)
        low += window.min().to_numpy().T
        high += window.max().to_numpy().T
    return low / len(lookbacks), high / len(lookbacks)
