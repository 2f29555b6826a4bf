"""The gce inventory plugin through ansible-inventory / ansible-playbook, against the emulator over HTTP."""

import base64
import json
import subprocess
import time

import pytest
import yaml

from tests.unit.plugins.gce_helpers import (
    BIN,
    ROOT,
    ansible_inventory,
    base_env,
    group_hosts,
    hostvars,
    instance,
    write_config,
)

# real Compute API responses (gcpdiag, Apache-2.0), served back unchanged by the emulator
FIXTURES = ROOT / "dev" / "tests" / "fixtures" / "emulator" / "gce"
PROJECT = "nz-lab"
ZONE_A, ZONE_B = "us-central1-a", "europe-west4-b"


@pytest.fixture
def lab(emulator):
    """A small project with hand-built instances covering the interesting shapes."""
    emulator.add_project(PROJECT, zones=[ZONE_A, ZONE_B, "us-central1-b"])
    emulator.add_instances(PROJECT, [
        instance(PROJECT, ZONE_A, "engine-1", ip="10.0.0.2", labels={"role": "trading-engine", "env": "prod"},
                 tags=["engine", "ssh"], machine_type="c3-standard-22"),
        instance(PROJECT, ZONE_A, "gpu-1", ip="10.0.0.3", machine_type="a3-highgpu-8g",
                 labels={"role": "trading-engine"}, gpus=[{"type": "nvidia-h100-80gb", "count": 8}]),
        instance(PROJECT, ZONE_B, "db-1", ip="10.0.1.2", labels={"role": "database"}, machine_type="n2-standard-8",
                 metadata_items=[{"key": "ssh-keys", "value": "ops:ssh-ed25519 AAAA"},
                                 {"key": "nz-tier", "value": "gold"}]),
        instance(PROJECT, ZONE_B, "stopped-1", ip="10.0.1.3", status="TERMINATED"),
    ])
    return emulator


def listings(emulator):
    """Recorded instance and zone listings (the network MTU reads are counted apart)."""
    return [r for r in emulator.requests if "/compute/" in r.path and "/global/networks/" not in r.path]


def instance_listings(emulator):
    """Recorded instance listings only (aggregated or zonal pages)."""
    return [r for r in listings(emulator) if r.path.endswith("/instances")]


def list_hosts(config, **kw):
    proc = ansible_inventory(config, **kw)
    return proc, proc.data, hostvars(proc.data)


# -- layout ----------------------------------------------------------------------------------

def test_hostvars_groups_and_requests(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT])
    _proc, data, hv = list_hosts(config)
    assert sorted(hv) == ["db-1", "engine-1", "gpu-1"]  # TERMINATED left out by default
    engine = hv["engine-1"]
    # ansible-core itself adds ansible_local when facts are not injected as variables (ansible.cfg).
    assert set(engine) - {"ansible_local"} == {"ansible_host", "gce"}
    assert engine["ansible_host"] == "10.0.0.2"
    # the default hostvar_keys: what playbooks and the roles use, nothing else (the name is the host's
    # name, the region the zone's; both stay groups)
    assert engine["gce"] == {
        "project": PROJECT, "zone": ZONE_A,
        "machine_type": "c3-standard-22", "nic_type": "GVNIC", "network_mtu": 1460, "private_ip": "10.0.0.2",
        "labels": {"role": "trading-engine", "env": "prod"},
    }  # metadata_keys defaults to none: ssh keys never reach the inventory
    for values in hv.values():  # compact: nothing empty is stored
        assert all(v not in (None, "", [], {}) for v in values["gce"].values())
    assert hv["gpu-1"]["gce"]["gpus"] == [{"type": "nvidia-h100-80gb", "count": 8}]
    assert group_hosts(data, "role_trading_engine") == ["engine-1", "gpu-1"]
    assert group_hosts(data, "gpu") == ["gpu-1"] and group_hosts(data, "gpu_nvidia_h100_80gb") == ["gpu-1"]
    assert group_hosts(data, f"project_{PROJECT.replace('-', '_')}") == ["db-1", "engine-1", "gpu-1"]
    assert group_hosts(data, "zone_us_central1_a") == ["engine-1", "gpu-1"]
    assert group_hosts(data, "region_europe_west4") == ["db-1"]
    assert group_hosts(data, "family_a3") == ["gpu-1"] and group_hosts(data, "status_running") == [
        "db-1", "engine-1", "gpu-1"]
    assert group_hosts(data, "env_prod") == ["engine-1"]
    assert not [g for g in data if g.startswith("tag_")]  # network tag groups only with tag_groups
    # one token, one aggregated page (500 per page, only the needed fields, gzip); with workers to
    # spare, the project's zones are asked for alongside it (used only when there are more pages)
    assert lab.tokens_issued == 1
    assert sorted(r.path for r in listings(lab)) == [f"/compute/v1/projects/{PROJECT}/aggregated/instances",
                                                     f"/compute/v1/projects/{PROJECT}/zones"]
    calls = instance_listings(lab)
    query = calls[0].query
    assert query["maxResults"] == ["500"]
    # only the fields of the facts in use: nothing that is neither stored nor grouped on
    fields = query["fields"][0]
    assert "networkIP" in fields and "nicType" in fields and "labels" in fields and "guestAccelerators" in fields
    for unused in ("selfLink", "serviceAccounts", "creationTimestamp", "cpuPlatform", "metadata", "subnetwork",
                   "tags"):
        assert unused not in fields, unused
    assert "gzip" in calls[0].headers.get("User-Agent", "")


def test_network_mtu(lab, sa_key_file, tmp_path):
    lab.set_network(PROJECT, "default", 8896)
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT])
    hv = hostvars(ansible_inventory(config).data)
    assert {h["gce"]["network_mtu"] for h in hv.values()} == {8896}
    # one networks.get per network, not per host
    gets = [r for r in lab.requests if "/global/networks/" in r.path]
    assert [r.path for r in gets] == [f"/compute/v1/projects/{PROJECT}/global/networks/default"]
    # not stored, not grouped on: never asked for
    lab.clear_requests()
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostvar_keys=["name"])
    ansible_inventory(config)
    assert not [r for r in lab.requests if "/global/networks/" in r.path]


def test_network_mtu_unreadable_is_a_warning(lab, sa_key_file, tmp_path):
    lab.add_instances(PROJECT, [instance(PROJECT, ZONE_A, "shared-1", ip="10.0.0.7", nics=[{
        "network": "https://www.googleapis.com/compute/v1/projects/host-gone/global/networks/shared",
        "networkIP": "10.0.0.7", "name": "nic0"}])])
    lab.set_project_error("host-gone", "permission_denied")
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT])
    proc = ansible_inventory(config)
    hv = hostvars(proc.data)
    assert "network_mtu" not in hv["shared-1"]["gce"] and hv["engine-1"]["gce"]["network_mtu"] == 1460
    assert "no network_mtu for hosts on shared" in proc.stderr and "compute.networks.get" in proc.stderr


def test_hostvar_keys_all_and_unknown(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostvar_keys=["all"])
    gce = hostvars(ansible_inventory(config).data)["engine-1"]["gce"]
    assert gce["machine_family"] == "c3" and gce["tags"] == ["engine", "ssh"]
    assert gce["network"] == "default" and gce["subnetwork"] == "default"
    assert gce["internal_dns"] == f"engine-1.{ZONE_A}.c.{PROJECT}.internal"
    assert isinstance(gce["id"], int) and gce["self_link"].endswith("/instances/engine-1")
    assert gce["status"] == "RUNNING" and gce["service_accounts"] and gce["cpu_platform"]
    assert gce["creation_timestamp"]
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostvar_keys=["name", "tags"])
    assert hostvars(ansible_inventory(config).data)["engine-1"]["gce"] == {"name": "engine-1",
                                                                           "tags": ["engine", "ssh"]}
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostvar_keys=["name", "nics"])
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "unknown key(s) nics in 'hostvar_keys'" in proc.stderr


def test_graph_and_collection_name(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], plugin="nearzero.gcp.gce")
    out = ansible_inventory(config, "--graph").stdout
    assert "@role_trading_engine:" in out and "--engine-1" in out


def test_file_name_must_end_in_gce_yml(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, name="inventory.yml", key_file=sa_key_file, projects=[PROJECT])
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0
    assert lab.tokens_issued == 0


def test_statuses_include_exclude(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], statuses=[])
    assert "stopped-1" in hostvars(ansible_inventory(config).data)
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], statuses=["TERMINATED"])
    assert sorted(hostvars(ansible_inventory(config).data)) == ["stopped-1"]
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT],
                          include=["labels.role == 'trading-engine'"], exclude=["guestAccelerators"])
    assert sorted(hostvars(ansible_inventory(config).data)) == ["engine-1"]


def test_bad_jmespath_is_reported(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], include=["labels.[["])
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "invalid JMESPath expression in 'include'" in proc.stderr


def test_filter_is_sent_to_the_api(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT],
                          filter="labels.role = database")
    assert sorted(hostvars(ansible_inventory(config).data)) == ["db-1"]
    calls = [r for r in lab.requests if "/aggregated/" in r.path]
    assert calls[0].query["filter"] == ["labels.role = database"]


def test_zones_and_regions_narrow_server_side(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], zones=[ZONE_B])
    assert sorted(hostvars(ansible_inventory(config).data)) == ["db-1"]
    paths = [r.path for r in listings(lab)]
    assert paths == [f"/compute/v1/projects/{PROJECT}/zones/{ZONE_B}/instances"]
    lab.clear_requests()
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], regions=["us-central1"])
    assert sorted(hostvars(ansible_inventory(config).data)) == ["engine-1", "gpu-1"]
    paths = sorted(r.path for r in listings(lab))
    assert paths == [f"/compute/v1/projects/{PROJECT}/zones",
                     f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances",
                     f"/compute/v1/projects/{PROJECT}/zones/us-central1-b/instances"]


def test_hostnames_and_ansible_host_preference(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT],
                          hostnames=["label:role", "private_ip"], duplicate_names="qualify",
                          ansible_host_preference=["public_ip", "internal_dns"])
    hv = hostvars(ansible_inventory(config).data)
    # role is shared by engine-1 and gpu-1 in one zone: zone and project are not enough, the name goes in
    assert sorted(hv) == ["database", f"trading-engine.engine-1.{ZONE_A}.{PROJECT}",
                          f"trading-engine.gpu-1.{ZONE_A}.{PROJECT}"]
    assert hv["database"]["ansible_host"] == f"db-1.{ZONE_B}.c.{PROJECT}.internal"
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostnames=["private_ip"])
    hv = hostvars(ansible_inventory(config).data)
    assert sorted(hv) == ["10.0.0.2", "10.0.0.3", "10.0.1.2"]
    # the host name is no longer the instance name: the default hostvar_keys keeps the name then
    assert hv["10.0.0.2"]["gce"]["name"] == "engine-1"
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostnames=["private_ip"],
                          hostvar_keys=["zone"])
    assert hostvars(ansible_inventory(config).data)["10.0.0.2"]["gce"] == {"zone": ZONE_A}  # as listed
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostnames=["public_ip"])
    assert sorted(hostvars(ansible_inventory(config).data)) == ["db-1", "engine-1", "gpu-1"]  # name as last resort


def test_unknown_hostname_kind_is_rejected(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], hostnames=["fqdn"])
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "'fqdn' in 'hostnames' is not supported" in proc.stderr


def test_duplicate_names_qualified_or_error(emulator, sa_key_file, tmp_path):
    for project in ("p-one", "p-two"):
        emulator.add_project(project, zones=[ZONE_A])
        emulator.add_instances(project, [instance(project, ZONE_A, "engine-1", ip="10.0.0.2"),
                                         instance(project, ZONE_A, f"only-{project}", ip="10.0.0.3")])
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=["p-one", "p-two"])
    hv = hostvars(ansible_inventory(config).data)
    assert sorted(hv) == [f"engine-1.{ZONE_A}.p-one", f"engine-1.{ZONE_A}.p-two", "only-p-one", "only-p-two"]
    assert hv[f"engine-1.{ZONE_A}.p-two"]["gce"]["project"] == "p-two"
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=["p-one", "p-two"],
                          duplicate_names="error")
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0
    assert f"engine-1: p-one/{ZONE_A}, p-two/{ZONE_A}" in proc.stderr


def test_generated_duplicates_never_merge(emulator, sa_key_file, tmp_path):
    projects = emulator.generate(300, projects=2, zones=4, seed=3, duplicates=40)
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=projects, statuses=[])
    assert len(hostvars(ansible_inventory(config).data)) == 300


def test_ipv6_only_multi_nic_spot_tier1_placement(emulator, sa_key_file, tmp_path):
    emulator.add_project(PROJECT, zones=[ZONE_A])
    v6 = instance(PROJECT, ZONE_A, "v6-only", ip=None, nics=[{
        "network": "https://www.googleapis.com/compute/v1/projects/nz-lab/global/networks/v6",
        "subnetwork": "https://www.googleapis.com/compute/v1/projects/nz-lab/regions/us-central1/subnetworks/v6",
        "stackType": "IPV6_ONLY", "nicType": "GVNIC", "ipv6Address": "fd20:a1b::5", "name": "nic0"}])
    multi = instance(PROJECT, ZONE_A, "multi-nic", ip=None, nics=[
        {"network": "x/networks/front", "subnetwork": "x/subnetworks/front", "networkIP": "10.1.0.2", "name": "nic0",
         "nicType": "GVNIC", "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "natIP": "34.1.2.3"}]},
        {"network": "x/networks/back", "subnetwork": "x/subnetworks/back", "networkIP": "10.2.0.2", "name": "nic1"},
    ])
    multi["scheduling"]["provisioningModel"] = "SPOT"
    multi["networkPerformanceConfig"] = {"totalEgressBandwidthTier": "TIER_1"}
    multi["resourcePolicies"] = [f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/us-central1/"
                                 "resourcePolicies/compact-1"]
    emulator.add_instances(PROJECT, [v6, multi])
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT], hostvar_keys=["all"])
    hv = hostvars(ansible_inventory(config).data)
    assert hv["v6-only"]["ansible_host"] == "fd20:a1b::5"
    assert "private_ip" not in hv["v6-only"]["gce"] and hv["v6-only"]["gce"]["ipv6"] == "fd20:a1b::5"
    m = hv["multi-nic"]
    assert m["ansible_host"] == "10.1.0.2" and m["gce"]["public_ip"] == "34.1.2.3" and m["gce"]["network"] == "front"
    assert m["gce"]["provisioning_model"] == "SPOT" and m["gce"]["tier_1"] is True
    assert m["gce"]["placement_policies"] == ["compact-1"]
    assert "tier_1" not in hv["v6-only"]["gce"] and "provisioning_model" not in hv["v6-only"]["gce"]


def test_metadata_keys_hostvar_name_default_groups(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], metadata_keys=["nz-tier"],
                          hostvar_name="gcp", default_groups=False)
    proc = ansible_inventory(config)
    hv = hostvars(proc.data)
    assert hv["db-1"]["gcp"]["metadata"] == {"nz-tier": "gold"}  # ssh-keys not copied
    assert "gce" not in hv["db-1"]
    assert set(proc.data) == {"_meta", "all", "ungrouped"}


def test_tag_groups(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], tag_groups=True)
    data = ansible_inventory(config).data
    assert group_hosts(data, "tag_engine") == ["engine-1"] and group_hosts(data, "tag_ssh") == ["engine-1"]
    assert "tags" not in hostvars(data)["engine-1"]["gce"]  # grouped on, not stored (hostvar_keys)
    assert "tags" in instance_listings(lab)[-1].query["fields"][0]


def test_compose_groups_keyed_groups(lab, sa_key_file, tmp_path):
    config = write_config(
        tmp_path, lab, key_file=sa_key_file, projects=[PROJECT],
        compose={"nz_role": "gce.labels.role | default('none')"},
        # machine_family and tags are not stored by default: the constructed options still see them
        groups={"big": "gce.machine_family in ['a3', 'c3']"},
        keyed_groups=[{"key": "gce.labels.env | default('none')", "prefix": "environment"},
                      {"key": "gce.tags | default([])", "prefix": "nettag"}],
    )
    proc = ansible_inventory(config)
    hv = hostvars(proc.data)
    assert "machine_family" not in hv["engine-1"]["gce"]
    assert group_hosts(proc.data, "nettag_engine") == ["engine-1"]
    assert hv["db-1"]["nz_role"] == "database"
    assert group_hosts(proc.data, "big") == ["engine-1", "gpu-1"]
    assert group_hosts(proc.data, "environment_prod") == ["engine-1"]
    assert group_hosts(proc.data, "environment_none") == ["db-1", "gpu-1"]
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], strict=True,
                          compose={"x": "gce.no_such_key.y"})
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "no_such_key" in proc.stderr


# -- real API dumps and paging ------------------------------------------------------------------

def test_real_aggregated_dumps(emulator, sa_key_file, tmp_path):
    projects = emulator.load_fixture(FIXTURES / "gce1-compute-instances-aggregated.json")
    projects += emulator.load_fixture(FIXTURES / "gke1-compute-instances-europe-west4-a.json")
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=sorted(set(projects)), tag_groups=True)
    proc = ansible_inventory(config)
    hv = hostvars(proc.data)
    gce1 = [h for h in hv if h.startswith("gce1.")]
    assert len(gce1) == 2 and {hv[h]["gce"]["zone"] for h in gce1} == {"europe-west4-a", "europe-west4-b"}
    v100 = [h for h, v in hv.items() if v["gce"].get("gpus")]
    assert v100 == ["gke-gke6-default-pool-d8412db4-pb55"]
    assert group_hosts(proc.data, "gpu_nvidia_tesla_v100") == v100
    assert group_hosts(proc.data, "tag_secured_instance")
    assert hv["gce2"]["gce"]["machine_type"]


def test_real_paged_zone_dump(emulator, sa_key_file, tmp_path):
    projects = emulator.load_fixture(FIXTURES / "gce1-compute-instances-europe-west1-b.json")
    projects += emulator.load_fixture(FIXTURES / "gce1-compute-instances-europe-west1-b-2.json")
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=sorted(set(projects)),
                          zones=["europe-west1-b"])
    hv = hostvars(ansible_inventory(config).data)
    assert sorted(hv) == sorted(["gke-gke1-default-pool-35923fbc-2xxp", "gke-gke1-default-pool-35923fbc-c12f",
                                 "gke-gke1-default-pool-35923fbc-fv50", "gke-gke1-default-pool-35923fbc-k05c"])


@pytest.mark.parametrize("strategy", ["aggregated", "auto", "zonal"])
def test_many_pages(emulator, sa_key_file, tmp_path, strategy):
    projects = emulator.generate(2300, projects=1, zones=3, seed=1)
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=projects, statuses=[],
                          list_strategy=strategy)
    assert len(hostvars(ansible_inventory(config).data)) == 2300
    calls = listings(emulator)
    tokens = [r.query.get("pageToken") for r in calls if r.query.get("pageToken")]
    if strategy == "aggregated":
        assert len(calls) == 5 and len(tokens) == 4  # 2300 at 500 a page
    else:
        assert any(r.path.endswith("/zones") for r in calls) and tokens
    assert emulator.tokens_issued == 1


@pytest.mark.parametrize("strategy", ["aggregated", "auto", "zonal"])
def test_a_full_listing_sends_only_documented_parameters(emulator, sa_key_file, tmp_path, strategy):
    """Every request is one Compute v1 documents: no 400, so no 400-and-retry, whatever the strategy.

    The emulator refuses query parameters the method's discovery document does not list, as Google
    does (returnPartialSuccess is on no compute.v1 method).
    """
    projects = emulator.generate(1200, projects=2, zones=3, seed=7)  # more than one aggregated page each
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=projects, statuses=[],
                          list_strategy=strategy)
    assert len(hostvars(ansible_inventory(config).data)) == 1200
    calls = [r for r in emulator.requests if "/compute/" in r.path]
    assert calls and {r.status for r in calls} == {200}, sorted({(r.path, r.status) for r in calls})
    sent = [(r.path, tuple(sorted((k, tuple(v)) for k, v in r.query.items()))) for r in calls]
    assert len(sent) == len(set(sent)), "a request was sent twice (a retry)"
    assert not any("returnPartialSuccess" in r.query for r in calls)
    assert any(r.path.endswith("/global/networks/default") for r in calls)  # the MTU reads too


def test_no_speculative_zone_listing_without_spare_workers(lab, sa_key_file, tmp_path):
    """The zones are asked for alongside the probe only when that takes no worker a listing needs."""
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], concurrency=1)
    assert len(hostvars(ansible_inventory(config).data)) == 3
    assert [r.path for r in listings(lab)] == [f"/compute/v1/projects/{PROJECT}/aggregated/instances"]


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "needles"), [
    ("not_found", ["Project 'broken' was not found"]),
    ("permission_denied", ["compute.instances.list", "'broken'"]),
    ("api_disabled", ["Compute Engine API is disabled in project 'broken'", "gcloud services enable"]),
])
def test_project_errors(lab, sa_key_file, tmp_path, kind, needles):
    lab.add_project("broken", zones=[ZONE_A])
    lab.set_project_error("broken", kind)
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT, "broken"])
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0
    for needle in needles:
        assert needle in proc.stderr
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT, "broken"],
                          skip_failed_projects=True)
    proc = ansible_inventory(config)
    assert sorted(hostvars(proc.data)) == ["db-1", "engine-1", "gpu-1"]
    assert "skipping project 'broken'" in proc.stderr and needles[0] in proc.stderr


def test_bad_filter(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT],
                          filter="name eq 'a.*' AND status = RUNNING")
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "HTTP 400" in proc.stderr and "'filter' option" in proc.stderr


def test_network_failure_after_retries(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], retries=2,
                          api_endpoint="http://127.0.0.1:9")
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0
    assert "after 3 attempt(s)" in proc.stderr and "api_endpoint" in proc.stderr


def test_429_and_5xx_are_retried(lab, sa_key_file, tmp_path):
    lab.faults.add(path_regex="/aggregated/instances", status=429, times=1)
    lab.faults.add(path_regex="/aggregated/instances", status=503, times=1, nth=2)  # rules on one request combine
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT])
    assert sorted(hostvars(ansible_inventory(config).data)) == ["db-1", "engine-1", "gpu-1"]
    assert len([r for r in lab.requests if "/aggregated/" in r.path]) == 3


def test_unreachable_zones_warn_or_error(lab, sa_key_file, tmp_path):
    lab.set_unreachable(PROJECT, [ZONE_B])
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT])
    proc = ansible_inventory(config)
    assert f"{PROJECT}/zones/{ZONE_B}" in proc.stderr and "missing" in proc.stderr
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], unreachable_zones="error")
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and f"{PROJECT}/zones/{ZONE_B}" in proc.stderr
    # listed per zone, an unreachable zone answers 503: retried, then reported the same way
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], zones=[ZONE_A, ZONE_B],
                          retries=1)
    proc = ansible_inventory(config)
    assert sorted(hostvars(proc.data)) == ["engine-1", "gpu-1"] and f"zones/{ZONE_B}" in proc.stderr


@pytest.mark.parametrize(("options", "needle"), [
    ({"auth_kind": "serviceaccount", "service_account_file": "/nonexistent/key.json"},
     "service_account_file '/nonexistent/key.json' does not exist"),
    ({"auth_kind": "serviceaccount", "service_account_file": "/etc/hostname"}, "is not a JSON service-account key"),
    ({"auth_kind": "serviceaccount", "service_account_file": "/etc"}, "does not exist"),
])
def test_credential_file_errors(lab, tmp_path, options, needle):
    config = write_config(tmp_path, lab, projects=[PROJECT], **options)
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and needle in proc.stderr


# -- auth kinds: one token per run --------------------------------------------------------------

def test_auth_service_account_contents_from_lookup(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, projects=[PROJECT], auth_kind="serviceaccount",
                          service_account_contents=f"{{{{ lookup('file', '{sa_key_file}') }}}}")
    assert len(hostvars(ansible_inventory(config).data)) == 3
    assert lab.tokens_issued == 1


def test_auth_access_token_from_vault_never_printed(lab, tmp_path):
    token = "ya29.vaulted-secret-token-123"
    lab.add_access_token(token)
    secret_file = tmp_path / "vault-pass"
    secret_file.write_text("s3cret-vault-pass\n")
    enc = subprocess.run([str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(secret_file),
                          token, "--name", "access_token"], capture_output=True, text=True, check=True,
                         env=base_env(), cwd=ROOT).stdout
    config = tmp_path / "vault.gce.yml"
    config.write_text(f"plugin: gce\nprojects: [{PROJECT}]\nauth_kind: accesstoken\napi_endpoint: {lab.url}\n{enc}")
    env = base_env(ANSIBLE_VAULT_PASSWORD_FILE=str(secret_file))
    proc = ansible_inventory(config, env=env)
    assert len(hostvars(proc.data)) == 3
    assert token not in proc.stdout + proc.stderr
    auth = {r.headers.get("Authorization") for r in lab.requests if "/compute/" in r.path}
    assert auth == {f"Bearer {token}"}
    proc = ansible_inventory(config, "--list", "-vvvv", env=env)
    assert token not in proc.stdout + proc.stderr


def test_auth_machineaccount(metadata_env, tmp_path):
    emulator = metadata_env
    emulator.add_project(PROJECT, zones=[ZONE_A])
    emulator.add_instances(PROJECT, [instance(PROJECT, ZONE_A, "vm-1", ip="10.0.0.2")])
    config = write_config(tmp_path, emulator, projects=[PROJECT], auth_kind="machineaccount")
    host = f"127.0.0.1:{emulator.port}"
    proc = ansible_inventory(config, env=base_env(GCE_METADATA_HOST=host, GCE_METADATA_IP=host))
    assert list(hostvars(proc.data)) == ["vm-1"]
    assert emulator.tokens_issued == 1


def test_auth_impersonate(lab, sa_key_file, tmp_path):
    target = lab.make_service_account(email="inventory@proj.iam.gserviceaccount.com")["client_email"]
    config = write_config(tmp_path, lab, projects=[PROJECT], auth_kind="impersonate",
                          service_account_file=str(sa_key_file), impersonate_service_account=target,
                          iam_endpoint=lab.url)
    assert len(hostvars(ansible_inventory(config).data)) == 3
    assert len([r for r in lab.requests if r.path.endswith(":generateAccessToken")]) == 1
    assert lab.tokens_issued == 2  # the source credential's token and the impersonated one, once each


def test_auth_application_default_and_endpoint_from_env(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, projects=[PROJECT],
                          api_endpoint="{{ lookup('env', 'NEARZERO_EMULATOR_URL') }}")
    env = base_env(GOOGLE_APPLICATION_CREDENTIALS=str(sa_key_file), NEARZERO_EMULATOR_URL=lab.url)
    assert len(hostvars(ansible_inventory(config, env=env).data)) == 3
    assert lab.tokens_issued == 1


# -- cache ------------------------------------------------------------------------------------

def test_cache_hit_and_expiry(lab, sa_key_file, tmp_path):
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], cache=True,
                          cache_plugin="ansible.builtin.jsonfile", cache_connection=str(tmp_path / "cache"),
                          cache_timeout=3)
    first = hostvars(ansible_inventory(config).data)
    calls = len(instance_listings(lab))
    assert calls == 1
    # The cache holds the API's data as the API sent it: no value ansible-core tagged while building
    # the hosts leaks into it (decoding tagged values made a cache hit 4x slower than a fetch).
    cached = "".join(p.read_text() for p in (tmp_path / "cache").iterdir())
    assert "engine-1" in cached and "__ansible" not in cached
    assert hostvars(ansible_inventory(config).data) == first
    assert len(instance_listings(lab)) == 1  # served from the cache
    time.sleep(3.5)
    assert hostvars(ansible_inventory(config).data) == first
    assert len(instance_listings(lab)) == 2  # expired: fetched again
    # asking for more facts is another request shape: never served from a listing made without them
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], cache=True,
                          cache_plugin="ansible.builtin.jsonfile", cache_connection=str(tmp_path / "cache"),
                          cache_timeout=60, hostvar_keys=["name", "self_link"])
    assert hostvars(ansible_inventory(config).data)["engine-1"]["gce"]["self_link"].endswith("/engine-1")
    assert len(instance_listings(lab)) == 3


# -- templating safety ------------------------------------------------------------------------

def _hostile(emulator, tmp_path, sa_key_file, **extra):
    payload = "{{ lookup('pipe', 'id') }}"
    emulator.add_project(PROJECT, zones=[ZONE_A])
    emulator.add_instances(PROJECT, [instance(PROJECT, ZONE_A, "evil-1", ip="10.0.0.9", labels={"note": payload},
                                              metadata_items=[{"key": "motd", "value": payload}])])
    return payload, write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT],
                                 metadata_keys=["motd"], **extra)


def test_api_data_is_never_templated_in_inventory(emulator, sa_key_file, tmp_path):
    payload, config = _hostile(emulator, tmp_path, sa_key_file, compose={"note": "gce.labels.note"},
                               keyed_groups=[{"key": "gce.labels.note", "prefix": "note"}],
                               groups={"evil": "gce.labels.note is search('lookup')"},
                               cache=True, cache_plugin="ansible.builtin.jsonfile",
                               cache_connection=str(tmp_path / "cache"))
    for _round in range(2):  # fresh, then from the cache
        proc = ansible_inventory(config)
        raw = proc.data["_meta"]["hostvars"]["evil-1"]
        assert raw["gce"]["labels"]["note"] == {"__ansible_unsafe": payload}
        assert hostvars(proc.data)["evil-1"]["note"] == payload
        assert hostvars(proc.data)["evil-1"]["gce"]["metadata"]["motd"] == payload
        assert group_hosts(proc.data, "evil") == ["evil-1"]  # the literal text, not its rendering
        assert [g for g in proc.data if g.startswith("note_")] == ["note____lookup__pipe____id_____"]
        assert "uid=" not in proc.stdout


def test_api_data_is_never_templated_in_a_playbook(emulator, sa_key_file, tmp_path):
    payload, config = _hostile(emulator, tmp_path, sa_key_file)
    playbook = tmp_path / "show.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  connection: local\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: 'LABEL[{{ gce.labels.note }}] META[{{ gce.metadata.motd }}]'\n"
    )
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(config), str(playbook)], cwd=ROOT,
                          env=base_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"LABEL[{payload}] META[{payload}]" in proc.stdout
    assert "uid=" not in proc.stdout


def test_ansible_doc_renders():
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "inventory", "gce"], cwd=ROOT, env=base_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    for option in ("projects", "duplicate_names", "auth_kind", "keyed_groups", "cache_timeout"):
        assert option in proc.stdout


def test_example_configs_parse():
    from ansible.parsing.yaml.loader import AnsibleLoader

    for path in (ROOT / "inventory" / "example.gce.yml", ROOT / "inventory" / "lab" / "lab.gce.yml"):
        data = AnsibleLoader(path.read_text()).get_single_data()
        assert data["plugin"] in ("gce", "nearzero.gcp.gce") and data["projects"]
        assert json.dumps(data)


def test_extra_fields_feed_include(lab, sa_key_file, tmp_path):
    include = ["scheduling.onHostMaintenance == 'TERMINATE'"]  # the GPU VM; a field not fetched by default
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], include=include)
    assert hostvars(ansible_inventory(config).data) == {}
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], include=include,
                          extra_fields=["scheduling/onHostMaintenance"])
    hv = hostvars(ansible_inventory(config).data)
    assert sorted(hv) == ["gpu-1"] and "onHostMaintenance" not in json.dumps(hv)


def test_timeout_concurrency_and_scopes(lab, sa_key_file, tmp_path):
    scope = "https://www.googleapis.com/auth/compute.readonly"
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], concurrency=1, scopes=[scope])
    assert len(hostvars(ansible_inventory(config).data)) == 3
    token_post = next(r for r in lab.requests if r.path == "/token")
    assertion = dict(p.split("=", 1) for p in token_post.raw_body.decode().split("&"))["assertion"]
    claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    assert claims["scope"] == scope
    lab.faults.add(path_regex="/aggregated/instances", latency_ms=3000, times=None)
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], timeout=0.5, retries=1)
    started = time.monotonic()
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "after 2 attempt(s)" in proc.stderr and "timed out" in proc.stderr.lower()
    assert time.monotonic() - started < 30


def test_collector_paused_while_building_then_frozen_and_given_back():
    """_bulk_build: no collection while hosts are built, the result frozen, and a refresh frees the old heap."""
    import gc
    import importlib
    import weakref

    gce = importlib.import_module("ansible_collections.nearzero.gcp.plugins.inventory.gce")

    class Node:
        pass

    def cycle():
        node = Node()
        node.self = node  # only the cyclic collector can free this
        return weakref.ref(node)

    assert gc.isenabled()
    try:
        with gce._bulk_build():
            assert not gc.isenabled()
            old = cycle()  # stands for a host of the first parse, dropped by the refresh below
        assert gc.isenabled() and gc.get_freeze_count() > 0
        gc.collect()
        assert old() is not None  # frozen: left out of collections
        with gce._bulk_build():  # meta: refresh_inventory parses again: the old inventory is given back
            assert old() is None
        with pytest.raises(RuntimeError), gce._bulk_build():  # an error: state restored, nothing frozen
            raise RuntimeError("listing failed")
        assert gc.isenabled() and gc.get_freeze_count() == 0
        gc.disable()  # a caller that runs without the collector keeps it off
        with gce._bulk_build():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
        gce._FROZEN["heap"] = False


def run_probe(tmp_path, script, *args, env=None):
    """Run ``script`` (Python source) with the venv's interpreter from the repository root."""
    probe = tmp_path / "probe.py"
    probe.write_text(script)
    return subprocess.run([str(BIN / "python"), str(probe), *map(str, args)], cwd=ROOT, env=env or base_env(),
                          capture_output=True, text=True, timeout=300, check=False)


FROZEN_GARBAGE_PROBE = """
import gc, runpy, sys
from ansible.inventory.manager import InventoryManager
parse_sources = InventoryManager.parse_sources
def probe(self, *args, **kwargs):
    result = parse_sources(self, *args, **kwargs)
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    print(f"PROBE frozen={frozen} garbage={len(gc.garbage)}", file=sys.stderr)
    gc.set_debug(0)
    return result
InventoryManager.parse_sources = probe
sys.argv = ["ansible-inventory"] + sys.argv[1:]
runpy.run_path(sys.argv.pop(1), run_name="__main__")
"""


def test_freeze_keeps_no_listing_alive(emulator, sa_key_file, tmp_path):
    """What _bulk_build freezes is what the inventory needs: the raw listing is not kept past parse."""
    projects = emulator.generate(600, projects=2, zones=3, seed=5)
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=projects, statuses=[])
    # YAML, as operators write it: ansible-core first fails to read it as JSON and keeps that exception
    config.write_text(yaml.safe_dump(json.loads(config.read_text())))
    proc = run_probe(tmp_path, FROZEN_GARBAGE_PROBE, BIN / "ansible-inventory", "-i", config, "--graph")
    assert proc.returncode == 0, proc.stderr
    frozen, garbage = (int(v.split("=")[1]) for v in proc.stderr.split("PROBE ")[1].split()[:2])
    assert frozen > 600
    # only ansible-core's config-file exception chain (about 200 objects); the raw listing alone would be
    # about 4 objects per instance, kept by that chain through parse()'s frame
    assert garbage < 600, garbage


INVENTORY_PROBE = """
import json, sys
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
added = []
add_host = InventoryData.add_host
def counting_add_host(self, host, *args, **kwargs):
    if host not in self.hosts:
        added.append(host)
    return add_host(self, host, *args, **kwargs)
InventoryData.add_host = counting_add_host
data = InventoryManager(loader=DataLoader(), sources=sys.argv[1:])._inventory
print(json.dumps({"added": added, "hosts": list(data.hosts),
                  "groups": {name: [h.name for h in group.hosts] for name, group in data.groups.items()},
                  "children": {name: [g.name for g in group.child_groups] for name, group in data.groups.items()}}))
"""


def inventory_state(tmp_path, *sources):
    """Hosts, groups (members, child groups) and every host ever added, parsed in-process as playbooks do."""
    env = base_env()
    # relaxed, as an operator may run it knowingly (docs/ANSIBLE_CFG.md): warn and go on
    env["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "false"
    proc = run_probe(tmp_path, INVENTORY_PROBE, *sources, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_a_failure_part_way_takes_out_every_host_and_group_added(lab, sa_key_file, tmp_path):
    """ansible-core warns about a failed source and goes on with what it added: never a fleet cut short."""
    static = tmp_path / "static.yml"
    static.write_text("all:\n  children:\n    by_zone: {}\n  hosts:\n    bastion-1: {}\n")
    # db-1 comes first and has no label env; engine-1, next, has one: strict fails there
    compose = {"environment": "'none' if gce.labels.env is not defined else gce.no_such_fact"}
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], strict=True, compose=compose,
                          keyed_groups=[{"key": "gce.zone", "prefix": "z", "parent_group": "by_zone"}])
    state, stderr = inventory_state(tmp_path, static, config)
    assert "no_such_fact" in stderr and "Failed to parse" in stderr
    assert state["added"][:3] == ["bastion-1", "db-1", "engine-1"]  # both were in when engine-1 failed
    assert state["hosts"] == ["bastion-1"]
    assert set(state["groups"]) == {"all", "ungrouped", "by_zone"} and state["children"]["by_zone"] == []
    # without strict the same configuration builds the whole fleet
    config = write_config(tmp_path, lab, key_file=sa_key_file, projects=[PROJECT], compose=compose,
                          keyed_groups=[{"key": "gce.zone", "prefix": "z", "parent_group": "by_zone"}])
    state, _stderr = inventory_state(tmp_path, static, config)
    assert sorted(state["hosts"]) == ["bastion-1", "db-1", "engine-1", "gpu-1"]
    assert len(state["children"]["by_zone"]) == 2
