"""The reference engine's regional standby mode and its order table, against a real PostgreSQL.

A throwaway cluster (initdb as the postgres user, Unix socket only, trust on that socket) stands in
for the engine's database. An active engine with ``orders.table`` inserts its orders there, tagged
with its host name; a standby engine is ready on the same server with a read-only session and
inserts nothing, whatever ``orders.every_ticks`` says.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
ENGINE = ROOT / "dev" / "engine" / "bin" / "engine"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

pytestmark = pytest.mark.skipif(not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None,
                                reason="PostgreSQL 15 server binaries are not installed (make setup installs them)")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres(*argv, **kwargs):
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, text=True,
                          **kwargs)


@pytest.fixture(scope="module")
def database():
    """A PostgreSQL 15 cluster on a Unix socket with the table ``orders (host, seq)``; its psql argv.

    Under a directory of its own in /tmp: pytest's base directory is private to root, and the
    server runs as postgres.
    """
    base = Path(tempfile.mkdtemp(prefix="nz-engine-pg-"))
    base.chmod(0o755)
    data, sock = base / "data", base / "sock"
    for path in (data, sock):
        path.mkdir(mode=0o700)
        shutil.chown(path, "postgres", "postgres")
    port = free_port()
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                f"-p {port} -k {sock} -c listen_addresses=''", "start")
    psql = ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", str(sock), "-p", str(port), "-U", "postgres", "postgres"]
    subprocess.run([*psql, "-c", "create table orders (host text not null, seq bigint not null)"], check=True)
    try:
        yield {"sock": str(sock), "port": port, "psql": psql}
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def start(tmp_path, database, config):
    service = tmp_path / "pg_service.conf"
    service.write_text(f"[nearzero]\nhost={database['sock']}\nport={database['port']}\ndbname=postgres\nuser=postgres\n")
    (tmp_path / "engine.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_", "PG"))}
    env.update({"PGSERVICEFILE": str(service), "PGSERVICE": "nearzero"})
    # the test's interpreter, which has psycopg2 (the hosts' python3-psycopg2 is not on the controller)
    return subprocess.Popen([sys.executable, "-I", str(ENGINE), "--config", str(tmp_path / "engine.json")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def ready_body(port, timeout=15):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/ready", timeout=2) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"the engine was not ready within {timeout} s: {body}")


def rows(database, host):
    out = subprocess.run([*database["psql"], "-v", f"host={host}"], check=True, capture_output=True, text=True,
                         input="select count(*) from orders where host = :'host'").stdout
    return int(out.strip())


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_active_engine_records_its_orders_in_the_table(tmp_path, database):
    port = free_port()
    before = rows(database, socket.gethostname())
    proc = start(tmp_path, database, {"health": {"port": port}, "tick_ms": 10,
                                      "orders": {"every_ticks": 1, "table": "orders"}})
    try:
        body = ready_body(port)
        assert body["mode"] == "active"
        assert body["database"]["detail"].endswith("primary, read-write session)")
        deadline = time.monotonic() + 10
        while rows(database, socket.gethostname()) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rows(database, socket.gethostname()) >= before + 5
    finally:
        stop(proc)


def test_standby_engine_is_ready_read_only_and_writes_nothing(tmp_path, database):
    port = free_port()
    before = rows(database, socket.gethostname())
    proc = start(tmp_path, database, {"health": {"port": port}, "tick_ms": 10, "mode": "standby",
                                      "orders": {"every_ticks": 1, "table": "orders"}})
    try:
        body = ready_body(port)
        assert body["ready"] is True and body["mode"] == "standby"
        assert body["database"]["detail"].endswith("primary, read-write session)") is False
        assert body["database"]["detail"].endswith("read-only session)")
        time.sleep(1.0)  # 100 turns of the loop: an active engine would have written ~100 rows
        assert rows(database, socket.gethostname()) == before
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            metrics = resp.read().decode()
        assert 'nearzero_engine_orders_total{result="ok"} 0' in metrics
    finally:
        stop(proc)


@pytest.mark.parametrize(("document", "message"), [
    ({"mode": "passive"}, "mode must be 'active' (trades) or 'standby'"),
    ({"orders": {"table": "orders; drop table x"}}, "orders.table must be a plain lowercase table name"),
])
def test_mode_and_table_errors_name_the_key(tmp_path, document, message):
    (tmp_path / "engine.json").write_text(json.dumps(document))
    res = subprocess.run([str(ENGINE), "--config", str(tmp_path / "engine.json"), "--check-config"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 2
    assert message in res.stdout + res.stderr
