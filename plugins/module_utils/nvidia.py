"""Parsers and decisions for the nvidia_gpu role: what the host has, what it runs, what is wrong.

Everything here is pure (text in, data out) so it can be tested on captured outputs without a
GPU (tests/fixtures/nvidia/). The module ``nvidia_gpu_facts`` runs the commands and reads the
files; the role asserts on the result of :func:`verification_problems`.
"""

from __future__ import annotations

import os
import re
import shlex

NVIDIA_VENDOR = "10de"
# PCI classes: 0300 VGA-compatible controller, 0302 3D controller (data-centre GPUs),
# 0680 "other bridge", which is how NVSwitch devices present themselves.
GPU_CLASSES = ("0300", "0302")
NVSWITCH_CLASS = "0680"

_HEX4 = re.compile(r"^[0-9a-fA-F]{4}$")
_BRACKETED = re.compile(r"\[([0-9a-fA-F]{4})\]\s*$")


def _hex_id(field: str) -> str:
    """The 4-digit id of an lspci -mm field, numeric (``-n``) or named with ``-nn`` (``Name [10de]``)."""
    field = field.strip()
    if _HEX4.match(field):
        return field.lower()
    match = _BRACKETED.search(field)
    return match.group(1).lower() if match else ""


def parse_lspci(text: str) -> list[dict]:
    """Parse ``lspci -D -mm -n`` (or ``-nn``) output into devices.

    A line is ``SLOT "CLASS" "VENDOR" "DEVICE" [-rREV] [-pPROGIF] ["SVENDOR" "SDEVICE"]``;
    lines that do not have that shape are ignored (lspci prints warnings on some kernels).
    """
    devices = []
    for line in text.splitlines():
        try:
            parts = shlex.split(line)
        except ValueError:
            continue
        if len(parts) < 4:
            continue
        slot = parts[0]
        if ":" not in slot:
            continue
        positional = [p for p in parts[1:] if not re.match(r"^-[rp][0-9a-fA-F]+$", p)]
        flags = {p[1]: p[2:].lower() for p in parts[1:] if re.match(r"^-[rp][0-9a-fA-F]+$", p)}
        if len(positional) < 3:
            continue
        class_id, vendor, device = (_hex_id(p) for p in positional[:3])
        if not (class_id and vendor and device):
            continue
        if slot.count(":") == 1:  # lspci without -D omits the PCI domain
            slot = "0000:" + slot
        devices.append({
            "slot": slot.lower(), "class": class_id, "vendor": vendor, "device": device,
            "revision": flags.get("r", ""),
            "subsystem_vendor": _hex_id(positional[3]) if len(positional) > 3 else "",
            "subsystem_device": _hex_id(positional[4]) if len(positional) > 4 else "",
        })
    return devices


def read_sysfs_pci(sys_root: str = "/sys") -> list[dict]:
    """The same device list as :func:`parse_lspci`, read from sysfs (when pciutils is missing)."""
    base = os.path.join(sys_root, "bus", "pci", "devices")
    devices = []
    try:
        slots = sorted(os.listdir(base))
    except OSError:
        return devices

    def read(slot: str, name: str) -> str:
        try:
            with open(os.path.join(base, slot, name), encoding="ascii") as fh:
                return fh.read().strip().lower()
        except OSError:
            return ""

    for slot in slots:
        vendor, device, pci_class = read(slot, "vendor"), read(slot, "device"), read(slot, "class")
        if not (vendor and device and pci_class):
            continue
        devices.append({
            "slot": slot.lower(), "class": pci_class.removeprefix("0x")[:4], "vendor": vendor.removeprefix("0x"),
            "device": device.removeprefix("0x"), "revision": read(slot, "revision").removeprefix("0x"),
            "subsystem_vendor": read(slot, "subsystem_vendor").removeprefix("0x"),
            "subsystem_device": read(slot, "subsystem_device").removeprefix("0x"),
        })
    return devices


def nvidia_devices(devices: list[dict]) -> dict:
    """Split the NVIDIA devices into GPUs (class 0300/0302) and NVSwitches (class 0680)."""
    nvidia = [d for d in devices if d["vendor"] == NVIDIA_VENDOR]
    return {
        "gpus": [d for d in nvidia if d["class"] in GPU_CLASSES],
        "nvswitches": [d for d in nvidia if d["class"] == NVSWITCH_CLASS],
    }


_SMI_GPU = re.compile(r"^GPU (\d+): (.+?) \(UUID: (GPU-[0-9a-fA-F-]+)\)\s*$")
_SMI_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[0-9a-zA-Z/-]+)\)\s*$")


def parse_smi_list(text: str) -> list[dict]:
    """Parse ``nvidia-smi -L``: one entry per GPU, with its MIG devices (if any) under ``mig``."""
    gpus: list[dict] = []
    for line in text.splitlines():
        gpu = _SMI_GPU.match(line)
        if gpu:
            gpus.append({"index": int(gpu.group(1)), "name": gpu.group(2), "uuid": gpu.group(3), "mig": []})
            continue
        mig = _SMI_MIG.match(line)
        if mig and gpus:
            gpus[-1]["mig"].append({"profile": mig.group(1), "index": int(mig.group(2)), "uuid": mig.group(3)})
    return gpus


# What the role asks nvidia-smi for, in this order (--query-gpu=...,--format=csv,noheader,nounits).
SMI_QUERY_FIELDS = (
    "index", "pci.bus_id", "name", "driver_version", "persistence_mode", "mig.mode.current",
    "clocks.applications.graphics", "clocks.applications.memory", "clocks.max.graphics", "clocks.max.memory",
)


def parse_smi_query(text: str, fields: tuple[str, ...] = SMI_QUERY_FIELDS) -> list[dict]:
    """Parse ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits``.

    Numbers become ints; ``[N/A]``, ``N/A`` and ``[Not Supported]`` become None. The PCI bus id
    is normalised to the lower-case ``0000:xx:yy.z`` form lspci uses (nvidia-smi prints an
    8-digit domain in upper case).
    """
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(fields):
            raise ValueError(f"nvidia-smi query line has {len(values)} fields, expected {len(fields)}: {line!r}")
        row: dict = {}
        for field, value in zip(fields, values, strict=True):
            if value in ("[N/A]", "N/A", "[Not Supported]", "Not Supported", ""):
                row[field] = None
            elif field == "pci.bus_id":
                row[field] = normalise_bus_id(value)
            elif re.match(r"^-?\d+$", value):
                row[field] = int(value)
            else:
                row[field] = value
        rows.append(row)
    return rows


def normalise_bus_id(bus_id: str) -> str:
    """``00000000:04:00.0`` (nvidia-smi) -> ``0000:04:00.0`` (lspci -D)."""
    bus_id = bus_id.strip().lower()
    domain, _sep, rest = bus_id.partition(":")
    if rest and len(domain) > 4:
        domain = domain[-4:]
    return f"{domain}:{rest}" if rest else bus_id


_PROC_VERSION = re.compile(
    r"^NVRM version: NVIDIA UNIX (?P<open>Open Kernel Module for )?(?P<arch>\S+)\s+(?:Kernel Module\s+)?"
    r"(?P<version>\d+\.\d+(?:\.\d+)?)\s", re.MULTILINE)


def parse_proc_version(text: str) -> dict | None:
    """Parse ``/proc/driver/nvidia/version``; None when it is not a loaded NVIDIA driver's.

    The open kernel module says ``NVIDIA UNIX Open Kernel Module for x86_64  580.95.05 ...``,
    the proprietary one ``NVIDIA UNIX x86_64 Kernel Module  580.95.05 ...``.
    """
    match = _PROC_VERSION.search(text)
    if not match:
        return None
    gcc = re.search(r"^GCC version:\s+(.+)$", text, re.MULTILINE)
    return {
        "version": match.group("version"),
        "flavour": "open" if match.group("open") else "proprietary",
        "arch": match.group("arch"),
        "gcc": gcc.group(1).strip() if gcc else "",
    }


def module_flavour_from_license(license_text: str) -> str:
    """``modinfo -F license nvidia``: the open module is ``Dual MIT/GPL``, the proprietary one ``NVIDIA``."""
    lic = license_text.strip()
    if not lic:
        return ""
    return "open" if "GPL" in lic else "proprietary"


def parse_sb_state(text: str) -> str:
    """Secure Boot state from ``mokutil --sb-state`` (stdout and stderr): enabled, disabled, unsupported, unknown."""
    low = text.lower()
    if "secureboot enabled" in low:
        return "enabled"
    if "secureboot disabled" in low:
        return "disabled"
    if "not supported" in low or "doesn't support" in low or "does not support" in low:
        return "unsupported"
    return "unknown"


def efi_secure_boot(efivars_text: bytes | None) -> str:
    """Secure Boot from the raw ``SecureBoot-8be4df61-...`` efivar (4 attribute bytes, then 1 value byte)."""
    if efivars_text is None:
        return "unsupported"
    if len(efivars_text) < 5:
        return "unknown"
    return "enabled" if efivars_text[4] == 1 else "disabled"


def parse_proc_modules(text: str) -> list[str]:
    """Names of the loaded modules from ``/proc/modules``."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


_KERNEL = re.compile(r"^\d+\.\d+(?:\.\d+)?-\d+(?:\.\d+)*-(?P<flavour>[a-z][a-z0-9-]*)$")


def kernel_flavour(release: str) -> str:
    """``6.1.0-27-cloud-amd64`` -> ``cloud-amd64``; ``6.8.0-1015-gcp`` -> ``gcp``; '' when not a distro kernel."""
    match = _KERNEL.match(release.strip())
    return match.group("flavour") if match else ""


# GCE machine types with GPUs built in: (GPU count, NVSwitch fabric). Accelerator-optimised
# families only; N1 takes attached GPUs, which the inventory lists under gce.gpus.
_GCE_FIXED = {
    "a4-highgpu-8g": (8, True),
    "a3-ultragpu-8g": (8, True),
    "a3-megagpu-8g": (8, True),
    "a3-edgegpu-8g": (8, True),
    "a3-highgpu-8g": (8, True),
    "a2-megagpu-16g": (16, True),
    "a2-highgpu-8g": (8, True),
    "a2-ultragpu-8g": (8, True),
    "g2-standard-24": (2, False),
    "g2-standard-48": (4, False),
    "g2-standard-96": (8, False),
}
_GCE_PATTERN = re.compile(r"^(?:a2-highgpu|a2-ultragpu|a3-highgpu)-(\d+)g$")


def gce_expectation(machine_type: str | None, gpus: list | None) -> dict | None:
    """What the inventory says this VM has: ``{"gpus": N, "nvswitch": bool, "source": ...}`` or None.

    ``gpus`` is the inventory's ``gce.gpus`` (``[{type, count}]``); it wins over the machine type
    because it is what the instance was created with.
    """
    if gpus:
        count = sum(int(g.get("count", 1)) for g in gpus if isinstance(g, dict))
        mt = _GCE_FIXED.get(machine_type or "")
        return {"gpus": count, "nvswitch": bool(mt and mt[1] and mt[0] == count), "source": "gce.gpus"}
    machine_type = (machine_type or "").rsplit("/", 1)[-1]
    if machine_type in _GCE_FIXED:
        count, fabric = _GCE_FIXED[machine_type]
        return {"gpus": count, "nvswitch": fabric, "source": f"machine type {machine_type}"}
    match = _GCE_PATTERN.match(machine_type)
    if match:
        return {"gpus": int(match.group(1)), "nvswitch": False, "source": f"machine type {machine_type}"}
    if machine_type.startswith("g2-standard-"):
        return {"gpus": 1, "nvswitch": False, "source": f"machine type {machine_type}"}
    return None


def detection_warnings(pci: dict, expected: dict | None) -> list[str]:
    """Disagreements between the PCI bus and the inventory, worded for an operator."""
    if expected is None:
        return []
    warnings = []
    found = len(pci["gpus"])
    if found != expected["gpus"]:
        warnings.append(
            f"the inventory ({expected['source']}) says {expected['gpus']} GPU(s) but the PCI bus shows {found} "
            "NVIDIA GPU(s) (vendor 10de, class 0300/0302). Check the instance's accelerators "
            "(gcloud compute instances describe) and that this is the host you meant.")
    if expected["nvswitch"] and found and not pci["nvswitches"]:
        warnings.append(f"{expected['source']} normally has NVSwitch devices but none is on the PCI bus "
                        "(vendor 10de, class 0680); fabric manager will not be installed.")
    return warnings


def reboot_reasons(*, gpu_present: bool, nouveau_loaded: bool, loaded: dict | None, installed_version: str,
                   installed_flavour: str) -> list[str]:
    """Why the host must reboot for the installed driver to be the running one; [] when it need not.

    ``loaded`` is :func:`parse_proc_version` of the running driver (None when not loaded);
    ``installed_version``/``installed_flavour`` describe the module on disk for the running
    kernel (``modinfo``), '' when none is built. A module that is built but not loaded, with
    nouveau out of the way, needs no reboot: :func:`load_without_reboot` says so.
    """
    if not gpu_present:
        return []
    reasons = []
    if nouveau_loaded:
        reasons.append("nouveau is loaded and holds the GPU")
    if not installed_version or loaded is None:
        return reasons
    if loaded["version"] != installed_version:
        reasons.append(f"the loaded nvidia module is {loaded['version']} but {installed_version} is installed "
                       "(the 'Driver/library version mismatch' state)")
    if installed_flavour and loaded["flavour"] != installed_flavour:
        reasons.append(f"the loaded module is the {loaded['flavour']} one, the installed one is {installed_flavour}")
    return reasons


def load_without_reboot(*, gpu_present: bool, nouveau_loaded: bool, loaded: dict | None,
                        installed_version: str) -> bool:
    """True when ``modprobe nvidia`` is all it takes: built for this kernel, nothing holds the GPU."""
    return gpu_present and not nouveau_loaded and loaded is None and bool(installed_version)


def verification_problems(facts: dict, *, want_flavour: str, want_branch: str, want_persistence: bool,
                          fabricmanager_active: bool | None, fabricmanager_version: str = "") -> list[str]:
    """What is wrong with a GPU host, from the facts of ``nvidia_gpu_facts``; [] when all is well.

    Each entry names the problem and the fix. Checks: GPU count from nvidia-smi equals the PCI
    count; the loaded module has the wanted flavour, is on the wanted branch and is the one
    installed; persistence mode is on for every GPU; fabric manager runs where NVSwitches are,
    at the driver's exact version (``fabricmanager_version`` is its package version, e.g. ``580.95.05-1``).
    """
    problems = []
    pci_count = len(facts["pci"]["gpus"])
    smi = facts.get("smi_list")
    if smi is None:
        problems.append("nvidia-smi is missing or failed "
                        f"({facts.get('smi_error') or 'not found'}). Fix: install the driver (run the role without "
                        "nvidia_gpu_verify_only) and reboot if it says so.")
    elif len(smi) != pci_count:
        problems.append(f"nvidia-smi -L lists {len(smi)} GPU(s) but the PCI bus has {pci_count}. A GPU has fallen off "
                        "the bus or failed to initialise: check `dmesg | grep -i -e NVRM -e Xid`.")
    loaded = facts.get("loaded")
    if loaded is None:
        problems.append("the nvidia kernel module is not loaded (/proc/driver/nvidia/version is missing). "
                        "Fix: reboot, or check `dkms status` and `journalctl -k | grep -i nvidia`.")
    else:
        if want_flavour and loaded["flavour"] != want_flavour:
            problems.append(f"the loaded module is the {loaded['flavour']} kernel module, {want_flavour} is wanted "
                            "(/proc/driver/nvidia/version). Fix: set nvidia_gpu_open_kernel_modules to match, "
                            "run the role and reboot.")
        if want_branch and not loaded["version"].startswith(f"{want_branch}."):
            problems.append(f"the loaded driver is {loaded['version']}, not on branch {want_branch}. Fix: check "
                            "/etc/apt/preferences.d and run the role.")
        installed = facts.get("installed_module", {}).get("version", "")
        if installed and installed != loaded["version"]:
            problems.append(f"the loaded module is {loaded['version']} but {installed} is installed: reboot "
                            "(with nvidia_gpu_reboot: true the role does it).")
    if want_persistence:
        off = [str(r.get("index")) for r in facts.get("smi_query") or [] if r.get("persistence_mode") != "Enabled"]
        if off:
            problems.append(f"persistence mode is off on GPU(s) {', '.join(off)}. Fix: enable and start "
                            "nvidia-persistenced (the role does unless nvidia_gpu_verify_only).")
    if facts["pci"]["nvswitches"] and fabricmanager_active is False:
        problems.append(f"{len(facts['pci']['nvswitches'])} NVSwitch device(s) but nvidia-fabricmanager is not "
                        "running: CUDA fails with error 802 (system not yet initialized). Fix: install the "
                        "fabric manager of the same driver version and start it.")
    fm_upstream = fabricmanager_version.split(":")[-1].rsplit("-", 1)[0] if fabricmanager_version else ""
    if facts["pci"]["nvswitches"] and fm_upstream and loaded and fm_upstream != loaded["version"]:
        problems.append(f"fabric manager {fm_upstream} does not match the driver {loaded['version']}: it refuses to "
                        "start. Fix: install the fabric manager of the driver's exact version (the role's apt "
                        "preferences hold both on one branch) and reboot.")
    return problems
