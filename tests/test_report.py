"""Tests for ``pytaaad.backtest.report``: where the recent figure starts."""

from __future__ import annotations

import pytest

from pytaaad.backtest import job, report
from pytaaad.config import load_settings
from tests.conftest import ConfigFactory


def test_recent_figure_starts_at_the_configured_date(
    make_config: ConfigFactory,
) -> None:
    """``recent_plot_start_date`` is the first day of the recent figure."""
    market = job.load_market(load_settings(make_config()))
    chosen = str(market.dates[100])
    settings = load_settings(make_config(recent_plot_start_date=chosen))
    assert report.recent_start(market, settings) == 100


def test_recent_start_too_late_shows_the_last_days(
    make_config: ConfigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A start date near the end gives the last MIN_RECENT_DAYS days, with a warning."""
    settings = load_settings(make_config())
    market = job.load_market(settings)
    late = str(market.dates[-5])
    settings = load_settings(make_config(recent_plot_start_date=late))
    start = report.recent_start(market, settings)
    assert start == market.n_days - report.MIN_RECENT_DAYS
    assert "recent_plot_start_date" in caplog.text
