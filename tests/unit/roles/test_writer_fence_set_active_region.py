"""playbooks/tasks/set_active_region.yml: the writer fence's witness written by ansible-playbook through the
emulator's Cloud Storage API over real HTTP (bootstrap, change with epoch + 1, nothing to do, check mode, a
lost race, a malformed witness), with the credential never in the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
BUCKET, OBJECT = "nz-witness", "fence/active-region.json"


def env():
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GCP_", "GOOGLE_", "GCE_"))}
    base.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PATH=f"{BIN}:{base.get('PATH', '')}",
                ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), USER="ops")
    return base


@pytest.fixture
def lab(emulator, sa_key_file, tmp_path):
    requests.post(f"{emulator.url}/_emulator/storage/buckets", json={"name": BUCKET}, timeout=5).raise_for_status()
    play = tmp_path / "play.yml"
    play.write_text(f"""---
- name: Name the active region
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Set it
      ansible.builtin.include_tasks: {ROOT}/playbooks/tasks/set_active_region.yml
    - name: Show the state
      ansible.builtin.debug:
        msg: "STATE={{{{ nearzero_witness_state | to_json }}}}"
""")
    extra = {"nearzero_witness": {"bucket": BUCKET, "object": OBJECT}, "nearzero_storage_endpoint": emulator.url,
             "nearzero_gcp_auth": {"auth_kind": "serviceaccount", "service_account_file": str(sa_key_file)},
             "nearzero_witness_lease_ttl_s": 1, "nearzero_witness_lease_margin_s": 0.5,
             "ansible_python_interpreter": sys.executable}

    def run(region, *args, **more):
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play),
                               "-e", json.dumps({**extra, "nearzero_active_region": region, **more}), *args],
                              cwd=ROOT, env=env(), capture_output=True, text=True, timeout=180, check=False)
        state = None
        for line in proc.stdout.splitlines():
            if '"msg": "STATE=' in line:
                state = json.loads(json.loads("{" + line.strip() + "}")["msg"][len("STATE="):])
        return proc, state

    return emulator, run


def stored(emulator):
    return json.loads(emulator.services["storage"].get(BUCKET, OBJECT).data)


def test_bootstrap_change_and_nothing_to_do(lab, sa_key_file):
    emulator, run = lab
    proc, state = run("us-east4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = stored(emulator)
    assert doc["region"] == "us-east4" and doc["epoch"] == 1 and doc["written_by"].startswith("ops@")
    assert state["changed"] is True and state["previous_region"] == "" and state["old_leases_ended_at"] == ""
    inserts = [r for r in emulator.requests if r.kind == "storage.objects.insert"]
    assert inserts[-1].query["ifGenerationMatch"] == ["0"]  # first witness: only if none exists
    generation = str(emulator.services["storage"].get(BUCKET, OBJECT).generation)
    proc, state = run("europe-west3")
    assert proc.returncode == 0, proc.stdout
    assert stored(emulator)["region"] == "europe-west3" and stored(emulator)["epoch"] == 2
    assert [r for r in emulator.requests if r.kind == "storage.objects.insert"][-1].query["ifGenerationMatch"] == [
        generation]
    assert state["changed"] is True and state["previous_region"] == "us-east4" and state["old_leases_ended_at"]
    assert "Engines of us-east4 hold no lease since" in proc.stdout
    count = len([r for r in emulator.requests if r.kind == "storage.objects.insert"])
    proc, state = run("europe-west3")
    assert proc.returncode == 0 and "changed=0" in proc.stdout and state["changed"] is False
    assert "already names europe-west3 (epoch 2): nothing written" in proc.stdout
    assert len([r for r in emulator.requests if r.kind == "storage.objects.insert"]) == count
    assert str(sa_key_file) not in proc.stdout or "private_key" not in proc.stdout


def test_check_mode_writes_nothing_and_says_what(lab):
    emulator, run = lab
    emulator.services["storage"].put(BUCKET, OBJECT, json.dumps({"region": "us-east4", "epoch": 4}).encode())
    proc = run("europe-west3", "--check")[0]
    assert proc.returncode == 0, proc.stdout
    assert 'Would write {\\"region\\": \\"europe-west3\\", \\"epoch\\": 5,' in proc.stdout
    assert stored(emulator) == {"region": "us-east4", "epoch": 4}


def test_a_lost_race_writes_nothing(lab):
    emulator, run = lab
    emulator.services["storage"].put(BUCKET, OBJECT, json.dumps({"region": "us-east4", "epoch": 4}).encode())
    # between the read and the write another operator lands (the API answers 412 to this write)
    requests.post(f"{emulator.url}/_emulator/faults", json={"path_regex": "^/upload/", "status": 412},
                  timeout=5).raise_for_status()
    proc = run("europe-west3")[0]
    assert proc.returncode != 0 and "another writer won (HTTP 412)" in proc.stdout
    assert stored(emulator) == {"region": "us-east4", "epoch": 4}


def test_bad_input_and_a_malformed_witness_are_named(lab):
    emulator, run = lab
    proc = run("Europe West")[0]
    assert proc.returncode != 0 and "set_active_region needs nearzero_active_region" in proc.stdout
    assert [r for r in emulator.requests if r.kind.startswith("storage.")] == []
    emulator.services["storage"].put(BUCKET, OBJECT, b'{"region": "us-east4", "epoch": "{{ 7 * 6 }}"}')
    proc = run("europe-west3")[0]
    assert proc.returncode != 0 and "is not a witness" in proc.stdout and "42" not in proc.stdout
    proc = run("europe-west3", nearzero_witness_epoch=9)[0]
    assert proc.returncode == 0, proc.stdout
    assert stored(emulator)["epoch"] == 9
