#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module cloudsql_backup_info: read a Cloud SQL instance's backup runs (with their locations) and backup settings."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudsql_backup_info
short_description: Read a Cloud SQL instance's backup runs, where each is stored, and its backup settings
description:
  - Lists every backup run of a Cloud SQL instance through the SQL Admin API v1 (C(backupRuns.list), all pages),
    newest first, each with its C(location) (the region or multi-region it is stored in), status and type.
  - Returns the newest successful run on its own (RV(latest)) and the instance's backup configuration (enabled,
    location, point-in-time recovery, log retention), so a play can check where backups really are, not only where
    the policy says they should go.
  - An instance that does not exist is reported (RV(exists=false)), not failed, as C(cloudsql_instance_info) does.
  - "Run it on the controller (C(delegate_to: localhost)); it changes nothing."
options:
  project:
    description: Project ID of the instance.
    type: str
    required: true
  name:
    description: Instance name.
    type: str
    required: true
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.sqladmin
"""

EXAMPLES = r"""
- name: Read the primary's backups
  nearzero.gcp.cloudsql_backup_info:
    project: prod-db
    name: orders-us
  delegate_to: localhost
  run_once: true
  register: backups

- name: The newest backup is stored in Europe
  ansible.builtin.assert:
    that: backups.latest.location is match('^(eu|europe-[a-z]+[0-9]+)$')
    fail_msg: "The newest backup {{ backups.latest.id }} is stored in {{ backups.latest.location }}."
"""

RETURN = r"""
exists:
  description: Whether the instance exists (when not, every other value is empty).
  type: bool
  returned: always
runs:
  description: Every BackupRun resource of the instance, newest first.
  type: list
  elements: dict
  returned: always
latest:
  description: The newest BackupRun whose status is SUCCESSFUL (empty when there is none).
  type: dict
  returned: always
latest_location:
  description: Where the newest successful backup is stored (its C(location)), or an empty string.
  type: str
  returned: always
  sample: eu
backup_configuration:
  description: The instance's C(settings.backupConfiguration) (enabled, location, pointInTimeRecoveryEnabled, ...).
  type: dict
  returned: always
point_in_time_recovery:
  description: Whether backups and point-in-time recovery are both enabled on the instance.
  type: bool
  returned: always
"""

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import SqlAdminApi, endpoint_option


def main() -> None:
    """List the backup runs and report the newest successful one with the backup settings."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            **endpoint_option(),
        },
        supports_check_mode=True,
    )
    project, name = module.params["project"], module.params["name"]
    try:
        api = SqlAdminApi(module.client(), module.params["api_endpoint"])
        instance = api.get_instance(project, name)
        if instance is None:
            module.exit_json(
                changed=False,
                exists=False,
                runs=[],
                latest={},
                latest_location="",
                backup_configuration={},
                point_in_time_recovery=False,
            )
        runs = api.backup_runs(project, name)
    except GcpError as exc:
        module.fail_gcp(exc)
    # the API lists runs newest first by enqueued time; sort anyway, so a page order never decides "latest"
    runs.sort(key=lambda run: run.get("enqueuedTime") or run.get("startTime") or "", reverse=True)
    latest = next((run for run in runs if run.get("status") == "SUCCESSFUL"), {})
    config = (instance.get("settings") or {}).get("backupConfiguration") or {}
    module.exit_json(
        changed=False,
        exists=True,
        runs=runs,
        latest=latest,
        latest_location=latest.get("location", ""),
        backup_configuration=config,
        point_in_time_recovery=bool(config.get("enabled") and config.get("pointInTimeRecoveryEnabled")),
    )


if __name__ == "__main__":
    main()
