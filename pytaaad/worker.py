"""What runs inside a local worker process: set-up, task entry points, progress, stop.

``initialize`` runs once when the pool starts a process; ``run_trials`` and
``render_outputs`` run once per task. Progress goes to the daemon as one JSON line per
event on a pipe shared by all workers: each line is a single write of at most PIPE_BUF
bytes, which the kernel keeps whole, so a worker killed mid-write cannot garble the
stream. A job's stop flag is one byte of shared memory (its slot) that the daemon sets
and the job's tasks read before every trial.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import psutil

from pytaaad.errors import JobStopped
from pytaaad.kinds import JobKind, OutputPairs
from pytaaad.lifeline import die_with_parent

logger = logging.getLogger(__name__)

WORKER_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "BLIS_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}
WORKER_NICENESS = 10
MAX_MESSAGE_BYTES = select.PIPE_BUF
CHILD_EXIT_WAIT_SECONDS = 2.0
LOG_FORMAT = "%(asctime)s worker %(process)d %(levelname)s %(name)s: %(message)s"

StopBoard = ctypes.Array[ctypes.c_ubyte]


@dataclass(frozen=True)
class TaskRef:
    """What a task tells its worker about itself: stop slot, task id, job log file."""

    slot: int
    task_id: int
    log_path: Path | None


class _Channel:
    """This process's end of the progress pipe and its view of the stop board."""

    def __init__(self, progress: Connection, board: StopBoard) -> None:
        self._progress = progress
        self._board = board

    def send(self, message: dict[str, int]) -> None:
        data = orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)
        if len(data) > MAX_MESSAGE_BYTES:
            raise ValueError(f"progress message of {len(data)} bytes is too long")
        os.write(self._progress.fileno(), data)

    def stopped(self, slot: int) -> bool:
        return bool(self._board[slot])


class _WorkerState:
    channel: _Channel | None = None


_STATE = _WorkerState()


def initialize(progress: Connection, board: StopBoard, daemon_pid: int) -> None:
    """Prepare a fresh worker process; the pool calls this before any task.

    WORKER_ENVIRONMENT is already in place: the executor sets it before it spawns us,
    since BLAS reads its thread count when numpy is first imported.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(daemon_pid)
    _keep_descriptors_private()
    # A group of its own lets the daemon kill the worker and whatever its job started
    # with one killpg, and keeps a terminal's ^C away from it.
    os.setpgid(0, 0)
    # Below the daemon's priority, so submit and status stay prompt on busy cores.
    os.nice(WORKER_NICENESS)
    logging.getLogger().setLevel(logging.INFO)
    _STATE.channel = _Channel(progress, board)
    _STATE.channel.send({"ready": os.getpid()})


def _keep_descriptors_private() -> None:
    """Make every descriptor above stderr close on exec.

    The spawn start method hands the worker its pipes (to the pool, the progress
    channel, the resource tracker) as inheritable descriptors. A process a job starts
    would keep them open, and the pool would then never see this worker die.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with suppress(OSError):
                os.set_inheritable(fd, False)


def run_trials(
    kind: JobKind[Any], spec: Any, trial_ids: list[int], *, task: TaskRef
) -> list[Any]:
    """Task entry point: run one chunk of trials of a job."""
    with _task_scope(task) as channel:
        # Checked here too: a kind may do costly set-up before its first trial, and a
        # task that waited in the pool's queue should not pay it for nothing.
        if channel.stopped(task.slot):
            raise JobStopped("stopped before its first trial")

        def on_trial(trial_id: int) -> None:
            channel.send({"task": task.task_id, "trial": trial_id})

        def should_stop() -> bool:
            return channel.stopped(task.slot)

        return kind.run_trials(spec, trial_ids, on_trial, should_stop)


def render_outputs(
    kind: JobKind[Any],
    spec: Any,
    *,
    results: list[Any],
    token: str,
    timings: dict[str, float],
    part: Any,
    task: TaskRef,
) -> OutputPairs:
    """Task entry point: write one part of a job's outputs into its staging folders."""
    with _task_scope(task) as channel:
        if channel.stopped(task.slot):
            raise JobStopped("stopped before rendering outputs")
        return kind.render_outputs(spec, results, token, timings, part)


@contextmanager
def _task_scope(task: TaskRef) -> Iterator[_Channel]:
    channel = _STATE.channel
    if channel is None:
        raise RuntimeError("worker.initialize() has not run in this process")
    channel.send({"task": task.task_id, "pid": os.getpid()})
    handler = None
    if task.log_path is not None and not channel.stopped(task.slot):
        handler = logging.FileHandler(task.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(handler)
    try:
        yield channel
    finally:
        _end_descendants()
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()


def _end_descendants() -> None:
    """Kill and reap what the task left running; a worker starts no process itself."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        with suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(children, timeout=CHILD_EXIT_WAIT_SECONDS)
    if children:
        logger.warning("killed %d processes the task left running", len(children))
