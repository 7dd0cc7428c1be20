"""The Monte Carlo job kind: a real Nasdaq-100 job through a running daemon."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import DaemonProcess

REPO = Path(__file__).resolve().parent.parent


def _naz100_config(configs: Path, quotes: Path, out: Path) -> Path:
    document = json.loads((REPO / "configs" / "naz100_template.json").read_text())
    valuation = document["Valuation"]
    valuation.pop("symbols_file", None)
    valuation["quotes_file"] = str(quotes)
    valuation["webpage"] = str(out / "webpage")
    valuation["performance_store"] = str(out / "store")
    path = configs / "naz100.json"
    path.write_text(json.dumps(document))
    return path


async def test_naz100_job_publishes_its_outputs_and_is_then_fresh(
    shared_daemon: DaemonProcess, shared_configs: Path, shared_data: Path
) -> None:
    """A submitted Naz100 job writes its figures and files; a resubmit is skipped."""
    out = shared_configs.parent / "out"
    config = _naz100_config(shared_configs, shared_data / "naz100_adjclose.csv.gz", out)
    job = (await shared_daemon.call("submit", config=str(config), trials=4, seed=7))[
        "job"
    ]
    assert job["kind"] == "montecarlo"
    done = await shared_daemon.wait_for_state(
        job["id"], "succeeded", "failed", timeout=120
    )
    assert done["state"] == "succeeded", done
    assert done["trials_done"] == 4
    names = {Path(path).name for path in done["outputs"]}
    assert {"PyTAAA_monteCarloBacktest.png", "montecarlo_summary.json"} <= names
    assert all(Path(path).is_file() for path in done["outputs"])
    assert not list(out.rglob(".pytaaad-staging-*"))
    again = (await shared_daemon.call("submit", config=str(config), trials=4, seed=7))[
        "job"
    ]
    assert again["state"] == "skipped_fresh"
