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


def load_topology(path: Path, network_only: bool = False) -> dict:
    """Read a topology: its networks, and its hosts (listed, or derived from its ``architecture`` file).

    ``network_only``: the hosts are left out (the demo's lab, whose hosts provision.yml creates).
    """
    try:
        topo = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"cannot read topology {path}: {exc}") from exc
    networks = topo.setdefault("networks", {"internal": {}})
    if network_only:
        topo["hosts"] = []
        return topo
    if "hosts" not in topo and topo.get("architecture"):
        topo["hosts"] = hosts_from_architecture(path.parent / topo["architecture"])
    hosts = topo.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        raise LabError(f"{path}: 'hosts' must be a non-empty list (or 'architecture' name a file with a fleet)")
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


def hosts_from_architecture(path: Path) -> list[dict]:
    """The lab hosts an architecture file describes: its fleet, then the Cloud SQL primary and replica.

    What provision.yml would create, as lab hosts started directly (molecule scenarios start the demo's
    hosts this way, without provisioning them): a fleet entry with ``count`` is ``name_prefix-1`` onwards;
    a Cloud SQL instance is a host in its region's zone ``-a`` with labels ``role: database``, ``env: lab``
    and ``cloudsql: primary|replica``, as the emulator's lab mode starts it for a Cloud SQL insert.
    """
    try:
        arch = (yaml.safe_load(path.read_text()) or {})["nearzero_architecture"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise LabError(f"cannot read the architecture {path} (nearzero_architecture): {exc}") from exc
    hosts = []
    for entry in arch.get("fleet") or []:
        names = [entry["name"]] if entry.get("name") else [
            f"{entry['name_prefix']}-{i}" for i in range(1, int(entry.get("count", 1)) + 1)]
        for name in names:
            hosts.append({"name": name, "zone": entry.get("zone") or arch["zone"],
                          "machine_type": entry["machine_type"], "labels": dict(entry.get("labels") or {}),
                          "tags": list(entry.get("tags") or []), "gpus": list(entry.get("gpus") or [])})
    database = arch.get("database") or {}
    for role in ("primary", "replica"):
        spec = database.get(role)
        if spec:
            tier = spec.get("tier") or database["primary"]["tier"]
            hosts.append({"name": spec["name"], "zone": f"{spec['region']}-a", "machine_type": tier,
                          "labels": {"role": "database", "env": "lab", "cloudsql": role}, "tags": ["database"]})
    return hosts


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


def up(lab: str, topology: Path, replace: bool, auto_subnets: bool = False, network_only: bool = False) -> None:
    if not LAB_RE.match(lab):
        raise LabError(f"lab name {lab!r} must match {LAB_RE.pattern}")
    topo = load_topology(topology, network_only)
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
        networks: dict[str, dict] = {}
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
            networks[net] = {"podman": podname, "subnet": subnet,
                             "gateway": str(ipaddress.ip_network(subnet).network_address + 1)}

    state = STATE_ROOT / lab
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    key = state / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"nearzero-lab-{lab}", "-f", str(key)],
                   check=True)
    # What the emulator's lab mode needs to start hosts itself (dev/emulator/services/compute_fleet_lab.py).
    (state / "lab.json").write_text(json.dumps({
        "lab": lab, "project": topo.get("project", DEFAULT_PROJECT), "image": tag, "networks": networks},
        indent=2) + "\n")
    records: list[dict] = []
    for host in topo["hosts"]:
        records.append(run_host(lab, tag, host, networks, records))
    for record in records:
        finish_host(state, record)
    save_hosts(state, records)
    ensure_time_servers(state, networks, records)
    write_inventory(lab, state, records, emulated=True)
    print(f"lab: {lab} is up ({len(records)} hosts); inventory {state / 'inventory.yml'}")


def run_host(lab: str, tag: str, host: dict, networks: dict, records: list[dict]) -> dict:
    """Start the container of one lab host (not yet booted): the first free addresses from .10 on."""
    name = host["name"]
    ctr = f"nz-{PREFIX}{lab}-{name}"
    args = ["run", "-d", "--name", ctr, "--hostname", name, "--label", f"{LABEL}={PREFIX}{lab}",
            "--systemd=always", "--cap-add", "NET_RAW", "--cap-add", "NET_ADMIN",
            "--tmpfs", "/run", "--tmpfs", "/tmp"]  # noqa: S108 (the container's own /tmp)
    used = {ip for record in records for ip in record["addresses"].values()}
    addresses = {}
    for index, net in enumerate(host.get("networks") or [next(iter(networks))]):
        subnet = ipaddress.ip_network(networks[net]["subnet"])
        ip = host.get("ip") if index == 0 else None  # the address the emulator gave the instance
        if ip and (ipaddress.ip_address(ip) not in subnet or ip in used or ip == networks[net]["gateway"]):
            raise LabError(f"host {name}: address {ip} is not free on network {net} ({subnet})")
        ip = ip or next(str(a) for a in subnet.hosts()
                        if int(a) - int(subnet.network_address) >= 10 and str(a) not in used)
        used.add(ip)
        addresses[net] = ip
        args += ["--network", f"{networks[net]['podman']}:ip={ip}"]
    for key_, value in (host.get("sysctls") or {}).items():
        args += ["--sysctl", f"{key_}={value}"]
    podman(*args, tag, "/sbin/init")
    return {"host": host, "ctr": ctr, "addresses": addresses}


def finish_host(state: Path, record: dict) -> None:
    """Wait for the host's systemd, let the lab's key in, and read its MTU and SSH host key."""
    ctr = record["ctr"]
    wait_for(lambda c=ctr: container_booted(c), 60, f"systemd in {ctr} to finish booting")
    writable_net_sysctls(ctr)
    podman("exec", "-i", ctr, "sh", "-c",
           "install -d -m 0700 -o ops -g ops /home/ops/.ssh && cat > /home/ops/.ssh/authorized_keys && "
           "chown ops:ops /home/ops/.ssh/authorized_keys && chmod 0600 /home/ops/.ssh/authorized_keys",
           stdin=(state / "id_ed25519.pub").read_text())
    # The MTU its first interface really has: the emulator reports it as the VPC network's.
    record["mtu"] = int(podman("exec", ctr, "cat", "/sys/class/net/eth0/mtu").strip())
    record["hostkey"] = " ".join(podman("exec", ctr, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").split()[:2])


def load_hosts(state: Path) -> list[dict]:
    path = state / "hosts.json"
    return json.loads(path.read_text()) if path.exists() else []


def save_hosts(state: Path, records: list[dict]) -> None:
    tmp = state / "hosts.json.tmp"
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    os.replace(tmp, state / "hosts.json")


@contextlib.contextmanager
def lab_lock(state: Path):
    """One change at a time to a lab's hosts (the emulator may insert two instances at once)."""
    with open(state / ".hosts.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def lab_state(lab_dir: Path) -> tuple[str, Path, dict]:
    state = Path(lab_dir).resolve()
    if not (state / "lab.json").exists():
        raise LabError(f"{state} holds no lab.json: start the lab with `dev/lab/labctl.py up` first")
    return state.name, state, json.loads((state / "lab.json").read_text())


def host_add(lab_dir: Path, spec: dict) -> dict:
    """Start one host on a running lab (the emulator's lab mode, for instances.insert); its addresses."""
    lab, state, info = lab_state(lab_dir)
    name = spec.get("name", "")
    if not NAME_RE.match(name):
        raise LabError(f"host name {name!r} must match {NAME_RE.pattern}")
    for net in spec.setdefault("networks", [next(iter(info["networks"]))]):
        if net not in info["networks"]:
            raise LabError(f"host {name} names network {net!r}; the lab has {', '.join(info['networks'])}")
    with lab_lock(state):
        records = load_hosts(state)
        if any(r["host"]["name"] == name for r in records):
            raise LabError(f"lab {lab} already has a host {name}")
        record = run_host(lab, info["image"], spec, info["networks"], records)
        try:
            finish_host(state, record)
        except LabError:
            podman("rm", "-f", "-t", "0", record["ctr"], check=False)
            raise
        records.append(record)
        save_hosts(state, records)
        ensure_time_servers(state, info["networks"], records)
        write_inventory(lab, state, records, emulated=False)
    return {"container": record["ctr"], "ip": primary_ip(record), "addresses": record["addresses"],
            "mtu": record["mtu"]}


def host_change(lab_dir: Path, name: str, action: str) -> dict:
    """Stop, start or remove one host of a running lab."""
    lab, state, _ = lab_state(lab_dir)
    with lab_lock(state):
        records = load_hosts(state)
        record = next((r for r in records if r["host"]["name"] == name), None)
        if record is None:
            raise LabError(f"lab {lab} has no host {name}")
        ctr = record["ctr"]
        if action == "remove":
            podman("rm", "-f", "-t", "0", ctr)
            records.remove(record)
            save_hosts(state, records)
            write_inventory(lab, state, records, emulated=False)
        elif action == "stop":
            podman("stop", "-t", "10", ctr)
        else:
            podman("start", ctr)
            wait_for(lambda: container_booted(ctr), 60, f"systemd in {ctr} to finish booting")
            writable_net_sysctls(ctr)
    return {"container": ctr, "ip": primary_ip(record)}


CUT_TABLE = "nz_lab_cut"
# Drops every packet the host receives and every packet it sends, except on loopback, ahead of any
# table the host's own firewall loads (priority -300): its region is down, as seen from everywhere.
CUT_RULES = (f"table inet {CUT_TABLE} {{\n"
             "  chain input { type filter hook input priority -300; policy drop; iif \"lo\" accept; }\n"
             "  chain output { type filter hook output priority -300; policy drop; oif \"lo\" accept; }\n"
             "}\n")


def region_of(zone: str) -> str:
    """``us-east4-a`` -> ``us-east4``."""
    return zone.rsplit("-", 1)[0]


def cut_hosts(lab_dir: Path, names: list[str], region: str, restore: bool) -> list[dict]:
    """Cut hosts of a running lab off from everything (or restore them): a region outage.

    The hosts are named, or chosen by region (every host whose zone is in it). A cut host keeps
    running, as the VMs of a region that lost its network do: its processes go on and believe what
    they believed; nothing reaches it and nothing it sends leaves. Both directions are dropped
    inside the host's own network namespace by an nftables table of the lab's; restore deletes
    that table. Each is idempotent. Returns, per host, its name, container, address and whether it
    is cut now.
    """
    lab, state, _ = lab_state(lab_dir)
    records = load_hosts(state)
    if region:
        chosen = [r for r in records if region_of(r["host"].get("zone", "")) == region]
        if not chosen:
            regions = sorted({region_of(r["host"].get("zone", "")) for r in records})
            raise LabError(f"lab {lab} has no host in region {region!r} (its regions: {', '.join(regions)})")
    else:
        by_name = {r["host"]["name"]: r for r in records}
        unknown = [n for n in names if n not in by_name]
        if unknown or not names:
            raise LabError(f"lab {lab} has no host {', '.join(unknown) or '(none named)'}; its hosts: "
                           f"{', '.join(sorted(by_name))}. Fix: name them with --hosts a,b or choose --region")
        chosen = [by_name[n] for n in names]
    out = []
    for record in chosen:
        ctr = record["ctr"]
        present = CUT_TABLE in podman("exec", ctr, "nft", "list", "tables")
        if restore and present:
            podman("exec", ctr, "nft", "delete", "table", "inet", CUT_TABLE)
        elif not restore and not present:
            podman("exec", "-i", ctr, "nft", "-f", "-", stdin=CUT_RULES)
        out.append({"name": record["host"]["name"], "container": ctr, "ip": primary_ip(record), "cut": not restore,
                    "changed": present == restore})
    return out


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


def write_inventory(lab: str, state: Path, instances: list[dict], emulated: bool = True) -> None:
    """The lab's static inventory, known_hosts, ssh_config and env from its hosts.

    ``emulated``: also write ``instances.json`` for the emulator. Once the emulator's lab mode
    creates hosts, the emulator writes that file itself (it holds what only the API knows).
    """
    project = json.loads((state / "lab.json").read_text())["project"]
    hosts: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}
    emulated_entries = []
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
        emulated_entries.append({**{k: gce[k] for k in ("name", "project", "zone", "machine_type", "labels", "tags",
                                                        "gpus", "nic_type")},
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
    if not (state / "group_vars").is_symlink():
        (state / "group_vars").symlink_to(ROOT / "inventory" / "lab" / "group_vars")
    if emulated:
        (state / "instances.json").write_text(json.dumps(emulated_entries, indent=2) + "\n")
    (state / "known_hosts").write_text("".join(
        f"{','.join([i['host']['name'], *i['addresses'].values()])} {i['hostkey']}\n" for i in instances))
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


def ensure_time_servers(state: Path, networks: dict, records: list[dict]) -> None:
    """A time server on the gateway of every network that has a host (the gateway exists from then on)."""
    for net in sorted({n for record in records for n in record["addresses"]}):
        pidfile = state / f"sntp-{net}.pid"
        if pidfile.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pidfile.read_text()), 0)
                continue
        start_time_server(state, net, networks[net]["gateway"])


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
    upp.add_argument("--network-only", action="store_true",
                     help="start no host: the networks only (the demo, whose hosts provision.yml creates)")
    hst = sub.add_parser("host", help="add, stop, start or remove a host of a running lab (the emulator's lab mode)")
    hst.add_argument("action", choices=["add", "stop", "start", "remove"])
    hst.add_argument("--lab-dir", required=True, help="the lab's state directory (.lab/NAME)")
    hst.add_argument("--spec",
                     help="add: the host as JSON {name, zone, machine_type, labels, tags, gpus, networks, ip}")
    hst.add_argument("--name", help="stop/start/remove: the host's name")
    for verb, what in (("cut", "cut hosts of a running lab off from everything (a region outage)"),
                       ("restore", "give cut hosts their network back")):
        cut = sub.add_parser(verb, help=what)
        cut.add_argument("--lab-dir", required=True, help="the lab's state directory (.lab/NAME)")
        which = cut.add_mutually_exclusive_group(required=True)
        which.add_argument("--hosts", help="comma-separated host names")
        which.add_argument("--region", help="every host whose zone is in this region (like us-east4)")
    dwn = sub.add_parser("down", help="remove everything a lab made")
    dwn.add_argument("--lab", default="demo")
    sub.add_parser("doctor", help="check that podman can start containers")
    args = parser.parse_args()
    try:
        if args.cmd == "image":
            build_image(args.force)
        elif args.cmd == "up":
            up(args.lab, Path(args.topology), args.replace, args.auto_subnets, args.network_only)
        elif args.cmd == "host":
            if args.action == "add":
                if not args.spec:
                    raise LabError("host add needs --spec JSON")
                print(json.dumps(host_add(Path(args.lab_dir), json.loads(args.spec))))
            else:
                if not args.name:
                    raise LabError(f"host {args.action} needs --name NAME")
                print(json.dumps(host_change(Path(args.lab_dir), args.name, args.action)))
        elif args.cmd in ("cut", "restore"):
            names = [n for n in (args.hosts or "").split(",") if n]
            print(json.dumps(cut_hosts(Path(args.lab_dir), names, args.region or "", args.cmd == "restore")))
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
