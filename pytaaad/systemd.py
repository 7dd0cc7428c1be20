"""systemd integration: an inherited listening socket, and the notify protocol.

Socket activation hands the daemon its listening socket as file descriptor 3 with
LISTEN_PID and LISTEN_FDS set (sd_listen_fds(3)). Type=notify services report READY,
STATUS, WATCHDOG and STOPPING over NOTIFY_SOCKET (sd_notify(3)); the cysystemd library
speaks that protocol. Outside systemd every function here is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
from collections.abc import Callable, MutableMapping
from pathlib import Path

logger = logging.getLogger(__name__)

LISTEN_FDS_START = 3
STATUS_SECONDS = 2.0
LISTEN_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def inherited_socket(
    environ: MutableMapping[str, str] = os.environ,
) -> socket.socket | None:
    """The listening Unix socket systemd passed to this process, if any.

    The LISTEN_* variables are removed so that worker processes do not see them.
    """
    pid = environ.get("LISTEN_PID")
    count = environ.get("LISTEN_FDS")
    for name in LISTEN_VARIABLES:
        environ.pop(name, None)
    if pid is None or count is None:
        return None
    if pid != str(os.getpid()):
        logger.warning("LISTEN_PID %s is not this process; ignoring LISTEN_FDS", pid)
        return None
    if count != "1":
        raise ValueError(f"expected one socket from systemd, got LISTEN_FDS={count}")
    mode = os.fstat(LISTEN_FDS_START).st_mode
    if not stat.S_ISSOCK(mode):
        raise ValueError(f"file descriptor {LISTEN_FDS_START} is not a socket")
    sock = socket.socket(fileno=LISTEN_FDS_START)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise ValueError("the socket from systemd is not a Unix stream socket")
    sock.set_inheritable(False)
    return sock


def socket_path(sock: socket.socket) -> Path:
    """The file system path a Unix socket is bound to."""
    name = sock.getsockname()
    if not isinstance(name, str) or not name:
        raise ValueError("the socket from systemd has no path (an abstract socket?)")
    return Path(name)


class Notifier:
    """Sends sd_notify messages when the service manager asked for them."""

    def __init__(self, environ: MutableMapping[str, str] = os.environ) -> None:
        self._send: Callable[[str], None] | None = None
        self.watchdog_seconds: float | None = None
        if not environ.get("NOTIFY_SOCKET"):
            return
        try:
            from cysystemd.daemon import Notification, notify
        except ImportError as exc:
            logger.warning("NOTIFY_SOCKET is set but cysystemd is missing: %s", exc)
            return

        def send(message: str) -> None:
            key, _, value = message.partition("=")
            kind = Notification[key]
            notify(kind, value) if kind is Notification.STATUS else notify(kind)

        self._send = send
        self.watchdog_seconds = _watchdog_seconds(environ)

    @property
    def enabled(self) -> bool:
        return self._send is not None

    def notify(self, message: str) -> None:
        """Send one ``KEY=value`` message; failures are logged, never raised."""
        if self._send is None:
            return
        try:
            self._send(message)
        except (OSError, ValueError) as exc:
            logger.warning("cannot notify systemd (%s): %s", message, exc)

    async def keep_alive(self, status: Callable[[], str]) -> None:
        """Report ``status()`` when it changes and pet the watchdog, until cancelled."""
        if self._send is None:
            return
        interval = STATUS_SECONDS
        if self.watchdog_seconds is not None:
            interval = min(interval, self.watchdog_seconds / 2)
        last = ""
        while True:
            text = status()
            if text != last:
                self.notify(f"STATUS={text}")
                last = text
            if self.watchdog_seconds is not None:
                self.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def _watchdog_seconds(environ: MutableMapping[str, str]) -> float | None:
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid is not None and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000
    except ValueError:
        logger.warning("ignoring WATCHDOG_USEC=%r", usec)
        return None
