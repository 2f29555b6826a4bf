"""Emulator control endpoints under ``/_emulator/`` (no auth; test controls, never Google's API).

``POST /_emulator/sqladmin/projects/P/instances/I/state`` with ``{"state": "MAINTENANCE"}`` puts a
Cloud SQL instance in a state the emulator's own operations never leave it in, so that a test sees what
a client (the monitoring host's state collector) does when the SQL Admin API reports it: any value of
``DatabaseInstance.state``'s enum in the discovery document that is not deprecated (``RUNNABLE`` again
ends it). Only the state changes; the lab's PostgreSQL host keeps running.
"""

from __future__ import annotations

from .. import discovery
from ..errors import ApiError
from ..server import Response


def instance_states() -> list[str]:
    """The states ``DatabaseInstance.state`` may take: the discovery document's enum, less deprecated values."""
    doc = discovery.document("sqladmin.v1")
    if doc is None:
        raise ApiError(500, "sqladmin.v1's discovery document is not installed (google-api-python-client).", "internal")
    prop = doc["schemas"]["DatabaseInstance"]["properties"]["state"]
    deprecated = prop.get("enumDeprecated") or [False] * len(prop["enum"])
    return [value for value, old in zip(prop["enum"], deprecated, strict=True) if not old]


def register(router, emulator):
    """``GET /_emulator/stats``, ``POST /_emulator/reset``, ``POST|DELETE /_emulator/faults``, health, SQL state."""

    def stats(call):
        return Response(body=call.emulator.stats())

    def reset(call):
        call.emulator.reset()
        return Response(body={"reset": True})

    def add_fault(call):
        try:
            spec = call.request.json()
            if not isinstance(spec, dict):
                raise TypeError("expected a JSON object")
            fault = call.emulator.faults.add(**spec)
        except (ValueError, TypeError) as exc:
            raise ApiError(
                400,
                f"Invalid fault: {exc}. Fields: path_regex, method, status, latency_ms, "
                "malformed, expire_token, times, nth, probability, seed.",
                "invalid",
            ) from None
        return Response(body=fault.describe())

    def clear_faults(call):
        call.emulator.faults.clear()
        return Response(body={"faults": []})

    def health(call):
        return Response(body={"status": "ok", "url": call.emulator.url})

    def set_sql_state(call):
        states = instance_states()
        try:
            body = call.request.json()
        except ValueError:
            body = None
        state = body.get("state") if isinstance(body, dict) else None
        if state not in states:
            raise ApiError(400, f"Invalid state {state!r}: send {{\"state\": S}} with S one of {', '.join(states)}.",
                           "invalid")
        store = call.emulator.services["sqladmin"]
        store.reload_lab()
        key = (call.params["project"], call.params["instance"])
        with store.lock:
            instance = store.instances.get(key)
            if instance is None:
                raise ApiError(404, f"No Cloud SQL instance {key[1]!r} in project {key[0]!r}.", "notFound")
            previous, instance["state"] = instance.get("state"), state
        return Response(body={"project": key[0], "instance": key[1], "state": state, "previous": previous})

    router.add("POST", r"/_emulator/sqladmin/projects/(?P<project>[^/]+)/instances/(?P<instance>[^/]+)/state",
               set_sql_state, kind="emulator.sqladmin.state", auth=False, google=False)
    router.add("GET", r"/_emulator/stats", stats, kind="emulator.stats", auth=False, google=False)
    router.add("POST", r"/_emulator/reset", reset, kind="emulator.reset", auth=False, google=False)
    router.add("POST", r"/_emulator/faults", add_fault, kind="emulator.faults", auth=False, google=False)
    router.add("DELETE", r"/_emulator/faults", clear_faults, kind="emulator.faults", auth=False, google=False)
    router.add("GET", r"/_emulator/health", health, kind="emulator.health", auth=False, google=False)
