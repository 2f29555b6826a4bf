#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which configuration files a running systemd service has not applied yet (a restart or reload still owed)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_config_applied
short_description: Find the configuration a running systemd service has not applied yet
version_added: "0.1.0"
description:
  - Restarts driven only by handlers are lost when a run is killed between writing a file and running its
    handler; the next run sees no change and never restarts. This module compares state instead - whichever
    run wrote the files.
  - A service applied its configuration when its main process started (systemd's C(ExecMainStartTimestamp))
    or, for services that are reloaded, when the role last reloaded it (the modification time of O(stamp), a
    file the reload handler touches).
  - Reports in RV(owed) every file of O(files), the unit file and its drop-ins modified after that moment,
    and C(daemon-reload) when systemd has not loaded the unit file yet. An inactive service owes nothing
    (starting it applies everything).
  - Read only - it never changes anything; the caller notifies its restart or reload handler when RV(owed)
    is not empty.
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  unit:
    description: The systemd unit, for example C(chrony.service).
    type: str
    required: true
  files:
    description: Configuration files the service reads.
    type: list
    elements: path
    default: []
  stamp:
    description:
      - A file whose modification time records the last reload the role made. Omit for services that are
        only ever restarted.
    type: path
"""

EXAMPLES = r"""
- name: Check chrony runs its current configuration
  nearzero.gcp.service_config_applied:
    unit: chrony.service
    files: [/etc/chrony/chrony.conf]
  register: chrony_applied
  changed_when: chrony_applied.owed | length > 0
  notify: Restart chrony
"""

RETURN = r"""
owed:
  description: Files newer than what the service applied, and C(daemon-reload) when the unit file is not loaded.
  returned: always
  type: list
  elements: str
  sample: [/etc/chrony/chrony.conf]
active:
  description: Whether the unit is active.
  returned: always
  type: bool
applied_at:
  description: When the service applied its configuration (seconds since the epoch; 0 when unknown or inactive).
  returned: always
  type: float
"""

import os
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

_PROPERTIES = ("ActiveState", "ExecMainStartTimestamp", "NeedDaemonReload", "FragmentPath", "DropInPaths")


def _properties(module: AnsibleModule, unit: str) -> dict[str, str]:
    systemctl = module.get_bin_path("systemctl", required=True)
    args = [systemctl, "show", "--timestamp=us+utc", unit]
    for name in _PROPERTIES:
        args += ["-p", name]
    rc, out, err = module.run_command(args)
    if rc != 0:
        module.fail_json(msg=f"systemctl show {unit} failed ({rc}): {err.strip()}. Fix: check the unit name.")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _started(value: str) -> float:
    """ExecMainStartTimestamp as seconds since the epoch; 0 when systemd has none."""
    try:
        started = datetime.strptime(value.strip(), "%a %Y-%m-%d %H:%M:%S.%f UTC")
    except ValueError:
        return 0.0
    return started.replace(tzinfo=timezone.utc).timestamp()  # noqa: UP017 - datetime.UTC needs Python 3.11


def owed_files(props: dict[str, str], files: list[str], stamp: str | None) -> tuple[float, list[str]]:
    """When the service applied its configuration, and what changed after that."""
    applied = _started(props.get("ExecMainStartTimestamp", ""))
    if stamp and os.path.exists(stamp):
        applied = max(applied, os.stat(stamp).st_mtime)
    owed: list[str] = []
    for path in [*files, props.get("FragmentPath", ""), *props.get("DropInPaths", "").split()]:
        if path and path not in owed and os.path.exists(path) and os.stat(path).st_mtime > applied:
            owed.append(path)
    if props.get("NeedDaemonReload") == "yes":
        owed.append("daemon-reload")
    return applied, owed


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "required": True},
            "files": {"type": "list", "elements": "path", "default": []},
            "stamp": {"type": "path"},
        },
        supports_check_mode=True,
    )
    props = _properties(module, module.params["unit"])
    if props.get("ActiveState") != "active":
        module.exit_json(changed=False, owed=[], active=False, applied_at=0.0)
    applied, owed = owed_files(props, module.params["files"], module.params["stamp"])
    module.exit_json(changed=False, owed=owed, active=True, applied_at=applied)


if __name__ == "__main__":
    main()
