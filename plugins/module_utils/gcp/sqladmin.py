"""Cloud SQL Admin v1 calls shared by the cloudsql_instance modules and the DR playbooks.

Built on ``GcpClient`` (one session per credential, retries, operation polling). Errors name
the instance, the project, the permission and the fix.
"""

from __future__ import annotations

import copy

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

DEFAULT_ENDPOINT = "https://sqladmin.googleapis.com"
ADMIN_ROLE = "roles/cloudsql.admin"
VIEWER_ROLE = "roles/cloudsql.viewer"
LOGIN_SCOPE = "https://www.googleapis.com/auth/sqlservice.login"


def auth_argument_spec():
    """Argument spec of the nearzero.gcp.gcp_auth options for modules, with their GCP_* fallbacks.

    Modules (unlike plugins) do not read ``env:`` from the documentation, so the same
    environment variables are wired here with ``env_fallback``.
    """
    from ansible.module_utils.basic import env_fallback

    def env(*names):
        return {"fallback": (env_fallback, list(names))}

    return {
        "auth_kind": {"type": "str", "default": "application",
                      "choices": ["application", "serviceaccount", "machineaccount", "accesstoken", "impersonate"],
                      **env("GCP_AUTH_KIND")},
        "service_account_file": {"type": "path", **env("GCP_SERVICE_ACCOUNT_FILE")},
        "service_account_contents": {"type": "raw", "no_log": True, **env("GCP_SERVICE_ACCOUNT_CONTENTS")},
        "service_account_email": {"type": "str", **env("GCP_SERVICE_ACCOUNT_EMAIL")},
        "access_token": {"type": "str", "no_log": True, **env("GCP_ACCESS_TOKEN")},
        "impersonate_service_account": {"type": "str", **env("GCP_IMPERSONATE_SERVICE_ACCOUNT")},
        "impersonate_delegates": {"type": "list", "elements": "str", "default": []},
        "iam_endpoint": {"type": "str", "default": "https://iamcredentials.googleapis.com",
                         **env("GCP_IAM_ENDPOINT")},
        "scopes": {"type": "list", "elements": "str",
                   "default": ["https://www.googleapis.com/auth/cloud-platform"]},
        "timeout": {"type": "float", "default": 30},
        "retries": {"type": "int", "default": 5},
        "retry_backoff": {"type": "float", "default": 0.5},
        "retry_backoff_max": {"type": "float", "default": 16},
        "api_endpoint": {"type": "str", "default": DEFAULT_ENDPOINT, **env("GCP_SQLADMIN_ENDPOINT")},
    }


def client_settings(params):
    """GcpClient settings from module parameters."""
    return {"timeout": params.get("timeout"), "retries": params.get("retries"),
            "backoff_base": params.get("retry_backoff"), "backoff_max": params.get("retry_backoff_max")}


def private_ip(resource):
    """The PRIVATE address of an Instance or ConnectSettings, or None."""
    return next((a.get("ipAddress") for a in resource.get("ipAddresses") or [] if a.get("type") == "PRIVATE"), None)


def public_ips(resource):
    """Every public (PRIMARY) address of an Instance or ConnectSettings."""
    return [a.get("ipAddress") for a in resource.get("ipAddresses") or [] if a.get("type") == "PRIMARY"]


def diff_policy(current, wanted, path=""):
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


def _normalise(value):
    # int64 fields come back as strings ("7"); the caller may have written 7
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    return value


def prune(current, wanted):
    """The part of ``current`` that ``wanted`` names (for a diff's "before")."""
    out = {}
    for key, value in wanted.items():
        if key not in (current or {}):
            continue
        if isinstance(value, dict) and isinstance(current[key], dict):
            out[key] = prune(current[key], value)
        else:
            out[key] = copy.deepcopy(current[key])
    return out


class SqlAdminApi:
    """Instances, connect settings, server CAs and operations against ``endpoint``."""

    def __init__(self, client, endpoint=None):
        self.client = client
        self.base = (endpoint or DEFAULT_ENDPOINT).rstrip("/") + "/v1"

    def _context(self, project, instance, permission, role=VIEWER_ROLE):
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

    def _explain_missing(self, exc, project, instance):
        if exc.kind == "not_found":
            return GcpError(
                f"Cloud SQL instance '{instance}' does not exist in project '{project}' (HTTP 404). Check the name "
                f"with `gcloud sql instances list --project {project}`.",
                status=404, reason=exc.reason, project=project, url=exc.url, kind="not_found")
        return exc

    def _get(self, url, project, instance, permission):
        try:
            return self.client.get_json(url, context=self._context(project, instance, permission))
        except GcpError as exc:
            raise self._explain_missing(exc, project, instance) from None

    def _post(self, method, url, project, instance, permission, body=None):
        ctx = self._context(project, instance, permission, ADMIN_ROLE)
        try:
            # mutations are not retried blindly: a lost response could apply a change twice
            resp = self.client.request(method, url, json=body, context=ctx, retry=False)
        except GcpError as exc:
            raise self._explain_missing(exc, project, instance) from None
        return resp.json()

    def get_instance(self, project, instance):
        """The DatabaseInstance, or None when it does not exist."""
        try:
            return self._get(f"{self.base}/projects/{project}/instances/{instance}", project, instance,
                             "cloudsql.instances.get")
        except GcpError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def connect_settings(self, project, instance):
        """ConnectSettings: serverCaCert, ipAddresses, dnsName, serverCaMode, region."""
        return self._get(f"{self.base}/projects/{project}/instances/{instance}/connectSettings", project, instance,
                         "cloudsql.instances.connect")

    def server_cas(self, project, instance):
        """Every server CA certificate (current, next, rotated-out) as SslCert dicts."""
        data = self._get(f"{self.base}/projects/{project}/instances/{instance}/listServerCas", project, instance,
                         "cloudsql.instances.listServerCas")
        return data.get("certs") or []

    def patch(self, project, instance, body):
        """PATCH (merge) the instance; return the Operation."""
        return self._post("PATCH", f"{self.base}/projects/{project}/instances/{instance}", project, instance,
                          "cloudsql.instances.update", body)

    def insert(self, project, body):
        """Create an instance (here: a read replica); return the Operation."""
        return self._post("POST", f"{self.base}/projects/{project}/instances", project, body.get("name"),
                          "cloudsql.instances.create", body)

    def promote_replica(self, project, instance):
        """Promote a read replica to a stand-alone primary; return the Operation."""
        return self._post("POST", f"{self.base}/projects/{project}/instances/{instance}/promoteReplica", project,
                          instance, "cloudsql.instances.promoteReplica")

    def wait(self, operation, project, instance, timeout):
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
