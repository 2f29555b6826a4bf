"""The shared client package inside AnsiballZ: a module using it runs through `ansible -m` for real."""

import json
import subprocess
import sys

from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env, instance

MODULE = '''
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

try:
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import get_client
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute import ComputeApi
except ImportError as exc:  # must never happen: the package guards its imports
    raise SystemExit(f"import failed: {exc}")


def main():
    m = AnsibleModule(argument_spec={"key": {"type": "path"}, "endpoint": {}, "project": {}})
    try:
        api = ComputeApi(get_client({"auth_kind": "serviceaccount", "service_account_file": m.params["key"]}),
                         m.params["endpoint"])
        names = sorted(i["name"] for page in api.aggregated_instances(m.params["project"])
                       for scoped in page.get("items", {}).values() for i in scoped.get("instances", []))
    except GcpError as exc:
        m.fail_json(msg=str(exc), kind=exc.kind)
    m.exit_json(changed=False, names=names)


main()
'''


def run_module(tmp_path, interpreter, **args):
    (tmp_path / "nz_probe.py").write_text(MODULE)
    proc = subprocess.run(
        [str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", "nz_probe", "-a", json.dumps(args),
         "-e", f"ansible_python_interpreter={interpreter}", "-o"],
        cwd=ROOT, env=base_env(ANSIBLE_LIBRARY=str(tmp_path)), capture_output=True, text=True, timeout=120, check=False)
    return proc


def test_module_lists_instances_through_ansiballz(emulator, sa_key_file, tmp_path):
    emulator.add_project("p1", zones=["us-east4-a"])
    emulator.add_instances("p1", [instance("p1", "us-east4-a", "vm-a", ip="10.0.0.2")])
    proc = run_module(tmp_path, sys.executable, key=str(sa_key_file), endpoint=emulator.url, project="p1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"names": ["vm-a"]' in proc.stdout
    assert emulator.tokens_issued == 1


def test_missing_google_auth_is_a_clear_error(emulator, sa_key_file, tmp_path):
    # python -S has no site-packages, so google-auth and requests cannot be imported
    wrapper = tmp_path / "python-no-site"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    wrapper.chmod(0o755)
    proc = run_module(tmp_path, wrapper, key=str(sa_key_file), endpoint=emulator.url, project="p1")
    assert proc.returncode != 0
    assert "google-auth" in proc.stdout and "pip install google-auth requests" in proc.stdout
    assert "import failed" not in proc.stdout
