"""The scenario's converged lab for the tests: its hosts by inventory group, each reached over plain SSH, and
the product's playbooks run again on it, for the tests that judge a whole run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import testinfra
import yaml

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LAB = ROOT / ".lab" / f"mol-{os.environ.get('MOLECULE_SCENARIO_NAME', 'default')}"
INVENTORY = yaml.safe_load((LAB / "inventory.yml").read_text())["all"]
HOSTS = sorted(INVENTORY["hosts"])


def members(group):
    """The hosts of an inventory group, for a test that holds for those hosts only (parametrized over them
    rather than skipped on the others). A group the lab lacks fails collection: its tests would prove nothing."""
    hosts = sorted((INVENTORY["children"].get(group) or {}).get("hosts") or [])
    if not hosts:
        raise LookupError(f"the lab {LAB.name} has no host in group {group}")
    return hosts


def host(name):
    """The lab host over plain SSH (the lab's ssh_config): one connection, not one Ansible run per command."""
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(LAB / "ssh_config"), sudo=True)


def address(name):
    return INVENTORY["hosts"][name]["ansible_host"]


def run_playbooks(tmp_path, playbooks, *args):
    """ansible-playbook with ``playbooks`` (paths under the repository) on this scenario's lab, from a
    controller with an empty fact cache (another operator, AWX, a cache past its hour); returns the
    output (stdout, then stderr) and {host: changed} from the recap. The inventory is the scenario's
    as molecule hands it to its own runs: its group_vars, then the lab's hosts."""
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_FORCE_COLOR"}  # molecule sets it
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"), ANSIBLE_NOCOLOR="1")
    inventories = [str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"), str(LAB / "inventory.yml")]
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"),
                           *(arg for inventory in inventories for arg in ("-i", inventory)),
                           *args, *(str(ROOT / playbook) for playbook in playbooks)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", proc.stdout, re.M))
    assert recap, proc.stdout[-3000:]
    return proc.stdout + proc.stderr, recap
