"""What API data may decide: the ansible-core floor, untrusted values, and the groups it may not make.

Anyone allowed to set labels on a VM (``compute.instances.setLabels``, far less than an Ansible
admin) writes the data this plugin reads. Three things keep that data from deciding trust:

- ansible-core 2.19 or newer: its data tagging never templates a value that is not marked trusted,
  and this plugin's values never are. Under older releases a label such as
  ``{{ lookup('pipe', ...) }}`` was rendered, so the plugin refuses to run there at all.
- every value is passed through ``wrap_var`` explicitly, so the facts stay untrusted even if the
  plugin's ``trusted_by_default`` or ansible-core's default changed.
- group names made from API data (labels, accelerators, keyed groups) may not be one of the
  *protected* groups the playbooks target, unless the configuration names the source that may make it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.errors import ConfigError

# The oldest ansible-core whose data tagging keeps untrusted values from being templated.
MIN_CORE = (2, 19)
# Sources of a group name; ``label:<key>`` is added per label key.
SOURCES = ("project", "region", "zone", "status", "family", "accelerators", "tag", "keyed_groups")


class ProtectedGroupError(ConfigError):
    """API data would make a protected group from a source the configuration does not trust."""


def check_core(version: str) -> None:
    """Refuse ansible-core releases older than MIN_CORE (``version`` is ``ansible.release.__version__``)."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        found = (0, 0)
    if found < MIN_CORE:
        floor = ".".join(str(p) for p in MIN_CORE)
        raise ConfigError(
            f"ansible-core {version} is installed, and this plugin needs {floor} or newer. Older releases template "
            "values that come from the API (labels, metadata), so anyone who can set a label on a VM could run "
            f"commands on this controller. Nothing was listed. Fix: pip install 'ansible-core>={floor}' in the "
            "environment that runs ansible (the collection's requirements.txt pins the tested release).")


# Types that can carry no tag: ansible-core tags a value by making it an instance of a tagged subclass
# (a trusted str is not exactly a str), so a value of exactly one of these types is untrusted already.
_UNTAGGED = frozenset({str, int, float, bool, type(None)})


def untrusted(value: Any) -> Any:
    """``value`` with every string in it marked untrusted (never templated), whatever the default trust.

    Anything that is not a plain str, number, dict or list (a tagged value) goes through ``wrap_var``,
    which removes the trust tag; plain values are kept as they are. Calling ``wrap_var`` on every value
    gives the same result but costs about 0.2 ms per host (2 s for 10,000 hosts).
    """
    kind = type(value)
    if kind in _UNTAGGED:
        return value
    if kind is dict:
        return {untrusted(k): untrusted(v) for k, v in value.items()}
    if kind is list:
        return [untrusted(v) for v in value]
    return wrap_var(value)


class GroupGuard:
    """Decides whether a group name made from API data may be used, and says why not.

    ``protected`` are group names or shell patterns (``role_*``) the playbooks target; ``trusted``
    maps such a name or pattern to the sources that may make it (``label:role``, ``accelerators``,
    ``keyed_groups``...). A protected group made by any other source is refused.
    """

    def __init__(self, protected: Iterable[Any], trusted: Mapping[Any, Any] | None) -> None:
        self.protected = tuple(str(p) for p in protected or ())
        self.trusted: dict[str, frozenset[str]] = {}
        for pattern, sources in (trusted or {}).items():
            if isinstance(sources, str) or not isinstance(sources, Iterable):
                raise ConfigError(
                    f"trusted_groups[{pattern!r}] is {sources!r}; give a list of sources, e.g. "
                    f"{{{pattern!r}: ['label:role']}}.")
            names = frozenset(str(s) for s in sources)
            unknown = sorted(s for s in names if s not in SOURCES and not (s.startswith("label:") and len(s) > 6))
            if unknown:
                raise ConfigError(
                    f"unknown source(s) {', '.join(unknown)} in trusted_groups[{pattern!r}]; use label:<label key> "
                    f"or any of {', '.join(SOURCES)}.")
            self.trusted[str(pattern)] = names
        # The same few groups and sources recur on every host. A plain dict, not lru_cache on a bound
        # method, which would be a reference cycle left to the collector (paused while hosts are built).
        self._decided: dict[tuple[str, str], bool] = {}

    def is_protected(self, group: str) -> bool:
        """Whether ``group`` matches one of the protected names or patterns."""
        return any(fnmatch.fnmatchcase(group, p) for p in self.protected)

    def allowed(self, group: str, source: str) -> bool:
        """Whether ``source`` may make ``group``: it is not protected, or trusted_groups names the source."""
        decided = self._decided.get((group, source))
        if decided is None:
            decided = not self.is_protected(group) or any(
                source in sources for pattern, sources in self.trusted.items() if fnmatch.fnmatchcase(group, pattern))
            self._decided[(group, source)] = decided
        return decided

    def check(self, group: str, source: str, host: str, facts: Mapping[str, Any]) -> None:
        """Raise ProtectedGroupError naming the host, the source (the label and its value) and the fix."""
        if self.allowed(group, source):
            return
        what = source
        if source.startswith("label:"):
            key = source[6:]
            what = f"label {key}={(facts.get('labels') or {}).get(key, '')!r}"
        trusted = sorted({s for p, sources in self.trusted.items() if fnmatch.fnmatchcase(group, p) for s in sources})
        raise ProtectedGroupError(
            f"host {host} ({facts.get('project')}/{facts.get('zone')}): {what} makes group {group!r}, which the "
            f"playbooks target (protected_groups), and the configuration trusts "
            f"{', '.join(trusted) if trusted else 'no API data'} to make it (trusted_groups). No host or group of "
            f"this source was added. Fix: remove that {'label' if source.startswith('label:') else 'source'} from "
            f"the instance; or, if it is meant to place hosts in {group!r}, add {source!r} to trusted_groups for "
            f"{group!r} in the inventory configuration.")
