#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module cloudsql_instance: ensure a Cloud SQL instance's network, TLS, backup and protection policy."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudsql_instance
short_description: Ensure a Cloud SQL instance's policy (private IP, TLS, backups, PITR); create, promote replicas
description:
  - Compares the instance with the wanted policy and changes only what differs, with a PATCH (merge semantics -
    settings this module does not manage are left alone), then waits for the Operation.
  - Policy - private IP only (C(ipv4Enabled=false), C(privateNetwork)), C(sslMode), automated backups with a
    start time, a retention count and a location, point-in-time recovery with its log retention, deletion
    protection.
  - When the instance does not exist and O(master_instance) is set, creates it as a (cross-region) read replica
    of that primary, then applies the policy. Primaries are not created by this module.
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
    description: Region of a replica to create (for example V(europe-west3)); defaults to the primary's.
    type: str
  tier:
    description: Machine tier of a replica to create (defaults to the primary's).
    type: str
  private_network:
    description: VPC for private services access, C(projects/P/global/networks/N).
    type: str
  public_ip:
    description: Whether the instance has a public IPv4 address (C(ipv4Enabled)).
    type: bool
    default: false
  ssl_mode:
    description: Which connections the server accepts.
    type: str
    choices: [ENCRYPTED_ONLY, TRUSTED_CLIENT_CERTIFICATE_REQUIRED, ALLOW_UNENCRYPTED_AND_ENCRYPTED]
    default: ENCRYPTED_ONLY
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
        description: Region or multi-region of the backups (for example V(eu) or V(us-east1)).
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
  promote:
    description:
      - Promote the instance to a stand-alone primary when it is a read replica (C(promoteReplica)), and wait for
        the Operation. A no-op when it is not a replica. Used by the DR failover.
    type: bool
    default: false
  apply_policy:
    description: Apply the policy options. Turn it off to only create or promote (a failover's critical path).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each Operation before failing with its name.
    type: float
    default: 900
  api_endpoint:
    description:
      - Base URL of the SQL Admin API (C(/v1) is appended).
      - When not set, the environment variable E(GCP_SQLADMIN_ENDPOINT) is used.
    type: str
    default: https://sqladmin.googleapis.com
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
"""

EXAMPLES = r"""
- name: US primary, private and TLS only, backups in the US, PITR
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-us
    private_network: projects/prod-net/global/networks/trading
    backups: {start_time: "04:00", location: us, retained_backups: 30, transaction_log_retention_days: 7}
  delegate_to: localhost

- name: EU read replica
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-eu
    master_instance: orders-us
    region: europe-west3
    private_network: projects/prod-net/global/networks/trading
  delegate_to: localhost

- name: The credential once for every nearzero.gcp module, the policy once for every instance
  module_defaults:
    group/nearzero.gcp.gcp:
      auth_kind: impersonate
      impersonate_service_account: db-admin@prod-db.iam.gserviceaccount.com
    nearzero.gcp.cloudsql_instance:
      project: prod-db
      private_network: projects/prod-net/global/networks/trading
  delegate_to: localhost
  block:
    - name: US primary
      nearzero.gcp.cloudsql_instance:
        name: orders-us
        backups: {location: us}

    - name: EU replica
      nearzero.gcp.cloudsql_instance:
        name: orders-eu
        master_instance: orders-us
        region: europe-west3
"""

RETURN = r"""
changes:
  description: Every managed setting that changed (or would change in check mode), as C(path) C(before) C(after).
  type: list
  elements: dict
  returned: always
created:
  description: Whether a read replica was created.
  type: bool
  returned: always
promoted:
  description: Whether the replica was promoted.
  type: bool
  returned: always
operations:
  description: Names of the Operations waited for.
  type: list
  elements: str
  returned: always
instance:
  description: The instance after the change (before it in check mode; empty if it would be created).
  type: dict
  returned: always
"""

from typing import Any

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import (
    DEFAULT_ENDPOINT,
    SqlAdminApi,
    diff_policy,
    prune,
)

SSL_MODES = ["ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", "ALLOW_UNENCRYPTED_AND_ENCRYPTED"]


def wanted_settings(params: dict[str, Any], is_replica: bool) -> dict[str, Any]:
    """The ``settings`` sub-document this module manages, from the options."""
    ip = {"ipv4Enabled": params["public_ip"], "sslMode": params["ssl_mode"]}
    if params["private_network"]:
        ip["privateNetwork"] = params["private_network"]
    settings: dict[str, Any] = {"ipConfiguration": ip, "deletionProtectionEnabled": params["deletion_protection"]}
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
    return settings


def check_options(module: AnsibleGcpModule) -> None:
    """Refuse combinations Cloud SQL would refuse, before any call."""
    params = module.params
    if not params["public_ip"] and not params["private_network"]:
        module.fail_json(msg="public_ip is false and private_network is not set: the instance would have no address. "
                             "Set private_network to projects/PROJECT/global/networks/NETWORK.")
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


def main() -> None:
    """Ensure the policy; create a replica first when asked."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "master_instance": {"type": "str"},
            "region": {"type": "str"},
            "tier": {"type": "str"},
            "private_network": {"type": "str"},
            "public_ip": {"type": "bool", "default": False},
            "ssl_mode": {"type": "str", "default": "ENCRYPTED_ONLY", "choices": SSL_MODES},
            "backups": {"type": "dict", "options": {
                "enabled": {"type": "bool", "default": True},
                "start_time": {"type": "str", "default": "03:00"},
                "location": {"type": "str"},
                "retained_backups": {"type": "int", "default": 14},
                "point_in_time_recovery": {"type": "bool", "default": True},
                "transaction_log_retention_days": {"type": "int", "default": 7},
            }},
            "deletion_protection": {"type": "bool", "default": True},
            "promote": {"type": "bool", "default": False},
            "apply_policy": {"type": "bool", "default": True},
            "wait_timeout": {"type": "float", "default": 900},
            "api_endpoint": {"type": "str", "default": DEFAULT_ENDPOINT,
                             "fallback": (env_fallback, ["GCP_SQLADMIN_ENDPOINT"])},
        },
        supports_check_mode=True,
    )
    check_options(module)
    params = module.params
    project, name = params["project"], params["name"]
    result: dict[str, Any] = {"changed": False, "created": False, "promoted": False, "changes": [], "operations": [],
                              "instance": {}}
    try:
        api = SqlAdminApi(module.client(), params["api_endpoint"])
        instance = api.get_instance(project, name)
        if instance is None:
            if not params["master_instance"]:
                module.fail_json(msg=f"Cloud SQL instance '{name}' does not exist in project '{project}'. This module "
                                     "creates read replicas only (set master_instance); create primaries with gcloud "
                                     "or Terraform. Check the name with "
                                     f"`gcloud sql instances list --project {project}`.")
            primary = api.get_instance(project, params["master_instance"])
            if primary is None:
                module.fail_json(msg=f"Cannot create replica '{name}': its primary '{params['master_instance']}' does "
                                     f"not exist in project '{project}'.")
            wanted = wanted_settings(params, True)
            body = {"name": name, "masterInstanceName": params["master_instance"],
                    "region": params["region"] or primary["region"],
                    "databaseVersion": primary["databaseVersion"],
                    "settings": dict(wanted, tier=params["tier"] or primary["settings"]["tier"])}
            result.update(changed=True, created=True,
                          changes=[{"path": "instance", "before": None, "after": f"read replica of "
                                    f"{params['master_instance']} in {body['region']}"}])
            if module._diff:
                result["diff"] = {"before": {}, "after": body}
            if module.check_mode:
                module.exit_json(**result)
            op = api.insert(project, body)
            api.wait(op, project, name, params["wait_timeout"])
            result["operations"].append(op["name"])
            instance = api.get_instance(project, name) or {}
        is_replica = bool(instance.get("masterInstanceName"))
        if params["promote"] and is_replica:
            result.update(changed=True, promoted=True)
            result["changes"].append({"path": "masterInstanceName", "before": instance["masterInstanceName"],
                                      "after": None})
            if not module.check_mode:
                op = api.promote_replica(project, name)
                api.wait(op, project, name, params["wait_timeout"])
                result["operations"].append(op["name"])
                instance = api.get_instance(project, name) or instance
                if instance.get("masterInstanceName"):
                    module.fail_json(msg=f"promoteReplica on '{name}' finished but it is still a replica of "
                                         f"{instance['masterInstanceName']}.", **result)
            is_replica = False
        wanted = wanted_settings(params, is_replica)
        changes = diff_policy(instance.get("settings") or {}, wanted, "settings") if params["apply_policy"] else []
        if changes:
            result["changed"] = True
            result["changes"].extend({"path": p, "before": b, "after": a} for p, b, a in changes)
            if module._diff and "diff" not in result:
                result["diff"] = {"before": {"settings": prune(instance.get("settings") or {}, wanted)},
                                  "after": {"settings": wanted}}
            if not module.check_mode:
                op = api.patch(project, name, {"settings": wanted})
                api.wait(op, project, name, params["wait_timeout"])
                result["operations"].append(op["name"])
                instance = api.get_instance(project, name) or instance
                left = diff_policy(instance.get("settings") or {}, wanted, "settings")
                if left:
                    module.fail_json(msg=f"The PATCH of '{name}' finished but these settings still differ: "
                                         + ", ".join(p for p, _b, _a in left), **result)
        result["instance"] = instance
    except GcpError as exc:
        module.fail_gcp(exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
