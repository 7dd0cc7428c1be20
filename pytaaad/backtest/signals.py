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
from pytaaad.config import (
    MinMaxChannelSignal,
    MovingAverageSignal,
    PercentileChannelSignal,
    SignalParams,
)

logger = logging.getLogger(__name__)

MINMAX_LOOKBACKS = 7
SPARSE_DAYS_RATIO = 4
ROW_BLOCK = 64
SORTED_WINDOWS_BYTES = 1 << 30
PARTITION_BYTES = 64 << 20

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
        return _percentile_signal(market, params, legacy, days)
    return minmax_channel_signal(market.prices, params, days)


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
    return moving_average_rule(
        market.prices[:, days], short, previous, mid, long, legacy
    )


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
        result: BoolArray = (prices > long) | (
            (prices > floor) & (short > short_before)
        )
    return result


def moving_average(
    market: Market, kind: str, period: int, legacy: bool, days: IntArray
) -> FloatArray:
    """The SMA or HMA of prices on ``days``, (n_symbols, len(days)).

    Legacy SMA: mean of prices[max(0, t-period) : t+1] (up to period+1 points, no
    warm-up NaN). Textbook SMA: the last ``period`` prices, NaN until available.
    HMA: smooth(2*WMA(period//2) - WMA(period), isqrt(period)); the textbook smoothing
    is a WMA, legacy uses a simple mean. NaN until period - 1 + isqrt(period) - 1.

    Days on one of the market's decision grids are computed for the whole grid once
    per job and window, so trials that differ only in their hold period share them.
    """
    for name, grid in market.decision_grids.items():
        positions = np.minimum(np.searchsorted(grid, days), len(grid) - 1)
        if np.array_equal(grid[positions], days):
            key = (kind, period, legacy, name)
            cached = market.cache.get(key)
            if cached is None:
                cached = _moving_average(market, kind, period, legacy, grid)
                market.cache[key] = cached
            return cached[:, positions]
    return _moving_average(market, kind, period, legacy, days)


def _moving_average(
    market: Market, kind: str, period: int, legacy: bool, days: IntArray
) -> FloatArray:
    kernel = (
        hma_kernel(period, legacy) if kind == "HMAs" else sma_kernel(period, legacy)
    )
    values = apply_kernel(market.prices_by_day, kernel, days)
    if legacy and kind != "HMAs":
        _legacy_sma_warmup(market.prices, period, days, values)
    return values


def apply_kernel(
    prices_by_day: FloatArray, kernel: FloatArray, days: IntArray
) -> FloatArray:
    """sum_i kernel[i] * price[t - i] for each t in ``days``, (n_symbols, len(days)).

    ``prices_by_day``: (n_days, n_symbols). Days with fewer than len(kernel) prices up
    to and including them are NaN. A direct dot product per day keeps full precision.
    """
    length = len(kernel)
    oldest_first = np.ascontiguousarray(kernel[::-1])
    result = np.full((len(days), prices_by_day.shape[1]), np.nan)
    for column, day in enumerate(days):
        if day >= length - 1:
            result[column] = oldest_first @ prices_by_day[day - length + 1 : day + 1]
    return np.ascontiguousarray(result.T)


def sma_kernel(period: int, legacy: bool) -> FloatArray:
    """Equal weights over ``period`` days; legacy averages period + 1 days."""
    count = period + 1 if legacy else period
    return np.full(count, 1.0 / count)


def wma_kernel(period: int) -> FloatArray:
    """Weights period, period-1, .., 1 on lags 0, 1, .., normalised to sum 1."""
    weights = np.arange(period, 0, -1, dtype=np.float64)
    result: FloatArray = weights / weights.sum()
    return result


def hma_kernel(period: int, legacy: bool) -> FloatArray:
    """The Hull average as one linear filter on lags 0 .. period + isqrt(period) - 2.

    HMA = smooth(2 * WMA(period // 2) - WMA(period)) over isqrt(period) days, where
    the smoothing is a WMA (textbook) or a simple mean (legacy).
    """
    raw = -wma_kernel(period)
    raw[: max(1, period // 2)] += 2.0 * wma_kernel(max(1, period // 2))
    span = max(1, math.isqrt(period))
    smoothing = np.full(span, 1.0 / span) if legacy else wma_kernel(span)
    return np.convolve(smoothing, raw)


def _legacy_sma_warmup(
    prices: FloatArray, period: int, days: IntArray, out: FloatArray
) -> None:
    """Legacy SMAs average whatever history there is before ``period`` + 1 days."""
    for column in np.flatnonzero(days < period):
        day = days[column]
        out[:, column] = prices[:, : day + 1].mean(axis=1)


def _percentile_signal(
    market: Market, params: PercentileChannelSignal, legacy: bool, days: IntArray
) -> BoolArray:
    warmups = _percentile_warmups(market.prices, params, legacy)
    result = np.empty((market.n_symbols, len(days)), dtype=bool)
    # Row blocks keep the temporaries in cache; each row's channels are independent.
    for start in range(0, market.n_symbols, ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        low, high = _channels(market, params, warmups, rows)
        result[rows] = channel_state(market.prices[rows], low, high, days)
    return result


def percentile_channels(
    market: Market, params: PercentileChannelSignal, legacy: bool
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper channel, each (n_symbols, n_days): the mean over look-backs p
    of the lowPct and hiPct percentiles (numpy's linear definition) of
    prices[max(first, t - p) : t+1], where first is 1 in legacy mode, else 0.
    """
    warmups = _percentile_warmups(market.prices, params, legacy)
    return _channels(market, params, warmups, slice(None))


def _channels(
    market: Market,
    params: PercentileChannelSignal,
    warmups: dict[tuple[int, float], FloatArray],
    rows: slice,
) -> tuple[FloatArray, FloatArray]:
    shape = market.prices[rows].shape
    low = np.zeros(shape)
    high = np.zeros(shape)
    cached = _sorted_windows_fit(market, params.periods)
    # Sequential sums, then one division: the legacy program's order of operations.
    for period in params.periods:
        n = period + 1
        places = {pct: _place(n, pct) for pct in (params.low_pct, params.hi_pct)}
        ranks = {rank for lower, upper, _ in places.values() for rank in (lower, upper)}
        stats = _order_statistics(market, period, rows, ranks, cached)
        for channel, pct in ((low, params.low_pct), (high, params.hi_pct)):
            lower, upper, gamma = places[pct]
            values = _lerp(stats[lower], stats[upper], gamma)
            warmup = warmups[period, pct][rows]
            values[:, : warmup.shape[1]] = warmup
            np.add(channel, values, out=channel)
    count = len(params.periods)
    return low / count, high / count


def _place(n: int, pct: float) -> tuple[int, int, float]:
    """The neighbouring ranks and weight of numpy's linear percentile of n values."""
    position = (n - 1) * (pct / 100.0)
    lower = min(math.floor(position), n - 1)
    return lower, min(lower + 1, n - 1), position - lower


def _lerp(below: FloatArray, above: FloatArray, gamma: float) -> FloatArray:
    # numpy's percentile interpolates from the nearer neighbour; doing the same keeps
    # results bit-identical to np.percentile, which legacy mode relies on.
    difference = above - below
    if gamma >= 0.5:
        return above - difference * (1.0 - gamma)
    return below + difference * gamma


def _sorted_windows_fit(market: Market, periods: tuple[int, ...]) -> bool:
    """Whether every look-back's sorted windows fit the per-job memory budget."""
    cells = sum(period + 1 for period in periods) * market.prices.size
    return cells * market.prices.itemsize <= SORTED_WINDOWS_BYTES


def _order_statistics(
    market: Market, period: int, rows: slice, ranks: set[int], cached: bool
) -> dict[int, FloatArray]:
    """The ``ranks``-th smallest of prices[t-period : t+1] for the given rows, each
    (n_rows, n_days), NaN for t < period.

    With ``cached``, views into the job's sorted windows; otherwise a partition of
    this row block's windows, for long look-backs whose sorted windows would not fit.
    """
    if cached:
        ordered = _sorted_windows(market, period)
        return {rank: ordered[rank, rows] for rank in ranks}
    block = market.prices[rows]
    result = {rank: np.full(block.shape, np.nan) for rank in ranks}
    if block.shape[1] <= period:
        return result
    step = max(1, PARTITION_BYTES // (block.shape[1] * (period + 1) * block.itemsize))
    wanted = sorted(ranks)
    for start in range(0, block.shape[0], step):
        part = block[start : start + step]
        windows = np.lib.stride_tricks.sliding_window_view(part, period + 1, axis=1)
        partitioned = np.partition(windows, wanted, axis=2)
        for rank in wanted:
            result[rank][start : start + step, period:] = partitioned[:, :, rank]
    return result


def _sorted_windows(market: Market, period: int) -> FloatArray:
    """(period + 1, n_symbols, n_days): the sorted prices of prices[t-period : t+1]
    for t >= period (earlier days: NaN), computed once per job and look-back.
    """
    key = ("sorted", period)
    cached = market.cache.get(key)
    if cached is not None:
        return cached
    prices = market.prices
    result = np.empty((period + 1, *prices.shape))
    result[:, :, :period] = np.nan
    if prices.shape[1] > period:
        for start in range(0, market.n_symbols, ROW_BLOCK):
            block = prices[start : start + ROW_BLOCK]
            windows = np.lib.stride_tricks.sliding_window_view(
                block, period + 1, axis=1
            )
            ordered = np.sort(windows, axis=2)
            result[:, start : start + ROW_BLOCK, period:] = np.moveaxis(ordered, 2, 0)
    market.cache[key] = result
    return result


def _percentile_warmups(
    prices: FloatArray, params: PercentileChannelSignal, legacy: bool
) -> dict[tuple[int, float], FloatArray]:
    """Percentiles on the first days, whose windows are partial, (n_symbols, days).

    Legacy windows start at day 1, so day 0 (an empty window) uses the price itself.
    """
    first = 1 if legacy else 0
    result = {}
    for period in params.periods:
        n_days = min(period + first, prices.shape[1])
        for pct in (params.low_pct, params.hi_pct):
            values = np.empty((prices.shape[0], n_days))
            for day in range(n_days):
                window = prices[:, max(first, day - period) : day + 1]
                if window.shape[1] == 0:
                    values[:, day] = prices[:, day]
                else:
                    values[:, day] = np.percentile(window, pct, axis=1)
            result[period, pct] = values
    return result


def channel_state(
    prices: FloatArray, low: FloatArray, high: FloatArray, days: IntArray
) -> BoolArray:
    """The channel state machine on ``days``, (n_symbols, len(days)).

    The state starts out of trend on day 0. It enters the trend on day t if the price
    crosses up through the lower channel or closes above the upper one, leaves it if
    the price crosses down through the upper channel or closes below the lower one,
    and otherwise holds.
    """
    with np.errstate(invalid="ignore"):
        enter = np.zeros_like(prices, dtype=bool)
        leave = np.zeros_like(prices, dtype=bool)
        enter[:, 1:] = (prices[:, 1:] > low[:, 1:]) & (prices[:, :-1] <= low[:, :-1])
        enter[:, 1:] |= prices[:, 1:] > high[:, 1:]
        leave[:, 1:] = (prices[:, 1:] < high[:, 1:]) & (prices[:, :-1] >= high[:, :-1])
        leave[:, 1:] |= prices[:, 1:] < low[:, 1:]
    event = enter | leave
    index = np.arange(prices.shape[1])
    last_event = np.maximum.accumulate(np.where(event, index, -1), axis=1)[:, days]
    state = np.take_along_axis(enter, np.maximum(last_event, 0), axis=1)
    result: BoolArray = state & (last_event >= 0)
    return result


def minmax_channel_signal(
    prices: FloatArray, params: MinMaxChannelSignal, days: IntArray
) -> BoolArray:
    """Uptrend when the narrow channel's middle sits high in the medium and wide
    channels: 2*((mid_narrow - min_c)/(max_c - min_c) - 0.5) summed over c in
    (medium, wide) is positive. Channel min/max: mean over 7 look-backs of the rolling
    min/max of prices[max(0, t-p) : t+1].
    """
    narrow_low, narrow_high = _minmax_channel(prices, params.narrow, days)
    narrow_mid = (narrow_low + narrow_high) / 2.0
    score = np.zeros_like(narrow_mid)
    for lookbacks in (params.medium, params.wide):
        low, high = _minmax_channel(prices, lookbacks, days)
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


def _minmax_channel(
    prices: FloatArray, lookback_days: tuple[float, float], days: IntArray
) -> tuple[FloatArray, FloatArray]:
    lookbacks = minmax_lookbacks(lookback_days)
    # A trial needs the channels on a few hundred rebalance days: a running extreme
    # walked back from each of them beats rolling over the whole history.
    if len(days) * SPARSE_DAYS_RATIO <= prices.shape[1]:
        extremes = _extremes_on_days(prices, lookbacks, days)
    else:
        extremes = _extremes_rolling(prices, lookbacks, days)
    low = np.zeros((prices.shape[0], len(days)))
    high = np.zeros_like(low)
    for period_low, period_high in extremes:
        low += period_low
        high += period_high
    return low / len(lookbacks), high / len(lookbacks)


def _extremes_on_days(
    prices: FloatArray, lookbacks: list[int], days: IntArray
) -> list[tuple[FloatArray, FloatArray]]:
    """Per look-back p, min and max of prices[max(0, t-p) : t+1] for t in ``days``."""
    longest = max(lookbacks)
    lows = np.empty((len(lookbacks), prices.shape[0], len(days)))
    highs = np.empty_like(lows)
    for column, day in enumerate(days):
        newest_first = prices[:, max(0, day - longest) : day + 1][:, ::-1]
        reach = np.minimum(lookbacks, newest_first.shape[1] - 1)
        lows[:, :, column] = np.minimum.accumulate(newest_first, axis=1)[:, reach].T
        highs[:, :, column] = np.maximum.accumulate(newest_first, axis=1)[:, reach].T
    return list(zip(lows, highs, strict=True))


def _extremes_rolling(
    prices: FloatArray, lookbacks: list[int], days: IntArray
) -> list[tuple[FloatArray, FloatArray]]:
    frame = pd.DataFrame(prices.T)
    extremes = []
    for period in lookbacks:
        window = frame.rolling(period + 1, min_periods=1)
        extremes.append(
            (window.min().to_numpy()[days].T, window.max().to_numpy()[days].T)
        )
    return extremes
