"""Attack the host firewall's boot path and its SSH meter (issue 19, items 4 and 5).

Boot: the engine's confirmed ruleset is damaged on disk and the container is restarted for real
(`podman restart`: a fresh network namespace with no table loaded and systemd booting again, as
a VM's kernel would start). Whatever is broken, the host must come up denying everything but
SSH from the configured sources, with sshd started only after a ruleset is loaded; the role
then repairs it. Flood: the peer (an allowed SSH source, on the engine's network, so the engine
sees its own address: podman masquerades only traffic that crosses lab networks) opens new TCP
connections to port 22 as fast as it can; the meter must hold it to its burst plus its rate while
the controller, another allowed source, still logs in.
"""

import json
import math
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import test_security
from test_security import ENGINE_PORT, _ssh, _tcp_open

# The scenario's fixtures (its lab inventory, testinfra hosts), shared with test_security.
inventory, engine, peer, outside, addresses = (test_security.inventory, test_security.engine, test_security.peer,
                                               test_security.outside, test_security.addresses)

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "dev" / "lab"))
import labctl  # noqa: E402

TOOL = "/usr/local/sbin/nearzero-firewall"
DIR = "/etc/nearzero-firewall"
RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

# Runs on the peer: waves of non-blocking connects to the engine's SSH port; a connect counts as
# accepted when the handshake completes within the wave (a SYN the meter drops times out).
FLOOD = r"""
import json, select, socket, sys, time
ip, waves, per_wave = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
accepted = attempts = 0
start = time.monotonic()
for _ in range(waves):
    socks = []
    for _ in range(per_wave):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((ip, 22))
        socks.append(s)
    attempts += len(socks)
    pending, deadline = set(socks), time.monotonic() + 1.5
    while pending and time.monotonic() < deadline:
        _, ready, _ = select.select([], list(pending), [], max(0.0, deadline - time.monotonic()))
        for s in ready:
            pending.discard(s)
            accepted += s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    for s in socks:
        s.close()
print(json.dumps({"attempts": attempts, "accepted": accepted, "seconds": time.monotonic() - start}))
"""


def _container(inventory, name):
    return inventory[1]["hosts"][name]["lab_container"]


def _reboot(inventory, name):
    """Restart the host's container: systemd boots again in a new network namespace (no table).

    After the boot, do what a VM's systemd-sysctl does at boot and a container skips (its
    /proc/sys is read-only while it boots): make the namespace's /proc/sys/net writable, as the lab
    does, and apply /etc/sysctl.d, so the scenario's later checks find the host as converged.
    """
    ctr = _container(inventory, name)
    labctl.podman("restart", "--time", "2", ctr)
    labctl.wait_for(lambda: labctl.container_booted(ctr), 90, f"systemd in {ctr} to boot again")
    labctl.writable_net_sysctls(ctr)
    labctl.podman("exec", ctr, "sh", "-c", "sysctl --system >/dev/null 2>&1 || true")


def _boot_order(engine, unit):
    """True when sshd's process started after ``unit`` finished loading its ruleset (this boot)."""
    def stamp(name, prop):
        return int(engine.check_output(f"systemctl show -p {prop} --value {name}") or 0)
    loaded = stamp(unit, "ActiveEnterTimestampMonotonic")
    return 0 < loaded <= stamp("ssh.service", "ExecMainStartTimestampMonotonic")


def _scan(engine, peer, outside, addresses, inventory):
    """Only SSH from the allowed sources answers; the engine's port answers nobody."""
    # Without this, "closed" could mean "nothing listens".
    assert engine.socket(f"tcp://0.0.0.0:{ENGINE_PORT}").is_listening
    assert engine.socket("tcp://0.0.0.0:22").is_listening
    assert not _tcp_open(outside, addresses["outside"], 22)
    assert not _tcp_open(outside, addresses["outside"], ENGINE_PORT)
    assert _tcp_open(peer, addresses["internal"], 22)
    assert not _tcp_open(peer, addresses["internal"], ENGINE_PORT)
    res = _ssh(inventory, "ops")
    assert res.returncode == 0, res.stderr
    table = engine.check_output("nft -s list chain inet nearzero input")
    assert "hook input priority filter; policy drop;" in table


def _reapply(inventory, tmp_path):
    """Run the firewall role on the engine with the scenario's settings (as the converge does)."""
    (tmp_path / "group_vars").symlink_to(ROOT / "molecule" / "security" / "group_vars")
    playbook = tmp_path / "firewall.yml"
    playbook.write_text("- name: Re-apply the firewall\n  hosts: sec-engine\n  gather_facts: false\n"
                        "  roles: [{role: host_firewall}]\n")
    lab = pathlib.Path(inventory[0]).parent
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_ROLES_PATH": f"{ROOT / 'roles'}:{ROOT / 'dev' / 'roles'}",
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
           "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(lab / "facts")}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", inventory[0], str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


# --- item 5: the SSH meter ---------------------------------------------------------------------

def test_ssh_flood_is_metered_per_source(engine, peer, addresses, inventory):
    chain = engine.check_output("nft -s list chain inet nearzero input")
    meter = re.search(r"update @ssh_meter4 \{ ip saddr limit rate over (\d+)/(\w+) burst (\d+) packets \}", chain)
    assert meter, f"no per-source SSH meter in the input chain:\n{chain}"
    per_second = int(meter[1]) / RATE_UNITS[meter[2]]
    burst = int(meter[3])
    # Four waves, each at least three times what the meter may let through in the whole flood.
    per_wave = max(50, math.ceil(3 * (burst + per_second * 8) / 4))

    def dropped():
        out = engine.check_output("nft list chain inet nearzero ssh_flood")
        return int(re.search(r"counter packets (\d+)", out)[1])

    engine.run_expect([0], "nft flush set inet nearzero ssh_meter4")
    before = dropped()
    login = {}

    def log_in_during_the_flood():
        time.sleep(2)
        login["res"] = _ssh(inventory, "ops")

    thread = threading.Thread(target=log_in_during_the_flood)
    thread.start()
    try:
        res = json.loads(peer.check_output("python3 -c %s %s 4 %s", FLOOD, addresses["internal"], str(per_wave)))
        thread.join(60)
        # Which address the engine metered: the peer's own (no NAT inside one lab network).
        elements = engine.check_output("nft list set inet nearzero ssh_meter4")
    finally:
        # Later checks from the peer start with a full bucket.
        engine.run("nft flush set inet nearzero ssh_meter4")
    peer_ip = inventory[1]["hosts"]["sec-peer"]["lab_addresses"]["internal"]
    # Each source has its own bucket: the peer's address (and the controller's, which logged in).
    assert re.search(rf"[{{,] {re.escape(peer_ip)} limit rate over", elements), elements
    print(f"flood from {peer_ip}: {res}; meter {meter[0]}")
    allowed = burst + per_second * res["seconds"] + 5
    assert res["accepted"] <= allowed, f"the meter let {res} through (at most {allowed:.0f} expected)"
    assert res["accepted"] >= min(burst, 5), f"the meter refused even the burst: {res}"
    refused = res["attempts"] - res["accepted"]
    assert dropped() - before >= refused, "the refused connections were not dropped by the ssh_flood chain"
    assert "log prefix \"nearzero-fw ssh-flood: \"" in engine.check_output("nft list chain inet nearzero ssh_flood")
    # Another allowed source logged in while the peer was being held off.
    assert login["res"].returncode == 0, login["res"].stderr


# --- item 4: the firewall fails closed at boot -------------------------------------------------

def test_an_intact_confirmed_ruleset_is_loaded_at_boot_before_sshd(engine, inventory):
    _reboot(inventory, "sec-engine")
    assert engine.check_output(f"{TOOL} status") == "in-sync"
    assert engine.service("nearzero-firewall").is_running
    assert _boot_order(engine, "nearzero-firewall.service")


def test_a_truncated_confirmed_ruleset_boots_into_the_emergency_ruleset(engine, peer, outside, addresses,
                                                                         inventory):
    size = int(engine.check_output(f"stat -c %s {DIR}/confirmed.nft"))
    engine.run_expect([0], f"truncate -s {size // 2} {DIR}/confirmed.nft")
    _reboot(inventory, "sec-engine")
    assert engine.check_output(f"{TOOL} status") == "emergency"
    log = engine.check_output("journalctl -b -t nearzero-firewall -o cat --no-pager")
    assert f"IGNORED {DIR}/confirmed.nft" in log
    assert "loaded the EMERGENCY ruleset" in log
    assert _boot_order(engine, "nearzero-firewall.service")
    _scan(engine, peer, outside, addresses, inventory)


def test_no_loadable_ruleset_boots_into_the_builtin_failsafe(engine, peer, outside, addresses, inventory):
    engine.run_expect([0], f"echo 'table inet nearzero {{ chain input {{' > {DIR}/confirmed.nft")
    engine.run_expect([0], f"rm {DIR}/emergency.nft")
    _reboot(inventory, "sec-engine")
    assert engine.check_output(f"{TOOL} status") == "failsafe"
    assert engine.run("systemctl is-failed --quiet nearzero-firewall.service").rc == 0
    assert engine.service("nearzero-firewall-failsafe").is_running
    assert 'comment "nearzero built-in failsafe"' in engine.check_output("nft list table inet nearzero")
    assert _boot_order(engine, "nearzero-firewall-failsafe.service")
    _scan(engine, peer, outside, addresses, inventory)


def test_the_role_repairs_the_boot_files(engine, peer, addresses, inventory, tmp_path):
    res = _reapply(inventory, tmp_path)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "loaded: the confirmed ruleset (in-sync)" in res.stdout
    assert engine.check_output(f"{TOOL} status") == "in-sync"
    assert engine.file(f"{DIR}/confirmed.nft").content == engine.file(f"{DIR}/ruleset.nft").content
    assert engine.file(f"{DIR}/emergency.nft").exists
    # The failed boot is over: neither unit claims otherwise.
    assert engine.run("systemctl is-failed --quiet nearzero-firewall.service").rc != 0
    assert not engine.service("nearzero-firewall-failsafe").is_running
    assert _tcp_open(peer, addresses["internal"], ENGINE_PORT)

