"""The reference engine's order path, measured end to end.

The reference engine has no market. Its order path stands in for a real one with the same shape:
the trading loop emits an order (a sequence number and a monotonic timestamp) without waiting;
the order thread picks it up, makes the database round trip a real engine makes to record an
order (``SELECT %s`` echoing the order's number on its own libpq connection, so a slow or
cross-region database shows up; with ``orders.table`` set, an ``INSERT`` of ``(host, seq)`` into that
table, so a drill can see which engine wrote on which server) and acknowledges it. The time from
emission to acknowledgement goes into ``nearzero_engine_order_latency_seconds``; the round trip alone into
``nearzero_engine_database_roundtrip_seconds``.

The trading loop never blocks on the order path: while an order is in flight the next one is
dropped and counted, so a stalled database slows no tick.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

from .database import connect
from .metrics import Histogram


class OrderPath:
    """One order in flight at a time, through the database when ``service`` is set."""

    def __init__(self, service: str | None, connect_timeout: int, interval: float, table: str = ""):
        self.service = service
        self.table = table
        self.host = socket.gethostname()
        self.connect_timeout = connect_timeout
        self.interval = interval
        self.latency = Histogram("nearzero_engine_order_latency_seconds",
                                 "Order path from emission by the trading loop to acknowledgement, database "
                                 "round trip included.")
        self.roundtrip = Histogram("nearzero_engine_database_roundtrip_seconds",
                                   "Database round trip of the order path (one query on the engine's connection).")
        self.results = {"ok": 0, "error": 0, "dropped": 0}
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._lock = threading.Lock()
        self._conn = None
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="order-path", daemon=True)

    @property
    def native_id(self) -> int:
        """The kernel thread id of the order thread (for pinning)."""
        return self._thread.native_id

    def start(self) -> None:
        self._thread.start()

    def submit(self) -> bool:
        """Emit one order from the trading loop; False (and counted) when the previous one is in flight."""
        self._seq += 1
        try:
            self._queue.put_nowait((self._seq, time.monotonic()))
        except queue.Full:
            self._count("dropped")
            return False
        return True

    def _count(self, result: str) -> None:
        with self._lock:
            self.results[result] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.results)

    def _roundtrip(self, seq: int) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.service, self.connect_timeout, self.interval)
        started = time.monotonic()
        with self._conn.cursor() as cur:
            if self.table:
                # the name was checked against a plain identifier pattern when the configuration loaded
                cur.execute(f"INSERT INTO {self.table} (host, seq) VALUES (%s, %s) RETURNING seq",  # noqa: S608
                            (self.host, seq))
            else:
                cur.execute("SELECT %s", (seq,))
            echoed = cur.fetchone()[0]
        self.roundtrip.observe(time.monotonic() - started)
        if echoed != seq:
            raise RuntimeError(f"the database echoed order {echoed}, not {seq}")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            seq, emitted = item
            if self.service is not None:
                try:
                    self._roundtrip(seq)
                except Exception:  # any failure of the round trip fails this order only
                    self._close()
                    self._count("error")
                    continue
            self.latency.observe(time.monotonic() - emitted)
            self._count("ok")

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def stop(self) -> None:
        # unblock the thread even when an order is queued, then let it finish its round trip
        with contextlib.suppress(queue.Empty):
            self._queue.get_nowait()
        self._queue.put(None)
        self._thread.join(timeout=self.connect_timeout + 1)
        self._close()
