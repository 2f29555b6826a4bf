"""low_latency on lab containers: files rendered, namespaced settings live, the shared kernel untouched."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import host_kernel  # this scenario's own helper

testinfra_hosts = ["ansible://role_trading_engine"]

ROOT = Path(__file__).resolve().parents[3]
SNAPSHOT = ROOT / ".lab" / "mol-low-latency" / "host-kernel-before.json"


def cpus(text):
    out = set()
    for part in text.strip().split(","):
        if "-" in part:
            first, last = part.split("-")
            out.update(range(int(first), int(last) + 1))
        elif part:
            out.add(int(part))
    return out


@pytest.fixture
def config(host):
    return json.loads(host.file("/etc/nearzero/low-latency.json").content_string)


@pytest.fixture
def report(host):
    return json.loads(host.check_output("/usr/local/sbin/nearzero-low-latency verify"))


def test_the_plan_covers_every_cpu_keeps_siblings_together_and_cpu0(host, config):
    online = cpus(host.file("/sys/devices/system/cpu/online").content_string)
    hk, iso = cpus(config["housekeeping"]), cpus(config["isolated"])
    assert hk and not hk & iso and hk | iso == online
    assert 0 in hk
    for cpu in online:
        siblings = cpus(host.file(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").content_string)
        assert siblings <= hk or siblings <= iso


def test_grub_dropin_carries_the_command_line(host, config):
    text = host.file("/etc/default/grub.d/90-nearzero-low-latency.cfg").content_string
    line = next(ln for ln in text.splitlines() if ln.startswith("GRUB_CMDLINE_LINUX_DEFAULT="))
    tokens = line.split('"')[1].split()
    assert tokens[0] == "${GRUB_CMDLINE_LINUX_DEFAULT:+$GRUB_CMDLINE_LINUX_DEFAULT" and tokens[1].startswith("}")
    tokens[1] = tokens[1][1:]
    assert tokens[1:] == config["cmdline"]
    if config["isolated"]:
        for token in (f"isolcpus=managed_irq,domain,{config['isolated']}", f"nohz_full={config['isolated']}",
                      f"rcu_nocbs={config['isolated']}", f"irqaffinity={config['housekeeping']}"):
            assert token in tokens
    for token in ("skew_tick=1", "tsc=reliable", "transparent_hugepage=never", "processor.max_cstate=1"):
        assert token in tokens
    assert "mitigations=off" not in tokens  # off by default


def sysctl_file(host, name):
    lines = host.file(f"/etc/sysctl.d/60-nearzero-low-latency-{name}.conf").content_string.splitlines()
    pairs = [ln.lstrip("-").split(" = ", 1) for ln in lines if ln and not ln.startswith("#")]
    return {k: v for k, v in pairs}


def test_sysctl_dropins_split_by_scope(host):
    netns, kernel = sysctl_file(host, "netns"), sysctl_file(host, "kernel")
    assert netns["net.ipv4.tcp_fastopen"] == "3"
    assert kernel["net.core.busy_poll"] == "50"
    assert kernel["vm.swappiness"] == "10"
    assert kernel["kernel.numa_balancing"] == "0"
    assert all(key.startswith("net.") for key in netns)
    assert "net.ipv4.tcp_low_latency" not in netns | kernel


def test_network_namespace_sysctls_are_live_in_the_container(host):
    for key, want in sysctl_file(host, "netns").items():
        assert " ".join(host.check_output(f"sysctl -n {key}").split()) == want, key


def test_kernel_global_sysctls_are_not_applied_in_the_container(host):
    # The container reads the shared kernel: its values are this machine's, not the role's.
    for key in sysctl_file(host, "kernel"):
        path = "/proc/sys/" + key.replace(".", "/")
        if not host.file(path).exists:
            # Global net.core keys exist only in the initial network namespace.
            assert key.startswith("net.core."), key
            continue
        if Path(path).exists():
            assert host.check_output(f"cat {path}") == Path(path).read_text().strip(), key


def test_this_machines_kernel_is_unchanged():
    before = json.loads(SNAPSHOT.read_text())
    assert host_kernel.snapshot() == before


def test_report_says_what_needs_a_vm(host, report):
    assert report["platform"] == "container"
    states = {item["setting"]: item["state"] for item in report["items"]}
    assert "mismatch" not in states.values()
    assert states["sysctl net.ipv4.tcp_fastopen"] == "ok"
    for setting in ("sysctl vm.swappiness", "sysctl net.core.busy_poll", "THP enabled", "cmdline skew_tick"):
        assert states[setting] == "needs_vm", setting
    assert report["cmdline_missing"] == []


def test_systemd_confines_itself_to_housekeeping(host, config):
    dropin = host.file("/etc/systemd/system.conf.d/60-nearzero-low-latency.conf").content_string
    assert f"CPUAffinity={config['housekeeping']}" in dropin.splitlines()
    status = host.file("/proc/1/status").content_string
    allowed = next(ln for ln in status.splitlines() if ln.startswith("Cpus_allowed_list")).split()[1]
    assert cpus(allowed) == cpus(config["housekeeping"])


def test_boot_unit_is_enabled_and_runs_the_tool(host):
    unit = host.file("/etc/systemd/system/nearzero-low-latency.service").content_string
    assert "ExecStart=/usr/local/sbin/nearzero-low-latency apply" in unit
    assert host.service("nearzero-low-latency").is_enabled


def test_gve_coalescing_is_persistent(host):
    rule = host.file("/etc/udev/rules.d/60-nearzero-nic-coalescing.rules").content_string
    assert 'DRIVERS=="gve", RUN+="/usr/sbin/ethtool -C $name rx-usecs 0 tx-usecs 0"' in rule


def test_gce_guest_agent_leaves_irqs_alone(host):
    cfg = host.file("/etc/default/instance_configs.cfg").content_string
    assert "[InstanceSetup]" in cfg
    assert "set_multiqueue = false" in cfg


def test_irqbalance_bans_isolated_cpus_or_is_not_needed(host, config):
    dropin = host.file("/etc/systemd/system/irqbalance.service.d/60-nearzero-low-latency.conf")
    if len(cpus(config["housekeeping"])) > 1:
        assert f"IRQBALANCE_BANNED_CPULIST={config['isolated']}" in dropin.content_string
        assert config["irqbalance"] == "ban"
    else:  # one housekeeping CPU: irqbalance would exit by itself, so the role stops it
        assert not dropin.exists
        assert config["irqbalance"] == "stop"
