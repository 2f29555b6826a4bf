"""Compute Engine ``instances.getGuestAttributes``: the SSH host keys a VM's guest agent publishes.

``GET /compute/v1/projects/{project}/zones/{zone}/instances/{instance}/getGuestAttributes`` with
``queryPath`` (a namespace such as ``hostkeys/``) or ``variableKey`` (one ``namespace/key``).
Google answers a ``compute#guestAttributes`` whose ``queryValue.items`` are
``{namespace, key, value}`` entries for a query path, or ``variableValue`` for one key; a path or key
with nothing published is 404 (guest attributes off, or the agent has not written them yet).

Where the attributes come from:

- tests: ``emulator.services["guest_attributes"]`` is a ``GuestAttributes``; ``publish(project, zone,
  instance, namespace, key, value)`` writes one entry, as a guest agent would;
- lab mode: the lab's ``known_hosts`` (beside ``instances.json``), which ``dev/lab/labctl.py`` fills
  with each container's real ``/etc/ssh/ssh_host_*_key.pub``, gives the ``hostkeys/`` namespace of
  the instance of the same name. Entries published by a test come first.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..errors import ApiError, not_found
from ..server import Response
from ..store import API_BASE
from .compute import COMPUTE_SCOPES, PREFIX, _check_alt, _project


class GuestAttributes:
    """Published entries: ``{(project, zone, instance): {(namespace, key): value}}``."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str, str], dict[tuple[str, str], str]] = {}

    def publish(self, project: str, zone: str, instance: str, namespace: str, key: str, value: str) -> None:
        """Write one guest attribute of an instance (what the guest agent does through the metadata server)."""
        with self.lock:
            self.entries.setdefault((project, zone, instance), {})[(namespace, key)] = value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def lab_host_keys(self, instance: str) -> dict[tuple[str, str], str]:
        """``hostkeys/`` of a lab instance, from the lab's known_hosts (lab mode only)."""
        lab_file = getattr(self.emulator, "_lab_file", None)
        if lab_file is None:
            return {}
        known_hosts = Path(lab_file).parent / "known_hosts"
        try:
            lines = known_hosts.read_text().splitlines()
        except FileNotFoundError:
            return {}
        out = {}
        for line in lines:
            parts = line.split()
            if len(parts) >= 3 and instance in parts[0].split(","):
                out[("hostkeys", parts[1])] = parts[2]
        return out

    def of(self, project: str, zone: str, instance: str) -> dict[tuple[str, str], str]:
        with self.lock:
            published = dict(self.entries.get((project, zone, instance), {}))
        return {**self.lab_host_keys(instance), **published}


def register(router, emulator):
    """Serve ``instances.getGuestAttributes``; returns the ``GuestAttributes`` store."""
    store = GuestAttributes(emulator)

    def get_guest_attributes(call):
        _check_alt(call)
        project = _project(call, "compute.instances.getGuestAttributes")
        zone, name = call.params["zone"], call.params["instance"]
        resource = f"projects/{project.name}/zones/{zone}/instances/{name}"
        with call.emulator.compute.lock:
            records = project.zones.get(zone)
            found = records is not None and any(r.data.get("name") == name for r in records)
        if not found:
            raise not_found(resource)
        query_path = call.arg("queryPath")
        variable_key = call.arg("variableKey")
        if query_path and variable_key:
            raise ApiError(400, "Invalid value for field 'queryPath': only one of queryPath and variableKey may be "
                                "set.", "invalid", status="INVALID_ARGUMENT")
        entries = store.of(project.name, zone, name)
        body = {"kind": "compute#guestAttributes",
                "selfLink": f"{API_BASE}/{resource}/guestAttributes/{query_path or variable_key or ''}"}
        if variable_key:
            namespace, _, key = variable_key.partition("/")
            if (namespace, key) not in entries:
                raise not_found(f"{resource}/guestAttributes/{variable_key}")
            body.update(variableKey=variable_key, variableValue=entries[(namespace, key)])
            return Response(body=body)
        prefix = (query_path or "").strip("/")
        items = [{"namespace": ns, "key": key, "value": value} for (ns, key), value in sorted(entries.items())
                 if not prefix or (ns == prefix.split("/", 1)[0] and (
                     "/" not in prefix or key == prefix.split("/", 1)[1]))]
        if not items:
            raise not_found(f"{resource}/guestAttributes/{query_path or ''}")
        body.update(queryPath=query_path or "", queryValue={"items": items})
        return Response(body=body)

    router.add(
        "GET",
        PREFIX + r"/zones/(?P<zone>[^/]+)/instances/(?P<instance>[^/]+)/getGuestAttributes",
        get_guest_attributes,
        kind="compute.instances.getGuestAttributes",
        scopes=COMPUTE_SCOPES,
        schema=("compute.v1", "GuestAttributes"),
    )
    return store
