"""writer_fence's agent (roles/writer_fence/files/nearzero-writer-fence): its decision, its witness
checks, and the agent itself reading a witness from the emulator's Cloud Storage with a token from the
emulator's metadata server, over real HTTP. Stopping the engine unit is shown live on lab hosts
(molecule/dr_region/fence_return.yml)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "roles" / "writer_fence" / "files" / "nearzero-writer-fence"
BUCKET, OBJECT = "nz-witness", "fence/active-region.json"


def load():
    loader = importlib.machinery.SourceFileLoader("nearzero_writer_fence", str(SCRIPT))
    spec = importlib.util.spec_from_loader("nearzero_writer_fence", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


fence = load()


def cfg(**over):
    base = {"region": "us-east4", "ttl_s": 10.0, "interval_s": 2.0, "timeout_s": 1.0, "on_witness_loss": "stop",
            "engine_service": "nearzero-engine", "bucket": BUCKET, "object": OBJECT}
    return {**base, **over}


def witness(region="us-east4", epoch=3):
    return {"region": region, "epoch": epoch, "written_by": "ops@ctl", "written_at": "2026-12-06T10:00:00Z"}


# -- the decision ---------------------------------------------------------------------------------

def test_a_fresh_read_naming_this_region_is_a_lease_until_the_ttl():
    verdict = fence.decide(cfg(), witness(), lease_from=100.0, now=109.9)
    assert verdict["run"] and verdict["start"] and verdict["code"] == "lease_valid"
    expired = fence.decide(cfg(), witness(), lease_from=100.0, now=110.0)
    assert not expired["run"] and not expired["start"] and expired["code"] == "lease_expired"
    assert "no witness read has succeeded for 10.0 s (lease TTL 10.0 s)" in expired["reason"]


def test_another_region_stops_at_once_whatever_the_policy():
    for policy in ("stop", "keep"):
        verdict = fence.decide(cfg(on_witness_loss=policy), witness("europe-west3", 4), lease_from=100.0, now=100.0)
        assert not verdict["run"] and not verdict["start"] and verdict["code"] == "other_region"
        assert verdict["reason"].startswith("the witness names europe-west3 (epoch 4, written by ops@ctl")


def test_keep_leaves_a_running_engine_but_refuses_starts():
    verdict = fence.decide(cfg(on_witness_loss="keep"), witness(), lease_from=100.0, now=200.0)
    assert verdict["run"] and not verdict["start"] and verdict["code"] == "lease_expired"
    never = fence.decide(cfg(on_witness_loss="keep"), None, lease_from=0.0, now=5.0)
    assert never["run"] and not never["start"] and never["code"] == "no_lease"
    assert not fence.decide(cfg(), None, lease_from=0.0, now=5.0)["run"]


# -- the witness is data, checked -------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "message"), [
    (b"not json", "the witness is not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"epoch": 2}', "names no valid region"),
    (b'{"region": "{{ lookup(\'pipe\', \'id\') }}", "epoch": 2}', "names no valid region"),
    (b'{"region": "us-east4", "epoch": true}', "no valid epoch"),
    (b'{"region": "us-east4", "epoch": "7"}', "no valid epoch"),
    (b'{"region": "us-east4", "epoch": 0}', "no valid epoch"),
])
def test_a_malformed_witness_is_refused(raw, message):
    with pytest.raises(fence.WitnessError, match=message):
        fence.parse_witness(raw)


def test_an_epoch_going_back_is_refused_and_extra_fields_are_dropped():
    with pytest.raises(fence.WitnessError, match="epoch went back from 7 to 6"):
        fence.parse_witness(json.dumps(witness(epoch=6)), max_epoch=7)
    doc = fence.parse_witness(json.dumps({**witness(epoch=7), "written_by": "x" * 500, "cmd": "rm -rf /"}), 7)
    assert set(doc) == {"region", "epoch", "written_by", "written_at"} and len(doc["written_by"]) == 200


# -- the agent against the emulator over real HTTP --------------------------------------------------

@pytest.fixture
def witness_store(emulator, tmp_path):
    requests.post(f"{emulator.url}/_emulator/storage/buckets", json={"name": BUCKET}, timeout=5).raise_for_status()

    def put(doc):
        emulator.services["storage"].put(BUCKET, OBJECT, json.dumps(doc).encode(), "application/json")

    config = cfg(endpoint=emulator.url, metadata_host=f"127.0.0.1:{emulator.port}", state_file=str(tmp_path / "s.json"),
                 textfile=str(tmp_path / "fence.prom"))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return emulator, put, config, path


def check(path):
    return subprocess.run([sys.executable, str(SCRIPT), "check", str(path)], capture_output=True, text=True,
                          timeout=30, check=False)


def test_reader_uses_the_vms_token_and_returns_the_generation(witness_store):
    emulator, put, config = witness_store[:3]
    put(witness())
    got = fence.Reader(config).read()
    assert got["region"] == "us-east4" and got["epoch"] == 3 and got["generation"].isdigit()
    tokens = [r for r in emulator.requests if r.kind == "metadata.token"]
    media = [r for r in emulator.requests if r.kind == "storage.objects.get"]
    assert len(tokens) == 1 and tokens[0].headers.get("metadata-flavor") == "Google"
    assert media[0].query["alt"] == ["media"] and media[0].headers["authorization"].startswith("Bearer ")
    emulator.services["storage"].buckets[BUCKET].clear()
    with pytest.raises(fence.WitnessError, match=f"reading gs://{BUCKET}/{OBJECT} failed: HTTP 404"):
        fence.Reader(config).read()


def test_check_gates_the_start(witness_store):
    emulator, put, config, path = witness_store
    put(witness())
    ok = check(path)
    assert ok.returncode == 0 and "start allowed: the witness names us-east4 (epoch 3)" in ok.stdout
    put(witness("europe-west3", 4))
    refused = check(path)
    assert refused.returncode == 1 and "start refused: the witness names europe-west3 (epoch 4" in refused.stderr
    # the witness unreachable: refused without the agent's lease, allowed while its lease runs
    requests.post(f"{emulator.url}/_emulator/faults", timeout=5,
                  json={"path_regex": "^/storage/", "status": 503, "times": None}).raise_for_status()
    gone = check(path)
    assert gone.returncode == 1 and "start refused: no valid lease (reading gs://" in gone.stderr
    Path(config["state_file"]).write_text(json.dumps({"code": "lease_valid", "lease_expires_at": time.time() + 5}))
    assert check(path).returncode == 0
    Path(config["state_file"]).write_text(json.dumps({"code": "lease_valid", "lease_expires_at": time.time() - 1}))
    assert check(path).returncode == 1


def wait_for(path, code, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = json.loads(Path(path).read_text())
            if state.get("code") == code:
                return state, time.monotonic()
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"state never reached {code} in {timeout} s: {Path(path).read_text()}")


def test_the_agent_loses_its_lease_on_time(witness_store, tmp_path):
    emulator, put, config, path = witness_store
    config.update(ttl_s=1.5, interval_s=0.6, timeout_s=0.6)
    path.write_text(json.dumps(config))
    put(witness())
    agent = subprocess.Popen([sys.executable, str(SCRIPT), "run", str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        state = wait_for(config["state_file"], "lease_valid", 10)[0]
        assert state["run"] and state["witness"]["epoch"] == 3 and state["max_epoch"] == 3
        prom = Path(config["textfile"]).read_text()
        assert "nearzero_writer_fence_lease_valid 1" in prom and 'region="us-east4"' in prom
        # the witness stops answering (reads hang): the lease ends on time, not after a hung read
        requests.post(f"{emulator.url}/_emulator/faults", timeout=5,
                      json={"path_regex": "^/storage/", "latency_ms": 5000, "times": None}).raise_for_status()
        cut = time.monotonic()
        state, lost = wait_for(config["state_file"], "lease_expired", 10)
        assert lost - cut <= config["ttl_s"] + config["interval_s"] + 0.3, lost - cut
        assert state["updated_at"] - state["last_ok_read_at"] <= config["ttl_s"] + 0.2, state
        assert not state["run"] and "timed out" in state["last_error"]
        assert "nearzero_writer_fence_engine_allowed 0" in Path(config["textfile"]).read_text()
        # back, naming another region: still no lease (the hung reads time out first)
        requests.delete(f"{emulator.url}/_emulator/faults", timeout=5).raise_for_status()
        put(witness("europe-west3", 4))
        state = wait_for(config["state_file"], "other_region", 15)[0]
        assert state["max_epoch"] == 4 and not state["run"]
        # a replayed older witness naming this region does not give the lease back
        put(witness("us-east4", 3))
        time.sleep(1.5)
        state = json.loads(Path(config["state_file"]).read_text())
        assert state["code"] == "other_region" and "epoch went back from 4 to 3" in state["last_error"]
    finally:
        agent.terminate()
        agent.wait(timeout=10)
