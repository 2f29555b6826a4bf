"""Memory tricks that keep a large inventory fast: a paused-then-frozen collector and shared values.

Both matter at fleet size only (thousands of hosts) and neither changes what the inventory holds.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

# Values repeated across many hosts (a zone, a machine type, a label value, an MTU...). ansible-core
# tags every stored value with its origin unless it already carries one; handing it the tagged value
# it made for an earlier host lets it skip re-tagging (and keeps one copy in memory). Trust is not
# touched: the values stay untrusted exactly as ansible-core stored them the first time.
SHARED_FACTS = ("project", "zone", "region", "status", "machine_type", "machine_family", "cpu_platform", "network",
                "subnetwork", "nic_type", "network_mtu", "provisioning_model", "creation_timestamp")
SHARED_LISTS = ("tags", "service_accounts", "placement_policies")

# Whether bulk_build() froze the heap of this process (see there). A dict rather than a global
# flag so that the plugin and its tests can reset the one state every importer shares.
FROZEN = {"heap": False}


def share(facts: dict[str, Any], interned: dict[Any, Any]) -> bool:
    """Swap repeated values in ``facts`` for the tagged copies already stored; True if some were new."""
    missing = _swap(facts, SHARED_FACTS, interned)
    labels = facts.get("labels")
    if labels:
        missing = _swap(labels, list(labels), interned) or missing
    for key in SHARED_LISTS:
        items = facts.get(key)
        if items:
            missing = _swap(items, range(len(items)), interned) or missing
    for gpu in facts.get("gpus") or ():
        missing = _swap(gpu, ("type", "count"), interned) or missing
    return missing


def _swap(container: Any, keys: Iterable[Hashable], interned: dict[Any, Any]) -> bool:
    """Replace ``container[key]`` by its interned copy for each key; True if a value was not known yet."""
    missing = False
    for key in keys:
        try:
            value = container[key]
        except (KeyError, IndexError):
            continue
        known = interned.get(value)
        if known is None:
            missing = True
        else:
            container[key] = known
    return missing


def learn(stored: dict[str, Any], interned: dict[Any, Any]) -> None:
    """Remember the tagged values ansible-core stored for one host (see share)."""
    for key in SHARED_FACTS:
        value = stored.get(key)
        if value is not None:
            interned.setdefault(value, value)
    for value in (stored.get("labels") or {}).values():
        interned.setdefault(value, value)
    for key in SHARED_LISTS:
        for value in stored.get(key) or ():
            interned.setdefault(value, value)
    for gpu in stored.get("gpus") or ():
        for value in gpu.values():
            interned.setdefault(value, value)


@contextlib.contextmanager
def bulk_build() -> Iterator[None]:
    """Pause the cyclic garbage collector while the inventory is listed and built, then freeze it.

    Listing and building 10,000 hosts allocates millions of objects that all stay alive: the
    collector would scan that growing heap again and again (about a tenth of `--graph`), and each
    later full collection (in `--list`, in every playbook task) would scan it once more. Paused, it
    scans nothing here; frozen (``gc.freeze``), the inventory is left out of later collections.
    Reference counting still frees whatever is dropped. A second parse in the same process
    (``meta: refresh_inventory``) first hands the previous inventory back to the collector, so it is
    not kept forever. The collector's state is restored, also on error (then nothing is frozen).
    """
    if FROZEN["heap"]:
        gc.unfreeze()
        gc.collect()
        FROZEN["heap"] = False
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    FROZEN["heap"] = True
