"""Compute Engine v1 under ``/compute/v1/``: instances (aggregated, per zone, get) and zones.

Listing follows the real API: ``maxResults`` 0..500 (default 500), opaque page tokens
bound to the query that made them, the ``filter`` language (``filters.py``), ``orderBy``
``name``/``creationTimestamp desc``, zones without results carrying a
``NO_RESULTS_ON_PAGE`` warning, unreachable zones listed in ``unreachables``, and the
project-level errors Compute answers (404, 403 forbidden/accessNotConfigured/
rateLimitExceeded, 429).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .. import dataset
from ..errors import ApiError, api_disabled, invalid_value, not_found, permission_denied, quota_exceeded
from ..server import Response
from ..store import API_BASE

PREFIX = "/compute/v1/projects/(?P<project>[^/]+)"
COMPUTE_SCOPES = (
    "https://www.googleapis.com/auth/compute",
    "https://www.googleapis.com/auth/compute.readonly",
)
MAX_RESULTS = 500


def _check_alt(call) -> None:
    """Compute answers JSON only (the query parameters themselves are checked against discovery)."""
    alt = call.arg("alt", "json")
    if alt != "json":
        raise invalid_value("alt", alt, "Only alt=json is supported.")


def _project(call, permission: str):
    """The project of the call, or the error Compute answers for it."""
    emu = call.emulator
    emu.maybe_reload_lab()
    name = call.params["project"]
    project = emu.compute.projects.get(name)
    if project is None:
        raise not_found(f"projects/{name}")
    error = project.error
    if error == "not_found":
        raise not_found(f"projects/{name}")
    if error == "permission_denied":
        raise permission_denied(permission, f"projects/{name}")
    if error == "api_disabled":
        raise api_disabled(name)
    if error == "quota_exceeded":
        raise quota_exceeded(name, 403)
    if error == "rate_limited":
        raise quota_exceeded(name, 429)
    with emu.compute.lock:
        allowed = project.spend_quota()
    if not allowed:
        raise quota_exceeded(name, project.quota[1])
    return project


class _Pager:
    """maxResults and page tokens; a token encodes an offset signed for one exact query."""

    def __init__(self, secret: bytes):
        self.secret = secret

    def _sign(self, query_key: str, offset: int) -> str:
        return hmac.new(self.secret, f"{query_key}|{offset}".encode(), hashlib.sha256).hexdigest()[:16]

    def token(self, query_key: str, offset: int) -> str:
        raw = f"{offset}:{self._sign(query_key, offset)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def offset(self, call, query_key: str) -> int:
        token = call.arg("pageToken")
        if not token:
            return 0
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            offset_text, signature = raw.split(":", 1)
            offset = int(offset_text)
        except ValueError:
            offset, signature = -1, ""
        if offset < 0 or not hmac.compare_digest(signature, self._sign(query_key, offset)):
            raise invalid_value("pageToken", token, "The page token is invalid, or was issued for a different request.")
        return offset

    @staticmethod
    def max_results(call) -> int:
        text = call.arg("maxResults")
        if text is None or text == "":
            return MAX_RESULTS
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise ApiError(
                400, f"Invalid value at 'max_results' (TYPE_UINT32), \"{text}\"", "invalid", status="INVALID_ARGUMENT"
            )
        if value > MAX_RESULTS:
            raise invalid_value("maxResults", text, f"Must be less than or equal to {MAX_RESULTS}")
        return value or MAX_RESULTS


def _page(slots: list, offset: int, limit: int) -> tuple[list, int]:
    """Take up to ``limit`` records from ``slots`` starting at ``offset``.

    Empty-zone markers (``record is None``) ride along without counting, so a zone with
    no results shows its warning on the page where it falls.
    """
    taken, index, count = [], offset, 0
    while index < len(slots):
        record = slots[index][1]
        if record is not None:
            if count == limit:
                break
            count += 1
        taken.append(slots[index])
        index += 1
    return taken, index


def _no_results(scope: str) -> dict:
    return {
        "warning": {
            "code": "NO_RESULTS_ON_PAGE",
            "message": f"No results for the scope '{scope}'.",
            "data": [{"key": "scope", "value": scope}],
        }
    }


def register(router, emulator):
    """Serve instances.aggregatedList/list/get and zones.list.

    Also creates ``emulator.compute_operations``, the one registry of Compute operations that every
    Compute service shares: ``{(project, scope, name): Operation}`` with scope ``global``,
    ``regions/R`` or ``zones/Z`` (see ``compute_ops.new_operation``).
    """
    emulator.compute_operations = {}
    pager = _Pager(secrets.token_bytes(16))

    def listing(call, project, scope):
        filter_text = call.arg("filter", "") or ""
        order_by = call.arg("orderBy", "") or ""
        limit = pager.max_results(call)
        query_key = f"{project.name}|{scope}|{filter_text}|{order_by}"
        offset = pager.offset(call, query_key)
        slots = call.emulator.compute.listing(project, scope, filter_text, order_by)
        taken, end = _page(slots, offset, limit)
        next_token = pager.token(query_key, end) if end < len(slots) else None
        return taken, next_token

    def aggregated(call):
        _check_alt(call)
        project = _project(call, "compute.instances.list")
        taken, next_token = listing(call, project, "*")
        items: dict = {}
        for zone, record in taken:
            key = f"zones/{zone}"
            if record is None:
                items[key] = _no_results(key)
            else:
                items.setdefault(key, {"instances": []})["instances"].append(record)
        body = {
            "kind": "compute#instanceAggregatedList",
            "id": f"projects/{project.name}/aggregated/instances",
            "items": items,
        }
        if next_token:
            body["nextPageToken"] = next_token
        body["selfLink"] = f"{API_BASE}/projects/{project.name}/aggregated/instances"
        if project.unreachable:
            body["unreachables"] = sorted(f"zones/{z}" for z in project.unreachable)
        return Response(body=body)

    def zone_of(call, project) -> str:
        zone = call.params["zone"]
        if zone not in project.zones and zone not in dataset.ZONES and zone not in dataset.ZONE_OFFERS:
            # a real zone the project has no instance in yet lists empty (an empty project, provisioned later)
            raise not_found(f"projects/{project.name}/zones/{zone}")
        if zone in project.unreachable:
            raise ApiError(
                503,
                f"The zone 'projects/{project.name}/zones/{zone}' is currently unavailable.",
                "backendError",
                status="UNAVAILABLE",
            )
        return zone

    def zonal(call):
        _check_alt(call)
        project = _project(call, "compute.instances.list")
        zone = zone_of(call, project)
        taken, next_token = listing(call, project, zone)
        body = {"kind": "compute#instanceList", "id": f"projects/{project.name}/zones/{zone}/instances"}
        if taken:
            body["items"] = [record for _, record in taken]
        if next_token:
            body["nextPageToken"] = next_token
        body["selfLink"] = f"{API_BASE}/projects/{project.name}/zones/{zone}/instances"
        return Response(body=body)

    def get_instance(call):
        _check_alt(call)
        project = _project(call, "compute.instances.get")
        zone = zone_of(call, project)
        name = call.params["name"]
        with call.emulator.compute.lock:
            found = next((r for r in project.zones.get(zone, ()) if r.data.get("name") == name), None)
        if found is None:
            raise not_found(f"projects/{project.name}/zones/{zone}/instances/{name}")
        return Response(body=found)

    def zones(call):
        _check_alt(call)
        project = _project(call, "compute.zones.list")
        taken, next_token = listing(call, project, "zones")
        body = {"kind": "compute#zoneList", "id": f"projects/{project.name}/zones"}
        if taken:
            body["items"] = [record for _, record in taken]
        if next_token:
            body["nextPageToken"] = next_token
        body["selfLink"] = f"{API_BASE}/projects/{project.name}/zones"
        return Response(body=body)

    schema = "compute.v1"
    add = router.add
    add(
        "GET",
        PREFIX + r"/aggregated/instances",
        aggregated,
        kind="compute.instances.aggregatedList",
        scopes=COMPUTE_SCOPES,
        schema=(schema, "InstanceAggregatedList"),
    )
    add(
        "GET",
        PREFIX + r"/zones/(?P<zone>[^/]+)/instances",
        zonal,
        kind="compute.instances.list",
        scopes=COMPUTE_SCOPES,
        schema=(schema, "InstanceList"),
    )
    add(
        "GET",
        PREFIX + r"/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)",
        get_instance,
        kind="compute.instances.get",
        scopes=COMPUTE_SCOPES,
        schema=(schema, "Instance"),
    )
    add("GET", PREFIX + r"/zones", zones, kind="compute.zones.list", scopes=COMPUTE_SCOPES,
        schema=(schema, "ZoneList"))  # fmt: skip
