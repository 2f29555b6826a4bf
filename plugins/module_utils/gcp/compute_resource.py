"""Ensure one Compute Engine resource: read it, compare what the user set, insert / patch / delete, wait.

Every module that manages a Compute resource (networks, subnetworks, firewalls, routers, global
addresses, resource policies, instances) builds on ``ComputeResource``:

- ``get()`` reads the resource by its URL under the configured endpoint (None when it is absent);
- ``plan(desired)`` compares ``desired`` (the resource in the API's shape, holding only the fields the
  user set) with the actual resource: objects compare key by key on the desired keys only, lists item
  by item (lists named in ``unordered`` as sets), links (``https://.../projects/P/...`` or
  ``projects/P/...``) by the resource they name. It returns the differing top-level fields, and those
  of them the API cannot change in place (``immutable``);
- ``ensure(desired)`` / ``ensure_absent()`` do the whole job for the simple cases and return
  ``{changed, diff, resource}``: insert when absent, one PATCH (or PUT, ``update_method``) carrying the
  differing fields when present, delete for ``state: absent``; each Operation is waited for under the
  configured endpoint (``GcpClient.wait_operation``, never the operation's ``selfLink`` host) with the
  module's timeout. Check mode sends nothing and reports what would change;
- a difference in an immutable field fails with what it would take (``ImmutableChange``), unless the
  caller handles ``plan()``'s answer itself (an instance's stop/change/start).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

if TYPE_CHECKING:
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

DEFAULT_ENDPOINT = "https://compute.googleapis.com"


class ImmutableChange(GcpError):
    """Fields differ that the API cannot change in place; the message says what it would take."""


def link_path(value: Any) -> Any:
    """``projects/P/...`` for a Compute link with any host (other values unchanged)."""
    if isinstance(value, str) and "projects/" in value and ("://" in value or value.startswith("projects/")):
        return "projects/" + value.split("projects/", 1)[1].rstrip("/")
    return value


def differs(desired: Any, actual: Any, unordered: Iterable[str] = (), path: str = "") -> bool:
    """Whether ``actual`` fails to hold what ``desired`` sets (keys absent from ``desired`` are ignored).

    ``unordered``: dotted paths of lists compared as sets (``sourceRanges``, ``nats.subnetworks``).
    A desired empty list or dict matches an absent one (the API leaves empty fields out).
    """
    unordered = tuple(unordered)
    if isinstance(desired, Mapping):
        if actual is None:
            actual = {}
        if not isinstance(actual, Mapping):
            return True
        return any(differs(value, actual.get(key), unordered, f"{path}.{key}" if path else key)
                   for key, value in desired.items())
    if isinstance(desired, list):
        actual = [] if actual is None else actual
        if not isinstance(actual, list) or len(actual) != len(desired):
            return True
        if path in unordered:
            return sorted(map(_key, desired)) != sorted(map(_key, actual))
        return any(differs(d, a, unordered, path) for d, a in zip(desired, actual, strict=True))
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is not actual and desired != (actual or False)
    if isinstance(desired, int) and isinstance(actual, str) and actual.lstrip("-").isdigit():
        return desired != int(actual)  # int64 fields come back as JSON strings
    return link_path(desired) != link_path(actual)


def _key(value: Any) -> str:
    """A sortable, link-normalised form of a list item (for lists compared as sets)."""
    if isinstance(value, Mapping):
        return repr(sorted((key, _key(item)) for key, item in value.items()))
    if isinstance(value, list):
        return repr([_key(item) for item in value])
    return str(link_path(value))


def project_view(desired: Any, actual: Any) -> Any:
    """``actual`` cut down to the keys ``desired`` names (for the ``before`` of a diff)."""
    if isinstance(desired, Mapping) and isinstance(actual, Mapping):
        return {key: project_view(value, actual.get(key)) for key, value in desired.items() if key in actual}
    if isinstance(desired, list) and isinstance(actual, list) and len(desired) == len(actual):
        return [project_view(d, a) for d, a in zip(desired, actual, strict=True)]
    return copy.deepcopy(actual)


class ComputeResource:
    """One Compute resource: ``projects/{project}/{scope}/{collection}/{name}`` under ``endpoint``.

    ``scope``: ``global``, ``regions/R`` or ``zones/Z``. ``kind``: how messages name the resource
    (``firewall rule``). ``immutable``: top-level fields the API cannot change in place, each with
    what changing it would take. ``unordered``: list fields compared as sets. ``update_method``:
    PATCH (merge) or PUT (replace; the whole desired resource is sent). ``fingerprint``: send the
    actual ``fingerprint`` with an update (subnetworks). ``permission``: the IAM permission prefix
    for error messages (``compute.firewalls``).
    """

    def __init__(self, client: GcpClient, project: str, scope: str, collection: str, name: str, *,
                 endpoint: str | None = None, kind: str | None = None, timeout: float = 300.0,
                 immutable: Mapping[str, str] | None = None, unordered: Iterable[str] = (),
                 update_method: str = "PATCH", fingerprint: bool = False, permission: str | None = None,
                 check_mode: bool = False) -> None:
        self.client = client
        self.project = project
        self.scope = scope
        self.collection = collection
        self.name = name
        self.base = (endpoint or DEFAULT_ENDPOINT).rstrip("/") + "/compute/v1"
        self.kind = kind or collection.rstrip("s")
        self.timeout = float(timeout)
        self.immutable = dict(immutable or {})
        self.unordered = tuple(unordered)
        self.update_method = update_method
        self.fingerprint = fingerprint
        self.permission = permission or f"compute.{collection}"
        self.check_mode = check_mode
        self.operations: list[str] = []

    # -- addresses and error context
    @property
    def path(self) -> str:
        """``projects/P/<scope>/<collection>/<name>``."""
        return f"projects/{self.project}/{self.scope}/{self.collection}/{self.name}"

    @property
    def url(self) -> str:
        """The resource's URL under the configured endpoint."""
        return f"{self.base}/{self.path}"

    @property
    def collection_url(self) -> str:
        """Where an insert is POSTed."""
        return f"{self.base}/projects/{self.project}/{self.scope}/{self.collection}"

    def context(self, verb: str, project_scoped: bool = True) -> dict[str, Any]:
        """What error messages name for a call that ``verb``s the resource."""
        return {
            "project": self.project,
            "resource": f"{self.kind} '{self.name}' ({self.path})",
            "permission": f"{self.permission}.{verb}",
            "role": "roles/compute.networkAdmin or roles/compute.admin",
            "api": "Compute Engine API",
            "service": "compute.googleapis.com",
            "endpoint_option": "api_endpoint",
            "project_scoped": project_scoped,
            "bad_request_hint": f"The API refused the {self.kind}'s settings; its message says which.",
        }

    # -- the API
    def get(self) -> dict[str, Any] | None:
        """The resource, or None when it does not exist."""
        try:
            return self.client.get_json(self.url, context=self.context("get", project_scoped=False))
        except GcpError as exc:
            if exc.status == 404:
                return None
            raise

    def operation_url(self, operation: Mapping[str, Any]) -> str:
        """The poll URL of ``operation`` under the configured endpoint (its zone/region/global scope)."""
        if operation.get("zone"):
            scope = "zones/" + str(operation["zone"]).rstrip("/").rsplit("/", 1)[-1]
        elif operation.get("region"):
            scope = "regions/" + str(operation["region"]).rstrip("/").rsplit("/", 1)[-1]
        else:
            scope = "global"
        return f"{self.base}/projects/{self.project}/{scope}/operations/{operation['name']}"

    def call(self, method: str, url: str, verb: str, body: Any = None, params: Mapping[str, Any] | None = None,
             retry: bool | str = True, request_id: bool = True) -> dict[str, Any]:
        """Send a mutation, wait for its Operation, return the finished Operation.

        With ``request_id`` (every Compute mutation takes one, except a few such as setLabels of an
        address) the request carries a ``requestId`` that stays the same when it is sent again: Compute
        then answers a repeat with the first request's Operation instead of acting twice. So a mutation
        whose answer was lost (a malformed body, a timeout, a 5xx) is sent again safely.
        """
        params = dict(params or {})
        if request_id:
            params["requestId"] = str(uuid.uuid4())
        attempts = self.client.retries + 1 if request_id else 1
        operation = None
        for _attempt in range(attempts):
            try:
                resp = self.client.request(method, url, params=params, json=body, context=self.context(verb),
                                           retry=retry)
            except GcpError as exc:
                if exc.status != 404:
                    raise
                # on a mutation, a 404 is about the project or a resource the body names (its network, ...)
                raise GcpError(
                    f"The Compute Engine API cannot {verb} the {self.kind} '{self.name}' ({self.path}): something "
                    f"it names does not exist ({exc.message}). Create that first (or fix its name), or check the "
                    "project ID.", status=404, reason=exc.reason, project=self.project, url=url,
                    kind="not_found") from None
            try:
                operation = resp.json()
            except ValueError:
                operation = None
            if isinstance(operation, dict) and operation.get("name"):
                break
        if not isinstance(operation, dict) or not operation.get("name"):
            raise GcpError(f"The Compute Engine API answered {method} {url} without an Operation "
                           f"({attempts} attempt(s)); the change may or may not have been made: run the task again.",
                           project=self.project, url=url, kind="malformed")
        self.operations.append(operation["name"])
        try:
            return self.client.wait_operation(self.operation_url(operation), operation, timeout=self.timeout,
                                              context=self.context("get"))
        except GcpError as exc:
            exc.operation = operation["name"]
            if exc.kind == "timeout":
                exc.message = (f"{exc.message} The {self.kind} '{self.name}' may still be changing: check it with "
                               f"`gcloud compute operations describe {operation['name']} --project {self.project}`.")
                exc.args = (exc.message,)
            raise

    def insert(self, desired: Mapping[str, Any]) -> dict[str, Any]:
        """Create the resource; return it as read back."""
        body = dict(desired, name=self.name)
        self.call("POST", self.collection_url, "create", body)
        return self.get() or body

    def update(self, changes: Mapping[str, Any], desired: Mapping[str, Any], actual: Mapping[str, Any]) -> dict:
        """Apply ``changes`` (PATCH) or the whole ``desired`` resource (PUT); return it as read back."""
        body = dict(desired, name=self.name) if self.update_method == "PUT" else dict(changes)
        if self.fingerprint and actual.get("fingerprint"):
            body["fingerprint"] = actual["fingerprint"]
        self.call(self.update_method, self.url, "update", body)
        return self.get() or dict(actual, **changes)

    def delete(self) -> None:
        """Delete the resource and wait."""
        self.call("DELETE", self.url, "delete")

    # -- comparison
    def plan(self, desired: Mapping[str, Any], actual: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``(changes, blocked)``: the desired top-level fields that differ, and the immutable ones among them."""
        changes = {key: value for key, value in desired.items()
                   if differs(value, actual.get(key), self.unordered, key)}
        blocked = [key for key in changes if key in self.immutable]
        return changes, blocked

    def immutable_error(self, blocked: list[str], desired: Mapping[str, Any], actual: Mapping[str, Any]) -> GcpError:
        """The failure for fields that cannot change in place, each with what it would take."""
        parts = [f"{key} is {link_path(actual.get(key))!r}, wanted {link_path(desired[key])!r}: "
                 f"{self.immutable[key]}" for key in blocked]
        return ImmutableChange(
            f"The {self.kind} '{self.name}' ({self.path}) differs in what the API cannot change in place. "
            + "; ".join(parts) + ". Nothing was changed.",
            project=self.project, kind="immutable")

    # -- the whole job
    def ensure(self, desired: Mapping[str, Any],
               after_hook: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Make the resource exist with ``desired``; return ``{changed, diff, resource, operations}``.

        ``after_hook(resource)`` may raise to refuse a resource read back (rarely needed).
        """
        actual = self.get()
        if actual is None:
            resource = dict(desired, name=self.name) if self.check_mode else self.insert(desired)
            diff = {"before": {}, "after": dict(desired, name=self.name)}
            return self.result(True, diff, resource, created=True)
        changes, blocked = self.plan(desired, actual)
        if blocked:
            raise self.immutable_error(blocked, desired, actual)
        if not changes:
            return self.result(False, {"before": project_view(desired, actual), "after": project_view(desired, actual)},
                               actual)
        diff = {"before": project_view(changes, actual), "after": copy.deepcopy(changes)}
        resource = dict(actual, **changes) if self.check_mode else self.update(changes, desired, actual)
        if after_hook is not None:
            after_hook(resource)
        return self.result(True, diff, resource)

    def ensure_absent(self) -> dict[str, Any]:
        """Delete the resource when it exists; return ``{changed, diff, resource}``."""
        actual = self.get()
        if actual is None:
            return self.result(False, {"before": {}, "after": {}}, None)
        if not self.check_mode:
            self.delete()
        return self.result(True, {"before": actual, "after": {}}, None)

    def result(self, changed: bool, diff: dict[str, Any], resource: Any, created: bool = False) -> dict[str, Any]:
        """The module result every Compute module returns."""
        diff = dict(diff, before_header=self.path, after_header=self.path)
        return {"changed": changed, "diff": diff, "resource": resource, "created": created,
                "operations": list(self.operations)}


def module_options() -> dict[str, dict[str, Any]]:
    """The options every Compute resource module takes besides its own: endpoint and Operation timeout."""
    return {
        "api_endpoint": {"type": "str", "default": DEFAULT_ENDPOINT,
                         "fallback": (env_fallback, ["GCP_COMPUTE_ENDPOINT"])},
        "wait_timeout": {"type": "float", "default": 300},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    }


def network_link(project: str, network: str) -> str:
    """``projects/P/global/networks/N`` for a network's name, partial path or URL."""
    path = link_path(network)
    if isinstance(path, str) and path.startswith("projects/"):
        return path
    if "/" in network:
        return f"projects/{project}/{network.strip('/')}"
    return f"projects/{project}/global/networks/{network}"


def resource_for(module: AnsibleGcpModule, scope: str, collection: str, name: str, **kwargs: Any) -> ComputeResource:
    """A ComputeResource with the module's client, project, endpoint, timeout and check mode."""
    return ComputeResource(module.client(), module.params["project"], scope, collection, name,
                           endpoint=module.params["api_endpoint"], timeout=module.params["wait_timeout"],
                           check_mode=module.check_mode, **kwargs)


def run(module: AnsibleGcpModule, build: Callable[[], tuple[ComputeResource, dict[str, Any]]]) -> None:
    """Ensure the resource ``build()`` describes in the module's ``state``; exit the module with the result."""
    try:
        resource, desired = build()
        result = resource.ensure_absent() if module.params["state"] == "absent" else resource.ensure(desired)
    except GcpError as exc:
        module.fail_gcp(exc)
    module.exit_json(**result)
