#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: what NVIDIA hardware a host has and what driver state it is in (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_gpu_facts
short_description: Detect NVIDIA GPUs and NVSwitches, and report the driver, Secure Boot and reboot state
description:
  - Lists NVIDIA GPUs (PCI vendor 10de, class 0300/0302) and NVSwitches (vendor 10de, class 0680)
    from C(lspci -D -mm -n), or from sysfs when pciutils is missing.
  - Compares them with what the inventory says (GCE machine type and C(gce.gpus)) and returns
    the disagreements as warnings.
  - Reports the loaded driver from C(/proc/driver/nvidia/version) (version, open or proprietary),
    the module installed for the running kernel (C(modinfo)), whether nouveau is loaded, the
    Secure Boot state (C(mokutil --sb-state), else the EFI variable), C(nvidia-smi -L) and a
    C(nvidia-smi --query-gpu) of persistence, MIG and clocks.
  - Says whether a reboot is needed for the installed driver to be the running one, and why, or
    whether loading the module is enough.
  - Never changes anything.
version_added: "0.1.0"
author: nearzero (!UNKNOWN)
options:
  gce_machine_type:
    description: The instance's machine type (inventory C(gce.machine_type)), to compare with the PCI bus.
    type: str
  gce_gpus:
    description: The instance's accelerators (inventory C(gce.gpus), a list of C({type, count})).
    type: list
    elements: dict
  query_smi:
    description: Run nvidia-smi when the driver is installed.
    type: bool
    default: true
  verify:
    description:
      - Also return C(problems), what is wrong with the GPU host (empty when all is well); see the
        options below for what is wanted.
    type: bool
    default: false
  want_flavour:
    description: Kernel module wanted, C(open) or C(proprietary); empty to accept either.
    type: str
    choices: [open, proprietary, ""]
    default: open
  want_branch:
    description: Driver branch the loaded module must be on (e.g. C(580)); empty to accept any.
    type: str
    default: ""
  want_persistence:
    description: Require persistence mode on every GPU.
    type: bool
    default: true
  fabricmanager_service:
    description: systemd unit of fabric manager, checked where NVSwitches are.
    type: str
    default: nvidia-fabricmanager
  fabricmanager_package:
    description: Package of fabric manager, whose version must equal the loaded driver's.
    type: str
    default: nvidia-fabricmanager
"""

EXAMPLES = r"""
- name: Detect the GPUs and the driver state
  nearzero.gcp.nvidia_gpu_facts:
    gce_machine_type: "{{ gce.machine_type | default(omit) }}"
    gce_gpus: "{{ gce.gpus | default(omit) }}"
  register: gpu
"""

RETURN = r"""
nvidia_gpu:
  description: >-
    C(pci) (C(gpus), C(nvswitches): lists of C({slot, class, vendor, device, ...})), C(pci_source)
    (lspci or sysfs), C(gpu_count), C(nvswitch_count), C(gpu_present), C(expected) (from the inventory
    or null), C(warnings), C(kernel), C(kernel_flavour), C(nouveau_loaded), C(loaded) (null or
    C({version, flavour, arch, gcc})), C(installed_module) (C({version, flavour}), empty strings when
    none), C(secure_boot) (enabled, disabled, unsupported, unknown), C(smi_list), C(smi_query),
    C(smi_error), C(reboot_reasons), C(load_module) (the module is built and only needs loading);
    with I(verify) also C(fabricmanager_active), C(fabricmanager_version)
    and C(problems) (a list of messages, each naming the fix).
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nearzero.gcp.plugins.module_utils.nvidia import (
    SMI_QUERY_FIELDS,
    detection_warnings,
    efi_secure_boot,
    gce_expectation,
    kernel_flavour,
    load_without_reboot,
    module_flavour_from_license,
    nvidia_devices,
    parse_lspci,
    parse_proc_modules,
    parse_proc_version,
    parse_sb_state,
    parse_smi_list,
    parse_smi_query,
    read_sysfs_pci,
    reboot_reasons,
    verification_problems,
)

EFI_SECURE_BOOT = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def secure_boot_state(module: AnsibleModule) -> str:
    mokutil = module.get_bin_path("mokutil")
    if mokutil:
        _rc, out, err = module.run_command([mokutil, "--sb-state"])
        state = parse_sb_state(out + err)
        if state != "unknown":
            return state
    if not os.path.isdir("/sys/firmware/efi"):
        return "unsupported"  # legacy BIOS boot: there is no Secure Boot
    try:
        with open(EFI_SECURE_BOOT, "rb") as fh:
            return efi_secure_boot(fh.read())
    except OSError:
        return "unknown"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "gce_machine_type": {"type": "str"},
            "gce_gpus": {"type": "list", "elements": "dict"},
            "query_smi": {"type": "bool", "default": True},
            "verify": {"type": "bool", "default": False},
            "want_flavour": {"type": "str", "default": "open", "choices": ["open", "proprietary", ""]},
            "want_branch": {"type": "str", "default": ""},
            "want_persistence": {"type": "bool", "default": True},
            "fabricmanager_service": {"type": "str", "default": "nvidia-fabricmanager"},
            "fabricmanager_package": {"type": "str", "default": "nvidia-fabricmanager"},
        },
        supports_check_mode=True,
    )
    lspci = module.get_bin_path("lspci")
    if lspci:
        rc, out, err = module.run_command([lspci, "-D", "-mm", "-n"])
        if rc != 0:
            module.fail_json(msg=f"lspci failed (rc {rc}): {err.strip()}. Fix: check that pciutils works on this host.")
        devices, source = parse_lspci(out), "lspci"
    else:
        devices, source = read_sysfs_pci(), "sysfs"
    pci = nvidia_devices(devices)
    expected = gce_expectation(module.params["gce_machine_type"], module.params["gce_gpus"])

    modules = parse_proc_modules(read_text("/proc/modules") or "")
    loaded = parse_proc_version(read_text("/proc/driver/nvidia/version") or "")
    installed = {"version": "", "flavour": ""}
    modinfo = module.get_bin_path("modinfo", opt_dirs=["/sbin", "/usr/sbin"])
    if modinfo:
        rc, out, _err = module.run_command([modinfo, "-F", "version", "nvidia"])
        if rc == 0 and out.strip():
            installed["version"] = out.strip().splitlines()[0]
            _rc, lic, _err = module.run_command([modinfo, "-F", "license", "nvidia"])
            installed["flavour"] = module_flavour_from_license(lic)

    smi_list = smi_query = None
    smi_error = ""
    smi = module.get_bin_path("nvidia-smi")
    if module.params["query_smi"] and smi:
        rc, out, err = module.run_command([smi, "-L"])
        if rc == 0:
            smi_list = parse_smi_list(out)
            rc, out, err = module.run_command(
                [smi, f"--query-gpu={','.join(SMI_QUERY_FIELDS)}", "--format=csv,noheader,nounits"])
            if rc == 0:
                try:
                    smi_query = parse_smi_query(out)
                except ValueError as exc:
                    smi_error = str(exc)
            else:
                smi_error = (out + err).strip()[-500:]
        else:
            smi_error = (out + err).strip()[-500:]
    elif module.params["query_smi"]:
        smi_error = "nvidia-smi is not installed"

    kernel = os.uname().release
    result = {
        "pci": pci, "pci_source": source, "gpu_count": len(pci["gpus"]), "nvswitch_count": len(pci["nvswitches"]),
        "gpu_present": bool(pci["gpus"]), "expected": expected, "warnings": detection_warnings(pci, expected),
        "kernel": kernel, "kernel_flavour": kernel_flavour(kernel), "nouveau_loaded": "nouveau" in modules,
        "loaded": loaded, "installed_module": installed, "secure_boot": secure_boot_state(module),
        "smi_list": smi_list, "smi_query": smi_query, "smi_error": smi_error,
    }
    result["reboot_reasons"] = reboot_reasons(
        gpu_present=result["gpu_present"], nouveau_loaded=result["nouveau_loaded"], loaded=loaded,
        installed_version=installed["version"], installed_flavour=installed["flavour"])
    result["load_module"] = load_without_reboot(
        gpu_present=result["gpu_present"], nouveau_loaded=result["nouveau_loaded"], loaded=loaded,
        installed_version=installed["version"])
    if module.params["verify"]:
        verify(module, result)
    module.exit_json(changed=False, nvidia_gpu=result)


def verify(module: AnsibleModule, result: dict) -> None:
    """Add fabric manager's state and the list of problems to ``result``."""
    params = module.params
    result["fabricmanager_active"] = None
    result["fabricmanager_version"] = ""
    if result["nvswitch_count"]:
        systemctl = module.get_bin_path("systemctl")
        if systemctl:
            rc, _out, _err = module.run_command([systemctl, "is-active", "--quiet", params["fabricmanager_service"]])
            result["fabricmanager_active"] = rc == 0
        dpkg_query = module.get_bin_path("dpkg-query")
        if dpkg_query:
            rc, out, _err = module.run_command([dpkg_query, "-W", "-f=${Version}", params["fabricmanager_package"]])
            result["fabricmanager_version"] = out.strip() if rc == 0 else ""
    result["problems"] = verification_problems(
        result, want_flavour=params["want_flavour"], want_branch=params["want_branch"],
        want_persistence=params["want_persistence"], fabricmanager_active=result["fabricmanager_active"],
        fabricmanager_version=result["fabricmanager_version"])


if __name__ == "__main__":
    main()
