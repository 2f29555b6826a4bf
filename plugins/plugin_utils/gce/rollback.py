"""All or nothing: a source that fails part way takes out every host and group it had added.

ansible-core only warns about a failed inventory source and goes on with the hosts it added so
far, so a strict template failing on one host would otherwise leave a fleet silently cut short.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ansible.inventory.data import InventoryData


@contextlib.contextmanager
def all_or_nothing(inventory: InventoryData) -> Iterator[set[str]]:
    """Run the body, taking out what it added to ``inventory`` if it raises (interrupts included).

    Yields the names of the groups that existed before, a set the body may extend as it adds groups
    (checking it is cheaper than asking the inventory again for every host).
    """
    hosts_before, groups_before = frozenset(inventory.hosts), frozenset(inventory.groups)
    try:
        yield set(groups_before)
    except BaseException:
        take_out(inventory, hosts_before, groups_before)
        raise


def take_out(inventory: InventoryData, hosts_before: frozenset[str], groups_before: frozenset[str]) -> None:
    """Remove every host and group not in the ``*_before`` sets (hosts from other sources keep theirs)."""
    for name in [n for n in inventory.hosts if n not in hosts_before]:
        inventory.remove_host(inventory.hosts[name])
    for name in [g for g in inventory.groups if g not in groups_before]:
        group = inventory.groups[name]
        for parent in [g for g in group.parent_groups if g.name in groups_before]:
            parent.child_groups.remove(group)
            parent.clear_hosts_cache()
        inventory.remove_group(group)
