"""Finished trials into the job's files: PNGs, ``.mc.params``, CSV, JSON, report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

import pytaaad
from pytaaad.backtest import highlow, metrics, outputs, plots, trials
from pytaaad.backtest.market import Market
from pytaaad.config import (
    MinMaxChannelSignal,
    MovingAverageSignal,
    PercentileChannelSignal,
    Settings,
    StrategyParams,
)

if TYPE_CHECKING:
    from pytaaad.backtest.job import TrialResult

logger = logging.getLogger(__name__)

RECENT_YEARS = 4
MIN_RECENT_DAYS = 63
PARTS = ("full", "recent", "files")
NOTE_WIDTH = 46

FloatArray = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished job as the report sees it; ``results`` sorted by trial id."""

    settings: Settings
    market: Market
    seed: int
    results: Sequence[TrialResult]
    timings: dict[str, float]

    @property
    def values(self) -> FloatArray:
        stacked: FloatArray = np.vstack([r.values for r in self.results])
        return stacked


def write_all(
    run: Run, web_dir: Path, store_dir: Path, parts: Sequence[str] = PARTS
) -> list[tuple[Path, Path]]:
    """Write the chosen ``parts`` of ``run``'s outputs into the staging folders
    ``web_dir`` (for the web page) and ``store_dir`` (for the performance store);
    return (staged, final) pairs. Parts: "full" and "recent" (the two PNGs) and
    "files" (values, CSV, summary, report); they can be written in parallel.
    """
    settings = run.settings
    started = time.perf_counter()
    buy_and_hold = run.market.buy_and_hold(settings.legacy_lookahead)
    summary = _summary(run, buy_and_hold)
    files: list[tuple[Path, Path]] = []
    figure = (
        _figure_data(run, buy_and_hold, summary) if set(parts) - {"files"} else None
    )
    if figure is not None and "full" in parts:
        files.append(_png(figure, 0, "full history", web_dir / outputs.PNG_FULL, run))
    if figure is not None and "recent" in parts:
        start = recent_start(run.market, settings)
        heading = f"since {_day(run.market, start)}"
        files.append(_png(figure, start, heading, web_dir / outputs.PNG_RECENT, run))
    if "files" in parts:
        files += _store_files(run, buy_and_hold, store_dir)
        run.timings["render_seconds"] = time.perf_counter() - started
        summary["timings"] = dict(run.timings)
        for folder, name, data in (
            (store_dir, outputs.SUMMARY_JSON, outputs.json_bytes(summary)),
            (web_dir, outputs.REPORT_LOG, _report(run, summary).encode()),
        ):
            outputs.write_bytes(folder / name, data)
            final = (
                settings.performance_store if folder == store_dir else settings.webpage
            )
            files.append((folder / name, final / name))
    return files


def _png(
    figure: plots.FigureData, start: int, heading: str, path: Path, run: Run
) -> tuple[Path, Path]:
    plots.render(figure, start, path, f"Monte Carlo backtest, {heading}")
    return path, run.settings.webpage / path.name


def recent_start(market: Market, settings: Settings) -> int:
    """Day index where the recent figure starts: ``recent_plot_start_date``, else four
    years before the last date; never later than MIN_RECENT_DAYS before the end.
    """
    last = market.quotes.last_date
    try:
        default = last.replace(year=last.year - RECENT_YEARS)
    except ValueError:  # 29 February
        default = last.replace(year=last.year - RECENT_YEARS, day=28)
    index = market.day_index(settings.recent_plot_start or default)
    latest = max(0, market.n_days - MIN_RECENT_DAYS)
    if index > latest:
        logger.warning(
            "recent_plot_start_date %s leaves fewer than %d trading days before the "
            "last quote (%s); the recent figure shows the last %d",
            settings.recent_plot_start,
            MIN_RECENT_DAYS,
            last,
            MIN_RECENT_DAYS,
        )
    return max(0, min(index, latest))


def _store_files(
    run: Run, buy_and_hold: FloatArray, store_dir: Path
) -> list[tuple[Path, Path]]:
    settings = run.settings
    market = run.market
    highs, lows = highlow.new_highs_lows(
        market.quotes.prices[: market.cash_index],
        highlow.params_for(settings.sp500_rules),
    )
    params_path = store_dir / outputs.PARAMS_FILE
    text = outputs.params_text(market.dates, buy_and_hold, run.values[0], highs, lows)
    outputs.write_bytes(params_path, text.encode())
    csv_path = store_dir / outputs.TRIALS_CSV
    header, rows = _trial_rows(run)
    outputs.write_bytes(csv_path, outputs.csv_text(header, rows).encode())
    store = settings.performance_store
    return [(params_path, store / params_path.name), (csv_path, store / csv_path.name)]


def _figure_data(
    run: Run, buy_and_hold: FloatArray, summary: dict[str, Any]
) -> plots.FigureData:
    settings = run.settings
    config = settings.strategy
    breadth = trials.signal_share(run.market, settings, config.signal)
    mode = "legacy look-ahead" if settings.legacy_lookahead else "no look-ahead"
    config_trial = summary["config_trial"]
    holdings = ", ".join(
        f"{symbol} {weight:.0%}" for symbol, weight in config_trial["holdings"].items()
    )
    quotes = summary["quotes"]
    finals = summary["across_trials"]["final_value"]
    notes = "\n".join(
        [
            f"Holdings since {config_trial['last_trade']}:",
            *_wrapped(holdings or "cash", NOTE_WIDTH),
            "",
            f"$10,000 from {quotes['first_date']} became, over trials:",
            f"5 %: {_money(finals.get('p5'))}   median: {_money(finals.get('p50'))}"
            f"   95 %: {_money(finals.get('p95'))}",
            "",
            f"Quotes: {Path(quotes['file']).name}, {len(quotes['symbols'])} symbols,",
            f"{quotes['first_date']} to {quotes['last_date']}.",
            f"Backtested {summary['created'].replace('T', ' ')[:16]} UTC.",
        ]
    )
    return plots.FigureData(
        dates=run.market.dates,
        trials=run.values,
        buy_and_hold=buy_and_hold,
        breadth=breadth,
        title=f"{settings.config_path.name}: {describe(config)}",
        subtitle=f"{len(run.results)} trials, seed {run.seed}, {mode}",
        notes=notes,
    )


def describe(params: StrategyParams) -> str:
    """A one-line description of a trial's parameters."""
    signal = params.signal
    if isinstance(signal, MovingAverageSignal):
        detail = (
            f"{signal.kind} {signal.short}/{signal.mid}/{signal.long} "
            f"x{signal.long_factor:.3g}"
        )
    elif isinstance(signal, PercentileChannelSignal):
        detail = f"percentile channels {signal.low_pct:.3g}-{signal.hi_pct:.3g}%"
    else:
        detail = "min/max channels"
    return (
        f"{detail}, top {params.stocks_traded}, hold {params.months_to_hold} mo, "
        f"Sharpe over {params.long_period} d"
    )


def _summary(run: Run, buy_and_hold: FloatArray) -> dict[str, Any]:
    settings = run.settings
    market = run.market
    quotes = market.quotes
    values = run.values
    stats = metrics.window_statistics(values)
    hold_stats = metrics.window_statistics(buy_and_hold[None, :])
    config = run.results[0]
    stat = quotes.path.stat()
    return {
        "version": pytaaad.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {"path": str(settings.config_path), "sha256": settings.config_sha256},
        "quotes": {
            "file": str(quotes.path),
            "size": stat.st_size,
            "first_date": str(quotes.first_date),
            "last_date": str(quotes.last_date),
            "trading_days": market.n_days,
            "symbols": list(quotes.symbols[: market.cash_index]),
            "synthetic_cash": quotes.synthetic_cash,
        },
        "seed": run.seed,
        "trials": len(run.results),
        "legacy_lookahead": settings.legacy_lookahead,
        "config_trial": {
            "final_value": float(config.values[-1]),
            "trades": config.trades,
            "last_trade": _day(market, config.last_trade_day),
            "holdings": dict(config.holdings),
            "statistics": _pick(stats, 0),
        },
        "buy_and_hold": {
            "final_value": float(buy_and_hold[-1]),
            "statistics": _pick(hold_stats, 0),
        },
        "across_trials": {
            "final_value": metrics.spread(values[:, -1]),
            **{
                name: metrics.spread(stats["Life"][name])
                for name in ("cagr", "sharpe", "max_drawdown")
            },
        },
    }


def _pick(
    stats: dict[str, dict[str, FloatArray]], row: int
) -> dict[str, dict[str, float]]:
    return {
        window: {name: float(values[row]) for name, values in table.items()}
        for window, table in stats.items()
    }


def _trial_rows(run: Run) -> tuple[list[str], list[list[Any]]]:
    stats = metrics.window_statistics(run.values)
    windows = list(stats)
    header = [*PARAMETER_COLUMNS, "trades", "final_value"]
    header += [f"{name}_{window}" for window in windows for name in metrics.STATISTICS]
    rows = []
    for index, result in enumerate(run.results):
        row = [result.trial, *_parameter_cells(result.params), result.trades]
        row.append(float(result.values[-1]))
        row += [
            float(stats[w][name][index]) for w in windows for name in metrics.STATISTICS
        ]
        rows.append(row)
    return header, rows


PARAMETER_COLUMNS = (
    "trial",
    "uptrendSignalMethod",
    "numberStocksTraded",
    "monthsToHold",
    "LongPeriod",
    "MA1",
    "MA2",
    "MA3",
    "sma2factor",
    "lowPct",
    "hiPct",
    "narrowDays_min",
    "narrowDays_max",
    "mediumDays_min",
    "mediumDays_max",
    "wideDays_min",
    "wideDays_max",
)


def _parameter_cells(params: StrategyParams) -> list[Any]:
    signal = params.signal
    averages: list[Any] = [""] * 4
    channels: list[Any] = [""] * 2
    ranges: list[Any] = [""] * 6
    if isinstance(signal, MovingAverageSignal):
        method = signal.kind
        averages = [signal.long, signal.short, signal.mid, signal.long_factor]
    elif isinstance(signal, PercentileChannelSignal):
        method = "percentileChannels"
        channels = [signal.low_pct, signal.hi_pct]
    else:
        assert isinstance(signal, MinMaxChannelSignal)
        method = "minmaxChannels"
        ranges = [*signal.narrow, *signal.medium, *signal.wide]
    counts = [params.stocks_traded, params.months_to_hold, params.long_period]
    return [method, *counts, *averages, *channels, *ranges]


def _report(run: Run, summary: dict[str, Any]) -> str:
    config = summary["config_trial"]
    hold = summary["buy_and_hold"]
    spread = summary["across_trials"]
    life = config["statistics"].get("Life", {})
    lines = [
        f"pytaaad {summary['version']} Monte Carlo backtest, {summary['created']}",
        f"config   {summary['config']['path']} "
        f"(sha256 {summary['config']['sha256'][:12]})",
        f"quotes   {summary['quotes']['file']}: {len(summary['quotes']['symbols'])} "
        f"symbols, {summary['quotes']['first_date']} "
        f"to {summary['quotes']['last_date']}",
        f"trials   {summary['trials']}, seed {summary['seed']}, "
        f"{'legacy look-ahead' if summary['legacy_lookahead'] else 'no look-ahead'}",
        f"config   {describe(run.settings.strategy)}",
        f"config trial: final ${config['final_value']:,.0f}, "
        f"CAGR {_shown(life.get('cagr'), '.2%')}, "
        f"Sharpe {_shown(life.get('sharpe'), '.2f')}, "
        f"max drawdown {_shown(life.get('max_drawdown'), '.1%')}, "
        f"{config['trades']} trades",
        f"buy and hold: final ${hold['final_value']:,.0f}",
        f"final value over trials: p5 ${spread['final_value'].get('p5', 0):,.0f}, "
        f"median ${spread['final_value'].get('p50', 0):,.0f}, "
        f"p95 ${spread['final_value'].get('p95', 0):,.0f}",
        f"holdings since {config['last_trade']}: "
        + (", ".join(f"{s} {w:.1%}" for s, w in config["holdings"].items()) or "cash"),
        "timings  " + ", ".join(f"{k} {v:.2f}" for k, v in summary["timings"].items()),
    ]
    return "\n".join(lines) + "\n"


def _shown(value: float | None, spec: str) -> str:
    """A statistic for people: "-" where it is undefined."""
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _wrapped(items: str, width: int) -> list[str]:
    """Break a comma-separated list between items, never inside one."""
    lines: list[str] = []
    for item in items.split(", "):
        if lines and len(lines[-1]) + len(item) + 2 <= width:
            lines[-1] += f", {item}"
        else:
            lines.append(item)
    return lines


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:.3g}{suffix}"
    return f"${value:,.0f}"


def _day(market: Market, index: int) -> str:
    return str(market.dates[index])[:10]
