#!/usr/bin/env python3
"""No-op re-run of playbooks/site.yml on a lab: the project's ansible.cfg against ansible's defaults.

Both configurations run alternately in one process on one lab (A B A B ...), so the noise of
this shared machine hits both alike; the result is the ratio of the medians. The "defaults"
configuration sets only what ansible needs to find the project's roles, plugins and
collections, and leaves every tuning knob at ansible-core's default.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAB = "bench-cfg"
DEFAULTS_CFG = f"""[defaults]
roles_path = {ROOT}/roles
collections_path = {ROOT}/.collections
inventory_plugins = {ROOT}/plugins/inventory
lookup_plugins = {ROOT}/plugins/lookup
library = {ROOT}/plugins/modules
module_utils = {ROOT}/plugins/module_utils
"""


def run_site(cfg: str, inventory: Path) -> tuple[float, str]:
    env = {**os.environ, "ANSIBLE_CONFIG": cfg, "PATH": f"{ROOT}/.venv/bin:{os.environ['PATH']}"}
    start = time.monotonic()
    res = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / "site.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    elapsed = time.monotonic() - start
    if res.returncode != 0:
        sys.exit(f"site.yml failed with {cfg}:\n{res.stdout[-3000:]}")
    recap = res.stdout[res.stdout.rfind("PLAY RECAP"):]
    return elapsed, recap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-lab", action="store_true")
    args = parser.parse_args()
    labctl = [sys.executable, str(ROOT / "lab" / "labctl.py")]
    emulator = [str(ROOT / "tools" / "emulator.sh")]
    subprocess.run([*labctl, "up", "--lab", LAB, "--replace", "--auto-subnets"], check=True)
    subprocess.run([*emulator, "start", LAB], check=True)  # the database tier asks the SQL Admin API
    inventory = ROOT / ".lab" / LAB / "inventory.yml"
    project_cfg = str(ROOT / "ansible.cfg")
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as tmp:
            tmp.write(DEFAULTS_CFG)
        _, recap = run_site(project_cfg, inventory)  # converge once: later runs are no-ops
        times: dict[str, list[float]] = {"project ansible.cfg": [], "ansible defaults": []}
        for _ in range(args.rounds):
            for label, cfg in (("project ansible.cfg", project_cfg), ("ansible defaults", tmp.name)):
                elapsed, recap = run_site(cfg, inventory)
                if "changed=0" not in recap or "changed=1" in recap:
                    sys.exit(f"the re-run with {label} changed something:\n{recap}")
                times[label].append(elapsed)
        project, defaults = (statistics.median(times[k]) for k in times)
        hosts = recap.count("ok=")
        print("| hosts | rounds | project ansible.cfg (median s) | ansible defaults (median s) | speed-up |")
        print("|---|---|---|---|---|")
        print(f"| {hosts} | {args.rounds} | {project:.1f} | {defaults:.1f} | {defaults / project:.2f}x |")
        print("all runs (s):", {k: [round(v, 1) for v in vals] for k, vals in times.items()})
    finally:
        os.unlink(tmp.name)
        if not args.keep_lab:
            subprocess.run([*emulator, "stop", LAB], check=False)
            subprocess.run([*labctl, "down", "--lab", LAB], check=False)


if __name__ == "__main__":
    main()
