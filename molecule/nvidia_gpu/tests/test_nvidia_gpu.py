"""nvidia_gpu's image build on the lab host gpu-image, from the local mirror (converge.yml says what ran
there): every rendered file, and the pins."""

testinfra_hosts = ["ansible://gpu-image"]

DRIVER = "580.95.05-1"
MIRROR = "file:///srv/nearzero-cuda-mirror/debian12/x86_64/"


def test_sources_list_uses_the_configured_mirror_and_our_keyring(host):
    lines = [ln for ln in host.file("/etc/apt/sources.list.d/nearzero-cuda.list").content_string.splitlines()
             if ln and not ln.startswith("#")]
    assert lines == [f"deb [arch=amd64 signed-by=/usr/share/keyrings/nearzero-cuda-archive-keyring.gpg] {MIRROR} /"]
    # the keyring package's own list (pointing at developer.download.nvidia.com) is not used
    assert not host.file("/etc/apt/sources.list.d/cuda-debian12-x86_64.list").exists
    assert host.run("dpkg-query -W cuda-keyring").rc != 0


def test_keyring_is_the_one_from_the_verified_package(host):
    sha = host.file("/srv/nearzero-cuda-mirror/cuda-keyring.sha256").content_string.strip()
    assert host.file("/var/cache/nearzero/nvidia/cuda-keyring_1.1-1_all.deb").sha256sum == sha
    packaged = host.check_output(
        "dpkg-deb --fsys-tarfile /srv/nearzero-cuda-mirror/debian12/x86_64/cuda-keyring_1.1-1_all.deb"
        " | tar -xOf - ./usr/share/keyrings/cuda-archive-keyring.gpg | sha256sum")
    assert host.file("/usr/share/keyrings/nearzero-cuda-archive-keyring.gpg").sha256sum == packaged.split()[0]


def test_repository_signature_is_checked(host):
    out = host.run("apt-get update -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=/dev/null "
                   "-o APT::Get::List-Cleanup=0 "
                   "-o Dir::Etc::sourcelist=/etc/apt/sources.list.d/nearzero-cuda.list 2>&1")
    assert out.rc == 0, out.stdout
    assert "NO_PUBKEY" not in out.stdout and "not signed" not in out.stdout


def test_driver_packages_are_on_the_pinned_branch_although_590_is_offered(host):
    for pkg in ["nvidia-driver-cuda", "nvidia-kernel-open-dkms", "nvidia-kernel-support", "libcuda1", "nvidia-smi",
                "libnvidia-ml1", "nvidia-persistenced", "nvidia-fabricmanager", "libnvidia-nscq"]:
        assert host.package(pkg).version == DRIVER, pkg
    assert "590.44.01-1" in host.check_output("apt-cache madison nvidia-driver-cuda")


def test_open_kernel_module_package_not_the_proprietary_one(host):
    assert host.package("nvidia-kernel-open-dkms").is_installed
    assert not host.package("nvidia-kernel-dkms").is_installed


def test_nothing_drifts_on_upgrade_and_the_other_branch_is_refused(host):
    upgrade = host.check_output("apt-get -s -o Debug::NoLocking=1 dist-upgrade")
    assert "nvidia" not in upgrade and "cuda" not in upgrade
    refused = host.run("apt-get -s -o Debug::NoLocking=1 install nvidia-driver-cuda=590.44.01-1")
    assert refused.rc != 0


def test_toolkit_pinned_separately_and_unversioned_metapackages_never(host):
    assert host.package("cuda-toolkit-13-0").version == "13.0.2-1"
    assert not host.package("cuda-toolkit-13-1").is_installed
    policy = host.check_output("apt-cache policy cuda-drivers cuda-toolkit")
    assert policy.count("Candidate: (none)") == 2


def test_exempt_nvidia_packages_keep_their_own_versions(host):
    assert "Candidate: 1.17.8-1" in host.check_output("apt-cache policy libnvidia-container1")


def test_preferences_file(host):
    stanzas = host.file("/etc/apt/preferences.d/nearzero-nvidia.pref").content_string.split("\n\n")
    records = [[ln for ln in s.splitlines() if not ln.startswith("#")] for s in stanzas]
    records = [r for r in records if r]
    assert [r[1:] for r in records] == [
        ["Pin: version *", "Pin-Priority: -1"],
        ["Pin: version *", "Pin-Priority: 500"],
        ["Pin: version 580.*", "Pin-Priority: 1001"],
        ["Pin: version *", "Pin-Priority: -1"],
        ["Pin: version 13.0.*", "Pin-Priority: 1001"],
    ]
    assert records[0][0] == "Package: cuda cuda-drivers cuda-toolkit cuda-runtime"
    assert records[2][0].startswith("Package: nvidia-* libnvidia-* libcuda*")
    assert records[4][0] == "Package: cuda-*-13-0 cuda-toolkit-13-0"


def test_unattended_upgrades_leave_kernel_and_driver_alone(host):
    dump = host.check_output("apt-config dump Unattended-Upgrade::Package-Blacklist")
    entries = [ln.split('"')[1] for ln in dump.splitlines() if ln.startswith("Unattended-Upgrade::Package-Blacklist::")]
    for entry in ["linux-image-", "linux-headers-", "nvidia-", "libnvidia-", "libcuda", "cuda-"]:
        assert entry in entries
    # unattended-upgrades' own matcher (re.match from the start) blacklists what matters, and not more
    script = ("import re,sys; bl=sys.argv[1].split(','); "
              "print(' '.join(p for p in sys.argv[2:] if any(re.match(r, p) for r in bl)))")
    names = "linux-image-6.1.0-27-cloud-amd64 linux-headers-cloud-amd64 nvidia-kernel-open-dkms libcuda1 " \
            "cuda-toolkit-13-0 openssl libnvidia-ml1 dkms libc6"
    matched = host.check_output(f"python3 -c \"{script}\" '{','.join(entries)}' {names}").split()
    assert "openssl" not in matched and "libc6" not in matched
    assert len(matched) == 7


def test_nouveau_blacklisted_and_module_options_parsed_by_modprobe(host):
    conf = host.check_output("modprobe --showconfig")
    assert "blacklist nouveau" in conf
    assert "options nouveau modeset=0" in conf
    assert "options nvidia NVreg_EnableStreamMemOPs=1" in conf


def test_driver_and_uvm_load_at_boot(host):
    lines = [ln for ln in host.file("/etc/modules-load.d/nearzero-nvidia.conf").content_string.splitlines()
             if ln and not ln.startswith("#")]
    assert lines == ["nvidia", "nvidia_uvm"]


def test_dkms_signs_with_the_mok(host):
    out = host.check_output("bash -c '. /etc/dkms/framework.conf.d/nearzero-mok.conf; "
                            "test -r \"$mok_signing_key\" && test -r \"$mok_certificate\" && "
                            "echo \"$mok_signing_key $mok_certificate\"'")
    assert out.split() == ["/var/lib/nearzero-test/mok.priv", "/var/lib/nearzero-test/mok.der"]


def test_persistenced_unit_turns_persistence_on_and_is_enabled_not_started(host):
    assert host.run("systemd-analyze verify /etc/systemd/system/nvidia-persistenced.service").rc == 0
    exec_start = host.check_output("systemctl show -p ExecStart nvidia-persistenced.service")
    assert "--persistence-mode" in exec_start and "--no-persistence-mode" not in exec_start
    assert "--user nvidia-persistenced" in exec_start
    assert host.service("nvidia-persistenced").is_enabled
    assert not host.service("nvidia-persistenced").is_running  # image build: nothing started
    user = host.user("nvidia-persistenced")
    assert user.exists and user.shell == "/usr/sbin/nologin" and user.uid < 1000


def test_application_clocks_unit(host):
    assert host.run("systemd-analyze verify /etc/systemd/system/nearzero-gpu-clocks.service").rc == 0
    exec_start = host.check_output("systemctl show -p ExecStart nearzero-gpu-clocks.service")
    assert "/usr/bin/nvidia-smi -ac 2619,1980" in exec_start.replace(" ; ", " ").replace("argv[]=", "")
    assert host.service("nearzero-gpu-clocks").is_enabled
    assert not host.service("nearzero-gpu-clocks").is_running


def test_fabric_manager_enabled_not_started(host):
    assert host.service("nvidia-fabricmanager").is_enabled
    assert not host.service("nvidia-fabricmanager").is_running
