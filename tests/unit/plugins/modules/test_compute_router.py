"""compute_router against the emulator: Cloud NAT created, re-run, check mode, NAT drift corrected, refusals."""

import pytest

ROUTER = "projects/p1/regions/us-east4/routers/trading-router"


@pytest.fixture
def net(emulator, sa_key_file, run_module):
    """Project p1 with network 'trading' and a us-east4 subnetwork, and the module arguments."""
    emulator.add_project("p1", ["us-east4-a"])
    args = {"project": "p1", "api_endpoint": emulator.url, "auth_kind": "serviceaccount",
            "service_account_file": str(sa_key_file), "retry_backoff": 0.01, "retry_backoff_max": 0.02,
            "retries": 1, "wait_timeout": 5}
    assert not run_module("compute_network", dict(args, name="trading"))[0]
    assert not run_module("compute_subnetwork", dict(args, region="us-east4", name="trading-us", network="trading",
                                                     ip_cidr_range="10.89.7.0/24"))[0]
    return emulator.services["compute_network"], args


def router(args, **nat):
    """The router's arguments with a NAT (``nat`` overrides its options)."""
    return dict(args, region="us-east4", name="trading-router", network="trading",
                nat=dict({"name": "trading-nat", "min_ports_per_vm": 128}, **nat))


def test_create_rerun_check_drift_absent(run_module, net, emulator):
    store, args = net
    failed, result = run_module("compute_router", router(args), check=True, diff=True)
    assert not failed and result["changed"] and ROUTER not in store.items
    assert result["diff"]["after"]["nats"][0]["natIpAllocateOption"] == "AUTO_ONLY"
    failed, result = run_module("compute_router", router(args))
    assert not failed and result["changed"] and result["operations"]
    nat = store.items[ROUTER]["nats"][0]
    assert (nat["name"], nat["sourceSubnetworkIpRangesToNat"], nat["minPortsPerVm"], nat["logConfig"]) == (
        "trading-nat", "ALL_SUBNETWORKS_ALL_IP_RANGES", 128, {"enable": True, "filter": "ERRORS_ONLY"})
    assert not run_module("compute_router", router(args))[1]["changed"]

    nat["minPortsPerVm"] = 32  # drift
    emulator.clear_requests()
    failed, result = run_module("compute_router", router(args), diff=True)
    assert not failed and result["changed"]
    assert result["diff"]["before"]["nats"][0]["minPortsPerVm"] == 32
    assert result["diff"]["after"]["nats"][0]["minPortsPerVm"] == 128
    assert [r.kind for r in emulator.requests if r.method != "GET"] == ["compute.routers.patch"]
    assert store.items[ROUTER]["nats"][0]["minPortsPerVm"] == 128

    failed, result = run_module("compute_router", router(args, source_subnetwork_ip_ranges="LIST_OF_SUBNETWORKS",
                                                         subnetworks=["trading-us"], log="NONE"))
    assert not failed and result["changed"]
    nat = store.items[ROUTER]["nats"][0]
    assert nat["subnetworks"][0]["name"].endswith("/projects/p1/regions/us-east4/subnetworks/trading-us")
    assert nat["logConfig"]["enable"] is False
    assert not run_module("compute_router", router(args, source_subnetwork_ip_ranges="LIST_OF_SUBNETWORKS",
                                                   subnetworks=["trading-us"], log="NONE"))[1]["changed"]

    failed, result = run_module("compute_router", dict(args, region="us-east4", name="trading-router",
                                                       state="absent"))
    assert not failed and result["changed"] and ROUTER not in store.items


def test_refusals(run_module, net):
    _store, args = net
    failed, result = run_module("compute_router", router(args, source_subnetwork_ip_ranges="LIST_OF_SUBNETWORKS"))
    assert failed and "nat.subnetworks goes with" in result["msg"]
    assert not run_module("compute_router", router(args))[0]
    # a second router whose NAT also covers every subnetwork of the network in the region: the API refuses
    failed, result = run_module("compute_router", dict(router(args), name="second"))
    assert failed and result["kind"] == "bad_request" and "already covers every subnetwork" in result["msg"]
