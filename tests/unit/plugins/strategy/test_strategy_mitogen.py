"""The opt-in strategy mitogen_linear: it loads through the project's plugin path, and without the
mitogen package the run stops at once with the fix, instead of ansible's generic loader error.

That it runs site.yml from scratch, idempotently, with the same result is molecule/mitogen.
"""

import subprocess
import sys

from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env

PLAYBOOK = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"


def _run(tmp_path, env):
    book = tmp_path / "ping.yml"
    book.write_text(PLAYBOOK)
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180, check=False)


def test_strategy_runs_a_play(tmp_path):
    proc = _run(tmp_path, {**base_env(), "ANSIBLE_STRATEGY": "mitogen_linear"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok=1" in proc.stdout
    # ansible-core says which strategy it loaded: a third-party one is announced as deprecated.
    assert "strategy plugins not included in ansible.builtin" in proc.stderr


def test_missing_mitogen_names_the_fix(tmp_path):
    # A sitecustomize that hides the package, as on a controller where it was never installed.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['ansible_mitogen'] = None\n")
    env = {**base_env(), "ANSIBLE_STRATEGY": "mitogen_linear", "PYTHONPATH": str(shim)}
    proc = _run(tmp_path, env)
    assert proc.returncode != 0
    assert "needs the Python package mitogen" in proc.stdout + proc.stderr
    assert "pip install mitogen" in proc.stdout + proc.stderr


def test_default_strategy_stays_linear():
    proc = subprocess.run([sys.executable, "-c", "from ansible.config.manager import ConfigManager; "
                           "print(ConfigManager().get_config_value('DEFAULT_STRATEGY'))"],
                          cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip() == "linear", proc.stderr
