"""What a qemu TCG VM can and cannot show about ptp_kvm (issue 20, the trading-grade clock).

ptp_kvm exposes the *KVM* host's clock to the guest through a paravirtual call; under TCG (software
emulation, no KVM on this machine) the guest runs no KVM paravirtual clock at all, so the kernel has no
KVM virtual PTP clock to offer, whether or not the module loads. What this VM does prove: the module
nearzero.gcp.clock_source, on a real kernel with real modprobe, finds no such clock, says why, and makes
chrony keep NTP; the choice of ptp_kvm itself is proven by tests/unit/plugins/modules/test_clock_source.py
(sysfs as the kernel lays it out) and can only be seen live on a GCE VM with accurate time.
"""

import json

testinfra_hosts = ["ansible://role_trading_engine"]


def test_a_tcg_vm_has_no_kvm_ptp_clock_and_keeps_ntp(host):
    result = host.ansible("nearzero.gcp.clock_source", "mode=auto", check=False, become=True)
    assert result["source"] == "ntp" and result["device"] == ""
    assert result["module_loaded"] is False
    assert "no KVM virtual PTP clock" in result["reason"], json.dumps(result)
    # The kernel was really asked: the reason carries modprobe's answer or the clock's absence after loading.
    assert "modprobe ptp_kvm failed" in result["reason"] or "offers no PTP clock" in result["reason"]
    names = host.run("cat /sys/class/ptp/*/clock_name 2>/dev/null").stdout
    assert "KVM virtual PTP" not in names
