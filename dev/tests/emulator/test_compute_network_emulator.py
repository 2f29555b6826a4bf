"""The emulator's VPC resources over real HTTP with google-auth: Compute's refusals, operations, the lab's networks."""

import time

import pytest
import requests
from emulator.services.compute_ops import new_operation
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

CLOUD = "https://www.googleapis.com/auth/cloud-platform"
READONLY = "https://www.googleapis.com/auth/compute.readonly"


@pytest.fixture
def api(emulator, sa_key_file):
    """``api(method, path, body=None, **params) -> response`` on project p1 (path after projects/p1/)."""
    emulator.add_project("p1", ["us-east4-a", "europe-west3-b"])
    creds = service_account.Credentials.from_service_account_file(str(sa_key_file), scopes=[CLOUD])
    session = AuthorizedSession(creds)

    def call(method, path, body=None, **params):
        url = f"{emulator.url}/compute/v1/projects/p1" + (f"/{path}" if path else "")
        return session.request(method, url, json=body, params=params, timeout=20)

    call.session = session
    return call


def ok(response):
    """The JSON of a 2xx response (the test fails with the body otherwise)."""
    assert response.status_code == 200, response.text
    return response.json()


def refused(response, code, needle):
    """Assert a Google error with ``code`` whose message holds ``needle``; return its reason."""
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert needle in error["message"], error["message"]
    return error["errors"][0]["reason"]


def network(api, name="trading", **extra):
    return ok(api("POST", "global/networks", dict({"name": name, "autoCreateSubnetworks": False}, **extra)))


def subnet(api, name, cidr, region="us-east4", net="trading"):
    return api("POST", f"regions/{region}/subnetworks",
               {"name": name, "network": f"projects/p1/global/networks/{net}", "ipCidrRange": cidr})


def test_network_lifecycle_and_googles_shapes(api):
    op = network(api, mtu=8896)
    assert op["kind"] == "compute#operation" and op["operationType"] == "insert" and op["status"] == "DONE"
    assert op["selfLink"].startswith("https://compute.googleapis.com/compute/v1/projects/p1/global/operations/")
    assert op["targetLink"] == "https://compute.googleapis.com/compute/v1/projects/p1/global/networks/trading"
    assert op["user"] == "sa@proj.iam.gserviceaccount.com"  # who asked for it
    got = ok(api("GET", "global/networks/trading"))
    assert (got["mtu"], got["autoCreateSubnetworks"], got["routingConfig"]) == (8896, False,
                                                                              {"routingMode": "REGIONAL"})
    duplicate = api("POST", "global/networks", {"name": "trading", "autoCreateSubnetworks": False})
    assert refused(duplicate, 409, "'projects/p1/global/networks/trading' already exists") == "alreadyExists"
    ok(api("PATCH", "global/networks/trading", {"mtu": 1500, "routingConfig": {"routingMode": "GLOBAL"}}))
    got = ok(api("GET", "global/networks/trading"))
    assert (got["mtu"], got["routingConfig"]["routingMode"]) == (1500, "GLOBAL")
    refused(api("PATCH", "global/networks/trading", {"autoCreateSubnetworks": True}), 400,
            "Only routingConfig and mtu can be changed")
    assert [n["name"] for n in ok(api("GET", "global/networks"))["items"]] == ["trading"]
    assert ok(api("DELETE", "global/networks/trading"))["operationType"] == "delete"
    refused(api("GET", "global/networks/trading"), 404, "was not found")


@pytest.mark.parametrize(("body", "needle"), [
    ({"name": "n", "autoCreateSubnetworks": False, "mtu": 9000}, "less than or equal to 8896"),
    ({"name": "n", "autoCreateSubnetworks": False, "mtu": 1200}, "greater than or equal to 1300"),
    ({"name": "n"}, "Legacy networks are no longer supported"),
    ({"name": "N_1", "autoCreateSubnetworks": False}, "Must be a match of regex"),
    ({"name": "n", "autoCreateSubnetworks": False, "mtuu": 1460}, 'Unknown name "mtuu"'),
])
def test_network_refusals(api, body, needle):
    refused(api("POST", "global/networks", body), 400, needle)


def test_a_read_only_token_cannot_insert(emulator, api):
    emulator.add_access_token("net-readonly", scopes=[READONLY])
    url = f"{emulator.url}/compute/v1/projects/p1/global/networks"
    headers = {"Authorization": "Bearer net-readonly"}
    assert requests.get(url, headers=headers, timeout=20).status_code == 200
    response = requests.post(url, json={"name": "n", "autoCreateSubnetworks": False}, headers=headers, timeout=20)
    refused(response, 403, "insufficient authentication scopes")


def test_the_labs_networks_are_served_and_copied_on_patch(emulator, api):
    emulator.set_network("p1", "lab-net", 8896)
    emulator.add_instances("p1", [{"name": "engine-us-1", "zone": "us-east4-a", "networkInterfaces": [
        {"network": "https://www.googleapis.com/compute/v1/projects/p1/global/networks/lab-net"}]}])
    assert ok(api("GET", "global/networks/lab-net"))["mtu"] == 8896
    assert "lab-net" in [n["name"] for n in ok(api("GET", "global/networks"))["items"]]
    refused(api("POST", "global/networks", {"name": "lab-net", "autoCreateSubnetworks": False}), 409,
            "already exists")
    ok(api("PATCH", "global/networks/lab-net", {"routingConfig": {"routingMode": "GLOBAL"}}))
    got = ok(api("GET", "global/networks/lab-net"))
    assert (got["mtu"], got["routingConfig"]["routingMode"]) == (8896, "GLOBAL")
    assert emulator.compute.projects["p1"].networks["lab-net"] == 8896  # the lab's record is never changed
    refused(api("DELETE", "global/networks/lab-net"), 400, "already being used by "
            "'projects/p1/zones/us-east4-a/instances/engine-us-1'")


def test_subnetwork_ranges_are_checked_across_the_network(api):
    network(api)
    ok(subnet(api, "us", "10.89.7.0/24"))
    refused(subnet(api, "eu", "10.89.0.0/16", region="europe-west3"), 400,
            "conflicts with existing subnetwork 'us' in region 'us-east4'")
    refused(subnet(api, "us", "10.90.0.0/24"), 409, "already exists")
    refused(subnet(api, "tiny", "10.91.0.0/30"), 400, "between /8 and /29")
    refused(subnet(api, "bad", "10.91.0.1/24"), 400, "Invalid IPCidrRange")
    refused(subnet(api, "lost", "10.92.0.0/24", net="nope"), 404, "projects/p1/global/networks/nope")
    ok(api("POST", "global/addresses", {"name": "psa", "network": "projects/p1/global/networks/trading",
                                         "purpose": "VPC_PEERING", "addressType": "INTERNAL",
                                         "address": "10.100.0.0", "prefixLength": 16}))
    refused(subnet(api, "inpsa", "10.100.4.0/24"), 400, "private services access range 'psa'")
    network(api, "auto", autoCreateSubnetworks=True)
    refused(subnet(api, "x", "10.128.4.0/24", net="auto"), 400, "auto-mode network reserves")
    other = network(api, "other")
    assert other["status"] == "DONE"
    ok(subnet(api, "same-range-elsewhere", "10.89.7.0/24", net="other"))  # another network may reuse it


def test_subnetwork_patch_needs_the_fingerprint(api):
    network(api)
    ok(subnet(api, "us", "10.89.7.0/24"))
    current = ok(api("GET", "regions/us-east4/subnetworks/us"))
    refused(api("PATCH", "regions/us-east4/subnetworks/us", {"privateIpGoogleAccess": True}), 400, "fingerprint")
    refused(api("PATCH", "regions/us-east4/subnetworks/us", {"privateIpGoogleAccess": True,
                                                              "fingerprint": "c3RhbGU="}), 412, "fingerprint")
    refused(api("PATCH", "regions/us-east4/subnetworks/us", {"ipCidrRange": "10.89.6.0/23",
                                                              "fingerprint": current["fingerprint"]}), 400,
            "expandIpCidrRange")
    ok(api("PATCH", "regions/us-east4/subnetworks/us", {"privateIpGoogleAccess": True,
                                                         "fingerprint": current["fingerprint"]}))
    after = ok(api("GET", "regions/us-east4/subnetworks/us"))
    assert after["privateIpGoogleAccess"] is True and after["fingerprint"] != current["fingerprint"]


def test_a_subnetwork_range_only_widens(api):
    network(api)
    ok(subnet(api, "us", "10.89.7.0/24"))
    ok(subnet(api, "next", "10.89.8.0/24"))
    expand = "regions/us-east4/subnetworks/us/expandIpCidrRange"
    refused(api("POST", expand, {"ipCidrRange": "10.89.7.0/25"}), 400, "cannot shrink")
    refused(api("POST", expand, {"ipCidrRange": "10.90.0.0/16"}), 400, "must contain")
    refused(api("POST", expand, {"ipCidrRange": "10.89.0.0/16"}), 400, "conflicts with existing subnetwork 'next'")
    assert ok(api("POST", expand, {"ipCidrRange": "10.89.6.0/23"}))["operationType"] == "expandIpCidrRange"
    got = ok(api("GET", "regions/us-east4/subnetworks/us"))
    assert got["ipCidrRange"] == "10.89.6.0/23"


FW = {"name": "fw", "network": "projects/p1/global/networks/trading"}


@pytest.mark.parametrize(("body", "needle"), [
    (dict(FW, allowed=[{"IPProtocol": "tcp"}], denied=[{"IPProtocol": "udp"}]), "Exactly one of 'allowed'"),
    (dict(FW), "Exactly one of 'allowed'"),
    (dict(FW, allowed=[{"IPProtocol": "icmp", "ports": ["22"]}]), "Ports may only be specified"),
    (dict(FW, allowed=[{"IPProtocol": "tcp", "ports": ["70000"]}]), "Invalid port"),
    (dict(FW, allowed=[{"IPProtocol": "tcp"}], priority=70000), "less than or equal to 65535"),
    (dict(FW, allowed=[{"IPProtocol": "tcp"}], sourceRanges=["1.2.3.4/40"]), "Invalid IPCidrRange"),
    (dict(FW, allowed=[{"IPProtocol": "tcp"}], direction="EGRESS", sourceTags=["a"]), "EGRESS"),
    (dict(FW, allowed=[{"IPProtocol": "tcp"}], direction="SIDEWAYS"), "Direction"),
])
def test_firewall_refusals(api, body, needle):
    network(api)
    refused(api("POST", "global/firewalls", body), 400, needle)


def test_firewall_defaults_patch_and_put(api):
    network(api)
    ok(api("POST", "global/firewalls", dict(FW, allowed=[{"IPProtocol": "tcp", "ports": ["22"]}])))
    rule = ok(api("GET", "global/firewalls/fw"))
    assert (rule["direction"], rule["priority"], rule["sourceRanges"], rule["disabled"]) == (
        "INGRESS", 1000, ["0.0.0.0/0"], False)
    ok(api("PATCH", "global/firewalls/fw", {"sourceRanges": ["35.235.240.0/20"]}))
    assert ok(api("GET", "global/firewalls/fw"))["sourceRanges"] == ["35.235.240.0/20"]
    refused(api("PATCH", "global/firewalls/fw", {"direction": "EGRESS"}), 400, "cannot be changed")
    network(api, "other")
    refused(api("PATCH", "global/firewalls/fw", {"network": "projects/p1/global/networks/other"}), 400,
            "cannot be changed")
    ok(api("PUT", "global/firewalls/fw", dict(FW, denied=[{"IPProtocol": "udp"}], sourceRanges=["10.0.0.0/8"])))
    rule = ok(api("GET", "global/firewalls/fw"))
    assert "allowed" not in rule and rule["denied"] == [{"IPProtocol": "udp"}]
    refused(api("DELETE", "global/networks/trading"), 400, "already being used by 'projects/p1/global/firewalls/fw'")


NAT = {"name": "nat", "natIpAllocateOption": "AUTO_ONLY",
       "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}


def router(api, name, nats, region="us-east4"):
    return api("POST", f"regions/{region}/routers",
               {"name": name, "network": "projects/p1/global/networks/trading", "nats": nats})


def test_router_nat_rules(api):
    network(api)
    ok(subnet(api, "us", "10.89.7.0/24"))
    ok(subnet(api, "eu", "10.89.8.0/24", region="europe-west3"))
    refused(router(api, "r0", [{"name": "nat", "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}]),
            400, "AUTO_ONLY or MANUAL_ONLY")
    refused(router(api, "r0", [NAT, NAT]), 400, "unique")
    refused(router(api, "r0", [dict(NAT, sourceSubnetworkIpRangesToNat="LIST_OF_SUBNETWORKS",
                                    subnetworks=[{"name": "projects/p1/regions/europe-west3/subnetworks/eu"}])]),
            400, "router's network and region")
    ok(router(api, "r1", [NAT]))
    refused(router(api, "r2", [dict(NAT, name="nat2")]), 400, "already covers every subnetwork")
    ok(router(api, "r2", [NAT], region="europe-west3"))  # another region may
    ok(api("PATCH", "regions/us-east4/routers/r1", {"nats": [dict(
        NAT, sourceSubnetworkIpRangesToNat="LIST_OF_SUBNETWORKS",
        subnetworks=[{"name": "projects/p1/regions/us-east4/subnetworks/us"}])]}))
    refused(api("DELETE", "regions/us-east4/subnetworks/us"), 400,
            "already being used by 'projects/p1/regions/us-east4/routers/r1'")
    ok(api("DELETE", "regions/us-east4/routers/r1"))
    ok(api("DELETE", "regions/us-east4/subnetworks/us"))


@pytest.mark.parametrize(("body", "needle"), [
    ({"name": "a", "addressType": "INTERNAL"}, "must have purpose VPC_PEERING"),
    ({"name": "a", "addressType": "INTERNAL", "purpose": "VPC_PEERING", "prefixLength": 16}, "needs the network"),
    ({"name": "a", "addressType": "INTERNAL", "purpose": "VPC_PEERING",
      "network": "projects/p1/global/networks/trading"}, "needs a prefix length"),
    ({"name": "a", "addressType": "EXTERNAL", "purpose": "VPC_PEERING", "prefixLength": 16,
      "network": "projects/p1/global/networks/trading"}, "must be an INTERNAL address"),
    ({"name": "a", "addressType": "INTERNAL", "purpose": "VPC_PEERING", "prefixLength": 16,
      "address": "10.89.0.0", "network": "projects/p1/global/networks/trading"}, "conflicts with existing subnetwork"),
])
def test_global_address_refusals(api, body, needle):
    network(api)
    ok(subnet(api, "us", "10.89.7.0/24"))
    refused(api("POST", "global/addresses", body), 400, needle)


def test_an_allocated_range_avoids_what_the_network_holds(api):
    network(api)
    ok(subnet(api, "us", "10.0.0.0/20"))
    ok(api("POST", "global/addresses", {"name": "psa", "addressType": "INTERNAL", "purpose": "VPC_PEERING",
                                         "prefixLength": 16, "network": "projects/p1/global/networks/trading"}))
    got = ok(api("GET", "global/addresses/psa"))
    assert got["address"] == "10.1.0.0" and got["prefixLength"] == 16 and got["status"] == "RESERVED"
    assert [a["name"] for a in ok(api("GET", "global/addresses"))["items"]] == ["psa"]
    refused(api("DELETE", "global/networks/trading"), 400, "already being used")


def test_operations_get_and_wait_in_every_scope(emulator, api):
    emulator.compute_operation_seconds = 0.5
    op = network(api)
    assert op["status"] == "RUNNING"
    assert ok(api("GET", f"global/operations/{op['name']}"))["status"] == "RUNNING"
    started = time.monotonic()
    done = ok(api("POST", f"global/operations/{op['name']}/wait"))
    assert done["status"] == "DONE" and done["progress"] == 100 and "endTime" in done
    assert 0.2 < time.monotonic() - started < 5
    regional = subnet(api, "us", "10.89.7.0/24").json()
    assert regional["region"].endswith("/regions/us-east4")
    assert ok(api("POST", f"regions/us-east4/operations/{regional['name']}/wait"))["status"] == "DONE"
    refused(api("GET", f"regions/europe-west3/operations/{regional['name']}"), 404, "was not found")
    zonal = new_operation(emulator, "p1", "zones/us-east4-a", "start",
                          "https://www.googleapis.com/compute/v1/projects/p1/zones/us-east4-a/instances/vm",
                          error={"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": "No capacity."}]},
                          seconds=0)
    failed = ok(api("GET", f"zones/us-east4-a/operations/{zonal['name']}"))
    assert failed["status"] == "DONE" and failed["error"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED"
    assert failed["httpErrorStatusCode"] == 400 and failed["zone"].endswith("/zones/us-east4-a")


def test_a_repeated_request_id_answers_the_first_operation(api):
    network(api)
    ok(api("POST", "global/firewalls", dict(FW, allowed=[{"IPProtocol": "tcp"}])))
    first = ok(api("PATCH", "global/firewalls/fw", {"priority": 900}, requestId="0b6e8a58-3c3e-4bd5-9d64-b3d1c2b0e6f1"))
    again = ok(api("PATCH", "global/firewalls/fw", {"priority": 800}, requestId="0b6e8a58-3c3e-4bd5-9d64-b3d1c2b0e6f1"))
    assert again["name"] == first["name"]
    assert ok(api("GET", "global/firewalls/fw"))["priority"] == 900  # the repeat changed nothing
    other = ok(api("PATCH", "global/firewalls/fw", {"priority": 800}, requestId="5d0f8c1e-0c55-4e43-a0f5-0e9d7f4c2a10"))
    assert other["name"] != first["name"] and ok(api("GET", "global/firewalls/fw"))["priority"] == 800


def test_lists_page_and_filter(api):
    network(api)
    for index in range(5):
        ok(api("POST", "global/firewalls", dict(FW, name=f"fw-{index}", priority=1000 + index,
                                                 allowed=[{"IPProtocol": "tcp"}])))
    names, token, pages = [], None, 0
    while True:
        page = ok(api("GET", "global/firewalls", maxResults=2, **({"pageToken": token} if token else {})))
        names += [item["name"] for item in page["items"]]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert names == [f"fw-{index}" for index in range(5)] and pages == 3
    refused(api("GET", "global/firewalls", pageToken="bm90LWEtdG9rZW4"), 400, "page token is invalid")
    picked = ok(api("GET", "global/firewalls", filter="priority > 1002"))["items"]
    assert [item["name"] for item in picked] == ["fw-3", "fw-4"]
