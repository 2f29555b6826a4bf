"""Parsers and decisions of the nvidia_gpu role on outputs in tests/fixtures/nvidia/ (see its README)."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / ".collections"))

from ansible_collections.nearzero.gcp.plugins.module_utils.nvidia import (
    SMI_QUERY_FIELDS,
    detection_warnings,
    efi_secure_boot,
    gce_expectation,
    kernel_flavour,
    load_without_reboot,
    module_flavour_from_license,
    normalise_bus_id,
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

FIX = Path(__file__).resolve().parents[3] / "fixtures" / "nvidia"


def text(name: str) -> str:
    return (FIX / name).read_text()


def pci_of(name: str) -> dict:
    return nvidia_devices(parse_lspci(text(name)))


# --- detection --------------------------------------------------------------------------------

def test_a3_highgpu_8g_has_eight_h100_and_four_nvswitches():
    devices = parse_lspci(text("lspci-a3-highgpu-8g.txt"))
    assert len(devices) == 17
    pci = nvidia_devices(devices)
    assert [g["slot"] for g in pci["gpus"]] == [
        "0000:04:00.0", "0000:05:00.0", "0000:0a:00.0", "0000:0b:00.0",
        "0000:84:00.0", "0000:85:00.0", "0000:8a:00.0", "0000:8b:00.0"]
    assert {g["device"] for g in pci["gpus"]} == {"2330"}
    assert pci["gpus"][0]["revision"] == "a1"
    assert pci["gpus"][0]["subsystem_device"] == "16c1"
    assert [s["device"] for s in pci["nvswitches"]] == ["22a3"] * 4


def test_intel_bridge_of_class_0680_is_not_an_nvswitch():
    # The PIIX4 ACPI function is class 0680 too, but vendor 8086.
    pci = pci_of("lspci-a3-highgpu-8g.txt")
    assert all(s["vendor"] == "10de" for s in pci["nvswitches"])
    assert "0000:00:01.3" not in [s["slot"] for s in pci["nvswitches"]]


def test_g2_has_one_l4_and_no_nvswitch():
    pci = pci_of("lspci-g2-standard-4.txt")
    assert [(g["slot"], g["device"], g["class"]) for g in pci["gpus"]] == [("0000:00:06.0", "27b8", "0302")]
    assert pci["nvswitches"] == []


def test_named_lspci_output_is_understood():
    pci = pci_of("lspci-n1-t4-names.txt")
    assert [(g["device"], g["class"], g["subsystem_device"]) for g in pci["gpus"]] == [("1eb8", "0302", "12a2")]


def test_vga_class_counts_but_the_gpus_audio_function_does_not():
    pci = pci_of("lspci-workstation-vga.txt")
    assert [g["slot"] for g in pci["gpus"]] == ["0000:01:00.0"]  # the Intel iGPU (0300, 8086) is not NVIDIA


def test_no_gpu():
    assert pci_of("lspci-lab-container.txt") == {"gpus": [], "nvswitches": []}


def test_lspci_without_domain_and_noise_lines():
    devices = parse_lspci('pcilib: sysfs_read_vpd: read failed\n04:00.0 "0302" "10de" "2330" -ra1 "10de" "16c1"\n'
                          'garbage "unterminated\n\n')
    assert [d["slot"] for d in devices] == ["0000:04:00.0"]


def test_sysfs_reader_on_the_captured_build_host(tmp_path):
    # kept as an archive: sysfs names hold ':', which a collection may not ship
    with tarfile.open(FIX / "sysfs-build-host.tar.gz") as archive:
        archive.extractall(tmp_path, filter="tar")
    devices = read_sysfs_pci(str(tmp_path / "sysfs-build-host"))
    assert len(devices) == 6
    assert {d["vendor"] for d in devices} == {"8086", "1af4"}
    assert devices[3]["class"] == "0200"
    assert nvidia_devices(devices) == {"gpus": [], "nvswitches": []}


def test_sysfs_reader_finds_a_gpu(tmp_path):
    dev = tmp_path / "bus" / "pci" / "devices" / "0000:00:05.0"
    dev.mkdir(parents=True)
    for name, value in {"class": "0x030200", "vendor": "0x10de", "device": "0x1eb8", "revision": "0xa1",
                        "subsystem_vendor": "0x10de", "subsystem_device": "0x12a2"}.items():
        (dev / name).write_text(value + "\n")
    pci = nvidia_devices(read_sysfs_pci(str(tmp_path)))
    assert [(g["slot"], g["class"], g["device"]) for g in pci["gpus"]] == [("0000:00:05.0", "0302", "1eb8")]


def test_sysfs_reader_without_pci_bus(tmp_path):
    assert read_sysfs_pci(str(tmp_path)) == []


# --- inventory expectations -------------------------------------------------------------------

@pytest.mark.parametrize(("machine_type", "gpus", "expected"), [
    ("a3-highgpu-8g", None, {"gpus": 8, "nvswitch": True, "source": "machine type a3-highgpu-8g"}),
    ("a3-highgpu-2g", None, {"gpus": 2, "nvswitch": False, "source": "machine type a3-highgpu-2g"}),
    ("a2-megagpu-16g", None, {"gpus": 16, "nvswitch": True, "source": "machine type a2-megagpu-16g"}),
    ("g2-standard-4", None, {"gpus": 1, "nvswitch": False, "source": "machine type g2-standard-4"}),
    ("g2-standard-48", None, {"gpus": 4, "nvswitch": False, "source": "machine type g2-standard-48"}),
    ("zones/us-east4-a/machineTypes/a3-ultragpu-8g", None,
     {"gpus": 8, "nvswitch": True, "source": "machine type a3-ultragpu-8g"}),
    ("n1-standard-8", [{"type": "nvidia-tesla-t4", "count": 2}], {"gpus": 2, "nvswitch": False, "source": "gce.gpus"}),
    ("a3-highgpu-8g", [{"type": "nvidia-h100-80gb", "count": 8}], {"gpus": 8, "nvswitch": True, "source": "gce.gpus"}),
    ("c3-standard-8", None, None),
    (None, [], None),
])
def test_gce_expectation(machine_type, gpus, expected):
    assert gce_expectation(machine_type, gpus) == expected


def test_detection_warns_when_inventory_and_pci_disagree():
    none = pci_of("lspci-lab-container.txt")
    warnings = detection_warnings(none, gce_expectation("a3-highgpu-1g", [{"type": "nvidia-h100-80gb", "count": 1}]))
    assert len(warnings) == 1
    assert "says 1 GPU(s) but the PCI bus shows 0" in warnings[0]
    assert detection_warnings(pci_of("lspci-a3-highgpu-8g.txt"), gce_expectation("a3-highgpu-8g", None)) == []
    assert detection_warnings(none, None) == []


def test_detection_warns_when_nvswitches_are_missing():
    gpus_only = pci_of("lspci-a3-highgpu-8g.txt")
    gpus_only["nvswitches"] = []
    warnings = detection_warnings(gpus_only, gce_expectation("a3-highgpu-8g", None))
    assert len(warnings) == 1 and "NVSwitch" in warnings[0]


# --- nvidia-smi -------------------------------------------------------------------------------

def test_smi_list_eight_gpus():
    gpus = parse_smi_list(text("smi-L-a3-highgpu-8g.txt"))
    assert [g["index"] for g in gpus] == list(range(8))
    assert gpus[0]["name"] == "NVIDIA H100 80GB HBM3"
    assert gpus[7]["uuid"] == "GPU-7b3d8fb8-6c2a-4e1f-f2d7-9c4a2e6f8b7e"
    assert all(g["mig"] == [] for g in gpus)


def test_smi_list_with_mig_devices():
    gpus = parse_smi_list(text("smi-L-a2-mig.txt"))
    assert len(gpus) == 1
    assert [(m["profile"], m["index"]) for m in gpus[0]["mig"]] == [("3g.20gb", 0), ("2g.10gb", 1), ("1g.5gb", 2)]


def test_smi_list_of_an_error_message_is_empty():
    assert parse_smi_list("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n") == []


def test_smi_query():
    rows = parse_smi_query(text("smi-query-a3-highgpu-8g.csv"))
    assert len(rows) == 8
    assert rows[2] == {
        "index": 2, "pci.bus_id": "0000:0a:00.0", "name": "NVIDIA H100 80GB HBM3", "driver_version": "580.95.05",
        "persistence_mode": "Enabled", "mig.mode.current": "Disabled", "clocks.applications.graphics": 1980,
        "clocks.applications.memory": 2619, "clocks.max.graphics": 1980, "clocks.max.memory": 2619}
    # the bus ids line up with lspci's
    assert {r["pci.bus_id"] for r in rows} == {g["slot"] for g in pci_of("lspci-a3-highgpu-8g.txt")["gpus"]}


def test_smi_query_not_applicable_and_wrong_width():
    (row,) = parse_smi_query(text("smi-query-g2-persistence-off.csv"))
    assert row["mig.mode.current"] is None and row["persistence_mode"] == "Disabled"
    with pytest.raises(ValueError, match="expected 10"):
        parse_smi_query("0, 00000000:04:00.0, H100\n")
    assert len(SMI_QUERY_FIELDS) == 10


def test_normalise_bus_id():
    assert normalise_bus_id("00000000:8B:00.0") == "0000:8b:00.0"
    assert normalise_bus_id("0000:04:00.0") == "0000:04:00.0"


# --- driver, kernel, Secure Boot --------------------------------------------------------------

def test_proc_version_open():
    assert parse_proc_version(text("proc-driver-version-open-580.txt")) == {
        "version": "580.95.05", "flavour": "open", "arch": "x86_64",
        "gcc": "gcc version 12.2.0 (Debian 12.2.0-14+deb12u1)"}


def test_proc_version_proprietary():
    parsed = parse_proc_version(text("proc-driver-version-proprietary-535.txt"))
    assert (parsed["version"], parsed["flavour"], parsed["arch"]) == ("535.104.05", "proprietary", "x86_64")


def test_proc_version_absent_or_foreign():
    assert parse_proc_version("") is None
    assert parse_proc_version("Linux version 6.1.0-27-cloud-amd64\n") is None


def test_module_flavour_from_license():
    assert module_flavour_from_license("Dual MIT/GPL\n") == "open"
    assert module_flavour_from_license("NVIDIA\n") == "proprietary"
    assert module_flavour_from_license("") == ""


@pytest.mark.parametrize(("name", "state"), [
    ("mokutil-sb-state-enabled.txt", "enabled"),
    ("mokutil-sb-state-disabled.txt", "disabled"),
    ("mokutil-sb-state-no-efi.txt", "unsupported"),
])
def test_secure_boot_from_mokutil(name, state):
    assert parse_sb_state(text(name)) == state


def test_secure_boot_unknown_and_efivar():
    assert parse_sb_state("") == "unknown"
    assert efi_secure_boot(None) == "unsupported"
    assert efi_secure_boot(b"\x06\x00\x00\x00\x01") == "enabled"
    assert efi_secure_boot(b"\x06\x00\x00\x00\x00") == "disabled"
    assert efi_secure_boot(b"\x06") == "unknown"


def test_proc_modules():
    assert "nouveau" in parse_proc_modules(text("proc-modules-nouveau.txt"))
    mods = parse_proc_modules(text("proc-modules-nvidia.txt"))
    assert "nvidia" in mods and "nouveau" not in mods


@pytest.mark.parametrize(("release", "flavour"), [
    ("6.1.0-27-cloud-amd64", "cloud-amd64"),
    ("6.1.0-27-amd64", "amd64"),
    ("6.8.0-1015-gcp", "gcp"),
    ("5.15.0-1050-gcp", "gcp"),
    ("6.8.0-45-generic", "generic"),
    ("6.18.44-fc-v669", ""),  # the build machine's own kernel: not a distribution kernel
])
def test_kernel_flavour(release, flavour):
    assert kernel_flavour(release) == flavour


# --- reboot policy ----------------------------------------------------------------------------

OPEN_580 = {"version": "580.95.05", "flavour": "open", "arch": "x86_64", "gcc": ""}


def test_no_reboot_without_gpu_even_with_nouveau():
    assert reboot_reasons(gpu_present=False, nouveau_loaded=True, loaded=None, installed_version="580.95.05",
                          installed_flavour="open") == []


def test_no_reboot_when_the_installed_driver_runs():
    assert reboot_reasons(gpu_present=True, nouveau_loaded=False, loaded=OPEN_580, installed_version="580.95.05",
                          installed_flavour="open") == []


def test_reboot_after_an_upgrade_mismatch():
    reasons = reboot_reasons(gpu_present=True, nouveau_loaded=False, loaded=OPEN_580, installed_version="580.105.08",
                             installed_flavour="open")
    assert len(reasons) == 1 and "580.95.05 but 580.105.08 is installed" in reasons[0]


def test_reboot_for_nouveau_but_not_for_a_module_that_only_needs_loading():
    reasons = reboot_reasons(gpu_present=True, nouveau_loaded=True, loaded=None, installed_version="580.95.05",
                             installed_flavour="open")
    assert reasons == ["nouveau is loaded and holds the GPU"]
    assert not load_without_reboot(gpu_present=True, nouveau_loaded=True, loaded=None, installed_version="580.95.05")
    assert reboot_reasons(gpu_present=True, nouveau_loaded=False, loaded=None, installed_version="580.95.05",
                          installed_flavour="open") == []
    assert load_without_reboot(gpu_present=True, nouveau_loaded=False, loaded=None, installed_version="580.95.05")


def test_nothing_to_load():
    assert not load_without_reboot(gpu_present=True, nouveau_loaded=False, loaded=OPEN_580,
                                   installed_version="580.95.05")
    assert not load_without_reboot(gpu_present=True, nouveau_loaded=False, loaded=None, installed_version="")
    assert not load_without_reboot(gpu_present=False, nouveau_loaded=False, loaded=None, installed_version="580.95.05")


def test_reboot_when_switching_to_the_open_module():
    proprietary = {**OPEN_580, "flavour": "proprietary"}
    reasons = reboot_reasons(gpu_present=True, nouveau_loaded=False, loaded=proprietary,
                             installed_version="580.95.05", installed_flavour="open")
    assert reasons == ["the loaded module is the proprietary one, the installed one is open"]


def test_no_reboot_before_anything_is_built():
    assert reboot_reasons(gpu_present=True, nouveau_loaded=False, loaded=None, installed_version="",
                          installed_flavour="") == []


# --- verification -----------------------------------------------------------------------------

def healthy_a3() -> dict:
    return {
        "pci": pci_of("lspci-a3-highgpu-8g.txt"),
        "smi_list": parse_smi_list(text("smi-L-a3-highgpu-8g.txt")),
        "smi_query": parse_smi_query(text("smi-query-a3-highgpu-8g.csv")),
        "loaded": parse_proc_version(text("proc-driver-version-open-580.txt")),
        "installed_module": {"version": "580.95.05", "flavour": "open"},
    }


def problems(facts: dict, **kw) -> list[str]:
    args = {"want_flavour": "open", "want_branch": "580", "want_persistence": True, "fabricmanager_active": True}
    args.update(kw)
    return verification_problems(facts, **args)


def test_healthy_a3_passes():
    assert problems(healthy_a3()) == []


def test_a_missing_gpu_is_reported():
    facts = healthy_a3()
    facts["smi_list"] = facts["smi_list"][:7]
    (problem,) = problems(facts)
    assert "lists 7 GPU(s) but the PCI bus has 8" in problem


def test_proprietary_module_is_reported_when_open_is_wanted():
    facts = healthy_a3()
    facts["loaded"] = parse_proc_version(text("proc-driver-version-proprietary-535.txt"))
    facts["installed_module"] = {"version": "535.104.05", "flavour": "proprietary"}
    found = problems(facts)
    assert len(found) == 2
    assert "proprietary kernel module, open is wanted" in found[0]
    assert "not on branch 580" in found[1]


def test_version_mismatch_is_reported():
    facts = healthy_a3()
    facts["installed_module"] = {"version": "580.105.08", "flavour": "open"}
    (problem,) = problems(facts)
    assert "580.95.05 but 580.105.08 is installed" in problem


def test_persistence_off_is_reported_unless_not_wanted():
    facts = {"pci": pci_of("lspci-g2-standard-4.txt"),
             "smi_list": [{"index": 0, "name": "NVIDIA L4", "uuid": "GPU-x", "mig": []}],
             "smi_query": parse_smi_query(text("smi-query-g2-persistence-off.csv")),
             "loaded": OPEN_580, "installed_module": {"version": "580.95.05", "flavour": "open"}}
    (problem,) = problems(facts, fabricmanager_active=None)
    assert "persistence mode is off on GPU(s) 0" in problem
    assert problems(facts, want_persistence=False, fabricmanager_active=None) == []


def test_fabric_manager_down_on_nvswitch_machine():
    (problem,) = problems(healthy_a3(), fabricmanager_active=False)
    assert "4 NVSwitch device(s) but nvidia-fabricmanager is not running" in problem and "802" in problem


def test_no_driver_at_all():
    facts = {"pci": pci_of("lspci-g2-standard-4.txt"), "smi_list": None, "smi_error": "nvidia-smi is not installed",
             "smi_query": None, "loaded": None, "installed_module": {"version": "", "flavour": ""}}
    found = problems(facts, fabricmanager_active=None)
    assert len(found) == 2
    assert "nvidia-smi is missing or failed (nvidia-smi is not installed)" in found[0]
    assert "not loaded" in found[1]


def test_fabric_manager_of_another_version_is_reported():
    (problem,) = problems(healthy_a3(), fabricmanager_version="580.105.08-1")
    assert "fabric manager 580.105.08 does not match the driver 580.95.05" in problem
    assert problems(healthy_a3(), fabricmanager_version="580.95.05-1") == []
    assert problems(healthy_a3(), fabricmanager_version="1:580.95.05-0ubuntu1") == []
