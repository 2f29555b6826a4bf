"""Host names and ``ansible_host``: picking them from the facts, and never merging duplicates silently.

Two instances with the same name in two projects or zones would otherwise become one host whose
variables are those of whichever came last: a playbook would skip a machine without a word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.errors import ConfigError, DuplicateHostError

# Facts a host name or ansible_host can be taken from (besides label:KEY).
HOSTNAME_KINDS = ("name", "private_ip", "public_ip", "ipv6", "internal_dns")

# (host name, every fact of the instance, ansible_host or None)
HostRecord = tuple[str, dict[str, Any], Any]


def check_preferences(options: Mapping[str, Sequence[str]]) -> None:
    """Reject an entry of hostnames or ansible_host_preference (``options``: name to entries) it cannot pick."""
    for option, kinds in options.items():
        for kind in kinds:
            if kind not in HOSTNAME_KINDS and not (kind.startswith("label:") and len(kind) > 6):
                raise ConfigError(
                    f"'{kind}' in '{option}' is not supported; use {', '.join(HOSTNAME_KINDS)} or label:KEY.")


def pick(facts: Mapping[str, Any], preference: Sequence[str]) -> Any:
    """The first non-empty value of ``preference`` (fact names or label:KEY) in ``facts``, else None."""
    for kind in preference:
        value = (facts.get("labels") or {}).get(kind[6:]) if kind.startswith("label:") else facts.get(kind)
        if value:
            return value
    return None


def resolve_duplicates(records: list[HostRecord], policy: str) -> list[HostRecord]:
    """Rename colliding hosts ``<hostname>.<zone>.<project>`` (``policy`` qualify), or raise (``error``).

    Host names taken from labels or addresses can still collide inside one zone: the instance name
    (unique per zone and project) then goes in too, and the instance id as a last resort.
    """
    counts = _counts(records)
    dupes = {n for n, c in counts.items() if c > 1}
    if not dupes:
        return records
    if policy == "error":
        detail = "; ".join(
            f"{n}: " + ", ".join(f"{f['project']}/{f['zone']}" for nm, f, _h in records if nm == n)
            for n in sorted(dupes))
        raise DuplicateHostError(
            f"duplicate host names ({detail}). Set duplicate_names: qualify, or choose other 'hostnames'.")
    records = [(f"{n}.{f['zone']}.{f['project']}" if n in dupes else n, f, h) for n, f, h in records]
    for extra in ("name", "id"):
        counts = _counts(records)
        if max(counts.values()) == 1:
            break
        records = [(_insert(n, f, f.get(extra)) if counts[n] > 1 else n, f, h) for n, f, h in records]
    return records


def _counts(records: list[HostRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, _facts, _host in records:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _insert(hostname: str, facts: Mapping[str, Any], value: Any) -> str:
    """Put ``value`` before the trailing .<zone>.<project> of a qualified host name."""
    suffix = f".{facts['zone']}.{facts['project']}"
    return f"{hostname[:-len(suffix)]}.{value}{suffix}"
