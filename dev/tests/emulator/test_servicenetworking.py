"""The emulator's Service Networking over real HTTP with google-auth: private services access connections."""

import pytest
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

CLOUD = "https://www.googleapis.com/auth/cloud-platform"
PEERING = "servicenetworking-googleapis-com"


@pytest.fixture
def world(emulator, sa_key_file):
    """Project p1 with network 'trading', ranges psa-a/psa-b on it, psa-x on 'other' and an EXTERNAL 'pub'."""
    emulator.add_project("p1", ["us-east4-a"])
    creds = service_account.Credentials.from_service_account_file(str(sa_key_file), scopes=[CLOUD])
    session = AuthorizedSession(creds)
    compute = f"{emulator.url}/compute/v1/projects/p1"
    for name in ("trading", "other"):
        assert session.post(f"{compute}/global/networks", json={"name": name, "autoCreateSubnetworks": False},
                            timeout=20).status_code == 200
    for name, net, address in (("psa-a", "trading", "10.100.0.0"), ("psa-b", "trading", "10.101.0.0"),
                               ("psa-x", "other", "10.100.0.0")):
        body = {"name": name, "addressType": "INTERNAL", "purpose": "VPC_PEERING", "prefixLength": 16,
                "address": address, "network": f"projects/p1/global/networks/{net}"}
        assert session.post(f"{compute}/global/addresses", json=body, timeout=20).status_code == 200
    assert session.post(f"{compute}/global/addresses", json={"name": "pub"}, timeout=20).status_code == 200
    number = session.get(compute, timeout=20).json()["id"]
    base = f"{emulator.url}/v1/services/servicenetworking.googleapis.com/connections"
    return session, base, f"projects/{number}/global/networks/trading", compute


def error(response, code, needle):
    assert response.status_code == code, response.text
    assert needle in response.json()["error"]["message"]


def test_connection_lifecycle(world, emulator):
    session, base, network, compute = world
    op = session.post(base, json={"network": network, "reservedPeeringRanges": ["psa-a"]}, timeout=20).json()
    assert op["done"] is True and op["name"].startswith("operations/")
    assert op["response"]["@type"].endswith("servicenetworking.v1.Connection")
    assert session.get(f"{emulator.url}/v1/{op['name']}", timeout=20).json() == op
    listed = session.get(base, params={"network": network}, timeout=20).json()["connections"]
    assert listed == [{"network": network, "reservedPeeringRanges": ["psa-a"], "peering": PEERING,
                       "service": "services/servicenetworking.googleapis.com"}]
    # the consumer network shows the peering, and can no longer be deleted
    peering = session.get(f"{compute}/global/networks/trading", timeout=20).json()["peerings"][0]
    assert peering["name"] == PEERING and peering["state"] == "ACTIVE"
    error(session.delete(f"{compute}/global/networks/trading", timeout=20), 400, "already being used")
    error(session.delete(f"{compute}/global/addresses/psa-a", timeout=20), 400, "already being used")

    error(session.post(base, json={"network": network, "reservedPeeringRanges": ["psa-b"]}, timeout=20), 400,
          "Please use UpdateConnection")
    patched = session.patch(f"{base}/-", params={"updateMask": "reservedPeeringRanges"},
                            json={"network": network, "reservedPeeringRanges": ["psa-a", "psa-b"]}, timeout=20)
    assert patched.json()["response"]["reservedPeeringRanges"] == ["psa-a", "psa-b"]
    error(session.patch(f"{base}/-", params={"updateMask": "reservedPeeringRanges"},
                        json={"network": network, "reservedPeeringRanges": ["psa-b"]}, timeout=20), 400, "force=true")
    forced = session.patch(f"{base}/-", params={"updateMask": "reservedPeeringRanges", "force": "true"},
                           json={"network": network, "reservedPeeringRanges": ["psa-b"]}, timeout=20)
    assert forced.json()["response"]["reservedPeeringRanges"] == ["psa-b"]

    sql = emulator.services["sqladmin"]
    sql.add_instance("p1", "db-us", region="us-east4", private_ip="10.100.0.5")
    sql.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["privateNetwork"] = \
        "projects/p1/global/networks/trading"
    error(session.post(f"{base}/{PEERING}", json={"consumerNetwork": network}, timeout=20), 400,
          "the managed service instances ['db-us'] use it")
    del sql.instances[("p1", "db-us")]
    gone = session.post(f"{base}/{PEERING}", json={"consumerNetwork": network}, timeout=20).json()
    assert gone["done"] and gone["response"]["@type"].endswith("protobuf.Empty")
    assert session.get(base, params={"network": network}, timeout=20).json() == {}
    error(session.post(f"{base}/{PEERING}", json={"consumerNetwork": network}, timeout=20), 404, "No private")
    assert session.delete(f"{compute}/global/addresses/psa-a", timeout=20).status_code == 200


@pytest.mark.parametrize(("ranges", "needle"), [
    ([], "At least one allocated IP range"),
    (["missing"], "'missing' not found"),
    (["pub"], "not an INTERNAL address with purpose VPC_PEERING"),
    (["psa-x"], "belongs to another network"),
])
def test_ranges_must_be_peering_ranges_of_the_network(world, ranges, needle):
    session, base, network, _compute = world
    error(session.post(base, json={"network": network, "reservedPeeringRanges": ranges}, timeout=20), 400, needle)


def test_requests_are_checked(world, emulator):
    session, base, network, _compute = world
    error(session.get(base, timeout=20), 400, "network is required")
    error(session.post(base, json={"network": network, "reservedPeeringRange": ["psa-a"]}, timeout=20), 400,
          'Unknown name "reservedPeeringRange"')
    error(session.post(base, json={"network": "projects/1/global/networks/trading",
                                   "reservedPeeringRanges": ["psa-a"]}, timeout=20), 404, "Project '1'")
    error(session.post(base, json={"network": network.replace("trading", "nope"),
                                   "reservedPeeringRanges": ["psa-a"]}, timeout=20), 404, "networks/nope")
    other = f"{emulator.url}/v1/services/example.googleapis.com/connections"
    error(session.get(other, params={"network": network}, timeout=20), 404, "not a peering service")
