"""Prometheus text exposition (format 0.0.4) of the engine's own state, with the stdlib only.

What a monitoring server scrapes from ``GET /metrics``:

- ``nearzero_engine_live`` and ``nearzero_engine_ready``: 1 or 0, as ``/healthz/live`` and
  ``/healthz/ready`` answer;
- ``nearzero_engine_release_info{version, release}``: always 1; the labels say what runs, so an
  alert can compare it with the release the deployment pinned;
- ``nearzero_engine_order_latency_seconds``: histogram of the order path, from the moment the
  trading loop emits an order to its acknowledgement, database round trip included;
- ``nearzero_engine_database_roundtrip_seconds``: histogram of that round trip alone;
- ``nearzero_engine_orders_total{result}``: orders acknowledged (``ok``), failed at the database
  (``error``) or dropped because the order path was still busy (``dropped``).
"""

from __future__ import annotations

import bisect
import threading

# 50 us .. 2.5 s: the order path of a co-located engine sits in the first buckets, a cross-region
# database round trip in the middle ones, a stalled connection in the last.
LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5)


def _number(value: float) -> str:
    """A sample value as Prometheus writes it (``+Inf``, integers without a fraction)."""
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def escape(value: str) -> str:
    """A label value with backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Histogram:
    """A cumulative histogram, safe to observe from one thread while another renders it."""

    def __init__(self, name: str, help_text: str, buckets=LATENCY_BUCKETS):
        self.name = name
        self.help_text = help_text
        self.bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(self.bounds, seconds)
        with self._lock:
            self._counts[index] += 1
            self._sum += seconds

    def render(self) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
            running += count
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {running}')
        lines.append(f"{self.name}_sum {_number(total)}")
        lines.append(f"{self.name}_count {running}")
        return lines


def gauge(name: str, help_text: str, samples: list[tuple[dict, float]], kind: str = "gauge") -> list[str]:
    """HELP/TYPE and one line per ``(labels, value)``."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{key}="{escape(val)}"' for key, val in labels.items())
        lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")
    return lines
