"""Host facts: which a configuration needs, which Instance fields they are read from, and building them.

Only the facts a configuration uses are requested from the API (partial response) and worked
out per instance: less for the API to send, for the plugin to parse and for ansible-core to store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.errors import ConfigError

Facts = dict[str, Any]
Instance = dict[str, Any]

# The Instance fields each fact is built from.
FACT_FIELDS = {
    "id": ("id",), "status": ("status",), "machine_type": ("machineType",), "machine_family": ("machineType",),
    "cpu_platform": ("cpuPlatform",), "internal_dns": ("hostname",), "self_link": ("selfLink",),
    "creation_timestamp": ("creationTimestamp",), "labels": ("labels",), "tags": ("tags/items",),
    "metadata": ("metadata/items",), "gpus": ("guestAccelerators",), "placement_policies": ("resourcePolicies",),
    "provisioning_model": ("scheduling/provisioningModel",),
    "tier_1": ("networkPerformanceConfig/totalEgressBandwidthTier",), "service_accounts": ("serviceAccounts/email",),
}
# Facts taken from the first network interface: the sub-fields of networkInterfaces(...) they need.
NIC_FIELDS = {
    "private_ip": ("networkIP",), "ipv6": ("ipv6Address", "ipv6AccessConfigs/externalIpv6"),
    "public_ip": ("accessConfigs/natIP",), "network": ("network",), "subnetwork": ("subnetwork",),
    "nic_type": ("nicType",), "network_mtu": ("network",),
}
# Always requested: names, zone and status (statuses), id (the last resort for duplicate names).
BASE_FIELDS = ("id", "name", "zone", "status")
# Facts the default groups are made from.
GROUP_FACTS = ("region", "status", "machine_family", "gpus", "labels")
# Every fact build_facts() can produce (the documented layout), for validating hostvar_keys.
FACT_KEYS = (
    "name", "id", "project", "zone", "region", "status", "machine_type", "machine_family", "cpu_platform",
    "internal_dns", "self_link", "creation_timestamp", "private_ip", "ipv6", "public_ip", "network", "subnetwork",
    "nic_type", "network_mtu", "tier_1", "provisioning_model", "labels", "tags", "metadata", "gpus",
    "placement_policies", "service_accounts",
)
# Facts copied as they are from one key of the raw Instance, when needed.
_RAW_FACTS = (("status", "status"), ("cpu_platform", "cpuPlatform"), ("self_link", "selfLink"),
              ("creation_timestamp", "creationTimestamp"))


def last_segment(url: str | None) -> str | None:
    """The resource name at the end of an API URL (``.../zones/us-central1-a`` gives ``us-central1-a``)."""
    return url.rsplit("/", 1)[-1] if url else None


def stored_keys(hostvar_keys: Iterable[Any] | None, is_default: bool, hostnames: list[str]) -> frozenset[str] | None:
    """The facts kept on each host (None: all of them), from hostvar_keys.

    With the default hostvar_keys and host names other than the instance name, ``name`` is kept too:
    inventory_hostname no longer says which instance a host is.
    """
    keys = [str(k) for k in hostvar_keys or []]
    if "all" in keys:
        return None
    if is_default and list(hostnames) != ["name"]:
        keys.append("name")
    unknown = sorted(set(keys) - set(FACT_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in 'hostvar_keys'; use any of {', '.join(FACT_KEYS)}, or [all].")
    return frozenset(keys)


def needed_facts(keep: frozenset[str] | None, *, templated: bool, default_groups: bool, tag_groups: bool,
                 preferences: Iterable[Any], metadata_keys: Collection[Any]) -> set[str]:
    """The facts a configuration uses: stored (``keep``), grouped on, or picked for names and addresses.

    ``templated`` (compose, groups or keyed_groups given) needs every fact, since templates may read
    any; ``preferences`` are the entries of hostnames and ansible_host_preference.
    """
    if keep is None or templated:
        needed = set(FACT_KEYS)
    else:
        needed = set(keep)
        if default_groups:
            needed.update(GROUP_FACTS)
            if tag_groups:
                needed.add("tags")
        kinds = [str(k) for k in preferences]
        needed.update("labels" if k.startswith("label:") else k for k in kinds)
    if not metadata_keys:
        needed.discard("metadata")  # ssh keys and startup scripts never cross the wire
    return needed


def instance_fields(needed: Collection[str], extra_fields: Iterable[Any]) -> str:
    """The partial-response selector (``fields=``) for the ``needed`` facts, plus ``extra_fields``."""
    fields = list(BASE_FIELDS)
    for fact in sorted(needed):
        fields.extend(f for f in FACT_FIELDS.get(fact, ()) if f not in fields)
    nic = [f for fact in sorted(needed) for f in NIC_FIELDS.get(fact, ())]
    if nic:
        fields.append(f"networkInterfaces({','.join(dict.fromkeys(nic))})")
    fields.extend(str(f) for f in extra_fields)
    return ",".join(fields)


def build_facts(project: str, inst: Instance, needed: Collection[str], metadata_keys: Collection[str],
                mtus: Mapping[str, int]) -> Facts:
    """Compact host facts: derived names instead of URLs, and no key whose value is empty.

    Only the ``needed`` facts are worked out (plus name, id, project and zone, which host names
    and duplicate handling use): this runs once per instance. ``mtus`` maps network URLs to MTUs.
    """
    zone = last_segment(inst.get("zone")) or ""
    name = inst.get("name")
    facts: Facts = {
        "name": name,
        # uint64 in the API (sent as a JSON string); an int is cheaper to store and dump.
        "id": int(inst["id"]) if inst.get("id") else None,
        "project": project,
        "zone": zone,
    }
    if "region" in needed:
        facts["region"] = zone.rsplit("-", 1)[0]
    if "machine_type" in needed or "machine_family" in needed:
        machine_type = last_segment(inst.get("machineType")) or ""
        facts["machine_type"] = machine_type
        facts["machine_family"] = machine_type.split("-", 1)[0]
    for fact, key in _RAW_FACTS:
        if fact in needed:
            facts[fact] = inst.get(key)
    if "internal_dns" in needed:
        facts["internal_dns"] = inst.get("hostname") or f"{name}.{zone}.c.{project}.internal"
    nics = inst.get("networkInterfaces")
    if nics:
        nic = nics[0]
        facts["private_ip"] = nic.get("networkIP")
        if "ipv6" in needed:
            facts["ipv6"] = nic.get("ipv6Address") or next(
                (c.get("externalIpv6") for c in nic.get("ipv6AccessConfigs") or () if c.get("externalIpv6")),
                None)
        if "public_ip" in needed:
            facts["public_ip"] = next(
                (c.get("natIP") for c in nic.get("accessConfigs") or () if c.get("natIP")), None)
        facts["network"] = last_segment(nic.get("network"))
        facts["network_mtu"] = mtus.get(nic.get("network"))
        facts["subnetwork"] = last_segment(nic.get("subnetwork"))
        facts["nic_type"] = nic.get("nicType")
    # Defaults are left out (absent tier_1 means false, absent provisioning_model means STANDARD):
    # every stored value costs ansible-core time when it is set and again when it is dumped.
    if (inst.get("networkPerformanceConfig") or {}).get("totalEgressBandwidthTier") == "TIER_1":
        facts["tier_1"] = True
    model = (inst.get("scheduling") or {}).get("provisioningModel")
    if model and model != "STANDARD":
        facts["provisioning_model"] = model
    # Copies: memory.share() swaps values in place, and the raw rows may be written to the inventory cache.
    if inst.get("labels"):
        facts["labels"] = dict(inst["labels"])
    tags = (inst.get("tags") or {}).get("items")
    if tags:
        facts["tags"] = list(tags)
    if metadata_keys:
        items = (inst.get("metadata") or {}).get("items") or ()
        meta = {i.get("key"): i.get("value") for i in items if i.get("key") in metadata_keys}
        if meta:
            facts["metadata"] = meta
    accelerators = inst.get("guestAccelerators")
    if accelerators:
        facts["gpus"] = [{"type": last_segment(g.get("acceleratorType")), "count": int(g.get("acceleratorCount") or 0)}
                         for g in accelerators]
    if inst.get("resourcePolicies"):
        facts["placement_policies"] = [last_segment(p) for p in inst["resourcePolicies"]]
    if "service_accounts" in needed:
        facts["service_accounts"] = [a.get("email") for a in inst.get("serviceAccounts") or () if a.get("email")]
    return {k: v for k, v in facts.items() if v is not None and v != "" and v != []}
