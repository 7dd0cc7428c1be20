"""Daemon speed: submit latency under load, and how fast a replace stops the old job.

Starts ``python -m pytaaad`` with test jobs enabled on a socket in a temporary folder,
keeps its workers busy with one job, and prints:

- the submit round trip (p50, p99, max) on a new connection per submit, as pytaaa-ctl
  makes it, and on one open connection;
- the seconds from a replacing submit until the old job's workers stop using CPU
  (targets: p99 submit at most 5 ms; replace-to-idle at most 0.5 s);
- with ``--config`` (a Monte Carlo config), the seconds from a cancel of that job, in
  the middle of its trials, until its workers stop using CPU.

Usage: python benchmarks/bench_daemon.py [--submits N] [--replaces N]
           [--trial-seconds S] [--workers N] [--config MONTE_CARLO_CONFIG]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil

REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0
IDLE_WINDOW_SECONDS = 0.2
IDLE_CPU_SHARE = 0.1
SAMPLE_SECONDS = 0.01


class Daemon:
    """A daemon process for the benchmark, with a tiny blocking client."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self.socket = folder / "run" / "pytaaad.sock"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
        args = [sys.executable, "-m", "pytaaad", "--socket", str(self.socket)]
        args += ["--state-dir", str(folder / "state"), "--workers", str(workers)]
        args += ["--max-jobs", "1", "--enable-test-jobs", "--log-level", "WARNING"]
        self.process = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self.socket.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("the daemon did not start")
            time.sleep(0.05)

    @contextlib.contextmanager
    def connection(self) -> Iterator[socket.socket]:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.socket))
            yield sock

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        with self.connection() as sock:
            return request(sock, op, **args)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def request(sock: socket.socket, op: str, **args: Any) -> dict[str, Any]:
    sock.sendall(orjson.dumps({"v": 1, "op": op, **args}) + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        data += sock.recv(65536)
    reply = orjson.loads(data)
    if not reply["ok"]:
        raise RuntimeError(reply["error"])
    result: dict[str, Any] = reply["result"]
    return result


def write_config(folder: Path, name: str, **section: Any) -> Path:
    path = folder / f"{name}.json"
    path.write_bytes(orjson.dumps({"testjob": {"output_dir": "out", **section}}))
    return path


def wait_running(daemon: Daemon, job_id: int, workers: int) -> None:
    while True:
        (job,) = daemon.call("status", job=job_id)["jobs"]
        if len(job["pids"]) >= workers:
            return
        time.sleep(0.02)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ordered[-1] * 1000:.2f} ms"


def submit_latency(daemon: Daemon, folder: Path, submits: int, workers: int) -> None:
    busy = write_config(folder, "busy", trials=1000, seconds_per_trial=1.0)
    job = daemon.call("submit", config=str(busy), kind="test")["job"]
    wait_running(daemon, job["id"], workers)
    light = str(write_config(folder, "light", trials=1))
    fresh = []
    for _ in range(submits):
        start = time.perf_counter()
        daemon.call("submit", config=light, kind="test")
        fresh.append(time.perf_counter() - start)
    reused = []
    with daemon.connection() as sock:
        for _ in range(submits):
            start = time.perf_counter()
            request(sock, "submit", config=light, kind="test")
            reused.append(time.perf_counter() - start)
    print(f"submit, new connection each ({submits}): {percentiles(fresh)}")
    print(f"submit, one open connection ({submits}): {percentiles(reused)}")
    daemon.call("cancel", job=job["id"])
    daemon.call("cancel", config=light)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def seconds_until_idle(daemon: Daemon, since: float) -> float:
    """When the daemon's workers last used CPU, once idle for IDLE_WINDOW_SECONDS."""
    samples: list[tuple[float, float]] = []
    busy_until = since
    while True:
        now = time.perf_counter()
        samples.append((now, cpu_seconds(daemon.descendants())))
        if len(samples) > 1:
            (t0, c0), (t1, c1) = samples[-2], samples[-1]
            if (c1 - c0) > IDLE_CPU_SHARE * (t1 - t0):
                busy_until = t1
        if now - busy_until > IDLE_WINDOW_SECONDS and now - since > IDLE_WINDOW_SECONDS:
            return busy_until - since
        time.sleep(SAMPLE_SECONDS)


def replace_to_idle(
    daemon: Daemon, folder: Path, replaces: int, trial_seconds: float, workers: int
) -> None:
    times = []
    for round_number in range(replaces):
        name = f"replace{round_number}"
        config = write_config(folder, name, trials=200, seconds_per_trial=trial_seconds)
        job = daemon.call("submit", config=str(config), kind="test")["job"]
        wait_running(daemon, job["id"], workers)
        time.sleep(trial_seconds * 1.5)
        write_config(folder, name, trials=1, seconds_per_trial=0.0)
        start = time.perf_counter()
        daemon.call("submit", config=str(config), kind="test")
        times.append(seconds_until_idle(daemon, start))
    print(
        f"replace until the old job's CPU use stops ({replaces} runs, "
        f"{trial_seconds:g} s trials): median {statistics.median(times):.3f} s, "
        f"max {max(times):.3f} s"
    )


def cancel_to_idle(daemon: Daemon, config: Path, rounds: int) -> None:
    times = []
    for _ in range(rounds):
        args = {"config": str(config.resolve()), "force": True, "trials": 400}
        job = daemon.call("submit", **args)["job"]
        while daemon.call("status", job=job["id"])["jobs"][0]["trials_done"] < 50:
            time.sleep(0.05)
        start = time.perf_counter()
        daemon.call("cancel", job=job["id"])
        times.append(seconds_until_idle(daemon, start))
    print(
        f"cancel of a Monte Carlo job until its CPU use stops ({rounds} runs): "
        f"median {statistics.median(times):.3f} s, max {max(times):.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=500)
    parser.add_argument("--replaces", type=int, default=5)
    parser.add_argument("--trial-seconds", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", type=Path, help="a Monte Carlo config to cancel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pytaaad-bench-") as temp:
        folder = Path(temp)
        (folder / "out").mkdir()
        daemon = Daemon(folder, args.workers)
        try:
            submit_latency(daemon, folder, args.submits, args.workers)
            replace_to_idle(
                daemon, folder, args.replaces, args.trial_seconds, args.workers
            )
            if args.config is not None:
                cancel_to_idle(daemon, args.config, args.replaces)
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
