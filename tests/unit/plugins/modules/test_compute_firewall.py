"""compute_firewall against the emulator: create, re-run, check mode, source-range drift with diff, refusals."""

import pytest

RULE = "projects/p1/global/firewalls/trading-ssh"


@pytest.fixture
def net(emulator, sa_key_file, run_module):
    """Project p1 with the custom-mode network 'trading', and the module arguments."""
    emulator.add_project("p1", ["us-east4-a"])
    args = {"project": "p1", "api_endpoint": emulator.url, "auth_kind": "serviceaccount",
            "service_account_file": str(sa_key_file), "retry_backoff": 0.01, "retry_backoff_max": 0.02,
            "retries": 1, "wait_timeout": 5}
    assert not run_module("compute_network", dict(args, name="trading"))[0]
    return emulator.services["compute_network"], args


def ssh_rule(args, **over):
    """The IAP SSH rule's arguments."""
    rule = dict(args, name="trading-ssh", network="trading", source_ranges=["35.235.240.0/20", "10.89.7.0/24"],
                target_tags=["trading-engine"], allowed=[{"protocol": "tcp", "ports": ["22"]}])
    rule.update(over)
    return rule


def test_create_rerun_and_source_drift(run_module, net, emulator):
    store, args = net
    failed, result = run_module("compute_firewall", ssh_rule(args), check=True)
    assert not failed and result["changed"] and RULE not in store.items
    failed, result = run_module("compute_firewall", ssh_rule(args))
    assert not failed and result["changed"]
    rule = store.items[RULE]
    assert (rule["direction"], rule["priority"], rule["allowed"], rule["targetTags"]) == (
        "INGRESS", 1000, [{"IPProtocol": "tcp", "ports": ["22"]}], ["trading-engine"])
    # the same sets in another order change nothing
    failed, again = run_module("compute_firewall", ssh_rule(args, source_ranges=["10.89.7.0/24", "35.235.240.0/20"]))
    assert not failed and not again["changed"] and again["operations"] == []

    rule["sourceRanges"] = ["0.0.0.0/0"]  # someone opened SSH to the world
    emulator.clear_requests()
    failed, result = run_module("compute_firewall", ssh_rule(args), check=True, diff=True)
    assert not failed and result["changed"]
    assert result["diff"]["before"] == {"sourceRanges": ["0.0.0.0/0"]}
    assert result["diff"]["after"] == {"sourceRanges": ["35.235.240.0/20", "10.89.7.0/24"]}
    assert store.items[RULE]["sourceRanges"] == ["0.0.0.0/0"]  # check mode: reported only
    failed, result = run_module("compute_firewall", ssh_rule(args), diff=True)
    assert not failed and result["changed"]
    assert sorted(store.items[RULE]["sourceRanges"]) == ["10.89.7.0/24", "35.235.240.0/20"]
    patches = [r.json() for r in emulator.requests if r.kind == "compute.firewalls.patch"]
    assert patches == [{"sourceRanges": ["35.235.240.0/20", "10.89.7.0/24"]}]
    assert not run_module("compute_firewall", ssh_rule(args))[1]["changed"]

    two = [{"protocol": "tcp", "ports": ["22"]}, {"protocol": "icmp"}]
    failed, result = run_module("compute_firewall", ssh_rule(args, allowed=two, priority=900, log=True,
                                                             source_tags=["bastion", "ops"]))
    assert not failed and result["changed"]
    rule = store.items[RULE]
    assert (rule["priority"], len(rule["allowed"]), rule["logConfig"], rule["sourceTags"]) == (
        900, 2, {"enable": True}, ["bastion", "ops"])
    assert not run_module("compute_firewall", ssh_rule(args, allowed=two[::-1], priority=900, log=True,
                                                       source_tags=["ops", "bastion"]))[1]["changed"]

    failed, result = run_module("compute_firewall", dict(args, name="trading-ssh", state="absent"))
    assert not failed and result["changed"] and RULE not in store.items


def test_direction_and_network_are_reported_not_applied(run_module, net):
    store, args = net
    assert not run_module("compute_firewall", ssh_rule(args))[0]
    failed, result = run_module("compute_firewall", ssh_rule(args, direction="EGRESS", source_ranges=None))
    assert failed and result["kind"] == "immutable" and "direction is 'INGRESS', wanted 'EGRESS'" in result["msg"]
    assert store.items[RULE]["direction"] == "INGRESS"


def test_bad_rules_fail_before_any_call(run_module, net, emulator):
    _store, args = net
    emulator.clear_requests()
    failed, result = run_module("compute_firewall", ssh_rule(args, allowed=[{"protocol": "icmp", "ports": ["22"]}],
                                                             source_ranges=["35.235.240.0/33"], priority=70000))
    assert failed
    for part in ("priority 70000 is outside 0..65535", "'35.235.240.0/33' is not an address range",
                 "protocol 'icmp' takes no ports"):
        assert part in result["msg"]
    assert not [r for r in emulator.requests if r.kind.startswith("compute.")]


def test_api_refusal_reaches_the_user(run_module, net):
    _store, args = net
    failed, result = run_module("compute_firewall", ssh_rule(args, allowed=[{"protocol": "tcp", "ports": ["99999"]}]))
    assert failed and result["kind"] == "bad_request" and "Invalid port or port range" in result["msg"]
