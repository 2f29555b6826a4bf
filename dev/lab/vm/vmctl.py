#!/usr/bin/env python3
"""Debian 12 virtual machines under qemu (software emulation) for tests that need a real kernel.

Containers share this machine's kernel, so kernel-global tuning (the kernel command line,
``vm.*``/``kernel.*`` sysctls, THP, IRQ affinity) can only be tested in a VM with a kernel of
its own. ``/dev/kvm`` here is a software virtualiser that cannot run an unmodified Debian
kernel, so the VM runs under TCG (see the harness notes in dev/README.md).

``build`` makes a bootable raw disk without loop devices and caches it under
``~/.cache/nearzero/vm/<recipe hash>/`` (``NEARZERO_VM_CACHE`` overrides; shared by every clone):
debootstrap a root file system with a kernel and GRUB,
``mkfs.ext4 -d`` it into a partition image, write an MBR with ``sfdisk`` and copy the
partition in at 1 MiB, then boot it once with ``-kernel/-initrd`` so a one-shot unit runs
``grub-install`` and ``update-grub`` and powers off. From then on the disk boots through
SeaBIOS and GRUB, so the guest can change its own kernel command line and reboot.

``up`` starts a VM on a throw-away qcow2 overlay of the cached disk, with SSH forwarded from
a free port on 127.0.0.1, waits for SSH and writes an Ansible inventory; ``down`` stops it
and removes its state. State for a VM lives in ``.lab/<name>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
VM_DIR = Path(__file__).resolve().parent
# Machine-wide, like podman's image store for the container lab: every clone on this machine
# (CI runs in a fresh one each time) reuses a disk whose recipe hash matches.
CACHE = Path(os.environ.get("NEARZERO_VM_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nearzero" / "vm")
STATE_ROOT = ROOT / ".lab"
MIRROR = os.environ.get("NEARZERO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DISK_SIZE_MIB = 4096
QEMU = "qemu-system-x86_64"
# TCG flags that run an unmodified Debian kernel here (HARNESS.md): KVM is not usable.
QEMU_MACHINE = ["-machine", "q35", "-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max", "-m", "2048"]


class VMError(Exception):
    """A problem the operator can fix; the message names it and the fix."""


def run(cmd: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if res.returncode != 0:
        raise VMError(f"{what} failed (`{' '.join(cmd[:4])} ...`): {(res.stdout + res.stderr).strip()[-800:]}")
    return res


def recipe_hash() -> str:
    """Hash of everything that goes into the disk: rebuild only when one of them changes."""
    digest = hashlib.sha256()
    for part in ("packages.txt", "setup.sh"):
        digest.update((VM_DIR / part).read_bytes())
    digest.update(MIRROR.encode())
    digest.update(str(DISK_SIZE_MIB).encode())
    return digest.hexdigest()[:12]


def disk_dir() -> Path:
    return CACHE / recipe_hash()


def read_packages() -> list[str]:
    lines = (VM_DIR / "packages.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def require_tools() -> None:
    missing = [t for t in ("debootstrap", "mkfs.ext4", "sfdisk", "qemu-img", QEMU) if shutil.which(t) is None]
    if missing:
        raise VMError(f"missing tools: {', '.join(missing)}. "
                      "Fix: run `make setup` (installs qemu-system-x86, qemu-utils, fdisk, debootstrap).")
    if os.geteuid() != 0:
        raise VMError("building the VM disk needs root (debootstrap, chroot). Fix: run as root.")


def build(force: bool = False) -> Path:
    """Build the cached disk if its recipe changed; return its directory."""
    out = disk_dir()
    if not force and (out / "disk.raw").exists():
        print(f"vm: disk {out.name} is up to date")
        return out
    require_tools()
    start = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    # A failed build leaves its work directory (console log included) until the next build.
    work = CACHE / f"build-{out.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    rootfs = work / "rootfs"
    print(f"vm: building disk {out.name} with debootstrap from {MIRROR} (a few minutes, once)")
    run(["debootstrap", "--variant=minbase", f"--include={','.join(read_packages())}",
         "bookworm", str(rootfs), MIRROR], "debootstrap (is the Debian mirror reachable?)")
    run(["chroot", str(rootfs), "/bin/sh", "-s"], "the disk setup script",
        input=(VM_DIR / "setup.sh").read_text())
    # A key pair for the operator and the VM's host keys, made once per disk: the VM only
    # ever listens on 127.0.0.1 of this machine.
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nearzero-vm", "-f", str(work / "id_ed25519")],
        "ssh-keygen")
    auth = rootfs / "home/ops/.ssh/authorized_keys"
    auth.write_text((work / "id_ed25519.pub").read_text())
    auth.chmod(0o600)
    uid_gid = run(["chroot", str(rootfs), "id", "-u", "ops"], "id").stdout.strip()
    os.chown(auth, int(uid_gid), int(uid_gid))
    run(["chroot", str(rootfs), "ssh-keygen", "-A"], "ssh-keygen -A in the root file system")
    hostkey = (rootfs / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
    (work / "hostkey").write_text(" ".join(hostkey) + "\n")
    kernel = sorted(rootfs.glob("boot/vmlinuz-*"))[-1]
    initrd = sorted(rootfs.glob("boot/initrd.img-*"))[-1]
    shutil.copy(kernel, work / "vmlinuz")
    shutil.copy(initrd, work / "initrd.img")

    part = work / "part.img"
    run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(rootfs), str(part), f"{DISK_SIZE_MIB - 1}M"],
        "mkfs.ext4 -d")
    disk = work / "disk.raw"
    with disk.open("wb") as fh:
        fh.truncate(DISK_SIZE_MIB * 1024 * 1024)
    run(["sfdisk", "-q", str(disk)], "sfdisk", input="label: dos\nstart=2048, type=83, bootable\n")
    run(["dd", f"if={part}", f"of={disk}", "bs=1M", "seek=1", "conv=sparse,notrunc", "status=none"], "dd")
    part.unlink()
    first_boot(work)
    shutil.rmtree(rootfs)
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    print(f"vm: built disk {out.name} in {time.monotonic() - start:.0f} s")
    return out


def first_boot(work: Path) -> None:
    """Boot the new disk once with an external kernel: the guest installs GRUB and powers off."""
    console = work / "firstboot.log"
    cmd = [QEMU, *QEMU_MACHINE, "-smp", "2", "-display", "none", "-no-reboot",
           "-drive", f"file={work / 'disk.raw'},if=virtio,format=raw",
           "-kernel", str(work / "vmlinuz"), "-initrd", str(work / "initrd.img"),
           "-append", "root=/dev/vda1 rw console=ttyS0,115200",
           "-serial", f"file:{console}", "-nic", "none"]
    try:
        subprocess.run(cmd, check=True, timeout=600, capture_output=True)
    except subprocess.TimeoutExpired as exc:
        raise VMError(f"the first boot did not power off within 600 s; console: {console}") from exc
    except subprocess.CalledProcessError as exc:
        raise VMError(f"qemu failed on the first boot: {exc.stderr.decode()[-500:]}") from exc
    # Only the one-shot unit powers the guest off, and only after grub-install and update-grub
    # succeeded: a clean power-off is the proof.
    if "reboot: Power down" not in console.read_text(errors="replace"):
        raise VMError(f"the first boot did not install GRUB; see the console log {console}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ssh_ready(state: Path, port: int) -> bool:
    res = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(state / "id_ed25519"), "-p", str(port),
         "-o", f"UserKnownHostsFile={state / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
         "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "ops@127.0.0.1", "true"],
        capture_output=True, check=False, timeout=60)
    return res.returncode == 0


def up(name: str, host: str, groups: list[str], hostvars: dict, smp: int, timeout: float) -> None:
    disk = build()
    state = STATE_ROOT / name
    if (state / "qemu.pid").exists():
        down(name)
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    for key in ("id_ed25519", "id_ed25519.pub"):
        shutil.copy(disk / key, state / key)
    (state / "id_ed25519").chmod(0o600)
    port = free_port()
    (state / "known_hosts").write_text(f"[127.0.0.1]:{port} {(disk / 'hostkey').read_text()}")
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(disk / "disk.raw"), "-F", "raw",
         str(state / "overlay.qcow2")], "qemu-img create")
    run([QEMU, *QEMU_MACHINE, "-smp", str(smp), "-display", "none", "-daemonize",
         "-pidfile", str(state / "qemu.pid"), "-serial", f"file:{state / 'console.log'}",
         "-drive", f"file={state / 'overlay.qcow2'},if=virtio,format=qcow2",
         "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device", "virtio-net-pci,netdev=n0"],
        "starting qemu")
    start = time.monotonic()
    while not ssh_ready(state, port):
        if time.monotonic() - start > timeout:
            # Keep the console where `down` (which removes the state directory) leaves it.
            kept = STATE_ROOT / f"{name}.failed-console.log"
            shutil.copy(state / "console.log", kept)
            raise VMError(f"SSH to VM {name} not up after {timeout:.0f} s (a loaded machine boots slowly under "
                          f"emulation: raise --timeout); console: {kept}")
        time.sleep(2)
    inventory = {"all": {
        "vars": {
            "ansible_user": "ops",
            "ansible_ssh_private_key_file": str(state / "id_ed25519"),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={state / 'known_hosts'} -o StrictHostKeyChecking=yes",
            "nearzero_lab": name,
        },
        "hosts": {host: {"ansible_host": "127.0.0.1", "ansible_port": port, **hostvars}},
        "children": {g: {"hosts": {host: None}} for g in groups},
    }}
    (state / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    print(f"vm: {name} is up (SSH on 127.0.0.1:{port}) in {time.monotonic() - start:.0f} s; "
          f"inventory {state / 'inventory.yml'}")


def down(name: str) -> None:
    state = STATE_ROOT / name
    pidfile = state / "qemu.pid"
    if pidfile.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
    shutil.rmtree(state, ignore_errors=True)
    print(f"vm: {name} is down")


def main() -> int:
    parser = argparse.ArgumentParser(description="nearzero Debian 12 VMs under qemu (software emulation)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    bld = sub.add_parser("build", help="build the cached VM disk if its recipe changed")
    bld.add_argument("--force", action="store_true")
    upp = sub.add_parser("up", help="start a VM on an overlay of the cached disk")
    upp.add_argument("--name", required=True, help="state directory under .lab/ (also the lab name)")
    upp.add_argument("--host", default="vm-1", help="inventory host name")
    upp.add_argument("--group", action="append", default=[], help="inventory group (repeatable)")
    upp.add_argument("--hostvars", default="{}", help="YAML mapping of extra host variables")
    upp.add_argument("--smp", type=int, default=2)
    upp.add_argument("--timeout", type=float, default=240)
    dwn = sub.add_parser("down", help="stop a VM and remove its state")
    dwn.add_argument("--name", required=True)
    args = parser.parse_args()
    try:
        if args.cmd == "build":
            build(args.force)
        elif args.cmd == "up":
            hostvars = yaml.safe_load(args.hostvars) or {}
            if not isinstance(hostvars, dict):
                raise VMError("--hostvars must be a YAML mapping, e.g. '{gce: {nic_type: GVNIC}}'")
            up(args.name, args.host, args.group, hostvars, args.smp, args.timeout)
        else:
            down(args.name)
    except VMError as exc:
        print(f"vm: ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
