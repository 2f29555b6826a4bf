#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module cloudsql_backup_restore: restore a Cloud SQL backup run over an existing instance."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudsql_backup_restore
short_description: Restore a Cloud SQL backup run into an existing instance (overwrites its data)
description:
  - Restores a backup run of the Cloud SQL instance O(source) into the existing instance O(name) through the SQL
    Admin API v1 (C(instances.restoreBackup)). B(The restore overwrites all data of O(name)) with the backup as
    it was when the backup ended; nothing written after the backup is in it.
  - The run is O(backup_run_id), or without it the newest SUCCESSFUL run of O(source) stored in a European
    location (C(eu), C(europe-*)), the copy that survives the loss of the US region.
  - Restoring over the source itself (O(name) equal to O(source), its primary) needs explicit consent - set
    O(confirm_overwrite) to that instance's name. A target with read replicas or one that is a read replica is
    refused (Cloud SQL refuses both); so are a run that is not SUCCESSFUL and a database version other than the
    run's. Every refusal happens before anything is requested, and names the fix.
  - Check mode reads the instances and runs, makes the same checks and says in RV(msg) what would be overwritten
    with which run; nothing is requested.
  - The restore is requested once and repeated only when the API cannot have acted on it (HTTP 429, a connection
    never made); its Operation is polled under O(api_endpoint) (O(wait)). A restore always reports a change.
  - Run it on the controller.
options:
  project:
    description: Project ID of both instances.
    type: str
    required: true
  name:
    description: The existing instance the backup is restored into. Its data is overwritten.
    type: str
    required: true
  source:
    description: The instance the backup run was taken of. Defaults to O(name) (which then needs O(confirm_overwrite)).
    type: str
  backup_run_id:
    description:
      - ID of the backup run to restore (C(gcloud sql backups list --instance SOURCE), C(id) of RV(backup_run)).
      - Omitted, the newest SUCCESSFUL run of O(source) in a European location.
    type: str
  confirm_overwrite:
    description:
      - Consent to overwrite the source instance itself - the name of O(name), written out. Needed only when
        O(name) is O(source); a value that is not O(name) is refused.
    type: str
  wait:
    description: Wait until the restore's Operation is DONE and read the instance.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the restore's Operation.
    type: float
    default: 3600
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.sqladmin
"""

EXAMPLES = r"""
- name: Restore the newest European backup of the primary into the scratch instance (its data is replaced)
  nearzero.gcp.cloudsql_backup_restore:
    project: prod-db
    name: orders-scratch
    source: orders-us
  delegate_to: localhost
  run_once: true
  register: restored

- name: Restore one run over the primary itself (it has no replicas), consenting by name
  nearzero.gcp.cloudsql_backup_restore:
    project: prod-db
    name: orders-us
    backup_run_id: "1765003800000"
    confirm_overwrite: orders-us
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
msg:
  description: What was (or, in check mode, would be) overwritten with which run.
  type: str
  returned: always
backup_run:
  description: The restored BackupRun (id, status, type, location, startTime, endTime, databaseVersion).
  type: dict
  returned: when a run was found
overwritten:
  description: The instance whose data was replaced (empty in check mode).
  type: str
  returned: always
instance:
  description: The instance once its restore finished; empty in check mode or with O(wait=false).
  type: dict
  returned: always
operation:
  description: Name of the restore's Operation (empty in check mode).
  type: str
  returned: always
duration:
  description: Seconds from the restore request until its Operation was DONE (0 when nothing was requested).
  type: float
  returned: always
"""

import time

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import SqlAdminApi, endpoint_option, in_europe


def pick_run(runs: list[dict], run_id: str | None) -> tuple[dict | None, str]:
    """(the run to restore, why none) among ``runs`` (newest first): ``run_id``'s, or the newest European one."""
    if run_id:
        run = next((r for r in runs if str(r.get("id")) == run_id), None)
        if run is None:
            return None, f"has no backup run {run_id}"
        if run.get("status") != "SUCCESSFUL":
            return None, f"backup run {run_id} is {run.get('status')}, and only a SUCCESSFUL run can be restored"
        return run, ""
    for run in runs:
        if run.get("status") == "SUCCESSFUL" and in_europe(run.get("location")):
            return run, ""
    seen = ", ".join(sorted({r.get("location") or "?" for r in runs if r.get("status") == "SUCCESSFUL"})) or "none"
    return None, f"has no SUCCESSFUL backup run in a European location (successful runs in: {seen})"


def main() -> None:
    """Check the target, the source and the run, request the restore, wait for it and report."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "source": {"type": "str"},
            "backup_run_id": {"type": "str"},
            "confirm_overwrite": {"type": "str"},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "float", "default": 3600},
            **endpoint_option(),
        },
        supports_check_mode=True,
    )
    params = module.params
    project, name = params["project"], params["name"]
    source_name = params["source"] or name
    result = {"changed": False, "overwritten": "", "instance": {}, "operation": "", "duration": 0.0}
    nothing = "Nothing was restored."
    if params["confirm_overwrite"] not in (None, name):
        module.fail_json(msg=f"confirm_overwrite is '{params['confirm_overwrite']}', not the instance restored into "
                             f"('{name}'). Fix: write the target's name there, or leave it out. {nothing}", **result)
    if source_name == name and params["confirm_overwrite"] != name:
        module.fail_json(msg=f"Restoring a backup of '{name}' over '{name}' itself overwrites the source's data. "
                             f"Fix: restore into another instance (name), or consent with confirm_overwrite: {name}. "
                             f"{nothing}", **result)
    try:
        api = SqlAdminApi(module.client(), params["api_endpoint"])
        target = api.get_instance(project, name)
        if target is None:
            module.fail_json(msg=f"The Cloud SQL instance '{name}' to restore into does not exist in project "
                                 f"'{project}': a backup restores into an existing instance (to restore into a new "
                                 f"one, clone: nearzero.gcp.cloudsql_clone). {nothing}", **result)
        if target.get("masterInstanceName"):
            module.fail_json(msg=f"'{name}' is a read replica (of {target['masterInstanceName']}): Cloud SQL restores "
                                 f"backups to primaries only. Fix: restore into a stand-alone instance. {nothing}",
                             **result)
        if target.get("replicaNames"):
            module.fail_json(msg=f"'{name}' has read replicas ({', '.join(target['replicaNames'])}), which a restore "
                                 "would leave behind: Cloud SQL refuses it. Fix: restore into another instance, or "
                                 f"delete the replicas first. {nothing}", **result)
        if source_name != name and api.get_instance(project, source_name) is None:
            module.fail_json(msg=f"The source Cloud SQL instance '{source_name}' does not exist in project "
                                 f"'{project}'. {nothing}", **result)
        run, why = pick_run(api.backup_runs(project, source_name), params["backup_run_id"])
        if run is None:
            module.fail_json(msg=f"'{source_name}' {why}. Fix: pick a run from `gcloud sql backups list --instance "
                                 f"{source_name} --project {project}`. {nothing}", **result)
        result["backup_run"] = run
        if run.get("databaseVersion") and run["databaseVersion"] != target.get("databaseVersion"):
            module.fail_json(msg=f"Backup run {run['id']} is of {run['databaseVersion']} and '{name}' runs "
                                 f"{target.get('databaseVersion')}. Fix: restore into an instance of the same "
                                 f"version. {nothing}", **result)
        what = (f"'{name}' with backup run {run['id']} of '{source_name}' ({run.get('type', '')}, "
                f"{run.get('startTime', '')} to {run.get('endTime', '')}, in {run.get('location', '')})")
        if module.check_mode:
            result["changed"] = True
            module.exit_json(msg=f"Would overwrite all data of {what}.", **result)
        started = time.monotonic()
        context = {"backupRunId": run["id"], "instanceId": source_name, "project": project}
        operation = api.restore_backup(project, name, context)
        result.update(changed=True, operation=operation.get("name", ""), overwritten=name)
        summary = f"Requested to overwrite all data of {what} (not waited for)."
        if params["wait"]:
            api.wait(operation, project, name, params["wait_timeout"])
            result["duration"] = round(time.monotonic() - started, 3)
            result["instance"] = api.get_instance(project, name) or {}
            summary = f"Overwrote all data of {what}."
    except GcpError as exc:
        module.fail_gcp(exc, **result)
    module.exit_json(msg=summary, **result)


if __name__ == "__main__":
    main()
