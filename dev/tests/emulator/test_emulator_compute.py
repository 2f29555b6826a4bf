"""Compute v1 listing over real HTTP: pagination, partial responses, gzip, errors, filters."""

import gzip
import json
import socket
from pathlib import Path

import pytest
import requests

TOKEN = "ya29.test-token"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "emulator" / "gce"


@pytest.fixture
def api(emulator):
    """GET helper for Compute paths with a registered bearer token."""
    emulator.add_access_token(TOKEN)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"

    def get(path, **params):
        return session.get(f"{emulator.url}/compute/v1/{path}", params=params, timeout=20)

    return get


def _instance(project, zone, name, **extra):
    base = f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}"
    return {"kind": "compute#instance", "name": name, "zone": base, "selfLink": f"{base}/instances/{name}", **extra}


def _walk(api, path, **params):
    """Every page of a listing, following nextPageToken."""
    pages = []
    while True:
        response = api(path, **params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        token = pages[-1].get("nextPageToken")
        if not token:
            return pages
        params["pageToken"] = token


def _names(pages):
    return [i["name"] for p in pages for scoped in p["items"].values() for i in scoped.get("instances", [])]


def test_aggregated_pagination_walks_every_instance_once(emulator, api):
    projects = emulator.generate(1203, projects=1, zones=6, seed=7)
    emulator.add_project(projects[0], ["asia-east1-a"])  # a zone without instances
    pages = _walk(api, f"projects/{projects[0]}/aggregated/instances")
    assert len(pages) == 3
    names = _names(pages)
    assert len(names) == len(set(names)) == 1203
    assert [sum(len(s.get("instances", [])) for s in p["items"].values()) for p in pages] == [500, 500, 203]
    warnings = [k for p in pages for k, s in p["items"].items() if "warning" in s]
    assert warnings == ["zones/asia-east1-a"]
    small = _walk(api, f"projects/{projects[0]}/aggregated/instances", maxResults=97)
    assert len(small) == 13
    assert _names(small) == names


def test_max_results_bounds(emulator, api):
    emulator.generate(20, projects=["p1"], zones=2)
    assert len(_names([api("projects/p1/aggregated/instances", maxResults=0).json()])) == 20
    assert len(_names([api("projects/p1/aggregated/instances", maxResults=500).json()])) == 20
    assert len(_names([api("projects/p1/aggregated/instances", maxResults=3).json()])) == 3
    too_big = api("projects/p1/aggregated/instances", maxResults=501)
    assert too_big.status_code == 400
    assert too_big.json()["error"]["message"] == (
        "Invalid value for field 'maxResults': '501'. Must be less than or equal to 500"
    )
    for bad in ("-1", "ten"):
        response = api("projects/p1/aggregated/instances", maxResults=bad)
        assert response.status_code == 400
        assert "max_results" in response.json()["error"]["message"]


def test_page_tokens_are_checked(emulator, api):
    emulator.generate(30, projects=["p1"], zones=2)
    first = api("projects/p1/aggregated/instances", maxResults=10).json()
    token = first["nextPageToken"]
    assert api("projects/p1/aggregated/instances", maxResults=10, pageToken=token).status_code == 200
    for bad in ("garbage", token[:-2] + "AA"):
        response = api("projects/p1/aggregated/instances", pageToken=bad)
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("Invalid value for field 'pageToken'")
    other_query = api("projects/p1/aggregated/instances", pageToken=token, filter="status = RUNNING")
    assert other_query.status_code == 400


def test_zonal_list_zones_list_and_get(emulator, api):
    emulator.add_instances("p1", [_instance("p1", "us-east1-b", f"vm-{i}") for i in range(7)])
    emulator.add_project("p1", ["us-east1-c"])
    pages = _walk(api, "projects/p1/zones/us-east1-b/instances", maxResults=3)
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert pages[0]["kind"] == "compute#instanceList"
    assert pages[0]["id"] == "projects/p1/zones/us-east1-b/instances"
    empty = api("projects/p1/zones/us-east1-c/instances").json()
    assert "items" not in empty
    zones = api("projects/p1/zones").json()
    assert zones["kind"] == "compute#zoneList"
    assert [z["name"] for z in zones["items"]] == ["us-east1-b", "us-east1-c"]
    assert zones["items"][0]["region"].endswith("/regions/us-east1")
    assert api("projects/p1/zones/us-east1-b/instances/vm-3").json()["name"] == "vm-3"
    missing = api("projects/p1/zones/us-east1-b/instances/vm-99")
    assert missing.status_code == 404
    message = missing.json()["error"]["message"]
    assert message == "The resource 'projects/p1/zones/us-east1-b/instances/vm-99' was not found"
    assert api("projects/p1/zones/mars-1-a/instances").status_code == 404


def test_networks_get(emulator, api):
    host = "https://www.googleapis.com/compute/v1/projects/net-host/global/networks/shared"
    emulator.add_instances("net", [
        _instance("net", "us-east4-a", "a", networkInterfaces=[
            {"network": "https://www.googleapis.com/compute/v1/projects/net/global/networks/default"}]),
        _instance("net", "us-east4-a", "b", networkInterfaces=[{"network": host}]),  # Shared VPC
    ])
    assert api("projects/net/global/networks/default").json()["mtu"] == 1460  # GCE's default
    emulator.set_network("net", "default", 8896)
    body = api("projects/net/global/networks/default", fields="mtu").json()
    assert body == {"mtu": 8896}
    # a Shared VPC network is served by its host project, not by the instance's project
    assert api("projects/net-host/global/networks/shared").json()["name"] == "shared"
    assert api("projects/net/global/networks/shared").status_code == 404
    assert api("projects/net/global/networks/nope").status_code == 404
    emulator.set_project_error("net", "permission_denied")
    denied = api("projects/net/global/networks/default")
    assert denied.status_code == 403 and "compute.networks.get" in denied.text
    with pytest.raises(ValueError, match="outside 1300-8896"):
        emulator.set_network("net", "default", 9000)


def test_partial_response_fields(emulator, api):
    emulator.generate(40, projects=["p1"], zones=3, seed=2)
    spec = "items/*/instances(name,zone,networkInterfaces/networkIP),nextPageToken"
    body = api("projects/p1/aggregated/instances", maxResults=15, fields=spec).json()
    assert set(body) == {"items", "nextPageToken"}
    instances = [i for scoped in body["items"].values() for i in scoped["instances"]]
    assert len(instances) == 15
    for instance in instances:
        assert set(instance) == {"name", "zone", "networkInterfaces"}
        assert all(set(nic) <= {"networkIP"} for nic in instance["networkInterfaces"])
    full = api("projects/p1/aggregated/instances", maxResults=15).json()
    full_instances = [i for scoped in full["items"].values() for i in scoped.get("instances", [])]
    assert [i["name"] for i in instances] == [i["name"] for i in full_instances]
    assert instances[0]["networkInterfaces"][0].get("networkIP") == full_instances[0]["networkInterfaces"][0].get(
        "networkIP"
    )
    nested = api("projects/p1/aggregated/instances", fields="items/*/instances/labels/role,kind").json()
    assert nested["kind"] == "compute#instanceAggregatedList"
    assert all(set(i["labels"]) == {"role"} for s in nested["items"].values() for i in s["instances"])
    zonal = api("projects/p1/zones/us-central1-a/instances", fields="items(name,status)").json()
    assert all(set(i) == {"name", "status"} for i in zonal["items"])
    for bad in ("items(name", "items/", "items)", ",name"):
        response = api("projects/p1/aggregated/instances", fields=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["errors"][0]["reason"] == "invalidParameter"
    # names are checked against the discovery document, as Google does
    for path, bad, name in [
        ("projects/p1/aggregated/instances", "items/*/instances(name,networkInterface/networkIP)", "networkInterface"),
        ("projects/p1/aggregated/instances", "item", "item"),
        ("projects/p1/zones/us-central1-a/instances", "items(name,stat)", "stat"),
        ("projects/p1/zones", "items(name,zone)", "zone"),
    ]:
        response = api(path, fields=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["message"] == f"Invalid field selection {name}"
    assert api("projects/p1/zones", fields="items(name,region),nextPageToken").status_code == 200


def test_gzip_needs_accept_encoding_and_user_agent(emulator, api):
    emulator.generate(50, projects=["p1"], zones=2)
    url = f"{emulator.url}/compute/v1/projects/p1/aggregated/instances"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def raw_get(headers):
        # a raw socket: requests would decode gzip for us and hide what came on the wire
        with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
            lines = [f"GET {url.split(str(emulator.port), 1)[1]} HTTP/1.1", "Host: localhost", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in {**auth, **headers}.items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head.decode().lower(), body

    head, body = raw_get({"Accept-Encoding": "gzip", "User-Agent": "nearzero/1.0 (gzip)"})
    assert "content-encoding: gzip" in head
    unzipped = json.loads(gzip.decompress(body))
    assert len(_names([unzipped])) == 50
    head, body = raw_get({"Accept-Encoding": "gzip", "User-Agent": "nearzero/1.0"})
    assert "content-encoding" not in head
    assert json.loads(body) == unzipped
    head, body = raw_get({"User-Agent": "nearzero/1.0 (gzip)"})
    assert "content-encoding" not in head


def test_pretty_print_default_and_compact(emulator, api):
    emulator.generate(5, projects=["p1"], zones=1)
    pretty = api("projects/p1/aggregated/instances")
    compact = api("projects/p1/aggregated/instances", prettyPrint="false")
    assert pretty.text.startswith('{\n  "kind"')
    assert "\n" not in compact.text
    assert pretty.json() == compact.json()
    assert len(compact.content) < len(pretty.content)


def test_unreachable_zones_and_undocumented_parameters(emulator, api):
    emulator.add_instances("p1", [_instance("p1", "us-east1-b", "a"), _instance("p1", "us-east1-c", "b")])
    emulator.set_unreachable("p1", ["us-east1-c"])
    body = api("projects/p1/aggregated/instances").json()
    assert body["unreachables"] == ["zones/us-east1-c"]
    assert list(body["items"]) == ["zones/us-east1-b"]
    assert api("projects/p1/zones/us-east1-c/instances").status_code == 503
    # compute.v1's discovery document lists returnPartialSuccess on no method: Google refuses it
    for name in ("bogusParam", "returnPartialSuccess"):
        unknown = api("projects/p1/aggregated/instances", **{name: "true"})
        assert unknown.status_code == 400
        assert unknown.json()["error"]["message"] == (
            f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
            f"Field '{name}' could not be found in request message."
        )


def test_project_errors(emulator, api):
    for project in ("gone", "locked", "disabled", "quota", "busy"):
        emulator.add_project(project, ["us-central1-a"])
    emulator.set_project_error("gone", "not_found")
    emulator.set_project_error("locked", "permission_denied")
    emulator.set_project_error("disabled", "api_disabled")
    emulator.set_project_error("quota", "quota_exceeded")
    emulator.set_project_error("busy", "rate_limited")

    unknown = api("projects/never-made/aggregated/instances")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "The resource 'projects/never-made' was not found"
    assert unknown.json()["error"]["errors"][0]["reason"] == "notFound"
    assert api("projects/gone/aggregated/instances").status_code == 404

    locked = api("projects/locked/aggregated/instances")
    assert locked.status_code == 403
    error = locked.json()["error"]
    assert error["errors"][0]["reason"] == "forbidden"
    assert error["message"] == "Required 'compute.instances.list' permission for 'projects/locked'"

    disabled = api("projects/disabled/aggregated/instances").json()["error"]
    assert disabled["code"] == 403
    assert disabled["status"] == "PERMISSION_DENIED"
    assert disabled["errors"][0]["reason"] == "accessNotConfigured"
    info = next(d for d in disabled["details"] if d["@type"].endswith("ErrorInfo"))
    assert info["reason"] == "SERVICE_DISABLED"
    assert info["metadata"]["service"] == "compute.googleapis.com"
    assert "disabled" in disabled["message"]

    quota = api("projects/quota/aggregated/instances")
    assert quota.status_code == 403
    assert quota.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    busy = api("projects/busy/zones")
    assert busy.status_code == 429
    assert busy.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

    emulator.set_project_error("locked", None)
    assert api("projects/locked/aggregated/instances").status_code == 200
    with pytest.raises(ValueError, match="unknown project error"):
        emulator.set_project_error("locked", "on_fire")


def test_order_by(emulator, api):
    emulator.add_instances("p1", [_instance("p1", "us-east1-b", n) for n in ("c", "a", "b")])
    ordered = api("projects/p1/zones/us-east1-b/instances", orderBy="name").json()
    assert [i["name"] for i in ordered["items"]] == ["a", "b", "c"]
    assert api("projects/p1/zones/us-east1-b/instances", orderBy="status").status_code == 400


def test_fixture_dump_is_served_as_recorded(emulator, api):
    projects = emulator.load_fixture(f"{FIXTURES}/gce1-compute-instances-aggregated.json")
    assert projects == ["gcpdiag-gce1-aaaa"]
    original = json.loads((FIXTURES / "gce1-compute-instances-aggregated.json").read_text())
    served = api("projects/gcpdiag-gce1-aaaa/aggregated/instances").json()
    assert served["items"] == original["items"]
    assert served["selfLink"] == original["selfLink"]


def test_per_minute_quota(emulator, api):
    emulator.add_project("metered", ["us-central1-a"])
    emulator.add_project("free", ["us-central1-a"])
    emulator.set_quota("metered", 3)
    codes = [api("projects/metered/aggregated/instances").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    exceeded = api("projects/metered/zones")
    assert exceeded.status_code == 403
    error = exceeded.json()["error"]
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert "per minute" in error["message"]
    assert api("projects/free/aggregated/instances").status_code == 200
    emulator.set_quota("metered", 0, status=429)
    limited = api("projects/metered/aggregated/instances")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    emulator.set_quota("metered", None)
    assert api("projects/metered/aggregated/instances").status_code == 200
    with pytest.raises(ValueError, match="403"):
        emulator.set_quota("metered", 1, status=500)


def test_concurrent_walks_are_consistent(emulator):
    """Parallel clients (one per project, as the inventory plugin fetches) see complete, unmixed pages."""
    from concurrent.futures import ThreadPoolExecutor

    emulator.add_access_token(TOKEN)
    projects = emulator.generate(1600, projects=4, zones=5, seed=9)
    expected = {
        p: sorted(r.data["name"] for rs in emulator.compute.projects[p].zones.values() for r in rs) for p in projects
    }

    def walk(job):
        project, params = job
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        names, token = [], None
        while True:
            query = {**params, "maxResults": 50, **({"pageToken": token} if token else {})}
            body = session.get(f"{emulator.url}/compute/v1/projects/{project}/aggregated/instances", params=query,
                               timeout=30).json()  # fmt: skip
            names += [i["name"] for s in body.get("items", {}).values() for i in s.get("instances", [])]
            token = body.get("nextPageToken")
            if not token:
                return project, sorted(names)

    jobs = [(p, params) for p in projects for params in ({}, {"fields": "items/*/instances(name),nextPageToken"})]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for project, names in pool.map(walk, jobs):
            assert names == expected[project]
