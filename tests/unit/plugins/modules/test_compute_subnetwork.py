"""compute_subnetwork against the emulator: create, re-run, check mode, drift (Private Google Access), refusals."""

import pytest

SUBNET = "projects/p1/regions/us-east4/subnetworks/trading-us"


@pytest.fixture
def net(emulator, sa_key_file, run_module):
    """Project p1 with the custom-mode network 'trading', and the module arguments."""
    emulator.add_project("p1", ["us-east4-a"])
    args = {"project": "p1", "api_endpoint": emulator.url, "auth_kind": "serviceaccount",
            "service_account_file": str(sa_key_file), "retry_backoff": 0.01, "retry_backoff_max": 0.02,
            "retries": 1, "wait_timeout": 5}
    failed, _result = run_module("compute_network", dict(args, name="trading"))
    assert not failed
    return emulator.services["compute_network"], args


def test_create_rerun_check_drift_absent(run_module, net, emulator):
    store, args = net
    wanted = dict(args, region="us-east4", name="trading-us", network="trading", ip_cidr_range="10.89.7.0/24",
                  private_ip_google_access=True)
    failed, result = run_module("compute_subnetwork", wanted, check=True, diff=True)
    assert not failed and result["changed"] and result["created"] and SUBNET not in store.items
    failed, result = run_module("compute_subnetwork", wanted)
    assert not failed and result["changed"]
    item = store.items[SUBNET]
    assert (item["ipCidrRange"], item["privateIpGoogleAccess"]) == ("10.89.7.0/24", True)
    assert item["gatewayAddress"] == "10.89.7.1"
    assert item["network"].endswith("/projects/p1/global/networks/trading")
    assert store.network("p1", "trading")["subnetworks"][0].endswith(SUBNET)
    failed, again = run_module("compute_subnetwork", wanted)
    assert not failed and not again["changed"]

    item["privateIpGoogleAccess"] = False  # drift out of band
    fingerprint = item["fingerprint"]
    emulator.clear_requests()
    failed, result = run_module("compute_subnetwork", wanted, diff=True)
    assert not failed and result["changed"]
    assert result["diff"] == {"before": {"privateIpGoogleAccess": False}, "after": {"privateIpGoogleAccess": True},
                              "before_header": SUBNET, "after_header": SUBNET}
    patch = next(r for r in emulator.requests if r.kind == "compute.subnetworks.patch")
    assert patch.json() == {"privateIpGoogleAccess": True, "fingerprint": fingerprint}
    assert store.items[SUBNET]["privateIpGoogleAccess"] is True

    failed, result = run_module("compute_subnetwork", dict(args, region="us-east4", name="trading-us",
                                                           state="absent"))
    assert not failed and result["changed"] and SUBNET not in store.items


def test_a_new_range_is_reported_not_applied(run_module, net):
    store, args = net
    wanted = dict(args, region="us-east4", name="trading-us", network="trading", ip_cidr_range="10.89.7.0/24")
    assert not run_module("compute_subnetwork", wanted)[0]
    failed, result = run_module("compute_subnetwork", dict(wanted, ip_cidr_range="10.89.8.0/24"), check=True)
    assert failed and result["kind"] == "immutable"
    assert "ipCidrRange is '10.89.7.0/24', wanted '10.89.8.0/24'" in result["msg"]
    assert "widened in place, to a range that contains it" in result["msg"] and "Nothing was changed" in result["msg"]
    assert store.items[SUBNET]["ipCidrRange"] == "10.89.7.0/24"


def test_a_wider_range_is_applied_in_place(run_module, net, emulator):
    store, args = net
    wanted = dict(args, region="us-east4", name="trading-us", network="trading", ip_cidr_range="10.89.7.0/24")
    assert not run_module("compute_subnetwork", wanted)[0]
    item_id = store.items[SUBNET]["id"]
    wider = dict(wanted, ip_cidr_range="10.89.6.0/23", private_ip_google_access=True)
    failed, result = run_module("compute_subnetwork", wider, check=True, diff=True)
    assert not failed and result["changed"] and store.items[SUBNET]["ipCidrRange"] == "10.89.7.0/24"
    assert result["diff"]["before"]["ipCidrRange"] == "10.89.7.0/24"
    assert result["diff"]["after"] == {"ipCidrRange": "10.89.6.0/23", "privateIpGoogleAccess": True}
    emulator.clear_requests()
    failed, result = run_module("compute_subnetwork", wider, diff=True)
    assert not failed and result["changed"] and len(result["operations"]) == 2
    assert [r.kind for r in emulator.requests if r.method != "GET"] == [
        "compute.subnetworks.expandIpCidrRange", "compute.subnetworks.patch"]
    item = store.items[SUBNET]
    assert (item["ipCidrRange"], item["privateIpGoogleAccess"], item["id"]) == ("10.89.6.0/23", True, item_id)
    assert not run_module("compute_subnetwork", wider)[1]["changed"]


def test_api_refusals_reach_the_user(run_module, net):
    _store, args = net
    base = dict(args, region="us-east4", network="trading")
    assert not run_module("compute_subnetwork", dict(base, name="a", ip_cidr_range="10.89.0.0/20"))[0]
    failed, result = run_module("compute_subnetwork", dict(base, region="europe-west3", name="b",
                                                           ip_cidr_range="10.89.7.0/24"))
    assert failed and result["kind"] == "bad_request"
    assert "conflicts with existing subnetwork 'a' in region 'us-east4'" in result["msg"]
    failed, result = run_module("compute_subnetwork", dict(base, name="c", network="nope", ip_cidr_range="10.1.0.0/24"))
    assert failed and result["kind"] == "not_found" and "something it names does not exist" in result["msg"]
    assert "projects/p1/global/networks/nope" in result["msg"]


def test_bad_range_fails_before_any_call(run_module, net, emulator):
    _store, args = net
    emulator.clear_requests()
    failed, result = run_module("compute_subnetwork", dict(args, region="us-east4", name="x", network="trading",
                                                           ip_cidr_range="10.89.7.5/24"))
    assert failed and "host bits zero" in result["msg"]
    failed, result = run_module("compute_subnetwork", dict(args, region="us-east4", name="x", network="trading",
                                                           ip_cidr_range="10.89.7.0/30"))
    assert failed and "from /8 to /29" in result["msg"]
    assert not [r for r in emulator.requests if r.kind.startswith("compute.")]
