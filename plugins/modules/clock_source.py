#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Choose the clock chrony follows: the hypervisor's PTP clock (ptp_kvm) where the VM has one, else NTP."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: clock_source
short_description: Choose between the ptp_kvm reference clock and the metadata server's NTP for chrony
version_added: "0.1.0"
description:
  - On Compute Engine, machine types and zones that offer "accurate time" expose the host's clock to the
    guest as a KVM virtual PTP clock (kernel module C(ptp_kvm), device C(/dev/ptp_kvm) or C(/dev/ptpN)).
    chrony reading it directly (a C(refclock PHC)) is accurate to a few microseconds; NTP from the
    metadata server is accurate to tens or hundreds of microseconds.
  - The module looks for a PTP clock whose C(clock_name) is C(KVM virtual PTP) under C(/sys/class/ptp). In
    O(mode=auto) or O(mode=ptp_kvm) it loads C(ptp_kvm) first when no such clock is there (never in check
    mode). It reports the choice and why, so a host that falls back to NTP says so.
  - A container shares its host's kernel and cannot load modules; it reports NTP with the reason.
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Never loads the kernel module in check mode; reports what it would choose from what is there.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  mode:
    description:
      - V(auto) uses ptp_kvm where the VM offers it and NTP elsewhere.
      - V(ptp_kvm) fails when the VM has no KVM PTP clock (for fleets that must have accurate time).
      - V(ntp) never uses ptp_kvm.
    type: str
    choices: [auto, ptp_kvm, ntp]
    default: auto
  load_module:
    description: Load the C(ptp_kvm) kernel module when no KVM PTP clock is present yet.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Choose chrony's reference clock
  nearzero.gcp.clock_source:
    mode: auto
  register: clock

- name: Report it
  ansible.builtin.debug:
    msg: "{{ clock.source }} ({{ clock.reason }})"
"""

RETURN = r"""
source:
  description: V(ptp_kvm) or V(ntp).
  returned: always
  type: str
  sample: ptp_kvm
device:
  description: The PTP device chrony reads (the stable C(/dev/ptp_kvm) link where udev made one); empty for NTP.
  returned: always
  type: str
  sample: /dev/ptp_kvm
reason:
  description: Why this source was chosen, in words.
  returned: always
  type: str
  sample: "KVM virtual PTP clock ptp0 present"
module_loaded:
  description: Whether this run loaded C(ptp_kvm).
  returned: always
  type: bool
"""

import os
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

KVM_CLOCK_NAME = "KVM virtual PTP"
SYS_CLASS_PTP = Path("/sys/class/ptp")
STABLE_LINK = Path("/dev/ptp_kvm")


def find_kvm_ptp(sys_class_ptp: Path) -> str:
    """The name (ptpN) of the KVM virtual PTP clock, or '' when the kernel exposes none.

    A NIC's hardware clock is also a ptpN device; only the clock_name tells them apart.
    """
    if not sys_class_ptp.is_dir():
        return ""
    for entry in sorted(sys_class_ptp.iterdir()):
        try:
            name = (entry / "clock_name").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if name == KVM_CLOCK_NAME:
            return entry.name
    return ""


def device_for(clock: str) -> str:
    """The path chrony should read: udev's /dev/ptp_kvm link when it points at this clock, else /dev/ptpN.

    ptpN numbers follow probe order and can change across boots; the link cannot.
    """
    if STABLE_LINK.is_symlink() and os.path.realpath(STABLE_LINK) == f"/dev/{clock}":
        return str(STABLE_LINK)
    return f"/dev/{clock}"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "choices": ["auto", "ptp_kvm", "ntp"], "default": "auto"},
            "load_module": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    mode = module.params["mode"]
    result = {"changed": False, "source": "ntp", "device": "", "reason": "", "module_loaded": False}
    if mode == "ntp":
        result["reason"] = "ptp_kvm not wanted (mode ntp)"
        module.exit_json(**result)

    clock = find_kvm_ptp(SYS_CLASS_PTP)
    why_missing = "no KVM virtual PTP clock under /sys/class/ptp"
    if not clock and module.params["load_module"]:
        if module.check_mode:
            why_missing += " (check mode: ptp_kvm not loaded to look again)"
        else:
            modprobe = module.get_bin_path("modprobe")
            if modprobe is None:
                why_missing += "; modprobe not found"
            else:
                rc, _out, err = module.run_command([modprobe, "ptp_kvm"])
                if rc != 0:
                    why_missing += f"; modprobe ptp_kvm failed: {err.strip() or 'rc ' + str(rc)}"
                else:
                    clock = find_kvm_ptp(SYS_CLASS_PTP)
                    if clock:
                        result["module_loaded"] = result["changed"] = True
                    else:
                        why_missing += (
                            "; ptp_kvm loaded but the hypervisor offers no PTP clock (machine type or zone "
                            "without accurate time, or not KVM)")

    if clock:
        result.update(source="ptp_kvm", device=device_for(clock), reason=f"KVM virtual PTP clock {clock} present")
    elif mode == "ptp_kvm":
        module.fail_json(
            msg=(f"base_time_ptp_kvm is 'ptp_kvm' but this host has no KVM PTP clock: {why_missing}. Fix: use a "
                 "machine type and zone that offer accurate time, or set base_time_ptp_kvm to 'auto' to fall back "
                 "to the metadata server's NTP."),
            **result)
    else:
        result["reason"] = f"{why_missing}; NTP from the configured sources"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
