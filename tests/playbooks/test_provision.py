"""provision.yml against the emulator, on an empty project: check mode, create, re-run, drift, decommission.

Real ``ansible-playbook`` runs from the repository root (so ``ansible.cfg`` applies) with a service-account key
the emulator trusts (real google-auth, real HTTP). What provisioning left behind is read with Google's own
client library (google-cloud-compute, REST transport), and the out-of-band drift is made with it too. One
emulator, one project, two hosts, so the whole story costs a few playbook runs.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT = "nz-prov"
ZONE = "us-east4-a"
MUTATIONS = re.compile(r"\.(insert|delete|patch|create|set[A-Z]\w*|add\w+|remove\w+|stop|start|promoteReplica)$")

ARCHITECTURE = {
    "project": PROJECT, "region": "us-east4", "zone": ZONE,
    "network": {
        "name": "trading", "mtu": 8896,
        "subnets": [{"name": "trading-us", "region": "us-east4", "cidr": "10.10.0.0/24"},
                    {"name": "trading-eu", "region": "europe-west3", "cidr": "10.20.0.0/24"}],
        "private_services_access": {"name": "google-services", "cidr": "10.100.0.0/16"},
        "ssh_sources": ["35.235.240.0/20"],
        "internal_ports": [{"protocol": "tcp", "ports": ["9000-9100"]}],
        "nat": {"router": "trading-nat"},
    },
    "placement_policies": [{"name": "engines"}],
    "fleet": [
        {"name": "engine-us-1", "machine_type": "a3-highgpu-1g", "gpus": [{"type": "nvidia-h100-80gb", "count": 1}],
         "labels": {"role": "trading-engine", "env": "test"}, "tags": ["trading-engine"],
         "placement_policy": "engines"},
        {"name": "engine-us-2", "machine_type": "c3-standard-8", "labels": {"role": "trading-engine", "env": "test"},
         "tags": ["trading-engine"], "placement_policy": "engines"},
    ],
    "database": {"primary": {"name": "db-us-1", "region": "us-east4", "tier": "db-custom-4-16384"},
                 "replica": {"name": "db-eu-1", "region": "europe-west3"}},
}


@pytest.fixture
def world(emulator, tmp_path):
    """An empty project on the emulator; returns (emulator, run, gapic)."""
    emulator.add_project(PROJECT, zones=[ZONE, "us-east4-b", "europe-west3-a"])
    emulator.services["sqladmin"].operation_seconds = 0.05
    key = tmp_path / "service-account.json"
    key.write_text(json.dumps(emulator.make_service_account(f"deployer@{PROJECT}.iam.gserviceaccount.com", PROJECT)))
    key.chmod(0o600)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    extra = tmp_path / "vars.yml"
    extra.write_text(yaml.safe_dump({
        "nearzero_architecture": ARCHITECTURE,
        "nearzero_gcp_auth": {"auth_kind": "serviceaccount", "service_account_file": str(key), "retries": 1,
                              "retry_backoff": 0.01},
        "nearzero_compute_endpoint": emulator.url, "nearzero_sqladmin_endpoint": emulator.url,
        "nearzero_servicenetworking_endpoint": emulator.url}))

    def run(playbook="playbooks/provision.yml", *args):
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
        env.pop("ANSIBLE_INVENTORY", None)
        res = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{extra}", playbook, *args],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
        return res.returncode, res.stdout + res.stderr

    def gapic(cls):
        from google.cloud import compute_v1  # noqa: F401  (test-only dependency)
        from google.oauth2 import service_account

        creds = service_account.Credentials.from_service_account_file(
            str(key), scopes=["https://www.googleapis.com/auth/cloud-platform"])
        return cls(credentials=creds, transport="rest", client_options={"api_endpoint": emulator.url})

    return emulator, run, gapic


def recap(out: str) -> dict[str, int]:
    found = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out)
    assert found, out[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, found.groups()), strict=True))


def mutations(emulator) -> dict[str, int]:
    return {k: v for k, v in emulator.stats()["requests"].items() if MUTATIONS.search(k)}


def test_provision_an_empty_project_then_rerun_drift_and_decommission(world):
    from google.cloud import compute_v1

    emulator, run, gapic = world
    rc, out = run("playbooks/provision.yml", "-e", '{"nearzero_architecture": "trading"}')
    assert rc != 0 and "nearzero_architecture is not set (or not a mapping)" in out, out[-4000:]

    # check mode on the empty project: every resource listed, none created
    rc, out = run("playbooks/provision.yml", "--check")
    assert rc == 0, out[-4000:]
    for what in ("network", "subnet trading-us", "subnet trading-eu", "firewall ssh", "firewall internal",
                 "router in us-east4", "psa range", "psa connection", "placement policy engines",
                 "instance engine-us-1", "instance engine-us-2", "cloudsql primary", "cloudsql replica"):
        assert what in out, (what, out[-4000:])
    assert mutations(emulator) == {}

    # the first run creates everything, the second changes nothing
    rc, out = run()
    assert rc == 0 and recap(out)["changed"] > 0, out[-4000:]
    rc, out = run()
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]

    # what is there, as Google's client library reads it
    instances = gapic(compute_v1.InstancesClient)
    vms = {vm.name: vm for vm in instances.list(project=PROJECT, zone=ZONE)}
    assert sorted(vms) == ["engine-us-1", "engine-us-2"]
    gpu = vms["engine-us-1"]
    assert gpu.network_interfaces[0].nic_type == "GVNIC" and not gpu.network_interfaces[0].access_configs
    assert gpu.scheduling.on_host_maintenance == "TERMINATE"
    assert gpu.advanced_machine_features.threads_per_core == 1
    assert gpu.guest_accelerators[0].accelerator_type.endswith("/nvidia-h100-80gb")
    assert gpu.resource_policies[0].endswith("/resourcePolicies/engines")
    assert gpu.network_interfaces[0].subnetwork.endswith("/subnetworks/trading-us")
    assert gapic(compute_v1.NetworksClient).get(project=PROJECT, network="trading").mtu == 8896
    ssh = gapic(compute_v1.FirewallsClient).get(project=PROJECT, firewall="trading-allow-ssh")
    assert list(ssh.source_ranges) == ["35.235.240.0/20"]
    router = gapic(compute_v1.RoutersClient).get(project=PROJECT, region="us-east4", router="trading-nat")
    assert router.nats[0].name == "trading-nat-nat"
    sql = emulator.services["sqladmin"]
    assert sql.instances[(PROJECT, "db-eu-1")]["masterInstanceName"].endswith("db-us-1")

    # drift made out of band: a label, the SSH rule's sources, a VM's placement
    vm = instances.get(project=PROJECT, zone=ZONE, instance="engine-us-2")
    instances.set_labels(project=PROJECT, zone=ZONE, instance="engine-us-2",
                         instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
                             labels={"role": "spare", "env": "test"}, label_fingerprint=vm.label_fingerprint)).result()
    gapic(compute_v1.FirewallsClient).patch(project=PROJECT, firewall="trading-allow-ssh",
                                            firewall_resource=compute_v1.Firewall(
                                                source_ranges=["0.0.0.0/0"])).result()
    instances.stop(project=PROJECT, zone=ZONE, instance="engine-us-1").result()
    instances.remove_resource_policies(
        project=PROJECT, zone=ZONE, instance="engine-us-1",
        instances_remove_resource_policies_request_resource=compute_v1.InstancesRemoveResourcePoliciesRequest(
            resource_policies=[gpu.resource_policies[0]])).result()
    instances.start(project=PROJECT, zone=ZONE, instance="engine-us-1").result()

    before = mutations(emulator)
    rc, out = run("playbooks/provision.yml", "--check", "--diff")
    assert rc == 0, out[-4000:]
    assert '"role": "spare"' in out and '"role": "trading-engine"' in out, out[-4000:]
    assert "0.0.0.0/0" in out and "resource_policies" in out, out[-4000:]
    assert mutations(emulator) == before  # check mode changed nothing

    # corrected in place; the placement needs a stop: reported, not done
    rc, out = run()
    assert rc == 0, out[-4000:]
    assert "set allow_restart: true" in out, out[-4000:]
    assert instances.get(project=PROJECT, zone=ZONE, instance="engine-us-2").labels["role"] == "trading-engine"
    assert list(gapic(compute_v1.FirewallsClient).get(project=PROJECT, firewall="trading-allow-ssh")
                .source_ranges) == ["35.235.240.0/20"]
    assert not instances.get(project=PROJECT, zone=ZONE, instance="engine-us-1").resource_policies

    # with the opt-in: stop, add the policy, start; then nothing is left to do
    rc, out = run("playbooks/provision.yml", "-e", "nearzero_provision_allow_restart=true")
    assert rc == 0, out[-4000:]
    moved = instances.get(project=PROJECT, zone=ZONE, instance="engine-us-1")
    assert moved.resource_policies[0].endswith("/engines") and moved.status == "RUNNING"

    # decommission: refused without the confirmation, and refused whole while any VM has deletion protection
    rc, out = run("playbooks/decommission.yml")
    assert rc != 0 and f"nearzero_decommission_confirm={PROJECT}" in out, out[-4000:]
    instances.set_deletion_protection(request=compute_v1.SetDeletionProtectionInstanceRequest(
        project=PROJECT, zone=ZONE, resource="engine-us-2", deletion_protection=True)).result()
    before = mutations(emulator)
    rc, out = run("playbooks/decommission.yml", "-e", f"nearzero_decommission_confirm={PROJECT}")
    assert rc != 0 and f"engine-us-2 in zone {ZONE} of project {PROJECT} has deletion protection" in out, out[-4000:]
    assert mutations(emulator) == before  # nothing was deleted, not even the unprotected VM
    instances.set_deletion_protection(request=compute_v1.SetDeletionProtectionInstanceRequest(
        project=PROJECT, zone=ZONE, resource="engine-us-2", deletion_protection=False)).result()
    rc, out = run("playbooks/decommission.yml", "-e", f"nearzero_decommission_confirm={PROJECT}")
    assert rc == 0, out[-4000:]
    assert list(instances.list(project=PROJECT, zone=ZONE)) == []
    assert list(gapic(compute_v1.FirewallsClient).list(project=PROJECT)) == []
    # the databases are left alone, and so is what they use: the peering, its range, the network
    assert (PROJECT, "db-us-1") in sql.instances and "Kept: the Cloud SQL instances db-us-1, db-eu-1" in out
    assert [n.name for n in gapic(compute_v1.NetworksClient).list(project=PROJECT)] == ["trading"]
    # once the databases are deleted (deliberately, elsewhere), a second run deletes the rest
    for name in ("db-eu-1", "db-us-1"):
        sql.instances.pop((PROJECT, name))
    rc, out = run("playbooks/decommission.yml", "-e", f"nearzero_decommission_confirm={PROJECT}")
    assert rc == 0, out[-4000:]
    assert list(gapic(compute_v1.NetworksClient).list(project=PROJECT)) == []
