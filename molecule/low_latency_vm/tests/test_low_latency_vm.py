"""low_latency on a VM with its own kernel: after the role's reboot every setting holds live."""

import json

import pytest

testinfra_hosts = ["ansible://role_trading_engine"]


def cpus(text):
    out = set()
    for part in text.replace("(null)", "").strip().split(","):
        if "-" in part:
            first, last = part.split("-")
            out.update(range(int(first), int(last) + 1))
        elif part.strip():
            out.add(int(part))
    return out


@pytest.fixture(scope="module")
def config(host):
    return json.loads(host.file("/etc/nearzero/low-latency.json").content_string)


@pytest.fixture(scope="module")
def report(host):
    return json.loads(host.check_output("/usr/local/sbin/nearzero-low-latency verify"))


def test_it_is_a_vm_with_something_isolated(report, config):
    assert report["platform"] == "vm"
    assert config["isolated"], "a 2-vCPU VM without SMT isolates its second CPU"
    assert 0 in cpus(config["housekeeping"])


def test_the_kernel_booted_with_the_command_line(host, config):
    cmdline = host.file("/proc/cmdline").content_string.split()
    for token in config["cmdline"]:
        assert token in cmdline
    assert f"isolcpus=managed_irq,domain,{config['isolated']}" in cmdline


def test_the_kernel_isolates_the_planned_cpus(host, config):
    assert cpus(host.file("/sys/devices/system/cpu/isolated").content_string) == cpus(config["isolated"])
    assert cpus(host.file("/sys/devices/system/cpu/nohz_full").content_string) == cpus(config["isolated"])


def test_every_sysctl_is_live(host, config):
    wanted = {**config["sysctl_netns"], **config["sysctl_kernel"]}
    # One round trip for every key (the VM is emulated: each command costs seconds).
    out = host.check_output("sysctl -e " + " ".join(wanted))
    live = {k.strip(): " ".join(v.split()) for k, v in (ln.split("=", 1) for ln in out.splitlines())}
    missing = set(wanted) - set(live)
    assert missing <= {"kernel.nmi_watchdog"}, missing  # a kernel without the NMI watchdog lacks the key
    for key, value in live.items():
        assert value == str(wanted[key]), key


def test_thp_and_ksm_are_off(host):
    assert "[never]" in host.file("/sys/kernel/mm/transparent_hugepage/enabled").content_string
    assert "[never]" in host.file("/sys/kernel/mm/transparent_hugepage/defrag").content_string
    assert host.file("/sys/kernel/mm/ksm/run").content_string.strip() == "0"


def test_nic_irqs_and_rps_stay_on_housekeeping_cpus_near_the_nic(host, config):
    nic = config["nic"]
    pci = host.check_output(f"readlink -f /sys/class/net/{nic}/device/..")
    irqs = host.check_output(f"ls {pci}/msi_irqs").split()
    assert irqs
    for irq in irqs:
        allowed = cpus(host.file(f"/proc/irq/{irq}/smp_affinity_list").content_string)
        assert allowed <= cpus(config["housekeeping_near_nic"]), irq
    rps = int(host.file(f"/sys/class/net/{nic}/queues/rx-0/rps_cpus").content_string.replace(",", ""), 16)
    assert {b for b in range(64) if rps >> b & 1} == cpus(config["housekeeping_near_nic"])


def test_systemd_and_every_service_run_on_housekeeping_cpus(host, config):
    hk = cpus(config["housekeeping"])
    out = host.check_output("grep -H Cpus_allowed_list /proc/1/status /proc/$(pidof -s sshd)/status "
                            "/proc/$(pidof -s systemd-journald)/status")
    for line in out.splitlines():
        assert cpus(line.split()[-1]) == hk, line
    # Every userspace process of system.slice and user.slice (this test's own shell included).
    out = host.check_output(
        "for p in $(cat /sys/fs/cgroup/system.slice/*/cgroup.procs /sys/fs/cgroup/user.slice/*/*/cgroup.procs); do"
        " grep -H Cpus_allowed_list /proc/$p/status 2>/dev/null; done; true")
    lines = out.splitlines()
    assert len(lines) > 5
    for line in lines:
        assert cpus(line.split()[-1]) <= hk, line


def test_irqbalance_keeps_off_isolated_cpus(host, config):
    service = host.service("irqbalance")
    if config["irqbalance"] == "stop":
        assert not service.is_running
        assert not service.is_enabled
    else:
        assert service.is_running
        env = host.check_output("systemctl show irqbalance -p Environment --value")
        assert f"IRQBALANCE_BANNED_CPULIST={config['isolated']}" in env


def test_boot_unit_applied_the_runtime_settings(host):
    assert host.service("nearzero-low-latency").is_enabled
    assert host.check_output("systemctl is-active nearzero-low-latency") == "active"


def test_report_has_nothing_pending_and_nothing_wrong(report):
    states = {item["setting"]: item["state"] for item in report["items"]}
    bad = {k: v for k, v in states.items() if v in ("mismatch", "pending_reboot", "needs_vm")}
    assert not bad
    assert report["cmdline_missing"] == []
    # What a qemu guest lacks is reported, not failed.
    assert states["governor"] == "unsupported"
