#!/usr/bin/python
"""Role-local module: write (or remove) a set of small managed files in one task."""

from __future__ import annotations

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: low_latency_files
short_description: Write a set of whole files, rendered on the controller, in one module run
description:
  - The low_latency role manages about ten small files (drop-ins, a unit, a udev rule, its tool).
    One module run per file costs seconds each on a slow host (and minutes on an emulated VM);
    this writes them all in one run, atomically, and returns which ones changed so the role
    runs update-grub, daemon-reload or udevadm only for those.
options:
  files:
    description: Files to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: Whole content of the file.
        type: str
        default: ""
      mode:
        description: Permissions (octal string).
        type: str
        default: "0644"
      state:
        description: present writes the file, absent removes it.
        type: str
        choices: [present, absent]
        default: present
author: nearzero
"""

EXAMPLES = r"""
- name: Write the drop-ins
  low_latency_files:
    files:
      - path: /etc/sysctl.d/60-example.conf
        content: "vm.swappiness = 10\n"
"""

RETURN = r"""
changed_paths:
  description: Paths that were (or in check mode would be) written or removed.
  returned: always
  type: list
  elements: str
"""


def current(path: str) -> tuple[str | None, int | None]:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(), os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None, None


def main() -> None:
    module = AnsibleModule(
        argument_spec={"files": {"type": "list", "elements": "dict", "required": True, "options": {
            "path": {"type": "path", "required": True},
            "content": {"type": "str", "default": ""},
            "mode": {"type": "str", "default": "0644"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        }}},
        supports_check_mode=True,
    )
    changed, diffs = [], []
    for spec in module.params["files"]:
        path = spec["path"]
        if not os.path.isabs(path):
            module.fail_json(msg=f"path {path!r} must be absolute")
        try:
            mode = int(spec["mode"], 8)
        except ValueError:
            module.fail_json(msg=f"mode {spec['mode']!r} of {path} is not an octal string like '0644'")
        text, have_mode = current(path)
        if spec["state"] == "absent":
            if text is not None:
                changed.append(path)
                diffs.append({"before_header": path, "before": text, "after_header": path, "after": ""})
                if not module.check_mode:
                    os.unlink(path)
            continue
        if text == spec["content"] and have_mode == mode:
            continue
        changed.append(path)
        diffs.append({"before_header": path, "before": text or "", "after_header": path, "after": spec["content"]})
        if module.check_mode:
            continue
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".nearzero-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(spec["content"])
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
        os.chmod(path, mode)
    module.exit_json(changed=bool(changed), changed_paths=changed, diff=diffs)


if __name__ == "__main__":
    main()
