"""Per-job market data: cleaned prices, gains, all no trial parameter changes."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from pytaaad.backtest.quotes import Quotes

logger = logging.getLogger(__name__)

START_VALUE = 10_000.0
FLAT_GAIN_STD = 0.001
MOVE_THRESHOLD = 0.001
FIRST_CHANGE_TOLERANCE = 1e-8

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass
class Market:
    """Quotes prepared once per job; arrays are (n_symbols, n_days) unless noted.

    ``prices``: last price held over gaps and after the last quote (legacy:
    interpolated over gaps), first price held before the first quote.
    ``gains``: P[t]/P[t-1], 1 on day 0.
    ``growth``: cumulative product of gains (value of 1 unit bought on day 0).
    ``listed``: the symbol has a real quote on or before and on or after day t.
    ``quality``: the rolling data-quality filter lets the signal through.
    ``legacy_zero_end``: legacy's pre-listing slice end per symbol (doc §12, C1).
    ``return_sums`` / ``square_sums``: (n_symbols, n_days + 1) prefix sums of daily
    returns and squared returns, for rolling Sharpe ratios.
    ``cache``: per-job memo of rolling statistics, keyed by kind and window.
    """

    quotes: Quotes
    prices: FloatArray
    gains: FloatArray
    growth: FloatArray
    first_valid: IntArray
    last_valid: IntArray
    listed: BoolArray
    quality: BoolArray
    legacy_zero_end: IntArray
    return_sums: FloatArray
    square_sums: FloatArray
    month_key: IntArray
    cache: dict[tuple[object, ...], FloatArray] = field(
        default_factory=dict, repr=False
    )

    @property
    def n_symbols(self) -> int:
        return int(self.prices.shape[0])

    @property
    def n_days(self) -> int:
        return int(self.prices.shape[1])

    @property
    def cash_index(self) -> int:
        return self.quotes.cash_index

    @property
    def dates(self) -> npt.NDArray[np.datetime64]:
        return self.quotes.dates

    @functools.cached_property
    def prices_by_day(self) -> FloatArray:
        """``prices`` transposed to (n_days, n_symbols), contiguous."""
        return np.ascontiguousarray(self.prices.T)

    @functools.cached_property
    def growth_by_day(self) -> FloatArray:
        """``growth`` transposed to (n_days, n_symbols), contiguous, for row lookups."""
        return np.ascontiguousarray(self.growth.T)

    @functools.cached_property
    def decision_grids(self) -> dict[str, IntArray]:
        """Sorted days on which trials decide: day 0 and every month's first day
        (``open``), and the days just before them plus the last day (``eve``).
        """
        starts = rebalance_days(self.month_key, 1)
        return {
            "open": np.concatenate(([0], starts)).astype(np.int64),
            "eve": np.concatenate((starts - 1, [self.n_days - 1])).astype(np.int64),
        }

    def day_index(self, day: dt.date) -> int:
        """Index of the first trading day on or after ``day``."""
        return int(np.searchsorted(self.dates, np.datetime64(day, "D")))

    def buy_and_hold(self, legacy: bool) -> FloatArray:
        """Equal-dollar buy-and-hold of every symbol, (n_days,), starting at 10,000.

        Each symbol's dollars wait in cash until its first quote. Legacy mode also
        averages in the CASH row, as the legacy job does.
        """
        rows = self.growth if legacy else self.growth[: self.cash_index]
        result: FloatArray = START_VALUE * rows.mean(axis=0)
        return result

    def listed_count(self) -> IntArray:
        """Number of stocks (CASH excluded) listed on each day, (n_days,)."""
        counts: IntArray = self.listed[: self.cash_index].sum(axis=0).astype(np.int64)
        return counts


def prepare_market(quotes: Quotes, window_size: int, legacy: bool = False) -> Market:
    """Clean quotes and compute every parameter-free array of the job.

    A stock counts as listed from its first quote to its last one; when its quotes
    stop less than ``window_size`` days before the end of the store, that is taken as
    a late or missing quote, not a delisting, and it stays listed.
    """
    raw = quotes.prices
    has_quote = ~np.isnan(raw)
    n_days = raw.shape[1]
    first_valid = np.argmax(has_quote, axis=1).astype(np.int64)
    last_valid = (n_days - 1 - np.argmax(has_quote[:, ::-1], axis=1)).astype(np.int64)
    recent = n_days - 1 - last_valid < window_size
    last_valid[recent] = n_days - 1
    prices = clean_prices(raw, interpolate=legacy)
    gains = daily_gains(prices)
    returns = gains - 1.0
    days = np.arange(n_days)
    listed = (days >= first_valid[:, None]) & (days <= last_valid[:, None])
    return Market(
        quotes=quotes,
        prices=prices,
        gains=gains,
        growth=np.cumprod(gains, axis=1, dtype=np.float64),
        first_valid=first_valid,
        last_valid=last_valid,
        listed=listed,
        quality=quality_mask(gains, window_size),
        legacy_zero_end=legacy_zero_end(gains),
        return_sums=_prefix_sums(returns),
        square_sums=_prefix_sums(returns * returns),
        month_key=month_keys(quotes.dates),
    )


def clean_prices(raw: FloatArray, interpolate: bool = False) -> FloatArray:
    """Fill the gaps of each row: inside its life the last price is held (or, with
    ``interpolate``, the legacy program's linear interpolation, which uses the next
    quote and so looks ahead); before its first quote the first price is held, after
    its last quote the last one.

    ``raw``: (n_symbols, n_days) with NaN for missing quotes. Rows without any quote
    stay NaN.
    """
    frame = pd.DataFrame(raw.T)
    if interpolate:
        frame = frame.interpolate(method="linear", limit_area="inside", axis=0)
    frame = frame.ffill(axis=0).bfill(axis=0)
    cleaned: FloatArray = np.ascontiguousarray(frame.to_numpy(dtype=np.float64).T)
    return cleaned


def daily_gains(prices: FloatArray) -> FloatArray:
    """P[t]/P[t-1] per row, 1 on day 0 and wherever the ratio is not finite."""
    gains = np.ones_like(prices)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(prices[:, 1:], prices[:, :-1], out=gains[:, 1:])
    gains[~np.isfinite(gains)] = 1.0
    return gains


def quality_mask(gains: FloatArray, window: int) -> BoolArray:
    """The rolling data-quality filter: False where the signal must be zeroed.

    On day t >= window-1 the last ``window`` gains must have a population standard
    deviation of at least 0.001, and at least half of them must move by 0.001 or
    more. Earlier days pass. This zeroes flat, interpolated and pre-listing stretches.
    """
    n_symbols, n_days = gains.shape
    keep = np.ones((n_symbols, n_days), dtype=bool)
    if n_days < window:
        return keep
    returns = gains - 1.0
    sums = _window_sums(returns, window)
    squares = _window_sums(returns * returns, window)
    mean = sums / window
    variance = squares / window - mean * mean
    moves = _window_sums((np.abs(returns) >= MOVE_THRESHOLD).astype(np.float64), window)
    flat = variance < FLAT_GAIN_STD * FLAT_GAIN_STD
    keep[:, window - 1 :] = ~(flat | (moves < 0.5 * window))
    return keep


def legacy_zero_end(gains: FloatArray) -> IntArray:
    """Legacy's pre-listing zeroing slice end per row: first change index minus one.

    The value is a Python slice end: -1 means "every column but the last" (doc §12 C1).
    """
    deviation = np.clip(np.abs(gains - 1.0), 0.0, FIRST_CHANGE_TOLERANCE)
    ends: IntArray = (np.argmax(deviation, axis=1) - 1).astype(np.int64)
    return ends


def month_keys(dates: npt.NDArray[np.datetime64]) -> IntArray:
    """year * 12 + month - 1 for each date, (n_days,)."""
    months = dates.astype("datetime64[M]").astype(np.int64)
    return months + 1970 * 12


def rebalance_days(month_key: IntArray, months_to_hold: int) -> IntArray:
    """First trading day of each month m with (m - 1) mod months_to_hold == 0.

    The calendar is anchored at January; day 0 is never a rebalance day.
    """
    new_month = np.flatnonzero(month_key[1:] != month_key[:-1]) + 1
    month_of_year = month_key[new_month] % 12
    days: IntArray = new_month[month_of_year % months_to_hold == 0]
    return days


def _prefix_sums(values: FloatArray) -> FloatArray:
    sums = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(values, axis=1, out=sums[:, 1:])
    return sums


def _window_sums(values: FloatArray, window: int) -> FloatArray:
    """Sums over trailing windows ending at days window-1 .. n_days-1."""
    sums = _prefix_sums(values)
    result: FloatArray = sums[:, window:] - sums[:, :-window]
    return result
