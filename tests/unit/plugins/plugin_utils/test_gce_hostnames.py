"""plugin_utils/gce/hostnames.py and groups.py: host names, duplicates and the default groups."""

import pytest

from tests.unit.plugins.plugin_utils.gce_utils import gce_utils

hostnames, groups, errors = gce_utils("hostnames", "groups", "errors")


def facts(name, zone="us-central1-a", project="p1", **kw):
    return {"name": name, "id": kw.pop("id", 1), "zone": zone, "project": project, **kw}


def test_pick_follows_the_preference_and_labels():
    host = facts("engine-1", private_ip="10.0.0.2", labels={"role": "engine", "empty": ""})
    assert hostnames.pick(host, ["public_ip", "label:empty", "label:role", "name"]) == "engine"
    assert hostnames.pick(host, ["public_ip", "private_ip"]) == "10.0.0.2"
    assert hostnames.pick(host, ["public_ip"]) is None


def test_unsupported_preference_names_the_option():
    hostnames.check_preferences({"hostnames": ["name", "label:role"], "ansible_host_preference": ["ipv6"]})
    with pytest.raises(errors.ConfigError, match="'label:' in 'ansible_host_preference' is not supported"):
        hostnames.check_preferences({"hostnames": ["name"], "ansible_host_preference": ["label:"]})


def test_duplicates_are_qualified_then_told_apart_by_name_and_id():
    a = facts("a", labels={"role": "x"})
    records = [
        ("unique", facts("unique"), None),
        ("engine-1", facts("engine-1", project="p1"), "10.0.0.2"),
        ("engine-1", facts("engine-1", project="p2"), None),
        ("x", a, None),  # same label in one zone: the instance name goes in
        ("x", facts("b"), None),
        ("y", facts("c", id=7), None),  # same label and same instance name (two instances): the id goes in
        ("y", facts("c", id=8), None),
    ]
    names = [n for n, _f, _h in hostnames.resolve_duplicates(records, "qualify")]
    assert names == ["unique", "engine-1.us-central1-a.p1", "engine-1.us-central1-a.p2", "x.a.us-central1-a.p1",
                     "x.b.us-central1-a.p1", "y.c.7.us-central1-a.p1", "y.c.8.us-central1-a.p1"]
    assert hostnames.resolve_duplicates(records[:2], "error") == records[:2]  # no duplicate: unchanged
    with pytest.raises(errors.DuplicateHostError, match=r"engine-1: p1/us-central1-a, p2/us-central1-a.*qualify"):
        hostnames.resolve_duplicates(records, "error")


def test_default_groups_are_sanitised_and_unique():
    host = facts("g", region="us-central1", status="RUNNING", machine_family="a3",
                 gpus=[{"type": "nvidia-l4", "count": 1}], labels={"gpu": "nvidia-l4", "role": "trading-engine"},
                 tags=["ssh"])
    # (name, source) pairs: the source is what trust.GroupGuard checks a protected name against; a label
    # naming a group another source made (gpu=nvidia-l4) keeps its own pair, so it is checked too
    assert groups.default_groups(host, tag_groups=False) == [
        ("project_p1", "project"), ("region_us_central1", "region"), ("zone_us_central1_a", "zone"),
        ("status_running", "status"), ("family_a3", "family"), ("gpu", "accelerators"),
        ("gpu_nvidia_l4", "accelerators"), ("gpu_nvidia_l4", "label:gpu"), ("role_trading_engine", "label:role")]
    assert groups.default_groups(host, tag_groups=True)[-1] == ("tag_ssh", "tag")
