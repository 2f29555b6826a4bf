"""The engine process: configuration, health server, database monitor, trading loop, signals.

Lifecycle under systemd (``Type=notify``):

1. load and validate the configuration (exit 2 with the reason when it is unusable);
2. start the health server (and the metrics listener, when ``metrics.listen`` is set), the
   database monitor and the order path, pin and schedule the threads as
   ``threads`` says (exit 2 when refused), then send ``READY=1``: the process is up; whether it
   can trade is what ``/healthz/ready`` says;
3. turn the trading loop every ``tick_ms``, emitting an order every ``orders.every_ticks``
   turns (none in ``mode: standby``, whose database sessions are read-only); the loop, and only
   the loop, pings the watchdog, so a wedged loop gets the process killed and restarted by systemd;
4. on SIGTERM or SIGINT: ``STOPPING=1``, finish the current tick, close the database
   connection and the health server, exit 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__
from .config import ConfigError, EngineConfig, load
from .database import DatabaseMonitor
from .health import HealthServer
from .metrics import gauge
from .orders import OrderPath
from .sdnotify import Notifier
from .threads import PlacementError, check_cpus, describe, place

LOG = logging.getLogger("nearzero-engine")


_SYSLOG_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """Prefix each line with its syslog priority (``<3>``), which journald turns into PRIORITY=."""

    def format(self, record):
        return f"<{_SYSLOG_PRIORITIES.get(record.levelno, 6)}>{super().format(record)}"


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    if os.environ.get("JOURNAL_STREAM"):
        # stdout is connected to journald, which timestamps and tags every line itself
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)


def release_name() -> str:
    """The release directory this code runs from (``releases/<version>-<sha>``), for reports."""
    return Path(__file__).resolve().parents[2].name


class Engine:
    def __init__(self, cfg: EngineConfig, notifier: Notifier, config_path: str = ""):
        self.cfg = cfg
        self.config_path = config_path
        self.threads: list[dict] = []
        self.notifier = notifier
        self.stop_event = threading.Event()
        self.started_at = time.time()
        self.last_tick = 0.0
        self.ticks = 0
        self.standby = cfg.mode == "standby"
        self.db = (DatabaseMonitor(cfg.database.service, cfg.database.check_interval_s,
                                   cfg.database.connect_timeout_s, LOG, read_only=self.standby)
                   if cfg.database.required else None)
        self.orders = OrderPath(cfg.database.service if cfg.database.required else None,
                                cfg.database.connect_timeout_s, cfg.database.check_interval_s, cfg.orders.table)
        self.health = HealthServer(cfg.health.listen, cfg.health.port, self.report, LOG, self.identity, self.metrics)
        self.metrics_server = (HealthServer(cfg.metrics.listen, cfg.metrics.port, self.report, LOG,
                                            metrics=self.metrics, metrics_only=True, name="metrics-http")
                               if cfg.metrics.listen else None)

    def metrics(self) -> str:
        """``/metrics``: readiness, the release, the order path (Prometheus text format 0.0.4)."""
        live, ready, _body = self.report()
        ident = self.identity()
        lines = [
            *gauge("nearzero_engine_live", "1 while the trading loop turns (/healthz/live).", [({}, int(live))]),
            *gauge("nearzero_engine_ready", "1 when live and every dependency is usable (/healthz/ready).",
                   [({}, int(ready))]),
            *gauge("nearzero_engine_release_info", "The release this process runs (value always 1).",
                   [({"version": ident["version"], "release": ident["release"]}, 1)]),
            *gauge("nearzero_engine_start_time_seconds", "When the process started (Unix time).",
                   [({}, round(self.started_at, 3))]),
            *self.orders.latency.render(),
            *self.orders.roundtrip.render(),
            *gauge("nearzero_engine_orders_total", "Orders by result: ok, error (database), dropped (path busy).",
                   [({"result": key}, value) for key, value in sorted(self.orders.counts().items())], "counter"),
        ]
        return "\n".join(lines) + "\n"

    def report(self):
        """``(live, ready, body)`` for the health server."""
        now = time.time()
        # three missed ticks (at least a second) mean the loop is stuck
        stale_after = max(1.0, 3 * self.cfg.tick_ms / 1000)
        live = self.last_tick > 0 and now - self.last_tick < stale_after and not self.stop_event.is_set()
        reasons = [] if live else ["trading loop is not turning"]
        db = {"required": False}
        if self.db is not None:
            state = self.db.state
            db = {"required": True, "ok": state.ok, "detail": state.detail, "checked_at": state.checked_at}
            if not state.ok:
                reasons.append(f"database: {state.detail}")
        ready = live and not reasons
        body = {"live": live, "ready": ready, "reasons": reasons, "mode": self.cfg.mode, **self.identity(),
                "uptime_s": round(now - self.started_at, 3), "ticks": self.ticks, "database": db,
                "threads": self.threads}
        return live, ready, body

    def identity(self) -> dict:
        """What is running: the release and the digest of the configuration it loaded (``/version``)."""
        return {"version": __version__, "release": release_name(), "pid": os.getpid(),
                "config_path": self.config_path, "config_digest": self.cfg.digest}

    def place_threads(self) -> None:
        """Pin and schedule the trading loop (this thread) and the service threads; record the result."""
        service = {"health-http": self.health.native_id, "order-path": self.orders.native_id}
        if self.metrics_server is not None:
            service["metrics-http"] = self.metrics_server.native_id
        if self.db is not None:
            service["db-monitor"] = self.db.native_id
        place(self.cfg.threads, threading.get_native_id(), list(service.values()))
        self.threads = describe({"trading": threading.get_native_id(), **service})

    def _write_state(self) -> None:
        """Record the last start in the state directory (shared by every release)."""
        state_dir = self.cfg.state_dir or os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        if not state_dir:
            return
        target = Path(state_dir) / "engine-state.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": __version__, "release": release_name(), "pid": os.getpid(),
                                   "started_at": self.started_at}) + "\n")
        os.replace(tmp, target)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.health.start()
        if self.metrics_server is not None:
            self.metrics_server.start()
        if self.db is not None:
            self.db.start()
        self.orders.start()
        try:
            self.place_threads()
        except PlacementError as exc:
            LOG.error("thread placement: %s", exc)
            self.shutdown()
            return 2
        self._write_state()
        self.last_tick = time.time()
        host, port = self.health.address
        LOG.info("engine %s (release %s, config sha256 %s, mode %s) up; health on http://%s:%d/healthz/ready",
                 __version__, release_name(), self.cfg.digest[:12], self.cfg.mode, host, port)
        for thread in self.threads:
            LOG.info("thread %s", " ".join(f"{k}={v}" for k, v in thread.items()))
        self.notifier.ready(f"serving health on {host}:{port}")
        tick = self.cfg.tick_ms / 1000
        interval = self.notifier.watchdog_interval
        next_ping = 0.0
        last_status = None
        # a standby emits no order: it only keeps its read-only connection warm
        every = 0 if self.standby else self.cfg.orders.every_ticks
        while not self.stop_event.wait(tick):
            self.ticks += 1
            if every and self.ticks % every == 0:
                self.orders.submit()
            self.last_tick = time.time()
            if interval and self.last_tick >= next_ping:
                self.notifier.watchdog()
                next_ping = self.last_tick + interval
            _live, ready, body = self.report()
            status = "ready" if ready else "not ready: " + "; ".join(body["reasons"])
            if status != last_status:
                self.notifier.status(status)
                last_status = status
        return self.shutdown()

    def _on_signal(self, signum, _frame) -> None:
        LOG.info("received %s, stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def shutdown(self) -> int:
        self.notifier.stopping()
        self.orders.stop()
        if self.db is not None:
            self.db.stop()
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.health.stop()
        LOG.info("engine stopped cleanly after %d ticks", self.ticks)
        self.notifier.close()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine", description="nearzero reference trading engine")
    parser.add_argument("--config", required=True, help="configuration document (.json or .toml)")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = load(args.config)
        check_cpus(cfg.threads, os.sched_getaffinity(0))
    except ConfigError as exc:
        LOG.error("configuration error: %s", exc)
        return 2
    if args.check_config:
        print(f"{args.config}: ok")
        return 0
    try:
        engine = Engine(cfg, Notifier(), str(Path(args.config).resolve()))
    except OSError as exc:
        LOG.error("cannot serve health on %s:%d or metrics on %s:%d: %s. Fix: free the port or change health.port "
                  "(metrics.port; metrics.listen must be an address of this host)", cfg.health.listen, cfg.health.port,
                  cfg.metrics.listen or "-", cfg.metrics.port, exc.strerror)
        return 1
    return engine.run()
