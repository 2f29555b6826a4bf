"""security_baseline's kernel network hardening on a VM with its own kernel, after a reboot.

converge.yml applies it before low_latency reboots the VM; what is live now was applied at boot
from /etc/sysctl.d (and by udev for the NIC), or the idempotence run would have changed it.
"""

import time

testinfra_hosts = ["ansible://role_trading_engine"]

NET_HARDENING = {
    "ipv4": {"rp_filter": "1", "accept_redirects": "0", "secure_redirects": "0", "send_redirects": "0",
             "accept_source_route": "0", "log_martians": "1"},
    "ipv6": {"accept_redirects": "0", "accept_source_route": "0"},
}


def sh(host, command):
    """Run a command on the VM, retrying when SSH itself fails (a loaded, emulated guest)."""
    for _ in range(3):
        try:
            return host.check_output(command)
        except RuntimeError:
            time.sleep(5)
    return host.check_output(command)


def test_network_hardening_is_live_on_every_interface_after_a_reboot(host):
    # One round trip: the interfaces and every per-interface key.
    out = sh(host, "ls /sys/class/net; sysctl -a --pattern '^net[.]ipv[46][.]conf[.]'")
    lines = out.splitlines()
    live = dict(line.split(" = ", 1) for line in lines if " = " in line)
    nics = {line for line in lines if " " not in line and line != "lo"}
    assert nics, "the VM has a NIC"
    for family, keys in NET_HARDENING.items():
        for conf in nics | {"all", "default", "lo"}:
            for key, want in keys.items():
                assert live[f"net.{family}.conf.{conf}.{key}"] == want, f"net.{family}.conf.{conf}.{key}"


def test_the_kernel_booted_after_the_hardening_was_written(host):
    # The guest's own clock for all three: when the file was written, now, and the uptime.
    written, now, uptime = sh(host, "stat -c %Y /etc/sysctl.d/60-nearzero-network-hardening.conf; date +%s; "
                                    "cut -d' ' -f1 /proc/uptime").split()
    assert int(now) - float(uptime) > int(written)
