"""The database check: a libpq connection through the service the Cloud SQL role writes.

libpq reads ``PGSERVICEFILE``, ``PGPASSFILE`` and ``PGSERVICE`` from the environment (the unit
sets them), so the engine holds no host, password or TLS setting of its own: it connects to
``service=<name>`` and runs ``SELECT 1`` on a persistent connection, reconnecting when it breaks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass


def connect(service: str, connect_timeout: int, interval: float, read_only: bool = False):
    """An autocommit libpq connection to ``service`` that notices a vanished server quickly.

    ``read_only``: every transaction of the session is read-only (a standby engine), so the server
    refuses any write it might attempt, whether it is a replica or a primary.
    """
    import psycopg2

    # tcp_user_timeout and keepalives: when the server vanishes (its region goes down, packets
    # are dropped) a query fails within connect_timeout instead of blocking on a dead socket
    # for the kernel's retransmission timeout, which kept reporting the last, stale "ok" and made
    # a stop wait for systemd's TimeoutStopSec
    conn = psycopg2.connect(service=service, connect_timeout=connect_timeout, application_name="nearzero-engine",
                            tcp_user_timeout=connect_timeout * 1000, keepalives=1,
                            keepalives_idle=max(1, int(interval)), keepalives_interval=1, keepalives_count=3,
                            options="-c default_transaction_read_only=on" if read_only else "")
    conn.autocommit = True
    return conn


@dataclass
class DbState:
    ok: bool
    detail: str
    checked_at: float


class DatabaseMonitor:
    """Checks the database every ``interval`` seconds in a background thread."""

    def __init__(self, service: str, interval: float, connect_timeout: int, log, read_only: bool = False):
        self.service = service
        self.read_only = read_only
        self.interval = interval
        self.connect_timeout = connect_timeout
        self.log = log
        self._conn = None
        self._lock = threading.Lock()
        self._state = DbState(False, "not checked yet", 0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> DbState:
        with self._lock:
            return self._state

    def check_once(self) -> DbState:
        """Run one check now and record its result."""
        try:
            import psycopg2
        except ImportError:
            state = DbState(False, "psycopg2 is not installed: apt-get install python3-psycopg2", time.time())
            self._set(state)
            return state
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.service, self.connect_timeout, self.interval, self.read_only)
            with self._conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
                in_recovery, read_only = cur.fetchone()
            params = self._conn.get_dsn_parameters()
            server = "replica" if in_recovery else "primary"
            session = "read-only" if read_only == "on" else "read-write"
            state = DbState(True, f"connected to {params.get('host', '?')}:{params.get('port', '?')}"
                                  f"/{params.get('dbname', '?')} (sslmode={params.get('sslmode', '?')}; {server}, "
                                  f"{session} session)", time.time())
        except psycopg2.Error as exc:
            self._drop()
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            state = DbState(False, f"service {self.service!r}: {reason}", time.time())
        self._set(state)
        return state

    def _set(self, state: DbState) -> None:
        with self._lock:
            previous, self._state = self._state, state
        if previous.ok != state.ok or previous.checked_at == 0.0:
            (self.log.info if state.ok else self.log.error)("database: %s", state.detail)

    def _drop(self) -> None:
        if self._conn is not None:
            # the connection is already broken: closing it is best effort
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()

    @property
    def native_id(self) -> int:
        """The kernel thread id of the monitor thread (for pinning)."""
        return self._thread.native_id

    def start(self) -> None:
        self.check_once()
        self._thread = threading.Thread(target=self._run, name="db-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.connect_timeout + 1)
        self._drop()
