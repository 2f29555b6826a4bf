"""Compute resource policies over real HTTP: compact placement insert/get/list/delete, attaching them to
instances, and Compute's refusals (in use, full, running instance, wrong region)."""

import pytest
import requests

TOKEN = "policy-test-bearer"
PROJECT = "policy-p"
ZONE = "us-east4-a"
REGION = "us-east4"
BASE = f"projects/{PROJECT}"
POLICIES = f"{BASE}/regions/{REGION}/resourcePolicies"


@pytest.fixture
def api(emulator):
    """``call(method, path, body=None, **params)`` against /compute/v1/, with a VPC and subnetwork."""
    emulator.add_access_token(TOKEN)
    emulator.add_project(PROJECT)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"

    def call(method, path, body=None, **params):
        return session.request(method, f"{emulator.url}/compute/v1/{path}", json=body, params=params, timeout=30)

    assert call("POST", f"{BASE}/global/networks", {"name": "vpc", "autoCreateSubnetworks": False}).ok
    assert call(
        "POST",
        f"{BASE}/regions/{REGION}/subnetworks",
        {"name": "exchange", "network": "global/networks/vpc", "ipCidrRange": "10.10.0.0/24"},
    ).ok
    return call


def compact(name="engines", vm_count=2, max_distance=None):
    placement = {"collocation": "COLLOCATED", "vmCount": vm_count}
    if max_distance is not None:
        placement["maxDistance"] = max_distance
    return {"name": name, "groupPlacementPolicy": placement}


def instance(name, *policies):
    return {
        "name": name,
        "machineType": f"zones/{ZONE}/machineTypes/c3-standard-8",
        "networkInterfaces": [{"subnetwork": f"regions/{REGION}/subnetworks/exchange", "nicType": "GVNIC"}],
        "disks": [{"boot": True, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/d"}}],
        "resourcePolicies": [f"regions/{REGION}/resourcePolicies/{p}" for p in policies],
    }


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_insert_get_list_delete(api):
    op = ok(api("POST", POLICIES, compact()))
    assert op["operationType"] == "insert" and op["status"] == "DONE"
    assert op["region"].endswith(f"/regions/{REGION}") and f"/regions/{REGION}/operations/" in op["selfLink"]
    assert ok(api("GET", f"{BASE}/regions/{REGION}/operations/{op['name']}"))["status"] == "DONE"
    policy = ok(api("GET", f"{POLICIES}/engines"))
    assert policy["kind"] == "compute#resourcePolicy" and policy["status"] == "READY"
    assert policy["groupPlacementPolicy"] == {"collocation": "COLLOCATED", "vmCount": 2}
    assert policy["selfLink"].endswith(f"/{POLICIES}/engines")
    ok(api("POST", POLICIES, compact("other")))
    assert [p["name"] for p in ok(api("GET", POLICIES))["items"]] == ["engines", "other"]
    assert "items" not in ok(api("GET", f"{BASE}/regions/europe-west3/resourcePolicies"))
    assert ok(api("DELETE", f"{POLICIES}/other"))["operationType"] == "delete"
    assert error_of(api("GET", f"{POLICIES}/other"), 404)["errors"][0]["reason"] == "notFound"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        # maxDistance is a compute beta field: the v1 API does not know it
        (compact(max_distance=2), 'Unknown name "maxDistance"'),
        (compact(vm_count=1), "Must be between 2 and 1500."),
        (compact("Engines"), "Invalid value for field 'resource.name': 'Engines'"),
    ],
)
def test_insert_refuses_bad_values(api, body, needle):
    assert needle in error_of(api("POST", POLICIES, body), 400)["message"]


def test_a_second_policy_of_the_same_name_is_409(api):
    ok(api("POST", POLICIES, compact()))
    error = error_of(api("POST", POLICIES, compact()), 409)
    assert error["errors"][0]["reason"] == "alreadyExists"


def test_a_policy_in_use_is_not_deleted_and_a_full_one_takes_no_more(api):
    ok(api("POST", POLICIES, compact(vm_count=2)))
    ok(api("POST", f"{BASE}/zones/{ZONE}/instances", instance("e1", "engines")))
    ok(api("POST", f"{BASE}/zones/{ZONE}/instances", instance("e2", "engines")))
    full = error_of(api("POST", f"{BASE}/zones/{ZONE}/instances", instance("e3", "engines")), 400)
    assert full["errors"][0]["reason"] == "invalidResourceUsage" and "vmCount of 2" in full["message"]
    got = ok(api("GET", f"{BASE}/zones/{ZONE}/instances/e1"))
    assert got["resourcePolicies"] == [f"https://www.googleapis.com/compute/v1/{POLICIES}/engines"]
    error = error_of(api("DELETE", f"{POLICIES}/engines"), 400)
    assert error["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    assert error["message"] == (
        f"The resource_policy resource '{POLICIES}/engines' is already being used by "
        f"'projects/{PROJECT}/zones/{ZONE}/instances/e1'"
    )


def test_placement_changes_need_a_stopped_instance(api):
    ok(api("POST", POLICIES, compact()))
    ok(api("POST", f"{BASE}/zones/{ZONE}/instances", instance("e1")))
    path = f"{BASE}/zones/{ZONE}/instances/e1"
    attach = {"resourcePolicies": [f"regions/{REGION}/resourcePolicies/engines"]}
    error = error_of(api("POST", f"{path}/addResourcePolicies", attach), 400)
    assert "A placement policy can only be added to a stopped instance" in error["message"]
    assert "resourcePolicies" not in ok(api("GET", path))
    ok(api("POST", f"{path}/stop"))
    assert ok(api("POST", f"{path}/addResourcePolicies", attach))["operationType"] == "addResourcePolicies"
    assert ok(api("GET", path))["resourcePolicies"][0].endswith("/resourcePolicies/engines")
    ok(api("POST", f"{path}/start"))
    error = error_of(api("POST", f"{path}/removeResourcePolicies", attach), 400)
    assert "can only be removed from a stopped instance" in error["message"]
    ok(api("POST", f"{path}/stop"))
    ok(api("POST", f"{path}/removeResourcePolicies", attach))
    assert "resourcePolicies" not in ok(api("GET", path))
    ok(api("DELETE", f"{POLICIES}/engines"))


def test_a_policy_of_another_region_is_refused(api):
    ok(api("POST", f"{BASE}/regions/europe-west3/resourcePolicies", compact("eu")))
    body = instance("e1")
    body["resourcePolicies"] = ["regions/europe-west3/resourcePolicies/eu"]
    assert (
        "instance's region 'us-east4'" in error_of(api("POST", f"{BASE}/zones/{ZONE}/instances", body), 400)["message"]
    )
