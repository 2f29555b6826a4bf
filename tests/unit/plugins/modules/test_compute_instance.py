"""compute_instance against the emulator: create, idempotence, check/diff, in-place fixes, stops, refusals."""

import json

import pytest

ZONE = "us-east4-a"


@pytest.fixture
def gce(emulator, sa_key_file):
    """Project p1 with network trading, and the module arguments for a GPU trading host."""
    emulator.add_project("p1", zones=[ZONE])
    emulator.compute.set_network("p1", "trading", 8896)
    args = {"project": "p1", "zone": ZONE, "name": "engine-us-1", "api_endpoint": emulator.url,
            "auth_kind": "serviceaccount", "service_account_file": str(sa_key_file), "retries": 1,
            "retry_backoff": 0.01, "wait_timeout": 10,
            "machine_type": "a3-highgpu-1g", "accelerators": [{"type": "nvidia-h100-80gb", "count": 1}],
            "network": "trading", "threads_per_core": 1, "labels": {"role": "trading-engine", "env": "lab"},
            "tags": ["trading-engine"], "metadata": {"enable-oslogin": "TRUE"}}
    return emulator, args


def stored(emulator, name="engine-us-1"):
    record = emulator.compute.find_instance("p1", ZONE, name)
    return None if record is None else record.data


def test_check_mode_creates_nothing_then_create_then_nothing_to_do(run_module, gce):
    emulator, args = gce
    failed, result = run_module("compute_instance", args, check=True, diff=True)
    assert not failed and result["changed"] and result["changes"][0]["field"] == "instance"
    assert result["diff"]["after"]["networkInterfaces"][0]["nicType"] == "GVNIC"
    assert stored(emulator) is None and emulator.stats()["requests"].get("compute.instances.insert", 0) == 0

    failed, result = run_module("compute_instance", args)
    assert not failed and result["changed"], result.get("msg")
    vm = stored(emulator)
    nic = vm["networkInterfaces"][0]
    assert nic["nicType"] == "GVNIC" and not nic.get("accessConfigs")  # gVNIC, no external IP
    assert vm["scheduling"]["onHostMaintenance"] == "TERMINATE"  # GPUs cannot live-migrate
    assert vm["advancedMachineFeatures"]["threadsPerCore"] == 1
    assert vm["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True,
                                            "enableIntegrityMonitoring": True}
    assert sorted(vm["serviceAccounts"][0]["scopes"]) == ["https://www.googleapis.com/auth/logging.write",
                                                          "https://www.googleapis.com/auth/monitoring.write"]
    assert vm["labels"] == {"role": "trading-engine", "env": "lab"}

    failed, again = run_module("compute_instance", args, diff=True)
    assert not failed and not again["changed"] and again["changes"] == [] and again["operations"] == []


def test_drift_is_shown_and_fixed_in_place(run_module, gce):
    emulator, args = gce
    assert not run_module("compute_instance", args)[0]
    # out of band: someone relabels the host and adds a tag
    assert not run_module("compute_instance", dict(args, labels={"role": "spare"}, tags=["trading-engine", "x"]))[0]
    failed, result = run_module("compute_instance", dict(args, deletion_protection=True), diff=True)
    assert not failed and result["changed"]
    assert result["diff"]["before"]["labels"]["role"] == "spare"
    assert result["diff"]["after"]["labels"]["role"] == "trading-engine"
    fields = {c["field"]: c["needs"] for c in result["applied"]}
    assert fields == {"labels": "in_place", "tags": "in_place", "deletion_protection": "in_place"}
    vm = stored(emulator)
    assert vm["labels"]["role"] == "trading-engine" and vm["tags"]["items"] == ["trading-engine"]
    assert vm["deletionProtection"] is True and vm["status"] == "RUNNING"  # no restart for in-place changes


def test_a_change_needing_a_stop_is_reported_then_done_only_with_allow_restart(run_module, gce):
    emulator, args = gce
    args = dict(args, machine_type="c3-standard-8", accelerators=None, on_host_maintenance="TERMINATE", name="e2")
    assert not run_module("compute_instance", args)[0]
    failed, result = run_module("compute_instance", dict(args, machine_type="c3-standard-22"))
    assert not failed and not result["changed"]
    assert result["not_applied"][0]["field"] == "machine_type"
    assert "set allow_restart: true" in result["not_applied"][0]["takes"]
    assert stored(emulator, "e2")["machineType"].endswith("/c3-standard-8")

    failed, result = run_module("compute_instance", dict(args, machine_type="c3-standard-22", allow_restart=True))
    assert not failed and result["changed"], result.get("msg")
    vm = stored(emulator, "e2")
    assert vm["machineType"].endswith("/c3-standard-22") and vm["status"] == "RUNNING"
    counts = emulator.stats()["requests"]
    assert counts["compute.instances.stop"] == 1 and counts["compute.instances.start"] == 1


def test_a_change_needing_a_new_vm_is_reported_never_done(run_module, gce):
    emulator, args = gce
    assert not run_module("compute_instance", args)[0]
    failed, result = run_module("compute_instance", dict(args, nic_type="VIRTIO_NET", allow_restart=True))
    assert not failed and not result["changed"]
    assert result["not_applied"][0]["field"] == "nic_type" and "a new VM" in result["not_applied"][0]["takes"]
    assert stored(emulator)["networkInterfaces"][0]["nicType"] == "GVNIC"


@pytest.mark.parametrize("metadata", [{"db-password": "x"}, {"startup": "postgresql://trader:hunter2x@db/orders"},
                                      {"key": "-----BEGIN RSA PRIVATE KEY-----\nabc"}])
def test_metadata_that_looks_like_a_secret_is_refused_before_any_call(run_module, gce, metadata):
    emulator, args = gce
    failed, result = run_module("compute_instance", dict(args, metadata=metadata))
    assert failed and "Refused before any call" in result["msg"] and "Secret Manager" in result["msg"]
    everything = json.dumps(result)  # the message, and the options the result echoes
    assert "hunter2x" not in everything and "BEGIN" not in everything and '"x"' not in everything
    assert emulator.stats()["requests"] == {}


def test_deletion_protection_refuses_delete(run_module, gce):
    emulator, args = gce
    assert not run_module("compute_instance", dict(args, deletion_protection=True))[0]
    failed, result = run_module("compute_instance", dict(args, state="absent"))
    assert failed and "has deletion protection" in result["msg"]
    assert stored(emulator) is not None
    assert not run_module("compute_instance", dict(args, deletion_protection=False))[0]
    failed, result = run_module("compute_instance", dict(args, state="absent"))
    assert not failed and result["changed"] and stored(emulator) is None
    failed, result = run_module("compute_instance", dict(args, state="absent"))
    assert not failed and not result["changed"]


def test_placement_needs_a_stop_and_is_moved_with_allow_restart(run_module, gce):
    emulator, args = gce
    policy = {k: args[k] for k in ("project", "api_endpoint", "auth_kind", "service_account_file", "retries")}
    assert not run_module("compute_resource_policy", dict(policy, region="us-east4", name="engines"))[0]
    assert not run_module("compute_instance", args)[0]
    placed = dict(args, resource_policies=["engines"])
    failed, result = run_module("compute_instance", placed, check=True, diff=True)
    assert not failed and not result["changed"]
    assert result["diff"]["after"]["resource_policies"] == ["engines"]
    failed, result = run_module("compute_instance", placed)
    assert not failed and not result["changed"] and result["not_applied"][0]["field"] == "resource_policies"
    assert not stored(emulator).get("resourcePolicies")
    failed, result = run_module("compute_instance", dict(placed, allow_restart=True))
    assert not failed and result["changed"], result.get("msg")
    vm = stored(emulator)
    assert vm["resourcePolicies"][0].endswith("/regions/us-east4/resourcePolicies/engines")
    assert vm["status"] == "RUNNING"
    assert not run_module("compute_instance", placed)[1]["changed"]


def test_external_ip_and_status_change_in_place(run_module, gce):
    emulator, args = gce
    assert not run_module("compute_instance", dict(args, external_ip=True))[0]
    assert stored(emulator)["networkInterfaces"][0]["accessConfigs"]
    failed, result = run_module("compute_instance", args)
    assert not failed and result["changed"] and [c["field"] for c in result["applied"]] == ["external_ip"]
    assert not stored(emulator)["networkInterfaces"][0].get("accessConfigs")
    failed, result = run_module("compute_instance", dict(args, status="TERMINATED"))
    assert not failed and result["changed"] and stored(emulator)["status"] == "TERMINATED"
    assert not run_module("compute_instance", dict(args, status="TERMINATED"))[1]["changed"]


def test_gpus_and_scopes_change_with_a_stop(run_module, gce):
    emulator, args = gce
    n1 = dict(args, name="n1-host", machine_type="n1-standard-8",
              accelerators=[{"type": "nvidia-tesla-t4", "count": 1}])
    assert not run_module("compute_instance", n1)[0]
    wider = dict(n1, accelerators=[{"type": "nvidia-tesla-t4", "count": 2}],
                 service_account_scopes=["https://www.googleapis.com/auth/logging.write"])
    failed, result = run_module("compute_instance", wider)
    assert not failed and not result["changed"]
    assert {c["field"]: c["method"] for c in result["not_applied"]} == {
        "accelerators": "setMachineResources", "scopes": "setServiceAccount"}
    failed, result = run_module("compute_instance", dict(wider, allow_restart=True))
    assert not failed and result["changed"], result.get("msg")
    vm = stored(emulator, "n1-host")
    assert vm["guestAccelerators"][0]["acceleratorCount"] == 2 and vm["status"] == "RUNNING"
    assert vm["serviceAccounts"][0]["scopes"] == ["https://www.googleapis.com/auth/logging.write"]
    assert not run_module("compute_instance", wider)[1]["changed"]
