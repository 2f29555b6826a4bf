"""The demo's path: lab containers served by the emulator, found by the gce plugin, reached by SSH."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# ansible-inventory --list keeps API data marked untrusted: {"__ansible_unsafe": value}
from tests.unit.plugins.gce_helpers import unwrap

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab_with_emulator(tmp_path_factory):
    lab = "t-plugin"
    topology = tmp_path_factory.mktemp("topo") / "topology.yml"
    topology.write_text(
        "project: nearzero-lab\nnetworks: {internal: {}}\nhosts:\n"
        "  - {name: eng-1, zone: us-east4-a, machine_type: a3-highgpu-1g, labels: {role: trading-engine},"
        " gpus: [{type: nvidia-h100-80gb, count: 1}]}\n"
        "  - {name: db-1, zone: europe-west3-a, labels: {role: database}}\n")
    labctl, emulator_sh = str(ROOT / "dev" / "lab" / "labctl.py"), str(ROOT / "dev" / "tools" / "emulator.sh")
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / "dev" / "lab" / "containers.conf"),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    subprocess.run([sys.executable, labctl, "up", "--lab", lab, "--topology", str(topology),
                    "--replace", "--auto-subnets"], check=True, env=env, capture_output=True)
    try:
        subprocess.run([emulator_sh, "start", lab], check=True, env=env, capture_output=True)
        state = ROOT / ".lab" / lab
        url = f"http://127.0.0.1:{(state / 'emulator.port').read_text().strip()}"
        config = state / "lab.gce.yml"
        config.write_text(yaml.safe_dump({
            "plugin": "gce", "projects": ["nearzero-lab"], "auth_kind": "serviceaccount",
            "service_account_file": str(state / "service-account.json"), "api_endpoint": url}))
        yield lab, state, config, env
    finally:
        subprocess.run([emulator_sh, "stop", lab], env=env, check=False)
        subprocess.run([sys.executable, labctl, "down", "--lab", lab], env=env, check=False)


def test_plugin_sees_the_lab_as_labctl_made_it(lab_with_emulator):
    _, state, config, env = lab_with_emulator
    out = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(config), "--list"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    found = json.loads(out)
    static = yaml.safe_load((state / "inventory.yml").read_text())["all"]
    for group in ("role_trading_engine", "role_database", "gpu", "zone_us_east4_a", "region_europe_west3"):
        assert found[group]["hosts"] == list(static["children"][group]["hosts"]), group
    for host, hvars in static["hosts"].items():
        assert unwrap(found["_meta"]["hostvars"][host]["ansible_host"]) == hvars["ansible_host"]
        # the VPC MTU the emulator serves is the MTU the lab's interfaces really have
        real = subprocess.run(["podman", "exec", hvars["lab_container"], "cat", "/sys/class/net/eth0/mtu"], env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
        assert found["_meta"]["hostvars"][host]["gce"]["network_mtu"] == hvars["gce"]["network_mtu"] == int(real)
        # the static inventory the scenarios use holds the facts the plugin stores by default, no more
        assert unwrap(found["_meta"]["hostvars"][host]["gce"]) == hvars["gce"], host


def test_ansible_reaches_the_hosts_it_found(lab_with_emulator):
    _, state, config, env = lab_with_emulator
    env = {**env, "ANSIBLE_REMOTE_USER": "ops", "ANSIBLE_PRIVATE_KEY_FILE": str(state / "id_ed25519"),
           "ANSIBLE_SSH_COMMON_ARGS": f"-o UserKnownHostsFile={state / 'known_hosts'} -o StrictHostKeyChecking=yes"}
    res = subprocess.run([str(BIN / "ansible"), "-i", str(config), "all", "-m", "ansible.builtin.ping", "-o"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("SUCCESS") == 2
