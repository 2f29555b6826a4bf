"""service_networking_connection against the emulator: private services access created, re-run, ranges, absent."""

import pytest


@pytest.fixture
def psa(emulator, sa_key_file, run_module):
    """Project p1 with network 'trading' and two VPC_PEERING ranges, and the module arguments."""
    emulator.add_project("p1", ["us-east4-a"])
    args = {"project": "p1", "api_endpoint": emulator.url, "compute_endpoint": emulator.url,
            "auth_kind": "serviceaccount", "service_account_file": str(sa_key_file), "retry_backoff": 0.01,
            "retry_backoff_max": 0.02, "retries": 1, "wait_timeout": 5}
    compute = {k: v for k, v in args.items() if k != "compute_endpoint"}
    assert not run_module("compute_network", dict(compute, name="trading"))[0]
    for name, address in (("psa-a", "10.100.0.0"), ("psa-b", "10.101.0.0")):
        assert not run_module("compute_global_address", dict(compute, name=name, network="trading", address=address,
                                                             prefix_length=16))[0]
    return emulator.services["servicenetworking"], args, compute


def test_create_rerun_change_and_delete(run_module, psa, emulator):
    sn, args, compute = psa
    wanted = dict(args, network="trading", reserved_peering_ranges=["psa-a"])
    failed, result = run_module("service_networking_connection", wanted, check=True, diff=True)
    assert not failed and result["changed"] and result["created"] and not sn.connections
    assert result["diff"] == {"before": {}, "after": {"reservedPeeringRanges": ["psa-a"]}}

    failed, result = run_module("service_networking_connection", wanted)
    assert not failed and result["changed"] and len(result["operations"]) == 1
    number = emulator.compute.projects["p1"].number
    assert result["connection"]["network"] == f"projects/{number}/global/networks/trading"
    assert result["connection"]["peering"] == "servicenetworking-googleapis-com"
    peerings = emulator.services["compute_network"].network("p1", "trading")["peerings"]
    assert [p["name"] for p in peerings] == ["servicenetworking-googleapis-com"]
    failed, again = run_module("service_networking_connection", wanted)
    assert not failed and not again["changed"] and again["operations"] == []

    # a network a connection holds cannot be deleted, nor a range it holds
    failed, result = run_module("compute_global_address", dict(compute, name="psa-a", state="absent"))
    assert failed and "already being used" in result["msg"]

    failed, result = run_module("service_networking_connection", dict(wanted, reserved_peering_ranges=["psa-b",
                                                                                                       "psa-a"]))
    assert not failed and result["changed"]
    assert sorted(result["connection"]["reservedPeeringRanges"]) == ["psa-a", "psa-b"]
    emulator.clear_requests()
    failed, result = run_module("service_networking_connection", wanted)
    assert failed and result["kind"] == "force_needed" and "['psa-b']" in result["msg"]
    assert not [r for r in emulator.requests if r.method != "GET"]
    failed, result = run_module("service_networking_connection", dict(wanted, force=True))
    assert not failed and result["changed"] and result["connection"]["reservedPeeringRanges"] == ["psa-a"]

    failed, result = run_module("service_networking_connection", dict(args, network="trading", state="absent"))
    assert not failed and result["changed"] and not sn.connections
    failed, result = run_module("service_networking_connection", dict(args, network="trading", state="absent"))
    assert not failed and not result["changed"]


def test_api_refuses_a_range_that_is_no_peering_range(run_module, psa):
    _sn, args, _compute = psa
    failed, result = run_module("service_networking_connection", dict(args, network="trading",
                                                                      reserved_peering_ranges=["missing"]))
    assert failed and result["kind"] == "bad_request" and "Allocated IP range 'missing' not found" in result["msg"]
    failed, result = run_module("service_networking_connection", dict(args, network="nope",
                                                                      reserved_peering_ranges=["psa-a"]))
    assert failed and "networks/nope' was not found" in result["msg"]


def test_check_mode_before_the_network_exists(run_module, psa, emulator):
    sn, args, _compute = psa
    emulator.clear_requests()
    failed, result = run_module("service_networking_connection", dict(args, network="planned",
                                                                      reserved_peering_ranges=["psa-planned"]),
                                check=True)
    assert not failed and result["changed"] and result["created"] and not sn.connections
    assert not [r for r in emulator.requests if r.method != "GET"]
