"""Every module, lookup and strategy documents itself: ``ansible-doc`` renders it, with its options.

A description line with an unquoted ``: `` turns into a YAML mapping, which ansible-doc refuses;
this caught two modules whose pages did not render at all.
"""

import ast
import subprocess

import pytest
import yaml

from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env

PLUGINS = sorted(
    (kind, p)
    for kind, folder in (("module", "modules"), ("lookup", "lookup"), ("strategy", "strategy"))
    for p in (ROOT / "plugins" / folder).glob("*.py")
    if p.name != "__init__.py"
)


def _documented_options(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            return sorted(yaml.safe_load(node.value.value).get("options") or {})
    raise AssertionError(f"{path} has no DOCUMENTATION")


@pytest.mark.parametrize(("kind", "path"), PLUGINS, ids=[p.stem for _k, p in PLUGINS])
def test_ansible_doc_renders(kind, path):
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", kind, f"nearzero.gcp.{path.stem}"], cwd=ROOT,
                          env=base_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    for option in _documented_options(path):
        assert option in proc.stdout, option
