"""Liveness and readiness over HTTP on a loopback port.

``GET /healthz/live``: 200 while the trading loop is turning (its last tick is recent), else 503.
``GET /healthz/ready``: 200 when live and every dependency is usable (the database), else 503.
Both answer a JSON body with the reasons, the version, the release and the sha256 of the loaded
configuration, so a deployment tool can say why a release failed its health gate and whether the
process runs what is on disk. ``GET /version``: 200 with that identity alone, whatever the health. ``GET /metrics``: the
Prometheus text exposition (``metrics.py``). A server started with ``metrics_only`` (the
engine's listener on a private address) answers ``/metrics`` and nothing else.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HealthServer:
    """Serves ``report()`` (a callable returning ``(live, ready, body)``) on ``listen:port``.

    ``identity()`` returns what ``/version`` answers.
    """

    def __init__(self, listen: str, port: int, report, log, identity=None, metrics=None, metrics_only=False,
                 name="health-http"):
        self.report = report
        self.identity = identity or (lambda: {})
        self.metrics = metrics
        self.metrics_only = metrics_only
        self.log = log
        self._server = _Server((listen, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=name, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address[:2]

    @property
    def native_id(self) -> int:
        """The kernel thread id of the serving thread (request threads inherit its placement)."""
        return self._thread.native_id

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "nearzero-engine"
            sys_version = ""

            def do_GET(self):
                if self.path == "/metrics" and outer.metrics is not None:
                    self._send_text(outer.metrics())
                    return
                if outer.metrics_only:
                    self._send(404, {"error": f"unknown path {self.path}; this listener serves /metrics only"})
                    return
                if self.path == "/version":
                    self._send(200, outer.identity())
                    return
                live, ready, body = outer.report()
                if self.path == "/healthz/live":
                    ok = live
                elif self.path in ("/healthz/ready", "/healthz"):
                    ok = ready
                else:
                    self._send(404, {"error": f"unknown path {self.path}; "
                                              "use /healthz/live, /healthz/ready, /version or /metrics"})
                    return
                self._send(200 if ok else 503, body)

            def _send_text(self, text: str):
                payload = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _send(self, status: int, body: dict):
                payload = json.dumps(body, sort_keys=True).encode() + b"\n"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args):
                # Probes arrive every second during a deploy; keep them out of the journal.
                return

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
