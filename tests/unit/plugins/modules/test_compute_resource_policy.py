"""compute_resource_policy against the emulator: create, idempotence, check mode, no in-place change, delete."""

import pytest


@pytest.fixture
def policy(emulator, sa_key_file):
    """Project p1, and the module arguments for a compact placement policy in us-east4."""
    emulator.add_project("p1", zones=["us-east4-a"])
    return emulator, {"project": "p1", "region": "us-east4", "name": "engines", "api_endpoint": emulator.url,
                      "auth_kind": "serviceaccount", "service_account_file": str(sa_key_file), "retries": 1,
                      "retry_backoff": 0.01, "wait_timeout": 10,
                      "group_placement": {"collocation": "COLLOCATED"}}


def test_check_mode_then_create_then_nothing_to_do(run_module, policy):
    emulator, args = policy
    failed, result = run_module("compute_resource_policy", args, check=True, diff=True)
    assert not failed and result["changed"] and result["created"]
    assert result["diff"]["after"]["groupPlacementPolicy"] == {"collocation": "COLLOCATED"}
    assert emulator.stats()["requests"].get("compute.resourcePolicies.insert", 0) == 0
    failed, result = run_module("compute_resource_policy", args)
    assert not failed and result["changed"] and len(result["operations"]) == 1
    assert result["resource"]["groupPlacementPolicy"]["collocation"] == "COLLOCATED"
    failed, again = run_module("compute_resource_policy", args)
    assert not failed and not again["changed"] and again["operations"] == []


def test_a_different_placement_is_reported_with_what_it_takes(run_module, policy):
    _emulator, args = policy
    assert not run_module("compute_resource_policy", args)[0]
    failed, result = run_module("compute_resource_policy", dict(args, group_placement={"vm_count": 3}))
    assert failed and "cannot change a resource policy in place" in result["msg"]
    assert "removeResourcePolicies" in result["msg"] and "Nothing was changed" in result["msg"]


def test_absent_deletes_once(run_module, policy):
    _emulator, args = policy
    assert not run_module("compute_resource_policy", args)[0]
    failed, result = run_module("compute_resource_policy", dict(args, state="absent"))
    assert not failed and result["changed"]
    failed, result = run_module("compute_resource_policy", dict(args, state="absent"))
    assert not failed and not result["changed"]
