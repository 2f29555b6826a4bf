"""plugin_utils/gce/rollback.py on ansible-core's own InventoryData."""

import pytest
from ansible.inventory.data import InventoryData

from tests.unit.plugins.plugin_utils.gce_utils import gce_utils

(rollback,) = gce_utils("rollback")


def test_a_failure_takes_out_what_the_body_added_and_only_that():
    inventory = InventoryData()
    inventory.add_group("by_zone")
    inventory.add_host("bastion-1", group="by_zone")
    with pytest.raises(KeyboardInterrupt), rollback.all_or_nothing(inventory) as known:
        assert known >= {"all", "ungrouped", "by_zone"}
        inventory.add_host("engine-1")
        inventory.add_group("zone_a")
        inventory.add_child("by_zone", "zone_a")
        inventory.add_child("zone_a", "engine-1")
        raise KeyboardInterrupt
    assert set(inventory.hosts) == {"bastion-1"}
    assert set(inventory.groups) == {"all", "ungrouped", "by_zone"}
    assert [g.name for g in inventory.groups["by_zone"].child_groups] == []
    assert [h.name for h in inventory.groups["by_zone"].get_hosts()] == ["bastion-1"]


def test_success_keeps_everything():
    inventory = InventoryData()
    with rollback.all_or_nothing(inventory):
        inventory.add_host("engine-1")
        inventory.add_group("zone_a")
    assert "engine-1" in inventory.hosts and "zone_a" in inventory.groups
