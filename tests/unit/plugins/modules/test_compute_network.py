"""compute_network against the emulator: create, unchanged re-run, check mode, drift with diff, absent, refusals."""

import pytest


@pytest.fixture
def net(emulator, sa_key_file):
    """An empty project p1 and the auth/endpoint arguments for modules."""
    emulator.add_project("p1", ["us-east4-a"])
    args = {"project": "p1", "api_endpoint": emulator.url, "auth_kind": "serviceaccount",
            "service_account_file": str(sa_key_file), "retry_backoff": 0.01, "retry_backoff_max": 0.02,
            "retries": 1, "wait_timeout": 5}
    return emulator.services["compute_network"], args


def test_create_rerun_drift_and_delete(run_module, net, emulator):
    store, args = net
    wanted = dict(args, name="trading", mtu=8896, routing_mode="REGIONAL")
    failed, result = run_module("compute_network", wanted, check=True, diff=True)
    assert not failed and result["changed"] and result["created"]
    assert result["diff"]["after"]["mtu"] == 8896 and result["operations"] == []
    assert store.network("p1", "trading") is None  # check mode created nothing

    failed, result = run_module("compute_network", wanted)
    assert not failed and result["changed"] and len(result["operations"]) == 1
    assert store.network("p1", "trading")["mtu"] == 8896
    assert store.network("p1", "trading")["autoCreateSubnetworks"] is False
    failed, again = run_module("compute_network", wanted)
    assert not failed and not again["changed"] and again["operations"] == []

    # drift made out of band: the MTU and the routing mode, corrected in place with a diff
    emulator.clear_requests()
    store.items["projects/p1/global/networks/trading"]["mtu"] = 1460
    store.items["projects/p1/global/networks/trading"]["routingConfig"] = {"routingMode": "GLOBAL"}
    failed, result = run_module("compute_network", wanted, diff=True)
    assert not failed and result["changed"] and not result["created"]
    assert result["diff"]["before"] == {"mtu": 1460, "routingConfig": {"routingMode": "GLOBAL"}}
    assert result["diff"]["after"] == {"mtu": 8896, "routingConfig": {"routingMode": "REGIONAL"}}
    patches = [r for r in emulator.requests if r.kind == "compute.networks.patch"]
    assert len(patches) == 1 and patches[0].json() == {"mtu": 8896, "routingConfig": {"routingMode": "REGIONAL"}}
    assert store.network("p1", "trading")["mtu"] == 8896

    failed, result = run_module("compute_network", dict(args, name="trading", state="absent"), check=True)
    assert not failed and result["changed"] and store.network("p1", "trading") is not None
    failed, result = run_module("compute_network", dict(args, name="trading", state="absent"))
    assert not failed and result["changed"] and store.network("p1", "trading") is None
    failed, result = run_module("compute_network", dict(args, name="trading", state="absent"))
    assert not failed and not result["changed"]


def test_operation_is_waited_for_under_the_endpoint(run_module, net, emulator):
    _store, args = net
    emulator.compute_operation_seconds = 0.4
    failed, result = run_module("compute_network", dict(args, name="trading"))
    assert not failed and result["changed"]
    polls = [r for r in emulator.requests if r.kind == "compute.globalOperations.get"]
    assert polls and polls[-1].path.endswith(result["operations"][0])


def test_operation_timeout_names_the_operation(run_module, net, emulator):
    _store, args = net
    from emulator.services.compute_ops import stall_compute_operations

    stall_compute_operations(emulator)
    failed, result = run_module("compute_network", dict(args, name="trading", wait_timeout=1))
    assert failed and result["kind"] == "timeout"
    assert "did not finish within 1.0 s" in result["msg"] and "gcloud compute operations describe" in result["msg"]


def test_refusals(run_module, net, emulator):
    _store, args = net
    failed, result = run_module("compute_network", dict(args, name="trading", mtu=9000))
    assert failed and "mtu 9000 is outside 1300..8896" in result["msg"]
    emulator.set_network("p1", "legacy", 1460)
    emulator.services["compute_network"].items["projects/p1/global/networks/auto"] = dict(
        emulator.services["compute_network"].network("p1", "legacy"), name="auto", autoCreateSubnetworks=True,
        selfLink=emulator.url + "/compute/v1/projects/p1/global/networks/auto")
    failed, result = run_module("compute_network", dict(args, name="auto"))
    assert failed and result["kind"] == "immutable"
    assert "autoCreateSubnetworks is True, wanted False" in result["msg"] and "switch-to-custom" in result["msg"]
    failed, result = run_module("compute_network", dict(args, project="nope", name="trading"))
    assert failed and "Project 'nope' was not found" in result["msg"]
