#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module cloudsql_switchover: a planned switchover of a Cloud SQL primary to its DR replica (Enterprise Plus)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudsql_switchover
short_description: Switch a Cloud SQL primary over to its DR replica, without data loss (Enterprise Plus)
description:
  - Calls C(instances.switchover) on the DR replica O(name) and waits for the Operation. Cloud SQL stops writes on the
    primary, lets the replica replay everything, promotes it and makes the old primary its DR replica (the roles are
    reversed, and the DNS write endpoint follows the new primary). No committed transaction is lost.
  - Checks first, and fails changing nothing, naming the fix - O(name) is not a read replica of a primary; the
    primary is not Enterprise Plus (Enterprise has no switchover - fence the primary and promote the replica, as the
    role nearzero.gcp.dr_failover does); O(name) is not the primary's designated DR replica
    (C(replicationCluster.failoverDrReplicaName), set with the C(dr_replica) option of
    M(nearzero.gcp.cloudsql_instance)); the primary is stopped; the primary has no point-in-time recovery (Cloud SQL
    requires it).
  - Idempotent - when O(name) is already a primary (a switchover already happened), nothing is called and
    C(changed) is false.
  - The switchover request is repeated only when the API cannot have acted on it (HTTP 429, a connection never made).
  - Supports check mode. Run it on the controller.
options:
  project:
    description: Project ID.
    type: str
    required: true
  name:
    description: The DR replica that becomes the primary.
    type: str
    required: true
  wait_timeout:
    description: Seconds to wait for the Operation before failing with its name (it may still complete).
    type: float
    default: 900
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.sqladmin
"""

EXAMPLES = r"""
- name: Designate the EU replica as the DR replica of the US primary (once)
  nearzero.gcp.cloudsql_instance:
    project: prod-db
    name: orders-us
    dr_replica: orders-eu
    apply_policy: false
  delegate_to: localhost

- name: Switch over to the EU replica (the US primary becomes its DR replica)
  nearzero.gcp.cloudsql_switchover:
    project: prod-db
    name: orders-eu
  delegate_to: localhost
  register: switchover

- name: Switch back later (the same call, naming the US instance)
  nearzero.gcp.cloudsql_switchover:
    project: prod-db
    name: orders-us
  delegate_to: localhost
"""

RETURN = r"""
old_primary:
  description: The instance that was the primary (now the DR replica of RV(new_primary)); empty when nothing was done.
  type: str
  returned: always
new_primary:
  description: The instance that is (or, in check mode, would be) the primary.
  type: str
  returned: always
operation:
  description: Name of the SWITCHOVER Operation (empty when nothing was called).
  type: str
  returned: always
seconds:
  description: Seconds from the request until the Operation finished.
  type: float
  returned: always
instance:
  description: The new primary as read back after the switchover (as it is, in check mode or when nothing was done).
  type: dict
  returned: always
"""

import time
from typing import Any

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import SqlAdminApi, endpoint_option

ENTERPRISE_PLUS = "ENTERPRISE_PLUS"


def refusal(project: str, name: str, replica: dict[str, Any], primary: dict[str, Any]) -> str | None:
    """Why Cloud SQL would refuse a switchover to ``replica`` (with the fix), or None."""
    master = primary["name"]
    edition = primary["settings"].get("edition") or "ENTERPRISE"
    if edition != ENTERPRISE_PLUS:
        return (f"Cloud SQL primary '{master}' is {edition}: switchover (advanced DR) needs Enterprise Plus. Fix: on "
                f"Enterprise fence the primary and promote the replica (the role nearzero.gcp.dr_failover, which "
                f"playbooks/dr_switchover.yml runs for Enterprise), or upgrade both instances to Enterprise Plus.")
    designated = ((primary.get("replicationCluster") or {}).get("failoverDrReplicaName") or "").split(":")[-1]
    if designated != name:
        return (f"'{name}' is not the DR replica of '{master}' (replicationCluster.failoverDrReplicaName is "
                f"'{designated}'). Fix: designate it - nearzero.gcp.cloudsql_instance name={master} dr_replica={name}, "
                f"or `gcloud sql instances patch {master} --failover-dr-replica-name={name} --project {project}`.")
    if primary["settings"].get("activationPolicy", "ALWAYS") != "ALWAYS" or primary.get("state") != "RUNNABLE":
        return (f"Cloud SQL primary '{master}' is not running (state {primary.get('state')}, activationPolicy "
                f"{primary['settings'].get('activationPolicy')}): a switchover needs both instances online. Fix: "
                f"start it, or, if it is lost, fail over instead (playbooks/dr_failover.yml).")
    if not (primary["settings"].get("backupConfiguration") or {}).get("pointInTimeRecoveryEnabled"):
        return (f"Cloud SQL primary '{master}' has no point-in-time recovery, which a switchover requires. Fix: turn "
                f"it on (nearzero.gcp.cloudsql_instance name={master} backups: {{point_in_time_recovery: true}}, as "
                f"playbooks/database.yml does), then re-run.")
    if replica.get("state") != "RUNNABLE":
        return f"DR replica '{name}' is {replica.get('state')}, not RUNNABLE. Fix: wait for it, then re-run."
    return None


def main() -> None:
    """Switch over to the DR replica, once."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "wait_timeout": {"type": "float", "default": 900},
            **endpoint_option(),
        },
        supports_check_mode=True,
    )
    project, name = module.params["project"], module.params["name"]
    result: dict[str, Any] = {"changed": False, "old_primary": "", "new_primary": name, "operation": "",
                              "seconds": 0.0, "instance": {}}
    try:
        api = SqlAdminApi(module.client(), module.params["api_endpoint"])
        replica = api.get_instance(project, name)
        if replica is None:
            module.fail_json(msg=f"Cloud SQL instance '{name}' does not exist in project '{project}'. Check the name "
                                 f"with `gcloud sql instances list --project {project}`.", **result)
        result["instance"] = replica
        master = (replica.get("masterInstanceName") or "").split(":")[-1]
        if not master:
            module.exit_json(msg=f"'{name}' is already a primary: nothing to switch over.", **result)
        primary = api.get_instance(project, master)
        if primary is None:
            module.fail_json(msg=f"The primary '{master}' of '{name}' does not exist in project '{project}'.", **result)
        why = refusal(project, name, replica, primary)
        if why:
            module.fail_json(msg=f"Not switching over, nothing changed: {why}", **result)
        result.update(changed=True, old_primary=master)
        if module.check_mode:
            module.exit_json(**result)
        started = time.monotonic()
        operation = api.switchover(project, name)
        result["operation"] = operation.get("name", "")
        api.wait(operation, project, name, module.params["wait_timeout"])
        result["seconds"] = round(time.monotonic() - started, 2)
        result["instance"] = api.get_instance(project, name) or replica
    except GcpError as exc:
        module.fail_gcp(exc, **result)
    if result["instance"].get("masterInstanceName"):
        module.fail_json(msg=f"The switchover of '{master}' to '{name}' finished, but '{name}' is still a replica of "
                             f"{result['instance']['masterInstanceName']}.", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
