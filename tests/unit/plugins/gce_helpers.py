"""Helpers shared by the gce inventory and GCP client tests (real HTTP against the emulator)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
# module_utils import as ansible_collections.nearzero.gcp... (.collections links the repo in)
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))


def gcp_modules():
    """Import the shared client package the way plugins do (needs .collections on sys.path, set above)."""
    import importlib

    base = "ansible_collections.nearzero.gcp.plugins.module_utils.gcp."
    return tuple(importlib.import_module(base + name) for name in ("auth", "client", "compute", "errors"))


def base_env(**extra):
    """Environment for ansible commands: the project's ansible.cfg, and unparsed sources fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GCP_", "GOOGLE_", "GCE_"))}
    env.update(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="True", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=f"{BIN}:{env.get('PATH', '')}")
    env.update(extra)
    return env


def write_config(tmp_path, emulator, name="test.gce.yml", key_file=None, **options):
    """Write an inventory file for the gce plugin pointed at the emulator; returns its path."""
    config = {"plugin": "gce", "api_endpoint": emulator.url, "retry_backoff": 0.01, "retry_backoff_max": 0.05}
    if key_file is not None:
        config.update(auth_kind="serviceaccount", service_account_file=str(key_file))
    config.update(options)
    path = tmp_path / name
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def ansible_inventory(config, *args, env=None, check=True):
    """Run ansible-inventory from the repository root; return the CompletedProcess (stdout parsed for --list)."""
    args = args or ("--list",)
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(config), *args], cwd=ROOT,
                          env=env or base_env(), capture_output=True, text=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"ansible-inventory failed ({proc.returncode}):\n{proc.stderr}")
    proc.data = None
    if proc.returncode == 0 and "--list" in args:
        # with -v the CLI prints its configuration first; the JSON document starts at a lone "{"
        start = 0 if proc.stdout.startswith("{") else proc.stdout.index("\n{\n") + 1
        proc.data = json.loads(proc.stdout[start:])
    return proc


def hostvars(data):
    """Host variables of an ansible-inventory --list result, with legacy unsafe markers removed."""
    return {host: unwrap(values) for host, values in data["_meta"]["hostvars"].items()}


def unwrap(value):
    """Turn {"__ansible_unsafe": x} back into x (ansible-inventory marks untrusted strings that way)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def group_hosts(data, group):
    """Hosts directly in ``group`` of an ansible-inventory --list result."""
    return sorted(data.get(group, {}).get("hosts", []))


def api_requests(emulator, kind_prefix="/compute/"):
    """Recorded Compute requests (path contains kind_prefix)."""
    return [r for r in emulator.requests if kind_prefix in r.path]


def instance(project, zone, name, **kw):
    """A full Instance built by the emulator's own dataset code (real shapes)."""
    from emulator.dataset import build_instance

    return build_instance(project, zone, name, **kw)
