"""Tests for pytaaad.backtest.quotes: formats, validation and the CASH column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pytaaad.backtest.quotes import CASH, load_quotes
from pytaaad.errors import QuoteDataError


def _frame() -> pd.DataFrame:
    dates = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"])
    return pd.DataFrame(
        {"AAA": [10.0, 11.0, np.nan, 12.0], "BBB": [np.nan, 5.0, 5.5, 6.0]}, index=dates
    ).rename_axis("date")


def test_csv_gets_a_flat_cash_column_last(tmp_path: Path) -> None:
    """A store without CASH gets one with a constant price (zero return)."""
    path = tmp_path / "q.csv"
    _frame().to_csv(path)
    quotes = load_quotes(path)
    assert quotes.symbols == ("AAA", "BBB", CASH)
    assert quotes.synthetic_cash
    np.testing.assert_array_equal(quotes.prices[-1], [1.0, 1.0, 1.0, 1.0])
    assert np.isnan(quotes.prices[0, 2])
    assert quotes.last_date == dt.date(2020, 1, 7)


def test_csv_gz_and_parquet_read_the_same(tmp_path: Path) -> None:
    """Gzipped CSV and Parquet stores give identical quotes."""
    _frame().to_csv(tmp_path / "q.csv.gz")
    _frame().to_parquet(tmp_path / "q.parquet")
    gz = load_quotes(tmp_path / "q.csv.gz")
    parquet = load_quotes(tmp_path / "q.parquet")
    np.testing.assert_array_equal(gz.prices, parquet.prices)
    np.testing.assert_array_equal(gz.dates, parquet.dates)


def test_legacy_hdf5_store_keeps_its_cash(tmp_path: Path) -> None:
    """A legacy HDF5 store with string dates and a CASH column reads as is."""
    pytest.importorskip("tables")
    frame = _frame()
    frame[CASH] = [1.0, 1.0, 1.0000001, 1.0000001]
    frame.index = frame.index.strftime("%Y-%m-%d")
    path = tmp_path / "Naz100_Symbols_.hdf5"
    frame.to_hdf(path, key="Naz100_Symbols", format="table")
    quotes = load_quotes(path, "Naz100_Symbols")
    assert not quotes.synthetic_cash
    assert quotes.prices[-1, 2] == 1.0000001


def test_start_date_drops_earlier_quotes(tmp_path: Path) -> None:
    """backtest_start drops every earlier row."""
    path = tmp_path / "q.csv"
    _frame().to_csv(path)
    quotes = load_quotes(path, start=dt.date(2020, 1, 4))
    assert quotes.first_date == dt.date(2020, 1, 6)
    assert quotes.prices.shape == (3, 2)


def test_unsorted_dates_are_sorted(tmp_path: Path) -> None:
    """Rows out of date order are put in order."""
    path = tmp_path / "q.csv"
    _frame().iloc[::-1].to_csv(path)
    quotes = load_quotes(path)
    assert list(quotes.prices[0, :2]) == [10.0, 11.0]


def test_duplicate_date_is_an_error(tmp_path: Path) -> None:
    """A date that appears twice is refused, naming the date."""
    frame = _frame()
    frame.index = pd.to_datetime(
        ["2020-01-02", "2020-01-03", "2020-01-03", "2020-01-07"]
    ).rename("date")
    path = tmp_path / "q.csv"
    frame.to_csv(path)
    with pytest.raises(QuoteDataError, match="2020-01-03 appears twice"):
        load_quotes(path)


def test_text_price_is_an_error(tmp_path: Path) -> None:
    """A cell that is not a number makes the store unreadable, with the file named."""
    path = tmp_path / "q.csv"
    path.write_text("date,AAA\n2020-01-02,10\n2020-01-03,ten\n")
    with pytest.raises(
        QuoteDataError, match=f"quote store {path}: AAA on 2020-01-03: 'ten' is not"
    ):
        load_quotes(path)


def test_non_positive_prices_become_missing(tmp_path: Path) -> None:
    """Zero and negative prices are treated as missing quotes."""
    path = tmp_path / "q.csv"
    path.write_text(
        "date,AAA,BBB\n2020-01-02,10,1\n2020-01-03,0,1\n2020-01-06,-1,1\n"
        "2020-01-07,11,1\n"
    )
    quotes = load_quotes(path)
    assert np.isnan(quotes.prices[0, 1:3]).all()


def test_dates_without_any_stock_quote_are_dropped(tmp_path: Path) -> None:
    """A row with no quote at all (a blank last line from a feed) is not a day."""
    path = tmp_path / "q.csv"
    path.write_text("date,AAA,BBB\n2020-01-02,10,1\n2020-01-03,11,2\n2020-01-06,,\n")
    quotes = load_quotes(path)
    assert quotes.last_date == dt.date(2020, 1, 3)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (",date,AAA", "column 1 has no name"),
        ("date,AAA,AAA", "'AAA' appears twice"),
        ("date,AAA,AAA ", "'AAA' appears twice"),
    ],
)
def test_unnamed_or_repeated_columns_are_refused(
    tmp_path: Path, header: str, message: str
) -> None:
    """A pandas row index or a symbol given twice is an error, not an extra stock."""
    path = tmp_path / "q.csv"
    width = header.count(",") + 1
    path.write_text(header + "\n" + ",".join(["2020-01-02"] + ["1"] * (width - 1)))
    with pytest.raises(QuoteDataError, match=message):
        load_quotes(path)


def test_parquet_with_a_date_index_reads(tmp_path: Path) -> None:
    """A Parquet store whose index is the date (named 'date') is accepted."""
    frame = _frame()
    frame.index = frame.index.strftime("%Y-%m-%d").rename("date")
    frame.to_parquet(tmp_path / "q.parquet")
    assert load_quotes(tmp_path / "q.parquet").symbols == ("AAA", "BBB", CASH)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "cannot read"),
        ("date,AAA\n", "no quotes"),
        ("day,AAA\n2020-01-02,1\n", "no 'date' column"),
        ("date,AAA\nyesterday,1\n", "'yesterday' is not an ISO date"),
    ],
)
def test_bad_csv_stores_are_clear_errors(
    tmp_path: Path, content: str, message: str
) -> None:
    """Empty, dateless or undated stores are refused with a message naming the file."""
    path = tmp_path / "q.csv"
    path.write_text(content)
    with pytest.raises(QuoteDataError, match=message):
        load_quotes(path)


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path) -> None:
    """A .csv.gz that is not gzip data is refused."""
    path = tmp_path / "q.csv.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(QuoteDataError, match="cannot read"):
        load_quotes(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A store that does not exist is refused."""
    with pytest.raises(QuoteDataError, match="no such file"):
        load_quotes(tmp_path / "none.csv")
