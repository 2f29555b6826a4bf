"""playbooks/latency_report.yml between the two lab hosts (run from the controller)."""

import json
import os
import subprocess
from pathlib import Path

import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
INVENTORY = ROOT / ".lab" / "mol-low-latency" / "inventory.yml"


def run_report(tmp_path, *extra):
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(INVENTORY), str(ROOT / "playbooks/latency_report.yml"),
           "-l", "ll-engine-1", "-e", "latency_report_peer=ll-engine-2", "-e", "latency_report_sockperf_seconds=2",
           "-e", "latency_report_jitter_seconds=1", "-e", f"latency_report_output_dir={tmp_path}", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)


def test_report_measures_the_network_and_says_why_jitter_is_not_measured(tmp_path):
    peer_ip = yaml.safe_load(INVENTORY.read_text())["all"]["hosts"]["ll-engine-2"]["ansible_host"]
    res = run_report(tmp_path, "-e", f"latency_report_connect_target={peer_ip}:22")
    assert res.returncode == 0, res.stdout[-3000:]
    results = {r["measure"]: r for r in json.loads((tmp_path / "ll-engine-1.json").read_text())["results"]}
    net = results["network"]
    assert net["state"] == "measured"
    assert net["count"] > 100
    assert 0 < net["min"] <= net["p50"] <= net["p99"] <= net["p99.9"] <= net["max"]
    assert results["tcp_connect"]["state"] == "measured"
    # A container has no real-time scheduling: the report says so instead of inventing a figure.
    assert results["jitter"]["state"] == "unsupported"
    assert "scheduling" in results["jitter"]["reason"]
    assert "measure | state | count | p50 | p99 | p99.9 | max (us)" in res.stdout
    # The picture: one panel per measured figure (network, tcp_connect), drawn with data, not blank.
    assert results["tcp_connect"]["histogram"]
    png = Image.open(tmp_path / "ll-engine-1.png").convert("RGB")
    assert png.size == (1200, 800)
    blue = sum(1 for r, g, b in png.get_flattened_data()
               if abs(r - 31) < 12 and abs(g - 119) < 12 and abs(b - 180) < 12)
    assert blue > 1000


def test_a_threshold_fails_the_play(tmp_path):
    threshold = '{"latency_report_max_us": {"network": {"p50": 0.001}}}'
    res = run_report(tmp_path, "-e", "latency_report_jitter=false", "-e", threshold)
    assert res.returncode != 0
    assert "over its latency thresholds" in res.stdout
    assert "network p50=" in res.stdout
