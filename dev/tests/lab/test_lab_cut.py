"""`labctl cut` / `labctl restore` on real podman: a region's hosts become unreachable, then come back.

One lab of two hosts, one per region. Cutting the US region must leave its host running but
unreachable both ways (from the controller, from the EU host; nothing it sends leaves), the EU host
untouched; restoring gives it back its network; both are idempotent, and bad names are refused with
the lab's hosts or regions.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LABCTL = ROOT / "dev" / "lab" / "labctl.py"
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "dev" / "lab" / "containers.conf")}
LAB = "t-cut"

pytestmark = pytest.mark.lab


def labctl(*args):
    return subprocess.run([sys.executable, str(LABCTL), *args], capture_output=True, text=True, env=ENV, check=False)


def reaches(source_ctr, ip):
    """Whether a TCP connection to ip:22 opens within 2 s, from a container or (None) from this machine."""
    if source_ctr is None:
        try:
            socket.create_connection((ip, 22), timeout=2).close()
        except OSError:
            return False
        return True
    probe = ["podman", "exec", source_ctr, "nc", "-z", "-w", "2", ip, "22"]
    return subprocess.run(probe, capture_output=True, env=ENV, check=False, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    topology = tmp_path_factory.mktemp("cut") / "topology.yml"
    topology.write_text("networks: {internal: {}}\nhosts:\n"
                        "  - {name: us-1, zone: us-east4-a, labels: {role: trading-engine}}\n"
                        "  - {name: eu-1, zone: europe-west3-a, labels: {role: trading-engine}}\n")
    res = labctl("up", "--lab", LAB, "--topology", str(topology), "--replace", "--auto-subnets")
    assert res.returncode == 0, res.stderr
    hosts = {h["host"]["name"]: h for h in json.loads((ROOT / ".lab" / LAB / "hosts.json").read_text())}
    try:
        yield {name: (h["ctr"], next(iter(h["addresses"].values()))) for name, h in hosts.items()}
    finally:
        labctl("down", "--lab", LAB)


def test_cut_region_then_restore(lab):
    lab_dir = str(ROOT / ".lab" / LAB)
    (us_ctr, us_ip), (eu_ctr, eu_ip) = lab["us-1"], lab["eu-1"]
    assert reaches(None, us_ip) and reaches(eu_ctr, us_ip) and reaches(us_ctr, eu_ip)

    cut = labctl("cut", "--lab-dir", lab_dir, "--region", "us-east4")
    assert cut.returncode == 0, cut.stderr
    assert json.loads(cut.stdout) == [{"name": "us-1", "container": us_ctr, "ip": us_ip, "cut": True, "changed": True}]
    # the host still runs (its processes go on), but nothing reaches it and nothing it sends leaves
    assert subprocess.run(["podman", "exec", us_ctr, "true"], env=ENV, check=False).returncode == 0
    assert not reaches(None, us_ip)
    assert not reaches(eu_ctr, us_ip)
    assert not reaches(us_ctr, eu_ip)
    assert reaches(None, eu_ip)
    again = labctl("cut", "--lab-dir", lab_dir, "--hosts", "us-1")
    assert again.returncode == 0 and json.loads(again.stdout)[0]["changed"] is False

    restore = labctl("restore", "--lab-dir", lab_dir, "--region", "us-east4")
    assert restore.returncode == 0, restore.stderr
    assert json.loads(restore.stdout)[0] == {"name": "us-1", "container": us_ctr, "ip": us_ip, "cut": False,
                                             "changed": True}
    assert reaches(None, us_ip) and reaches(eu_ctr, us_ip) and reaches(us_ctr, eu_ip)
    again = labctl("restore", "--lab-dir", lab_dir, "--hosts", "us-1")
    assert again.returncode == 0 and json.loads(again.stdout)[0]["changed"] is False


@pytest.mark.parametrize(("args", "message"), [
    (["--hosts", "us-9"], "has no host us-9; its hosts: eu-1, us-1"),
    (["--region", "asia-east1"], "has no host in region 'asia-east1' (its regions: europe-west3, us-east4)"),
])
def test_unknown_host_or_region_is_refused_naming_what_exists(lab, args, message):
    res = labctl("cut", "--lab-dir", str(ROOT / ".lab" / LAB), *args)
    assert res.returncode == 1
    assert message in res.stderr
