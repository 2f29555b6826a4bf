#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module cloudsql_clone: clone a Cloud SQL instance, as of a point in time, into a new instance."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudsql_clone
short_description: Restore a Cloud SQL instance to a point in time as a new instance (PITR clone)
description:
  - Clones the Cloud SQL instance O(name) into the new instance O(destination) through the SQL Admin API v1
    (C(instances.clone) with C(cloneContext.pointInTime)) - Cloud SQL restores a backup taken before
    O(point_in_time) and replays the transaction log up to it. Without O(point_in_time) the clone is of the
    instance as it is now.
  - Never touches the source - the restore always goes into a new instance, and the module refuses a
    O(destination) equal to O(name).
  - Before any change it reads both instances and fails, naming the fix, when the source does not exist, when the
    destination already exists (unless O(existing=keep)), or when point-in-time recovery is not enabled on the
    source. Cloud SQL itself refuses a time in the future or before the earliest recovery time (the log retention
    window and the oldest backup); its message is returned and nothing is created.
  - Waits for the clone's Operation (O(wait)) and returns the new instance with its private IP and how long the
    restore took (RV(duration)).
  - The clone is requested once and repeated only when the API cannot have acted on it (HTTP 429, a connection
    never made); the Operation is polled under O(api_endpoint).
  - Supports check mode (the reads and checks run, nothing is requested). Run it on the controller.
options:
  project:
    description: Project ID of the source instance (the clone is created in the same project).
    type: str
    required: true
  name:
    description: The source instance.
    type: str
    required: true
  destination:
    description: Name of the new instance the clone becomes. Must not exist yet.
    type: str
    required: true
  point_in_time:
    description:
      - The time to restore to, RFC 3339 with a time zone (V(2026-12-06T07:30:00.250Z),
        V(2026-12-06T08:30:00+01:00)); sent in UTC with microseconds.
      - Omitted, the clone is of the instance as it is now.
    type: str
  existing:
    description:
      - What to do when O(destination) already exists - V(fail) (the default; a restore never reuses an instance)
        or V(keep) (leave it, report C(changed=false); for plays that are re-run after the clone was made).
    type: str
    choices: [fail, keep]
    default: fail
  wait:
    description: Wait until the clone's Operation is DONE and read the new instance.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the clone's Operation.
    type: float
    default: 3600
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.sqladmin
"""

EXAMPLES = r"""
- name: Restore the primary as it was just before a bad deploy, into a new instance
  nearzero.gcp.cloudsql_clone:
    project: prod-db
    name: orders-us
    destination: orders-us-pitr-0630
    point_in_time: "2026-12-06T06:29:59.500Z"
  delegate_to: localhost
  run_once: true
  register: restored

- name: Show where the restored instance answers
  ansible.builtin.debug:
    msg: "{{ restored.instance.name }} at {{ restored.private_ip }} after {{ restored.duration }} s"
"""

RETURN = r"""
instance:
  description: The new instance (DatabaseInstance) once its clone finished; empty in check mode or with O(wait=false).
  type: dict
  returned: always
private_ip:
  description: The new instance's private IP address, or an empty string.
  type: str
  returned: always
point_in_time:
  description: The time restored to as sent (UTC, microseconds), or an empty string for a clone of now.
  type: str
  returned: always
  sample: "2026-12-06T06:29:59.500000Z"
operation:
  description: Name of the clone's Operation (empty in check mode or when the destination was kept).
  type: str
  returned: always
duration:
  description: Seconds from the clone request until its Operation was DONE (0 when nothing was requested).
  type: float
  returned: always
"""

import datetime
import re
import time

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import SqlAdminApi, endpoint_option, private_ip

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$")


def utc_point(value: str) -> str:
    """``value`` (RFC 3339 with a zone) in UTC with microseconds, e.g. ``2026-12-06T06:29:59.500000Z``.

    Raises ValueError naming the expected form.
    """
    found = _RFC3339.match(value.strip())
    if not found:
        raise ValueError(
            f"point_in_time '{value}' is not an RFC 3339 time with a time zone; write it as "
            "2026-12-06T07:30:00.250Z or 2026-12-06T08:30:00+01:00."
        )
    day, clock, fraction, zone = found.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    # PostgreSQL and Cloud SQL keep microseconds: a 7th digit and beyond is cut, not rounded
    moment = datetime.datetime.fromisoformat(f"{day}T{clock}.{(fraction or '0')[:6].ljust(6, '0')}{zone}")
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main() -> None:
    """Check the source and destination, request the clone, wait for it and report the new instance."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "destination": {"type": "str", "required": True},
            "point_in_time": {"type": "str"},
            "existing": {"type": "str", "choices": ["fail", "keep"], "default": "fail"},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "float", "default": 3600},
            **endpoint_option(),
        },
        supports_check_mode=True,
    )
    params = module.params
    project, name, dest = params["project"], params["name"], params["destination"]
    result = {"changed": False, "instance": {}, "private_ip": "", "point_in_time": "", "operation": "", "duration": 0.0}
    if dest == name:
        module.fail_json(
            msg=f"destination '{dest}' is the source instance: a point-in-time restore never overwrites "
            "its source. Fix: name a new instance as destination.",
            **result,
        )
    if params["point_in_time"]:
        try:
            result["point_in_time"] = utc_point(params["point_in_time"])
        except ValueError as exc:
            module.fail_json(msg=str(exc), **result)
    try:
        api = SqlAdminApi(module.client(), params["api_endpoint"])
        source = api.get_instance(project, name)
        if source is None:
            module.fail_json(
                msg=f"The source Cloud SQL instance '{name}' does not exist in project '{project}'. "
                f"Check the name with `gcloud sql instances list --project {project}`.",
                **result,
            )
        existing = api.get_instance(project, dest)
        if existing is not None:
            if params["existing"] == "keep":
                result.update(instance=existing, private_ip=private_ip(existing) or "")
                module.exit_json(**result)
            module.fail_json(
                msg=f"The destination '{dest}' already exists in project '{project}', so nothing was "
                "cloned. Fix: name a new instance as destination (a restore never reuses one), or "
                "set existing: keep to accept the one there.",
                **result,
            )
        backup = (source.get("settings") or {}).get("backupConfiguration") or {}
        if not (backup.get("enabled") and backup.get("pointInTimeRecoveryEnabled")):
            module.fail_json(
                msg=f"Point-in-time recovery is not enabled on '{name}' (backupConfiguration.enabled "
                "and pointInTimeRecoveryEnabled), so it cannot be restored to a point in time. Fix: "
                "enable backups and point-in-time recovery on it (nearzero.gcp.cloudsql_instance "
                "backups.point_in_time_recovery); restores reach back to its first backup after "
                "that. Nothing was created.",
                **result,
            )
        if module.check_mode:
            result["changed"] = True
            module.exit_json(**result)
        context = {"destinationInstanceName": dest}
        if result["point_in_time"]:
            context["pointInTime"] = result["point_in_time"]
        started = time.monotonic()
        operation = api.clone(project, name, context)
        result.update(changed=True, operation=operation.get("name", ""))
        if params["wait"]:
            api.wait(operation, project, dest, params["wait_timeout"])
            result["duration"] = round(time.monotonic() - started, 3)
            instance = api.get_instance(project, dest) or {}
            result.update(instance=instance, private_ip=private_ip(instance) or "")
    except GcpError as exc:
        module.fail_gcp(exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
