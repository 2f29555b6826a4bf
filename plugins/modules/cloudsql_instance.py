#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module cloudsql_instance: ensure a Cloud SQL instance's network, TLS, backup and protection policy."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudsql_instance
short_description: Ensure a Cloud SQL instance's policy (private IP, TLS, CA mode, backups, PITR); create, promote, stop
description:
  - Compares the instance with the wanted policy and changes only what differs, with one PATCH (merge semantics -
    settings this module does not manage are left alone), waits for the Operation, then reads the instance back and
    fails if a setting it sent is still different.
  - Policy - private IP only (C(ipv4Enabled=false), C(privateNetwork)), C(sslMode) with the legacy C(requireSsl)
    always set consistently with it, the server CA mode, automated backups with a start time, a retention count
    and a location, point-in-time recovery with its log retention, deletion protection.
  - When the instance does not exist and O(master_instance) is not set, creates it as a primary with the policy
    (O(region), O(tier) and O(database_version) are then required; new primaries get the server CA mode
    V(GOOGLE_MANAGED_CAS_CA) unless O(server_ca_mode) says otherwise).
  - When the instance does not exist and O(master_instance) is set, creates it as a (cross-region) read replica of
    that primary, then applies the policy. Replicas never get a backup configuration (Cloud SQL refuses one).
  - Retries - every request is sent again with backoff on HTTP 429, 5xx, connection errors and timeouts, up to
    O(retries) extra attempts, when repeating it is safe - reads, Operation polls and the PATCH (it carries the
    whole desired state of what it names). A create is repeated too (instance names are unique); when a repeat gets
    HTTP 409 alreadyExists and the instance found has the asked region, database version and primary and is being
    or was just created, the earlier attempt whose response was lost is taken as this call's. A promotion is
    repeated only when the API cannot have acted on it (HTTP 429, a connection never made). Failure messages say
    how many attempts were made over how long.
  - Operations are always polled under O(api_endpoint), never at the host an Operation's C(selfLink) names.
  - The result says per instance what was applied (RV(applied)), what was submitted and accepted but not seen
    finishing (RV(pending), with the Operation's name) and what was not applied (RV(not_applied)); C(changed) is
    true only when the API accepted a change.
  - Supports check mode and diff mode. Run it on the controller.
options:
  project:
    description: Project ID.
    type: str
    required: true
  name:
    description: Instance name.
    type: str
    required: true
  master_instance:
    description: Create the instance as a read replica of this primary (same project) when it does not exist.
    type: str
  region:
    description:
      - Region of an instance to create (for example V(europe-west3)).
      - Required to create a primary; a replica defaults to its primary's region.
    type: str
  tier:
    description:
      - Machine tier of an instance to create (for example V(db-custom-4-16384)).
      - Required to create a primary; a replica defaults to its primary's tier.
    type: str
  database_version:
    description:
      - Database version of a primary to create (for example V(POSTGRES_16)). Replicas take their primary's.
      - Never changed on an existing instance (a major version upgrade is a separate, deliberate operation).
    type: str
  edition:
    description:
      - Cloud SQL edition of a primary to create; Cloud SQL's default when omitted (V(ENTERPRISE)). V(ENTERPRISE_PLUS)
        needs a C(db-perf-optimized-N-*) tier. Replicas take their primary's edition.
      - Never changed on an existing instance (changing it restarts the instance, a deliberate operation); a
        different edition there is reported as a warning.
    type: str
    choices: [ENTERPRISE, ENTERPRISE_PLUS]
  private_network:
    description:
      - VPC for private services access, C(projects/P/global/networks/N).
      - Required unless O(public_ip) is true, except with O(apply_policy=false) on an existing instance.
    type: str
  public_ip:
    description: Whether the instance has a public IPv4 address (C(ipv4Enabled)).
    type: bool
    default: false
  ssl_mode:
    description:
      - Which connections the server accepts (C(sslMode)).
      - The deprecated C(requireSsl) is always sent consistently with it - V(false) for V(ENCRYPTED_ONLY) and
        V(ALLOW_UNENCRYPTED_AND_ENCRYPTED), V(true) for V(TRUSTED_CLIENT_CERTIFICATE_REQUIRED) - and an instance
        whose C(requireSsl) disagrees counts as a difference.
    type: str
    choices: [ENCRYPTED_ONLY, TRUSTED_CLIENT_CERTIFICATE_REQUIRED, ALLOW_UNENCRYPTED_AND_ENCRYPTED]
    default: ENCRYPTED_ONLY
  server_ca_mode:
    description:
      - Which CA signs the server certificate (C(serverCaMode)). V(GOOGLE_MANAGED_INTERNAL_CA) is a per-instance CA
        whose server certificate does not carry the instance's DNS name (clients verify the CA only,
        C(sslmode=verify-ca)); with V(GOOGLE_MANAGED_CAS_CA) or V(CUSTOMER_MANAGED_CAS_CA) the certificate carries
        the DNS name (C(sslmode=verify-full) against C(dnsName)).
      - Omit to leave an existing instance's mode alone. A new primary then gets V(GOOGLE_MANAGED_CAS_CA), a new
        replica its primary's mode.
    type: str
    choices: [GOOGLE_MANAGED_INTERNAL_CA, GOOGLE_MANAGED_CAS_CA, CUSTOMER_MANAGED_CAS_CA]
  activation_policy:
    description:
      - V(NEVER) stops the instance (it accepts no connection, so no write - the fence of a DR failover); V(ALWAYS)
        starts it again (C(settings.activationPolicy)).
      - Omit to leave it alone. Applied even when O(apply_policy) is false.
    type: str
    choices: [ALWAYS, NEVER]
  backups:
    description:
      - Automated backups and point-in-time recovery (primaries only; Cloud SQL replicas have no backups).
      - Omit to leave the backup configuration alone.
    type: dict
    suboptions:
      enabled:
        description: Automated daily backups.
        type: bool
        default: true
      start_time:
        description: Start of the backup window, C(HH:00) UTC.
        type: str
        default: "03:00"
      location:
        description:
          - Region or multi-region of the backups (for example V(eu) or V(europe-west3)).
          - Omitted, Cloud SQL picks the multi-region nearest the instance (V(us) for a US primary).
        type: str
      retained_backups:
        description: How many backups are kept.
        type: int
        default: 14
      point_in_time_recovery:
        description: Keep transaction logs for point-in-time recovery.
        type: bool
        default: true
      transaction_log_retention_days:
        description: Days of transaction logs kept (1-7, up to 35 on Enterprise Plus).
        type: int
        default: 7
  deletion_protection:
    description: Refuse deletion of the instance.
    type: bool
    default: true
  dr_replica:
    description:
      - On a primary, the read replica designated as its DR replica (C(replicationCluster.failoverDrReplicaName),
        advanced disaster recovery - Enterprise Plus only, a replica in another region); the target of a switchover
        (M(nearzero.gcp.cloudsql_switchover)). An empty string removes the designation. Omit to leave it alone.
      - Applied even when O(apply_policy) is false.
    type: str
  state:
    description:
      - V(absent) deletes the instance (and waits for the Operation); a missing instance is no change. Cloud SQL refuses
        to delete a primary that has replicas, and does not let the name be used again for a week.
      - With V(absent) and O(deletion_protection=true) (the default) an instance whose deletion protection is on is
        not deleted (the task fails saying so); O(deletion_protection=false) turns it off first.
    type: str
    choices: [present, absent]
    default: present
  promote:
    description:
      - Promote the instance to a stand-alone primary when it is a read replica (C(promoteReplica)), and wait for
        the Operation. A no-op when it is not a replica. Used by the DR failover.
    type: bool
    default: false
  apply_policy:
    description:
      - Apply the policy options (network, TLS, CA mode, backups, deletion protection). Turn it off to only create,
        promote or start/stop (a failover's critical path).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each Operation before failing with its name.
    type: float
    default: 900
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.sqladmin
"""

EXAMPLES = r"""
- name: US primary (created when missing), private and TLS only, backups in Europe, PITR
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-us
    region: us-east4
    tier: db-custom-4-16384
    database_version: POSTGRES_16
    private_network: projects/prod-net/global/networks/trading
    server_ca_mode: GOOGLE_MANAGED_CAS_CA
    backups: {start_time: "04:00", location: eu, retained_backups: 30, transaction_log_retention_days: 7}
  delegate_to: localhost

- name: EU read replica
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-eu
    master_instance: orders-us
    region: europe-west3
    private_network: projects/prod-net/global/networks/trading
  delegate_to: localhost

- name: Fence the old primary in a failover (stop it), nothing else
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-us
    activation_policy: NEVER
    apply_policy: false
    private_network: projects/prod-net/global/networks/trading
  delegate_to: localhost

- name: Designate the EU replica as the primary's DR replica (Enterprise Plus), nothing else
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-us
    dr_replica: orders-eu
    apply_policy: false
  delegate_to: localhost

- name: Delete the fenced old primary after a failover (its name cannot be used again for a week)
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-us-old
    state: absent
    deletion_protection: false
    apply_policy: false
  delegate_to: localhost

- name: The credential once for every nearzero.gcp module, the policy once for every instance
  module_defaults:
    group/nearzero.gcp.gcp:
      auth_kind: impersonate
      impersonate_service_account: db-admin@prod-db.iam.gserviceaccount.com
      retries: 6
    nearzero.gcp.cloudsql_instance:
      project: prod-db
      private_network: projects/prod-net/global/networks/trading
  delegate_to: localhost
  block:
    - name: US primary
      nearzero.gcp.cloudsql_instance:
        name: orders-us
        backups: {location: eu}
      register: primary

    - name: EU replica
      nearzero.gcp.cloudsql_instance:
        name: orders-eu
        master_instance: orders-us
        region: europe-west3
"""

RETURN = r"""
changes:
  description:
    - Every managed setting that differed (or would differ, in check mode), as C(path) C(before) C(after);
      creating an instance is the path V(instance), promoting it V(masterInstanceName).
    - Each one is also in exactly one of RV(applied), RV(pending) or RV(not_applied) (outside check mode).
  type: list
  elements: dict
  returned: always
applied:
  description: The changes the API applied (the Operation finished without error; settings read back).
  type: list
  elements: dict
  returned: always
pending:
  description:
    - The changes the API accepted whose Operation was not seen finishing (polling failed or timed out), each with
      the C(operation) name to check. The task fails, and a re-run converges.
  type: list
  elements: dict
  returned: always
  sample: [{path: settings.ipConfiguration.sslMode, before: ALLOW_UNENCRYPTED_AND_ENCRYPTED, after: ENCRYPTED_ONLY,
            operation: 3b2e7c1a-0d44-4d3a-9c5e-1b7a2f0c9d11}]
not_applied:
  description: The changes that were not applied (refused, failed, or never sent because an earlier step failed).
  type: list
  elements: dict
  returned: always
created:
  description: Whether the instance was created (a primary or a read replica).
  type: bool
  returned: always
deleted:
  description: Whether the instance was deleted (O(state=absent)).
  type: bool
  returned: always
promoted:
  description: Whether the replica was promoted.
  type: bool
  returned: always
operations:
  description: Names of the Operations that finished.
  type: list
  elements: str
  returned: always
instance:
  description: The instance after the change (before it in check mode; empty if it would be created).
  type: dict
  returned: always
"""

from typing import Any, NoReturn

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import (
    SqlAdminApi,
    diff_policy,
    endpoint_option,
    prune,
)

SSL_MODES = ["ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", "ALLOW_UNENCRYPTED_AND_ENCRYPTED"]
CA_MODES = ["GOOGLE_MANAGED_INTERNAL_CA", "GOOGLE_MANAGED_CAS_CA", "CUSTOMER_MANAGED_CAS_CA"]
# a CAS mode puts the instance's DNS name in the server certificate, so clients can verify-full
NEW_PRIMARY_CA_MODE = "GOOGLE_MANAGED_CAS_CA"
# the legacy requireSsl as sqladmin.v1.json pairs it with each sslMode; Cloud SQL keeps a stale true
# after sslMode moved to ENCRYPTED_ONLY unless a client clears it
NO_ADDRESS = ("public_ip is false and private_network is not set: the instance would have no address. Set "
              "private_network to projects/PROJECT/global/networks/NETWORK.")
REQUIRE_SSL = {"ENCRYPTED_ONLY": False, "ALLOW_UNENCRYPTED_AND_ENCRYPTED": False,
               "TRUSTED_CLIENT_CERTIFICATE_REQUIRED": True}


def wanted_settings(params: dict[str, Any], is_replica: bool, policy: bool = True) -> dict[str, Any]:
    """The ``settings`` sub-document this module manages, from the options.

    ``policy`` false leaves only what applies without apply_policy (the activation policy).
    """
    settings: dict[str, Any] = {}
    if policy:
        ip = {"ipv4Enabled": params["public_ip"], "sslMode": params["ssl_mode"],
              "requireSsl": REQUIRE_SSL[params["ssl_mode"]]}
        if params["private_network"]:
            ip["privateNetwork"] = params["private_network"]
        if params["server_ca_mode"]:
            ip["serverCaMode"] = params["server_ca_mode"]
        settings.update(ipConfiguration=ip, deletionProtectionEnabled=params["deletion_protection"])
        backups = params["backups"]
        if backups is not None and not is_replica:
            config = {
                "enabled": backups["enabled"],
                "startTime": backups["start_time"],
                "pointInTimeRecoveryEnabled": backups["point_in_time_recovery"],
                "transactionLogRetentionDays": backups["transaction_log_retention_days"],
                "backupRetentionSettings": {"retentionUnit": "COUNT", "retainedBackups": backups["retained_backups"]},
            }
            if backups["location"]:
                config["location"] = backups["location"]
            settings["backupConfiguration"] = config
    if params["activation_policy"]:
        settings["activationPolicy"] = params["activation_policy"]
    return settings


def check_options(module: AnsibleGcpModule) -> None:
    """Refuse combinations Cloud SQL would refuse, before any call."""
    params = module.params
    if not params["public_ip"] and not params["private_network"] and params["apply_policy"] \
            and params["state"] == "present":
        module.fail_json(msg=NO_ADDRESS)
    backups = params["backups"]
    if backups:
        start = backups["start_time"] or ""
        if len(start) != 5 or start[2] != ":" or not start.replace(":", "").isdigit() or int(start[:2]) > 23 \
                or start[3:] != "00":
            module.fail_json(msg=f"backups.start_time '{start}' must be HH:00 (UTC, on the hour), e.g. 03:00.")
        if not 1 <= backups["transaction_log_retention_days"] <= 35:
            module.fail_json(msg="backups.transaction_log_retention_days must be between 1 and 35.")
        if backups["retained_backups"] < 1:
            module.fail_json(msg="backups.retained_backups must be at least 1.")


def _paths(changes: list[dict[str, Any]]) -> str:
    return ", ".join(c["path"] for c in changes)


class Converge:
    """One instance brought to the wanted state, step by step (create, promote, PATCH).

    Each step records its changes as applied, pending (accepted, outcome unknown, with the
    Operation's name) or not applied, so a failure still reports exactly where the instance is.
    """

    def __init__(self, module: AnsibleGcpModule) -> None:
        self.module = module
        self.params = module.params
        self.project = self.params["project"]
        self.name = self.params["name"]
        self.api = SqlAdminApi(module.client(), self.params["api_endpoint"])
        self.result: dict[str, Any] = {"changed": False, "created": False, "promoted": False, "deleted": False,
                                       "changes": [],
                                       "applied": [], "pending": [], "not_applied": [], "operations": [],
                                       "instance": {}}

    def _settle(self) -> None:
        """``changed``: in check mode, what would change; otherwise only what the API accepted."""
        if self.module.check_mode:
            self.result["changed"] = bool(self.result["changes"])
        else:
            self.result["changed"] = bool(self.result["applied"] or self.result["pending"])

    def fail(self, msg: str, exc: GcpError | None = None) -> NoReturn:
        """Fail with ``msg`` followed by what was applied, what is pending and what was not."""
        self._settle()
        res = self.result
        told = []
        if res["applied"]:
            told.append(f"Applied: {_paths(res['applied'])}.")
        if res["pending"]:
            ops = ", ".join(sorted({c["operation"] for c in res["pending"]}))
            told.append(f"Submitted, outcome pending (operation {ops}): {_paths(res['pending'])}.")
        if res["not_applied"]:
            told.append(f"Not applied: {_paths(res['not_applied'])}.")
        text = f"{msg} {' '.join(told)}" if told else msg
        extra = {"kind": exc.kind, "status": exc.status, "attempts": exc.attempts} if exc is not None else {}
        self.module.fail_json(msg=text, **extra, **res)

    def step(self, changes: list[dict[str, Any]], send, wait) -> Any:
        """Send one mutation and wait for it, recording its changes' fate; return what ``wait`` returns.

        ``send()`` returns the Operation (or None when a create was recognised after a lost
        response); ``wait(operation)`` waits for it. GcpErrors are recorded, then re-raised.
        """
        try:
            operation = send()
        except GcpError:
            self.result["not_applied"].extend(changes)
            raise
        try:
            done = wait(operation)
        except GcpError as exc:
            if exc.operation and exc.kind in ("timeout", "pending"):
                self.result["pending"].extend(dict(c, operation=exc.operation) for c in changes)
            else:
                self.result["not_applied"].extend(changes)
            raise
        self.result["applied"].extend(changes)
        if operation:
            self.result["operations"].append(operation["name"])
        return done

    def create(self) -> dict[str, Any]:
        """Create the missing instance (primary, or replica of master_instance); return it."""
        params, project, name = self.params, self.project, self.name
        if not params["public_ip"] and not params["private_network"]:
            self.fail(f"Cloud SQL instance '{name}' does not exist in project '{project}' and cannot be created: "
                      f"{NO_ADDRESS}")
        master = params["master_instance"]
        if master:
            primary = self.api.get_instance(project, master)
            if primary is None and self.module.check_mode:
                # a check run of a playbook that creates the primary in an earlier task
                self.result["changes"].append({"path": "instance", "before": None,
                                               "after": f"read replica of {master} (which does not exist yet)"})
                self._settle()
                self.module.exit_json(**self.result)
            if primary is None:
                self.fail(f"Cannot create replica '{name}': its primary '{master}' does not exist in project "
                          f"'{project}'.")
            settings = wanted_settings(params, True)
            # a replica that becomes the primary keeps the primary's kind of server certificate
            primary_mode = primary["settings"].get("ipConfiguration", {}).get("serverCaMode")
            if primary_mode:
                settings["ipConfiguration"].setdefault("serverCaMode", primary_mode)
            region = params["region"] or primary["region"]
            if primary["settings"].get("edition"):
                settings["edition"] = primary["settings"]["edition"]
            body = {"name": name, "masterInstanceName": master, "region": region,
                    "databaseVersion": primary["databaseVersion"],
                    "settings": dict(settings, tier=params["tier"] or primary["settings"]["tier"])}
            what = f"read replica of {master} in {region}"
        else:
            missing = [o for o in ("region", "tier", "database_version") if not params[o]]
            if missing:
                self.fail(f"Cloud SQL instance '{name}' does not exist in project '{project}'. To create it as a "
                          f"primary, set {', '.join(missing)}; to create a read replica, set master_instance. If it "
                          f"should exist, check the name with `gcloud sql instances list --project {project}`.")
            settings = wanted_settings(params, False)
            settings["ipConfiguration"].setdefault("serverCaMode", NEW_PRIMARY_CA_MODE)
            if params["edition"]:
                settings["edition"] = params["edition"]
            body = {"name": name, "region": params["region"], "databaseVersion": params["database_version"],
                    "settings": dict(settings, tier=params["tier"])}
            what = f"primary {params['database_version']} ({params['tier']}) in {params['region']}"
        changes = [{"path": "instance", "before": None, "after": what}]
        self.result["changes"].extend(changes)
        if self.module._diff:
            self.result["diff"] = {"before": {}, "after": body}
        if self.module.check_mode:
            self._settle()
            self.module.exit_json(**self.result)

        def wait(operation):
            if operation is None:  # an earlier attempt created it; its Operation's name was lost
                return self.api.wait_created(project, name, params["wait_timeout"])
            return self.api.wait(operation, project, name, params["wait_timeout"])

        self.step(changes, lambda: self.api.insert(project, body), wait)
        self.result["created"] = True
        return self.api.get_instance(project, name) or {}

    def promote(self, instance: dict[str, Any]) -> dict[str, Any]:
        """Promote the replica; return the instance as read back."""
        changes = [{"path": "masterInstanceName", "before": instance["masterInstanceName"], "after": None}]
        self.result["changes"].extend(changes)
        if self.module.check_mode:
            return instance
        self.step(changes, lambda: self.api.promote_replica(self.project, self.name),
                  lambda op: self.api.wait(op, self.project, self.name, self.params["wait_timeout"]))
        self.result["promoted"] = True
        instance = self.api.get_instance(self.project, self.name) or instance
        if instance.get("masterInstanceName"):
            self.result["applied"].remove(changes[0])
            self.result["not_applied"].extend(changes)
            self.fail(f"promoteReplica on '{self.name}' finished but it is still a replica of "
                      f"{instance['masterInstanceName']}.")
        return instance

    def patch(self, instance: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
        """PATCH what differs, wait, read back; return the instance."""
        current = instance.get("settings") or {}
        changes = [{"path": p, "before": b, "after": a} for p, b, a in diff_policy(current, wanted, "settings")]
        if not changes:
            return instance
        self.result["changes"].extend(changes)
        if self.module._diff and "diff" not in self.result:
            self.result["diff"] = {"before": {"settings": prune(current, wanted)}, "after": {"settings": wanted}}
        if self.module.check_mode:
            return instance
        self.step(changes, lambda: self.api.patch(self.project, self.name, {"settings": wanted}),
                  lambda op: self.api.wait(op, self.project, self.name, self.params["wait_timeout"]))
        instance = self.api.get_instance(self.project, self.name) or instance
        left = {p for p, _b, _a in diff_policy(instance.get("settings") or {}, wanted, "settings")}
        if left:
            stale = [c for c in changes if c["path"] in left]
            self.result["applied"] = [c for c in self.result["applied"] if c not in stale]
            self.result["not_applied"].extend(stale)
            self.fail(f"The PATCH of '{self.name}' finished but these settings still differ: "
                      f"{', '.join(sorted(left))}.")
        return instance

    def designate(self, instance: dict[str, Any]) -> dict[str, Any]:
        """Set the primary's DR replica (replicationCluster.failoverDrReplicaName) when it differs."""
        wanted = self.params["dr_replica"]
        current = ((instance.get("replicationCluster") or {}).get("failoverDrReplicaName") or "").split(":")[-1]
        if wanted is None or current == wanted:
            return instance
        if instance.get("masterInstanceName"):
            self.fail(f"dr_replica is set on a primary, but '{self.name}' is a read replica of "
                      f"{instance['masterInstanceName']}: set it on that primary.")
        changes = [{"path": "replicationCluster.failoverDrReplicaName", "before": current or None,
                    "after": wanted or None}]
        self.result["changes"].extend(changes)
        if self.module.check_mode:
            return instance
        body = {"replicationCluster": {"failoverDrReplicaName": wanted}}
        self.step(changes, lambda: self.api.patch(self.project, self.name, body),
                  lambda op: self.api.wait(op, self.project, self.name, self.params["wait_timeout"]))
        return self.api.get_instance(self.project, self.name) or instance

    def delete(self, instance: dict[str, Any] | None) -> NoReturn:
        """state=absent: delete the instance (turning deletion protection off first only when told to)."""
        if instance is None:
            self.module.exit_json(**self.result)
        protected = bool(instance["settings"].get("deletionProtectionEnabled"))
        if protected and self.params["deletion_protection"]:
            self.fail(f"Cloud SQL instance '{self.name}' has deletion protection on, so it was not deleted. To "
                      "delete it, set deletion_protection: false (the protection is turned off first).")
        changes = [{"path": "instance", "before": self.name, "after": None}]
        self.result["changes"].extend(changes)
        if self.module._diff:
            self.result["diff"] = {"before": {"name": self.name}, "after": {}}
        if not self.module.check_mode:
            def wait(operation: dict[str, Any]) -> dict[str, Any]:
                return self.api.wait(operation, self.project, self.name, self.params["wait_timeout"])

            if protected:
                off = [{"path": "settings.deletionProtectionEnabled", "before": True, "after": False}]
                self.result["changes"][:0] = off
                self.step(off, lambda: self.api.patch(self.project, self.name,
                                                      {"settings": {"deletionProtectionEnabled": False}}), wait)
            self.step(changes, lambda: self.api.delete(self.project, self.name), wait)
            self.result["deleted"] = True
        self._settle()
        self.module.exit_json(**self.result)

    def run(self) -> NoReturn:
        """Create, promote, PATCH as needed (or delete), then exit with the result."""
        params = self.params
        try:
            instance = self.api.get_instance(self.project, self.name)
            if params["state"] == "absent":
                self.delete(instance)
            if instance is None:
                instance = self.create()
            elif params["edition"] and instance["settings"].get("edition", "ENTERPRISE") != params["edition"]:
                self.module.warn(
                    f"Cloud SQL instance '{self.name}' is {instance['settings'].get('edition', 'ENTERPRISE')}, not "
                    f"{params['edition']}: the edition is not changed on an existing instance (it restarts it). Change "
                    f"it deliberately (gcloud sql instances patch {self.name} --edition=...), or set edition to match.")
            is_replica = bool(instance.get("masterInstanceName"))
            if params["promote"] and is_replica:
                instance = self.promote(instance)
                is_replica = False
            instance = self.patch(instance, wanted_settings(params, is_replica, params["apply_policy"]))
            instance = self.designate(instance)
        except GcpError as exc:
            self.fail(str(exc), exc)
        self.result["instance"] = instance
        self._settle()
        self.module.exit_json(**self.result)


def main() -> None:
    """Ensure the policy; create or promote first when asked."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "master_instance": {"type": "str"},
            "region": {"type": "str"},
            "tier": {"type": "str"},
            "database_version": {"type": "str"},
            "edition": {"type": "str", "choices": ["ENTERPRISE", "ENTERPRISE_PLUS"]},
            "private_network": {"type": "str"},
            "public_ip": {"type": "bool", "default": False},
            "ssl_mode": {"type": "str", "default": "ENCRYPTED_ONLY", "choices": SSL_MODES},
            "server_ca_mode": {"type": "str", "choices": CA_MODES},
            "activation_policy": {"type": "str", "choices": ["ALWAYS", "NEVER"]},
            "backups": {"type": "dict", "options": {
                "enabled": {"type": "bool", "default": True},
                "start_time": {"type": "str", "default": "03:00"},
                "location": {"type": "str"},
                "retained_backups": {"type": "int", "default": 14},
                "point_in_time_recovery": {"type": "bool", "default": True},
                "transaction_log_retention_days": {"type": "int", "default": 7},
            }},
            "deletion_protection": {"type": "bool", "default": True},
            "dr_replica": {"type": "str"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "promote": {"type": "bool", "default": False},
            "apply_policy": {"type": "bool", "default": True},
            "wait_timeout": {"type": "float", "default": 900},
            **endpoint_option(),
        },
        supports_check_mode=True,
    )
    check_options(module)
    try:
        converge = Converge(module)
    except GcpError as exc:
        module.fail_gcp(exc)
    converge.run()


if __name__ == "__main__":
    main()
