"""The systemd notification protocol (sd_notify) over a unix datagram socket, without libsystemd.

systemd passes the socket in ``$NOTIFY_SOCKET``: a filesystem path, or an abstract-namespace
name written with a leading ``@``. Each message is one datagram of ``KEY=VALUE`` lines.
Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op, so the engine runs the same from
a shell.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Send sd_notify messages; ``watchdog_interval`` says how often systemd wants a ping."""

    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or ""
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._address = address or None
        self._sock: socket.socket | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process the watchdog applies to; a child that inherited the
        # environment must not ping on its parent's behalf.
        applies = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_usec = int(usec) if applies else 0

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens for notifications."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float:
        """Seconds between watchdog pings: half the timeout systemd set, or 0 without a watchdog."""
        return self.watchdog_usec / 2_000_000

    def notify(self, **fields: str) -> bool:
        """Send ``KEY=VALUE`` lines (``ready="1"`` becomes ``READY=1``); return False when not sent."""
        if self._address is None:
            return False
        payload = "\n".join(f"{key.upper()}={value}" for key, value in fields.items()).encode()
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.sendto(payload, self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> bool:
        """Tell systemd start-up is complete (``Type=notify`` units leave 'activating')."""
        return self.notify(ready="1", status=status)

    def watchdog(self) -> bool:
        """Ping the watchdog (``WatchdogSec=``); systemd kills the service when pings stop."""
        return self.notify(watchdog="1")

    def status(self, text: str) -> bool:
        """Show ``text`` in ``systemctl status``."""
        return self.notify(status=text)

    def stopping(self) -> bool:
        """Tell systemd a clean shutdown has begun."""
        return self.notify(stopping="1", status="stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
