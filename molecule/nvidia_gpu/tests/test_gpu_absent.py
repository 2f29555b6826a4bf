"""nvidia_gpu on the lab host with no GPU (gpu-absent; converge.yml says what ran there): the role left it
exactly as it was, even after a forced run against an unreachable repository."""

import pytest

testinfra_hosts = ["ansible://gpu-absent"]

ROLE_FILES = [
    "/etc/apt/sources.list.d/nearzero-cuda.list",
    "/etc/apt/preferences.d/nearzero-nvidia.pref",
    "/usr/share/keyrings/nearzero-cuda-archive-keyring.gpg",
    "/etc/apt/apt.conf.d/52nearzero-nvidia-unattended-upgrades",
    "/etc/modprobe.d/nearzero-blacklist-nouveau.conf",
    "/etc/modprobe.d/nearzero-nvidia.conf",
    "/etc/modules-load.d/nearzero-nvidia.conf",
    "/etc/dkms/framework.conf.d/nearzero-mok.conf",
    "/etc/systemd/system/nvidia-persistenced.service",
    "/etc/systemd/system/nearzero-gpu-clocks.service",
]

SNAPSHOT = ("set -o pipefail; { sha256sum /var/lib/dpkg/status; { find /etc/apt /etc/modprobe.d /etc/systemd/system "
            "/etc/dkms /usr/share/keyrings -xdev 2>/dev/null || true; } | sort | xargs -r stat -c '%n %s %Y'; }")


def snapshot(host):
    """What prepare.yml recorded, taken again (same command)."""
    return host.check_output("bash -c %s", SNAPSHOT)


def test_no_gpu_host_is_exactly_as_before(host):
    before = host.file("/var/tmp/nearzero-nvidia-before.txt").content_string.strip()
    assert snapshot(host).strip() == before


@pytest.mark.parametrize("path", ROLE_FILES)
def test_no_gpu_host_has_none_of_the_role_files(host, path):
    assert not host.file(path).exists


def test_no_gpu_host_has_no_nvidia_package_and_a_clean_apt(host):
    assert host.run("dpkg-query -W 'nvidia-*' 'libnvidia-*' 'cuda-*' 'libcuda*'").stdout.strip() == ""
    assert host.file("/var/cache/nearzero/nvidia/cuda-keyring_1.1-1_all.deb").exists is False
    assert "127.0.0.1:9" not in host.check_output("grep -rs . /etc/apt/sources.list /etc/apt/sources.list.d || true")
