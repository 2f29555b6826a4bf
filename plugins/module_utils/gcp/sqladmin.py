"""Cloud SQL Admin v1 calls shared by the cloudsql_* modules and the DR playbooks.

Built on ``GcpClient`` (one session per credential, retries, operation polling). Errors name
the instance, the project, the permission and the fix.
"""

from __future__ import annotations

import copy
import re
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

if TYPE_CHECKING:
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient

Resource = dict[str, Any]

DEFAULT_ENDPOINT = "https://sqladmin.googleapis.com"
ADMIN_ROLE = "roles/cloudsql.admin"
VIEWER_ROLE = "roles/cloudsql.viewer"
LOGIN_SCOPE = "https://www.googleapis.com/auth/sqlservice.login"


# The multi-region eu or a europe-* region (europe-west3, europe-southwest1, ...): the backup policy's
# one rule. playbooks/cloudsql.yml and playbooks/tasks/verify_backup_location.yml test the same pattern in
# Jinja; a prefix test would take "eunos" or "europe-" alone.
EUROPEAN_LOCATION = re.compile(r"eu|europe-[a-z]+[0-9]+")


def in_europe(location: str | None) -> bool:
    """Whether a Cloud SQL backup location is European (the copy that survives the loss of a US region)."""
    return bool(location) and EUROPEAN_LOCATION.fullmatch(location) is not None


def endpoint_option() -> dict[str, dict[str, Any]]:
    """The option every Cloud SQL module takes (doc fragment nearzero.gcp.sqladmin): where the API is."""
    return {"api_endpoint": {"type": "str", "default": DEFAULT_ENDPOINT,
                             "fallback": (env_fallback, ["GCP_SQLADMIN_ENDPOINT"])}}


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
    """Instances, connect settings, server CAs, backup runs, clones, restores and operations against ``endpoint``."""

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

    def _mutate(self, method: str, url: str, project: str, instance: str, permission: str,
                body: Resource | None = None, retry: bool | str = True) -> Resource:
        """Send a mutation (``retry`` as in GcpClient.request) and return the Operation it started."""
        ctx = self._context(project, instance, permission, ADMIN_ROLE)
        try:
            resp = self.client.request(method, url, json=body, context=ctx, retry=retry)
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

    def operation_url(self, project: str, operation: str) -> str:
        """Where an Operation is polled: always under the configured endpoint, never its selfLink's host."""
        return f"{self.base}/projects/{project}/operations/{operation}"

    def patch(self, project: str, instance: str, body: Resource) -> Resource:
        """PATCH (merge) the instance; return the Operation.

        Retried on 429/5xx/connection errors/timeouts: the body carries the whole desired state of
        what it names, so a repeat after a lost response asks for the same end state again.
        """
        return self._mutate("PATCH", f"{self.base}/projects/{project}/instances/{instance}", project, instance,
                            "cloudsql.instances.update", body)

    def insert(self, project: str, body: Resource) -> Resource | None:
        """Create an instance (primary, or replica with ``masterInstanceName``); return the Operation.

        Retried like a PATCH, because a repeat cannot create a second instance (the name is
        unique). When a retry gets 409 alreadyExists, an earlier attempt whose response was lost
        may have created it: the instance is read and, when it is what this body asks for (same
        region, database version and primary) and still being created or just created, the call
        counts as ours and returns None (the Operation's name was lost with the response: wait
        with ``wait_created``). Otherwise the 409 is raised: someone else's instance has the name.
        """
        name = body["name"]
        try:
            return self._mutate("POST", f"{self.base}/projects/{project}/instances", project, name,
                                "cloudsql.instances.create", body)
        except GcpError as exc:
            if exc.status != 409 or not exc.attempts or exc.attempts < 2:
                raise
            found = self.get_instance(project, name)
            if found is None or not _is_ours(found, body):
                raise
            return None

    def promote_replica(self, project: str, instance: str) -> Resource:
        """Promote a read replica to a stand-alone primary; return the Operation.

        Repeated only when the API cannot have acted on it (429, a connection never made): a
        promotion is not idempotent (a second one fails once the first has finished).
        """
        return self._mutate("POST", f"{self.base}/projects/{project}/instances/{instance}/promoteReplica", project,
                            instance, "cloudsql.instances.promoteReplica", retry="unprocessed")

    def switchover(self, project: str, instance: str) -> Resource:
        """Switch the primary over to its DR replica ``instance`` (Enterprise Plus); return the Operation.

        Repeated only when the API cannot have acted on it: once accepted, a repeat is refused (the
        replica is the primary by then) and would hide the first one's outcome.
        """
        return self._act(project, instance, "switchover", "cloudsql.instances.failover", None,
                         "Cloud SQL refused the switchover before starting it, so nothing changed; its reason follows.")

    def _act(self, project: str, instance: str, verb: str, permission: str, body: Resource | None,
             refused: str) -> Resource:
        """POST an action that must not run twice (``instances.<verb>``); the Operation.

        Repeated only when the API cannot have acted on it (``retry="unprocessed"``); a 400 names
        ``refused`` (what the refusal left unchanged), a 404 the missing instance.
        """
        url = f"{self.base}/projects/{project}/instances/{instance}/{verb}"
        ctx = dict(self._context(project, instance, permission, ADMIN_ROLE), bad_request_hint=refused)
        try:
            resp = self.client.request("POST", url, context=ctx, retry="unprocessed",
                                       **({} if body is None else {"json": body}))
        except GcpError as exc:
            raise self._explain_missing(exc, project, instance) from None
        return resp.json()

    def delete(self, project: str, instance: str) -> Resource:
        """Delete the instance; return the Operation (retried like a PATCH: a repeat asks for the same end state)."""
        return self._mutate("DELETE", f"{self.base}/projects/{project}/instances/{instance}", project, instance,
                            "cloudsql.instances.delete")

    def backup_runs(self, project: str, instance: str) -> list[Resource]:
        """Every BackupRun of the instance, newest first (the API lists them by enqueued time, newest first)."""
        url = f"{self.base}/projects/{project}/instances/{instance}/backupRuns"
        ctx = self._context(project, instance, "cloudsql.backupRuns.list")
        runs: list[Resource] = []
        try:
            for page in self.client.paginate(url, context=ctx):
                runs.extend(page.get("items") or [])
        except GcpError as exc:
            raise self._explain_missing(exc, project, instance) from None
        return runs

    def clone(self, project: str, instance: str, clone_context: Resource) -> Resource:
        """Clone the instance into a new one (``cloneContext``: destinationInstanceName, pointInTime); the Operation.

        Repeated only when the API cannot have acted on it: a repeat of a clone that was accepted
        would be refused (the destination's name is taken) and would hide the first one's outcome.
        """
        return self._act(project, instance, "clone", "cloudsql.instances.clone", {"cloneContext": clone_context},
                         "Cloud SQL refused the clone before starting it, so nothing was created; its reason follows.")

    def restore_backup(self, project: str, instance: str, restore_context: Resource) -> Resource:
        """Restore a backup run over the EXISTING instance (``restoreBackupContext``: backupRunId, instanceId, project).

        Repeated only when the API cannot have acted on it: a restore overwrites the instance's data,
        and a repeat would restore it again over whatever was written since.
        """
        return self._act(project, instance, "restoreBackup", "cloudsql.instances.restoreBackup",
                         {"restoreBackupContext": restore_context},
                         "Cloud SQL refused the restore before starting it, so nothing was overwritten; its reason "
                         "follows.")

    def wait(self, operation: Resource, project: str, instance: str, timeout: float) -> Resource:
        """Wait for an accepted Operation (polled at ``operation_url``, each poll retried).

        Errors: kind ``operation`` when it finished with an error (nothing was applied);
        ``timeout`` or ``pending`` (polling failed) when the change was submitted and its outcome
        is unknown: the message says so and names the Operation, ``exc.operation`` carries it.
        """
        ctx = self._context(project, instance, "cloudsql.instances.get")
        name = operation.get("name") or ""
        what = f"The {operation.get('operationType', '')} operation {name} on Cloud SQL instance '{instance}'"
        check = (f"check `gcloud sql operations describe {name} --project {project}`, then re-run (it converges "
                 "either way)")
        url = self.operation_url(project, name)
        try:
            return self.client.wait_operation(url, operation, timeout=timeout, poll_interval=0.5, max_interval=5.0,
                                              context=ctx)
        except GcpError as exc:
            if exc.kind == "operation":
                failed = GcpError(f"{what} in project '{project}' failed, so it changed nothing: {exc.message}",
                                  project=project, url=url, kind="operation")
                failed.operation = name
                raise failed from None
            if exc.kind == "timeout":
                pending = GcpError(f"{what} was submitted and accepted but did not finish within {timeout} s. It may "
                                   f"still complete: {check} (or raise the timeout).",
                                   project=project, url=url, kind="timeout")
            else:
                pending = GcpError(f"{what} was submitted and accepted, but polling it failed, so its outcome is "
                                   f"unknown: {exc.message} It may still complete: {check}.",
                                   status=exc.status, reason=exc.reason, project=project, url=url, kind="pending")
            pending.operation = name
            raise pending from None

    def wait_created(self, project: str, instance: str, timeout: float) -> Resource:
        """Poll the instance until it is RUNNABLE (after an insert whose Operation name was lost)."""
        deadline = time.monotonic() + float(timeout)
        interval = 0.5
        while True:
            found = self.get_instance(project, instance) or {}
            if found.get("state") == "RUNNABLE":
                return found
            if time.monotonic() + interval > deadline:
                raise GcpError(
                    f"Cloud SQL instance '{instance}' was submitted for creation but is still "
                    f"{found.get('state', 'missing')} after {timeout} s. It may still complete: check `gcloud sql "
                    f"instances describe {instance} --project {project}`, then re-run.",
                    project=project, kind="timeout")
            time.sleep(interval)
            interval = min(interval * 1.5, 5.0)


def _is_ours(found: Resource, body: Resource) -> bool:
    """Whether an existing instance is the one ``body`` (an insert) asks for, being or just created."""
    master = (body.get("masterInstanceName") or "").split(":")[-1]
    return (found.get("state") in ("PENDING_CREATE", "RUNNABLE")
            and found.get("region") == body.get("region")
            and found.get("databaseVersion") == body.get("databaseVersion")
            and (found.get("masterInstanceName") or "").split(":")[-1] == master)
