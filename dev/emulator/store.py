"""Compute Engine data held by the emulator: projects, zones, instances.

Instances are kept as ``Record``s: the raw Instance dict plus its JSON encodings,
computed once per (field selection, pretty) and reused by every page that carries
the instance. Filtered and ordered listings are cached per data version, so paging
through 50,000 instances filters them once, not once per page.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict, deque

from . import fields as fields_mod
from .errors import ApiError
from .filters import compile_filter
from .jsonenc import Fragment, encode_plain

API_BASE = "https://www.googleapis.com/compute/v1"
DEFAULT_MTU = 1460  # a VPC network's MTU unless set otherwise
PROJECT_ERRORS = ("not_found", "permission_denied", "api_disabled", "quota_exceeded", "rate_limited")
_ORDER_BY = {"name": ("name", False), "creationTimestamp desc": ("creationTimestamp", True)}


class Record(fields_mod.Projectable, Fragment):
    """A resource dict with cached encodings."""

    __slots__ = ("_cache", "data")

    def __init__(self, data: dict):
        self.data = data
        self._cache: dict = {}

    def encode(self, pretty: bool) -> bytes:
        """The whole resource."""
        return self.encoded(None, "", pretty)

    def encoded(self, tree, key: str, pretty: bool) -> bytes:
        """The resource restricted to ``tree`` (canonical form ``key``), cached."""
        slot = (key, pretty)
        data = self._cache.get(slot)
        if data is None:
            value = self.data if tree is None else fields_mod.apply(tree, self.data)
            data = encode_plain(value, pretty)
            if len(self._cache) >= 6:
                self._cache.clear()
            self._cache[slot] = data
        return data

    def project(self, tree):
        """A fragment that encodes this resource restricted to ``tree``."""
        return _View(self, tree)


class _View(Fragment):
    __slots__ = ("key", "record", "tree")

    def __init__(self, record: Record, tree):
        self.record = record
        self.tree = tree
        self.key = fields_mod.canonical(tree)

    def encode(self, pretty: bool) -> bytes:
        return self.record.encoded(self.tree, self.key, pretty)


def project_number(name: str) -> int:
    """A stable 12-digit project number for a project id."""
    return 100000000000 + zlib.crc32(name.encode()) % 900000000000


def zone_name(value: str) -> str:
    """``zones/x`` or a zone URL or a bare name -> ``x``."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def region_of(zone: str) -> str:
    """``us-central1-a`` -> ``us-central1``."""
    return zone.rsplit("-", 1)[0]


def project_of(self_link: str) -> str | None:
    """The project id inside a Compute URL (``.../projects/P/...``)."""
    parts = self_link.split("/")
    if "projects" in parts:
        index = parts.index("projects")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


class Project:
    """One project: its zones in order, their instances, and what is wrong with it."""

    def __init__(self, name: str, number: int):
        self.name = name
        self.number = number
        self.zones: dict[str, list[Record]] = {}
        self.zone_records: dict[str, Record] = {}
        self.error: str | None = None
        self.unreachable: set[str] = set()
        # VPC networks (name -> MTU): every network an instance's NIC names, plus any set explicitly.
        self.networks: dict[str, int] = {}
        self.quota: tuple[int, int] | None = None  # (requests per minute, status when exceeded)
        # resource policies: (region, name) -> ResourcePolicy dict
        self.resource_policies: dict[tuple[str, str], dict] = {}
        self._calls: deque = deque()

    def spend_quota(self) -> bool:
        """Count one read against the per-minute quota; False when it is exhausted."""
        if self.quota is None:
            return True
        now = time.monotonic()
        while self._calls and now - self._calls[0] >= 60:
            self._calls.popleft()
        if len(self._calls) >= self.quota[0]:
            return False
        self._calls.append(now)
        return True


class ComputeStore:
    """All Compute data, guarded by one lock; ``version`` changes on every mutation."""

    def __init__(self):
        self.lock = threading.RLock()
        self.projects: dict[str, Project] = {}
        self.version = 0
        self._listings: OrderedDict = OrderedDict()

    def _touch(self) -> None:
        self.version += 1
        self._listings.clear()

    def _project(self, name: str) -> Project:
        project = self.projects.get(name)
        if project is None:
            project = Project(name, project_number(name))
            self.projects[name] = project
        return project

    def _zone(self, project: Project, zone: str) -> list[Record]:
        if zone not in project.zones:
            project.zones[zone] = []
            project.zone_records[zone] = Record(_zone_resource(project.name, zone))
        return project.zones[zone]

    # -- mutation
    def add_project(self, name: str, zones=()) -> None:
        """Create the project (if new) and the given zones in it."""
        with self.lock:
            project = self._project(name)
            for zone in zones:
                self._zone(project, zone_name(zone))
            self._touch()

    def add_instances(self, name: str, instances) -> None:
        """Add raw Instance dicts; each one's zone comes from its ``zone`` URL."""
        with self.lock:
            project = self._project(name)
            for instance in instances:
                zone = instance.get("zone") if isinstance(instance, dict) else None
                if not zone:
                    raise ValueError(
                        f"instance {instance.get('name') if isinstance(instance, dict) else instance!r} has no 'zone': "
                        "set it to the zone URL (.../projects/P/zones/Z) or the zone name"
                    )
                self._zone(project, zone_name(zone)).append(Record(instance))
                for nic in instance.get("networkInterfaces") or ():
                    url = nic.get("network") or ""
                    # Shared VPC: the network may live in another (host) project.
                    owner = self._project(project_of(url) or name)
                    owner.networks.setdefault(url.rsplit("/", 1)[-1], DEFAULT_MTU)
            self._touch()

    def find_instance(self, name: str, zone: str, instance: str) -> Record | None:
        """The instance ``instance`` in ``zone`` of project ``name``, or None."""
        with self.lock:
            project = self.projects.get(name)
            records = project.zones.get(zone, ()) if project else ()
            return next((r for r in records if r.data.get("name") == instance), None)

    def put_instance(self, name: str, data: dict) -> Record:
        """Add the Instance ``data``, or replace the one of that name in its zone (a new Record, fresh encodings)."""
        with self.lock:
            records = self._zone(self._project(name), zone_name(data["zone"]))
            record = Record(data)
            for index, old in enumerate(records):
                if old.data.get("name") == data["name"]:
                    records[index] = record
                    break
            else:
                records.append(record)
            self._touch()
            return record

    def remove_instance(self, name: str, zone: str, instance: str) -> None:
        """Forget an instance (no error when it is already gone)."""
        with self.lock:
            project = self.projects.get(name)
            if project and zone in project.zones:
                project.zones[zone] = [r for r in project.zones[zone] if r.data.get("name") != instance]
            self._touch()

    def set_network(self, name: str, network: str, mtu: int) -> None:
        """Create or change a VPC network of the project (MTU 1300-8896, as GCE allows)."""
        if not 1300 <= int(mtu) <= 8896:
            raise ValueError(f"network {network}: MTU {mtu} is outside 1300-8896")
        with self.lock:
            self._project(name).networks[network] = int(mtu)
            self._touch()

    def clear(self) -> None:
        """Forget every project."""
        with self.lock:
            self.projects.clear()
            self._touch()

    def set_project_error(self, name: str, kind: str | None) -> None:
        """Make every Compute call for the project fail with ``kind`` (None: heal it)."""
        if kind is not None and kind not in PROJECT_ERRORS:
            raise ValueError(f"unknown project error {kind!r}; use one of {', '.join(PROJECT_ERRORS)}")
        with self.lock:
            self._project(name).error = kind
            self._touch()

    def set_quota(self, name: str, per_minute: int | None, status: int = 403) -> None:
        """Limit Compute reads of the project to ``per_minute`` in any 60 s (None: no limit)."""
        if per_minute is not None and per_minute < 0:
            raise ValueError(f"quota {per_minute} must be 0 or more requests per minute")
        if status not in (403, 429):
            raise ValueError(f"quota status {status} must be 403 (rateLimitExceeded) or 429")
        with self.lock:
            project = self._project(name)
            project.quota = None if per_minute is None else (per_minute, status)
            project._calls.clear()

    def set_unreachable(self, name: str, zones) -> None:
        """Mark zones of the project unreachable (aggregated lists report them in ``unreachables``)."""
        with self.lock:
            project = self._project(name)
            project.unreachable = {zone_name(z) for z in zones}
            for zone in project.unreachable:
                self._zone(project, zone)
            self._touch()

    def warm(self) -> int:
        """Encode every instance now (compact and pretty), so the first listing is as fast as later ones."""
        with self.lock:
            records = [r for p in self.projects.values() for rs in p.zones.values() for r in rs]
        for record in records:
            record.encode(False)
            record.encode(True)
        return len(records)

    # -- queries
    def instance_count(self) -> int:
        """How many instances are held in all projects."""
        with self.lock:
            return sum(len(records) for p in self.projects.values() for records in p.zones.values())

    def listing(self, project: Project, scope: str, filter_text: str, order_by: str) -> list:
        """Zone-ordered ``[(zone, Record | None)]`` after filter and order, cached per version.

        ``scope`` is a zone name, ``"*"`` for every reachable zone, or ``"zones"`` for the
        Zone resources themselves. With ``"*"`` a zone left without records appears once
        as ``(zone, None)``, where aggregated lists put their NO_RESULTS_ON_PAGE warning.
        """
        key = (project.name, scope, filter_text, order_by, self.version)
        with self.lock:
            cached = self._listings.get(key)
            if cached is not None:
                self._listings.move_to_end(key)
                return cached
        predicate = compile_filter(filter_text)
        if order_by and order_by not in _ORDER_BY:
            raise ApiError(
                400,
                f"Invalid value for field 'orderBy': '{order_by}'. Supported values: 'name', 'creationTimestamp desc'.",
                "invalid",
            )
        with self.lock:
            if scope == "zones":
                groups = [("", list(project.zone_records.values()))]
            elif scope == "*":
                groups = [(z, list(r)) for z, r in project.zones.items() if z not in project.unreachable]
            else:
                groups = [(scope, list(project.zones.get(scope, ())))]
        result = []
        for zone, records in groups:
            if predicate is not None:
                records = [r for r in records if predicate(r.data)]
            if order_by:
                field, reverse = _ORDER_BY[order_by]
                records.sort(key=lambda r, f=field: str(r.data.get(f, "")), reverse=reverse)
            if records:
                result.extend((zone, record) for record in records)
            elif scope == "*":
                result.append((zone, None))
        with self.lock:
            self._listings[key] = result
            while len(self._listings) > 64:
                self._listings.popitem(last=False)
        return result


def _zone_resource(project: str, zone: str) -> dict:
    region = region_of(zone)
    return {
        "kind": "compute#zone",
        "id": str(2000 + zlib.crc32(zone.encode()) % 1000),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": f"{API_BASE}/projects/{project}/regions/{region}",
        "selfLink": f"{API_BASE}/projects/{project}/zones/{zone}",
        "availableCpuPlatforms": ["Intel Sapphire Rapids", "Intel Ice Lake", "Intel Cascade Lake", "AMD Genoa"],
        "supportsPzs": False,
    }
