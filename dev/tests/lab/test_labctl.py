"""The lab tool on real podman: clean up what it made, and name the fix for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LABCTL = ROOT / "dev" / "lab" / "labctl.py"
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "dev" / "lab" / "containers.conf")}
PREFIX = os.environ.get("NEARZERO_LAB_PREFIX", "")

pytestmark = pytest.mark.lab


def labctl(*args):
    return subprocess.run([sys.executable, str(LABCTL), *args], capture_output=True, text=True, env=ENV, check=False)


def podman_names(kind, lab):
    """Names of the lab's containers or networks, found by the label labctl puts on them."""
    listing = {"container": ["ps", "-a", "--format", "{{.Names}}"],
               "network": ["network", "ls", "--format", "{{.Name}}"]}
    cmd = ["podman", *listing[kind], "--filter", f"label=nearzero.lab={PREFIX}{lab}"]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=True).stdout.split()


@pytest.fixture
def topology(tmp_path):
    path = tmp_path / "topology.yml"
    path.write_text("networks: {internal: {}}\nhosts:\n  - {name: one, labels: {role: trading-engine}}\n")
    return path


def test_up_refuses_a_stale_lab_then_down_removes_everything(topology):
    lab = "t-stale"
    labctl("down", "--lab", lab)
    try:
        first = labctl("up", "--lab", lab, "--topology", str(topology))
        assert first.returncode == 0, first.stderr
        inventory = (ROOT / ".lab" / lab / "inventory.yml").read_text()
        assert "role_trading_engine" in inventory
        assert json.loads((ROOT / ".lab" / lab / "instances.json").read_text())[0]["labels"] == {
            "role": "trading-engine"}
        # Every lab host is reachable over SSH with strict host key checking.
        ssh = subprocess.run(["ssh", "-F", str(ROOT / ".lab" / lab / "ssh_config"), "one", "systemctl",
                              "is-system-running"], capture_output=True, text=True, check=False)
        assert ssh.stdout.strip() in ("running", "degraded"), ssh.stderr
        second = labctl("up", "--lab", lab, "--topology", str(topology))
        assert second.returncode == 1
        assert "already up or left over" in second.stderr and "make lab-down" in second.stderr
    finally:
        down = labctl("down", "--lab", lab)
    assert down.returncode == 0
    assert podman_names("container", lab) == [] and podman_names("network", lab) == []
    assert not (ROOT / ".lab" / lab).exists()


def test_no_port_is_published_on_the_host(topology):
    lab = "t-ports"
    try:
        assert labctl("up", "--lab", lab, "--topology", str(topology)).returncode == 0
        ports = subprocess.run(["podman", "port", "-a"], capture_output=True, text=True, env=ENV, check=True).stdout
        assert f"nz-{PREFIX}{lab}-" not in ports
    finally:
        labctl("down", "--lab", lab)


def test_labs_started_at_once_get_subnets_of_their_own(tmp_path):
    """Make test runs scenarios side by side: two labs that both want a free subnet both get one."""
    path = tmp_path / "topology.yml"
    path.write_text("networks: {internal: {}, outside: {}}\nhosts:\n  - {name: one, networks: [internal, outside]}\n")
    labs = ("t-race-a", "t-race-b")
    try:
        starts = [subprocess.Popen([sys.executable, str(LABCTL), "up", "--lab", lab, "--topology", str(path),
                                    "--replace"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
                  for lab in labs]
        for start in starts:
            _out, err = start.communicate(timeout=180)
            assert start.returncode == 0, err
        subnets = []
        for lab in labs:
            for net in podman_names("network", lab):
                inspect = subprocess.run(["podman", "network", "inspect", net], capture_output=True, text=True,
                                         env=ENV, check=True)
                subnets.extend(s["subnet"] for s in json.loads(inspect.stdout)[0]["subnets"])
        assert len(subnets) == 4 and len(set(subnets)) == 4, subnets
    finally:
        for lab in labs:
            labctl("down", "--lab", lab)


@pytest.mark.parametrize(("text", "message"), [
    ("hosts: []\n", "'hosts' must be a non-empty list"),
    ("hosts:\n  - {name: Bad_Name}\n", "must match"),
    ("hosts:\n  - {name: a}\n  - {name: a}\n", "listed twice"),
    ("networks: {internal: {}}\nhosts:\n  - {name: a, networks: [dmz]}\n", "names network 'dmz'"),
])
def test_bad_topology_is_refused_with_its_reason(tmp_path, text, message):
    path = tmp_path / "topology.yml"
    path.write_text(text)
    res = labctl("up", "--lab", "t-bad", "--topology", str(path))
    assert res.returncode == 1
    assert message in res.stderr
    assert podman_names("container", "t-bad") == []


def test_a_pinned_subnet_already_in_use_is_refused(tmp_path, topology):
    lab = "t-subnet"
    try:
        assert labctl("up", "--lab", lab, "--topology", str(topology)).returncode == 0
        inspect = ["podman", "network", "inspect", f"nz-{PREFIX}{lab}-internal"]
        info = json.loads(subprocess.run(inspect, capture_output=True, text=True, env=ENV, check=True).stdout)
        subnet = info[0]["subnets"][0]["subnet"]
        clash = tmp_path / "clash.yml"
        clash.write_text(f"networks: {{internal: {{subnet: {subnet}}}}}\nhosts:\n  - {{name: two}}\n")
        res = labctl("up", "--lab", "t-clash", "--topology", str(clash))
        assert res.returncode == 1
        assert f"subnet {subnet}" in res.stderr and "Fix:" in res.stderr
        assert podman_names("network", "t-clash") == []
    finally:
        labctl("down", "--lab", lab)
        labctl("down", "--lab", "t-clash")


def test_a_podman_that_cannot_start_containers_gets_the_fix(tmp_path, topology):
    """Crun (podman's default runtime) cannot start containers on this kind of host: say what to do."""
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nruntime = "crun"\n')
    env = {**ENV, "CONTAINERS_CONF": str(conf)}
    lab = "t-crun"
    try:
        res = subprocess.run([sys.executable, str(LABCTL), "up", "--lab", lab, "--topology", str(topology)],
                             capture_output=True, text=True, env=env, check=False)
        assert res.returncode == 1
        assert "Fix: podman must run containers with runc and explicit ulimits" in res.stderr
    finally:
        labctl("down", "--lab", lab)
    assert podman_names("container", lab) == [] and podman_names("network", lab) == []
