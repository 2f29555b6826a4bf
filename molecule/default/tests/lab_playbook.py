"""Run the product's playbooks again on the scenario's converged lab, for the tests that judge a whole run."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LAB = ROOT / ".lab" / f"mol-{os.environ.get('MOLECULE_SCENARIO_NAME', 'default')}"


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
