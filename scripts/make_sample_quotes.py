"""Convert skfolio's 20-stock S&P 500 price file into pytaaad's packaged sample.

Usage (from the repository root)::

    pip download --no-deps skfolio==1.12.2 -d /tmp/skf
    python scripts/make_sample_quotes.py /tmp/skf/skfolio-1.12.2-py3-none-any.whl

The source may be the downloaded wheel or the ``sp500_dataset.csv.gz`` taken out of
it. Only the layout changes: the date column is renamed ``date``, symbols are put in
alphabetical order and the file is gzip-compressed without a timestamp, so the same
source always gives the same bytes. Every price is copied as the text it was in the
source, never parsed and re-printed. This script is run by hand when the sample is
refreshed; nothing at install or run time needs skfolio.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import hashlib
import io
import itertools
import math
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

WHEEL_MEMBER = "skfolio/datasets/data/sp500_dataset.csv.gz"
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[1] / "pytaaad" / "data" / "sp20_adjclose.csv.gz"
)
SOURCE_DATE_COLUMNS = ("Date", "date", "DATE")
GZIP_LEVEL = 9
DESCRIPTION = "Convert skfolio's 20-stock S&P 500 price file into the packaged sample."
READ_ERRORS = (OSError, EOFError, UnicodeDecodeError, csv.Error, zipfile.BadZipFile)


class SourceError(Exception):
    """The source file is not the wide price table this script expects."""


def read_source(path: Path) -> bytes:
    """The compressed price file, from a wheel or as a plain ``.csv.gz`` file."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            try:
                return wheel.read(WHEEL_MEMBER)
            except KeyError:
                raise SourceError(f"{path}: no {WHEEL_MEMBER} inside") from None
    return path.read_bytes()


def convert(compressed: bytes) -> bytes:
    """The source table in pytaaad's wide CSV format, gzip-compressed reproducibly."""
    rows = list(csv.reader(io.StringIO(gzip.decompress(compressed).decode("utf-8"))))
    if not rows:
        raise SourceError("the source file is empty")
    header, body = rows[0], rows[1:]
    symbols = _symbols(header)
    order = sorted(range(len(symbols)), key=lambda i: symbols[i])
    table = sorted(_checked_row(row, len(header)) for row in body)
    for (earlier, _), (later, _) in itertools.pairwise(table):
        if later == earlier:
            raise SourceError(f"date {later} appears twice")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["date", *(symbols[i] for i in order)])
    for date, cells in table:
        writer.writerow([date.isoformat(), *(cells[i] for i in order)])
    return gzip.compress(buffer.getvalue().encode("utf-8"), GZIP_LEVEL, mtime=0)


def _symbols(header: Sequence[str]) -> list[str]:
    if not header or header[0] not in SOURCE_DATE_COLUMNS:
        raise SourceError(f"the first column must be a date column, got {header[:1]}")
    symbols = [name.strip() for name in header[1:]]
    if not symbols or any(not s for s in symbols) or len(set(symbols)) < len(symbols):
        raise SourceError(f"symbol columns must be named and unique: {symbols}")
    return symbols


def _checked_row(row: Sequence[str], width: int) -> tuple[dt.date, list[str]]:
    if len(row) != width:
        raise SourceError(f"row {row[:1]} has {len(row)} cells, expected {width}")
    try:
        date = dt.date.fromisoformat(row[0])
    except ValueError:
        raise SourceError(f"{row[0]!r} is not an ISO date") from None
    cells = [cell.strip() for cell in row[1:]]
    for cell in cells:
        if cell and not _is_price(cell):
            raise SourceError(f"{date}: {cell!r} is not a positive price")
    return date, cells


def _is_price(cell: str) -> bool:
    try:
        value = float(cell)
    except ValueError:
        return False
    return math.isfinite(value) and value > 0


def describe(converted: bytes) -> str:
    """Symbols, dates, empty cells and checksum of a converted file, for people."""
    lines = gzip.decompress(converted).decode("utf-8").splitlines()
    symbols = lines[0].split(",")[1:]
    first, last = lines[1].split(",", 1)[0], lines[-1].split(",", 1)[0]
    empty = sum(cell == "" for line in lines[1:] for cell in line.split(",")[1:])
    return (
        f"{len(symbols)} symbols: {' '.join(symbols)}\n"
        f"{len(lines) - 1} trading days, {first} to {last}; empty cells: {empty}\n"
        f"{len(converted)} bytes, sha256 {hashlib.sha256(converted).hexdigest()}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "source", type=Path, help="skfolio wheel (.whl) or sp500_dataset.csv.gz"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"file to write (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    try:
        converted = convert(read_source(args.source))
    except (*READ_ERRORS, SourceError) as exc:
        print(f"make_sample_quotes: {exc}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(converted)
    print(f"wrote {args.output}\n{describe(converted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
