"""Tests for pytaaad.backtest.job: outputs, atomic publishing and the real quotes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from pytaaad.backtest import job, outputs, plots
from pytaaad.config import load_settings
from pytaaad.errors import JobStopped, QuoteDataError
from tests.conftest import NAZ100_HMA, ConfigFactory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(config: Path, trials: int = 4) -> list[Path]:
    spec = job.make_spec(load_settings(config), trials=trials, seed=11)
    results = job.run_trials(spec, list(range(trials)))
    pairs = job.render_outputs(spec, results, "test", {"trials_seconds": 0.1})
    job.publish_outputs(pairs)
    return [final for _, final in pairs]


def check_outputs(
    web: Path, store: Path, n_days: int, trials: int
) -> dict[str, object]:
    """Assert every output file exists and parses; return the summary."""
    for name in (outputs.PNG_FULL, outputs.PNG_RECENT):
        assert (web / name).read_bytes()[:8] == PNG_SIGNATURE
    lines = (store / outputs.PARAMS_FILE).read_text().splitlines()
    assert len(lines) == n_days
    fields = lines[-1].split(" ")
    assert len(fields) == 5
    assert all(np.isfinite(float(v)) for v in fields[1:])
    assert lines[0].split(" ")[1:3] == ["10000.0", "10000.0"]
    table = pd.read_csv(store / outputs.TRIALS_CSV)
    assert len(table) == trials
    assert list(table["trial"]) == list(range(trials))
    assert table.loc[0, "final_value"] == pytest.approx(float(fields[2]))
    summary: dict[str, object] = orjson.loads(
        (store / outputs.SUMMARY_JSON).read_bytes()
    )
    assert summary["trials"] == trials
    assert "Life" in summary["config_trial"]["statistics"]  # type: ignore[index]
    assert (web / outputs.REPORT_LOG).read_text().startswith("pytaaad")
    assert not list(web.glob(f"{job.STAGING_PREFIX}*"))
    assert not list(store.glob(f"{job.STAGING_PREFIX}*"))
    return summary


def test_job_writes_every_output(make_config: ConfigFactory, tmp_path: Path) -> None:
    """A job writes both PNGs, the .mc.params, the CSV, the summary and the report."""
    published = _run(make_config())
    assert len(published) == 6
    summary = check_outputs(
        tmp_path / "out" / "web", tmp_path / "out" / "store", 900, 4
    )
    assert summary["seed"] == 11
    assert summary["quotes"]["symbols"][:2] == ["S00", "S01"]  # type: ignore[index]


def test_failed_render_leaves_previous_outputs(
    make_config: ConfigFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error while rendering keeps the published files and removes the staging."""
    config = make_config()
    _run(config)
    web = tmp_path / "out" / "web"
    before = {p.name: p.read_bytes() for p in web.iterdir()}

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(plots, "render", broken)
    with pytest.raises(OSError, match="disk full"):
        _run(config)
    assert {p.name: p.read_bytes() for p in web.iterdir()} == before


def test_stop_request_ends_at_a_trial_boundary(make_config: ConfigFactory) -> None:
    """should_stop is checked before each trial; finished trials are reported."""
    spec = job.make_spec(load_settings(make_config()), trials=4, seed=1)
    done: list[int] = []
    with pytest.raises(JobStopped):
        job.run_trials(
            spec, [0, 1, 2, 3], on_trial=done.append, should_stop=lambda: len(done) >= 2
        )
    assert done == [0, 1]


def test_too_short_history_is_a_clear_error(make_config: ConfigFactory) -> None:
    """A quote history shorter than the look-backs is refused with the numbers."""
    spec = job.make_spec(load_settings(make_config(LongPeriod=2000)), trials=2, seed=1)
    with pytest.raises(QuoteDataError, match=r"900 trading days .* too few"):
        job.run_trials(spec, [0])


def test_seed_and_trials_come_from_request_then_config(
    make_config: ConfigFactory,
) -> None:
    """The request's seed and trial count beat the config's; a seed is always set."""
    settings = load_settings(make_config(seed=None, montecarlo_trials=7))
    assert job.make_spec(settings, trials=3, seed=9) == job.JobSpec(settings, 3, 9)
    spec = job.make_spec(settings)
    assert spec.trials == 7
    assert isinstance(spec.seed, int)


def test_real_naz100_run_writes_every_output(shared_data: Path, tmp_path: Path) -> None:
    """On the real Nasdaq-100 quotes from 1991 every output is written and sane."""
    valuation = {
        **NAZ100_HMA,
        "quotes_file": str(shared_data / "naz100_adjclose.csv.gz"),
        "backtest_start": "1991-01-02",
        "webpage": str(tmp_path / "web"),
        "performance_store": str(tmp_path / "store"),
    }
    config = tmp_path / "naz100.json"
    config.write_text(json.dumps({"Valuation": valuation}))
    _run(config, trials=5)
    summary = check_outputs(tmp_path / "web", tmp_path / "store", 8090, 5)
    quotes = summary["quotes"]
    assert quotes["last_date"] == "2023-02-10"  # type: ignore[index]
    assert len(quotes["symbols"]) == 102  # type: ignore[index]
    final = summary["config_trial"]["final_value"]  # type: ignore[index]
    assert 10_000 < final < 1e12
