"""pytaaa-ctl: drive a pytaaad daemon from the shell.

Human output goes to stdout, progress bars and complaints to stderr; with ``--json``
stdout carries only JSON documents, one per line. The README documents every shape.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeAlias

from pytaaad import __version__, display, follow
from pytaaad.client import DEFAULT_TIMEOUT_SECONDS, Client, config_path
from pytaaad.errors import BadReply, DaemonUnreachable, PytaaadError
from pytaaad.protocol import MAX_COUNT, MAX_JOB_ID, MAX_SEED, MAX_TRIALS
from pytaaad.replies import JobInfo, LogTail, Status

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
MAX_SECONDS = 86_400.0
WAIT_INTERVAL_SECONDS = 0.5
WATCH_INTERVAL_SECONDS = 1.0
FOLLOW_INTERVAL_SECONDS = 0.5
# How far back status looks in the history for how a running config last ended.
LAST_RESULT_LOOKBACK = 20

EPILOG = f"""\
exit status:
  {EXIT_OK}    success; with --wait, every job succeeded or its outputs were fresh
  {EXIT_JOB_FAILED}    with --wait, a job failed, was cancelled, replaced, crashed or
       interrupted
  {EXIT_USAGE}    usage error
  {EXIT_UNREACHABLE}    no daemon answers on the socket: none runs, the socket is stale,
       the daemon went away or did not reply in time
  {EXIT_REFUSED}    the daemon refused a request: a bad config, a path outside its
       roots, a peer it does not allow, no such job, ...
  {EXIT_INTERRUPTED}  Ctrl-C before the command was done; jobs go on in the daemon
       (Ctrl-C ends status --watch and logs --follow with 0)
  {EXIT_BROKEN_PIPE}  stdout was closed by its reader (| head, say)
With several configs, the highest applicable status is returned; stdout that
cannot be written (a full disk) gives 1.

socket: --socket, else $PYTAAAD_SOCKET, else the daemon's default
($RUNTIME_DIRECTORY/pytaaad.sock, else $XDG_RUNTIME_DIR/pytaaad/pytaaad.sock),
else /run/pytaaad/pytaaad.sock.
"""

Command = Callable[[Client, argparse.Namespace, "Output"], int]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Output:
    """Where pytaaa-ctl writes: text for people, or JSON documents for programs."""

    def __init__(self, json: bool) -> None:
        self.json = json
        self.terminal = sys.stdout.isatty()
        encoding = (sys.stdout.encoding or "").lower().replace("-", "")
        self.unicode = encoding == "utf8"

    def document(self, value: Any) -> None:
        """One JSON document on a line of stdout, in --json mode (ASCII, so that
        any locale can print it).
        """
        if self.json:
            sys.stdout.write(json.dumps(value, default=_plain) + "\n")
            sys.stdout.flush()

    def lines(self, lines: Iterable[str]) -> None:
        """Text for people on stdout, unless in --json mode."""
        if not self.json:
            for line in lines:
                print(line)
            sys.stdout.flush()

    def note(self, text: str) -> None:
        """A remark or complaint on stderr, in either mode."""
        print(f"pytaaa-ctl: {text}", file=sys.stderr, flush=True)

    def failure(self, error: PytaaadError, code: int) -> int:
        self.note(str(error))
        self.document({"error": error_object(error)})
        return code

    @property
    def width(self) -> int | None:
        """The terminal's width, or None when stdout is not a terminal."""
        return shutil.get_terminal_size().columns if self.terminal else None

    @property
    def height(self) -> int:
        return shutil.get_terminal_size().lines


def error_object(error: PytaaadError) -> dict[str, str]:
    return {"code": error.code, "message": str(error)}


def _plain(value: Any) -> Any:
    """JSON for what the standard encoder does not know: records and paths."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def main(argv: list[str] | None = None) -> int:
    """Run one pytaaa-ctl command; return its exit status."""
    _usable_streams()
    args = build_parser().parse_args(argv)
    out = Output(args.json)
    command: Command = args.command
    try:
        with Client(args.socket, timeout=args.timeout) as client:
            return command(client, args, out)
    except (DaemonUnreachable, BadReply) as error:
        return out.failure(error, EXIT_UNREACHABLE)
    except PytaaadError as error:
        return out.failure(error, EXIT_REFUSED)
    except KeyboardInterrupt:
        out.note("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away; Python would complain again when it flushes stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as error:
        out.note(f"cannot write to stdout: {error.strerror or error}")
        return EXIT_JOB_FAILED


def _usable_streams() -> None:
    """Stand in for a closed stdout or stderr (``>&-``), and print what a locale
    cannot encode as escapes rather than fail.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115
        elif hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def submit(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Submit each config; with --wait, follow the jobs to their end."""
    entries: list[dict[str, Any]] = []
    accepted: list[JobInfo] = []
    status = EXIT_OK
    seen: set[str] = set()
    for config in args.configs:
        try:
            path = config_path(config)
        except PytaaadError as error:
            out.note(str(error))
            entries.append({"config": config, "error": error_object(error)})
            status = EXIT_REFUSED
            continue
        if path in seen:
            # Submitting it again would replace the job just queued.
            out.note(f"{config}: given twice (as {path}); submitted once")
            continue
        seen.add(path)
        try:
            result = client.submit(
                path,
                force=args.force,
                trials=args.trials,
                seed=args.seed,
                kind=args.kind,
            )
        except (DaemonUnreachable, BadReply):
            raise
        except PytaaadError as error:
            out.note(str(error) if path in str(error) else f"{path}: {error}")
            entries.append({"config": path, "error": error_object(error)})
            status = EXIT_REFUSED
            continue
        entries.append({"config": path, "job": result.job, "replaced": result.replaced})
        accepted.append(result.job)
        out.lines([display.submit_line(result)])
    if not (args.wait and accepted):
        out.document({"submitted": entries})
        return status
    try:
        finished = follow.wait_for_jobs(client, accepted, args.interval)
    except KeyboardInterrupt:
        out.note("stopped waiting; the jobs go on (see pytaaa-ctl status)")
        out.document({"submitted": entries})
        return EXIT_INTERRUPTED
    except (DaemonUnreachable, BadReply) as error:
        # Keep the ids of the jobs that were accepted: a script may want to look
        # them up in the history once a daemon is back.
        out.note(str(error))
        out.document({"submitted": entries, "error": error_object(error)})
        return EXIT_UNREACHABLE
    for job in finished:
        if job.ended_well:
            out.lines([display.end_line(job)])
        else:
            out.note(display.end_line(job))
    out.document({"submitted": entries, "finished": finished})
    failed = any(not job.ended_well for job in finished)
    return max(status, EXIT_JOB_FAILED if failed else EXIT_OK)


def status(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Show the daemon's jobs, once or (--watch) until Ctrl-C."""
    if not args.watch:
        _show_status(client, args, out, replace=0)
        return EXIT_OK
    shown = 0

    def refresh() -> None:
        nonlocal shown
        shown = _show_status(client, args, out, replace=shown)

    try:
        follow.watch(refresh, args.interval)
    except KeyboardInterrupt:
        return EXIT_OK


def _show_status(
    client: Client, args: argparse.Namespace, out: Output, replace: int
) -> int:
    """Print one status; return how many lines the next refresh replaces."""
    reply = client.status(args.config, job=args.job)
    if out.json:
        out.document(reply)
        return 0
    now = time.time()
    header = display.daemon_line(reply.daemon, client.socket_path)
    if args.watch:
        header += f"; {time.strftime('%H:%M:%S')}, every {args.interval:g} s"
    table = display.status_table(
        reply,
        _last_results(client, reply),
        now,
        labels=_labels(job.key for job in reply.jobs),
        unicode=out.unicode,
        width=out.width,
    )
    lines = [header, *table]
    if out.width is None:
        out.lines([*lines, ""] if args.watch else lines)
        return 0
    lines = display.clip(lines, out.width)
    if args.watch:
        lines = display.clip_height(lines, out.height - 1)
    # Move up over the previous refresh and clear below; lines are clipped to the
    # screen, so none wrapped or scrolled away and the count is exact.
    prefix = f"\x1b[{replace}F\x1b[J" if replace else ""
    sys.stdout.write(prefix + "\n".join(lines) + "\n")
    sys.stdout.flush()
    return len(lines)


def _last_results(client: Client, reply: Status) -> dict[str, JobInfo]:
    """The newest finished job of every key in ``reply``, from it or the history."""
    last = display.newest_finished(reply.jobs)
    for job in display.newest_per_key(reply.jobs):
        if job.key not in last:
            earlier = client.history(job.key, limit=LAST_RESULT_LOOKBACK)
            last |= display.newest_finished(earlier)
    return last


def cancel(client: Client, args: argparse.Namespace, out: Output) -> int:
    job = client.cancel(args.config, job=args.job)
    out.document({"job": job})
    out.lines([display.job_line(job)])
    return EXIT_OK


def logs(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Print the end of a job's log; with --follow, what it gains until Ctrl-C."""
    lines = follow.FOLLOW_LINES if args.follow else max(1, args.tail)
    tail = client.logs(args.config, job=args.job, lines=lines)
    shown = tail.lines[-args.tail :] if args.tail else ()
    _show_log(out, LogTail(tail.job, tail.path, shown), new_job=False)
    if not args.follow:
        return EXIT_OK

    def fetch(lines: int, job: int | None) -> LogTail:
        if job is not None:
            return client.logs(job=job, lines=lines)
        return client.logs(args.config, job=args.job, lines=lines)

    try:
        follow.follow_log(
            fetch, tail, lambda new, job: _show_log(out, new, job), args.interval
        )
    except KeyboardInterrupt:
        return EXIT_OK


def _show_log(out: Output, tail: LogTail, new_job: bool) -> None:
    out.document(tail)
    out.lines(
        [f"==> job {tail.job}: {tail.path} <==", *tail.lines] if new_job else tail.lines
    )


def history(client: Client, args: argparse.Namespace, out: Output) -> int:
    jobs = client.history(args.config, limit=args.limit)
    out.document({"jobs": jobs})
    labels = _labels(job.key for job in jobs)
    table = display.history_table(jobs, labels=labels, width=out.width)
    out.lines(table if out.width is None else display.clip(table, out.width))
    return EXIT_OK


def ping(client: Client, args: argparse.Namespace, out: Output) -> int:
    info = client.ping()
    out.document({"daemon": info})
    out.lines([display.daemon_line(info, client.socket_path)])
    return EXIT_OK


def shutdown(client: Client, args: argparse.Namespace, out: Output) -> int:
    client.shutdown()
    out.document({"stopping": True})
    out.lines([f"the pytaaad daemon on {client.socket_path} is shutting down"])
    return EXIT_OK


def _labels(keys: Iterable[str]) -> dict[str, str]:
    cwd, home = Path.cwd(), Path.home()
    return {key: display.config_label(key, cwd, home) for key in keys}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytaaa-ctl",
        description="Submit, watch and cancel the Monte Carlo jobs of pytaaad.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options()],
    )
    # The commands get their own copy of the options: parsers made from one parent
    # share its action objects, and this would change their defaults too.
    common = _common_options()
    parser.set_defaults(socket=None, json=False, timeout=DEFAULT_TIMEOUT_SECONDS)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in (_add_submit, _add_status, _add_cancel, _add_logs, _add_history):
        add(commands, common)
    for name, run, text in (
        ("ping", ping, "show that the daemon answers, and its figures"),
        ("shutdown", shutdown, "stop the daemon (its jobs end interrupted)"),
    ):
        _command(commands, common, name, run, text)
    return parser


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS, so that an option given before the command is not reset after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--socket",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the daemon's socket (default: $PYTAAAD_SOCKET, then the daemon's)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print JSON documents on stdout instead of text",
    )
    common.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help=f"seconds a request may take (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    return common


def _command(
    commands: Subcommands,
    common: argparse.ArgumentParser,
    name: str,
    run: Command,
    text: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=text, description=description or text, parents=[common]
    )
    parser.set_defaults(command=run)
    return parser


def _add_submit(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = _command(
        commands,
        common,
        "submit",
        submit,
        "queue a job per config and return at once",
        "Queue a Monte Carlo job per config and print its id. A job in flight for "
        "the same config is replaced; a config whose outputs are fresh is skipped.",
    )
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="PyTAAA config")
    parser.add_argument("--force", action="store_true", help="run even if fresh")
    parser.add_argument(
        "--trials",
        type=_bounded(1, MAX_TRIALS),
        metavar="N",
        help=f"trials (1 to {MAX_TRIALS}) instead of the config's montecarlo_trials",
    )
    parser.add_argument(
        "--seed",
        type=_bounded(0, MAX_SEED),
        metavar="S",
        help="seed of the trial plan instead of the config's seed (default: random)",
    )
    parser.add_argument(
        "--wait", action="store_true", help="show progress until the jobs end"
    )
    _interval(parser, WAIT_INTERVAL_SECONDS)
    # Selects the daemon's test job kind in the test suite.
    parser.add_argument("--kind", help=argparse.SUPPRESS)


def _add_status(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = _command(
        commands,
        common,
        "status",
        status,
        "show jobs: state, progress, elapsed time, last result",
        "Show one row per config of the daemon's job table: its newest job's state, "
        "progress and elapsed time, and how the config's last finished job ended.",
    )
    _job_choice(parser, required=False)
    parser.add_argument(
        "--watch", action="store_true", help="refresh in place until Ctrl-C"
    )
    _interval(parser, WATCH_INTERVAL_SECONDS)


def _add_cancel(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = _command(
        commands, common, "cancel", cancel, "cancel the job in flight for a config"
    )
    _job_choice(parser, required=True)


def _add_logs(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = _command(
        commands,
        common,
        "logs",
        logs,
        "print the end of a job's log",
        "Print the end of the log of a config's newest job (or of --job).",
    )
    _job_choice(parser, required=True)
    parser.add_argument(
        "--tail",
        type=_bounded(0, MAX_COUNT),
        default=100,
        metavar="N",
        help="lines (default 100; 0 with --follow: only new lines)",
    )
    parser.add_argument(
        "--follow", action="store_true", help="print new lines until Ctrl-C"
    )
    _interval(parser, FOLLOW_INTERVAL_SECONDS)


def _add_history(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = _command(
        commands,
        common,
        "history",
        history,
        "list past jobs, newest first",
        "List jobs from the daemon's history, across restarts, newest first.",
    )
    parser.add_argument("config", nargs="?", metavar="CONFIG", help="only this config")
    parser.add_argument(
        "--limit",
        type=_bounded(1, MAX_COUNT),
        default=50,
        metavar="N",
        help="rows (default 50)",
    )


def _job_choice(parser: argparse.ArgumentParser, required: bool) -> None:
    choice = parser.add_mutually_exclusive_group(required=required)
    choice.add_argument("config", nargs="?", metavar="CONFIG", help="PyTAAA config")
    choice.add_argument(
        "--job", type=_bounded(1, MAX_JOB_ID), metavar="ID", help="a job id instead"
    )


def _interval(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument(
        "--interval",
        type=_seconds,
        default=default,
        metavar="SECONDS",
        help=f"seconds between polls of the daemon (default {default:g})",
    )


def _bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""

    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text[:24]!r} is not an integer from {low} to {high}"
            )
        return value

    return integer


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds above 0 and at most {MAX_SECONDS:g}"
        )
    return value


if __name__ == "__main__":
    sys.exit(main())
