"""The legacy program's own outputs, reproduced with ``legacy_lookahead: true``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pytaaad.backtest import job, trials
from pytaaad.config import load_settings

TOLERANCE = 1e-8


@pytest.mark.parametrize("name", ["naz100_hma", "naz100_pctch"])
def test_config_trial_matches_legacy_values_every_day(
    golden: Path, tmp_path: Path, name: str
) -> None:
    """Buy-and-hold and strategy values equal the legacy .mc.params to 1e-8 daily."""
    shutil.copytree(golden / "symbols", tmp_path / "symbols")
    document = json.loads((golden / f"{name}.json").read_text())
    document["Valuation"]["legacy_lookahead"] = True
    config = tmp_path / f"{name}.json"
    config.write_text(json.dumps(document))
    settings = load_settings(config)
    market = job.load_market(settings)
    values = trials.run_trial(market, settings, settings.strategy).values
    expected = np.loadtxt(golden / f"{name}.mc.params", usecols=(1, 2))
    dates = np.loadtxt(golden / f"{name}.mc.params", usecols=0, dtype=str)
    np.testing.assert_array_equal(market.dates.astype(str), dates)
    hold = market.buy_and_hold(legacy=True)
    np.testing.assert_allclose(hold, expected[:, 0], rtol=TOLERANCE, atol=0)
    np.testing.assert_allclose(values, expected[:, 1], rtol=TOLERANCE, atol=0)


def test_default_mode_differs_from_legacy(golden: Path, tmp_path: Path) -> None:
    """Without look-ahead the same config earns less than the legacy numbers claim."""
    shutil.copytree(golden / "symbols", tmp_path / "symbols")
    config = tmp_path / "c.json"
    shutil.copy(golden / "naz100_hma.json", config)
    settings = load_settings(config)
    values = trials.run_trial(
        job.load_market(settings), settings, settings.strategy
    ).values
    legacy_final = np.loadtxt(golden / "naz100_hma.mc.params", usecols=2)[-1]
    assert values[-1] < legacy_final / 10
