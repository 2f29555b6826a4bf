"""The Compute ``filter`` language, through real list requests."""

import pytest
import requests

TOKEN = "ya29.filters"
ZONE = "us-central1-a"


def _instance(name, status="RUNNING", role="engine", **extra):
    base = f"https://www.googleapis.com/compute/v1/projects/fp/zones/{ZONE}"
    return {
        "name": name,
        "zone": base,
        "status": status,
        "labels": {"role": role},
        "selfLink": f"{base}/instances/{name}",
        **extra,
    }


@pytest.fixture
def names(emulator):
    """Names (sorted) an aggregated list returns for a filter; raises on a non-200."""
    emulator.add_access_token(TOKEN)
    emulator.add_instances(
        "fp",
        [
            _instance("engine-1", networkInterfaces=[{"networkIP": "10.0.0.1"}], scheduling={"preemptible": False}),
            _instance("engine-2", status="TERMINATED", networkInterfaces=[{"networkIP": "10.0.0.2"}]),
            _instance("db-1", role="database", cpuPlatform="Intel Skylake", labels={"role": "database", "owner": "x"}),
            _instance("engine-test", status="STOPPED", role="engine", scheduling={"preemptible": True}),
        ],
    )

    def query(text):
        response = requests.get(
            f"{emulator.url}/compute/v1/projects/fp/aggregated/instances",
            params={"filter": text},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        if response.status_code != 200:
            return response
        items = response.json()["items"]
        return sorted(i["name"] for scoped in items.values() for i in scoped.get("instances", []))

    return query


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status = RUNNING", ["db-1", "engine-1"]),
        ("labels.role = engine", ["engine-1", "engine-2", "engine-test"]),
        ('name = "engine-2"', ["engine-2"]),
        ("name != engine-1", ["db-1", "engine-2", "engine-test"]),
        ("labels.owner:*", ["db-1"]),
        ("cpuPlatform:Skylake", ["db-1"]),
        ("name = engine-*", ["engine-1", "engine-2", "engine-test"]),
        ("scheduling.preemptible = true", ["engine-test"]),
        ("networkInterfaces.networkIP = 10.0.0.2", ["engine-2"]),
        ("(status = RUNNING) (labels.role = engine)", ["engine-1"]),
        ("(status = RUNNING) AND (labels.role = engine)", ["engine-1"]),
        ("(status = TERMINATED) OR (status = STOPPED)", ["engine-2", "engine-test"]),
        ("(labels.role = engine) (status = TERMINATED OR status = STOPPED)", ["engine-2", "engine-test"]),
        ("NOT status = RUNNING", ["engine-2", "engine-test"]),
        ("name eq 'engine-.*'", ["engine-1", "engine-2", "engine-test"]),
        ('name eq "engine-[0-9]"', ["engine-1", "engine-2"]),
        ("name eq engine", []),
        ("name ne .*-test", ["db-1", "engine-1", "engine-2"]),
        ("(name eq engine-.*) (status ne RUNNING)", ["engine-2", "engine-test"]),
        ("labels.role eq data.*", ["db-1"]),
    ],
)
def test_filter_syntaxes(names, text, expected):
    assert names(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("name eq engine-.* AND status = RUNNING", "cannot be mixed"),
        ("(name eq x) (status = RUNNING)", "cannot be mixed"),
        ("(name eq a) OR (name eq b)", "only be ANDed"),
        ("status RUNNING", "expected an operator"),
        ("(status = RUNNING", "missing ')'"),
        ("status = RUNNING)", "unbalanced ')'"),
        ("= RUNNING", "expected a field name"),
        ("name eq '[unclosed'", "invalid regular expression"),
        ("name = 'open", "unterminated"),
    ],
)
def test_bad_filters_are_400(names, text, why):
    response = names(text)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith(f"Invalid value for field 'filter': '{text}'.")
    assert why in message


def test_filtered_pages_and_empty_zones(emulator, names):
    emulator.add_project("fp", ["us-east1-b"])
    response = requests.get(
        f"{emulator.url}/compute/v1/projects/fp/aggregated/instances",
        params={"filter": "name = nothing"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    ).json()
    assert {k: v["warning"]["code"] for k, v in response["items"].items()} == {
        f"zones/{ZONE}": "NO_RESULTS_ON_PAGE",
        "zones/us-east1-b": "NO_RESULTS_ON_PAGE",
    }
    assert "nextPageToken" not in response
