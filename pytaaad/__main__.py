"""Entry point of the ``pytaaad`` command: the daemon, or one job in the foreground."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Send ``pytaaad run CONFIG`` to the foreground runner, all else to the daemon."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if args and args[0] == "run":
            from pytaaad.runner import main as run_main

            return run_main(args[1:])
        from pytaaad.daemon import main as daemon_main

        return daemon_main(args[1:] if args and args[0] == "serve" else args)
    except KeyboardInterrupt:
        # ^C while the numeric modules were still importing.
        print("pytaaad: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
