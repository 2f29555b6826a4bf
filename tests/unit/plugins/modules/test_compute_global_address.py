"""compute_global_address against the emulator: the private services access range, re-run, check mode, refusals."""

import pytest

RANGE = "projects/p1/global/addresses/psa-trading"


@pytest.fixture
def net(emulator, sa_key_file, run_module):
    """Project p1 with network 'trading' and a subnetwork 10.89.7.0/24, and the module arguments."""
    emulator.add_project("p1", ["us-east4-a"])
    args = {"project": "p1", "api_endpoint": emulator.url, "auth_kind": "serviceaccount",
            "service_account_file": str(sa_key_file), "retry_backoff": 0.01, "retry_backoff_max": 0.02,
            "retries": 1, "wait_timeout": 5}
    assert not run_module("compute_network", dict(args, name="trading"))[0]
    assert not run_module("compute_subnetwork", dict(args, region="us-east4", name="trading-us", network="trading",
                                                     ip_cidr_range="10.89.7.0/24"))[0]
    return emulator.services["compute_network"], args


def test_create_rerun_check_absent(run_module, net):
    store, args = net
    wanted = dict(args, name="psa-trading", network="trading", address="10.100.0.0", prefix_length=16)
    failed, result = run_module("compute_global_address", wanted, check=True)
    assert not failed and result["changed"] and RANGE not in store.items
    failed, result = run_module("compute_global_address", wanted)
    assert not failed and result["changed"]
    item = store.items[RANGE]
    assert (item["address"], item["prefixLength"], item["purpose"], item["addressType"]) == (
        "10.100.0.0", 16, "VPC_PEERING", "INTERNAL")
    assert not run_module("compute_global_address", wanted)[1]["changed"]
    failed, result = run_module("compute_global_address", dict(wanted, address="10.101.0.0"))
    assert failed and result["kind"] == "immutable" and "address is '10.100.0.0', wanted '10.101.0.0'" in result["msg"]
    failed, result = run_module("compute_global_address", dict(args, name="psa-trading", state="absent"))
    assert not failed and result["changed"] and RANGE not in store.items


def test_the_api_picks_a_free_block(run_module, net):
    store, args = net
    failed, result = run_module("compute_global_address", dict(args, name="psa-trading", network="trading",
                                                               prefix_length=20))
    assert not failed and result["changed"]
    assert result["resource"]["address"] == store.items[RANGE]["address"]
    assert not run_module("compute_global_address", dict(args, name="psa-trading", network="trading",
                                                         prefix_length=20))[1]["changed"]


def test_refusals(run_module, net, emulator):
    _store, args = net
    failed, result = run_module("compute_global_address", dict(args, name="psa", network="trading",
                                                               address="10.89.0.0", prefix_length=16))
    assert failed and result["kind"] == "bad_request" and "conflicts with existing subnetwork 'trading-us'" in \
        result["msg"]
    emulator.clear_requests()
    failed, result = run_module("compute_global_address", dict(args, name="psa", network="trading",
                                                               address="10.100.0.1", prefix_length=16))
    assert failed and "not the first address of a /16" in result["msg"]
    failed, result = run_module("compute_global_address", dict(args, name="psa", network="trading", prefix_length=30))
    assert failed and "prefix_length 30 is outside 8..29" in result["msg"]
    assert not [r for r in emulator.requests if r.kind.startswith("compute.")]
