"""Cloud SQL Admin v1 calls shared by the cloudsql_instance modules and the DR playbooks.

Built on ``GcpClient`` (one session per credential, retries, operation polling). Errors name
the instance, the project, the permission and the fix.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

if TYPE_CHECKING:
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient

Resource = dict[str, Any]

DEFAULT_ENDPOINT = "https://sqladmin.googleapis.com"
ADMIN_ROLE = "roles/cloudsql.admin"
VIEWER_ROLE = "roles/cloudsql.viewer"
LOGIN_SCOPE = "https://www.googleapis.com/auth/sqlservice.login"


def private_ip(resource: Resource) -> str | None:
    """The PRIVATE address of an Instance or ConnectSettings, or None."""
    return next((a.get("ipAddress") for a in resource.get("ipAddresses") or [] if a.get("type") == "PRIVATE"), None)


def public_ips(resource: Resource) -> list[str]:
    """Every public (PRIMARY) address of an Instance or ConnectSettings."""
    return [a.get("ipAddress") for a in resource.get("ipAddresses") or [] if a.get("type") == "PRIMARY"]


def diff_policy(current: Resource | None, wanted: Resource, path: str = "") -> list[tuple[str, Any, Any]]:
    """Return ``[(dotted.path, before, after)]`` for every leaf of ``wanted`` that differs in ``current``.

    Only what ``wanted`` names is compared (merge semantics): fields the caller does not manage
    never count as a change.
    """
    changes = []
    for key, value in wanted.items():
        here = f"{path}.{key}" if path else key
        before = (current or {}).get(key)
        if isinstance(value, dict):
            changes.extend(diff_policy(before if isinstance(before, dict) else {}, value, here))
        elif _normalise(before) != _normalise(value):
            changes.append((here, before, value))
    return changes


def _normalise(value: Any) -> Any:
    """int64 fields come back as strings ("7") while the caller may have written 7: compare them as strings."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    return value


def prune(current: Resource | None, wanted: Resource) -> Resource:
    """The part of ``current`` that ``wanted`` names (for a diff's "before")."""
    current = current or {}
    out = {}
    for key, value in wanted.items():
        if key not in current:
            continue
        if isinstance(value, dict) and isinstance(current[key], dict):
            out[key] = prune(current[key], value)
        else:
            out[key] = copy.deepcopy(current[key])
    return out


class SqlAdminApi:
    """Instances, connect settings, server CAs and operations against ``endpoint``."""

    def __init__(self, client: GcpClient, endpoint: str | None = None) -> None:
        self.client = client
        self.base = (endpoint or DEFAULT_ENDPOINT).rstrip("/") + "/v1"

    def _context(self, project: str, instance: str, permission: str, role: str = VIEWER_ROLE) -> dict[str, Any]:
        """What error messages name: the instance, the permission the call needs and a role granting it."""
        return {
            "project": project,
            "resource": f"Cloud SQL instance '{instance}' in project '{project}'",
            "permission": permission,
            "role": role,
            "api": "Cloud SQL Admin API",
            "service": "sqladmin.googleapis.com",
            "endpoint_option": "api_endpoint",
            "project_scoped": False,
            "bad_request_hint": "Check the instance settings against the Cloud SQL Admin API reference.",
        }

    def _explain_missing(self, exc: GcpError, project: str, instance: str) -> GcpError:
        """A 404 names the instance (the API's text would blame the project) and how to list the real ones."""
        if exc.kind == "not_found":
            return GcpError(
                f"Cloud SQL instance '{instance}' does not exist in project '{project}' (HTTP 404). Check the name "
                f"with `gcloud sql instances list --project {project}`.",
                status=404, reason=exc.reason, project=project, url=exc.url, kind="not_found")
        return exc

    def _get(self, url: str, project: str, instance: str, permission: str) -> Resource:
        try:
            return self.client.get_json(url, context=self._context(project, instance, permission))
        except GcpError as exc:
            raise self._explain_missing(exc, project, instance) from None

    def _post(self, method: str, url: str, project: str, instance: str, permission: str,
              body: Resource | None = None) -> Resource:
        ctx = self._context(project, instance, permission, ADMIN_ROLE)
        try:
            # mutations are not retried blindly: a lost response could apply a change twice
            resp = self.client.request(method, url, json=body, context=ctx, retry=False)
        except GcpError as exc:
            raise self._explain_missing(exc, project, instance) from None
        return resp.json()

    def get_instance(self, project: str, instance: str) -> Resource | None:
        """The DatabaseInstance, or None when it does not exist."""
        try:
            return self._get(f"{self.base}/projects/{project}/instances/{instance}", project, instance,
                             "cloudsql.instances.get")
        except GcpError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def connect_settings(self, project: str, instance: str) -> Resource:
        """ConnectSettings: serverCaCert, ipAddresses, dnsName, serverCaMode, region."""
        return self._get(f"{self.base}/projects/{project}/instances/{instance}/connectSettings", project, instance,
                         "cloudsql.instances.connect")

    def server_cas(self, project: str, instance: str) -> list[Resource]:
        """Every server CA certificate (current, next, rotated-out) as SslCert dicts."""
        data = self._get(f"{self.base}/projects/{project}/instances/{instance}/listServerCas", project, instance,
                         "cloudsql.instances.listServerCas")
        return data.get("certs") or []

    def patch(self, project: str, instance: str, body: Resource) -> Resource:
        """PATCH (merge) the instance; return the Operation."""
        return self._post("PATCH", f"{self.base}/projects/{project}/instances/{instance}", project, instance,
                          "cloudsql.instances.update", body)

    def insert(self, project: str, body: Resource) -> Resource:
        """Create an instance (here: a read replica); return the Operation."""
        return self._post("POST", f"{self.base}/projects/{project}/instances", project, body["name"],
                          "cloudsql.instances.create", body)

    def promote_replica(self, project: str, instance: str) -> Resource:
        """Promote a read replica to a stand-alone primary; return the Operation."""
        return self._post("POST", f"{self.base}/projects/{project}/instances/{instance}/promoteReplica", project,
                          instance, "cloudsql.instances.promoteReplica")

    def wait(self, operation: Resource, project: str, instance: str, timeout: float) -> Resource:
        """Wait for an Operation; errors and timeouts name the instance and what to do."""
        ctx = self._context(project, instance, "cloudsql.instances.get")
        name = operation.get("name")
        url = operation.get("selfLink") or f"{self.base}/projects/{project}/operations/{name}"
        try:
            return self.client.wait_operation(url, timeout=timeout, poll_interval=0.5, max_interval=5.0, context=ctx)
        except GcpError as exc:
            if exc.kind == "timeout":
                raise GcpError(
                    f"The {operation.get('operationType', '')} operation {name} on Cloud SQL instance '{instance}' "
                    f"did not finish within {timeout} s. It may still complete: check `gcloud sql operations "
                    f"describe {name} --project {project}`, then re-run (or raise the timeout).",
                    project=project, url=url, kind="timeout") from None
            if exc.kind == "operation":
                raise GcpError(
                    f"The {operation.get('operationType', '')} operation on Cloud SQL instance '{instance}' in "
                    f"project '{project}' failed: {exc.message}", project=project, url=url, kind="operation") from None
            raise
