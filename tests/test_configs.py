"""Tests for configs/: the samples run as shipped, the templates need only a store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytaaad.backtest import job, outputs
from pytaaad.backtest.quotes import load_quotes
from pytaaad.config import SIGNAL_METHODS, legacy_list_name, load_settings
from pytaaad.errors import ConfigError
from tests.conftest import GOLDEN
from tests.test_job import PNG_SIGNATURE

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SAMPLES = sorted(CONFIGS.glob("sample_*.json"))
TEMPLATES = sorted(CONFIGS.glob("*_template.json"))
SAMPLE_SYMBOLS = [
    *("AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO"),
    *("LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM"),
]
SAMPLE_FILE = "sp20_adjclose.csv.gz"
SAMPLE_DAYS = 8313
TRIALS = 3
PATH_KEYS = ("symbols_file", "quotes_file", "webpage", "performance_store")


@pytest.fixture(scope="module")
def sample_quotes() -> Iterator[Path]:
    """The packaged sample quote file, found through the installed package."""
    resource = resources.files("pytaaad").joinpath("data", SAMPLE_FILE)
    with resources.as_file(resource) as path:
        yield path


def _valuation(config: Path) -> dict[str, Any]:
    document = json.loads(config.read_text())
    valuation: dict[str, Any] = document["Valuation"]
    return valuation


def _redirected(config: Path, tmp_path: Path, **overrides: Any) -> Path:
    """A copy of ``config`` in ``tmp_path`` with its outputs under ``tmp_path``."""
    valuation = {
        **_valuation(config),
        "webpage": str(tmp_path / "webpage"),
        "performance_store": str(tmp_path / "performance_store"),
        **overrides,
    }
    copy = tmp_path / config.name
    copy.write_text(json.dumps({"Valuation": valuation}))
    return copy


def test_there_is_one_sample_per_signal_method() -> None:
    """configs/ holds a sample for each of the four signal methods."""
    methods = [_valuation(config)["uptrendSignalMethod"] for config in SAMPLES]
    assert sorted(methods) == sorted(SIGNAL_METHODS)


@pytest.mark.parametrize("config", SAMPLES, ids=lambda p: p.stem)
def test_sample_loads_as_shipped(config: Path) -> None:
    """A sample reads the repository's sample quotes and writes under its out/."""
    settings = load_settings(config)
    assert settings.quotes_file == ROOT / "pytaaad" / "data" / SAMPLE_FILE
    out = ROOT / "out" / config.stem
    assert settings.webpage == out / "webpage"
    assert settings.performance_store == out / "performance_store"
    assert settings.seed is not None
    assert settings.stock_list not in ("SP500", "Naz100")


@pytest.mark.parametrize("config", SAMPLES, ids=lambda p: p.stem)
def test_sample_runs_end_to_end(
    config: Path, sample_quotes: Path, tmp_path: Path
) -> None:
    """A sample's job writes both PNGs and a .mc.params line per trading day."""
    copy = _redirected(config, tmp_path, quotes_file=str(sample_quotes))
    spec = job.make_spec(load_settings(copy), trials=TRIALS)
    results = job.run_trials(spec, range(TRIALS))
    job.publish_outputs(job.render_outputs(spec, results, "test", {}))
    for name in (outputs.PNG_FULL, outputs.PNG_RECENT):
        assert (tmp_path / "webpage" / name).read_bytes()[:8] == PNG_SIGNATURE
    params = tmp_path / "performance_store" / outputs.PARAMS_FILE
    lines = params.read_text().splitlines()
    assert len(lines) == SAMPLE_DAYS
    assert lines[0].startswith("1990-01-02 10000.0 10000.0 ")
    assert lines[-1].startswith("2022-12-28 ")


@pytest.mark.parametrize("config", TEMPLATES, ids=lambda p: p.stem)
def test_template_without_its_store_names_the_store(config: Path) -> None:
    """A template as shipped fails only because the legacy HDF5 store is missing."""
    symbols = Path(_valuation(config)["symbols_file"])
    store = symbols.parent / f"{legacy_list_name(symbols)}_.hdf5"
    with pytest.raises(ConfigError, match=f"quote store {store} does not exist"):
        load_settings(config)


@pytest.mark.parametrize("config", TEMPLATES, ids=lambda p: p.stem)
def test_template_loads_once_given_quotes(
    config: Path, sample_quotes: Path, tmp_path: Path
) -> None:
    """With a quote file that exists, every other key of a template is valid."""
    settings = load_settings(
        _redirected(config, tmp_path, quotes_file=str(sample_quotes))
    )
    assert settings.quotes_file == sample_quotes.resolve()
    assert settings.seed is None


@pytest.mark.parametrize(
    ("config", "legacy", "changed"),
    [
        ("naz100_template.json", "naz100_hma.json", {}),
        (
            "sp500_template.json",
            "naz100_pctch.json",
            {"stockList": "SP500", "trade_cost": 0.0},
        ),
    ],
)
def test_template_has_the_legacy_parameters(
    config: str, legacy: str, changed: dict[str, Any]
) -> None:
    """A template's parameters are the legacy config's, except where it says so."""
    if not (GOLDEN / legacy).is_file():
        pytest.skip("legacy configs not found in ../shared/golden")
    template = _valuation(CONFIGS / config)
    original = _valuation(GOLDEN / legacy)
    shared = (template.keys() & original.keys()) - set(PATH_KEYS)
    assert {"uptrendSignalMethod", "LongPeriod", "MA1", "lowPct"} <= shared
    expected = {**{key: original[key] for key in shared}, **changed}
    assert {key: template[key] for key in shared} == expected


def test_sample_quotes_are_packaged(sample_quotes: Path) -> None:
    """The packaged sample has 20 symbols, each quoted daily from 1990 to 2022-12-28."""
    quotes = load_quotes(sample_quotes)
    assert list(quotes.symbols) == [*SAMPLE_SYMBOLS, "CASH"]
    assert str(quotes.first_date) == "1990-01-02"
    assert str(quotes.last_date) == "2022-12-28"
    assert len(quotes.dates) == SAMPLE_DAYS
    assert not np.isnan(quotes.prices).any()
