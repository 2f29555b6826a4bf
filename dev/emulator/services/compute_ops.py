"""Compute Engine operations: the shared registry, ``new_operation`` and the operations get/wait routes.

Every Compute mutation the emulator serves (networks, firewalls, instances, ...) applies its change,
then answers with an Operation made by ``new_operation``: Google's ``compute#operation`` shape, named
``operation-<ms>-<hex>``, kept in ``emulator.compute_operations`` under ``(project, scope, name)``
where scope is ``global``, ``regions/R`` or ``zones/Z``. It is RUNNING for
``emulator.compute_operation_seconds`` (0 by default: DONE at once, as most small changes are within
a poll), then DONE; an operation made with ``error`` ends DONE with Google's ``error.errors[]``,
``httpErrorStatusCode`` and ``httpErrorMessage``. ``stall_compute_operations(emulator)`` keeps every
new operation RUNNING until ``release_compute_operations``; ``fail_next_compute_operation`` makes the
next one end with an error.

``by_request_id(handler)`` wraps a mutation handler: a repeated ``requestId`` answers the first request's
operation, and the change is applied once, as Compute does.

Like Google's, ``selfLink`` and ``targetLink`` name ``https://compute.googleapis.com/compute/v1/...``
whatever address the emulator listens on: a client builds its poll URL from its own endpoint and the
operation's name. Served: ``globalOperations``/``regionOperations``/``zoneOperations`` ``get`` and
``wait`` (which holds the request until the operation is DONE, at most two minutes, as Google does).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time

from ..errors import not_found
from ..server import Response
from .compute import COMPUTE_SCOPES, PREFIX, _check_alt, _project

OPERATIONS_BASE = "https://compute.googleapis.com/compute/v1"
WAIT_LIMIT = 120.0
_LOCK = threading.Lock()


def _stamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-8))).isoformat(
        timespec="milliseconds"
    )


def registry(emulator) -> dict:
    """``emulator.compute_operations``, created on first use."""
    with _LOCK:
        ops = getattr(emulator, "compute_operations", None)
        if ops is None:
            ops = emulator.compute_operations = {}
        return ops


def stall_compute_operations(emulator, stalled: bool = True) -> None:
    """Keep every operation made from now on RUNNING (a client's timeout test), or stop doing so."""
    emulator.compute_operations_stalled = stalled


def fail_next_compute_operation(emulator, code: str, message: str) -> None:
    """Make the next operation end DONE with this error (the change itself is still applied, as a test fixture)."""
    emulator.compute_operations_fail_next = {"errors": [{"code": code, "message": message}]}


def release_compute_operations(emulator) -> None:
    """Finish every stalled operation now."""
    emulator.compute_operations_stalled = False
    now = time.time()
    with _LOCK:
        for op in registry(emulator).values():
            if op["_done_at"] > now:
                op["_done_at"] = now


def new_operation(
    emulator,
    project: str,
    scope: str,
    op_type: str,
    target_link: str,
    *,
    target_id: str | None = None,
    error: dict | None = None,
    http_status: int = 400,
    user: str = "user@example.com",
    seconds: float | None = None,
) -> dict:
    """Record a Compute operation and return it as the mutation answers it.

    ``scope``: ``global``, ``regions/R`` or ``zones/Z``. ``op_type``: Google's operationType
    (``insert``, ``patch``, ``delete``, ``update``, ``setLabels``, ``start``, ...). ``target_link``:
    the resource's URL (any host; it is rewritten onto compute.googleapis.com). ``error``: a failed
    operation's ``{"errors": [{"code", "message"}]}`` (``http_status`` and the first message become
    httpErrorStatusCode/httpErrorMessage). ``seconds``: how long it stays RUNNING (default
    ``emulator.compute_operation_seconds``).
    """
    now = time.time()
    if seconds is None:
        seconds = float(getattr(emulator, "compute_operation_seconds", 0) or 0)
    if getattr(emulator, "compute_operations_stalled", False):
        seconds = float("inf")
    if error is None:
        error = getattr(emulator, "compute_operations_fail_next", None)
        emulator.compute_operations_fail_next = None
    name = f"operation-{int(now * 1000)}-{secrets.token_hex(6)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    path = target_link.split("/compute/v1/", 1)[-1]
    op = {
        "kind": "compute#operation",
        "id": str(secrets.randbits(63)),
        "name": name,
        "operationType": op_type,
        "targetLink": f"{OPERATIONS_BASE}/{path}",
        "targetId": target_id or str(secrets.randbits(63)),
        "user": user,
        "progress": 0,
        "insertTime": _stamp(now),
        "startTime": _stamp(now),
        "selfLink": f"{OPERATIONS_BASE}/projects/{project}/{scope}/operations/{name}",
        "_done_at": now + seconds,
        "_error": error,
        "_http": http_status,
    }
    kind, _, where = scope.partition("/")
    if kind == "zones":
        op["zone"] = f"{OPERATIONS_BASE}/projects/{project}/zones/{where}"
    elif kind == "regions":
        op["region"] = f"{OPERATIONS_BASE}/projects/{project}/regions/{where}"
    ops = registry(emulator)
    with _LOCK:
        ops[(project, scope, name)] = op
    return view(op)


def view(op: dict) -> dict:
    """The operation as Google shows it now: RUNNING until its time, then DONE (with its error)."""
    out = {k: v for k, v in op.items() if not k.startswith("_")}
    if time.time() < op["_done_at"]:
        out["status"] = "RUNNING"
        return out
    out["status"] = "DONE"
    out["progress"] = 100
    out["endTime"] = _stamp(max(op["_done_at"], 0))
    if op["_error"]:
        out["error"] = op["_error"]
        out["httpErrorStatusCode"] = op["_http"]
        out["httpErrorMessage"] = "BAD REQUEST" if op["_http"] == 400 else "ERROR"
    return out


def by_request_id(handler):
    """Wrap a Compute mutation handler so that a repeated ``requestId`` answers the first request's Operation.

    Compute's mutations take an optional ``requestId`` (a UUID): the server ignores a request whose ID it
    has already seen and answers with the operation that ID started, so a client may send a mutation
    again after losing its answer. The change is applied once.
    """

    def wrapped(call):
        request_id = call.arg("requestId")
        if not request_id:
            return handler(call)
        key = (call.params.get("project"), request_id)
        with _LOCK:
            seen = getattr(call.emulator, "compute_request_ids", None)
            if seen is None:
                seen = call.emulator.compute_request_ids = {}
            first = seen.get(key)
            op = call.emulator.compute_operations.get(first) if first else None
        if op is not None:
            return Response(body=view(op))
        response = handler(call)
        body = response.body
        if response.status == 200 and isinstance(body, dict) and body.get("kind") == "compute#operation":
            if body.get("zone"):
                scope = "zones/" + body["zone"].rsplit("/", 1)[-1]
            elif body.get("region"):
                scope = "regions/" + body["region"].rsplit("/", 1)[-1]
            else:
                scope = "global"
            with _LOCK:
                seen[key] = (key[0], scope, body["name"])
        return response

    return wrapped


def register(router, emulator):
    """Serve globalOperations/regionOperations/zoneOperations get and wait."""
    registry(emulator)

    def find(call, scope: str) -> dict:
        _check_alt(call)
        project = _project(call, "compute.globalOperations.get")
        key = (project.name, scope, call.params["operation"])
        with _LOCK:
            op = call.emulator.compute_operations.get(key)
        if op is None:
            raise not_found(f"projects/{project.name}/{scope}/operations/{call.params['operation']}")
        return op

    def scope_of(call) -> str:
        if "zone" in call.params:
            return f"zones/{call.params['zone']}"
        if "region" in call.params:
            return f"regions/{call.params['region']}"
        return "global"

    def get(call):
        return Response(body=view(find(call, scope_of(call))))

    def wait(call):
        op = find(call, scope_of(call))
        deadline = time.monotonic() + WAIT_LIMIT
        while time.time() < op["_done_at"] and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, op["_done_at"] - time.time())))
        return Response(body=view(op))

    op_path = r"/operations/(?P<operation>[^/]+)"
    scopes = {
        "globalOperations": PREFIX + r"/global",
        "regionOperations": PREFIX + r"/regions/(?P<region>[^/]+)",
        "zoneOperations": PREFIX + r"/zones/(?P<zone>[^/]+)",
    }
    for resource, base in scopes.items():
        router.add("GET", base + op_path, get, kind=f"compute.{resource}.get", scopes=COMPUTE_SCOPES)
        router.add("POST", base + op_path + r"/wait", wait, kind=f"compute.{resource}.wait", scopes=COMPUTE_SCOPES)
    return emulator.compute_operations
