"""Tests for scripts/make_sample_quotes.py: a format-only conversion of the sample."""

from __future__ import annotations

import gzip
import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_sample_quotes.py"
SOURCE_TEXT = (
    "Date,XOM,AAPL\r\n"
    "1990-01-03,4.027,0.266\r\n"
    "1990-01-02,4.0,0.264\r\n"
    "1990-01-04,,0.2670\r\n"
)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_quotes", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _load_script()


def _source(text: str = SOURCE_TEXT) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def test_only_the_layout_changes() -> None:
    """Header renamed, symbols sorted, rows dated in order, price text kept as is."""
    converted = script.convert(_source())
    assert gzip.decompress(converted).decode() == (
        "date,AAPL,XOM\n"
        "1990-01-02,0.264,4.0\n"
        "1990-01-03,0.266,4.027\n"
        "1990-01-04,0.2670,\n"
    )


def test_same_source_gives_the_same_bytes(tmp_path: Path) -> None:
    """The wheel and the extracted file give byte-identical output."""
    wheel = tmp_path / "skfolio-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(script.WHEEL_MEMBER, _source())
    extracted = tmp_path / "sp500_dataset.csv.gz"
    extracted.write_bytes(_source())
    from_wheel = script.convert(script.read_source(wheel))
    assert from_wheel == script.convert(script.read_source(extracted))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Date,A\n1990-01-02,1.0\n1990-01-02,1.1\n", "1990-01-02 appears twice"),
        ("Date,A\n1990-01-02,0\n", "'0' is not a positive price"),
        ("Date,A\n02/01/1990,1.0\n", "'02/01/1990' is not an ISO date"),
        ("Date,A,A\n1990-01-02,1.0,1.0\n", "named and unique"),
    ],
)
def test_a_malformed_source_is_refused(text: str, problem: str) -> None:
    """Duplicate dates, bad prices or dates and repeated symbols stop the script."""
    with pytest.raises(script.SourceError, match=problem):
        script.convert(_source(text))


def test_main_writes_the_file_and_describes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command writes the output and prints symbols, dates and empty cells."""
    source = tmp_path / "sp500_dataset.csv.gz"
    source.write_bytes(_source())
    output = tmp_path / "data" / "sample.csv.gz"
    assert script.main([str(source), "--output", str(output)]) == 0
    assert output.read_bytes() == script.convert(_source())
    printed = capsys.readouterr().out
    assert "2 symbols: AAPL XOM" in printed
    assert "3 trading days, 1990-01-02 to 1990-01-04; empty cells: 1" in printed
