"""Properties of whole trials: no look-ahead, determinism, sane weights and values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pytaaad.backtest import trials
from pytaaad.backtest.job import make_spec, run_trials
from pytaaad.backtest.market import Market, prepare_market
from pytaaad.backtest.quotes import Quotes
from pytaaad.config import MovingAverageSignal, Settings, load_settings
from tests.conftest import ConfigFactory

METHODS = ("HMAs", "SMAs", "percentileChannels", "minmaxChannels")
CHANNEL_DAYS = {
    "narrowDays_min": 5.0,
    "narrowDays_max": 15.0,
    "mediumDays_min": 15.0,
    "mediumDays_max": 30.0,
    "wideDays_min": 40.0,
    "wideDays_max": 90.0,
}


def _market(frame: pd.DataFrame, settings: Settings) -> Market:
    prices = np.vstack((frame.to_numpy().T, np.ones(len(frame))))
    quotes = Quotes(
        Path("x"),
        frame.index.to_numpy(dtype="datetime64[D]"),
        (*frame.columns, "CASH"),
        prices,
        synthetic_cash=True,
    )
    return prepare_market(quotes, settings.window_size)


@pytest.mark.parametrize("method", METHODS)
def test_future_prices_never_change_past_decisions(
    make_config: ConfigFactory, synthetic_frame: pd.DataFrame, method: str
) -> None:
    """Changing prices after day t changes no weight decided and no value up to t,
    also when quotes are missing on and before day t.
    """
    settings = load_settings(make_config(uptrendSignalMethod=method, **CHANNEL_DAYS))
    cut = 500
    rng = np.random.default_rng(9)
    synthetic_frame.iloc[cut - 30 : cut + 1 : 3, :4] = np.nan
    altered = synthetic_frame.copy()
    altered.iloc[cut + 1 :] *= np.exp(
        rng.normal(0, 0.05, altered.iloc[cut + 1 :].shape)
    )
    original = _market(synthetic_frame, settings)
    changed = _market(altered, settings)
    before = trials.decide(original, settings, settings.strategy)
    after = trials.decide(changed, settings, settings.strategy)
    decided = before.rebalance <= cut
    assert decided.sum() > 10
    np.testing.assert_array_equal(before.weights[:, decided], after.weights[:, decided])
    values_before = trials.run_trial(original, settings, settings.strategy).values
    values_after = trials.run_trial(changed, settings, settings.strategy).values
    np.testing.assert_array_equal(values_before[: cut + 1], values_after[: cut + 1])
    assert not np.array_equal(values_before, values_after)


def test_legacy_mode_earns_the_decision_days_own_return(
    make_config: ConfigFactory, synthetic_frame: pd.DataFrame
) -> None:
    """With legacy_lookahead a rebalance day's close decides and also earns that day."""
    settings = load_settings(make_config(legacy_lookahead=True))
    market = _market(synthetic_frame, settings)
    chosen = trials.decide(market, settings, settings.strategy)
    values = trials.run_trial(market, settings, settings.strategy).values
    day = int(chosen.rebalance[-1])
    held = chosen.weights[:, -1]
    growth = float(held @ market.gains[:, day])
    assert values[day] == pytest.approx(
        (values[day - 1] - _cost(chosen, settings)) * growth
    )


def _cost(chosen: trials.Decisions, settings: Settings) -> float:
    assert chosen.eve_weights is not None
    changed = np.abs(chosen.eve_weights[:, -1] - chosen.weights[:, -1]) > 1e-4
    return float(changed.sum()) * settings.trade_cost


@pytest.mark.parametrize("method", METHODS)
def test_values_are_finite_and_weights_sum_to_one(
    make_config: ConfigFactory, synthetic_frame: pd.DataFrame, method: str
) -> None:
    """Every decision sums to one, every value is finite and positive."""
    settings = load_settings(make_config(uptrendSignalMethod=method, **CHANNEL_DAYS))
    market = _market(synthetic_frame, settings)
    for params in trials.plan_trials(settings, 6, seed=4):
        chosen = trials.decide(market, settings, params)
        np.testing.assert_allclose(chosen.weights.sum(axis=0), 1.0)
        values = trials.run_trial(market, settings, params).values
        assert np.isfinite(values).all()
        assert (values > 0).all()
        assert values[0] == 10_000.0


def test_same_seed_same_results_whatever_the_chunking(
    make_config: ConfigFactory,
) -> None:
    """A seed reproduces a run exactly, however the trials are split into chunks."""
    spec = make_spec(load_settings(make_config()), trials=6, seed=123)
    whole = run_trials(spec, list(range(6)))
    parts = run_trials(spec, [4, 5]) + run_trials(spec, [0, 1, 2, 3])
    by_trial = {r.trial: r for r in parts}
    for result in whole:
        np.testing.assert_array_equal(result.values, by_trial[result.trial].values)
        assert result.params == by_trial[result.trial].params
    other = run_trials(make_spec(spec.settings, trials=6, seed=124), [1])
    assert other[0].params != whole[1].params


def test_trial_zero_is_the_config_and_others_are_perturbed(
    make_config: ConfigFactory,
) -> None:
    """Trial 0 runs the config; later trials vary signal and ranking parameters."""
    settings = load_settings(make_config())
    plan = trials.plan_trials(settings, 40, seed=8)
    assert plan[0] == settings.strategy
    signals = [p.signal for p in plan[1:]]
    assert all(isinstance(s, MovingAverageSignal) for s in signals)
    assert len({s.long for s in signals if isinstance(s, MovingAverageSignal)}) > 5
    assert len({p.long_period for p in plan}) > 5
    assert {p.months_to_hold for p in plan} <= {1, 2, 3, 4, 6, 12}
    for signal in signals:
        assert isinstance(signal, MovingAverageSignal)
        assert signal.long > max(signal.short, signal.mid)


def test_perturbed_percentiles_stay_in_their_halves(make_config: ConfigFactory) -> None:
    """Perturbed lowPct stays in [0, 50] and hiPct in [50, 100]."""
    settings = load_settings(
        make_config(uptrendSignalMethod="percentileChannels", lowPct=48.0, hiPct=55.0)
    )
    for params in trials.plan_trials(settings, 30, seed=2)[1:]:
        signal = params.signal
        assert 0 <= signal.low_pct <= 50 <= signal.hi_pct <= 100  # type: ignore[union-attr]


def test_longest_window_covers_every_look_back(make_config: ConfigFactory) -> None:
    """The history check counts the longest average, LongPeriod and the filter."""
    settings = load_settings(make_config())
    params = dataclasses.replace(settings.strategy, long_period=300)
    assert trials.longest_window(params, settings.window_size) == 301


def test_a_late_listing_has_no_signal_until_its_windows_are_full(
    make_config: ConfigFactory, synthetic_frame: pd.DataFrame
) -> None:
    """Until its moving averages cover real quotes only, a new stock has no trend."""
    settings = load_settings(make_config(sma2factor=0.5))
    market = _market(synthetic_frame, settings)
    days = np.arange(market.n_days, dtype=np.int64)
    signal = trials.held_signal(market, settings, settings.strategy.signal, days)
    listing = 150
    warmup = trials.signal_warmup(settings.strategy.signal)
    assert warmup == 40 - 1 + 6 - 1
    assert not signal[7, : listing + warmup].any()
    assert signal[7, listing + warmup :].any()
