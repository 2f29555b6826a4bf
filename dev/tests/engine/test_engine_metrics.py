"""The reference engine's /metrics, read from a real engine process over HTTP and parsed strictly."""

import json
import math
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENGINE = ROOT / "dev" / "engine" / "bin" / "engine"
sys.path.insert(0, str(ROOT / "dev" / "engine" / "lib"))

from nearzero_engine.metrics import Histogram, escape, gauge  # noqa: E402

# one sample line of the text format 0.0.4: name, optional labels, value
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse(text):
    """{(name, frozenset(labels)): value}, with every line checked against the format."""
    assert text.endswith("\n")
    samples, typed = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _h, _t, name, kind = line.split(" ")
            assert kind in ("gauge", "counter", "histogram"), line
            typed[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        name, labels, value = match.group(1), match.group(2) or "", match.group(3)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, f"{name} has no TYPE line"
        samples[(name, frozenset(LABEL.findall(labels)))] = float(value)
    return samples


def histogram(samples, name):
    """(bounds, cumulative counts, sum, count) of one histogram."""
    buckets = sorted((float(dict(labels)["le"]), value) for (n, labels), value in samples.items()
                     if n == f"{name}_bucket")
    return ([b for b, _v in buckets], [v for _b, v in buckets], samples[(f"{name}_sum", frozenset())],
            samples[(f"{name}_count", frozenset())])


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read().decode()


def wait_for(url, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return fetch(url)
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def engine(tmp_path):
    procs = []

    def run(config, env=None):
        cfg = tmp_path / "engine.json"
        cfg.write_text(json.dumps(config))
        proc = subprocess.Popen([str(ENGINE), "--config", str(cfg)], env=env or {"PATH": "/usr/bin:/bin"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_metrics_report_readiness_release_and_the_order_path(engine):
    health, metrics = free_port(), free_port()
    proc = engine({"database": {"required": False}, "health": {"port": health}, "tick_ms": 5,
                   "orders": {"every_ticks": 2}, "metrics": {"listen": "127.0.0.1", "port": metrics}})
    status, ctype, _text = wait_for(f"http://127.0.0.1:{metrics}/metrics", proc)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    time.sleep(0.5)
    first = parse(fetch(f"http://127.0.0.1:{metrics}/metrics")[2])
    time.sleep(0.5)
    second = parse(fetch(f"http://127.0.0.1:{metrics}/metrics")[2])
    assert second[("nearzero_engine_ready", frozenset())] == 1
    assert second[("nearzero_engine_live", frozenset())] == 1
    version = (ROOT / "dev" / "engine" / "VERSION").read_text().strip()
    info = [dict(labels) for (name, labels) in second if name == "nearzero_engine_release_info"]
    assert info == [{"version": version, "release": "engine"}]
    bounds, counts, total, count = histogram(second, "nearzero_engine_order_latency_seconds")
    assert bounds[-1] == math.inf and counts == sorted(counts) and counts[-1] == count
    # orders keep flowing (one every 2 ticks of 5 ms) and each took some time
    assert count > histogram(first, "nearzero_engine_order_latency_seconds")[3] > 0
    assert 0 < total < count
    ok = second[("nearzero_engine_orders_total", frozenset({("result", "ok")}))]
    assert ok + 1 >= count >= ok
    # no database: no round trip measured
    assert histogram(second, "nearzero_engine_database_roundtrip_seconds")[3] == 0
    # the health port serves the same metrics on loopback; the metrics listener serves nothing else
    assert fetch(f"http://127.0.0.1:{health}/metrics")[0] == 200
    assert fetch(f"http://127.0.0.1:{metrics}/healthz/ready")[0] == 404
    assert fetch(f"http://127.0.0.1:{metrics}/version")[0] == 404


def test_a_failing_database_makes_orders_fail_and_readiness_drop(engine, tmp_path):
    """Nothing listens where the service points: ready 0, every order counted as a database error."""
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("[nearzero]\nhost=127.0.0.1\nport=9\ndbname=nearzero\nuser=trading\n")
    health = free_port()
    proc = engine({"health": {"port": health}, "tick_ms": 5, "orders": {"every_ticks": 2},
                   "database": {"connect_timeout_s": 1, "check_interval_s": 0.5}},
                  env={"PATH": "/usr/bin:/bin", "PGSERVICEFILE": str(service_file), "PGSERVICE": "nearzero"})
    wait_for(f"http://127.0.0.1:{health}/metrics", proc)
    time.sleep(0.5)
    samples = parse(fetch(f"http://127.0.0.1:{health}/metrics")[2])
    assert samples[("nearzero_engine_ready", frozenset())] == 0
    assert samples[("nearzero_engine_live", frozenset())] == 1
    assert samples[("nearzero_engine_orders_total", frozenset({("result", "error")}))] > 0
    assert samples[("nearzero_engine_orders_total", frozenset({("result", "ok")}))] == 0
    assert histogram(samples, "nearzero_engine_order_latency_seconds")[3] == 0


def test_metrics_listener_on_a_foreign_address_fails_with_the_fix(tmp_path):
    cfg = tmp_path / "engine.json"
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: bind fails with EADDRNOTAVAIL
    cfg.write_text(json.dumps({"database": {"required": False}, "health": {"port": free_port()},
                               "metrics": {"listen": "192.0.2.1"}}))
    res = subprocess.run([str(ENGINE), "--config", str(cfg)], capture_output=True, text=True, timeout=10, check=False)
    assert res.returncode == 1
    assert "metrics.listen must be an address of this host" in res.stdout


@pytest.mark.parametrize(("document", "message"), [
    ({"metrics": {"port": 0}}, "metrics.port must be 1-65535"),
    ({"metrics": {"listen": 1}}, "metrics.listen must be of type str"),
    ({"orders": {"every_ticks": -1}}, "orders.every_ticks must be 0"),
    ({"orders": {"every": 1}}, "unknown key orders.every"),
])
def test_bad_metrics_or_orders_settings_name_the_key(tmp_path, document, message):
    cfg = tmp_path / "engine.json"
    cfg.write_text(json.dumps(document))
    res = subprocess.run([str(ENGINE), "--config", str(cfg), "--check-config"], capture_output=True, text=True,
                         timeout=10, check=False)
    assert res.returncode == 2
    assert message in res.stdout


def test_histogram_is_cumulative_and_labels_are_escaped():
    hist = Histogram("x_seconds", "help", buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        hist.observe(value)
    lines = hist.render()
    assert lines[2:] == ['x_seconds_bucket{le="0.1"} 2', 'x_seconds_bucket{le="1"} 3', 'x_seconds_bucket{le="+Inf"} 4',
                         "x_seconds_sum 3.65", "x_seconds_count 4"]
    assert gauge("g", "h", [({"a": 'q"\\\n'}, 1)])[2] == 'g{a="q\\"\\\\\\n"} 1'
    assert escape("plain") == "plain"
