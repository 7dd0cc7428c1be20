"""Writers for the job's output files: the legacy ``.mc.params`` lines, the trials CSV,
the JSON summary and the text report. Each file is written completely, flushed and
synced before anyone moves it into place.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

logger = logging.getLogger(__name__)

PNG_FULL = "PyTAAA_monteCarloBacktest.png"
PNG_RECENT = "PyTAAA_monteCarloBacktestRecent.png"
PARAMS_FILE = "pyTAAAweb_backtestPortfolioValue.mc.params"
TRIALS_CSV = "montecarlo_trials.csv"
SUMMARY_JSON = "montecarlo_summary.json"
REPORT_LOG = "montecarlo_backtest.log"

FloatArray = npt.NDArray[np.float64]


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and sync it to disk."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def params_text(
    dates: npt.NDArray[np.datetime64],
    buy_and_hold: FloatArray,
    strategy: FloatArray,
    highs: FloatArray,
    lows: FloatArray,
) -> str:
    """The legacy 5-column line format: ``date B&H strategy highs lows`` per day,
    values as Python prints floats, highs and lows with one decimal.
    """
    lines = [
        f"{day} {float(hold)!r} {float(value)!r} {high:.1f} {low:.1f}\n"
        for day, hold, value, high, low in zip(
            dates.astype(str), buy_and_hold, strategy, highs, lows, strict=True
        )
    ]
    return "".join(lines)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a header row; floats in full precision, NaN as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if _is_nan(cell) else cell for cell in row])
    return buffer.getvalue()


def json_bytes(document: Mapping[str, Any]) -> bytes:
    """Indented JSON; NaN and infinities become null."""
    return (
        orjson.dumps(
            _finite(document), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        )
        + b"\n"
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _is_nan(cell: Any) -> bool:
    return isinstance(cell, float | np.floating) and not np.isfinite(cell)
