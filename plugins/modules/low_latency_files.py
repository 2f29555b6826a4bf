#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: write (or remove) a set of small whole files in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: low_latency_files
short_description: Write a set of whole files, rendered on the controller, in one module run
version_added: "0.1.0"
description:
  - Writes or removes several small files (drop-ins, a unit, a udev rule, a script) in one module
    run and returns which ones changed, so that the caller runs C(update-grub), C(daemon-reload) or
    C(udevadm) only for those. One module run per file costs seconds each on a slow host; this costs one.
  - Each file is written whole, through a temporary file in its directory renamed over it (atomic);
    missing parent directories are created (mode C(0755)).
  - A file whose content and permissions already match is left alone, so a second run changes nothing.
  - The nearzero.gcp.low_latency role manages its drop-ins with it.
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the files that would be written or removed; nothing is written.
  diff_mode:
    support: full
    details: One before/after text diff per changed file.
  platform:
    platforms: posix
options:
  files:
    description:
      - Files to manage, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - Absolute path of the file on the managed host.
        type: path
        required: true
      content:
        description:
          - Whole content of the file (UTF-8 text), written as it is (no newline is added).
          - Ignored when O(files[].state=absent).
        type: str
        default: ""
      mode:
        description:
          - Permissions as an octal string, for example V(0644) or V(0755).
          - Owner and group are those of the user the module runs as (root with C(become)).
        type: str
        default: "0644"
      state:
        description:
          - V(present) writes the file; V(absent) removes it when it exists.
        type: str
        choices: [present, absent]
        default: present
notes:
  - A write or removal the host refuses (for example EROFS on a read-only file system, EPERM on an
    immutable file or directory) fails the task, naming the file, the error and the files already
    changed in this run (RV(changed_paths)).
  - Meant for small text files rendered on the controller (for example with the
    P(ansible.builtin.template#lookup) lookup); use M(ansible.builtin.copy) for large or binary files.
"""

EXAMPLES = r"""
- name: Write two sysctl drop-ins and remove an old one
  nearzero.gcp.low_latency_files:
    files:
      - path: /etc/sysctl.d/60-example-netns.conf
        content: "net.core.busy_poll = 50\n"
      - path: /etc/sysctl.d/60-example-kernel.conf
        content: "{{ lookup('ansible.builtin.template', 'sysctl.conf.j2') }}"
      - path: /etc/sysctl.d/59-old.conf
        state: absent
  register: written
  become: true

- name: Reload the sysctls only when a drop-in changed
  ansible.builtin.command: sysctl --system
  when: written.changed_paths | select('match', '^/etc/sysctl.d/') | list | length > 0
  changed_when: true
  become: true
"""

RETURN = r"""
changed_paths:
  description:
    - Paths that were (or in check mode would be) written or removed, in the order of O(files).
    - On a failed write, the paths changed before it.
  returned: always
  type: list
  elements: str
  sample: [/etc/sysctl.d/60-example-netns.conf]
"""

import errno
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def current(path: str) -> tuple[str | None, int | None]:
    """The file's text and permission bits, or (None, None) when it does not exist."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(), os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None, None


def write(module: AnsibleModule, path: str, content: str, mode: int) -> None:
    """Write ``path`` whole through a temporary file in its directory, renamed over it."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".nearzero-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    os.chmod(path, mode)


def refused(path: str, action: str, exc: OSError) -> str:
    """The error message for a write or removal the host refused, with its errno and a fix."""
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    fix = {
        errno.EROFS: "the file system is read-only: remount it read-write or write the file elsewhere",
        errno.EPERM: "the file or its directory is immutable or a security policy forbids it (lsattr, the audit log)",
        errno.EACCES: "permission denied: run the task with become (root)",
        errno.ENOSPC: "the file system is full",
    }.get(exc.errno, "see the error")
    where = f" at {exc.filename}" if exc.filename else ""
    return f"cannot {action} {path}: {name} ({exc.strerror}{where}). Fix: {fix}."


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
            mode = -1
        if not 0 <= mode <= 0o7777:
            module.fail_json(msg=f"mode {spec['mode']!r} of {path} is not an octal string like '0644'")
        text, have_mode = current(path)
        if spec["state"] == "absent":
            if text is not None:
                changed.append(path)
                diffs.append({"before_header": path, "before": text, "after_header": path, "after": ""})
                if not module.check_mode:
                    try:
                        os.unlink(path)
                    except OSError as exc:
                        module.fail_json(msg=refused(path, "remove", exc), changed_paths=changed[:-1])
            continue
        if text == spec["content"] and have_mode == mode:
            continue
        changed.append(path)
        diffs.append({"before_header": f"{path} ({have_mode:04o})" if text is not None else path,
                      "before": text or "", "after_header": f"{path} ({mode:04o})", "after": spec["content"]})
        if module.check_mode:
            continue
        try:
            write(module, path, spec["content"], mode)
        except OSError as exc:
            module.fail_json(msg=refused(path, "write", exc), changed_paths=changed[:-1])
    result = {"changed": bool(changed), "changed_paths": changed}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
