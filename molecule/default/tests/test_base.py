"""The base role, checked on every lab host after site.yml."""

import re

testinfra_hosts = ["ansible://all"]


def test_chrony_uses_only_the_configured_source(host):
    conf = host.file("/etc/chrony/chrony.conf")
    servers = [ln for ln in conf.content_string.splitlines() if ln.startswith(("server", "pool"))]
    # The lab's stand-in for the metadata server is its network's gateway.
    assert len(servers) == 1
    assert re.match(r"^server 10\.89\.\d+\.1 iburst minpoll 0 maxpoll 1 prefer$", servers[0])


def test_chrony_is_synchronised(host):
    tracking = host.check_output("chronyc -n -c tracking").split(",")
    assert tracking[-1] == "Normal"
    assert abs(float(tracking[4])) < 0.05


def test_chrony_never_steers_a_container_clock(host):
    cmdline = host.check_output("cat /proc/$(pidof chronyd | cut -d' ' -f1)/cmdline | tr '\\0' ' '")
    assert " -x" in cmdline


def test_journald_is_persistent_and_capped(host):
    cfg = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "Storage=persistent" in cfg
    assert "SystemMaxUse=1G" in cfg
    assert host.file("/var/log/journal").is_directory


def test_operator_group_exists(host):
    assert host.group("operators").exists
