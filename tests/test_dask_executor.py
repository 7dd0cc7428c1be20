"""The Dask backend, through a real daemon (skipped without pytaaad[dask])."""

from __future__ import annotations

import importlib.util
import re
import socket
import ssl
from pathlib import Path

import pytest

from tests.conftest import StartDaemon
from tests.helpers import wait_until, write_job_config

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="the dask extra is not installed",
)


async def test_dask_backend_runs_jobs_and_replaces_them(
    start_daemon: StartDaemon, configs: Path, tmp_path: Path
) -> None:
    """On a local Dask cluster, jobs report progress and a replace publishes the new."""
    daemon = start_daemon("--executor", "dask", workers=1)
    config = write_job_config(configs, trials=40, seconds_per_trial=0.2, label="old")
    old = (await daemon.submit(config))["job"]

    async def progressing() -> bool:
        return (await daemon.job(old["id"]))["trials_done"] >= 1

    await wait_until(progressing, 60.0, "progress of the first job")
    write_job_config(configs, trials=1, seconds_per_trial=0.0, label="new")
    reply = await daemon.submit(config)
    assert reply["replaced"] == old["id"]
    new = await daemon.wait_for_state(
        reply["job"]["id"], "succeeded", "failed", timeout=60
    )
    assert new["state"] == "succeeded", new
    assert (tmp_path / "out" / "job.txt").read_text() == "label=new\ntrials=1\n"


async def test_local_cluster_refuses_clients_without_its_certificate(
    start_daemon: StartDaemon,
) -> None:
    """The local cluster speaks TLS and turns away a client with no certificate."""
    daemon = start_daemon("--executor", "dask", workers=1)
    found = re.search(r"using Dask scheduler tls://([\d.]+):(\d+)", daemon.log())
    assert found is not None, daemon.log()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    address = (found[1], int(found[2]))
    with (
        socket.create_connection(address, timeout=5) as raw,
        pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"),
        context.wrap_socket(raw) as tls,
    ):
        tls.recv(1)
