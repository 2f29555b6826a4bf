"""The default groups of a host (project, region, zone, status, family, GPU, labels, tags)."""

from __future__ import annotations

import functools
import re
from typing import Any

_UNSAFE_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")


@functools.lru_cache(maxsize=4096)
def group_name(prefix: str, value: Any) -> str:
    """A safe group name; cached, because the same few zones, families and labels recur on every host."""
    return _UNSAFE_GROUP_CHARS.sub("_", f"{prefix}_{value}")


def default_groups(facts: dict[str, Any], tag_groups: bool) -> list[tuple[str, str]]:
    """The default groups of one host, from its facts, in a stable order, as (name, source) pairs.

    The source of each name (``zone``, ``accelerators``, ``label:<key>``...) is what
    trust.GroupGuard checks against the protected groups.
    """
    out = [
        (group_name("project", facts["project"]), "project"),
        (group_name("region", facts["region"]), "region"),
        (group_name("zone", facts["zone"]), "zone"),
        (group_name("status", str(facts.get("status", "")).lower()), "status"),
    ]
    if facts.get("machine_family"):
        out.append((group_name("family", facts["machine_family"]), "family"))
    gpus = facts.get("gpus")
    if gpus:
        out.append(("gpu", "accelerators"))
        out.extend((group_name("gpu", g["type"]), "accelerators") for g in gpus if g.get("type"))
    for key, value in (facts.get("labels") or {}).items():
        out.append((group_name(key, value), f"label:{key}"))
    if tag_groups:
        out.extend((group_name("tag", t), "tag") for t in facts.get("tags") or ())
    # A label can name a group already made (label gpu=nvidia-l4 and the GPU type group
    # gpu_nvidia_l4); both pairs stay, so the caller checks each source of a protected name.
    return list(dict.fromkeys(out))
