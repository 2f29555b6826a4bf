"""Lab mode for real: the API creates lab hosts. An instances.insert on the lab's subnet starts a container
that answers SSH with systemd running, stop/start stop and start it, delete removes it; a Cloud SQL insert
starts the lab PostgreSQL host the inventory then finds. One container at a time, on a lab started with
its network only (as `make demo` starts it)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from emulator import Emulator

ROOT = Path(__file__).resolve().parents[3]
LABCTL = ROOT / "dev" / "lab" / "labctl.py"
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "dev" / "lab" / "containers.conf")}
LAB = "t-provision"
PROJECT = "nearzero-lab"
ZONE = "us-east4-a"
TOKEN = "lab-provision-bearer"

pytestmark = pytest.mark.lab


def labctl(*args):
    return subprocess.run([sys.executable, str(LABCTL), *args], capture_output=True, text=True, env=ENV, check=False)


def podman(*args):
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=ENV, check=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab's network only (no host), and its state directory."""
    topology = tmp_path_factory.mktemp("topo") / "topology.yml"
    topology.write_text(f"project: {PROJECT}\nnetworks: {{internal: {{}}}}\n")
    started = labctl("up", "--lab", LAB, "--topology", str(topology), "--replace", "--auto-subnets", "--network-only")
    assert started.returncode == 0, started.stderr
    try:
        yield ROOT / ".lab" / LAB
    finally:
        labctl("down", "--lab", LAB)


def serve(state):
    emulator = Emulator().start()
    emulator.load_lab(state)
    emulator.add_access_token(TOKEN)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"

    def call(method, path, body=None, **params):
        return session.request(method, f"{emulator.url}/{path}", json=body, params=params, timeout=200)

    return emulator, call


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def done(call, op):
    """Wait for a zonal operation (zoneOperations.wait); it must end without an error."""
    zone = op["zone"].rsplit("/", 1)[-1]
    waited = ok(call("POST", f"compute/v1/projects/{PROJECT}/zones/{zone}/operations/{op['name']}/wait"))
    assert waited["status"] == "DONE" and "error" not in waited, waited
    return waited


def ssh(state, host, *command):
    return subprocess.run(
        ["ssh", "-F", str(state / "ssh_config"), "-o", "ConnectTimeout=10", host, *command],
        capture_output=True,
        text=True,
        check=False,
    )


def running(container):
    return podman("inspect", "-f", "{{.State.Running}}", container).stdout.strip()


def instance_body(name, subnet="lab"):
    return {
        "name": name,
        "machineType": f"zones/{ZONE}/machineTypes/c3-standard-8",
        "networkInterfaces": [{"subnetwork": f"regions/us-east4/subnetworks/{subnet}", "nicType": "GVNIC"}],
        "disks": [{"boot": True, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/d"}}],
        "labels": {"role": "trading-engine", "env": "lab"},
        "tags": {"items": ["trading-engine"]},
    }


def test_the_api_creates_stops_starts_and_deletes_lab_hosts(lab):
    subnet = json.loads((lab / "lab.json").read_text())["networks"]["internal"]["subnet"]
    assert json.loads((lab / "instances.json").read_text()) == []
    emulator, call = serve(lab)
    compute = f"compute/v1/projects/{PROJECT}"
    try:
        # the lab's project exists, empty, before anything is provisioned
        assert "items" not in ok(call("GET", f"{compute}/zones/{ZONE}/instances"))
        assert call("GET", f"{compute}/zones/{ZONE}/instances/engine-lab-1").status_code == 404
        ok(call("POST", f"{compute}/global/networks", {"name": "vpc", "autoCreateSubnetworks": False}))
        ok(
            call(
                "POST",
                f"{compute}/regions/us-east4/subnetworks",
                {"name": "lab", "network": "global/networks/vpc", "ipCidrRange": subnet},
            )
        )
        ok(
            call(
                "POST",
                f"{compute}/regions/us-east4/subnetworks",
                {"name": "elsewhere", "network": "global/networks/vpc", "ipCidrRange": "10.200.0.0/24"},
            )
        )

        refused = call("POST", f"{compute}/zones/{ZONE}/instances", instance_body("engine-x", "elsewhere"))
        assert refused.status_code == 400, refused.text
        assert f"none of the lab's ({subnet} (internal))" in refused.json()["error"]["message"]

        op = ok(call("POST", f"{compute}/zones/{ZONE}/instances", instance_body("engine-lab-1")))
        # RUNNING while the container boots (the instance PROVISIONING), DONE once it answers
        assert op["status"] == "RUNNING"
        assert ok(call("GET", f"{compute}/zones/{ZONE}/instances/engine-lab-1"))["status"] == "PROVISIONING"
        done(call, op)
        instance = ok(call("GET", f"{compute}/zones/{ZONE}/instances/engine-lab-1"))
        assert instance["status"] == "RUNNING"
        ip = instance["networkInterfaces"][0]["networkIP"]
        container = f"nz-{os.environ.get('NEARZERO_LAB_PREFIX', '')}{LAB}-engine-lab-1"
        assert podman("exec", container, "hostname", "-I").stdout.split() == [ip]
        # the host answers SSH as ops with the lab's key, systemd up, its hostname the instance's name
        answer = ssh(lab, "engine-lab-1", "hostname; systemctl is-system-running")
        assert answer.stdout.split()[0] == "engine-lab-1", answer.stderr
        assert answer.stdout.split()[1] in ("running", "degraded")
        inventory = yaml.safe_load((lab / "inventory.yml").read_text())["all"]
        assert inventory["hosts"]["engine-lab-1"]["ansible_host"] == ip
        assert "engine-lab-1" in inventory["children"]["role_trading_engine"]["hosts"]
        written = json.loads((lab / "instances.json").read_text())
        assert [(e["name"], e["instance"]["labels"]) for e in written] == [
            ("engine-lab-1", {"role": "trading-engine", "env": "lab"})
        ]

        # a container the lab cannot start fails the operation and leaves no instance (one name per lab)
        other = instance_body("engine-lab-1")
        other["machineType"] = "zones/us-east4-b/machineTypes/c3-standard-8"
        op = ok(call("POST", f"{compute}/zones/us-east4-b/instances", other))
        failed = ok(call("POST", f"{compute}/zones/us-east4-b/operations/{op['name']}/wait"))
        assert failed["status"] == "DONE" and failed["httpErrorStatusCode"] == 503, failed
        assert "already has a host engine-lab-1" in failed["error"]["errors"][0]["message"]
        assert call("GET", f"{compute}/zones/us-east4-b/instances/engine-lab-1").status_code == 404

        done(call, ok(call("POST", f"{compute}/zones/{ZONE}/instances/engine-lab-1/stop")))
        assert running(container) == "false"
        assert ok(call("GET", f"{compute}/zones/{ZONE}/instances/engine-lab-1"))["status"] == "TERMINATED"
        done(call, ok(call("POST", f"{compute}/zones/{ZONE}/instances/engine-lab-1/start")))
        assert running(container) == "true"
        assert ssh(lab, "engine-lab-1", "systemctl", "is-system-running").stdout.strip() in ("running", "degraded")
    finally:
        emulator.stop()

    # an emulator restarted on the lab serves what the API made, as it made it
    emulator, call = serve(lab)
    try:
        again = ok(call("GET", f"{compute}/zones/{ZONE}/instances/engine-lab-1"))
        assert again["networkInterfaces"][0]["networkIP"] == ip
        assert again["id"] == instance["id"] and again["tags"]["items"] == ["trading-engine"]
        ok(call("DELETE", f"{compute}/zones/{ZONE}/instances/engine-lab-1"))
        assert podman("container", "exists", container).returncode == 1
        assert "engine-lab-1" not in (yaml.safe_load((lab / "inventory.yml").read_text())["all"]["hosts"] or {})
        assert json.loads((lab / "instances.json").read_text()) == []

        # Cloud SQL: the insert starts the lab PostgreSQL host, served to the inventory as a database host
        emulator.services["sqladmin"].operation_seconds = 0.05
        private = {"ipv4Enabled": False, "privateNetwork": f"projects/{PROJECT}/global/networks/vpc"}
        body = {
            "name": "db-lab-1",
            "region": "us-east4",
            "databaseVersion": "POSTGRES_15",
            "settings": {"tier": "db-custom-4-16384", "ipConfiguration": private},
        }
        op = ok(call("POST", f"v1/projects/{PROJECT}/instances", body))
        deadline = time.monotonic() + 120
        while op["status"] != "DONE" and time.monotonic() < deadline:
            time.sleep(0.5)
            op = ok(call("GET", f"v1/projects/{PROJECT}/operations/{op['name']}"))
        assert op["status"] == "DONE" and "error" not in op, op
        sql = ok(call("GET", f"v1/projects/{PROJECT}/instances/db-lab-1"))
        private = [a["ipAddress"] for a in sql["ipAddresses"] if a["type"] == "PRIVATE"]
        host = ok(call("GET", f"{compute}/zones/{ZONE}/instances/db-lab-1"))
        assert private == [host["networkInterfaces"][0]["networkIP"]]
        assert host["labels"] == {"env": "lab", "role": "database", "cloudsql": "primary"}
        assert host["networkInterfaces"][0]["network"].endswith(f"/projects/{PROJECT}/global/networks/vpc")
        assert ssh(lab, "db-lab-1", "test", "-x", "/usr/lib/postgresql/15/bin/postgres").returncode == 0
    finally:
        emulator.stop()


def test_the_demo_topology_starts_the_architecture_hosts_for_molecule():
    """dev/lab/topology.yml keeps the network; its hosts come from architecture.yml (the demo's fleet and
    Cloud SQL), so scenarios that start it directly get the hosts provision.yml creates in the demo."""
    sys.path.insert(0, str(LABCTL.parent))
    try:
        import labctl as lab_tool
    finally:
        sys.path.remove(str(LABCTL.parent))
    topology = lab_tool.load_topology(LABCTL.parent / "topology.yml")
    assert topology["networks"]["internal"]["subnet"] == "10.89.7.0/24"
    hosts = {h["name"]: h for h in topology["hosts"]}
    assert list(hosts) == ["engine-us-1", "engine-us-2", "mon-us-1", "db-us-1", "db-eu-1"]
    assert hosts["mon-us-1"]["labels"] == {"role": "monitoring", "env": "lab"}
    assert hosts["engine-us-1"]["gpus"] == [{"type": "nvidia-h100-80gb", "count": 1}]
    assert hosts["engine-us-2"]["labels"] == {"role": "trading-engine", "env": "lab"}
    assert hosts["db-us-1"]["labels"] == {"role": "database", "env": "lab", "cloudsql": "primary"}
    assert hosts["db-eu-1"]["zone"] == "europe-west3-a" and hosts["db-eu-1"]["labels"]["cloudsql"] == "replica"
    assert lab_tool.load_topology(LABCTL.parent / "topology.yml", network_only=True)["hosts"] == []
    # the architecture's subnet is the lab network: in lab mode, instances are placed only there
    arch = yaml.safe_load((LABCTL.parent / "architecture.yml").read_text())["nearzero_architecture"]
    assert [s["cidr"] for s in arch["network"]["subnets"]] == ["10.89.7.0/24"]


@pytest.mark.parametrize(
    ("found", "rc", "needle"),
    [
        (["engine-us-1", "engine-us-2", "mon-us-1", "db-us-1", "db-eu-1"], 0, "the 5 hosts provision.yml created"),
        (["engine-us-1", "mon-us-1", "db-us-1", "db-eu-1", "stray-1"], 1,
         "missing: ['engine-us-2'], extra: ['stray-1']"),
    ],
)
def test_the_demo_checks_the_inventory_against_the_architecture(found, rc, needle):
    listing = json.dumps({"_meta": {"hostvars": {name: {} for name in found}}})
    res = subprocess.run(
        [sys.executable, str(LABCTL.parent / "demo_fleet_check.py"), str(LABCTL.parent / "architecture.yml")],
        input=listing,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == rc
    assert needle in res.stdout + res.stderr
