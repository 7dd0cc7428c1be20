"""Rolling Sharpe ratios, top-N selection and Sharpe-proportional weights."""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt

from pytaaad.backtest.market import Market

logger = logging.getLogger(__name__)

TRADING_DAYS_PER_YEAR = 252
MAX_STOCKS_HELD = 20
MIN_WEIGHT_FACTOR = 0.3
MAX_WEIGHT_FACTOR = 3.0
ABSOLUTE_MAX_WEIGHT = 0.9

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def rolling_sharpe(
    market: Market, days: IntArray, long_period: int, legacy: bool
) -> FloatArray:
    """Annualised Sharpe ratio of daily returns over a trailing window on ``days``:
    (n_symbols, len(days)).

    Default: the last ``long_period`` returns up to and including day t, defined only
    when all of them are real quotes (NaN otherwise, and for CASH).
    Legacy: ``long_period + 1`` returns (t - long_period .. t); 0 before day
    ``long_period``, for CASH and for a flat window.
    """
    count = long_period + 1 if legacy else long_period
    ends = days + 1
    starts = np.maximum(ends - count, 0)
    total = market.return_sums[:, ends] - market.return_sums[:, starts]
    squares = market.square_sums[:, ends] - market.square_sums[:, starts]
    variance = (squares - total * total / count) / (count - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = total / count / np.sqrt(variance) * math.sqrt(TRADING_DAYS_PER_YEAR)
    flat = ~(variance > 0)
    if legacy:
        sharpe[flat] = 0.0
        sharpe[:, days < long_period] = 0.0
        sharpe[market.cash_index] = 0.0
        return sharpe
    history = days[None, :] - market.first_valid[:, None] >= long_period
    sharpe[flat | ~history | ~market.listed[:, days]] = np.nan
    sharpe[market.cash_index] = np.nan
    return sharpe


def select_weights(
    sharpe: FloatArray,
    eligible: BoolArray,
    stocks_traded: int,
    cash_index: int,
    legacy: bool,
) -> FloatArray:
    """Weights per day, (n_symbols, n_days), each column summing to 1.

    Per day: the top n = min(stocks_traded, 20, #eligible) eligible symbols by Sharpe
    (ties by row order) get weights proportional to their Sharpe ratios, clipped to
    [0.3/n, min(3/n, 0.9)] and renormalised once. With no eligible symbol, 100% CASH.
    Default mode weighs by the positive part of the Sharpe ratios (equal weights if
    none is positive); legacy divides by their plain sum, which inverts the order when
    the sum is negative, and uses equal weights only for a zero sum.
    """
    n_symbols, n_days = sharpe.shape
    n_max = min(stocks_traded, MAX_STOCKS_HELD, n_symbols)
    eligible = eligible & ~np.isnan(sharpe)
    key = np.where(eligible, sharpe, -np.inf)
    order = np.argsort(-key, axis=0, kind="stable")[:n_max]
    picked_sharpe = np.take_along_axis(sharpe, order, axis=0)
    n = np.minimum(eligible.sum(axis=0), n_max)
    slot = np.arange(n_max)[:, None] < n[None, :]
    raw = _raw_weights(np.where(slot, picked_sharpe, 0.0), slot, n, legacy)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = MIN_WEIGHT_FACTOR / n
        high = np.minimum(MAX_WEIGHT_FACTOR / n, ABSOLUTE_MAX_WEIGHT)
    clipped = np.where(slot, np.clip(raw, low, high), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        clipped /= clipped.sum(axis=0)
    weights = np.zeros((n_symbols, n_days))
    columns = np.broadcast_to(np.arange(n_days), order.shape)
    weights[order[slot], columns[slot]] = clipped[slot]
    weights[:, n == 0] = 0.0
    weights[cash_index, n == 0] = 1.0
    return weights


def _raw_weights(
    picked: FloatArray, slot: BoolArray, n: IntArray, legacy: bool
) -> FloatArray:
    scores = picked if legacy else np.maximum(picked, 0.0)
    total = scores.sum(axis=0)
    equal = total == 0 if legacy else total <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(equal, 1.0 / n, scores / total)
    result: FloatArray = np.where(slot, raw, 0.0)
    return result
