"""The emulator's instances.getGuestAttributes over real HTTP: published host keys, lab mode, errors."""

import json

import pytest
import requests
from discovery_schema import check
from emulator.dataset import build_instance

PROJECT, ZONE = "ga-proj", "us-east4-a"
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIAbcdefghijklmnopqrstuvwxyz0123456789ABCDEF"


@pytest.fixture
def ga(emulator):
    emulator.add_access_token("tok-ga", scopes=["https://www.googleapis.com/auth/compute.readonly"])
    emulator.add_project(PROJECT, zones=[ZONE])
    emulator.add_instances(PROJECT, [build_instance(PROJECT, ZONE, "engine-1", ip="10.0.0.2")])
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-ga"
    url = f"{emulator.url}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/engine-1/getGuestAttributes"
    return emulator.services["guest_attributes"], session, url


def test_published_host_keys_by_query_path_and_key(ga):
    store, session, url = ga
    store.publish(PROJECT, ZONE, "engine-1", "hostkeys", "ssh-ed25519", KEY)
    store.publish(PROJECT, ZONE, "engine-1", "other", "k", "v")
    body = session.get(url, params={"queryPath": "hostkeys/"}).json()
    assert check(body, "GuestAttributes", doc="compute.v1") == []
    assert body["kind"] == "compute#guestAttributes" and body["queryPath"] == "hostkeys/"
    assert body["queryValue"]["items"] == [{"namespace": "hostkeys", "key": "ssh-ed25519", "value": KEY}]
    one = session.get(url, params={"variableKey": "hostkeys/ssh-ed25519"}).json()
    assert one["variableValue"] == KEY and check(one, "GuestAttributes", doc="compute.v1") == []


def test_nothing_published_unknown_instance_and_bad_query(ga):
    _store, session, url = ga
    # guest attributes off (or the agent has not written them): 404, as Compute answers
    assert session.get(url, params={"queryPath": "hostkeys/"}).status_code == 404
    assert session.get(url.replace("engine-1", "engine-9"), params={"queryPath": "hostkeys/"}).status_code == 404
    resp = session.get(url, params={"queryPath": "hostkeys/", "variableKey": "hostkeys/ssh-rsa"})
    assert resp.status_code == 400
    # an unknown query parameter is refused by the discovery check, like every Compute route
    assert session.get(url, params={"queryPth": "hostkeys/"}).status_code == 400
    # a token without a Compute scope is refused
    session.headers["Authorization"] = "Bearer nope"
    assert session.get(url, params={"queryPath": "hostkeys/"}).status_code == 401


def test_lab_mode_serves_the_lab_known_hosts(emulator, tmp_path):
    (tmp_path / "instances.json").write_text(json.dumps([
        {"name": "engine-us-1", "project": "nearzero-lab", "zone": "us-east4-a", "ip": "10.89.3.2"}]))
    (tmp_path / "known_hosts").write_text(f"engine-us-1,10.89.3.2 ssh-ed25519 {KEY}\nother,10.89.3.3 ssh-ed25519 X\n")
    emulator.load_lab(tmp_path)
    emulator.add_access_token("tok-lab")
    url = (f"{emulator.url}/compute/v1/projects/nearzero-lab/zones/us-east4-a/instances/engine-us-1/"
           "getGuestAttributes")
    body = requests.get(url, params={"queryPath": "hostkeys/"}, headers={"Authorization": "Bearer tok-lab"},
                        timeout=10).json()
    assert body["queryValue"]["items"] == [{"namespace": "hostkeys", "key": "ssh-ed25519", "value": KEY}]
