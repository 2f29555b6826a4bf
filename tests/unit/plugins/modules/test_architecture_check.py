"""architecture_check: every refusal with its message; static rules make no API call, lookups go to the emulator."""

import copy

import pytest


def architecture():
    """A design that passes: one US subnet, PSA, a compact policy, a GPU host and a CPU host, Cloud SQL."""
    return {
        "project": "p1", "region": "us-east4", "zone": "us-east4-a",
        "network": {
            "name": "trading", "mtu": 8896,
            "subnets": [{"name": "trading-us", "region": "us-east4", "cidr": "10.10.0.0/24"},
                        {"name": "trading-eu", "region": "europe-west3", "cidr": "10.20.0.0/24"}],
            "private_services_access": {"name": "google-services", "cidr": "10.100.0.0/16"},
            "nat": {"router": "nat-us"},
        },
        "placement_policies": [{"name": "engines"}],
        "fleet": [
            {"name": "engine-us-1", "machine_type": "a3-highgpu-1g", "placement_policy": "engines",
             "gpus": [{"type": "nvidia-h100-80gb", "count": 1}], "labels": {"role": "trading-engine"}},
            {"name_prefix": "engine-cpu", "count": 2, "machine_type": "c3-standard-88", "tier1": True,
             "placement_policy": "engines"},
        ],
        "database": {"primary": {"name": "db-us-1", "region": "us-east4", "tier": "db-custom-4-16384"},
                     "replica": {"name": "db-eu-1", "region": "europe-west3"}},
    }


def run_check(run_module, arch, lookups=False, **extra):
    return run_module("architecture_check", dict(architecture=arch, lookups=lookups, **extra))


def test_a_sound_design_passes_and_expands_the_fleet(run_module, emulator):
    failed, result = run_check(run_module, architecture())
    assert not failed, result.get("msg")
    names = [i["name"] for i in result["instances"]]
    assert names == ["engine-us-1", "engine-cpu-1", "engine-cpu-2"]
    first = result["instances"][0]
    assert (first["zone"], first["subnet"], first["on_host_maintenance"], first["nic_type"],
            first["threads_per_core"], first["external_ip"]) == \
        ("us-east4-a", "trading-us", "TERMINATE", "GVNIC", 1, False)
    assert result["architecture"]["database"]["backup_location"] == "eu"
    assert emulator.stats()["requests"] == {}  # lookups off: no call at all


def change(path, value):
    """A copy of the sound design with one value at ``path`` (a tuple of keys and indexes) replaced."""
    arch = architecture()
    node = arch
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return arch


REFUSALS = {
    "tier1-family": (("fleet", 1, "machine_type"), "e2-standard-32",
                     "tier1 needs a machine series that offers Tier_1 networking"),
    "tier1-vcpus": (("fleet", 1, "machine_type"), "c3-standard-8",
                    "tier1 on c3 needs at least 44 vCPUs; c3-standard-8 has 8"),
    "tier1-gvnic": (("fleet", 1, "nic_type"), "VIRTIO_NET", "tier1 needs the gVNIC driver"),
    "gpu-migrate": (("fleet", 0, "on_host_maintenance"), "MIGRATE",
                    "a VM with GPUs cannot live-migrate, so on_host_maintenance must be TERMINATE"),
    "gpu-wrong-bundle": (("fleet", 0, "gpus"), [{"type": "nvidia-l4", "count": 1}],
                         "a3-highgpu-1g comes with 1 x nvidia-h100-80gb"),
    "gpu-on-cpu-type": (("fleet", 1, "gpus"), [{"type": "nvidia-tesla-t4", "count": 1}],
                        "c3-standard-88 (c3) takes no GPUs"),
    "placement-family": (("fleet", 1, "machine_type"), "e2-standard-8", "cannot join compact placement policy"),
    "placement-undefined": (("placement_policies",), [], "placement_policy engines is not in placement_policies"),
    "placement-zones": (("fleet", 1, "zone"), "us-east4-b", "a compact policy places its VMs together in one zone"),
    "placement-distance": (("placement_policies", 0, "max_distance"), 2, "max_distance exists only in Compute's beta"),
    "placement-count": (("fleet", 1, "count"), 150, "compact placement takes at most 150"),
    "overlap": (("network", "subnets", 1, "cidr"), "10.10.0.128/25", "overlaps subnet trading-eu"),
    "psa-overlap": (("network", "private_services_access", "cidr"), "10.10.0.0/16",
                    "overlaps private services access range google-services"),
    "bad-cidr": (("network", "subnets", 0, "cidr"), "10.10.0.1/24", "is not an IPv4 network address"),
    "psa-too-small": (("network", "private_services_access", "cidr"), "10.100.0.0/28", "smaller than /24"),
    "psa-missing": (("network", "private_services_access"), None,
                    "Cloud SQL is private-IP only here, which needs private services access on network trading"),
    "backups-us": (("database", "backup_location"), "us", "backup_location is 'us', which is not in Europe"),
    "mtu": (("network", "mtu"), 9000, "network.mtu 9000 is outside 1300-8896"),
    "no-subnet": (("fleet", 0, "zone"), "asia-east1-a", "where the network has no subnet"),
    "name-and-prefix": (("fleet", 0, "name_prefix"), "x", "it has both name and name_prefix. Fix: set either name"),
    "bad-name": (("fleet", 0, "name"), "Engine_1", "is not a valid Compute Engine name"),
    "duplicate": (("fleet", 1, "name_prefix"), "engine-us", "instance name 'engine-us-1' is used twice"),
    "nat-region": (("network", "nat", "regions"), ["asia-east1"], "network.nat.regions names asia-east1"),
    "smt": (("fleet", 0, "threads_per_core"), 4, "threads_per_core is 4"),
    "neither-name": (("fleet", 0, "name"), None, "it has neither name nor name_prefix"),
    "prefix-no-count": (("fleet", 1, "count"), None, "name_prefix has no count"),
    "name-with-count": (("fleet", 0, "count"), 3, "count goes with name_prefix"),
    "several-subnets": (("network", "subnets"), [
        {"name": "a", "region": "us-east4", "cidr": "10.10.0.0/24"},
        {"name": "b", "region": "us-east4", "cidr": "10.11.0.0/24"}], "several subnets (a, b)"),
    "subnet-elsewhere": (("fleet", 0, "subnet"), "trading-eu", "subnet trading-eu is not a subnet"),
    "bad-psa-cidr": (("network", "private_services_access", "cidr"), "10.100.0.1/16", "is not an IPv4 network"),
    "bad-ssh-source": (("network", "ssh_sources"), ["everyone"], "ssh_sources entry 'everyone' is not a CIDR"),
    "gpu-not-attachable": (("fleet", 1), {"name": "n1", "machine_type": "n1-standard-8",
                                          "gpus": [{"type": "nvidia-l4", "count": 1}]},
                           "nvidia-l4 does not attach to n1"),
    "policy-region": (("placement_policies", 0, "region"), "europe-west3", "is not in region europe-west3"),
    "replica-name": (("database", "replica", "name"), "db-us-1", "replica and the primary are both named db-us-1"),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_each_refusal_names_the_problem_and_the_fix(run_module, emulator, case):
    path, value, message = case
    failed, result = run_check(run_module, change(path, value), lookups=True)
    assert failed
    assert any(message in p for p in result["problems"]), result["problems"]
    assert all("Fix:" in p for p in result["problems"]), result["problems"]
    assert "nothing was changed" in result["msg"]
    assert emulator.stats()["requests"] == {}  # static problems stop it before any API call


def test_backups_outside_europe_pass_when_knowingly_allowed(run_module):
    arch = change(("database", "backup_location"), "us")
    arch["database"]["backup_outside_europe_ok"] = True
    failed, result = run_check(run_module, arch)
    assert not failed, result.get("msg")


def test_every_problem_is_reported_at_once(run_module):
    arch = change(("network", "mtu"), 100)
    arch["fleet"][0]["on_host_maintenance"] = "MIGRATE"
    arch["database"]["backup_location"] = "us-central1"
    failed, result = run_check(run_module, arch)
    assert failed and len(result["problems"]) == 3
    assert "has 3 problem(s)" in result["msg"]


def test_schema_refuses_an_unknown_key(run_module):
    arch = architecture()
    arch["fleet"][0]["gpu"] = [{"type": "nvidia-h100-80gb"}]
    failed, result = run_check(run_module, arch)
    assert failed and "gpu" in result["msg"] and "architecture" in result["msg"]


@pytest.fixture
def api(emulator, sa_key_file):
    """The lookups' project on the emulator, and the auth/endpoint arguments."""
    emulator.add_project("p1", zones=["us-east4-a", "us-east4-b", "europe-west3-a"])
    return {"api_endpoint": emulator.url, "auth_kind": "serviceaccount", "service_account_file": str(sa_key_file),
            "retries": 1, "retry_backoff": 0.01}


def test_lookups_pass_for_types_the_zone_has(run_module, emulator, api):
    failed, result = run_check(run_module, architecture(), lookups=True, **api)
    assert not failed, result.get("msg")
    counts = emulator.stats()["requests"]
    assert counts.get("compute.machineTypes.get") == 2 and counts.get("compute.acceleratorTypes.list") == 1


def test_lookups_refuse_a_machine_type_the_zone_lacks(run_module, api):
    arch = copy.deepcopy(architecture())
    arch["fleet"][1]["machine_type"] = "c3-standard-89"  # no such size
    arch["fleet"][1]["tier1"] = False
    failed, result = run_check(run_module, arch, lookups=True, **api)
    assert failed
    assert any("machine type c3-standard-89 does not exist in zone us-east4-a" in p for p in result["problems"])


def test_lookups_refuse_an_accelerator_the_zone_lacks(run_module, api):
    arch = architecture()
    arch["fleet"][0].update(machine_type="n1-standard-8", gpus=[{"type": "nvidia-tesla-p4", "count": 1}],
                            placement_policy=None)
    arch["fleet"][0].pop("placement_policy")
    failed, result = run_check(run_module, arch, lookups=True, **api)
    assert failed
    assert any("accelerator type nvidia-tesla-p4 is not offered in zone us-east4-a" in p for p in result["problems"])


def test_lookups_refuse_more_gpus_than_the_zone_allows(run_module, api):
    arch = architecture()
    arch["fleet"][0] = {"name": "n1-host", "machine_type": "n1-standard-8",
                        "gpus": [{"type": "nvidia-tesla-t4", "count": 5}]}
    arch["fleet"].pop(1)
    failed, result = run_check(run_module, arch, lookups=True, **api)
    assert failed
    assert any("5 x nvidia-tesla-t4 is more than the 4 per instance zone us-east4-a allows" in p
               for p in result["problems"]), result["problems"]
