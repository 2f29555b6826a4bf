"""plugin_utils/gce/listing.py against the emulator over real HTTP: strategies, paging, failures as exceptions."""

import pytest

from tests.unit.plugins.gce_helpers import gcp_modules, instance
from tests.unit.plugins.plugin_utils.gce_utils import gce_utils

auth, client, compute, gcp_errors = gcp_modules()
listing, errors = gce_utils("listing", "errors")
FIELDS = "id,name,zone,status,networkInterfaces(network,networkIP)"


@pytest.fixture
def api(emulator, sa_key_file):
    credentials = auth.build_credentials({"auth_kind": "serviceaccount", "service_account_file": str(sa_key_file)})
    return compute.ComputeApi(client.GcpClient(credentials, backoff_base=0.01, backoff_max=0.05, retries=1),
                              emulator.url)


def run(api, warnings=None, **kw):
    warnings = [] if warnings is None else warnings
    return listing.list_instances(api, listing.ListingRequest(fields=FIELDS, **kw), warnings.append)


def compute_paths(emulator):
    return [r.path for r in emulator.requests if "/compute/" in r.path]


@pytest.mark.parametrize("strategy", ["auto", "aggregated", "zonal"])
def test_every_strategy_lists_the_same_rows_in_a_stable_order(emulator, api, strategy):
    projects = emulator.generate(1200, projects=2, zones=3, seed=3)  # more than one aggregated page each
    emulator.set_network(projects[0], "default", 8896)
    result = run(api, projects=projects, strategy=strategy, with_mtu=True)
    rows = result["instances"]
    assert len(rows) == 1200 and {p for p, _i in rows} == set(projects)
    assert rows == sorted(rows, key=lambda r: (projects.index(r[0]), r[1]["zone"], r[1]["name"]))
    assert set(result["network_mtu"].values()) >= {8896}
    paths = compute_paths(emulator)
    if strategy == "aggregated":
        assert not any(p.endswith("/zones") for p in paths)
    else:  # a project of more than one page is listed zone by zone
        assert any("/zones/" in p and p.endswith("/instances") for p in paths)


def test_zones_and_regions_are_listed_server_side(emulator, api):
    emulator.add_project("p1", zones=["us-central1-a", "europe-west4-b"])
    emulator.add_instances("p1", [instance("p1", "us-central1-a", "a", ip="10.0.0.2"),
                                  instance("p1", "europe-west4-b", "b", ip="10.0.0.3")])
    assert [i["name"] for _p, i in run(api, projects=["p1"], zones=["europe-west4-b"])["instances"]] == ["b"]
    assert [i["name"] for _p, i in run(api, projects=["p1"], regions=["us-central1"])["instances"]] == ["a"]


def test_a_failed_project_is_raised_or_skipped_with_a_warning(emulator, api):
    emulator.add_project("good", zones=["us-central1-a"])
    emulator.add_instances("good", [instance("good", "us-central1-a", "a", ip="10.0.0.2")])
    emulator.add_project("gone", zones=["us-central1-a"])
    emulator.set_project_error("gone", "permission_denied")
    with pytest.raises(gcp_errors.GcpError, match=r"compute\.instances\.list") as raised:
        run(api, projects=["good", "gone"])
    assert raised.value.project == "gone" and raised.value.kind == "permission_denied"
    warnings = []
    result = run(api, warnings, projects=["good", "gone"], skip_failed_projects=True)
    assert [p for p, _i in result["instances"]] == ["good"]
    assert len(warnings) == 1 and warnings[0].startswith("skipping project 'gone': Permission denied")


def test_unreachable_zones_warn_or_raise(emulator, api):
    emulator.add_project("p1", zones=["us-central1-a", "europe-west4-b"])
    emulator.add_instances("p1", [instance("p1", "us-central1-a", "a", ip="10.0.0.2")])
    emulator.set_unreachable("p1", ["europe-west4-b"])
    warnings = []
    assert len(run(api, warnings, projects=["p1"])["instances"]) == 1
    assert warnings == ["the Compute API could not reach p1/zones/europe-west4-b; instances there are missing from "
                        "this inventory. Retry later, or list zones explicitly."]
    # the API reports unreachable zones without returnPartialSuccess (which compute.v1 documents on no method)
    calls = [r for r in emulator.requests if "/compute/" in r.path]
    assert {r.status for r in calls} == {200} and not any("returnPartialSuccess" in r.query for r in calls)
    with pytest.raises(errors.UnreachableZonesError, match="could not reach p1/zones/europe-west4-b"):
        run(api, projects=["p1"], unreachable_zones="error")


def test_a_zone_still_failing_503_is_unreachable_not_fatal(emulator, api):
    emulator.add_project("p1", zones=["us-central1-a", "europe-west4-b"])
    emulator.add_instances("p1", [instance("p1", "us-central1-a", "a", ip="10.0.0.2")])
    emulator.faults.add(path_regex="/zones/europe-west4-b/instances", status=503, times=None)
    warnings = []
    result = run(api, warnings, projects=["p1"], zones=["us-central1-a", "europe-west4-b"])
    assert [i["name"] for _p, i in result["instances"]] == ["a"]
    assert "could not reach p1/zones/europe-west4-b" in warnings[0]


def test_an_unreadable_network_only_costs_its_mtu(emulator, api):
    emulator.add_project("p1", zones=["us-central1-a"])
    emulator.add_instances("p1", [instance("p1", "us-central1-a", "a", ip="10.0.0.2")])
    emulator.faults.add(path_regex="/global/networks/", status=403, times=None)
    warnings = []
    result = run(api, warnings, projects=["p1"], with_mtu=True)
    assert len(result["instances"]) == 1 and result["network_mtu"] == {}
    assert warnings[0].startswith("no network_mtu for hosts on default: ")
