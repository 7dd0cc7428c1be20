"""The Monte Carlo backtest section of PyTAAA's web page, refreshed through the daemon.

``backtest_section`` replaces the legacy ``makeDailyMonteCarloBacktest`` in PyTAAA's
``writeWebPage``: it asks the daemon to refresh the backtest of a config and returns
the same HTML fragment, two headed images. The page (``pyTAAAweb.html``) is written
into ``Valuation.webpage``, next to the PNGs the job writes there, so the images are
linked by file name alone.
"""

from __future__ import annotations

import logging

from pytaaad.client import Client, PathArg
from pytaaad.errors import PytaaadError

logger = logging.getLogger(__name__)

FULL_HISTORY_PNG = "PyTAAA_monteCarloBacktest.png"
RECENT_PNG = "PyTAAA_monteCarloBacktestRecent.png"
IMAGE_WIDTH_PIXELS = 850
IMAGE_HEIGHT_PIXELS = 500
# A page build must not stall on a daemon that accepts but does not answer.
SUBMIT_TIMEOUT_SECONDS = 5.0
SECTIONS = (
    (
        "Daily backtest with trend indicators and measure of invested percent",
        FULL_HISTORY_PNG,
        "Monte Carlo backtest over the full history",
    ),
    (
        "Recent portion of daily backtest with trend indicators and measure of "
        "invested percent",
        RECENT_PNG,
        "Monte Carlo backtest over recent years",
    ),
)


def backtest_html() -> str:
    """The fragment: per image, a heading and the image at the legacy page size."""
    return "".join(
        f"<br><h3>{heading}</h3>\n"
        f'<img src="{image}" alt="{alt}" width="{IMAGE_WIDTH_PIXELS}" '
        f'height="{IMAGE_HEIGHT_PIXELS}"><br>\n'
        for heading, image, alt in SECTIONS
    )


def backtest_section(
    config: PathArg,
    *,
    socket: PathArg | None = None,
    timeout: float = SUBMIT_TIMEOUT_SECONDS,
) -> str:
    """Submit ``config`` to the daemon, fire and forget; return the page fragment.

    The daemon skips the job if the outputs are fresh, and replaces a job in flight
    for the same config. Nothing here raises into the page build: if the daemon is
    down or anything else fails, a warning is logged and the fragment still returned,
    linking the images of the last run.
    """
    try:
        with Client(socket, timeout=timeout) as client:
            result = client.submit(config)
    except PytaaadError as error:
        logger.warning("Monte Carlo backtest of %s not refreshed: %s", config, error)
    except Exception:
        # The boundary between the page build and pytaaad: log it, build the page.
        logger.warning(
            "Monte Carlo backtest of %s not refreshed", config, exc_info=True
        )
    else:
        job = result.job
        logger.info("Monte Carlo backtest of %s: job %s %s", job.key, job.id, job.state)
    return backtest_html()
