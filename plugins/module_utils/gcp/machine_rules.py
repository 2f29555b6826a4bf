"""Compute Engine facts the architecture preflight (``architecture_check``) checks a fleet against.

One place for the numbers users trip over, each with the Google page it comes from (``SOURCES``),
so that a fact Google changes is fixed here once. Google revises these pages as machine series
arrive; the module's messages name the page, so a refused design can be checked against it.

Only the standard library is imported: this file runs inside AnsiballZ payloads.
"""

from __future__ import annotations

import re
from typing import Final

SOURCES: Final[dict[str, str]] = {
    "tier1": "https://cloud.google.com/compute/docs/networking/configure-vm-with-high-bandwidth-configuration",
    "gvnic": "https://cloud.google.com/compute/docs/networking/using-gvnic",
    "placement": "https://cloud.google.com/compute/docs/instances/placement-policies-overview",
    "gpus": "https://cloud.google.com/compute/docs/gpus",
    "gpu_maintenance": "https://cloud.google.com/compute/docs/gpus/gpu-host-maintenance",
    "smt": "https://cloud.google.com/compute/docs/instances/set-threads-per-core",
    "mtu": "https://cloud.google.com/vpc/docs/mtu",
    "psa": "https://cloud.google.com/sql/docs/postgres/configure-private-services-access",
    "iap": "https://cloud.google.com/iap/docs/using-tcp-forwarding#create-firewall-rule",
    "names": "https://cloud.google.com/compute/docs/naming-resources",
}

# Tier_1 per-VM networking: the machine series that offer it and the fewest vCPUs a VM of each
# needs (SOURCES["tier1"]); it also needs the gVNIC driver (SOURCES["gvnic"]).
TIER1_MIN_VCPUS: Final[dict[str, int]] = {
    "n2": 32,
    "n2d": 48,
    "c2": 30,
    "c2d": 56,
    "c3": 44,
    "c3d": 60,
}

# Compact placement policies: the machine series that accept one and how many VMs one policy may
# hold for each (SOURCES["placement"]). Their maxDistance (Preview) is in Compute's beta API only.
COMPACT_PLACEMENT_MAX_VMS: Final[dict[str, int]] = {
    "a2": 150, "a3": 150, "c2": 150, "c2d": 150, "c3": 150, "c3d": 150, "c4": 150, "c4d": 150,
    "g2": 150, "h3": 150, "n2": 150, "n2d": 150,
}

# Accelerator-optimized machine types come with their GPUs (SOURCES["gpus"]): the type's name
# prefix -> (accelerator type, vCPUs per GPU). The GPU count is the number before "g" in the name
# (a3-highgpu-1g: one), except for G2, whose count depends on the size (G2_GPUS).
BUNDLED_GPUS: Final[dict[str, tuple[str, int]]] = {
    "a2-highgpu": ("nvidia-tesla-a100", 12),
    "a2-megagpu": ("nvidia-tesla-a100", 6),
    "a2-ultragpu": ("nvidia-a100-80gb", 12),
    "a3-highgpu": ("nvidia-h100-80gb", 26),
    "a3-edgegpu": ("nvidia-h100-80gb", 26),
    "a3-megagpu": ("nvidia-h100-mega-80gb", 26),
    "a3-ultragpu": ("nvidia-h200-141gb", 28),
    "a4-highgpu": ("nvidia-b200", 28),
}
G2_GPUS: Final[dict[int, int]] = {4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8}
# N1 is the one general-purpose series GPUs are attached to (SOURCES["gpus"]).
ATTACHABLE_GPUS: Final[dict[str, tuple[str, ...]]] = {
    "n1": ("nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-tesla-p4", "nvidia-tesla-p100"),
}

# VPC MTU range (SOURCES["mtu"]); Google's default is 1460.
MTU_RANGE: Final[tuple[int, int]] = (1300, 8896)
# Identity-Aware Proxy's TCP forwarding source range (SOURCES["iap"]).
IAP_RANGE: Final[str] = "35.235.240.0/20"
# The smallest private services access range Cloud SQL takes (SOURCES["psa"]).
PSA_MAX_PREFIX: Final[int] = 24
# RFC 1035 names, as Compute requires for every resource (SOURCES["names"]).
NAME_RE: Final = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")

_STANDARD_RE = re.compile(r"^(?P<family>[a-z][a-z0-9]*)-(?:custom|[a-z]+)-(?P<cpus>\d+)(?:-\d+)?(?:-lssd)?$")
_BUNDLED_RE = re.compile(r"^(?P<kind>[a-z][a-z0-9]*-[a-z]+gpu)-(?P<gpus>\d+)g$")


def family(machine_type: str) -> str:
    """The machine series of a type: ``c3`` for ``c3-standard-8``, ``a3`` for ``a3-highgpu-1g``."""
    return machine_type.split("-", 1)[0]


def bundled_gpus(machine_type: str) -> tuple[str, int] | None:
    """(accelerator type, count) that come with an accelerator-optimized type, else None."""
    match = _BUNDLED_RE.match(machine_type)
    if match and match["kind"] in BUNDLED_GPUS:
        return BUNDLED_GPUS[match["kind"]][0], int(match["gpus"])
    match = _STANDARD_RE.match(machine_type)
    if match and match["family"] == "g2" and int(match["cpus"]) in G2_GPUS:
        return "nvidia-l4", G2_GPUS[int(match["cpus"])]
    return None


def vcpus(machine_type: str) -> int | None:
    """VCPUs of a machine type as its name tells them, or None when the name does not (shared-core types)."""
    match = _BUNDLED_RE.match(machine_type)
    if match and match["kind"] in BUNDLED_GPUS:
        return BUNDLED_GPUS[match["kind"]][1] * int(match["gpus"])
    match = _STANDARD_RE.match(machine_type)
    return int(match["cpus"]) if match else None
