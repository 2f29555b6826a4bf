"""Emulator responses agree with the official Compute discovery document (and so do the real dumps)."""

import json
from pathlib import Path

import pytest
import requests
from discovery_schema import check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "emulator" / "gce"
TOKEN = "ya29.schema"


def _schema_for(document):
    return {"compute#instanceAggregatedList": "InstanceAggregatedList", "compute#instanceList": "InstanceList"}[
        document["kind"]
    ]


@pytest.mark.parametrize("dump", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_real_dumps_pass_the_checker(dump):
    document = json.loads((FIXTURES / dump).read_text())
    assert check(document, _schema_for(document)) == []


def test_checker_catches_unknown_keys_and_wrong_types():
    document = json.loads((FIXTURES / "gce1-compute-instances-europe-west1-b.json").read_text())
    instance = document["items"][0]
    instance["networkInterfaces"][0]["networkIp"] = "10.0.0.1"  # wrong case
    instance["canIpForward"] = "true"  # string, not boolean
    instance["disks"][0]["index"] = "0"  # string, not integer
    instance["labels"]["x"] = 1  # map of strings
    problems = check(document, "InstanceList")
    assert len(problems) == 4
    assert any("'networkIp' is not in the schema" in p for p in problems)
    assert any(p.startswith("$.items[0].canIpForward: expected boolean") for p in problems)
    assert any(p.startswith("$.items[0].disks[0].index: expected integer") for p in problems)
    assert any(p.startswith("$.items[0].labels['x']: expected string") for p in problems)


def test_emulator_responses_match_the_discovery_document(emulator):
    emulator.add_access_token(TOKEN)
    # enough generated instances to hit every variant (IPv6, SPOT, GPUs, multi-NIC, ...)
    projects = emulator.generate(600, projects=2, zones=4, seed=11, duplicates=20)
    emulator.load_fixture(FIXTURES / "gke1-compute-instances-aggregated.json")
    emulator.add_project(projects[0], ["asia-east1-a"])
    emulator.set_unreachable(projects[1], ["us-central1-b"])
    lab_like = {
        "name": "lab-1",
        "zone": "https://www.googleapis.com/compute/v1/projects/lab/zones/us-east4-a",
        "selfLink": "https://www.googleapis.com/compute/v1/projects/lab/zones/us-east4-a/instances/lab-1",
    }
    emulator.add_instances("lab", [lab_like])
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{emulator.url}/compute/v1/projects"
    checked = 0
    for project in [*projects, "gcpdiag-gke1-aaaa", "lab"]:
        token = None
        while True:
            params = {"maxResults": 250, **({"pageToken": token} if token else {})}
            body = requests.get(f"{base}/{project}/aggregated/instances", params=params, headers=headers, timeout=20)
            document = body.json()
            assert check(document, "InstanceAggregatedList") == []
            checked += sum(len(s.get("instances", [])) for s in document["items"].values())
            token = document.get("nextPageToken")
            if not token:
                break
        zones = requests.get(f"{base}/{project}/zones", headers=headers, timeout=20).json()
        assert check(zones, "ZoneList") == []
        for zone in zones["items"][:2]:
            listing = requests.get(f"{base}/{project}/zones/{zone['name']}/instances", headers=headers, timeout=20)
            if listing.status_code == 200:
                assert check(listing.json(), "InstanceList") == []
    hidden = len(emulator.compute.projects[projects[1]].zones["us-central1-b"])  # the unreachable zone
    assert hidden > 0
    assert checked == 600 + 7 + 1 - hidden
    instance = requests.get(f"{base}/lab/zones/us-east4-a/instances/lab-1", headers=headers, timeout=20).json()
    assert check(instance, "Instance") == []
    network = requests.get(f"{base}/{projects[0]}/global/networks/default", headers=headers, timeout=20).json()
    assert check(network, "Network") == [] and network["mtu"] == 1460
