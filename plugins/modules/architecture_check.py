#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module architecture_check: the preflight of provision.yml, one clear message per problem."""

from __future__ import annotations

DOCUMENTATION = r"""
module: architecture_check
short_description: Check a trading architecture (network, placement, GPU fleet, Cloud SQL) before provisioning it
description:
  - Validates O(architecture) (the variable C(nearzero_architecture) of C(playbooks/provision.yml)) against its
    schema, then against the rules users trip over, and fails with one message per problem, each naming the
    problem and the fix. Nothing is changed, ever; it runs in check mode too.
  - Static rules first, with no API call - Tier_1 networking needs a supported machine series, enough vCPUs and
    gVNIC; compact placement's machine series and VM count limits, its zone and region; GPUs need
    C(onHostMaintenance=TERMINATE) and a machine series that takes them; overlapping or malformed CIDRs; the
    VPC MTU range; a private-only Cloud SQL needs private services access on the same network; backups outside
    Europe are refused unless O(architecture.database.backup_outside_europe_ok); every instance needs a subnet
    in its region; names are valid and unique.
  - Then, only when the static rules pass and O(lookups) is true, read-only API lookups - every accelerator type
    must exist in its zone (C(acceleratorTypes.list)) and every machine type too (C(machineTypes.get)), and a
    Tier_1 VM's real vCPU count is checked again.
  - The facts behind the rules (Tier_1 series and minimum vCPUs, compact placement limits, GPU series) are in
    the module utility C(machine_rules), each with the Google page it comes from.
  - Returns the fleet expanded to one entry per instance (RV(instances)), which provision.yml creates.
options:
  architecture:
    description: The architecture, as C(nearzero_architecture) (see C(inventory/example.architecture.yml)).
    type: dict
    required: true
    suboptions:
      project: {description: "Project ID.", type: str, required: true}
      region: {description: "The region near the exchange (for example V(us-east4)).", type: str, required: true}
      zone: {description: "The zone near the exchange; the default zone of every fleet entry.", type: str,
             required: true}
      network:
        description: The VPC network.
        type: dict
        required: true
        suboptions:
          name: {description: "Network name.", type: str, required: true}
          mtu: {description: "MTU (1300-8896; Google's default 1460).", type: int}
          subnets:
            description: Subnetworks (custom mode).
            type: list
            elements: dict
            required: true
            suboptions:
              name: {description: "Subnet name.", type: str, required: true}
              region: {description: "Subnet region.", type: str, required: true}
              cidr: {description: "Primary IPv4 range.", type: str, required: true}
          private_services_access:
            description: The range reserved for Google services (Cloud SQL private IP) and its peering.
            type: dict
            suboptions:
              name: {description: "Name of the global address.", type: str, required: true}
              cidr: {description: "The range, for example V(10.100.0.0/16) (at most /24).", type: str, required: true}
          ssh_sources:
            description: Sources allowed to reach SSH (port 22); IAP's range by default.
            type: list
            elements: str
            default: [35.235.240.0/20]
          internal_ports:
            description: Application ports open between the VPC's own subnets.
            type: list
            elements: dict
            default: []
            suboptions:
              protocol: {description: "IP protocol.", type: str, default: tcp}
              ports: {description: "Ports or ranges (V(5432), V(9000-9100)); empty for all.", type: list,
                      elements: str, default: []}
          nat:
            description: Cloud Router with Cloud NAT, so hosts without external IPs reach package mirrors.
            type: dict
            suboptions:
              router: {description: "Router name (the NAT is named after it).", type: str, required: true}
              regions: {description: "Regions that get the router; the architecture's region by default.",
                        type: list, elements: str}
      placement_policies:
        description: Compact placement policies.
        type: list
        elements: dict
        default: []
        suboptions:
          name: {description: "Policy name.", type: str, required: true}
          region: {description: "Region; the architecture's region by default.", type: str}
          max_distance: {description: "C(maxDistance) is in Compute's beta API only; set, it is refused.", type: int}
      fleet:
        description: The instances by role; each entry is one instance (O(architecture.fleet[].name)) or
          O(architecture.fleet[].count) of them named C(name_prefix-1) onwards.
        type: list
        elements: dict
        default: []
        suboptions:
          name: {description: "Instance name.", type: str}
          name_prefix: {description: "Prefix of the names of O(architecture.fleet[].count) instances.", type: str}
          count: {description: "How many instances (with name_prefix).", type: int}
          zone: {description: "Zone; the architecture's zone by default.", type: str}
          subnet: {description: "Subnet name; the one subnet of the zone's region by default.", type: str}
          machine_type: {description: "Machine type (for example V(a3-highgpu-1g)).", type: str, required: true}
          gpus:
            description: Accelerators; for accelerator-optimized types, the ones that come with the type.
            type: list
            elements: dict
            default: []
            suboptions:
              type: {description: "Accelerator type (for example V(nvidia-h100-80gb)).", type: str, required: true}
              count: {description: "How many.", type: int, default: 1}
          labels: {description: "Labels (the C(role) label makes the inventory's role group).", type: dict,
                   default: {}}
          tags: {description: "Network tags.", type: list, elements: str, default: []}
          metadata: {description: "Metadata (never a secret).", type: dict, default: {}}
          tier1: {description: "Tier_1 egress bandwidth.", type: bool, default: false}
          nic_type: {description: "NIC type.", type: str, choices: [GVNIC, VIRTIO_NET], default: GVNIC}
          threads_per_core: {description: "Threads per core (1 turns SMT off).", type: int, default: 1}
          on_host_maintenance: {description: "Host maintenance behaviour.", type: str, choices: [MIGRATE, TERMINATE],
                                default: TERMINATE}
          external_ip: {description: "Give the instance an external IP.", type: bool, default: false}
          placement_policy: {description: "Name of a compact placement policy of O(architecture.placement_policies).",
                             type: str}
          service_account: {description: "Service account email; the project's default one when omitted.", type: str}
          scopes: {description: "Access scopes of the service account.", type: list, elements: str,
                   default: ['https://www.googleapis.com/auth/logging.write',
                             'https://www.googleapis.com/auth/monitoring.write']}
          boot_disk:
            description: Boot disk of a new instance.
            type: dict
            default: {}
            suboptions:
              image: {description: "Source image.", type: str,
                      default: projects/debian-cloud/global/images/family/debian-12}
              size_gb: {description: "Size in GB.", type: int, default: 50}
              type: {description: "Disk type.", type: str, default: pd-balanced}
          deletion_protection: {description: "Protect the instance from deletion.", type: bool, default: false}
      database:
        description: The Cloud SQL tier (private IP only).
        type: dict
        suboptions:
          primary:
            description: The primary.
            type: dict
            required: true
            suboptions:
              name: {description: "Instance name.", type: str, required: true}
              region: {description: "Region.", type: str, required: true}
              tier: {description: "Machine tier.", type: str, required: true}
              database_version: {description: "Database version.", type: str, default: POSTGRES_16}
              edition:
                description:
                  - Cloud SQL edition of the primary when it is created (the replica takes it); Cloud SQL's default
                    (ENTERPRISE) when omitted. ENTERPRISE_PLUS needs a C(db-perf-optimized-N-*) tier.
                type: str
                choices: [ENTERPRISE, ENTERPRISE_PLUS]
          replica:
            description: The cross-region read replica.
            type: dict
            suboptions:
              name: {description: "Instance name.", type: str, required: true}
              region: {description: "Region (for example V(europe-west3)).", type: str, required: true}
          backup_location: {description: "Where backups are stored (V(eu) or a europe-* region).", type: str,
                            default: eu}
          backup_outside_europe_ok: {description: "Allow a backup location outside Europe.", type: bool,
                                     default: false}
          pitr: {description: "Point-in-time recovery.", type: bool, default: true}
  lookups:
    description: After the static rules pass, check machine and accelerator types through the API (read-only).
    type: bool
    default: true
  api_endpoint:
    description:
      - Base URL of the Compute Engine API (C(/compute/v1) is appended).
      - When not set, the environment variable E(GCP_COMPUTE_ENDPOINT) is used.
    type: str
    default: https://compute.googleapis.com
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
"""

EXAMPLES = r"""
- name: Check the architecture before any change
  nearzero.gcp.architecture_check:
    architecture: "{{ nearzero_architecture }}"
  register: plan

- name: Static rules only (no API call)
  nearzero.gcp.architecture_check:
    architecture: "{{ nearzero_architecture }}"
    lookups: false
"""

RETURN = r"""
problems:
  description: Every problem found, one message each (empty when the architecture passes).
  type: list
  elements: str
  returned: always
instances:
  description: The fleet, one entry per instance, with defaults filled in and the subnet resolved.
  type: list
  elements: dict
  returned: success
architecture:
  description: The architecture with every default filled in.
  type: dict
  returned: success
"""

import ipaddress
from typing import Any

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp import machine_rules as rules
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute import DEFAULT_ENDPOINT
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import in_europe

SRC = rules.SOURCES


def _str(**extra: Any) -> dict[str, Any]:
    return {"type": "str", **extra}


ARCHITECTURE_SPEC: dict[str, Any] = {
    "project": _str(required=True),
    "region": _str(required=True),
    "zone": _str(required=True),
    "network": {"type": "dict", "required": True, "options": {
        "name": _str(required=True),
        "mtu": {"type": "int"},
        "subnets": {"type": "list", "elements": "dict", "required": True, "options": {
            "name": _str(required=True), "region": _str(required=True), "cidr": _str(required=True)}},
        "private_services_access": {"type": "dict", "options": {
            "name": _str(required=True), "cidr": _str(required=True)}},
        "ssh_sources": {"type": "list", "elements": "str", "default": [rules.IAP_RANGE]},
        "internal_ports": {"type": "list", "elements": "dict", "default": [], "options": {
            "protocol": _str(default="tcp"), "ports": {"type": "list", "elements": "str", "default": []}}},
        "nat": {"type": "dict", "options": {
            "router": _str(required=True), "regions": {"type": "list", "elements": "str"}}},
    }},
    "placement_policies": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": _str(required=True), "region": _str(), "max_distance": {"type": "int"}}},
    "fleet": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": _str(), "name_prefix": _str(), "count": {"type": "int"},
        "zone": _str(), "subnet": _str(), "machine_type": _str(required=True),
        "gpus": {"type": "list", "elements": "dict", "default": [], "options": {
            "type": _str(required=True), "count": {"type": "int", "default": 1}}},
        "labels": {"type": "dict", "default": {}},
        "tags": {"type": "list", "elements": "str", "default": []},
        "metadata": {"type": "dict", "default": {}},
        "tier1": {"type": "bool", "default": False},
        "nic_type": _str(choices=["GVNIC", "VIRTIO_NET"], default="GVNIC"),
        "threads_per_core": {"type": "int", "default": 1},
        "on_host_maintenance": _str(choices=["MIGRATE", "TERMINATE"], default="TERMINATE"),
        "external_ip": {"type": "bool", "default": False},
        "placement_policy": _str(),
        "service_account": _str(),
        "scopes": {"type": "list", "elements": "str", "default": [
            "https://www.googleapis.com/auth/logging.write", "https://www.googleapis.com/auth/monitoring.write"]},
        "boot_disk": {"type": "dict", "default": {}, "options": {
            "image": _str(default="projects/debian-cloud/global/images/family/debian-12"),
            "size_gb": {"type": "int", "default": 50},
            "type": _str(default="pd-balanced")}},
        "deletion_protection": {"type": "bool", "default": False},
    }},
    "database": {"type": "dict", "options": {
        "primary": {"type": "dict", "required": True, "options": {
            "name": _str(required=True), "region": _str(required=True), "tier": _str(required=True),
            "database_version": _str(default="POSTGRES_16"),
            "edition": _str(choices=["ENTERPRISE", "ENTERPRISE_PLUS"])}},
        "replica": {"type": "dict", "options": {"name": _str(required=True), "region": _str(required=True)}},
        "backup_location": _str(default="eu"),
        "backup_outside_europe_ok": {"type": "bool", "default": False},
        "pitr": {"type": "bool", "default": True},
    }},
}


def region_of(zone: str) -> str:
    """``us-east4`` for ``us-east4-a``."""
    return zone.rsplit("-", 1)[0]


def _network(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return None


def expand_fleet(arch: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    """One entry per instance (name or name_prefix-1..count), with zone and subnet resolved."""
    instances = []
    subnets = arch["network"]["subnets"]
    for index, entry in enumerate(arch["fleet"]):
        label = entry.get("name") or entry.get("name_prefix") or f"#{index + 1}"
        if bool(entry.get("name")) == bool(entry.get("name_prefix")):
            has = "both name and name_prefix" if entry.get("name") else "neither name nor name_prefix"
            problems.append(f"fleet entry {label}: it has {has}. Fix: set either name (one instance) or name_prefix "
                            "with count (count instances named name_prefix-1 onwards).")
            continue
        if entry.get("name_prefix") and not (entry.get("count") or 0) >= 1:
            problems.append(f"fleet entry {label}: name_prefix has no count. Fix: set count (1 or more).")
            continue
        if entry.get("name") and entry.get("count") not in (None, 1):
            problems.append(f"fleet entry {label}: count goes with name_prefix; with name the entry is one instance. "
                            "Fix: drop count, or use name_prefix.")
            continue
        if entry.get("name"):
            names = [entry["name"]]
        else:
            names = [f"{entry['name_prefix']}-{i}" for i in range(1, entry["count"] + 1)]
        zone = entry.get("zone") or arch["zone"]
        region = region_of(zone)
        subnet = entry.get("subnet")
        in_region = [s["name"] for s in subnets if s["region"] == region]
        if subnet is None and len(in_region) == 1:
            subnet = in_region[0]
        if subnet is None and not in_region:
            problems.append(f"fleet entry {label}: its zone {zone} is in region {region}, where the network has no "
                            f"subnet. Fix: add a subnet in {region} to network.subnets.")
        elif subnet is None:
            problems.append(f"fleet entry {label}: its zone {zone} is in region {region}, where the network has "
                            f"several subnets ({', '.join(in_region)}). Fix: set subnet.")
        elif subnet not in in_region:
            problems.append(f"fleet entry {label}: subnet {subnet} is not a subnet of network.subnets in region "
                            f"{region} (the region of zone {zone}). Fix: name one of {in_region or 'none: add one'}.")
        for name in names:
            inst = {k: v for k, v in entry.items() if k not in ("name", "name_prefix", "count")}
            inst.update(name=name, zone=zone, region=region, subnet=subnet)
            instances.append(inst)
    return instances


def check_names(arch: dict[str, Any], instances: list[dict[str, Any]], problems: list[str]) -> None:
    """RFC 1035 names, unique per kind."""
    kinds = {
        "network": [arch["network"]["name"]],
        "subnet": [s["name"] for s in arch["network"]["subnets"]],
        "placement policy": [p["name"] for p in arch["placement_policies"]],
        "instance": [i["name"] for i in instances],
    }
    for kind, names in kinds.items():
        seen = set()
        for name in names:
            if not rules.NAME_RE.match(name):
                problems.append(f"{kind} name '{name}' is not a valid Compute Engine name: 1-63 characters, "
                                f"lowercase letters, digits and hyphens, starting with a letter, not ending with a "
                                f"hyphen ({SRC['names']}). Fix: rename it.")
            if name in seen:
                problems.append(f"{kind} name '{name}' is used twice. Fix: give each {kind} its own name.")
            seen.add(name)


def check_network(arch: dict[str, Any], problems: list[str]) -> None:
    """MTU, CIDRs (valid, no overlaps), SSH sources, NAT regions."""
    net = arch["network"]
    low, high = rules.MTU_RANGE
    if net.get("mtu") is not None and not low <= net["mtu"] <= high:
        problems.append(f"network.mtu {net['mtu']} is outside {low}-{high}, the range a VPC network takes "
                        f"({SRC['mtu']}). Fix: use 8896 for the largest frames, or 1460 (Google's default).")
    ranges = []
    for subnet in net["subnets"]:
        parsed = _network(subnet["cidr"])
        if parsed is None:
            problems.append(f"subnet {subnet['name']}: cidr '{subnet['cidr']}' is not an IPv4 network address with "
                            "its prefix (host bits must be zero, e.g. 10.10.0.0/24). Fix: correct it.")
        else:
            ranges.append((f"subnet {subnet['name']}", parsed))
    psa = net.get("private_services_access")
    if psa:
        parsed = _network(psa["cidr"])
        if parsed is None:
            problems.append(f"network.private_services_access.cidr '{psa['cidr']}' is not an IPv4 network address "
                            "with its prefix (e.g. 10.100.0.0/16). Fix: correct it.")
        elif parsed.prefixlen > rules.PSA_MAX_PREFIX:
            problems.append(f"network.private_services_access.cidr {psa['cidr']} is smaller than /"
                            f"{rules.PSA_MAX_PREFIX}, the smallest range private services access takes "
                            f"({SRC['psa']}). Fix: reserve a /16 to /{rules.PSA_MAX_PREFIX}.")
        else:
            ranges.append((f"private services access range {psa['name']}", parsed))
    for i, (name_a, a) in enumerate(ranges):
        for name_b, b in ranges[i + 1:]:
            if a.overlaps(b):
                problems.append(f"{name_a} ({a}) overlaps {name_b} ({b}): ranges on one VPC network must not "
                                "overlap. Fix: move one of them to a free range.")
    for source in net["ssh_sources"]:
        if _network(source) is None:
            problems.append(f"network.ssh_sources entry '{source}' is not a CIDR range (e.g. {rules.IAP_RANGE}, "
                            "IAP's TCP forwarding range). Fix: correct it.")
    nat = net.get("nat")
    subnet_regions = {s["region"] for s in net["subnets"]}
    if nat:
        for region in nat.get("regions") or [arch["region"]]:
            if region not in subnet_regions:
                problems.append(f"network.nat.regions names {region}, where the network has no subnet: Cloud NAT "
                                "there would serve nothing. Fix: add a subnet in it, or drop the region.")


def check_fleet(arch: dict[str, Any], instances: list[dict[str, Any]], problems: list[str]) -> None:
    """Tier_1, GPUs and host maintenance, SMT, per instance."""
    for inst in instances:
        name, machine = inst["name"], inst["machine_type"]
        series, cpus = rules.family(machine), rules.vcpus(machine)
        bundled = rules.bundled_gpus(machine)
        if inst["tier1"]:
            if series not in rules.TIER1_MIN_VCPUS:
                problems.append(f"instance {name}: tier1 needs a machine series that offers Tier_1 networking "
                                f"({', '.join(sorted(rules.TIER1_MIN_VCPUS))}); {machine} is {series} "
                                f"({SRC['tier1']}). Fix: pick such a type, or set tier1: false.")
            elif cpus is not None and cpus < rules.TIER1_MIN_VCPUS[series]:
                problems.append(f"instance {name}: tier1 on {series} needs at least {rules.TIER1_MIN_VCPUS[series]} "
                                f"vCPUs; {machine} has {cpus} ({SRC['tier1']}). Fix: a larger type, or tier1: false.")
            if inst["nic_type"] != "GVNIC":
                problems.append(f"instance {name}: tier1 needs the gVNIC driver, but nic_type is {inst['nic_type']} "
                                f"({SRC['gvnic']}). Fix: nic_type: GVNIC.")
        gpus = inst["gpus"]
        if bundled:
            gpu_type, gpu_count = bundled
            for gpu in gpus:
                if (gpu["type"], gpu["count"]) != bundled:
                    problems.append(f"instance {name}: {machine} comes with {gpu_count} x {gpu_type}; gpus asks for "
                                    f"{gpu['count']} x {gpu['type']} ({SRC['gpus']}). Fix: list exactly "
                                    f"{{type: {gpu_type}, count: {gpu_count}}}, or pick the {series} type with "
                                    "the GPUs you want.")
        elif gpus:
            allowed = rules.ATTACHABLE_GPUS.get(series)
            if allowed is None:
                problems.append(f"instance {name}: {machine} ({series}) takes no GPUs; GPUs come with the "
                                "accelerator-optimized series (A2, A3, A4, G2) or attach to N1 "
                                f"({SRC['gpus']}). Fix: pick such a type, or drop gpus.")
            else:
                for gpu in gpus:
                    if gpu["type"] not in allowed:
                        problems.append(f"instance {name}: {gpu['type']} does not attach to {series} "
                                        f"(it takes {', '.join(allowed)}; {SRC['gpus']}). Fix: change the type.")
        if (bundled or gpus) and inst["on_host_maintenance"] != "TERMINATE":
            problems.append(f"instance {name}: a VM with GPUs cannot live-migrate, so on_host_maintenance must be "
                            f"TERMINATE, not {inst['on_host_maintenance']} ({SRC['gpu_maintenance']}). Fix: "
                            "on_host_maintenance: TERMINATE.")
        if inst["threads_per_core"] not in (1, 2):
            problems.append(f"instance {name}: threads_per_core is {inst['threads_per_core']}; it takes 1 (SMT off) "
                            f"or 2 ({SRC['smt']}). Fix: 1 for a trading host.")


def check_placement(arch: dict[str, Any], instances: list[dict[str, Any]], problems: list[str]) -> None:
    """Compact placement: policy defined, series supported, count, one zone in the policy's region, maxDistance."""
    policies = {p["name"]: p for p in arch["placement_policies"]}
    for policy in arch["placement_policies"]:
        if policy.get("max_distance") is not None:
            problems.append(f"placement policy {policy['name']}: max_distance exists only in Compute's beta API "
                            f"(Preview; {SRC['placement']}), and nearzero uses v1. Fix: omit max_distance (compact "
                            "placement is then best effort).")
    members: dict[str, list[dict[str, Any]]] = {}
    for inst in instances:
        name = inst.get("placement_policy")
        if not name:
            continue
        if name not in policies:
            problems.append(f"instance {inst['name']}: placement_policy {name} is not in placement_policies. Fix: "
                            f"add {{name: {name}}} to placement_policies, or correct the name.")
            continue
        members.setdefault(name, []).append(inst)
    for name, insts in members.items():
        region = policies[name].get("region") or arch["region"]
        limits = []
        for inst in insts:
            series = rules.family(inst["machine_type"])
            if series not in rules.COMPACT_PLACEMENT_MAX_VMS:
                problems.append(f"instance {inst['name']}: {inst['machine_type']} ({series}) cannot join compact "
                                f"placement policy {name}; compact placement takes "
                                f"{', '.join(sorted(rules.COMPACT_PLACEMENT_MAX_VMS))} ({SRC['placement']}). Fix: "
                                "pick such a type, or drop placement_policy.")
            else:
                limits.append((rules.COMPACT_PLACEMENT_MAX_VMS[series], series))
            if inst["region"] != region:
                problems.append(f"instance {inst['name']}: zone {inst['zone']} is not in region {region} of placement "
                                f"policy {name} (placement policies are regional). Fix: move the instance or the "
                                "policy.")
        if limits:
            limit, series = min(limits)
            if len(insts) > limit:
                problems.append(f"placement policy {name} holds {len(insts)} instances; compact placement takes at "
                                f"most {limit} with {series} ({SRC['placement']}). Fix: split them over more "
                                "policies.")
        zones = sorted({i["zone"] for i in insts})
        if len(zones) > 1:
            problems.append(f"placement policy {name} has instances in zones {', '.join(zones)}; a compact policy "
                            "places its VMs together in one zone. Fix: put them in one zone, or use one policy "
                            "per zone.")


def check_database(arch: dict[str, Any], problems: list[str]) -> None:
    """Private-only Cloud SQL needs private services access; backups stay in Europe unless allowed."""
    db = arch.get("database")
    if not db:
        return
    if not arch["network"].get("private_services_access"):
        problems.append(f"database: Cloud SQL is private-IP only here, which needs private services access on "
                        f"network {arch['network']['name']}: a reserved range and a Service Networking connection "
                        f"({SRC['psa']}). Fix: set network.private_services_access {{name, cidr}} "
                        "(for example {name: google-services, cidr: 10.100.0.0/16}).")
    location = db["backup_location"]
    if not in_europe(location) and not db["backup_outside_europe_ok"]:
        problems.append(f"database.backup_location is '{location}', which is not in Europe; the policy keeps backups "
                        "in Europe. Fix: eu (the default) or a europe-* region; or, if backups outside Europe are "
                        "knowingly allowed, database.backup_outside_europe_ok: true.")
    replica = db.get("replica")
    if replica and replica["name"] == db["primary"]["name"]:
        problems.append(f"database: the replica and the primary are both named {replica['name']}. Fix: name the "
                        "replica differently.")


class Lookups:
    """The read-only API checks: machine types and accelerator types in each zone."""

    def __init__(self, module: AnsibleGcpModule, project: str) -> None:
        self.client = module.client()
        self.base = module.params["api_endpoint"].rstrip("/") + f"/compute/v1/projects/{project}"
        self.project = project
        self._accelerators: dict[str, dict[str, dict[str, Any]]] = {}

    def machine_type(self, zone: str, name: str) -> dict[str, Any] | None:
        """The machine type, or None when the zone has none of that name."""
        try:
            return self.client.get_json(f"{self.base}/zones/{zone}/machineTypes/{name}", context={
                "project": self.project, "resource": f"machine type {name} in zone {zone}",
                "permission": "compute.machineTypes.get", "api": "Compute Engine API",
                "service": "compute.googleapis.com"})
        except GcpError as exc:
            if exc.status == 404:
                return None
            raise

    def accelerators(self, zone: str) -> dict[str, dict[str, Any]]:
        """Accelerator types of a zone by name (one listing per zone)."""
        if zone not in self._accelerators:
            found: dict[str, dict[str, Any]] = {}
            for page in self.client.paginate(f"{self.base}/zones/{zone}/acceleratorTypes", context={
                    "project": self.project, "resource": f"accelerator types in zone {zone}",
                    "permission": "compute.acceleratorTypes.list", "api": "Compute Engine API",
                    "service": "compute.googleapis.com"}):
                for item in page.get("items") or []:
                    found[item["name"]] = item
            self._accelerators[zone] = found
        return self._accelerators[zone]

    def check(self, instances: list[dict[str, Any]], problems: list[str]) -> None:
        """Every (zone, machine type) and (zone, accelerator type) the fleet uses exists; Tier_1 vCPUs."""
        seen = set()
        for inst in instances:
            zone, machine = inst["zone"], inst["machine_type"]
            if (zone, machine) not in seen:
                seen.add((zone, machine))
                found = self.machine_type(zone, machine)
                if found is None:
                    problems.append(f"machine type {machine} does not exist in zone {zone} (machineTypes.get). Fix: "
                                    f"check `gcloud compute machine-types list --zones {zone}` and pick one there, "
                                    "or another zone.")
                elif inst["tier1"]:
                    series = rules.family(machine)
                    least = rules.TIER1_MIN_VCPUS.get(series, 0)
                    if found.get("guestCpus", least) < least:
                        problems.append(f"instance {inst['name']}: tier1 on {series} needs at least {least} vCPUs; "
                                        f"{machine} has {found['guestCpus']} ({SRC['tier1']}). Fix: a larger type.")
            gpus = list(inst["gpus"])
            if not gpus and rules.bundled_gpus(machine):
                gpu_type, count = rules.bundled_gpus(machine)
                gpus = [{"type": gpu_type, "count": count}]
            for gpu in gpus:
                if (zone, gpu["type"]) in seen:
                    continue
                seen.add((zone, gpu["type"]))
                offered = self.accelerators(zone)
                if gpu["type"] not in offered:
                    problems.append(f"accelerator type {gpu['type']} is not offered in zone {zone} "
                                    f"(acceleratorTypes.list offers {', '.join(sorted(offered)) or 'none'}). Fix: "
                                    "pick a zone that has it, or another GPU.")
                elif gpu["count"] > offered[gpu["type"]].get("maximumCardsPerInstance", gpu["count"]):
                    problems.append(f"instance {inst['name']}: {gpu['count']} x {gpu['type']} is more than the "
                                    f"{offered[gpu['type']]['maximumCardsPerInstance']} per instance zone {zone} "
                                    "allows. Fix: fewer GPUs per instance.")


def main() -> None:
    """Static rules, then (when they pass) the API lookups; fail with every problem found."""
    module = AnsibleGcpModule(
        argument_spec={
            "architecture": {"type": "dict", "required": True, "options": ARCHITECTURE_SPEC},
            "lookups": {"type": "bool", "default": True},
            "api_endpoint": {"type": "str", "default": DEFAULT_ENDPOINT,
                             "fallback": (env_fallback, ["GCP_COMPUTE_ENDPOINT"])},
        },
        supports_check_mode=True,
    )
    arch = module.params["architecture"]
    problems: list[str] = []
    instances = expand_fleet(arch, problems)
    check_names(arch, instances, problems)
    check_network(arch, problems)
    check_fleet(arch, instances, problems)
    check_placement(arch, instances, problems)
    check_database(arch, problems)
    if not problems and module.params["lookups"]:
        try:
            Lookups(module, arch["project"]).check(instances, problems)
        except GcpError as exc:
            module.fail_gcp(exc, problems=problems)
    if problems:
        lines = "\n".join(f"- {p}" for p in problems)
        module.fail_json(msg=f"nearzero_architecture has {len(problems)} problem(s); nothing was changed:\n{lines}",
                         problems=problems)
    module.exit_json(changed=False, problems=[], instances=instances, architecture=arch)


if __name__ == "__main__":
    main()
