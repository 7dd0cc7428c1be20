"""The seeded trial plan and one trial of the strategy, from signals to values."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pytaaad.backtest import portfolio, ranking, signals
from pytaaad.backtest.market import Market, rebalance_days
from pytaaad.config import (
    MinMaxChannelSignal,
    MovingAverageSignal,
    PercentileChannelSignal,
    Settings,
    SignalParams,
    StrategyParams,
)

logger = logging.getLogger(__name__)

PERTURBATION = 0.2
PERCENTILE_PERTURBATION = 0.15
SP500_SIGNAL_START = np.datetime64("2002-01-01", "D")
SP500_CASH_YEARS = (2000, 2002)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TrialRun:
    """One simulated trial: ``values`` (n_days,) dollars, starting at 10,000, and the
    weights bought at the last trade (n_symbols,) with that trade's day index.
    """

    values: FloatArray
    last_trade_day: int
    last_weights: FloatArray
    trades: int


def plan_trials(settings: Settings, trials: int, seed: int) -> list[StrategyParams]:
    """Trial 0 is the config; trial i > 0 is perturbed by its own generator
    ``default_rng([seed, i])``, so a trial's parameters never depend on chunking.
    """
    base = settings.strategy
    plan = [base]
    for trial in range(1, trials):
        rng = np.random.default_rng([seed, trial])
        plan.append(perturb(base, rng, settings.hold_month_choices))
    return plan


def perturb(
    base: StrategyParams, rng: np.random.Generator, hold_months: tuple[int, ...]
) -> StrategyParams:
    """LongPeriod and the signal's windows +-20 %, stocks held +-1, a hold period drawn
    from ``hold_months``; percentile levels +-15 % within their half of [0, 100].
    """
    return StrategyParams(
        signal=_perturb_signal(base.signal, rng),
        long_period=max(2, _scaled_int(base.long_period, rng)),
        stocks_traded=max(1, base.stocks_traded + int(rng.integers(-1, 2))),
        months_to_hold=int(rng.choice(hold_months)),
    )


def _scaled(
    value: float, rng: np.random.Generator, spread: float = PERTURBATION
) -> float:
    return value * float(rng.uniform(1.0 - spread, 1.0 + spread))


def _scaled_int(value: int, rng: np.random.Generator) -> int:
    return round(_scaled(value, rng))


def _perturb_signal(params: SignalParams, rng: np.random.Generator) -> SignalParams:
    if isinstance(params, MovingAverageSignal):
        short = max(2, _scaled_int(params.short, rng))
        mid = max(2, _scaled_int(params.mid, rng))
        long = max(short + 1, mid + 1, _scaled_int(params.long, rng))
        return dataclasses.replace(
            params,
            short=short,
            mid=mid,
            long=long,
            long_factor=_scaled(params.long_factor, rng),
        )
    if isinstance(params, PercentileChannelSignal):
        low = _scaled(params.low_pct, rng, PERCENTILE_PERTURBATION)
        high = _scaled(params.hi_pct, rng, PERCENTILE_PERTURBATION)
        return dataclasses.replace(
            params, low_pct=min(max(low, 0.0), 50.0), hi_pct=min(max(high, 50.0), 100.0)
        )
    return MinMaxChannelSignal(
        narrow=_perturb_range(params.narrow, rng),
        medium=_perturb_range(params.medium, rng),
        wide=_perturb_range(params.wide, rng),
    )


def _perturb_range(
    days: tuple[float, float], rng: np.random.Generator
) -> tuple[float, float]:
    low = max(1.0, _scaled(days[0], rng))
    return low, max(low + 1.0, _scaled(days[1], rng))


def longest_window(params: StrategyParams, window_size: int) -> int:
    """The longest look-back, in trading days, a trial with ``params`` needs."""
    signal_days = signal_warmup(params.signal) + 1
    return max(signal_days, params.long_period + 1, window_size)


def signal_warmup(params: SignalParams) -> int:
    """Days of history before the first day whose signal windows are all full."""
    if isinstance(params, MovingAverageSignal):
        longest = max(params.long, params.short, params.mid)
        smoothing = math.isqrt(longest) - 1 if params.kind == "HMAs" else 0
        return longest - 1 + smoothing
    if isinstance(params, PercentileChannelSignal):
        return max(params.periods)
    return max(signals.minmax_lookbacks(params.wide))


@dataclass(frozen=True)
class Decisions:
    """What a trial decides: its rebalance days (n_rebalance,) and the weights chosen
    on them (n_symbols, n_rebalance). Legacy mode also ranks on the day before each
    rebalance day (``eve_weights``), for its weight-change gate.
    """

    rebalance: IntArray
    weights: FloatArray
    eve_weights: FloatArray | None


def decide(market: Market, settings: Settings, params: StrategyParams) -> Decisions:
    """Signals, ranking and weights on every rebalance day, from data up to that day."""
    legacy = settings.legacy_lookahead
    rebalance = rebalance_days(market.month_key, params.months_to_hold)
    signal_days = np.concatenate(([0], rebalance)).astype(np.int64)
    filtered = held_signal(market, settings, params.signal, signal_days)
    if not legacy:
        weights = _weights(market, settings, params, rebalance, filtered[:, 1:])
        return Decisions(rebalance, weights, None)
    # The day before a rebalance still holds the previous rebalance day's signal.
    days = np.concatenate((rebalance - 1, rebalance))
    held = np.concatenate((filtered[:, :-1], filtered[:, 1:]), axis=1)
    both = _weights(market, settings, params, days, held)
    n_rebalance = len(rebalance)
    return Decisions(rebalance, both[:, n_rebalance:], both[:, :n_rebalance])


def run_trial(market: Market, settings: Settings, params: StrategyParams) -> TrialRun:
    """Simulate one trial of the strategy over the whole history."""
    chosen = decide(market, settings, params)
    if chosen.eve_weights is not None:
        trades = portfolio.legacy_trades(
            chosen.rebalance, chosen.eve_weights, chosen.weights, settings.trade_cost
        )
        start = market.buy_and_hold(legacy=True)
    else:
        trades = portfolio.causal_trades(
            chosen.rebalance, chosen.weights, market.cash_index, settings.trade_cost
        )
        start = portfolio.cash_start(market.n_days)
    values = portfolio.simulate(market, trades, start)
    return _trial_run(market, trades, values)


def _trial_run(
    market: Market, trades: portfolio.Trades, values: FloatArray
) -> TrialRun:
    if len(trades.days) == 0:
        cash_only = np.zeros(market.n_symbols)
        cash_only[market.cash_index] = 1.0
        return TrialRun(values, 0, cash_only, 0)
    return TrialRun(
        values=values,
        last_trade_day=int(trades.days[-1]),
        last_weights=trades.weights[:, -1].copy(),
        trades=len(trades.days),
    )


def held_signal(
    market: Market, settings: Settings, params: SignalParams, days: IntArray
) -> BoolArray:
    """The uptrend signal on ``days`` after the listing, universe and quality masks."""
    legacy = settings.legacy_lookahead
    signal = signals.uptrend(market, params, legacy, days)
    if legacy:
        ends = market.legacy_zero_end
        ends = np.where(ends >= 0, ends, market.n_days + ends)
        signal &= days[None, :] >= ends[:, None]
    else:
        # A stock's windows must hold real quotes, not the first price held backwards.
        history = days[None, :] - market.first_valid[:, None]
        signal &= market.listed[:, days] & (history >= signal_warmup(params))
        signal[market.cash_index] = False
    if settings.sp500_rules:
        signal[:, market.dates[days] < SP500_SIGNAL_START] = False
    signal &= market.quality[:, days]
    return signal


def _weights(
    market: Market,
    settings: Settings,
    params: StrategyParams,
    days: IntArray,
    held: BoolArray,
) -> FloatArray:
    legacy = settings.legacy_lookahead
    sharpe = ranking.rolling_sharpe(market, days, params.long_period, legacy)
    if settings.sp500_rules:
        years = market.dates[days].astype("datetime64[Y]").astype(int) + 1970
        in_cash = (years >= SP500_CASH_YEARS[0]) & (years <= SP500_CASH_YEARS[1])
        held = held & ~in_cash[None, :]
    return ranking.select_weights(
        sharpe, held, params.stocks_traded, market.cash_index, legacy
    )


def signal_share(
    market: Market, settings: Settings, params: SignalParams
) -> FloatArray:
    """Share of listed stocks in an uptrend each day (the breadth panel), (n_days,)."""
    days = np.arange(market.n_days, dtype=np.int64)
    signal = held_signal(market, settings, params, days)[: market.cash_index]
    listed = market.listed_count()
    with np.errstate(divide="ignore", invalid="ignore"):
        share: FloatArray = np.where(listed > 0, signal.sum(axis=0) / listed, np.nan)
    return share
