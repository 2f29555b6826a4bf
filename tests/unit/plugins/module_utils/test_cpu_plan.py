"""The CPU plan on captured layouts (tests/fixtures/cpu/<layout>/), and its sysfs readers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

# `make setup` links the repository into .collections as nearzero.gcp (docs/CONVENTIONS.md).
sys.path.insert(0, str(Path(__file__).resolve().parents[4] / ".collections"))

from ansible_collections.nearzero.gcp.plugins.module_utils.cpu_plan import (
    Cpu,
    PlanError,
    cpumask,
    format_cpulist,
    make_plan,
    parse_cpulist,
    parse_lscpu,
    read_devices,
    read_sysfs,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cpu"
LAYOUTS = sorted(p.name for p in FIXTURES.iterdir() if (p / "lscpu.txt").exists())


@pytest.fixture
def lab_sysfs(tmp_path: Path) -> Path:
    """The lab host's captured sysfs files, unpacked (kept as an archive: sysfs names hold ':' and
    its symlinks point at directories, neither of which a collection may ship)."""
    with tarfile.open(FIXTURES / "lab-host-2vcpu" / "sys.tar.gz") as archive:
        archive.extractall(tmp_path, filter="tar")
    return tmp_path / "sys"


def layout(name: str) -> tuple[list[Cpu], dict]:
    cpus = parse_lscpu((FIXTURES / name / "lscpu.txt").read_text())
    devices_file = FIXTURES / name / "devices.json"
    devices = json.loads(devices_file.read_text()) if devices_file.exists() else {}
    return cpus, devices


def siblings(cpus: list[Cpu]) -> list[set[int]]:
    cores: dict[tuple[int, int], set[int]] = {}
    for cpu in cpus:
        cores.setdefault((cpu.package, cpu.core), set()).add(cpu.cpu)
    return list(cores.values())


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_gets_a_safe_plan(name):
    cpus, devices = layout(name)
    plan = make_plan(cpus, devices)
    hk, iso = set(parse_cpulist(plan["housekeeping"])), set(parse_cpulist(plan["isolated"]))
    assert hk, "a plan always keeps housekeeping CPUs"
    assert hk.isdisjoint(iso)
    assert hk | iso == {c.cpu for c in cpus}
    assert 0 in hk
    for core in siblings(cpus):  # sibling threads stay together
        assert core <= hk or core <= iso, f"core {core} is split"
    node_of = {c.cpu: c.node for c in cpus}
    assert {node_of[c] for c in iso} <= {plan["numa_node"]}
    near = set(parse_cpulist(plan["housekeeping_near_nic"]))
    assert near <= hk
    assert {node_of[c] for c in near} == {plan["numa_node"]}


def test_one_vcpu_isolates_nothing():
    plan = make_plan(*layout("n1-standard-1"))
    assert plan["isolated"] == ""
    assert plan["housekeeping"] == "0"
    assert any("too few to isolate" in note for note in plan["notes"])


def test_two_vcpus_with_smt_is_one_core_and_isolates_nothing():
    plan = make_plan(*layout("n2-standard-2"))
    assert plan["smt"] is True
    assert plan["cores"] == 1
    assert plan["isolated"] == ""


def test_lab_host_two_cores_isolates_the_second():
    plan = make_plan(*layout("lab-host-2vcpu"))
    assert (plan["housekeeping"], plan["isolated"], plan["smt"]) == ("0", "1", False)


def test_22_vcpus_smt_on_keeps_siblings_of_cpu0_and_isolates_the_rest():
    plan = make_plan(*layout("c3-standard-22"))
    # 11 cores, one housekeeping core per 8 (rounded up): cores {0,11} and {1,12}.
    assert plan["housekeeping"] == "0-1,11-12"
    assert plan["isolated"] == "2-10,13-21"
    assert plan["threads_per_core"] == 2


def test_22_vcpus_smt_off():
    plan = make_plan(*layout("c3-standard-22-smt-off"))
    assert plan["smt"] is False
    assert plan["isolated"] == "2-10"


def test_88_vcpus_two_nodes_isolates_on_the_nic_node():
    cpus, devices = layout("c3-standard-88")
    assert devices["nic_numa_node"] == 1
    plan = make_plan(cpus, devices)
    assert plan["numa_node"] == 1
    assert plan["nodes"] == {"0": "0-21,44-65", "1": "22-43,66-87"}
    # Node 1 has 22 cores: 3 stay for NIC IRQs/RPS/XPS, 19 are isolated, node 0 is housekeeping.
    assert plan["housekeeping_near_nic"] == "22-24,66-68"
    assert plan["isolated"] == "25-43,69-87"
    assert plan["housekeeping"] == "0-24,44-68"


def test_88_vcpus_nic_on_node_0_moves_the_isolated_cores():
    cpus, devices = layout("c3-standard-88")
    plan = make_plan(cpus, {**devices, "nic_numa_node": 0})
    assert plan["numa_node"] == 0
    assert plan["isolated"] == "3-21,47-65"


def test_44_vcpus_smt_off_two_nodes():
    plan = make_plan(*layout("c3-standard-88-smt-off"))
    assert (plan["numa_node"], plan["isolated"], plan["smt"]) == (1, "25-43", False)


def test_gpu_node_is_used_when_the_nic_node_is_unknown():
    cpus, devices = layout("a3-highgpu-2g")
    assert devices["nic_numa_node"] is None
    plan = make_plan(cpus, devices)
    assert plan["numa_node"] == 1
    assert plan["gpu_numa_nodes"] == [1]


def test_nic_wins_over_gpu_and_says_so():
    cpus, devices = layout("a3-highgpu-2g")
    plan = make_plan(cpus, {**devices, "nic_numa_node": 0})
    assert plan["numa_node"] == 0
    assert any("isolated cores follow the NIC" in note for note in plan["notes"])


def test_numa_node_override():
    cpus, devices = layout("c3-standard-88")
    assert make_plan(cpus, devices, numa_node=0)["numa_node"] == 0
    with pytest.raises(PlanError, match="NUMA nodes \\[0, 1\\]"):
        make_plan(cpus, devices, numa_node=3)


def test_core_counts_are_overridable():
    cpus, devices = layout("c3-standard-22")
    plan = make_plan(cpus, devices, housekeeping_cores=3, isolated_cores=4)
    assert plan["isolated"] == "3-6,14-17"
    assert plan["housekeeping"] == "0-2,7-13,18-21"
    with pytest.raises(PlanError, match="only 8 cores left"):
        make_plan(cpus, devices, housekeeping_cores=3, isolated_cores=9)


def test_explicit_isolated_list():
    cpus, devices = layout("c3-standard-22")
    plan = make_plan(cpus, devices, isolated="4-5,15-16")
    assert plan["source"] == "override"
    assert plan["isolated"] == "4-5,15-16"


@pytest.mark.parametrize(("isolated", "message"), [
    ("4,5", "splits the sibling threads 4,15"),
    ("0,11", "includes CPU 0"),
    ("20-23", "not online \\(22-23\\)"),
    ("1-x", "is not a CPU list"),
])
def test_bad_explicit_lists_are_refused_with_the_fix(isolated, message):
    cpus, devices = layout("c3-standard-22")
    with pytest.raises(PlanError, match=message):
        make_plan(cpus, devices, isolated=isolated)


def test_a_plan_without_housekeeping_is_refused():
    # Without CPU 0 online (a hypothetical layout), isolating every CPU must still be refused.
    cpus = [Cpu(cpu=c, core=c, package=0, node=0) for c in (1, 2)]
    with pytest.raises(PlanError, match="no housekeeping CPU"):
        make_plan(cpus, {}, isolated="1-2")


def test_cpulist_round_trip_and_mask():
    assert parse_cpulist("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    assert format_cpulist([5, 0, 1, 2, 10, 11]) == "0-2,5,10-11"
    assert cpumask([0, 4]) == "00000011"
    assert cpumask([0, 33]) == "00000002,00000001"


def test_sysfs_reader_on_the_captured_lab_host(lab_sysfs):
    root = lab_sysfs
    assert read_sysfs(str(root)) == parse_lscpu((FIXTURES / "lab-host-2vcpu" / "lscpu.txt").read_text())
    devices = read_devices(str(root), "eth0")
    # A virtio NIC hangs below its PCI device; numa_node -1 there means "no NUMA information".
    assert devices == {"nic": "eth0", "nic_driver": "virtio_net", "nic_numa_node": None, "gpus": []}


def test_sysfs_reader_finds_nvidia_gpus_and_their_node(lab_sysfs, tmp_path):
    gpu = tmp_path / "sys" / "bus" / "pci" / "devices" / "0000:80:00.0"
    gpu.mkdir()
    (gpu / "vendor").write_text("0x10de\n")
    (gpu / "class").write_text("0x030200\n")
    (gpu / "numa_node").write_text("1\n")
    devices = read_devices(str(tmp_path / "sys"), "eth0")
    assert devices["gpus"] == [{"address": "0000:80:00.0", "numa_node": 1}]


@pytest.mark.skipif(shutil.which("lscpu") is None, reason="lscpu (util-linux) is not installed")
def test_sysfs_reader_agrees_with_lscpu_on_this_machine():
    out = subprocess.run(["lscpu", "-p=CPU,CORE,SOCKET,NODE"], capture_output=True, text=True, check=True).stdout
    by_lscpu = parse_lscpu(out)
    by_sysfs = read_sysfs("/sys")
    assert [c.cpu for c in by_sysfs] == [c.cpu for c in by_lscpu]
    assert [c.node for c in by_sysfs] == [c.node for c in by_lscpu]
    assert len({(c.package, c.core) for c in by_sysfs}) == len({(c.package, c.core) for c in by_lscpu})


def test_the_module_runs_on_this_machine(tmp_path):
    """The cpu_plan module end to end through ansible (real sysfs of this machine)."""
    root = Path(__file__).resolve().parents[4]
    res = subprocess.run(
        [str(root / ".venv" / "bin" / "ansible"), "localhost", "-m", "nearzero.gcp.cpu_plan", "-a",
         "housekeeping_cores=1", "-o"], capture_output=True, text=True, check=False, cwd=root,
        env={"PATH": "/usr/bin:/bin", "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
             "ANSIBLE_LOCALHOST_WARNING": "false", "HOME": str(tmp_path),
             # make test keeps bytecode out of the collection's folders; so does this bare environment
             **{k: v for k, v in os.environ.items() if k == "PYTHONPYCACHEPREFIX"}})
    assert res.returncode == 0, res.stdout + res.stderr
    plan = json.loads(res.stdout.split("=>", 1)[1])["ansible_facts"]["low_latency_cpu_plan"]
    assert set(parse_cpulist(plan["housekeeping"])) | set(parse_cpulist(plan["isolated"])) == set(
        parse_cpulist(Path("/sys/devices/system/cpu/online").read_text()))
    assert 0 in parse_cpulist(plan["housekeeping"])
