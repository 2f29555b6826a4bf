#!/usr/bin/env python3
"""The nearzero lab: Debian 12 containers with systemd standing in for GCE VMs.

``image`` builds the lab image once with debootstrap and caches it under a tag made from a
hash of its recipe (``dev/lab/image/``), so it is rebuilt only when the recipe changes.
``up`` starts a topology (``dev/lab/topology.yml`` for the demo, or a molecule scenario's) on
private podman networks, with no port published on the host; ``down`` removes exactly what
``up`` made (everything carries the label ``nearzero.lab=<name>``).

State for a lab lives in ``.lab/<name>/``: the SSH key, ``known_hosts`` (host keys read from
inside each container, not trusted on first use), a static ``inventory.yml`` with the group
names the ``gce`` inventory plugin makes, and ``instances.json`` for the emulator's lab mode.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = Path(__file__).resolve().parent
STATE_ROOT = ROOT / ".lab"
IMAGE_REPO = "localhost/nearzero-lab"
MIRROR = os.environ.get("NEARZERO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
LABEL = "nearzero.lab"
LOCK = Path.home() / ".cache" / "nearzero" / "labctl.lock"
AUTO_SUBNETS = range(100, 250)  # 10.89.X.0/24 for labs that do not name a subnet
DEFAULT_PROJECT = "nearzero-lab"
# Podman names are global to the machine: a second checkout (CI beside a developer) sets
# NEARZERO_LAB_PREFIX so its containers, networks and labels never meet the first one's.
PREFIX = os.environ.get("NEARZERO_LAB_PREFIX", "")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")  # host names: they become hostnames
LAB_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")  # lab names: molecule scenario names may carry "_"


class LabError(Exception):
    """A problem the operator can fix; the message names it and the fix."""


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(LAB_DIR / "containers.conf"))
    return env


def podman(*args: str, check: bool = True, capture: bool = True, stdin: str | None = None) -> str:
    if shutil.which("podman") is None:
        raise LabError("podman is not installed. "
                       "Fix: run `make setup` (as root) to install podman, runc and debootstrap.")
    res = subprocess.run(
        ["podman", *args], env=podman_env(), input=stdin, text=True,
        capture_output=capture, check=False,
    )
    if check and res.returncode != 0:
        err = (res.stderr or "").strip()
        hint = ""
        if any(word in err for word in ("OCI runtime", "setrlimit", "crun", "cgroups")):
            hint = (f"\nFix: podman must run containers with runc and explicit ulimits "
                    f"(CONTAINERS_CONF={LAB_DIR / 'containers.conf'}); `dev/lab/labctl.py doctor` checks it.")
        raise LabError(f"`podman {' '.join(args)}` failed: {err[-800:]}{hint}")
    return res.stdout if capture else ""


# --- image ---------------------------------------------------------------------------------

def read_packages() -> list[str]:
    lines = (LAB_DIR / "image" / "packages.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def image_tag() -> str:
    digest = hashlib.sha256()
    for part in ("packages.txt", "setup.sh"):
        digest.update((LAB_DIR / "image" / part).read_bytes())
    digest.update(MIRROR.encode())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def build_image(force: bool = False) -> str:
    tag = image_tag()
    if not force and subprocess.run(["podman", "image", "exists", tag], env=podman_env(), check=False).returncode == 0:
        print(f"lab: image {tag} is up to date")
        return tag
    if os.geteuid() != 0:
        raise LabError("building the lab image needs root (debootstrap, chroot). Fix: run as root.")
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed. Fix: run `make setup` (as root).")
    start = time.monotonic()
    cache = ROOT / ".cache" / "lab"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        print(f"lab: building {tag} with debootstrap from {MIRROR} (about 2 minutes, once)")
        res = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(read_packages())}",
             "bookworm", str(rootfs), MIRROR],
            capture_output=True, text=True, check=False,
        )
        if res.returncode != 0:
            raise LabError(f"debootstrap failed (is {MIRROR} reachable?): {res.stdout[-600:]}{res.stderr[-600:]}")
        setup = (LAB_DIR / "image" / "setup.sh").read_text()
        res = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-s"], input=setup, text=True,
                             capture_output=True, check=False)
        if res.returncode != 0:
            raise LabError(f"image setup script failed: {res.stderr[-800:]}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["podman", "import", "--change", 'CMD ["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
             "-", tag], stdin=tar.stdout, env=podman_env(), capture_output=True, text=True, check=False)
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise LabError(f"podman import failed: {imp.stderr[-800:]}")
    print(f"lab: built {tag} in {time.monotonic() - start:.0f} s")
    return tag


# --- topology ------------------------------------------------------------------------------

def sanitise(value: str) -> str:
    """Make a string a valid Ansible group name part, as the gce inventory plugin does."""
    return re.sub(r"[^A-Za-z0-9_]", "_", value)


def load_topology(path: Path) -> dict:
    try:
        topo = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"cannot read topology {path}: {exc}") from exc
    hosts = topo.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        raise LabError(f"{path}: 'hosts' must be a non-empty list")
    networks = topo.setdefault("networks", {"internal": {}})
    seen = set()
    for host in hosts:
        name = host.get("name", "")
        if not NAME_RE.match(name):
            raise LabError(f"{path}: host name {name!r} must match {NAME_RE.pattern}")
        if name in seen:
            raise LabError(f"{path}: host {name} is listed twice")
        seen.add(name)
        host.setdefault("networks", [next(iter(networks))])
        for net in host["networks"]:
            if net not in networks:
                raise LabError(f"{path}: host {name} names network {net!r}, which is not under 'networks'")
    return topo


def used_subnets() -> set[str]:
    out = podman("network", "ls", "--format", "{{.Name}}")
    subnets = set()
    for name in out.split():
        info = json.loads(podman("network", "inspect", name))
        for net in info:
            for sub in net.get("subnets") or []:
                subnets.add(sub.get("subnet"))
    return subnets


def pick_subnet(taken: set[str]) -> str:
    for third in AUTO_SUBNETS:
        candidate = f"10.89.{third}.0/24"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise LabError("no free 10.89.X.0/24 subnet left for a lab network. Fix: `labctl.py down` labs you no longer use.")


@contextlib.contextmanager
def machine_lock():
    """Serialise the steps of ``up`` that read and then claim something shared by every lab.

    make test starts several labs at once: two of them must not both build the image, nor both
    see 10.89.X.0/24 free and then race for it. Images and networks belong to the machine's podman,
    not to one checkout, so the lock is the machine's too (CI in a clone beside a developer's tree).
    """
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def lab_resources(lab: str) -> tuple[list[str], list[str]]:
    ctrs = podman("ps", "-a", "--filter", f"label={LABEL}={PREFIX}{lab}", "--format", "{{.Names}}").split()
    nets = podman("network", "ls", "--filter", f"label={LABEL}={PREFIX}{lab}", "--format", "{{.Name}}").split()
    return ctrs, nets


# --- up / down -----------------------------------------------------------------------------

def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")


def container_booted(ctr: str) -> bool:
    res = subprocess.run(["podman", "exec", ctr, "systemctl", "is-system-running"], env=podman_env(),
                         capture_output=True, text=True, check=False)
    return res.stdout.strip() in ("running", "degraded")


def up(lab: str, topology: Path, replace: bool, auto_subnets: bool = False) -> None:
    if not LAB_RE.match(lab):
        raise LabError(f"lab name {lab!r} must match {LAB_RE.pattern}")
    topo = load_topology(topology)
    ctrs, nets = lab_resources(lab)
    if ctrs or nets:
        if not replace:
            raise LabError(
                f"lab {lab!r} is already up or left over from an earlier run ({len(ctrs)} containers, "
                f"{len(nets)} networks). Fix: `make lab-down` (or `dev/lab/labctl.py down --lab {lab}`), "
                "or pass --replace.")
        down(lab)
    # Under the lock: the image (built once), and the subnets in use read until this lab's networks exist.
    with machine_lock():
        tag = build_image()
        taken = used_subnets()
        netnames: dict[str, str] = {}
        subnets: dict[str, ipaddress.IPv4Network] = {}
        for net, spec in topo["networks"].items():
            pinned = None if auto_subnets else (spec or {}).get("subnet")
            subnet = pinned or pick_subnet(taken)
            if pinned and subnet in taken:
                raise LabError(f"subnet {subnet} of network {net!r} is already used by another podman network. "
                               "Fix: `make lab-down` the other lab, or choose another subnet in the topology.")
            podname = f"nz-{PREFIX}{lab}-{net}"
            mtu = (spec or {}).get("mtu")
            podman("network", "create", "--label", f"{LABEL}={PREFIX}{lab}", "--subnet", subnet,
                   *(["--opt", f"mtu={int(mtu)}"] if mtu else []), podname)
            netnames[net], subnets[net] = podname, ipaddress.ip_network(subnet)

    state = STATE_ROOT / lab
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    key = state / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"nearzero-lab-{lab}", "-f", str(key)],
                   check=True)
    pubkey = (state / "id_ed25519.pub").read_text()

    next_ip = {net: 10 for net in topo["networks"]}
    instances = []
    for host in topo["hosts"]:
        name = host["name"]
        ctr = f"nz-{PREFIX}{lab}-{name}"
        args = ["run", "-d", "--name", ctr, "--hostname", name, "--label", f"{LABEL}={PREFIX}{lab}",
                "--systemd=always", "--cap-add", "NET_RAW", "--cap-add", "NET_ADMIN",
                "--tmpfs", "/run", "--tmpfs", "/tmp"]  # noqa: S108 (the container's own /tmp)
        addresses = {}
        for net in host["networks"]:
            ip = str(subnets[net].network_address + next_ip[net])
            next_ip[net] += 1
            addresses[net] = ip
            args += ["--network", f"{netnames[net]}:ip={ip}"]
        for key_, value in (host.get("sysctls") or {}).items():
            args += ["--sysctl", f"{key_}={value}"]
        podman(*args, tag, "/sbin/init")
        instances.append({"host": host, "ctr": ctr, "addresses": addresses})

    known_hosts = []
    for inst in instances:
        ctr = inst["ctr"]
        wait_for(lambda c=ctr: container_booted(c), 60, f"systemd in {ctr} to finish booting")
        writable_net_sysctls(ctr)
        podman("exec", "-i", ctr, "sh", "-c",
               "install -d -m 0700 -o ops -g ops /home/ops/.ssh && cat > /home/ops/.ssh/authorized_keys && "
               "chown ops:ops /home/ops/.ssh/authorized_keys && chmod 0600 /home/ops/.ssh/authorized_keys",
               stdin=pubkey)
        # The MTU its first interface really has: the emulator reports it as the VPC network's.
        inst["mtu"] = int(podman("exec", ctr, "cat", "/sys/class/net/eth0/mtu").strip())
        hostkey = podman("exec", ctr, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").split()
        names = ",".join([inst["host"]["name"], *inst["addresses"].values()])
        known_hosts.append(f"{names} {hostkey[0]} {hostkey[1]}")
    (state / "known_hosts").write_text("\n".join(known_hosts) + "\n")
    for net, subnet in subnets.items():
        start_time_server(state, net, str(subnet.network_address + 1))
    write_inventory(lab, state, topo, instances)
    print(f"lab: {lab} is up ({len(instances)} hosts); inventory {state / 'inventory.yml'}")


def writable_net_sysctls(ctr: str) -> None:
    """Make /proc/sys/net writable inside the container, as systemd-nspawn does.

    The container has its own network namespace, and /proc/sys/net always resolves to the
    namespace of the process that opens it, so writes there change the container's network
    stack only. Everything else in /proc/sys (vm.*, kernel.*, the non-namespaced net.core.*
    keys, which are absent from a child namespace) stays read-only: the host's kernel is
    never touched.
    """
    pid = podman("inspect", "-f", "{{.State.Pid}}", ctr).strip()
    res = subprocess.run(["nsenter", "-t", pid, "-m", "--", "sh", "-c",
                          "mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise LabError(f"could not make /proc/sys/net writable in {ctr}: {res.stderr.strip()}")


def primary_ip(inst: dict) -> str:
    return next(iter(inst["addresses"].values()))


def write_inventory(lab: str, state: Path, topo: dict, instances: list[dict]) -> None:
    project = topo.get("project", DEFAULT_PROJECT)
    hosts: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}
    emulated = []
    for inst in instances:
        host = inst["host"]
        zone = host.get("zone", "us-east4-a")
        region = zone.rsplit("-", 1)[0]
        labels = host.get("labels") or {}
        gpus = host.get("gpus") or []
        gce = {"name": host["name"], "project": project, "zone": zone, "region": region,
               "machine_type": host.get("machine_type", "c3-standard-8"), "private_ip": primary_ip(inst),
               "labels": labels, "tags": host.get("tags") or [], "gpus": gpus,
               "nic_type": host.get("nic_type", "GVNIC"), "network_mtu": inst["mtu"]}
        # What the gce plugin stores by default (hostvar_keys): not the name or region the host already
        # has, not the network tags, nothing empty; so the scenarios see the facts the plugin gives.
        stored = {k: v for k, v in gce.items() if k not in ("name", "region", "tags") and v not in ([], {}, "")}
        hosts[host["name"]] = {"ansible_host": primary_ip(inst), "gce": stored, "lab_addresses": inst["addresses"],
                               "lab_container": inst["ctr"]}
        names = [f"project_{project}", f"zone_{zone}", f"region_{region}"]
        names += [f"{k}_{v}" for k, v in labels.items()]
        names += ["gpu"] if gpus else []
        names += host.get("groups") or []
        for group in names:
            groups.setdefault(sanitise(group), []).append(host["name"])
        emulated.append({**{k: gce[k] for k in ("name", "project", "zone", "machine_type", "labels", "tags", "gpus",
                                                "nic_type")},
                         "ip": primary_ip(inst), "status": host.get("status", "RUNNING"),
                         "network_mtu": inst["mtu"]})
    inventory = {"all": {
        "vars": {
            "ansible_user": "ops",
            "ansible_ssh_private_key_file": str(state / "id_ed25519"),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={state / 'known_hosts'} -o StrictHostKeyChecking=yes",
            "nearzero_lab": lab,
            "nearzero_lab_dir": str(state),
        },
        "hosts": hosts,
        "children": {g: {"hosts": dict.fromkeys(sorted(members))} for g, members in sorted(groups.items())},
    }}
    (state / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    # The lab's own settings (inventory/lab/group_vars) apply to every use of this inventory.
    (state / "group_vars").symlink_to(ROOT / "inventory" / "lab" / "group_vars")
    (state / "instances.json").write_text(json.dumps(emulated, indent=2) + "\n")
    # For inventories that do not carry the lab's SSH settings (the gce plugin through the
    # emulator): `source .lab/<lab>/env` sets them as ansible configuration.
    (state / "env").write_text(
        "export ANSIBLE_REMOTE_USER=ops\n"
        f"export ANSIBLE_PRIVATE_KEY_FILE={state / 'id_ed25519'}\n"
        f"export ANSIBLE_SSH_COMMON_ARGS='-o UserKnownHostsFile={state / 'known_hosts'} "
        "-o StrictHostKeyChecking=yes'\n")
    (state / "ssh_config").write_text("".join(
        f"Host {h}\n  HostName {v['ansible_host']}\n  User ops\n  IdentityFile {state / 'id_ed25519'}\n"
        f"  UserKnownHostsFile {state / 'known_hosts'}\n  StrictHostKeyChecking yes\n" for h, v in hosts.items()))


def start_time_server(state: Path, net: str, gateway: str) -> None:
    """Run dev/lab/sntp.py on a lab network's gateway: the lab's stand-in for the metadata server's NTP."""
    log = (state / f"sntp-{net}.log").open("w")
    proc = subprocess.Popen([sys.executable, str(LAB_DIR / "sntp.py"), "--bind", gateway], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(0.3)
    if proc.poll() is not None:
        raise LabError(f"the lab time server could not listen on {gateway}:123/udp "
                       f"({(state / f'sntp-{net}.log').read_text().strip()[-300:]}). "
                       "Fix: stop whatever listens on UDP port 123 of that address.")
    (state / f"sntp-{net}.pid").write_text(str(proc.pid))


def stop_time_servers(state: Path) -> None:
    for pidfile in state.glob("sntp-*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def down(lab: str) -> None:
    stop_time_servers(STATE_ROOT / lab)
    ctrs, nets = lab_resources(lab)
    if ctrs:
        podman("rm", "-f", "-t", "0", *ctrs)
    for net in nets:
        podman("network", "rm", "-f", net)
    shutil.rmtree(STATE_ROOT / lab, ignore_errors=True)
    print(f"lab: {lab} is down ({len(ctrs)} containers, {len(nets)} networks removed)")


def doctor() -> None:
    """Check that podman can start a container here; name the fix when it cannot."""
    podman("run", "--rm", build_image(), "/bin/true")
    print("lab: podman starts containers")


def main() -> int:
    parser = argparse.ArgumentParser(description="nearzero lab: Debian 12 containers with systemd")
    sub = parser.add_subparsers(dest="cmd", required=True)
    img = sub.add_parser("image", help="build the lab image if its recipe changed")
    img.add_argument("--force", action="store_true")
    upp = sub.add_parser("up", help="start a topology")
    upp.add_argument("--lab", default="demo")
    upp.add_argument("--topology", default=str(LAB_DIR / "topology.yml"))
    upp.add_argument("--replace", action="store_true", help="remove a stale lab of the same name first")
    upp.add_argument("--auto-subnets", action="store_true",
                     help="ignore the topology's subnets and pick free ones (test labs beside the demo)")
    dwn = sub.add_parser("down", help="remove everything a lab made")
    dwn.add_argument("--lab", default="demo")
    sub.add_parser("doctor", help="check that podman can start containers")
    args = parser.parse_args()
    try:
        if args.cmd == "image":
            build_image(args.force)
        elif args.cmd == "up":
            up(args.lab, Path(args.topology), args.replace, args.auto_subnets)
        elif args.cmd == "down":
            down(args.lab)
        else:
            doctor()
    except LabError as exc:
        print(f"lab: ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
