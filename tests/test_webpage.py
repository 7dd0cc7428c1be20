"""The PyTAAA page drop-in: the legacy fragment, with the daemon up, down or failing."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from pytaaad import webpage
from pytaaad.client import Client
from pytaaad.jobs import JobState
from pytaaad.webpage import backtest_html, backtest_section
from tests.conftest import ConfigFactory
from tests.helpers import DaemonProcess, wait_for_end

IMAGE_TAG = re.compile(
    r'<img src="([^"]+)" alt="[^"]+" width="850" height="500">', re.MULTILINE
)
MONTE_CARLO_SECONDS = 120.0


def test_the_fragment_heads_and_links_both_images_at_the_legacy_size() -> None:
    """Two headings, each followed by its image, linked by file name, 850 x 500."""
    html = backtest_html()
    headings = re.findall(r"<h3>([^<]+)</h3>", html)
    assert headings == [
        "Daily backtest with trend indicators and measure of invested percent",
        "Recent portion of daily backtest with trend indicators and measure of "
        "invested percent",
    ]
    assert IMAGE_TAG.findall(html) == [
        "PyTAAA_monteCarloBacktest.png",
        "PyTAAA_monteCarloBacktestRecent.png",
    ]
    assert html.index(headings[1]) > html.index("PyTAAA_monteCarloBacktest.png")


def test_a_running_daemon_gets_the_job_and_writes_the_linked_images(
    daemon: DaemonProcess, make_config: ConfigFactory, tmp_path: Path
) -> None:
    """The section submits the config; the job writes the two images it links."""
    (tmp_path / "configs").mkdir()
    config = make_config("configs/pytaaa.json")
    html = backtest_section(config, socket=daemon.socket)
    assert html == backtest_html()
    with Client(daemon.socket) as client:
        (job,) = client.status(config).jobs
        done = wait_for_end(client, job.id, timeout=MONTE_CARLO_SECONDS)
    assert done.state is JobState.SUCCEEDED, done.error
    web = tmp_path / "out" / "web"
    for image in IMAGE_TAG.findall(html):
        assert (web / image).stat().st_size > 0


def test_a_daemon_that_is_down_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a daemon the fragment is still returned, with a warning that says why."""
    path = tmp_path / "none.sock"
    with caplog.at_level(logging.WARNING, logger="pytaaad.webpage"):
        html = backtest_section(tmp_path / "pytaaa.json", socket=path)
    assert html == backtest_html()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert f"no pytaaad daemon is listening on {path}" in record.getMessage()


def test_a_refused_config_is_a_warning_with_the_daemons_message(
    shared_daemon: DaemonProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A config the daemon refuses is logged with its reason; the page still builds."""
    outside = tmp_path / "elsewhere" / "pytaaa.json"
    with caplog.at_level(logging.WARNING, logger="pytaaad.webpage"):
        html = backtest_section(outside, socket=shared_daemon.socket)
    assert html == backtest_html()
    (record,) = caplog.records
    assert "is outside the allowed roots" in record.getMessage()


def test_an_unexpected_failure_is_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even an error that is no PytaaadError never reaches the page build."""

    class BrokenClient:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("something nobody expected")

    monkeypatch.setattr(webpage, "Client", BrokenClient)
    with caplog.at_level(logging.WARNING, logger="pytaaad.webpage"):
        html = backtest_section(tmp_path / "pytaaa.json")
    assert html == backtest_html()
    (record,) = caplog.records
    assert record.exc_info is not None
    assert "something nobody expected" in caplog.text
