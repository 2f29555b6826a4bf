#!/bin/sh
# Runs inside the debootstrapped root file system (chroot) once, when the image is built.
set -eu

# Full apt sources, as on a GCE Debian 12 image.
cat > /etc/apt/sources.list <<'SRC'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC

# The operator account Ansible connects as (like an OS Login user): key only, sudo.
groupadd --system operators
useradd --create-home --shell /bin/bash --groups operators ops
passwd --lock ops
printf 'ops ALL=(ALL:ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/lab-ops
chmod 0440 /etc/sudoers.d/lab-ops

# Host keys are made at first boot, so containers never share them.
rm -f /etc/ssh/ssh_host_*
cat > /etc/systemd/system/lab-ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot (lab)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable lab-ssh-hostkeys.service ssh.service

# PostgreSQL binaries only: the database role makes its own cluster on the database hosts.
pg_dropcluster --stop 15 main 2>/dev/null || true
systemctl disable postgresql.service 2>/dev/null || true

# auditd needs the audit netlink socket of the host kernel; the security role enables it on VMs.
systemctl disable auditd.service 2>/dev/null || true

# Services that have nothing to do in a container.
systemctl mask getty@tty1.service console-getty.service systemd-udevd.service \
  systemd-udevd-kernel.socket systemd-udevd-control.socket 2>/dev/null || true

# Each container gets its own machine-id at boot.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
