"""The trading_engine role's state probe (roles/trading_engine/files/engine_state.py): every way in
which the running engine can differ from the files is named, and a process that runs exactly what is
on disk owes nothing. The molecule scenario runs it on real hosts; here its comparison is checked
against a real engine process and real files."""

import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
ENGINE = ROOT / "dev" / "engine" / "bin" / "engine"
spec = importlib.util.spec_from_file_location("engine_state",
                                              ROOT / "roles" / "trading_engine" / "files" / "engine_state.py")
engine_state = importlib.util.module_from_spec(spec)
spec.loader.exec_module(engine_state)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def active_unit(tmp_path, started):
    """systemctl show's answer for a running unit whose main process started at ``started`` (epoch s)."""
    unit = tmp_path / "nearzero-engine.service"
    unit.write_text("[Service]\n")
    os.utime(unit, (started - 60, started - 60))
    stamp = time.strftime("%a %Y-%m-%d %H:%M:%S", time.gmtime(started)) + f".{int(started % 1 * 1e6):06d} UTC"
    return {"ActiveState": "active", "SubState": "running", "NeedDaemonReload": "no", "FragmentPath": str(unit),
            "DropInPaths": "", "ExecMainStartTimestamp": stamp}


def test_timestamps_keep_their_microseconds():
    assert engine_state.started_at("Sun 2026-12-06 03:51:14.123456 UTC") == 1796529074.123456
    assert engine_state.started_at("") is None and engine_state.started_at("n/a") is None


def test_a_real_engine_that_runs_the_files_owes_nothing_and_every_drift_is_named(tmp_path):
    config = tmp_path / "engine.json"
    port = free_port()
    config.write_text(json.dumps({"database": {"required": False}, "health": {"port": port}}))
    proc = subprocess.Popen([str(ENGINE), "--config", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/version"
        deadline = time.monotonic() + 10
        while True:
            running = engine_state.running(url)
            if "error" not in running or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # the source tree's engine runs from dev/engine: its "release" is that directory's name
        assert running["release"] == "engine"
        state = active_unit(tmp_path, time.time())
        disk = hashlib.sha256(config.read_bytes()).hexdigest()
        assert engine_state.compare(state, "engine", str(config), disk, running) == []

        # a killed run wrote a new configuration but never restarted the engine
        config.write_text(json.dumps({"database": {"required": False}, "health": {"port": port}, "tick_ms": 50}))
        new = hashlib.sha256(config.read_bytes()).hexdigest()
        reasons = engine_state.compare(state, "engine", str(config), new, engine_state.running(url))
        assert reasons == [f"it runs the configuration with sha256 {disk[:12]}, {config} on disk has {new[:12]}"]

        # current was switched but the engine still runs the old release
        reasons = engine_state.compare(state, "1.2.0-abc", str(config), disk, running)
        assert reasons == ["it runs release engine, current is 1.2.0-abc"]

        # the unit file changed after the process started, loaded or not
        Path(state["FragmentPath"]).touch()
        reasons = engine_state.compare({**state, "NeedDaemonReload": "yes"}, "engine", str(config), disk, running)
        assert reasons == ["its unit file changed since systemd loaded it (NeedDaemonReload)",
                           f"{state['FragmentPath']} changed after the engine started"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    # the engine is gone: it does not answer
    assert "error" in engine_state.running(url)


def test_a_stopped_engine_or_one_without_the_contract_is_owed_a_restart(tmp_path):
    state = active_unit(tmp_path, time.time())
    assert engine_state.compare({**state, "ActiveState": "failed", "SubState": "failed"}, "r", "c", "d", {}) == [
        "the engine is failed (failed)"]
    assert engine_state.compare(state, "r", "c", "d", {"error": "no answer"}) == [
        "the engine does not report what it runs: no answer"]
    assert engine_state.compare(state, "r", "c", "d", {"release": "r"}) == [
        "it does not report config_digest (the engine contract in the role's README)"]
