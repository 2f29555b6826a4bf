"""gcs_object mode=read and mode=write: a small JSON object read with its generation and written with
ifGenerationMatch through the emulator's Cloud Storage API, by `ansible -m` over real HTTP."""

import json
import subprocess
import sys

import pytest
import requests
from test_gcs_object import BIN, ROOT, env, run

BUCKET = "nz-witness"
SRC = f"gs://{BUCKET}/fence/active-region.json"


@pytest.fixture
def witness(emulator, sa_key_file):
    requests.post(f"{emulator.url}/_emulator/storage/buckets", json={"name": BUCKET}, timeout=5).raise_for_status()
    auth = dict(auth_kind="serviceaccount", service_account_file=str(sa_key_file), endpoint=emulator.url)
    return emulator, auth


def uploads(emulator):
    return [r for r in emulator.requests if r.kind == "storage.objects.insert"]


def test_create_read_replace_then_nothing_to_do(witness):
    emulator, auth = witness
    proc, out = run(src=SRC, mode="read", **auth)
    assert proc.returncode == 0 and out["changed"] is False and out["exists"] is False and out["generation"] == "0"
    proc, out = run(src=SRC, mode="write", content_json={"region": "us-east4", "epoch": 1}, if_generation_match=0,
                    **auth)
    assert proc.returncode == 0 and out["changed"] is True, proc.stdout
    first = out["generation"]
    assert uploads(emulator)[-1].query["ifGenerationMatch"] == ["0"]
    proc, out = run(src=SRC, mode="read", **auth)
    assert out["exists"] is True and out["generation"] == first
    assert out["json"] == {"region": "us-east4", "epoch": 1} and json.loads(out["content"]) == out["json"]
    proc, out = run(src=SRC, mode="write", content_json={"region": "europe-west3", "epoch": 2},
                    if_generation_match=int(first), **auth)
    assert proc.returncode == 0 and out["changed"] is True and int(out["generation"]) > int(first)
    assert out["previous"] == {"region": "us-east4", "epoch": 1}
    count = len(uploads(emulator))
    proc, out = run(src=SRC, mode="write", content_json={"region": "europe-west3", "epoch": 2}, **auth)
    assert proc.returncode == 0 and out["changed"] is False and len(uploads(emulator)) == count


def test_a_stale_generation_loses_and_writes_nothing(witness):
    emulator, auth = witness
    emulator.services["storage"].put(BUCKET, "fence/active-region.json", b'{"region": "us-east4", "epoch": 1}')
    stale = run(src=SRC, mode="read", **auth)[1]["generation"]
    # another operator writes first
    emulator.services["storage"].put(BUCKET, "fence/active-region.json", b'{"region": "europe-west3", "epoch": 2}')
    proc, out = run(src=SRC, mode="write", content_json={"region": "europe-west4", "epoch": 2},
                    if_generation_match=int(stale), **auth)
    assert proc.returncode != 0 and out["kind"] == "precondition_failed"
    assert f"not {stale} as if_generation_match requires" in out["msg"] and "Nothing was written" in out["msg"]
    assert uploads(emulator) == []
    assert run(src=SRC, mode="read", **auth)[1]["json"] == {"region": "europe-west3", "epoch": 2}


def test_the_api_refuses_a_write_that_lost_the_race(witness):
    """The module reads, then writes: a writer landing in between is caught by Cloud Storage (412)."""
    emulator, auth = witness
    emulator.services["storage"].put(BUCKET, "fence/active-region.json", b'{"epoch": 1}')
    generation = run(src=SRC, mode="read", **auth)[1]["generation"]
    # fault: the first upload is answered as if another writer had landed first
    requests.post(f"{emulator.url}/_emulator/faults", json={"path_regex": "^/upload/", "status": 412, "times": 1},
                  timeout=5).raise_for_status()
    proc, out = run(src=SRC, mode="write", content_json={"epoch": 2}, if_generation_match=int(generation), **auth)
    assert proc.returncode != 0 and out["kind"] == "precondition_failed"
    assert "another writer won (HTTP 412)" in out["msg"]


def test_check_mode_says_what_it_would_write(witness):
    emulator, auth = witness
    args = dict(src=SRC, mode="write", content_json={"epoch": 1}, if_generation_match=0, **auth)
    proc = subprocess.run([str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "--check", "-m",
                           "nearzero.gcp.gcs_object", "-a", json.dumps(args), "-e",
                           f"ansible_python_interpreter={sys.executable}", "-o"],
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120, check=False)
    out = json.loads(proc.stdout.split("=>", 1)[1])
    assert proc.returncode == 0 and out["changed"] is True and out["exists"] is False
    assert uploads(emulator) == []


def test_missing_bucket_and_missing_content_are_named(witness, emulator):
    auth = witness[1]
    proc, out = run(src="gs://nz-nowhere/x.json", mode="write", content_json={"epoch": 1}, **auth)
    assert proc.returncode != 0 and "gs://nz-nowhere/x.json" in out["msg"] and "404" in out["msg"]
    proc, out = run(src=SRC, mode="write", **auth)
    assert proc.returncode != 0 and "content_json" in out["msg"]
