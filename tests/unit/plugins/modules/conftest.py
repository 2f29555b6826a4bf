"""Run nearzero modules in-process against the emulator (real HTTP), as Ansible would run them."""

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))


@pytest.fixture
def run_module(capsys):
    """``run_module(name, args, check=False, diff=False) -> (failed, result)``."""
    from ansible.module_utils.testing import patch_module_args

    def run(name, args, check=False, diff=False):
        module = importlib.import_module(f"ansible_collections.nearzero.gcp.plugins.modules.{name}")
        full = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(full), pytest.raises(SystemExit) as exited:
            module.main()
        out = capsys.readouterr().out
        result = json.loads(out[out.index("{"):])
        return exited.value.code != 0 or result.get("failed", False), result

    return run


@pytest.fixture
def sql(emulator, sa_key_file):
    """The emulator's SQL Admin store with a US primary, and the auth/endpoint arguments for modules."""
    store = emulator.services["sqladmin"]
    store.operation_seconds = 0.1
    store.add_instance("p1", "db-us", region="us-east4", private_ip="10.20.0.5", dns_name="db-us.x.sql.goog")
    args = {"project": "p1", "api_endpoint": emulator.url, "auth_kind": "serviceaccount",
            "service_account_file": str(sa_key_file), "retry_backoff": 0.01, "retry_backoff_max": 0.02,
            "retries": 1}
    return store, args
