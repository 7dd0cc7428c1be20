"""The new-highs / new-lows indicator of the ``.mc.params`` file, without look-ahead.

For each look-back w and day d, a stock whose close on d is a strict new low of the
last w closes adds 1 to the day's lows; a strict new high adds ``ratio``. Each count
is summed over a trailing window, gamma-scaled against its running maximum, and (for
highs) reduced by a running percentile. The legacy program scaled with the maximum and
percentile of the whole history, which looks ahead (legacy bug B23); here both use
only days up to d, from the first day on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

logger = logging.getLogger(__name__)

WARMUP_DAYS = 500
LOWS_SENTINEL = -100_000.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HighLowParams:
    """Per look-back k: window days, summing days, high/low ratio, high percentile,
    and the gamma exponents for highs and lows (legacy doc §3.4).
    """

    windows: tuple[int, int]
    sums: tuple[int, int]
    ratio: tuple[float, float]
    high_percentile: tuple[float, float]
    high_gamma: tuple[float, float]
    low_gamma: tuple[float, float]


NAZ100 = HighLowParams(
    (73, 293), (50, 159), (1.654, 2.019), (8.499, 8.952), (1, 1), (1.176, 1.223)
)
SP500 = HighLowParams(
    (73, 146),
    (76, 108),
    (2.293, 1.573),
    (12.197, 11.534),
    (1.157, 0.568),
    (0.667, 1.697),
)


def params_for(sp500: bool) -> HighLowParams:
    """The S&P 500 has its own parameters; every other list uses the Nasdaq-100 set."""
    return SP500 if sp500 else NAZ100


def new_highs_lows(
    raw_prices: FloatArray, params: HighLowParams
) -> tuple[FloatArray, FloatArray]:
    """(highs, lows), each (n_days,), from ``raw_prices`` (n_stocks, n_days) with NaN
    where there is no quote. The first 500 lows hold the legacy sentinel -100000.
    """
    frame = pd.DataFrame(raw_prices.T)
    n_days = raw_prices.shape[1]
    highs = np.zeros(n_days)
    lows = np.zeros(n_days)
    for k, window in enumerate(params.windows):
        new_low, new_high = _record_counts(frame, window)
        summed_lows = _trailing_sum(new_low, params.sums[k])
        summed_highs = _trailing_sum(new_high * params.ratio[k], params.sums[k])
        lows += _gamma(summed_lows, params.low_gamma[k])
        scaled = _gamma(summed_highs, params.high_gamma[k])
        highs += scaled - _running_percentile(scaled, params.high_percentile[k])
    lows[:WARMUP_DAYS] = LOWS_SENTINEL
    # Adding zero turns -0.0 into 0.0, which the file would otherwise print as "-0.0".
    return highs + 0.0, lows + 0.0


def _record_counts(frame: pd.DataFrame, window: int) -> tuple[FloatArray, FloatArray]:
    """Stocks closing at a strict new low / high of the last ``window`` closes."""
    earlier = frame.shift(1).rolling(window - 1, min_periods=window - 1)
    with np.errstate(invalid="ignore"):
        lows = (frame < earlier.min()).sum(axis=1).to_numpy(dtype=np.float64)
        highs = (frame > earlier.max()).sum(axis=1).to_numpy(dtype=np.float64)
    return lows, highs


def _trailing_sum(values: FloatArray, days: int) -> FloatArray:
    """Sum of values[max(0, t - days) : t + 1] (the legacy moving sum)."""
    sums = np.concatenate(([0.0], np.cumsum(values)))
    ends = np.arange(1, len(values) + 1)
    result: FloatArray = sums[ends] - sums[np.maximum(0, ends - 1 - days)]
    return result


def _gamma(values: FloatArray, gamma: float) -> FloatArray:
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(peak > 0, (values / peak) ** (1.0 / gamma) * peak, 0.0)
    result: FloatArray = scaled
    return result


def _running_percentile(values: FloatArray, pct: float) -> FloatArray:
    """Percentile of the values seen so far, each day."""
    running = pd.Series(values).expanding().quantile(pct / 100.0)
    result: FloatArray = running.to_numpy(dtype=np.float64)
    return result
