"""compute_resource: the comparison rules, and ComputeResource against the emulator over real HTTP."""

import importlib

import pytest

from tests.unit.plugins.gce_helpers import gcp_modules

auth, client, _compute, errors = gcp_modules()
cr = importlib.import_module("ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute_resource")

URL = "https://www.googleapis.com/compute/v1/projects/p1/global/networks/trading"


def test_only_the_fields_set_are_compared():
    actual = {"name": "fw", "priority": 1000, "network": URL, "sourceRanges": ["10.0.0.0/8", "35.235.240.0/20"],
              "logConfig": {"enable": False}, "id": "123"}
    assert not cr.differs({"priority": 1000, "network": "projects/p1/global/networks/trading"}, actual)
    assert cr.differs({"priority": 900}, actual)
    assert cr.differs({"sourceRanges": ["35.235.240.0/20", "10.0.0.0/8"]}, actual)  # order matters by default
    assert not cr.differs({"sourceRanges": ["35.235.240.0/20", "10.0.0.0/8"]}, actual, ["sourceRanges"])
    assert cr.differs({"sourceRanges": ["35.235.240.0/20"]}, actual, ["sourceRanges"])
    assert not cr.differs({"logConfig": {"enable": False}, "disabled": False, "targetTags": []}, actual)
    assert cr.differs({"disabled": True}, actual)
    assert not cr.differs({"mtu": 8896}, {"mtu": "8896"})  # int64 fields arrive as strings
    assert cr.differs({"network": "projects/p1/global/networks/other"}, actual)
    nested = {"nats": [{"name": "n", "subnetworks": [{"name": URL + "/../a"}, {"name": "projects/p1/b"}]}]}
    assert not cr.differs({"nats": [{"subnetworks": [{"name": "projects/p1/b"}, {"name": URL + "/../a"}]}]},
                          nested, ["nats.subnetworks"])


def test_plan_and_diff_views():
    resource = cr.ComputeResource(None, "p1", "global", "firewalls", "fw", immutable={"direction": "re-create it"})
    actual = {"direction": "INGRESS", "priority": 1000, "sourceRanges": ["0.0.0.0/0"]}
    changes, blocked = resource.plan({"direction": "EGRESS", "priority": 1000, "sourceRanges": ["10.0.0.0/8"]},
                                     actual)
    assert changes == {"direction": "EGRESS", "sourceRanges": ["10.0.0.0/8"]} and blocked == ["direction"]
    message = str(resource.immutable_error(blocked, changes, actual))
    assert "direction is 'INGRESS', wanted 'EGRESS': re-create it" in message
    assert cr.project_view({"a": {"b": 1}}, {"a": {"b": 2, "c": 3}, "d": 4}) == {"a": {"b": 2}}
    assert cr.network_link("p1", "trading") == "projects/p1/global/networks/trading"
    assert cr.network_link("p1", URL) == "projects/p1/global/networks/trading"
    assert cr.network_link("p1", "global/networks/x") == "projects/p1/global/networks/x"


@pytest.fixture
def compute(emulator, sa_key_file):
    emulator.add_project("p1", ["us-east4-a"])
    c = client.GcpClient(auth.build_credentials({"auth_kind": "serviceaccount",
                                                 "service_account_file": str(sa_key_file)}),
                         retries=1, backoff_base=0.01, backoff_max=0.02)

    def resource(scope, collection, name, **kwargs):
        return cr.ComputeResource(c, "p1", scope, collection, name, endpoint=emulator.url, timeout=5, **kwargs)

    return resource


def test_regional_operations_are_polled_in_their_region_under_the_endpoint(compute, emulator):
    compute("global", "networks", "trading").ensure({"autoCreateSubnetworks": False})
    emulator.compute_operation_seconds = 0.3
    emulator.clear_requests()
    subnet = compute("regions/us-east4", "subnetworks", "s", fingerprint=True)
    result = subnet.ensure({"network": "projects/p1/global/networks/trading", "ipCidrRange": "10.1.0.0/24"})
    assert result["changed"] and result["created"] and result["resource"]["gatewayAddress"] == "10.1.0.1"
    polls = [r.path for r in emulator.requests if r.kind == "compute.regionOperations.get"]
    assert polls and all(p == f"/compute/v1/projects/p1/regions/us-east4/operations/{result['operations'][0]}"
                         for p in polls)
    # an update sends the current fingerprint with the change only
    emulator.clear_requests()
    result = subnet.ensure({"network": "projects/p1/global/networks/trading", "ipCidrRange": "10.1.0.0/24",
                            "privateIpGoogleAccess": True})
    patch = next(r for r in emulator.requests if r.kind == "compute.subnetworks.patch")
    assert set(patch.json()) == {"privateIpGoogleAccess", "fingerprint"}
    assert result["diff"]["before"] == {"privateIpGoogleAccess": False}
    assert result["diff"]["after"] == {"privateIpGoogleAccess": True}


def test_put_sends_the_whole_resource(compute, emulator):
    compute("global", "networks", "trading").ensure({"autoCreateSubnetworks": False})
    desired = {"network": "projects/p1/global/networks/trading", "allowed": [{"IPProtocol": "tcp"}],
               "sourceRanges": ["10.0.0.0/8"]}
    rule = compute("global", "firewalls", "fw", update_method="PUT")
    rule.ensure(desired)
    emulator.clear_requests()
    result = rule.ensure(dict(desired, sourceRanges=["10.1.0.0/16"]))
    assert result["changed"]
    put = next(r for r in emulator.requests if r.kind == "compute.firewalls.update")
    assert put.json()["name"] == "fw" and put.json()["allowed"] == [{"IPProtocol": "tcp"}]


def test_a_failed_operation_and_a_missing_reference(compute, emulator):
    failed = compute("global", "networks", "trading")
    with pytest.raises(errors.GcpError) as missing:
        compute("global", "firewalls", "fw").ensure({"network": "projects/p1/global/networks/trading",
                                                     "allowed": [{"IPProtocol": "tcp"}]})
    assert missing.value.kind == "not_found" and "something it names does not exist" in str(missing.value)
    from emulator.services.compute_ops import fail_next_compute_operation

    fail_next_compute_operation(emulator, "QUOTA_EXCEEDED", "Quota 'NETWORKS' exceeded.")
    with pytest.raises(errors.GcpError) as broken:
        failed.ensure({"autoCreateSubnetworks": False})
    assert broken.value.kind == "operation" and "QUOTA_EXCEEDED: Quota 'NETWORKS' exceeded." in str(broken.value)
    assert broken.value.operation == failed.operations[0]


def test_a_lost_answer_is_sent_again_with_the_same_request_id(compute, emulator):
    # the first insert is applied, but its answer arrives cut in half
    emulator.faults.add(path_regex=r"/global/networks$", method="POST", malformed=True, times=1)
    network = compute("global", "networks", "trading")
    result = network.ensure({"autoCreateSubnetworks": False, "mtu": 8896})
    assert result["changed"] and result["resource"]["mtu"] == 8896
    inserts = [r for r in emulator.requests if r.kind == "compute.networks.insert"]
    ids = [r.query["requestId"][-1] for r in inserts]
    assert len(inserts) == 2 and ids[0] == ids[1] and [r.status for r in inserts] == [200, 200]
    assert len(result["operations"]) == 1 and len(emulator.compute_operations) == 1
    # each call has its own ID
    network.ensure({"autoCreateSubnetworks": False, "mtu": 1500})
    patch = next(r for r in emulator.requests if r.kind == "compute.networks.patch")
    assert patch.query["requestId"][-1] != ids[0]
