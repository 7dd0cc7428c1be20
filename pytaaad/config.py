"""PyTAAA JSON config -> typed, validated settings for the Monte Carlo job."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import orjson

from pytaaad.errors import ConfigError
from pytaaad.protocol import MAX_SEED, MAX_TRIALS

logger = logging.getLogger(__name__)

DEFAULT_TRIALS = 51
DEFAULT_FRESHNESS_HOURS = 20.0
DEFAULT_WINDOW_SIZE = 50
MAX_CONFIG_BYTES = 4 * 1024 * 1024
SIGNAL_METHODS = ("SMAs", "HMAs", "percentileChannels", "minmaxChannels")
QUOTE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".hdf5", ".h5")


@dataclass(frozen=True)
class MovingAverageSignal:
    """SMAs or HMAs: price against a short, a mid and a scaled long average.

    ``long``, ``short`` and ``mid`` are windows in trading days (legacy MA1, MA2, MA3).
    """

    kind: str
    long: int
    short: int
    mid: int
    long_factor: float


@dataclass(frozen=True)
class PercentileChannelSignal:
    """percentileChannels: look-backs ``range(min_period, max_period, inc_period)``."""

    low_pct: float
    hi_pct: float
    min_period: int
    max_period: int
    inc_period: int

    @property
    def periods(self) -> tuple[int, ...]:
        return tuple(range(self.min_period, self.max_period, self.inc_period))


@dataclass(frozen=True)
class MinMaxChannelSignal:
    """minmaxChannels: three channels, each a (min, max) range of look-back days."""

    narrow: tuple[float, float]
    medium: tuple[float, float]
    wide: tuple[float, float]


SignalParams = MovingAverageSignal | PercentileChannelSignal | MinMaxChannelSignal


@dataclass(frozen=True)
class StrategyParams:
    """The parameters one Monte Carlo trial varies."""

    signal: SignalParams
    long_period: int
    stocks_traded: int
    months_to_hold: int


@dataclass(frozen=True)
class Settings:
    """Everything the Monte Carlo job reads from a PyTAAA config, validated."""

    config_path: Path
    config_sha256: str
    stock_list: str
    symbols_file: Path | None
    quotes_file: Path
    quotes_key: str | None
    webpage: Path
    performance_store: Path
    strategy: StrategyParams
    trade_cost: float
    window_size: int
    backtest_start: dt.date | None
    recent_plot_start: dt.date | None
    trials: int
    seed: int | None
    legacy_lookahead: bool
    freshness_hours: float

    @property
    def sp500_rules(self) -> bool:
        """The S&P 500 rules apply (legacy spelling, exact): no signal before 2002,
        all cash in 2000-2002, and the S&P 500 new-highs/lows parameters.
        """
        return self.stock_list == "SP500"

    @property
    def hold_month_choices(self) -> tuple[int, ...]:
        """Hold periods a perturbed trial draws from (legacy doc §1.6)."""
        name = self.symbols_file.name.lower() if self.symbols_file else ""
        if name == "naz100_symbols.txt" or self.stock_list.lower() == "naz100":
            return (1, 1, 1, 2, 2, 3, 4, 6, 12)
        if name == "providentfundsymbols.txt":
            return (4, 6, 12)
        if name == "cmg_symbols.txt":
            return (3, 4, 6, 12)
        return (1, 2, 3, 4, 6, 12)


def load_settings(path: str | Path) -> Settings:
    """Read and validate a PyTAAA config file.

    Raises ConfigError naming the file and the offending key.
    """
    config_path = Path(path).expanduser().resolve()
    raw = _read_bytes(config_path)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"config {config_path}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"config {config_path}: the top level must be an object")
    valuation = document.get("Valuation")
    if valuation is None:
        raise ConfigError(f"config {config_path}: missing section 'Valuation'")
    if not isinstance(valuation, dict):
        raise ConfigError(
            f"config {config_path}: section 'Valuation' must be an object"
        )
    reader = _Reader(config_path, valuation)
    return _build_settings(reader, hashlib.sha256(raw).hexdigest())


def _read_bytes(path: Path) -> bytes:
    return read_config_file(path, MAX_CONFIG_BYTES)


def read_config_file(path: Path, limit: int) -> bytes:
    """The bytes of the config file ``path``, at most ``limit`` of them.

    The file is opened without blocking and checked on the open descriptor: a FIFO
    or device put in its place would otherwise block the daemon's event loop.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"config {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"config {path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"config {path}: is a directory, not a config file")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"config {path}: not a regular file")
        if info.st_size > limit:
            raise ConfigError(
                f"config {path}: {info.st_size} bytes is too large for a config"
            )
        return _read_all(fd, limit + 1)
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)


def _read_all(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from ``fd``, until the end of the file."""
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0 and (part := os.read(fd, remaining)):
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _build_settings(reader: _Reader, sha256: str) -> Settings:
    stock_list = reader.string("stockList", default="")
    symbols_file = reader.path("symbols_file", required=False)
    quotes_file, quotes_key = _quote_store(reader, symbols_file)
    return Settings(
        config_path=reader.config_path,
        config_sha256=sha256,
        stock_list=stock_list,
        symbols_file=symbols_file,
        quotes_file=quotes_file,
        quotes_key=quotes_key,
        webpage=_required_path(reader, "webpage"),
        performance_store=_required_path(reader, "performance_store"),
        strategy=StrategyParams(
            signal=_signal_params(reader),
            long_period=reader.integer("LongPeriod", minimum=2),
            stocks_traded=reader.integer("numberStocksTraded", minimum=1),
            months_to_hold=reader.integer("monthsToHold", minimum=1, maximum=12),
        ),
        trade_cost=reader.number("trade_cost", minimum=0.0),
        window_size=reader.integer(
            "window_size", default=DEFAULT_WINDOW_SIZE, minimum=2
        ),
        backtest_start=reader.date("backtest_start"),
        recent_plot_start=reader.date("recent_plot_start_date"),
        trials=reader.integer(
            "montecarlo_trials", default=DEFAULT_TRIALS, minimum=1, maximum=MAX_TRIALS
        ),
        seed=reader.optional_integer("seed", minimum=0, maximum=MAX_SEED),
        legacy_lookahead=reader.boolean("legacy_lookahead", default=False),
        freshness_hours=reader.number(
            "freshness_hours", default=DEFAULT_FRESHNESS_HOURS, minimum=0.0
        ),
    )


def _required_path(reader: _Reader, key: str) -> Path:
    path = reader.path(key, required=True)
    assert path is not None
    return path


def _signal_params(reader: _Reader) -> SignalParams:
    method = reader.string("uptrendSignalMethod")
    if method in ("SMAs", "HMAs"):
        return MovingAverageSignal(
            kind=method,
            long=reader.integer("MA1", minimum=2),
            short=reader.integer("MA2", minimum=2),
            mid=reader.integer("MA3", minimum=2),
            long_factor=reader.number("sma2factor", minimum=0.0),
        )
    if method == "percentileChannels":
        params = PercentileChannelSignal(
            low_pct=reader.number("lowPct", minimum=0.0, maximum=100.0),
            hi_pct=reader.number("hiPct", minimum=0.0, maximum=100.0),
            min_period=reader.integer("minperiod", default=4, minimum=1),
            max_period=reader.integer("maxperiod", default=12, minimum=2),
            inc_period=reader.integer("incperiod", default=3, minimum=1),
        )
        if not params.periods:
            reader.fail("minperiod", "must be smaller than maxperiod")
        if params.low_pct > params.hi_pct:
            reader.fail("lowPct", f"must not be above hiPct ({params.hi_pct:g})")
        return params
    if method == "minmaxChannels":
        return MinMaxChannelSignal(
            narrow=reader.day_range("narrowDays"),
            medium=reader.day_range("mediumDays"),
            wide=reader.day_range("wideDays"),
        )
    reader.fail("uptrendSignalMethod", f"must be one of {', '.join(SIGNAL_METHODS)}")


def _quote_store(reader: _Reader, symbols_file: Path | None) -> tuple[Path, str | None]:
    quotes_file = reader.path("quotes_file", required=False)
    key = reader.string("quotes_key", default="") or None
    if quotes_file is None:
        if symbols_file is None:
            reader.fail("quotes_file", "is missing (and there is no symbols_file)")
        list_name = legacy_list_name(symbols_file)
        quotes_file = symbols_file.parent / f"{list_name}_.hdf5"
        key = key or list_name
    if not quotes_file.name.lower().endswith(QUOTE_SUFFIXES):
        reader.fail("quotes_file", f"must end in one of {', '.join(QUOTE_SUFFIXES)}")
    if not quotes_file.is_file():
        raise ConfigError(
            f"config {reader.config_path}: quote store {quotes_file} does not exist"
        )
    return quotes_file, key


def legacy_list_name(symbols_file: Path) -> str:
    """The list name legacy PyTAAA derives from a symbols file (legacy doc §1.2)."""
    stem = symbols_file.stem
    lowered = stem.lower()
    fixed = {
        "symbols": "TAA-Symbols",
        "cmg_symbols": "CMG-Symbols",
        "biglist": "biglist-Symbols",
        "etf_symbols": "ETF-Symbols",
        "providentfundsymbols": "ProvidentFund-Symbols",
        "naz100_symbols": "Naz100_Symbols",
        "sp500_symbols": "SP500_Symbols",
    }
    return fixed.get(lowered, stem)


class _Reader:
    """Typed access to the Valuation section with errors that name file and key."""

    def __init__(self, config_path: Path, section: Mapping[str, Any]) -> None:
        self.config_path = config_path
        self._section = section

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(f"config {self.config_path}: Valuation.{key} {problem}")

    def _get(self, key: str, default: Any) -> Any:
        if key in self._section and self._section[key] is not None:
            return self._section[key]
        if default is _REQUIRED:
            self.fail(key, "is missing")
        return default

    def string(self, key: str, default: Any = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {value!r}")
        return str(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        return bool(value)

    def number(
        self,
        key: str,
        default: float | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self._get(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            self.fail(key, f"must be finite, got {value!r}")
        self._check_range(key, number, minimum, maximum)
        return number

    def integer(
        self,
        key: str,
        default: int | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._get(key, _REQUIRED if default is None else default)
        number = self._as_int(key, value)
        self._check_range(key, number, minimum, maximum)
        return number

    def optional_integer(
        self, key: str, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        value = self._get(key, None)
        if value is None:
            return None
        number = self._as_int(key, value)
        self._check_range(key, number, minimum, maximum)
        return number

    def _as_int(self, key: str, value: Any) -> int:
        if isinstance(value, bool):
            self.fail(key, f"must be an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int):
            self.fail(key, f"must be an integer, got {value!r}")
        return int(value)

    def _check_range(
        self, key: str, value: float, minimum: float | None, maximum: float | None
    ) -> None:
        if minimum is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.fail(key, f"must be at most {maximum}, got {value}")

    def path(self, key: str, required: bool) -> Path | None:
        value = self._get(key, _REQUIRED if required else None)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a path string, got {value!r}")
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.config_path.parent / path
        return path.resolve()

    def date(self, key: str) -> dt.date | None:
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(key, f"must be an ISO date string, got {value!r}")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(key, f"must be an ISO date (YYYY-MM-DD), got {value!r}")

    def day_range(self, prefix: str) -> tuple[float, float]:
        low = self.number(f"{prefix}_min", minimum=1.0)
        high = self.number(f"{prefix}_max", minimum=1.0)
        if high <= low:
            self.fail(f"{prefix}_max", f"must be larger than {prefix}_min")
        return low, high


_REQUIRED: Any = object()
