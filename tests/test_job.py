"""Tests for pytaaad.backtest.job: outputs, atomic publishing and the real quotes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from pytaaad.backtest import job, outputs, plots
from pytaaad.config import load_settings
from pytaaad.errors import JobStopped, OutputError, QuoteDataError
from pytaaad.staging import STAGING_PREFIX
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
    assert not list(web.glob(f"{STAGING_PREFIX}*"))
    assert not list(store.glob(f"{STAGING_PREFIX}*"))
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
    with pytest.raises(OutputError, match="disk full"):
        _run(config)
    assert {p.name: p.read_bytes() for p in web.iterdir()} == before


def _snapshot(*folders: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes() for f in folders for p in f.rglob("*") if p.is_file()
    }


def test_publish_is_all_or_nothing(
    make_config: ConfigFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When one move fails, the files already moved are put back as they were."""
    config = make_config()
    _run(config)
    web, store = tmp_path / "out" / "web", tmp_path / "out" / "store"
    before = _snapshot(web, store)
    spec = job.make_spec(load_settings(config), trials=4, seed=99)
    pairs = job.render_outputs(spec, job.run_trials(spec, range(4)), "t2", {})
    real_replace = os.replace
    moves: list[str] = []

    def failing_replace(source: Path, target: Path) -> None:
        moves.append(str(target))
        if len(moves) == 4:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(job.os, "replace", failing_replace)
    with pytest.raises(OutputError, match="No space left"):
        job.publish_outputs(pairs)
    assert _snapshot(web, store) == before
    assert not list((tmp_path / "out").rglob(f"{STAGING_PREFIX}*"))


def test_a_directory_in_place_of_an_output_is_refused_before_any_move(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    """An output name taken by a directory stops the publish; nothing changes."""
    config = make_config()
    _run(config)
    store = tmp_path / "out" / "store"
    (store / outputs.TRIALS_CSV).unlink()
    (store / outputs.TRIALS_CSV).mkdir()
    before = _snapshot(tmp_path / "out")
    with pytest.raises(OutputError, match="is a directory"):
        _run(config)
    assert _snapshot(tmp_path / "out") == before


def test_stale_staging_folders_are_cleared(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    """A staging folder left by a killed run more than an hour ago is removed."""
    config = make_config()
    web = tmp_path / "out" / "web"
    stale = web / f"{STAGING_PREFIX}run-1-dead"
    stale.mkdir(parents=True)
    os.utime(stale, (0, 0))
    _run(config)
    assert not stale.exists()


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
