"""Rebalancing simulation with a fixed dollar cost per traded position."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pytaaad.backtest.market import START_VALUE, Market

logger = logging.getLogger(__name__)

WEIGHT_TOLERANCE = 1e-4

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Trades:
    """Where the book changes: ``days`` (n_trades,) and the weights bought,
    (n_symbols, n_trades); ``anchors`` are the days whose closes price the trade, and
    ``costs`` the dollars paid at each trade.
    """

    days: IntArray
    anchors: IntArray
    weights: FloatArray
    costs: FloatArray


def legacy_trades(
    rebalance: IntArray, before: FloatArray, after: FloatArray, trade_cost: float
) -> Trades:
    """The legacy program's trades (doc §2.4, §12 C8).

    A rebalance day t trades when the ranker's weights of day t-1 (``before``) and of
    day t (``after``), both (n_symbols, n_rebalance), differ by more than 1e-4 in some
    symbol; it pays ``trade_cost`` per such symbol. The new weights are bought at the
    close of t-1 and earn day t's gain: the one-day look-ahead of the legacy program.
    """
    changed = np.abs(before - after) > WEIGHT_TOLERANCE
    trade = changed.any(axis=0)
    return Trades(
        days=rebalance[trade],
        anchors=rebalance[trade] - 1,
        weights=after[:, trade],
        costs=changed[:, trade].sum(axis=0) * trade_cost,
    )


def simulate(market: Market, trades: Trades, start: FloatArray) -> FloatArray:
    """Portfolio value per day, (n_days,), in dollars.

    Until the first trade the value follows ``start`` (n_days,). A trade sells the
    book at the close of its anchor day, pays its cost and buys its weights; positions
    then drift with prices until the next trade. When the anchor is the trade day
    itself, that day's value is reported after the cost.
    """
    value = start.copy()
    growth = market.growth
    n_trades = len(trades.days)
    for k in range(n_trades):
        anchor = int(trades.anchors[k])
        end = int(trades.anchors[k + 1]) if k + 1 < n_trades else market.n_days - 1
        base = max(value[anchor] - trades.costs[k], 0.0)
        held = np.flatnonzero(trades.weights[:, k])
        relative = growth[held, anchor + 1 : end + 1] / growth[held, anchor, None]
        value[anchor + 1 : end + 1] = base * (trades.weights[held, k] @ relative)
        if anchor == trades.days[k]:
            value[anchor] = base
    return value


def causal_trades(
    market: Market, rebalance: IntArray, targets: FloatArray, trade_cost: float
) -> Trades:
    """Trades without look-ahead: weights decided at day t's close are bought at that
    close and earn from day t+1 on.

    ``targets``: (n_symbols, n_rebalance) weights decided on each rebalance day. A
    trade happens when some target differs from the drifted weight held by more than
    1e-4; it pays ``trade_cost`` for every stock bought, sold or resized (CASH is free).
    The book starts in CASH.
    """
    growth = market.growth
    cash = market.cash_index
    held_weights = np.zeros(market.n_symbols)
    held_weights[cash] = 1.0
    anchor = 0
    days: list[int] = []
    costs: list[float] = []
    columns: list[int] = []
    for k, day in enumerate(rebalance):
        held = np.flatnonzero(held_weights)
        drifted = np.zeros(market.n_symbols)
        drifted[held] = held_weights[held] * growth[held, day] / growth[held, anchor]
        drifted /= drifted.sum()
        changed = np.abs(targets[:, k] - drifted) > WEIGHT_TOLERANCE
        if not changed.any():
            continue
        changed[cash] = False
        days.append(int(day))
        costs.append(float(changed.sum()) * trade_cost)
        columns.append(k)
        held_weights = targets[:, k]
        anchor = int(day)
    day_array = np.array(days, dtype=np.int64)
    return Trades(
        days=day_array,
        anchors=day_array,
        weights=targets[:, columns],
        costs=np.array(costs, dtype=np.float64),
    )


def cash_start(n_days: int) -> FloatArray:
    """A book that holds 10,000 dollars in cash, (n_days,)."""
    return np.full(n_days, START_VALUE)
