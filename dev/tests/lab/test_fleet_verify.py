"""``--tags verify`` checks every host and reports each failure; a deploy still stops at the first.

deploy.yml deploys one host at a time and stops at the first failure (a bad release never gets past
the first batch). The same play used to end a read-only ``--tags verify`` run at the first failing
host too, so the hosts after it were never checked. Three engine hosts that cannot be reached
(SSH to a closed port of 127.0.0.1: nothing is touched) fail in both runs: verify must report all
three, a deploy only the first.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
HOSTS = ["eng-a", "eng-b", "eng-c"]


def run(tmp_path, *args):
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(
        "all:\n  vars: {ansible_host: 127.0.0.1, ansible_port: 9, ansible_connection: ssh}\n"
        "  children:\n    role_trading_engine:\n      hosts: {" + ", ".join(f"{h}: {{}}" for h in HOSTS) + "}\n")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts")}
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/deploy.yml", "--check", *args]
    res = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
    recap = {m.group(1): m.group(2) for m in re.finditer(r"^(eng-\w)\s+: (.*)$", res.stdout, re.M)}
    return res, recap


def test_verify_reports_every_host(tmp_path):
    res, recap = run(tmp_path, "--tags", "verify")
    assert res.returncode != 0, res.stdout
    assert sorted(recap) == HOSTS, res.stdout
    assert all("unreachable=1" in line or "failed=1" in line for line in recap.values()), recap


def test_a_deploy_still_stops_at_the_first_failing_host(tmp_path):
    res, recap = run(tmp_path)
    assert res.returncode != 0, res.stdout
    assert list(recap) == ["eng-a"], res.stdout
