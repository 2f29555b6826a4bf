"""The reference engine as a real process: sd_notify over a unix datagram socket, health over HTTP, SIGTERM."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
ENGINE = ROOT / "dev" / "engine" / "bin" / "engine"
sys.path.insert(0, str(ROOT / "dev" / "engine" / "lib"))

from nearzero_engine.config import ConfigError, load  # noqa: E402
from nearzero_engine.sdnotify import Notifier  # noqa: E402


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    yield path, sock
    sock.close()


def messages(sock, until, limit=50):
    """Datagrams received until one contains ``until``."""
    got = []
    for _ in range(limit):
        got.append(sock.recv(4096).decode())
        if until in got[-1]:
            return got
    raise AssertionError(f"{until!r} never arrived: {got}")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def start(tmp_path, config, notify=None, extra_env=None):
    cfg = tmp_path / "engine.json"
    cfg.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_", "PG"))}
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify)
    env.update(extra_env or {})
    return subprocess.Popen([str(ENGINE), "--config", str(cfg)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_ready_watchdog_health_and_clean_sigterm(tmp_path, notify_socket):
    path, sock = notify_socket
    port = free_port()
    proc = start(tmp_path, {"database": {"required": False}, "health": {"port": port}, "tick_ms": 20,
                            "state_dir": str(tmp_path)}, path, {"WATCHDOG_USEC": "200000"})
    try:
        got = messages(sock, "READY=1")
        assert f"STATUS=serving health on 127.0.0.1:{port}" in got[-1]
        # WatchdogSec=0.2 s: pings every 0.1 s, from the trading loop
        assert messages(sock, "WATCHDOG=1")
        status, body = get(f"http://127.0.0.1:{port}/healthz/ready")
        assert status == 200 and body["ready"] is True and body["reasons"] == []
        assert body["version"] == (ROOT / "dev" / "engine" / "VERSION").read_text().strip()
        assert body["pid"] == proc.pid
        assert get(f"http://127.0.0.1:{port}/healthz/live")[0] == 200
        assert get(f"http://127.0.0.1:{port}/nope")[0] == 404
        assert json.loads((tmp_path / "engine-state.json").read_text())["pid"] == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert messages(sock, "STOPPING=1")
    finally:
        proc.kill()
        proc.wait()
    out = proc.stdout.read()
    assert "received SIGTERM, stopping" in out and "stopped cleanly" in out


def test_unreachable_database_makes_it_live_but_not_ready(tmp_path):
    """Nothing answers at the service's address: live, not ready, the reason names the database.

    (Where psycopg2 is not installed, as on a bare controller, the reason is that instead; the
    molecule scenario covers a real PostgreSQL going away and coming back.)
    """
    service_file = tmp_path / "pg_service.conf"
    # port 9 on loopback: nothing listens, the connection is refused at once
    service_file.write_text("[nearzero]\nhost=127.0.0.1\nport=9\ndbname=nearzero\nuser=trading\n")
    port = free_port()
    proc = start(tmp_path, {"health": {"port": port}, "database": {"connect_timeout_s": 1, "check_interval_s": 0.5}},
                 extra_env={"PGSERVICEFILE": str(service_file), "PGSERVICE": "nearzero"})
    try:
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz/ready")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert status == 503
        assert body["ready"] is False and body["live"] is True
        assert body["reasons"][0].startswith("database: ")
        assert body["database"]["ok"] is False
        assert get(f"http://127.0.0.1:{port}/healthz/live")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_bad_configuration_exits_2_naming_the_key(tmp_path):
    proc = start(tmp_path, {"health": {"prot": 1}})
    assert proc.wait(10) == 2
    assert "unknown key health.prot" in proc.stdout.read()


def test_taken_port_exits_1_with_the_fix(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = start(tmp_path, {"database": {"required": False}, "health": {"port": busy.getsockname()[1]}})
        assert proc.wait(10) == 1
    assert "free the port or change health.port" in proc.stdout.read()


def test_config_json_and_toml(tmp_path):
    (tmp_path / "a.toml").write_text('tick_ms = 5\n[health]\nport = 9000\n[database]\nrequired = false\n')
    cfg = load(tmp_path / "a.toml")
    assert (cfg.tick_ms, cfg.health.port, cfg.database.required, cfg.database.service) == (5, 9000, False, "nearzero")
    (tmp_path / "b.json").write_text("{}")
    assert load(tmp_path / "b.json").health.port == 8095


@pytest.mark.parametrize(("document", "message"), [
    ('{"tick_ms": true}', "tick_ms must be a number"),
    ('{"health": {"port": "80"}}', "health.port must be of type int"),
    ('{"health": {"port": 70000}}', "health.port must be 1-65535"),
    ('{"speed": 1}', "unknown key 'speed'"),
    ("{not json", "is not valid JSON"),
    ('{"threads": {"trading_cpu": -1}}', "threads.trading_cpu must be a CPU number"),
    ('{"threads": {"service_cpu": "1"}}', "threads.service_cpu must be of type int"),
    ('{"threads": {"trading_fifo_priority": 100}}', "trading_fifo_priority must be 0 .no SCHED_FIFO. to 99"),
    ('{"threads": {"service_nice": -5}}', "service_nice must be 0-19"),
    ('{"threads": {"cpu": 1}}', "unknown key threads.cpu"),
])
def test_config_errors_name_the_problem(tmp_path, document, message):
    path = tmp_path / "engine.json"
    path.write_text(document)
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_notifier_abstract_socket_and_watchdog_pid():
    name = f"nearzero-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000"})
        assert notifier.watchdog_interval == 1.5
        assert notifier.ready("up")
        assert sock.recv(100) == b"READY=1\nSTATUS=up"
    finally:
        sock.close()
    # the watchdog belongs to another process: never ping for it
    assert Notifier({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}).watchdog_interval == 0
    # outside systemd every call is a no-op
    assert Notifier({}).ready("x") is False


def wait_ready(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return get(f"http://127.0.0.1:{port}/healthz/ready")
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
    raise AssertionError("the engine never answered")


def test_version_reports_the_release_and_the_digest_of_the_loaded_config(tmp_path):
    """Issue 22: the running release and the sha256 of the bytes it loaded; a later edit does not change them."""
    port = free_port()
    proc = start(tmp_path, {"database": {"required": False}, "health": {"port": port}, "tick_ms": 20})
    try:
        loaded = hashlib.sha256((tmp_path / "engine.json").read_bytes()).hexdigest()
        status, body = wait_ready(port, proc)
        assert status == 200 and body["config_digest"] == loaded
        status, ident = get(f"http://127.0.0.1:{port}/version")
        assert status == 200
        assert ident == {"version": body["version"], "release": body["release"], "pid": proc.pid,
                         "config_path": str((tmp_path / "engine.json").resolve()), "config_digest": loaded}
        # the file changes on disk: the process still reports what it loaded, so a deployment sees it is owed a restart
        (tmp_path / "engine.json").write_text(json.dumps({"tick_ms": 30}))
        assert get(f"http://127.0.0.1:{port}/version")[1]["config_digest"] == loaded
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def cpus_allowed(pid, tid):
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    return next(ln.split(":", 1)[1].strip() for ln in status.splitlines() if ln.startswith("Cpus_allowed_list"))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_threads_are_pinned_and_the_service_threads_yield(tmp_path):
    trading, service = sorted(os.sched_getaffinity(0))[:2]
    port = free_port()
    proc = start(tmp_path, {"database": {"required": False}, "health": {"port": port}, "tick_ms": 20,
                            "threads": {"trading_cpu": trading, "service_cpu": service, "service_nice": 10}})
    try:
        status, body = wait_ready(port, proc)
        assert status == 200
        threads = {t["name"]: t for t in body["threads"]}
        assert threads["trading"]["tid"] == proc.pid
        # read back from the kernel, not from the engine's own report
        assert cpus_allowed(proc.pid, proc.pid) == str(trading)
        assert cpus_allowed(proc.pid, threads["health-http"]["tid"]) == str(service)
        # relative to the trading thread, which keeps the nice value the engine was started with
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == base
        assert os.getpriority(os.PRIO_PROCESS, threads["health-http"]["tid"]) == min(19, base + 10)
        assert os.sched_getscheduler(threads["health-http"]["tid"]) == os.SCHED_BATCH
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_a_cpu_outside_the_affinity_is_refused_with_the_fix(tmp_path):
    outside = max(os.sched_getaffinity(0)) + 1
    proc = start(tmp_path, {"database": {"required": False}, "threads": {"trading_cpu": outside}})
    assert proc.wait(10) == 2
    out = proc.stdout.read()
    assert f"threads.trading_cpu: CPU {outside} is not one this engine may run on" in out
    assert "Fix: name one of those CPUs" in out
