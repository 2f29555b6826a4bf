"""Attack the security scenario's hosts: from the outside, from the inside and from the controller.

The lab: sec-engine has a leg on the internal network (its ``ansible_host``) and one on the
outside network; sec-peer is internal; sec-outside sits on the outside network only. The
controller is ``.1`` of every lab /24. Traffic from the outside network to an *internal*
address is masqueraded by podman to the internal gateway (the controller's address), so the
attacker probes the engine's outside address, where it is seen as itself.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest
import testinfra
import yaml

ENGINE_PORT = 9000


@pytest.fixture(scope="module")
def inventory(request):
    path = request.config.getoption("ansible_inventory")
    with open(path) as fh:
        return path, yaml.safe_load(fh)["all"]


def _host(inventory, name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory[0]}", sudo=True)


@pytest.fixture(scope="module")
def engine(inventory):
    return _host(inventory, "sec-engine")


@pytest.fixture(scope="module")
def peer(inventory):
    return _host(inventory, "sec-peer")


@pytest.fixture(scope="module")
def outside(inventory):
    return _host(inventory, "sec-outside")


@pytest.fixture(scope="module")
def addresses(inventory):
    return inventory[1]["hosts"]["sec-engine"]["lab_addresses"]


def _tcp_open(host, ip, port):
    """True when a TCP connection from ``host`` to ip:port completes within 3 s."""
    return host.run(f"nc -z -w 3 {ip} {port}").rc == 0


def _ssh(inventory, user, *options, key=True):
    """Run `ssh user@engine true` from the controller (a fresh connection each time)."""
    allvars = inventory[1]["vars"]
    ip = inventory[1]["hosts"]["sec-engine"]["ansible_host"]
    cmd = ["ssh", "-o", "ControlPath=none", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=yes",
           "-o", f"UserKnownHostsFile={allvars['ansible_ssh_common_args'].split('=')[1].split()[0]}"]
    if key:
        cmd += ["-o", "IdentitiesOnly=yes", "-i", allvars["ansible_ssh_private_key_file"]]
    cmd += [*options, f"{user}@{ip}", "true"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


# --- firewall: outside vs inside ---------------------------------------------------------------

def test_outside_cannot_reach_ssh_or_the_engine(outside, addresses):
    assert not _tcp_open(outside, addresses["outside"], 22)
    assert not _tcp_open(outside, addresses["outside"], ENGINE_PORT)
    assert outside.run(f"ping -c 1 -W 2 {addresses['outside']}").rc != 0


def test_the_engine_is_listening_on_every_address(engine):
    # Without this, "refused from outside" could mean "nothing listens".
    assert engine.socket(f"tcp://0.0.0.0:{ENGINE_PORT}").is_listening
    assert engine.socket("tcp://0.0.0.0:22").is_listening


def test_internal_peer_reaches_ssh_engine_and_ping(peer, addresses):
    assert _tcp_open(peer, addresses["internal"], 22)
    assert _tcp_open(peer, addresses["internal"], ENGINE_PORT)
    assert peer.run(f"ping -c 1 -W 2 {addresses['internal']}").rc == 0
    # A full request/response exchange on the engine port (sockperf ping-pong, notrack path).
    out = peer.run(f"sockperf ping-pong --tcp -i {addresses['internal']} -p {ENGINE_PORT} -t 1")
    assert out.rc == 0, out.stderr
    assert "Summary: Latency is" in out.stdout


def test_ruleset_is_default_deny_and_confirmed(engine):
    table = engine.check_output("nft -s list table inet nearzero")
    assert "hook input priority filter; policy drop;" in table
    assert f"tcp dport {ENGINE_PORT} notrack" in table
    assert engine.check_output("/usr/local/sbin/nearzero-firewall status") == "in-sync"
    assert engine.service("nearzero-firewall").is_enabled
    # The boot unit loads the confirmed copy, which is what is loaded now.
    assert engine.file("/etc/nearzero-firewall/confirmed.nft").content == \
        engine.file("/etc/nearzero-firewall/ruleset.nft").content


def test_engine_port_is_not_tracked(engine, peer, addresses):
    peer.run(f"sockperf ping-pong --tcp -i {addresses['internal']} -p {ENGINE_PORT} -t 1")
    tracked = engine.run(f"grep -c 'dport={ENGINE_PORT} ' /proc/net/nf_conntrack")
    assert tracked.stdout.strip() in ("", "0")


# --- SSH ---------------------------------------------------------------------------------------

def test_ops_logs_in_with_its_key(inventory):
    res = _ssh(inventory, "ops")
    assert res.returncode == 0, res.stderr


def test_root_login_fails_even_with_a_valid_key(inventory, engine):
    # prepare.yml put the lab key into root's authorized_keys.
    assert engine.file("/root/.ssh/authorized_keys").exists
    res = _ssh(inventory, "root")
    assert res.returncode == 255
    assert "Permission denied" in res.stderr


def test_password_login_fails_for_a_user_with_a_valid_password(inventory, engine, tmp_path):
    password = secrets.token_urlsafe(16)
    # In a group AllowGroups admits, so only the refusal of passwords stands between it and a shell.
    engine.run("id pwtest || useradd -m -s /bin/bash pwtest")
    engine.run_expect([0], "usermod -aG google-sudoers pwtest")
    engine.run_expect([0], f"echo 'pwtest:{password}' | chpasswd")
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\necho '{password}'\n")
    askpass.chmod(0o700)
    env = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0", "PATH": "/usr/bin:/bin"}
    allvars = inventory[1]["vars"]
    ip = inventory[1]["hosts"]["sec-engine"]["ansible_host"]
    res = subprocess.run(
        ["ssh", "-v", "-o", "ControlPath=none", "-o", "PubkeyAuthentication=no",
         "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "NumberOfPasswordPrompts=1",
         "-o", f"UserKnownHostsFile={allvars['ansible_ssh_common_args'].split('=')[1].split()[0]}",
         f"pwtest@{ip}", "true"],
        capture_output=True, text=True, timeout=60, env=env, check=False)
    assert res.returncode == 255
    assert "Authentications that can continue: publickey\n" in res.stderr
    assert "Permission denied (publickey)" in res.stderr


def test_oslogin_key_command_still_works(inventory, engine):
    # osl has no authorized_keys file: its key comes from /usr/bin/google_authorized_keys only.
    assert not engine.file("/home/osl/.ssh/authorized_keys").exists
    res = _ssh(inventory, "osl")
    assert res.returncode == 0, res.stderr


def test_sshd_runs_modern_algorithms_only(engine):
    cfg = engine.check_output("sshd -T")
    assert "\nciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com," in cfg
    for weak in ("cbc", "hmac-sha1", "diffie-hellman-group14-sha1", "3des"):
        assert weak not in cfg.split("\nciphers ")[1].split("\n")[0]
        assert weak not in cfg.split("\nmacs ")[1].split("\n")[0]
        assert weak not in cfg.split("\nkexalgorithms ")[1].split("\n")[0]


def test_weak_cipher_is_refused(inventory):
    res = _ssh(inventory, "ops", "-o", "Ciphers=aes128-cbc")
    assert res.returncode == 255
    assert "no matching cipher found" in res.stderr


def test_a_valid_key_outside_the_allowed_groups_is_refused(inventory, engine):
    # prepare.yml gave `outsider` (in no allowed group) the lab key; sshd's AllowGroups refuses it.
    assert engine.file("/home/outsider/.ssh/authorized_keys").exists
    res = _ssh(inventory, "outsider")
    assert res.returncode == 255
    assert "Permission denied" in res.stderr
    # sshd's own lines only (-t sshd): sudo logs this very command line, pattern included.
    log = engine.check_output("journalctl -u ssh -t sshd --no-pager -o cat | grep -F 'User outsider from' | tail -n 1")
    assert "not allowed because none of user's groups are listed in AllowGroups" in log


POLICY = os.path.join(os.path.dirname(__file__), "..", "files", "ssh-audit-policy.txt")


def _ssh_audit_policy(ip):
    """ssh-audit's policy check (-P) of ip:22, as JSON. --skip-rate-test: its burst of 38 connections
    is what the firewall's SSH meter is for (tested on its own), and would use up the controller's share."""
    tool = shutil.which("ssh-audit", path=os.path.dirname(sys.executable)) or "ssh-audit"
    res = subprocess.run([tool, "--skip-rate-test", "-j", "-P", POLICY, ip],
                         capture_output=True, text=True, timeout=120, check=False)
    return res.returncode, json.loads(res.stdout)


def test_ssh_audit_passes_the_hardened_policy(inventory):
    # Exact algorithm lists, ed25519 and RSA host keys only (no ECDSA), no compression, a banner
    # without Debian's patch level.
    rc, report = _ssh_audit_policy(inventory[1]["hosts"]["sec-engine"]["ansible_host"])
    assert report["errors"] == []
    assert report["passed"] is True
    assert rc == 0


def test_ssh_audit_policy_fails_a_stock_sshd(inventory):
    # The attacker runs Debian's sshd as shipped: the same policy must catch what the baseline removes.
    rc, report = _ssh_audit_policy(inventory[1]["hosts"]["sec-outside"]["ansible_host"])
    assert rc != 0
    assert report["passed"] is False
    failed = {e["mismatched_field"] for e in report["errors"]}
    assert {"Banner", "Compression", "Host keys", "Key exchanges", "MACs"} <= failed


def test_idle_sessions_are_reaped_and_startups_capped(engine):
    cfg = dict(line.split(" ", 1) for line in engine.check_output("sshd -T").splitlines() if " " in line)
    assert int(cfg["clientaliveinterval"]) > 0
    assert int(cfg["clientalivecountmax"]) > 0
    assert cfg["persourcemaxstartups"] != "none"
    assert cfg["compression"] == "no"


def test_unauthenticated_connections_are_capped_per_source(peer, engine, addresses):
    # The handshake flood (DHEat) needs many handshakes at once from one source: sshd serves at
    # most PerSourceMaxStartups of them (the rest are closed before the banner).
    cap = int(engine.check_output("sshd -T | awk '/^persourcemaxstartups /{print $2}'"))
    tries = cap + 2
    code = ("import socket, time\n"
            "socks = []\n"
            f"for _ in range({tries}):\n"
            f"    socks.append(socket.create_connection(('{addresses['internal']}', 22), timeout=5))\n"
            "    time.sleep(0.2)\n"
            "got = 0\n"
            "for s in socks:\n"
            "    try:\n"
            "        got += s.recv(64).startswith(b'SSH-')\n"
            "    except OSError:\n"
            "        pass\n"
            "print(got)\n")
    out = peer.run(f"python3 -c \"{code}\"")
    assert out.rc == 0, out.stderr
    assert int(out.stdout) == cap


# --- kernel network hardening ------------------------------------------------------------------

NET_HARDENING = {
    "ipv4": {"rp_filter": "1", "accept_redirects": "0", "secure_redirects": "0", "send_redirects": "0",
             "accept_source_route": "0", "log_martians": "1"},
    "ipv6": {"accept_redirects": "0", "accept_source_route": "0"},
}


def test_kernel_network_hardening_is_live_on_every_interface(engine):
    # Per network namespace, so the container applies it too: all, default, lo and each NIC.
    out = engine.check_output("sysctl -a --pattern '^net[.]ipv[46][.]conf[.]'")
    live = dict(line.split(" = ", 1) for line in out.splitlines())
    nics = {key.split(".")[3] for key in live} - {"all", "default", "lo"}
    assert {"eth0", "eth1"} <= nics  # the engine's internal and outside legs
    for family, keys in NET_HARDENING.items():
        for conf in nics | {"all", "default", "lo"}:
            for key, want in keys.items():
                assert live[f"net.{family}.conf.{conf}.{key}"] == want, f"net.{family}.conf.{conf}.{key}"
    dropin = engine.file("/etc/sysctl.d/60-nearzero-network-hardening.conf").content_string
    assert "net.ipv4.conf.*.accept_redirects = 0" in dropin


# --- sudo and least privilege ------------------------------------------------------------------

def test_sudo_only_through_the_operator_group(engine):
    assert not engine.file("/etc/sudoers.d/lab-ops").exists
    assert "(ALL : ALL) NOPASSWD: ALL" in engine.check_output("sudo -l -U ops")
    assert "is not allowed to run sudo" in engine.check_output("sudo -l -U osl")
    assert engine.run("grep -E '^%sudo\\s' /etc/sudoers").rc == 1


def test_no_world_writable_files_under_project_paths(engine):
    # prepare.yml left /opt/nearzero/releases/loose.conf at 0666.
    assert engine.file("/opt/nearzero/releases/loose.conf").mode == 0o664
    assert engine.check_output("find /etc/nearzero /opt/nearzero -perm -0002 ! -type l") == ""


# --- upgrades, audit, journald -----------------------------------------------------------------

def test_unattended_upgrades_skip_kernel_and_nvidia(engine):
    # unattended-upgrade logs its allowed origins and its initial blacklist as it starts, before it
    # opens the package cache (over a minute in a loaded lab container): the dry run is read until
    # those lines are in (60 s at most), then stopped. Its interpretation of the config is what counts.
    out = engine.check_output(
        "f=$(mktemp); unattended-upgrade --dry-run --debug >$f 2>&1 & p=$!; "
        "for i in $(seq 600); do grep -q 'Initial blacklist' $f && break; kill -0 $p 2>/dev/null || break; "
        "sleep 0.1; done; kill $p 2>/dev/null; wait $p; cat $f; rm -f $f")
    blacklist = next(line for line in out.splitlines() if "Initial blacklist" in line)
    for pattern in ("^linux-", "^nvidia-", "^libnvidia-", "^cuda-"):
        assert pattern in blacklist
    origins = next(line for line in out.splitlines() if "Allowed origins" in line)
    assert "label=Debian-Security" in origins
    assert "label=Debian," not in origins + ","


def test_audit_rules_written_service_needs_a_vm(engine):
    rules = engine.file("/etc/audit/rules.d/50-nearzero.rules").content_string
    for path in ("/opt/nearzero", "/etc/nearzero", "/etc/sudoers", "/etc/sudoers.d",
                 "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d"):
        assert f"-w {path} -p wa -k " in rules
    # A container has no audit netlink socket of its own: the service stays off here.
    assert not engine.service("auditd").is_running


def test_journald_is_persistent_and_capped(engine):
    cfg = engine.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "Storage=persistent" in cfg
    assert "SystemMaxUse=" in cfg


# --- egress ------------------------------------------------------------------------------------

def _udp_send(host, ip, port):
    """Send one UDP datagram from ``host``; the output chain's drop shows as EPERM on send."""
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.sendto(b'x', ('{ip}', {port})); print('sent')")
    return host.run(f'python3 -c "{code}"')


def test_restricted_egress_allows_only_what_is_listed(peer, engine, addresses):
    # sec-peer (group egress_restricted) may send to the internal range's TCP 22/9000 and to the
    # gateway's UDP 123 only; anything else is dropped by its output chain, which the sender sees
    # as EPERM on sendto(). The engine (egress open) sends the same datagram without error.
    gateway = addresses["internal"].rsplit(".", 1)[0] + ".1"
    assert _tcp_open(peer, addresses["internal"], 22)
    assert _udp_send(peer, gateway, 123).stdout.strip() == "sent"
    denied = _udp_send(peer, gateway, 124)
    assert denied.rc != 0
    assert "PermissionError" in denied.stderr
    assert _udp_send(engine, gateway, 124).stdout.strip() == "sent"
    # chrony still reaches the lab's NTP stand-in through the allowed UDP 123.
    assert peer.check_output("chronyc -n -c tracking").split(",")[-1] == "Normal"
