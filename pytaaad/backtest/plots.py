"""The two PNG figures: every trial, the config trial, buy-and-hold, the 5-95 % band,
a statistics table and a breadth panel.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogFormatter,
    MaxNLocator,
    NullLocator,
    PercentFormatter,
)

from pytaaad.backtest import metrics

logger = logging.getLogger(__name__)

FIGURE_INCHES = (12.0, 6.75)
DPI = 150
TABLE_WINDOWS = ("Life", "15Y", "10Y", "5Y", "3Y", "2Y", "1Y", "6M", "3M", "1M")
ANNUALISED_WINDOWS = ("Life", "15Y", "10Y", "5Y", "3Y", "2Y", "1Y")
BREADTH_SMOOTHING_DAYS = 21
THIN_LINE_POINTS = 2000
SIDE_LINE_HEIGHT = 0.027
NARROW_DECADES = 0.6
ONE_YEAR_DAYS = 252
TRIAL_COLOUR = "#4a4a4a"
BAND_COLOUR = "#9ecae1"
CONFIG_COLOUR = "black"
HOLD_COLOUR = "#d62728"
BREADTH_COLOUR = "#2ca02c"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FigureData:
    """What both figures show. ``trials``: (n_trials, n_days) dollars, row 0 the
    config trial; ``buy_and_hold`` and ``breadth`` (share of listed stocks in an
    uptrend): (n_days,).
    """

    dates: npt.NDArray[np.datetime64]
    trials: FloatArray
    buy_and_hold: FloatArray
    breadth: FloatArray
    title: str
    subtitle: str
    notes: str


def render(data: FigureData, start: int, path: Path, heading: str) -> None:
    """Draw the figure from day index ``start`` on, values rescaled to 10,000 there,
    and save it as a PNG at ``path``.
    """
    dates = list(data.dates[start:].astype("datetime64[D]").astype(dt.date))
    trials = _rebased(data.trials[:, start:])
    hold = _rebased(data.buy_and_hold[None, start:])[0]
    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    # Fixed axes boxes (figure fractions): a layout engine would cost a second draw.
    values = figure.add_axes((0.075, 0.31, 0.615, 0.58))
    breadth = figure.add_axes((0.075, 0.075, 0.615, 0.2), sharex=values)
    side = figure.add_axes((0.715, 0.03, 0.275, 0.86))
    _draw_values(values, dates, trials, hold)
    _draw_breadth(breadth, dates, data.breadth[start:])
    # The legend sits beside the plot: curves start at its corner in a falling market.
    handles, labels = values.get_legend_handles_labels()
    side.legend(handles, labels, loc="lower left", fontsize=8.5, frameon=False)
    first_window = "Life" if start == 0 else "Since"
    _draw_side(side, trials, hold, first_window, f"{data.subtitle}\n\n{data.notes}")
    figure.text(0.075, 0.975, heading, fontsize=13, va="top", weight="bold")
    figure.text(0.075, 0.93, data.title, fontsize=10.5, va="top")
    figure.savefig(path, format="png", dpi=DPI)


def _draw_values(
    axes: Axes, dates: list[dt.date], trials: FloatArray, hold: FloatArray
) -> None:
    x = mdates.date2num(dates)
    lows, median, highs = metrics.daily_band(trials)
    axes.fill_between(
        x, lows, highs, color=BAND_COLOUR, alpha=0.45, lw=0, label="5-95 % of trials"
    )
    # Thin, translucent lines lose nothing visible at a few thousand points each.
    step = max(1, len(x) // THIN_LINE_POINTS)
    picks = np.unique(np.append(np.arange(0, len(x), step), len(x) - 1))
    segments = [np.column_stack((x[picks], row[picks])) for row in trials[1:]]
    axes.add_collection(
        LineCollection(
            segments,
            colors=TRIAL_COLOUR,
            linewidths=0.4,
            alpha=0.35,
            label=f"Perturbed trials ({len(segments)})",
        )
    )
    axes.plot(x, median, color="#3182bd", lw=1.0, ls="--", label="Median of trials")
    axes.plot(x, hold, color=HOLD_COLOUR, lw=2.0, label="Buy and hold (equal weight)")
    axes.plot(x, trials[0], color=CONFIG_COLOUR, lw=2.2, label="Config trial")
    axes.set_yscale("log")
    shown = np.concatenate((trials.ravel(), hold))
    shown = shown[shown > 0]
    _dollar_axis(axes, float(shown.min()), float(shown.max()))
    axes.set_ylabel("Value of $10,000 (log scale)", fontsize=10)
    axes.grid(True, which="major", color="#dddddd", lw=0.6)
    axes.set_xlim(x[0], x[-1])
    axes.tick_params(labelsize=9, labelbottom=False)


def _dollar_axis(axes: Axes, low: float, high: float) -> None:
    """Dollar labels on the log value axis that neither crowd nor leave gaps."""
    if math.log10(high / low) < NARROW_DECADES:
        # Less than a decade has one power of ten at most: place round dollar values.
        axes.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]))
        axes.yaxis.set_minor_locator(NullLocator())
        axes.yaxis.set_major_formatter(FuncFormatter(_dollars))
        return
    axes.yaxis.set_major_formatter(_DollarLogFormatter(labelOnlyBase=True))
    axes.yaxis.set_minor_formatter(_DollarLogFormatter())
    axes.tick_params(axis="y", which="minor", labelsize=8)


class _DollarLogFormatter(LogFormatter):
    """Log ticks as dollars; between powers of ten it labels 2, 3 and 5 over up to
    1.2 decades, 2 and 5 over up to 2.5, and nothing wider, so labels never crowd.
    """

    def set_locs(self, locs: object = None) -> None:
        low, high = self.axis.get_view_interval() if self.axis else (1.0, 10.0)
        decades = math.log10(max(high, 1e-9) / max(low, 1e-9))
        if decades <= 1.2:
            self._sublabels = {1, 2, 3, 5}
        elif decades <= 2.5:
            self._sublabels = {1, 2, 5}
        else:
            self._sublabels = {1}

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return _dollars(x, 0.0)


def _draw_side(
    axes: Axes, trials: FloatArray, hold: FloatArray, first_window: str, notes: str
) -> None:
    axes.axis("off")
    table = statistics_table(trials[0], hold, first_window)
    axes.text(
        0.0,
        1.0,
        table,
        transform=axes.transAxes,
        fontsize=7.5,
        family="monospace",
        va="top",
        linespacing=1.45,
        bbox={
            "boxstyle": "round,pad=0.5",
            "facecolor": "#f7f7f7",
            "edgecolor": "#cccccc",
        },
    )
    notes_top = 0.99 - SIDE_LINE_HEIGHT * (table.count("\n") + 2.5)
    note = "Return: CAGR for a year or more, else total."
    axes.text(
        0.0,
        notes_top,
        f"{note}\n\n{notes}",
        transform=axes.transAxes,
        fontsize=8.5,
        va="top",
        linespacing=1.35,
    )


def statistics_table(strategy: FloatArray, hold: FloatArray, first_window: str) -> str:
    """A fixed-width table of the config trial's and buy-and-hold's statistics."""
    stats = metrics.window_statistics(np.vstack((strategy, hold)))
    days = metrics.window_days(len(strategy))
    lines = [
        f"{'':6}{'Config trial':^23} {'Buy and hold':^15}",
        f"{'':6}{'Return':>8}{'Sharpe':>7}{'MaxDD':>8} {'Return':>8}{'Sharpe':>7}",
    ]
    for name in TABLE_WINDOWS:
        if name not in stats:
            continue
        window = stats[name]
        annual = name in ANNUALISED_WINDOWS and days[name] >= ONE_YEAR_DAYS
        key = "cagr" if annual else "total_return"
        label = first_window if name == "Life" else name
        lines.append(
            f"{label:<6}{_percent(window[key][0]):>8}{_number(window['sharpe'][0]):>7}"
            f"{_percent(window['max_drawdown'][0]):>8} {_percent(window[key][1]):>8}"
            f"{_number(window['sharpe'][1]):>7}"
        )
    return "\n".join(lines)


def _draw_breadth(axes: Axes, dates: list[dt.date], share: FloatArray) -> None:
    x = mdates.date2num(dates)
    smooth = _rolling_mean(share, BREADTH_SMOOTHING_DAYS)
    axes.fill_between(x, 0, smooth, color=BREADTH_COLOUR, alpha=0.35, lw=0)
    axes.plot(x, smooth, color=BREADTH_COLOUR, lw=0.9)
    axes.set_ylim(0, 1)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.set_ylabel(f"In uptrend\n({BREADTH_SMOOTHING_DAYS}-day mean)", fontsize=9)
    axes.grid(True, color="#dddddd", lw=0.6)
    locator = mdates.AutoDateLocator(minticks=5, maxticks=14)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.tick_params(labelsize=9)


def _rebased(values: FloatArray) -> FloatArray:
    """Each row scaled to 10,000 on its first day. A row already worth nothing there
    (a trial that lost everything to trade costs) stays at zero, which a log axis
    leaves out.
    """
    first = values[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled: FloatArray = np.where(first > 0, values / first * 10_000.0, 0.0)
    return scaled


def _rolling_mean(values: FloatArray, days: int) -> FloatArray:
    """Trailing mean over ``days`` values, skipping NaN."""
    finite = np.isfinite(values)
    sums = _trailing(np.cumsum(np.where(finite, values, 0.0)), days)
    counts = _trailing(np.cumsum(finite.astype(np.float64)), days)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean: FloatArray = sums / counts
    return mean


def _trailing(cumulative: FloatArray, days: int) -> FloatArray:
    lagged = np.concatenate((np.zeros(min(days, len(cumulative))), cumulative[:-days]))
    result: FloatArray = cumulative - lagged
    return result


def _dollars(value: float, _position: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"${value / scale:g}{suffix}"
    return f"${value:g}"


def _percent(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.1%}"


def _number(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.2f}"
