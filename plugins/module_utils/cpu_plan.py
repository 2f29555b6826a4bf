"""CPU plan for a low-latency host: which CPUs do housekeeping and which are isolated.

Pure logic plus small readers for the two sources of a CPU layout (``lscpu -p`` output and
sysfs), so the plan can be unit-tested on captured layouts and computed on the host by the
``cpu_plan`` module.

Rules of the plan:

- Whole cores only: SMT sibling threads share L1/L2 and execution units, so a busy sibling
  adds jitter to an isolated thread. A core is either housekeeping or isolated, never split.
- Isolated cores sit on one NUMA node: the node of the NIC (packets are DMA'd into that
  node's memory and its IRQs are served there), else the node of the GPU, else node 0.
- The core of CPU 0 is always housekeeping (the boot CPU keeps timekeeping and early
  per-CPU work), and the NIC's node keeps at least one housekeeping core, so NIC queue IRQs,
  RPS and XPS can be served near the NIC without touching the isolated cores.
- A plan that leaves no housekeeping CPU is refused: the kernel, systemd, sshd and the NIC
  IRQs need somewhere to run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

# NVIDIA's PCI vendor id, and the PCI classes of a 3D controller and a VGA controller.
NVIDIA_VENDOR = "0x10de"
GPU_CLASSES = ("0x0302", "0x0300")
# Cores on the NIC's node kept for housekeeping when nothing is asked: one per 8 cores.
CORES_PER_HOUSEKEEPING_CORE = 8


class PlanError(ValueError):
    """The layout or the overrides do not allow a safe plan; the message names the fix."""


@dataclass(frozen=True)
class Cpu:
    """One online logical CPU and where it sits."""

    cpu: int
    core: int
    package: int
    node: int


def parse_cpulist(text: str) -> list[int]:
    """Parse a kernel CPU list (``0-3,8,10-11``) into sorted CPU numbers."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                first, last = (int(x) for x in part.split("-", 1))
                if last < first:
                    raise ValueError(part)
                cpus.update(range(first, last + 1))
            else:
                cpus.add(int(part))
        except ValueError as exc:
            raise PlanError(f"{text!r} is not a CPU list (expected e.g. '2-7,10-15')") from exc
    return sorted(cpus)


def format_cpulist(cpus) -> str:
    """Format CPU numbers as the shortest kernel CPU list (``[0,1,2,5]`` -> ``0-2,5``)."""
    ordered = sorted(set(cpus))
    ranges: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(ranges)


def cpumask(cpus) -> str:
    """The hexadecimal mask the kernel wants in ``rps_cpus``/``xps_cpus`` (comma every 32 bits)."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    digits = f"{value:x}"
    width = max(8, math.ceil(len(digits) / 8) * 8)
    digits = digits.zfill(width)
    return ",".join(digits[i:i + 8] for i in range(0, width, 8))


def parse_lscpu(text: str) -> list[Cpu]:
    """Parse ``lscpu -p=CPU,CORE,SOCKET,NODE``; an empty NODE (no NUMA) counts as node 0."""
    cpus = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(",")
        if len(fields) < 4:
            raise PlanError(f"unexpected lscpu line {line!r}: run `lscpu -p=CPU,CORE,SOCKET,NODE`")
        cpu, core, socket, node = (int(f) if f else 0 for f in fields[:4])
        cpus.append(Cpu(cpu=cpu, core=core, package=socket, node=node))
    if not cpus:
        raise PlanError("lscpu listed no CPU")
    return cpus


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def read_sysfs(sys_root: str = "/sys") -> list[Cpu]:
    """Read the online CPUs, their cores, packages and NUMA nodes from sysfs."""
    cpu_dir = os.path.join(sys_root, "devices/system/cpu")
    online = _read(os.path.join(cpu_dir, "online"))
    if online is None:
        raise PlanError(f"{cpu_dir}/online is missing: is {sys_root} a sysfs?")
    node_of: dict[int, int] = {}
    node_dir = os.path.join(sys_root, "devices/system/node")
    if os.path.isdir(node_dir):
        for entry in os.listdir(node_dir):
            if entry.startswith("node") and entry[4:].isdigit():
                cpulist = _read(os.path.join(node_dir, entry, "cpulist")) or ""
                for cpu in parse_cpulist(cpulist):
                    node_of[cpu] = int(entry[4:])
    cpus = []
    for cpu in parse_cpulist(online):
        topo = os.path.join(cpu_dir, f"cpu{cpu}", "topology")
        core = _read(os.path.join(topo, "core_id"))
        package = _read(os.path.join(topo, "physical_package_id"))
        cpus.append(Cpu(cpu=cpu, core=int(core) if core else cpu, package=int(package) if package else 0,
                        node=node_of.get(cpu, 0)))
    return cpus


def _numa_node_of(device_dir: str) -> int | None:
    """NUMA node of a device, walking up to the PCI device (a virtio NIC hangs below one)."""
    path = os.path.realpath(device_dir)
    for _depth in range(4):
        value = _read(os.path.join(path, "numa_node"))
        if value is not None:
            node = int(value)
            return node if node >= 0 else None
        path = os.path.dirname(path)
    return None


def read_devices(sys_root: str = "/sys", nic: str | None = None) -> dict:
    """NUMA nodes of the NIC (``/sys/class/net/<nic>``) and of the NVIDIA GPUs on the PCI bus."""
    nic_node = None
    nic_driver = None
    if nic:
        dev = os.path.join(sys_root, "class/net", nic, "device")
        if os.path.exists(dev):
            nic_node = _numa_node_of(dev)
            driver = os.path.join(dev, "driver")
            nic_driver = os.path.basename(os.path.realpath(driver)) if os.path.exists(driver) else None
    gpus = []
    pci = os.path.join(sys_root, "bus/pci/devices")
    if os.path.isdir(pci):
        for addr in sorted(os.listdir(pci)):
            base = os.path.join(pci, addr)
            klass = _read(os.path.join(base, "class")) or ""
            if _read(os.path.join(base, "vendor")) == NVIDIA_VENDOR and klass.startswith(GPU_CLASSES):
                gpus.append({"address": addr, "numa_node": _numa_node_of(base)})
    return {"nic": nic, "nic_driver": nic_driver, "nic_numa_node": nic_node, "gpus": gpus}


def _cores(cpus: list[Cpu]) -> list[tuple[int, ...]]:
    """Group CPUs into cores (sibling threads together), ordered by their lowest CPU."""
    by_core: dict[tuple[int, int], list[int]] = {}
    for cpu in cpus:
        by_core.setdefault((cpu.package, cpu.core), []).append(cpu.cpu)
    return sorted((tuple(sorted(c)) for c in by_core.values()), key=lambda c: c[0])


def _target_node(nodes: dict[int, list], devices: dict, numa_node: int | None, notes: list[str]) -> int:
    if numa_node is not None:
        if numa_node not in nodes:
            raise PlanError(f"low_latency_numa_node={numa_node} but this host has NUMA nodes "
                            f"{sorted(nodes)}. Fix: pick one of them or leave it unset.")
        return numa_node
    nic_node = devices.get("nic_numa_node")
    gpu_nodes = sorted({g["numa_node"] for g in devices.get("gpus", []) if g.get("numa_node") is not None})
    if nic_node is not None and nic_node in nodes:
        if gpu_nodes and nic_node not in gpu_nodes:
            notes.append(f"the NIC is on NUMA node {nic_node} but the GPUs on {gpu_nodes}: "
                         "isolated cores follow the NIC")
        return nic_node
    if gpu_nodes and gpu_nodes[0] in nodes:
        return gpu_nodes[0]
    if len(nodes) > 1:
        notes.append("the NIC's NUMA node is unknown: isolated cores go to node "
                     f"{min(nodes)}; set low_latency_numa_node to choose")
    return min(nodes)


def _override(cpus: list[Cpu], cores: list[tuple[int, ...]], isolated: str) -> list[int]:
    wanted = parse_cpulist(isolated)
    online = {c.cpu for c in cpus}
    unknown = sorted(set(wanted) - online)
    if unknown:
        raise PlanError(f"low_latency_isolated_cpus={isolated!r} names CPUs that are not online "
                        f"({format_cpulist(unknown)}); online: {format_cpulist(online)}.")
    for core in cores:
        inside = set(core) & set(wanted)
        if inside and inside != set(core):
            raise PlanError(f"low_latency_isolated_cpus={isolated!r} splits the sibling threads "
                            f"{format_cpulist(core)} of one core. Fix: isolate all of them or none.")
    if 0 in wanted:
        raise PlanError(f"low_latency_isolated_cpus={isolated!r} includes CPU 0, which keeps timekeeping "
                        "and boot-time work. Fix: leave CPU 0 (and its siblings) for housekeeping.")
    return wanted


def make_plan(cpus: list[Cpu], devices: dict | None = None, *, numa_node: int | None = None,
              housekeeping_cores: int = 0, isolated_cores: int = 0, isolated: str = "") -> dict:
    """Compute the plan.

    ``isolated`` (a CPU list) overrides the whole computation; ``numa_node`` overrides the node
    the isolated cores go to; ``housekeeping_cores`` is how many cores of that node stay for
    housekeeping (0: one per 8 cores, at least 1); ``isolated_cores`` caps the isolated cores
    (0: every other core of the node).
    """
    devices = devices or {}
    if housekeeping_cores < 0 or isolated_cores < 0:
        raise PlanError("low_latency_housekeeping_cores and low_latency_isolated_cores must be >= 0")
    notes: list[str] = []
    cores = _cores(cpus)
    nodes: dict[int, list[tuple[int, ...]]] = {}
    node_of = {c.cpu: c.node for c in cpus}
    for core in cores:
        nodes.setdefault(node_of[core[0]], []).append(core)
    threads = max(len(core) for core in cores)
    all_cpus = sorted(node_of)

    if isolated:
        iso = _override(cpus, cores, isolated)
        iso_nodes = sorted({node_of[c] for c in iso})
        target = iso_nodes[0] if iso_nodes else min(nodes)
        if len(iso_nodes) > 1:
            notes.append(f"the isolated CPUs span NUMA nodes {iso_nodes}: memory and NIC access cross nodes")
        source = "override"
    else:
        target = _target_node(nodes, devices, numa_node, notes)
        node_cores = nodes[target]
        keep = housekeeping_cores or max(1, math.ceil(len(node_cores) / CORES_PER_HOUSEKEEPING_CORE))
        boot_core = next(core for core in cores if 0 in core)
        candidates = [core for core in node_cores if core != boot_core][max(0, keep - (boot_core in node_cores)):]
        if isolated_cores:
            if isolated_cores > len(candidates):
                raise PlanError(f"low_latency_isolated_cores={isolated_cores} but NUMA node {target} has only "
                                f"{len(candidates)} cores left after {keep} housekeeping core(s). Fix: lower it, "
                                "or lower low_latency_housekeeping_cores.")
            candidates = candidates[:isolated_cores]
        iso = sorted(cpu for core in candidates for cpu in core)
        if not iso:
            notes.append(f"NUMA node {target} has {len(node_cores)} core(s): too few to isolate any while "
                         "keeping housekeeping; nothing is isolated")
        source = "auto"

    housekeeping = [c for c in all_cpus if c not in set(iso)]
    if not housekeeping:
        raise PlanError("the plan leaves no housekeeping CPU (the kernel, systemd, sshd and NIC IRQs need one). "
                        "Fix: isolate fewer CPUs.")
    near_nic = [c for c in housekeeping if node_of[c] == target] or housekeeping
    if threads > 1:
        notes.append(f"SMT is on ({threads} threads per core): sibling threads are kept together; "
                     "threads-per-core=1 gives every isolated core to the engine alone")
    return {
        "housekeeping": format_cpulist(housekeeping),
        "isolated": format_cpulist(iso),
        "housekeeping_near_nic": format_cpulist(near_nic),
        "housekeeping_near_nic_mask": cpumask(near_nic),
        "numa_node": target,
        "nodes": {str(n): format_cpulist(c for core in cs for c in core) for n, cs in sorted(nodes.items())},
        "cpus": format_cpulist(all_cpus),
        "cores": len(cores),
        "threads_per_core": threads,
        "smt": threads > 1,
        "nic": devices.get("nic"),
        "nic_driver": devices.get("nic_driver"),
        "nic_numa_node": devices.get("nic_numa_node"),
        "gpu_numa_nodes": sorted({g["numa_node"] for g in devices.get("gpus", []) if g.get("numa_node") is not None}),
        "source": source,
        "notes": notes,
    }
