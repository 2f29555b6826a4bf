#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: compute the low-latency CPU plan of a host from sysfs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cpu_plan
short_description: Compute which CPUs do housekeeping and which are isolated for low latency
description:
  - Reads the online CPUs, their cores, packages and NUMA nodes from sysfs, and the NUMA node of
    the NIC and of the NVIDIA GPUs from C(/sys/bus/pci/devices/*/numa_node).
  - Keeps SMT sibling threads together, places the isolated cores on the NUMA node of the NIC
    (else of the GPU), keeps the core of CPU 0 and at least one core near the NIC for housekeeping.
  - Refuses a plan that leaves no housekeeping CPU, splits sibling threads or isolates CPU 0.
  - Read-only; returns the plan as the fact C(low_latency_cpu_plan).
version_added: "0.1.0"
author: nearzero (!UNKNOWN)
options:
  nic:
    description: Interface whose NUMA node the isolated cores follow. Default the interface of the default route.
    type: str
  numa_node:
    description: NUMA node for the isolated cores, instead of the NIC's.
    type: int
  housekeeping_cores:
    description: Cores of that node kept for housekeeping; 0 means one per 8 cores, at least one.
    type: int
    default: 0
  isolated_cores:
    description: Most cores to isolate; 0 means every other core of the node.
    type: int
    default: 0
  isolated:
    description: Explicit isolated CPU list (e.g. C(2-7,10-15)); overrides the computation.
    type: str
    default: ""
  sys_root:
    description: Where sysfs is mounted (another path reads a captured layout).
    type: path
    default: /sys
"""

EXAMPLES = r"""
- name: Compute the CPU plan
  nearzero.gcp.cpu_plan:
    housekeeping_cores: 1
"""

RETURN = r"""
ansible_facts:
  description: C(low_latency_cpu_plan) with C(housekeeping), C(isolated), C(housekeeping_near_nic) (CPU lists),
    C(numa_node), C(nodes), C(smt), C(threads_per_core), C(nic), C(nic_driver), C(nic_numa_node),
    C(gpu_numa_nodes), C(source) (auto or override) and C(notes).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nearzero.gcp.plugins.module_utils.cpu_plan import (
    PlanError,
    make_plan,
    read_devices,
    read_sysfs,
)


def default_route_interface(proc_root: str = "/proc") -> str | None:
    """The interface of the IPv4 default route (``/proc/net/route``, destination 00000000)."""
    try:
        with open(f"{proc_root}/net/route", encoding="ascii") as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        return None
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nic": {"type": "str"},
            "numa_node": {"type": "int"},
            "housekeeping_cores": {"type": "int", "default": 0},
            "isolated_cores": {"type": "int", "default": 0},
            "isolated": {"type": "str", "default": ""},
            "sys_root": {"type": "path", "default": "/sys"},
        },
        supports_check_mode=True,
    )
    params = module.params
    nic = params["nic"] or default_route_interface()
    try:
        cpus = read_sysfs(params["sys_root"])
        devices = read_devices(params["sys_root"], nic)
        plan = make_plan(cpus, devices, numa_node=params["numa_node"],
                         housekeeping_cores=params["housekeeping_cores"],
                         isolated_cores=params["isolated_cores"], isolated=params["isolated"])
    except PlanError as exc:
        module.fail_json(msg=f"CPU plan refused: {exc}")
    module.exit_json(changed=False, ansible_facts={"low_latency_cpu_plan": plan})


if __name__ == "__main__":
    main()
