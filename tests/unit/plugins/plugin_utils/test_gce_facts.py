"""plugin_utils/gce/facts.py: which facts a configuration needs, the fields they are read from, building them."""

import pytest

from tests.unit.plugins.gce_helpers import instance
from tests.unit.plugins.plugin_utils.gce_utils import gce_utils

facts, errors = gce_utils("facts", "errors")
ALL = frozenset(facts.FACT_KEYS)
NET = "https://compute.googleapis.com/compute/v1/projects/p1/global/networks/default"


def engine(**kw):
    inst = instance("p1", "us-central1-a", "engine-1", ip="10.0.0.2", machine_type="c3-standard-22",
                    labels={"role": "trading-engine"}, tags=["engine"],
                    gpus=[{"type": "nvidia-l4", "count": 2}],
                    metadata_items=[{"key": "ssh-keys", "value": "secret"}, {"key": "nz-tier", "value": "gold"}], **kw)
    inst["networkInterfaces"][0]["network"] = NET
    return inst


def test_every_fact_is_compact_and_derived_from_urls():
    built = facts.build_facts("p1", engine(), ALL, frozenset({"nz-tier"}), {NET: 8896})
    assert built["id"] == int(engine()["id"]) and isinstance(built["id"], int)
    assert built["zone"] == "us-central1-a" and built["region"] == "us-central1"
    assert built["machine_type"] == "c3-standard-22" and built["machine_family"] == "c3"
    assert built["network"] == "default" and built["network_mtu"] == 8896 and built["private_ip"] == "10.0.0.2"
    assert built["metadata"] == {"nz-tier": "gold"}  # only the listed keys: ssh keys never reach the inventory
    assert built["gpus"] == [{"type": "nvidia-l4", "count": 2}]
    assert built["internal_dns"] == "engine-1.us-central1-a.c.p1.internal"
    assert set(built) <= ALL
    assert all(v not in (None, "", []) for v in built.values())
    assert "tier_1" not in built and "provisioning_model" not in built  # defaults are left out


def test_only_needed_facts_are_worked_out_and_copies_are_made():
    inst = engine()
    built = facts.build_facts("p1", inst, {"labels"}, frozenset(), {})
    assert "region" not in built and "machine_type" not in built and "metadata" not in built
    built["labels"]["role"] = "changed"
    built["tags"].append("x")
    assert inst["labels"] == {"role": "trading-engine"} and inst["tags"]["items"] == ["engine"]


def test_stored_keys():
    assert facts.stored_keys(["all"], False, ["name"]) is None
    assert facts.stored_keys(["zone"], True, ["name"]) == {"zone"}
    # with other host names the default also keeps the instance name; an explicit list is taken as it is
    assert facts.stored_keys(["zone"], True, ["private_ip"]) == {"zone", "name"}
    assert facts.stored_keys(["zone"], False, ["private_ip"]) == {"zone"}
    with pytest.raises(errors.ConfigError, match=r"unknown key\(s\) nope in 'hostvar_keys'.*or \[all\]"):
        facts.stored_keys(["zone", "nope"], False, ["name"])


def test_needed_facts():
    keep = frozenset({"zone"})
    plain = facts.needed_facts(keep, templated=False, default_groups=False, tag_groups=True,
                               preferences=["label:role", "public_ip"], metadata_keys=())
    assert plain == {"zone", "labels", "public_ip"}
    grouped = facts.needed_facts(keep, templated=False, default_groups=True, tag_groups=True, preferences=[],
                                 metadata_keys=())
    assert grouped == {"zone", "tags", *facts.GROUP_FACTS}
    every = facts.needed_facts(keep, templated=True, default_groups=False, tag_groups=False, preferences=[],
                               metadata_keys=())
    assert every == ALL - {"metadata"}  # no metadata_keys: metadata is never requested
    assert "metadata" in facts.needed_facts(None, templated=False, default_groups=False, tag_groups=False,
                                            preferences=[], metadata_keys=["nz-tier"])


def test_instance_fields_selects_only_what_the_facts_read():
    assert facts.instance_fields(set(), []) == "id,name,zone,status"
    needed = {"private_ip", "network_mtu", "labels", "machine_family"}
    fields = facts.instance_fields(needed, ["scheduling/preemptible"])
    assert fields == ("id,name,zone,status,labels,machineType,networkInterfaces(network,networkIP),"
                      "scheduling/preemptible")
