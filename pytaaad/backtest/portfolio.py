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
    n_trades = len(trades.days)
    if n_trades == 0:
        return value
    growth = market.growth_by_day
    rows, units = _held_rows(trades, growth)
    anchors = trades.anchors
    segment = np.searchsorted(anchors, np.arange(market.n_days), side="left") - 1
    days = np.flatnonzero(segment >= 0)
    per_unit = (growth[days[:, None], rows[segment[days]]] * units[segment[days]]).sum(
        axis=1
    )
    unit_value = np.empty(market.n_days)
    unit_value[days] = per_unit
    bases = np.empty(n_trades)
    base = max(value[anchors[0]] - trades.costs[0], 0.0)
    for k in range(n_trades):
        bases[k] = base
        if k + 1 < n_trades:
            base = max(base * unit_value[anchors[k + 1]] - trades.costs[k + 1], 0.0)
    value[days] = bases[segment[days]] * per_unit
    causal = anchors == trades.days
    value[anchors[causal]] = bases[causal]
    return value


def _held_rows(trades: Trades, growth: FloatArray) -> tuple[IntArray, FloatArray]:
    """Per trade, the symbols bought (padded) and units per dollar: (n_trades, width).

    A symbol bought with weight w at the anchor's close holds w / growth[anchor] units
    of its cumulative growth per dollar of the book.
    """
    held = trades.weights > 0
    width = max(1, int(held.sum(axis=0).max()))
    order = np.argsort(~held, axis=0, kind="stable")[:width].T
    weights = np.take_along_axis(trades.weights.T, order, axis=1)
    units = weights / growth[trades.anchors[:, None], order]
    rows: IntArray = order.astype(np.int64)
    return rows, units


def causal_trades(
    rebalance: IntArray, targets: FloatArray, cash_index: int, trade_cost: float
) -> Trades:
    """Trades without look-ahead: weights decided at day t's close are bought at that
    close and earn from day t+1 on.

    ``targets``: (n_symbols, n_rebalance) weights decided on each rebalance day; the
    book starts in CASH. A rebalance day trades when its targets differ from the
    previous targets by more than 1e-4 in some symbol; the book is then reset to the
    targets and pays ``trade_cost`` per stock whose target changed (CASH is free).
    """
    previous = np.zeros_like(targets)
    previous[cash_index, 0] = 1.0
    previous[:, 1:] = targets[:, :-1]
    changed = np.abs(targets - previous) > WEIGHT_TOLERANCE
    trade = changed.any(axis=0)
    changed[cash_index] = False
    return Trades(
        days=rebalance[trade],
        anchors=rebalance[trade],
        weights=targets[:, trade],
        costs=changed[:, trade].sum(axis=0) * trade_cost,
    )


def cash_start(n_days: int) -> FloatArray:
    """A book that holds 10,000 dollars in cash, (n_days,)."""
    return np.full(n_days, START_VALUE)
