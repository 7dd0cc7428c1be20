"""Tests for pytaaad.config: validation, defaults and path resolution."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytaaad.config import (
    MovingAverageSignal,
    PercentileChannelSignal,
    legacy_list_name,
    load_settings,
)
from pytaaad.errors import ConfigError
from tests.conftest import ConfigFactory


def test_valid_config_loads_typed_settings(make_config: ConfigFactory) -> None:
    """A complete config becomes typed settings with the documented defaults."""
    settings = load_settings(make_config())
    assert isinstance(settings.strategy.signal, MovingAverageSignal)
    assert settings.strategy.signal.long == 40
    assert settings.strategy.long_period == 60
    assert settings.trials == 6
    assert settings.seed == 1
    assert settings.legacy_lookahead is False
    assert settings.freshness_hours == 20.0
    assert len(settings.config_sha256) == 64


def test_missing_key_names_key_and_file(make_config: ConfigFactory) -> None:
    """A missing required key is an error naming the key and the file."""
    path = make_config(LongPeriod=None)
    with pytest.raises(ConfigError, match=r"Valuation\.LongPeriod is missing") as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_wrong_type_names_key_and_value(make_config: ConfigFactory) -> None:
    """A wrong-typed value is an error showing the key and the value."""
    with pytest.raises(
        ConfigError, match=r"numberStocksTraded must be an integer.*'8'"
    ):
        load_settings(make_config(numberStocksTraded="8"))


def test_boolean_is_not_an_integer(make_config: ConfigFactory) -> None:
    """JSON true is refused where an integer is expected."""
    with pytest.raises(ConfigError, match="monthsToHold must be an integer"):
        load_settings(make_config(monthsToHold=True))


def test_out_of_range_value_is_refused(make_config: ConfigFactory) -> None:
    """monthsToHold must lie in 1..12."""
    with pytest.raises(ConfigError, match="monthsToHold must be at most 12"):
        load_settings(make_config(monthsToHold=13))


def test_inverted_percentile_channel_is_refused(make_config: ConfigFactory) -> None:
    """lowPct above hiPct is an error naming both keys."""
    config = make_config(uptrendSignalMethod="percentileChannels", lowPct=90, hiPct=10)
    with pytest.raises(ConfigError, match=r"lowPct must not be above hiPct \(10\)"):
        load_settings(config)


def test_only_the_chosen_methods_keys_are_required(make_config: ConfigFactory) -> None:
    """A percentile-channel config needs no moving-average keys."""
    path = make_config(
        uptrendSignalMethod="percentileChannels",
        MA1=None,
        MA2=None,
        MA3=None,
        sma2factor=None,
    )
    signal = load_settings(path).strategy.signal
    assert isinstance(signal, PercentileChannelSignal)
    assert signal.periods == (4, 7, 10)


def test_unknown_signal_method_is_refused(make_config: ConfigFactory) -> None:
    """An unknown uptrendSignalMethod lists the valid ones."""
    with pytest.raises(ConfigError, match="must be one of SMAs, HMAs"):
        load_settings(make_config(uptrendSignalMethod="MACD"))


def test_relative_paths_resolve_against_config_folder(
    tmp_path: Path, synthetic_store: Path
) -> None:
    """Relative paths in a config are relative to the config file's folder."""
    folder = tmp_path / "conf"
    folder.mkdir()
    valuation = {
        "uptrendSignalMethod": "SMAs",
        "MA1": 50,
        "MA2": 10,
        "MA3": 15,
        "sma2factor": 1.0,
        "LongPeriod": 100,
        "numberStocksTraded": 4,
        "monthsToHold": 1,
        "trade_cost": 0.0,
        "quotes_file": "../quotes.csv.gz",
        "webpage": "web",
        "performance_store": "store",
    }
    path = folder / "c.json"
    path.write_text(json.dumps({"Valuation": valuation}))
    settings = load_settings(path)
    assert settings.quotes_file == synthetic_store.resolve()
    assert settings.webpage == (folder / "web").resolve()


def test_missing_quote_store_is_a_config_error(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    """A quotes_file that does not exist is reported with its path."""
    missing = tmp_path / "nope.csv"
    with pytest.raises(ConfigError, match=f"quote store {missing} does not exist"):
        load_settings(make_config(quotes_file=str(missing)))


def test_legacy_store_location_comes_from_symbols_file(tmp_path: Path) -> None:
    """Without quotes_file the legacy HDF5 store next to symbols_file is used."""
    symbols = tmp_path / "symbols"
    symbols.mkdir()
    (symbols / "Naz100_Symbols_.hdf5").write_bytes(b"")
    valuation = {
        "uptrendSignalMethod": "SMAs",
        "MA1": 50,
        "MA2": 10,
        "MA3": 15,
        "sma2factor": 1.0,
        "LongPeriod": 100,
        "numberStocksTraded": 4,
        "monthsToHold": 1,
        "trade_cost": 0.0,
        "symbols_file": "symbols/Naz100_symbols.txt",
        "webpage": "w",
        "performance_store": "p",
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"Valuation": valuation}))
    settings = load_settings(path)
    assert settings.quotes_file == symbols / "Naz100_Symbols_.hdf5"
    assert settings.quotes_key == "Naz100_Symbols"


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("naz100_symbols", "Naz100_Symbols"),
        ("SP500_Symbols", "SP500_Symbols"),
        ("symbols", "TAA-Symbols"),
        ("my_list", "my_list"),
    ],
)
def test_legacy_list_names(stem: str, expected: str) -> None:
    """List names follow the legacy mapping from the symbols file's stem."""
    assert legacy_list_name(Path(f"/x/{stem}.txt")) == expected


def test_not_json_is_a_clear_error(tmp_path: Path) -> None:
    """A file that is not JSON is refused with its path."""
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_settings(path)


def test_missing_valuation_section(tmp_path: Path) -> None:
    """A config without a Valuation section is refused."""
    path = tmp_path / "c.json"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="missing section 'Valuation'"):
        load_settings(path)


def test_a_fifo_in_place_of_a_config_is_refused_without_blocking(
    tmp_path: Path,
) -> None:
    """A named pipe is not read (that would wait for a writer): not a regular file."""
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_settings(fifo)
