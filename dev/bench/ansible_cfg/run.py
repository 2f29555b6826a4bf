#!/usr/bin/env python3
"""No-op re-run of playbooks/site.yml on a lab: the project's ansible.cfg against ansible's defaults.

The configurations run alternately in one process on one lab (A B C A B C ...), so the noise of
this shared machine hits them alike; the results are ratios of medians. The "defaults"
configuration sets only what ansible needs to find the project's roles, plugins and
collections, and leaves every tuning knob at ansible-core's default. The third is the project's
ansible.cfg with the opt-in strategy mitogen_linear (ANSIBLE_STRATEGY), as an operator selects it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delay_proxy import DelayProxy  # a sibling file, not a package

ROOT = Path(__file__).resolve().parents[3]
LAB = "bench-cfg"
CHANGED = re.compile(r"\bchanged=(\d+)")
DEFAULTS_CFG = f"""[defaults]
roles_path = {ROOT}/roles
collections_path = {ROOT}/.collections
inventory_plugins = {ROOT}/plugins/inventory
lookup_plugins = {ROOT}/plugins/lookup
library = {ROOT}/plugins/modules
module_utils = {ROOT}/plugins/module_utils
"""


def run_site(cfg: str, inventories: list[Path], strategy: str | None = None) -> tuple[float, str]:
    env = {**os.environ, "ANSIBLE_CONFIG": cfg, "PATH": f"{ROOT}/.venv/bin:{os.environ['PATH']}"}
    env.pop("ANSIBLE_STRATEGY", None)
    if strategy:
        env["ANSIBLE_STRATEGY"] = strategy
    start = time.monotonic()
    sources = [arg for inventory in inventories for arg in ("-i", str(inventory))]
    res = subprocess.run(
        ["ansible-playbook", *sources, str(ROOT / "dev" / "playbooks" / "lab_site.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    elapsed = time.monotonic() - start
    if res.returncode != 0:
        sys.exit(f"site.yml failed with {cfg}:\n{res.stdout[-3000:]}")
    recap = res.stdout[res.stdout.rfind("PLAY RECAP"):]
    return elapsed, recap


def rtt_overlay(hosts: dict, ports: dict[tuple[str, int], int], path: Path) -> Path:
    """An inventory source that sends each of the lab's ``hosts`` SSH through its delay-proxy port.

    ``ansible_host`` stays the host's address (roles use it, e.g. in certificates); ssh is told to
    connect to the proxy instead (HostName, Port) and to check the host key under the real address.
    """
    overlay = {"all": {"hosts": {}}}
    for name, hostvars in hosts.items():
        address = hostvars["ansible_host"]
        port = ports[(address, 22)]
        overlay["all"]["hosts"][name] = {
            "ansible_ssh_extra_args": f"-o HostName=127.0.0.1 -o Port={port} -o HostKeyAlias={address}"}
    path.write_text(yaml.safe_dump(overlay))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rtt-ms", default="0", type=lambda s: [float(x) for x in s.split(",") if x],
                        help="comma-separated round-trip times to add between controller and hosts (default 0: the "
                             "lab as it is); each is measured with both configurations")
    parser.add_argument("--keep-lab", action="store_true")
    parser.add_argument("--reuse-lab", action="store_true",
                        help="use the lab left by --keep-lab as it is (already converged)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    labctl = [sys.executable, str(ROOT / "dev" / "lab" / "labctl.py")]
    emulator = [str(ROOT / "dev" / "tools" / "emulator.sh")]
    if not args.reuse_lab:
        subprocess.run([*labctl, "up", "--lab", LAB, "--replace", "--auto-subnets"], check=True)
        subprocess.run([*emulator, "start", LAB], check=True)  # the database tier asks the SQL Admin API
    inventory = ROOT / ".lab" / LAB / "inventory.yml"
    if args.reuse_lab and not inventory.is_file():
        sys.exit(f"--reuse-lab: no lab at {inventory.parent}; run once with --keep-lab (and without --reuse-lab)")
    project_cfg = str(ROOT / "ansible.cfg")
    rows = []
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as tmp:
            tmp.write(DEFAULTS_CFG)
        if not args.reuse_lab:
            _, recap = run_site(project_cfg, [inventory])  # converge once: later runs are no-ops
        for rtt in args.rtt_ms:
            sources, proxy = [inventory], None
            if rtt:
                lab_hosts = yaml.safe_load(inventory.read_text())["all"]["hosts"]
                proxy = DelayProxy([(h["ansible_host"], 22) for h in lab_hosts.values()], rtt)
                sources.append(rtt_overlay(lab_hosts, proxy.start(), Path(tmp.name).with_suffix(".rtt.yml")))
            configs = {"project ansible.cfg": (project_cfg, None), "ansible defaults": (tmp.name, None),
                       "project + mitogen_linear": (project_cfg, "mitogen_linear")}
            times: dict[str, list[float]] = {label: [] for label in configs}
            try:
                for _ in range(args.rounds):
                    for label, (cfg, strategy) in configs.items():
                        elapsed, recap = run_site(cfg, sources, strategy)
                        changed = CHANGED.findall(recap)
                        if not changed or any(int(n) for n in changed):
                            sys.exit(f"the re-run with {label} (RTT {rtt:g} ms) changed something:\n{recap}")
                        times[label].append(elapsed)
            finally:
                if proxy:
                    proxy.stop()
            project, defaults, mitogen = (statistics.median(times[k]) for k in times)
            rows.append((rtt, recap.count("ok="), project, defaults, mitogen, times))
        print("| added RTT | hosts (+ localhost) | rounds | project ansible.cfg (median s) "
              "| ansible defaults (median s) | speed-up | project + mitogen_linear (median s) | speed-up |")
        print("|---|---|---|---|---|---|---|---|")
        for rtt, hosts, project, defaults, mitogen, _times in rows:
            print(f"| {rtt:g} ms | {hosts} | {args.rounds} | {project:.1f} | {defaults:.1f} | "
                  f"{defaults / project:.2f}x | {mitogen:.1f} | {defaults / mitogen:.2f}x |")
        for rtt, *_medians, times in rows:
            print(f"all runs at {rtt:g} ms (s):", {k: [round(v, 1) for v in vals] for k, vals in times.items()})
    finally:
        os.unlink(tmp.name)
        Path(tmp.name).with_suffix(".rtt.yml").unlink(missing_ok=True)
        if not args.keep_lab:
            subprocess.run([*emulator, "stop", LAB], check=False)
            subprocess.run([*labctl, "down", "--lab", LAB], check=False)


if __name__ == "__main__":
    main()
