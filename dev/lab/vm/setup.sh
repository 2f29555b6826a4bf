#!/bin/sh
# Runs once inside the VM's debootstrapped root file system (chroot) when the disk is built.
set -eu

cat > /etc/apt/sources.list <<'SRC'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC

echo nearzero-vm > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 nearzero-vm\n' > /etc/hosts
printf '/dev/vda1 / ext4 errors=remount-ro 0 1\n' > /etc/fstab

# DHCP on the virtio NIC (qemu user networking), as on a GCE image.
mkdir -p /etc/systemd/network
cat > /etc/systemd/network/10-dhcp.network <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
NET
systemctl enable systemd-networkd.service

# The operator account Ansible connects as: key only (installed by vmctl), passwordless sudo.
groupadd --system operators
useradd --create-home --shell /bin/bash --groups operators ops
passwd --lock ops
printf 'ops ALL=(ALL:ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/lab-ops
chmod 0440 /etc/sudoers.d/lab-ops
install -d -m 0700 -o ops -g ops /home/ops/.ssh

# Serial console and a short menu, so boots are quick and visible in the console log.
cat > /etc/default/grub <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
mkdir -p /etc/default/grub.d

# First boot (started by vmctl with -kernel/-initrd): install GRUB on the disk, then power off.
# After that the disk boots on its own through SeaBIOS and GRUB.
cat > /etc/systemd/system/nearzero-firstboot.service <<'UNIT'
[Unit]
Description=Install the boot loader on first boot (nearzero VM disk)
ConditionPathExists=!/var/lib/nearzero-firstboot.done
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/sbin/grub-install --target=i386-pc /dev/vda
ExecStart=/usr/sbin/update-grub
ExecStart=/usr/bin/touch /var/lib/nearzero-firstboot.done
ExecStart=/usr/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable nearzero-firstboot.service ssh.service

# Boot faster under emulation.
systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer 2>/dev/null || true
systemctl mask systemd-networkd-wait-online.service 2>/dev/null || true

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
