"""Helpers for tests that run a real daemon: start and stop it, talk to it, wait."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import psutil

from pytaaad.client import Client
from pytaaad.replies import JobInfo

REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0
STOP_SECONDS = 30.0
POLL_SECONDS = 0.05
REPLY_LIMIT = 8 * 1024 * 1024


class RequestFailed(Exception):
    """The daemon answered a request with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


async def exchange(path: Path, frames: list[bytes]) -> list[dict[str, Any]]:
    """Send raw frames on one connection and read one reply per frame."""
    reader, writer = await asyncio.open_unix_connection(str(path), limit=REPLY_LIMIT)
    try:
        replies = []
        for frame in frames:
            writer.write(frame)
            await writer.drain()
            replies.append(orjson.loads(await reader.readline()))
        return replies
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def call(path: Path, op: str, **args: Any) -> dict[str, Any]:
    """One request; return its result or raise RequestFailed."""
    request = {"v": 1, "op": op, "id": 1, **args}
    (reply,) = await exchange(path, [orjson.dumps(request) + b"\n"])
    if not reply["ok"]:
        raise RequestFailed(reply["error"]["code"], reply["error"]["message"])
    result: dict[str, Any] = reply["result"]
    return result


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout: float, what: str
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


def poll_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a blocking ``condition`` until it holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def wait_for_end(client: Client, job_id: int, timeout: float = 30.0) -> JobInfo:
    """The job's record once it has ended, through a blocking client."""
    poll_until(lambda: client.job(job_id).finished, timeout, f"job {job_id} to end")
    return client.job(job_id)


def wait_for_running(client: Client, job_id: int, timeout: float = 30.0) -> None:
    """Return once the job has done a trial, through a blocking client."""
    poll_until(
        lambda: client.job(job_id).trials_done > 0, timeout, f"job {job_id} to run"
    )


def write_job_config(folder: Path, name: str = "job", **fields: Any) -> Path:
    """Write a test job config into ``folder``; outputs go to ``folder/../out``."""
    folder.mkdir(parents=True, exist_ok=True)
    section = {"output_dir": "../out", "seconds_per_trial": 0.05, **fields}
    path = folder / f"{name}.json"
    path.write_bytes(orjson.dumps({"testjob": section}))
    return path


class DaemonProcess:
    """A daemon started as ``python -m pytaaad`` for one test."""

    def __init__(
        self,
        root: Path,
        *extra: str,
        workers: int = 2,
        socket: Path | None = None,
        test_jobs: bool = True,
        roots: tuple[Path, Path] | None = None,
    ) -> None:
        config_root, output_root = roots or (root / "configs", root / "out")
        self.root = root
        self.socket = socket or root / "run" / "pytaaad.sock"
        self.state_dir = root / "state"
        self.log_path = root / f"daemon-{time.monotonic_ns()}.log"
        args = [
            sys.executable,
            "-m",
            "pytaaad",
            "--socket",
            str(self.socket),
            "--state-dir",
            str(self.state_dir),
            "--workers",
            str(workers),
            "--config-root",
            str(config_root),
            "--output-root",
            str(output_root),
            *(["--enable-test-jobs"] if test_jobs else []),
            *extra,
        ]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
        output_root.mkdir(exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                args, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        self._wait_until_serving()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited at start:\n{self.log()}")
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(self.socket))
                probe.sendall(b'{"v": 1, "op": "ping"}\n')
                if b'"ok":true' in probe.recv(4096):
                    return
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"daemon did not serve within {STARTUP_SECONDS}s")

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        return await call(self.socket, op, **args)

    async def submit(self, config: Path, **args: Any) -> dict[str, Any]:
        args.setdefault("kind", "test")
        return await self.call("submit", config=str(config), **args)

    async def job(self, job_id: int) -> dict[str, Any]:
        (job,) = (await self.call("status", job=job_id))["jobs"]
        return job  # type: ignore[no-any-return]

    async def wait_for_state(
        self, job_id: int, *states: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def reached() -> bool:
            found.update(await self.job(job_id))
            return found["state"] in states

        await wait_until(reached, timeout, f"job {job_id} to be {'/'.join(states)}")
        return found

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> int:
        """SIGTERM the daemon, wait for it, and kill anything it left behind."""
        left = self.descendants()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for process in survivors(left, timeout=2.0):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        return self.process.returncode


def alive(process: psutil.Process) -> bool:
    """True while ``process`` runs; a zombie waiting for init to reap it is dead."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def survivors(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still alive after waiting up to ``timeout`` seconds for them."""
    deadline = time.monotonic() + timeout
    while True:
        living = [process for process in processes if alive(process)]
        if not living or time.monotonic() > deadline:
            return living
        time.sleep(POLL_SECONDS / 5)


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU time used so far by each process that still exists."""
    used = {}
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = process.cpu_times()
            used[process.pid] = times.user + times.system
    return used


async def workers_idle(daemon: DaemonProcess, window: float = 0.2) -> bool:
    """True when no process under the daemon used a tenth of ``window`` in CPU."""
    before = cpu_seconds(daemon.descendants())
    await asyncio.sleep(window)
    after = cpu_seconds(daemon.descendants())
    busy = sum(after[pid] - before[pid] for pid in after.keys() & before.keys())
    return busy < window / 10
