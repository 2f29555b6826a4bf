"""playbooks/latency_report.yml on the VM, for function only (timings under emulation mean nothing)."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
INVENTORY = ROOT / ".lab" / "mol-low-latency-vm" / "inventory.yml"


def test_report_runs_every_measure_on_a_real_kernel(tmp_path):
    # The VM is its own peer (sockperf server and client over its loopback).
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(INVENTORY), str(ROOT / "playbooks/latency_report.yml"),
           "-e", "latency_report_peer=ll-vm-1", "-e", "latency_report_sockperf_seconds=2",
           "-e", "latency_report_jitter_seconds=2", "-e", "latency_report_connect_target=127.0.0.1:22",
           "-e", "latency_report_connect_count=20", "-e", f"latency_report_output_dir={tmp_path}"]
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_CACHE_PLUGIN": "memory"}
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    results = {r["measure"]: r for r in json.loads((tmp_path / "ll-vm-1.json").read_text())["results"]}
    jitter = results["jitter"]
    assert jitter["state"] == "measured", jitter
    assert jitter["cpu"] == 1  # the isolated CPU of the plan
    assert jitter["count"] > 0
    for measure in ("network", "tcp_connect"):
        result = results[measure]
        assert result["state"] == "measured", result
        assert result["min"] <= result["p50"] <= result["p99"] <= result["max"]
