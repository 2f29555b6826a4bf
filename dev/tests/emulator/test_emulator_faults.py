"""Fault injection, stats and reset over real HTTP."""

import json
import time

import google.auth.transport.requests as gtr
import pytest
import requests
from google.oauth2 import service_account

TOKEN = "ya29.faults"
PATH = "/compute/v1/projects/fp/aggregated/instances"


@pytest.fixture
def get(emulator):
    emulator.add_access_token(TOKEN)
    emulator.generate(10, projects=["fp"], zones=2)

    def call(path=PATH, method="GET"):
        return requests.request(method, emulator.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    return call


def test_latency_is_added(emulator, get):
    emulator.faults.add(path_regex="aggregated", latency_ms=300)
    started = time.monotonic()
    assert get().status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert get().status_code == 200  # times=1: the second request is not delayed
    assert time.monotonic() - started < 0.3


@pytest.mark.parametrize(
    ("status", "reason"), [(429, "rateLimitExceeded"), (503, "backendError"), (500, "backendError")]
)
def test_injected_status(emulator, get, status, reason):
    fault = emulator.faults.add(path_regex=r"/aggregated/instances$", status=status, times=2)
    assert [get().status_code for _ in range(3)] == [status, status, 200]
    assert fault.fired == 2
    emulator.faults.add(path_regex="aggregated", status=status)
    body = get().json()["error"]
    assert body["code"] == status
    assert body["errors"][0]["reason"] == reason


def test_malformed_body_is_truncated_json(emulator, get):
    emulator.faults.add(path_regex="aggregated", malformed=True)
    broken = get()
    assert broken.status_code == 200
    assert int(broken.headers["Content-Length"]) == len(broken.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert get().json()["kind"] == "compute#instanceAggregatedList"


def test_expired_token_fault_makes_google_auth_refresh(emulator, sa_key_file):
    emulator.add_project("fp", ["us-central1-a"])
    creds = service_account.Credentials.from_service_account_file(
        str(sa_key_file), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    session = gtr.AuthorizedSession(creds)
    url = emulator.url + PATH
    assert session.get(url, timeout=10).status_code == 200
    first_token = creds.token
    emulator.faults.add(path_regex="aggregated", expire_token=True)
    # the session sees 401, refreshes its token at /token and retries once
    assert session.get(url, timeout=10).status_code == 200
    assert emulator.tokens_issued == 2
    assert creds.token != first_token
    statuses = [(r.kind, r.status) for r in emulator.requests if r.kind != "unknown"]
    assert statuses[-3:] == [
        ("compute.instances.aggregatedList", 401),
        ("oauth.token", 200),
        ("compute.instances.aggregatedList", 200),
    ]
    # the old token stays expired
    old = requests.get(url, headers={"Authorization": f"Bearer {first_token}"}, timeout=10)
    assert old.status_code == 401


def test_nth_method_and_unlimited(emulator, get):
    emulator.faults.add(path_regex="zones$", status=503, nth=3, times=None, method="GET")
    codes = [get("/compute/v1/projects/fp/zones").status_code for _ in range(5)]
    assert codes == [200, 200, 503, 503, 503]
    assert get().status_code == 200  # other paths untouched
    emulator.faults.clear()
    emulator.faults.add(path_regex="zones$", status=503, method="POST")
    assert get("/compute/v1/projects/fp/zones").status_code == 200


def test_probability_is_repeatable_with_seed(emulator, get):
    def pattern(seed):
        emulator.faults.clear()
        emulator.faults.add(path_regex="aggregated", status=500, times=None, probability=0.5, seed=seed)
        return [get().status_code for _ in range(12)]

    first = pattern(42)
    assert pattern(42) == first
    assert 0 < first.count(500) < 12
    assert pattern(7) != first


def test_fault_validation():
    from emulator.faults import FaultSet

    faults = FaultSet()
    for bad, message in [
        ({"path_regex": "("}, "not a valid regular expression"),
        ({"status": 200}, "HTTP error status"),
        ({"status": 500, "probability": 2}, "between 0 and 1"),
        ({}, "at least one of"),
    ]:
        with pytest.raises(ValueError, match=message):
            faults.add(**bad)


def test_stats_reset_and_fault_endpoint(emulator, get):
    get()
    get("/compute/v1/projects/fp/zones")
    stats = requests.get(emulator.url + "/_emulator/stats", timeout=10).json()
    assert stats["requests"]["compute.instances.aggregatedList"] == 1
    assert stats["requests"]["compute.zones.list"] == 1
    assert stats["requests_total"] == 2
    assert stats["instances"] == 10
    added = requests.post(emulator.url + "/_emulator/faults", json={"path_regex": "zones", "status": 429}, timeout=10)
    assert added.status_code == 200
    assert get("/compute/v1/projects/fp/zones").status_code == 429
    bad = requests.post(emulator.url + "/_emulator/faults", json={"status": 200}, timeout=10)
    assert bad.status_code == 400
    assert requests.post(emulator.url + "/_emulator/reset", timeout=10).json() == {"reset": True}
    after = requests.get(emulator.url + "/_emulator/stats", timeout=10).json()
    assert after["requests"] == {"emulator.stats": 1}
    assert after["tokens_issued"] == 0
    assert after["faults"] == []
    assert get("/compute/v1/projects/fp/zones").status_code == 200


def test_global_latency(emulator, get):
    emulator.latency_ms = 150
    started = time.monotonic()
    get()
    assert time.monotonic() - started >= 0.15


def test_token_endpoint_faults_are_oauth_shaped_and_retried_by_google_auth(emulator, sa_key_file):
    emulator.add_project("fp", ["us-central1-a"])
    fault = emulator.faults.add(path_regex="^/token$", status=503)
    creds = service_account.Credentials.from_service_account_file(
        str(sa_key_file), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    assert gtr.AuthorizedSession(creds).get(emulator.url + PATH, timeout=10).status_code == 200
    assert fault.fired == 1
    token_calls = [r for r in emulator.requests if r.kind == "oauth.token"]
    assert [r.status for r in token_calls] == [503, 200]
    emulator.faults.add(path_regex="^/token$", status=429)
    body = requests.post(emulator.token_uri, data={"grant_type": "x"}, timeout=10).json()
    assert body == {"error": "rate_limit_exceeded", "error_description": "Injected failure 429."}


def test_metadata_faults_are_plain_text(emulator):
    emulator.faults.add(path_regex="/token$", status=500)
    response = requests.get(
        emulator.url + "/computeMetadata/v1/instance/service-accounts/default/token",
        headers={"Metadata-Flavor": "Google"},
        timeout=10,
    )
    assert response.status_code == 500
    assert response.headers["Metadata-Flavor"] == "Google"
    assert response.text == "Injected failure 500.\n"
