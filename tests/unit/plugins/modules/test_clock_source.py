"""nearzero.gcp.clock_source: ptp_kvm is chosen only where the kernel exposes a KVM virtual PTP clock.

A test machine has no KVM PTP clock (and this one runs no hypervisor clock either), so the sysfs tree
and ``modprobe`` are stand-ins with the kernel's names and messages; molecule/default runs the module in
real containers (no clock: NTP, with the reason) and molecule/low_latency_vm in a qemu TCG VM.
"""

import os

import pytest

MODULE = "ansible_collections.nearzero.gcp.plugins.modules.clock_source"


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A fake /sys/class/ptp, /dev/ptp_kvm link and modprobe; returns helpers to shape them."""
    import importlib

    mod = importlib.import_module(MODULE)
    sysfs = tmp_path / "ptp"
    sysfs.mkdir()
    monkeypatch.setattr(mod, "SYS_CLASS_PTP", sysfs)
    monkeypatch.setattr(mod, "STABLE_LINK", tmp_path / "ptp_kvm")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    calls = tmp_path / "modprobe.calls"

    def clock(name, clock_name):
        (sysfs / name).mkdir()
        (sysfs / name / "clock_name").write_text(clock_name + "\n")

    def modprobe(creates=None, fails=None):
        """modprobe that records its call, then creates a clock (the hypervisor offers one) or fails."""
        body = f'echo "$@" >> "{calls}"\n'
        if creates:
            body += f'mkdir -p "{sysfs}/{creates}" && echo "KVM virtual PTP" > "{sysfs}/{creates}/clock_name"\n'
        if fails:
            body += f'echo "{fails}" >&2; exit 1\n'
        (bin_dir / "modprobe").write_text("#!/bin/sh\n" + body)
        (bin_dir / "modprobe").chmod(0o755)

    return clock, modprobe, calls


def test_the_kvm_clock_is_told_apart_from_a_nic_clock(machine, run_module):
    clock, modprobe, calls = machine
    clock("ptp0", "gve_ptp")
    clock("ptp1", "KVM virtual PTP")
    modprobe()
    failed, out = run_module("clock_source", {})
    assert not failed
    assert (out["source"], out["device"], out["changed"]) == ("ptp_kvm", "/dev/ptp1", False)
    assert "ptp1" in out["reason"]
    assert not calls.exists()  # already there: nothing loaded


def test_udev_link_is_preferred_when_it_points_at_the_kvm_clock(machine, run_module, tmp_path):
    clock, _modprobe, _calls = machine
    clock("ptp2", "KVM virtual PTP")
    (tmp_path / "ptp_kvm").symlink_to("/dev/ptp2")
    failed, out = run_module("clock_source", {})
    assert not failed and out["device"] == str(tmp_path / "ptp_kvm")


def test_loading_ptp_kvm_reveals_the_clock_and_is_a_change(machine, run_module):
    _clock, modprobe, calls = machine
    modprobe(creates="ptp0")
    failed, out = run_module("clock_source", {"mode": "auto"})
    assert not failed and out["source"] == "ptp_kvm" and out["module_loaded"] and out["changed"]
    assert calls.read_text().split() == ["ptp_kvm"]


def test_check_mode_never_loads_the_module(machine, run_module):
    _clock, modprobe, calls = machine
    modprobe(creates="ptp0")
    failed, out = run_module("clock_source", {}, check=True)
    assert not failed and out["source"] == "ntp" and not out["changed"]
    assert "check mode" in out["reason"]
    assert not calls.exists()


def test_no_clock_falls_back_to_ntp_with_the_kernel_reason(machine, run_module):
    _clock, modprobe, _calls = machine
    modprobe(fails="modprobe: ERROR: could not insert 'ptp_kvm': No such device")
    failed, out = run_module("clock_source", {})
    assert not failed and out["source"] == "ntp" and out["device"] == ""
    assert "No such device" in out["reason"] and "NTP" in out["reason"]


def test_requiring_ptp_kvm_fails_with_the_fix(machine, run_module):
    _clock, modprobe, _calls = machine
    modprobe(fails="modprobe: ERROR: could not insert 'ptp_kvm': No such device")
    failed, out = run_module("clock_source", {"mode": "ptp_kvm"})
    assert failed
    assert "no KVM PTP clock" in out["msg"] and "base_time_ptp_kvm" in out["msg"] and "accurate time" in out["msg"]


def test_mode_ntp_never_looks(machine, run_module):
    clock, modprobe, calls = machine
    clock("ptp0", "KVM virtual PTP")
    modprobe(creates="ptp1")
    failed, out = run_module("clock_source", {"mode": "ntp"})
    assert not failed and out["source"] == "ntp" and not calls.exists()
