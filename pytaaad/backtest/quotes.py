"""Load a quote store: wide CSV / CSV.gz, Parquet, or the legacy PyTAAA HDF5 store."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from pytaaad.errors import QuoteDataError

logger = logging.getLogger(__name__)

CASH = "CASH"
DATE_COLUMNS = ("date", "Date", "DATE")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Quotes:
    """Daily adjusted closes.

    ``prices``: (n_symbols, n_days) float64, NaN where a symbol has no quote;
    ``dates``: (n_days,) datetime64[D], strictly increasing; the last symbol is CASH.
    ``synthetic_cash`` is true when the store had no CASH column and one was added.
    """

    path: Path
    dates: npt.NDArray[np.datetime64]
    symbols: tuple[str, ...]
    prices: FloatArray
    synthetic_cash: bool

    @property
    def cash_index(self) -> int:
        return len(self.symbols) - 1

    @property
    def last_date(self) -> dt.date:
        return _to_date(self.dates[-1])

    @property
    def first_date(self) -> dt.date:
        return _to_date(self.dates[0])


def load_quotes(
    path: Path, key: str | None = None, start: dt.date | None = None
) -> Quotes:
    """Read a quote store, validate it and put a CASH column last.

    Quotes before ``start`` are dropped. Raises QuoteDataError naming the file.
    """
    frame = _read_frame(path, key)
    frame = _validated(frame, path)
    if start is not None:
        frame = frame.loc[frame.index >= pd.Timestamp(start)]
    frame = frame.dropna(axis="columns", how="all")
    # A date on which no stock has a quote is not a trading day of this store.
    stocks = [c for c in frame.columns if c != CASH]
    frame = frame.loc[frame[stocks].notna().any(axis=1)] if stocks else frame
    if frame.empty or not stocks:
        when = f" on or after {start}" if start else ""
        raise QuoteDataError(f"quote store {path}: no quotes{when}")
    return _with_cash(frame, path)


def _read_frame(path: Path, key: str | None) -> pd.DataFrame:
    if not path.exists():
        raise QuoteDataError(f"quote store {path}: no such file")
    if not path.is_file():
        raise QuoteDataError(f"quote store {path}: not a regular file")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            return _read_csv(path)
        if name.endswith((".parquet", ".pq")):
            return _indexed_by_date(pd.read_parquet(path), path)
        if name.endswith((".hdf5", ".h5")):
            return _read_hdf(path, key)
    except QuoteDataError:
        raise
    except ImportError as exc:
        raise QuoteDataError(f"quote store {path}: {exc}") from exc
    except Exception as exc:
        # HDF5 and parser errors can run to many lines; the first one says enough.
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise QuoteDataError(f"quote store {path}: cannot read ({first_line})") from exc
    raise QuoteDataError(
        f"quote store {path}: unknown format (use .csv, .csv.gz, .parquet or .hdf5)"
    )


def _read_csv(path: Path) -> pd.DataFrame:
    _check_header(path, _csv_header(path))
    frame = pd.read_csv(path)
    return _indexed_by_date(frame, path)


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", newline="") as handle:
        return next(csv.reader(handle), [])


def _check_header(path: Path, header: list[str]) -> None:
    """Refuse columns without a name and names given twice: pandas would invent
    names ("Unnamed: 0", "AAPL.1") and load them as stocks.
    """
    seen: set[str] = set()
    for position, raw in enumerate(header, start=1):
        name = raw.strip()
        if not name:
            raise QuoteDataError(
                f"quote store {path}: column {position} has no name (a row index "
                "written by pandas? write the file with index=False)"
            )
        if name in seen:
            raise QuoteDataError(f"quote store {path}: column {name!r} appears twice")
        seen.add(name)


def _indexed_by_date(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name in DATE_COLUMNS:
        return frame
    column = next((c for c in DATE_COLUMNS if c in frame.columns), None)
    if column is None:
        raise QuoteDataError(f"quote store {path}: no 'date' column")
    return frame.set_index(column)


def _read_hdf(path: Path, key: str | None) -> pd.DataFrame:
    try:
        import tables  # noqa: F401
    except ImportError as exc:
        raise QuoteDataError(
            f"quote store {path}: reading HDF5 needs PyTables "
            "(pip install 'pytaaad[hdf5]')"
        ) from exc
    with pd.HDFStore(path, mode="r") as store:
        keys = [k.lstrip("/") for k in store]
        wanted_key = key.lstrip("/") if key is not None else None
        chosen = wanted_key or (keys[0] if len(keys) == 1 else None)
        if chosen is None or chosen not in keys:
            wanted = key or "a single key"
            raise QuoteDataError(
                f"quote store {path}: expected {wanted}, found keys {keys}"
            )
        frame = store[chosen]
    if not isinstance(frame, pd.DataFrame):
        raise QuoteDataError(f"quote store {path}: key {chosen} is not a table")
    return frame


def _validated(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    frame = frame.set_axis(_dates(frame.index, path), axis="index")
    if frame.index.has_duplicates:
        first = frame.index[frame.index.duplicated()][0].date()
        raise QuoteDataError(f"quote store {path}: date {first} appears twice")
    if not frame.index.is_monotonic_increasing:
        logger.warning("quote store %s: dates are out of order; sorting them", path)
        frame = frame.sort_index()
    names = [str(c).strip() for c in frame.columns]
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise QuoteDataError(f"quote store {path}: column {twice!r} appears twice")
    frame.columns = pd.Index(names)
    numeric = _numeric(frame, path)
    bad = ~np.isfinite(numeric.to_numpy()) | (numeric.to_numpy() <= 0)
    bad &= ~numeric.isna().to_numpy()
    if bad.any():
        logger.warning(
            "quote store %s: %d zero, negative or infinite prices treated as missing",
            path,
            int(bad.sum()),
        )
        numeric = numeric.mask(bad)
    return numeric


def _dates(index: pd.Index, path: Path) -> pd.DatetimeIndex:
    text = index.astype(str).str[:10]
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if parsed.isna().any():
        bad = text[parsed.isna()][0]
        raise QuoteDataError(
            f"quote store {path}: date {bad!r} is not an ISO date (YYYY-MM-DD)"
        )
    return pd.DatetimeIndex(parsed)


def _numeric(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    numeric: pd.DataFrame = frame.apply(pd.to_numeric, errors="coerce")
    numeric = numeric.astype(np.float64)
    unparsed = numeric.isna() & frame.notna()
    if unparsed.to_numpy().any():
        row, column = np.argwhere(unparsed.to_numpy())[0]
        raise QuoteDataError(
            f"quote store {path}: {frame.columns[column]} on "
            f"{frame.index[row].date()}: {frame.iat[row, column]!r} is not a number"
        )
    return numeric


def _with_cash(frame: pd.DataFrame, path: Path) -> Quotes:
    columns = [c for c in frame.columns if c != CASH]
    synthetic = CASH not in frame.columns
    prices = np.empty((len(columns) + 1, len(frame)), dtype=np.float64)
    prices[:-1] = frame[columns].to_numpy(dtype=np.float64).T
    if synthetic:
        prices[-1] = 1.0
    else:
        cash = frame[CASH].ffill().bfill().fillna(1.0)
        prices[-1] = cash.to_numpy(dtype=np.float64)
    dates = frame.index.to_numpy(dtype="datetime64[D]")
    return Quotes(
        path=path,
        dates=dates,
        symbols=(*columns, CASH),
        prices=prices,
        synthetic_cash=synthetic,
    )


def _to_date(value: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])
