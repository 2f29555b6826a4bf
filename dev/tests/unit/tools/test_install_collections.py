"""Offline collection install: only the pinned collections, versions checked, all or nothing."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "dev" / "tools" / "install_collections.py"


def make_wheel(path: Path, collections: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, version in collections.items():
            ns, coll = name.split(".")
            prefix = f"ansible_collections/{ns}/{coll}/"
            zf.writestr(prefix + "MANIFEST.json", json.dumps({"collection_info": {"version": version}}))
            zf.writestr(prefix + "plugins/modules/thing.py", "# module\n")
    return path


def run(tmp_path, wheel, requirements):
    req = tmp_path / "requirements.yml"
    req.write_text(requirements)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--offline", "--requirements", str(req), "--dest", str(tmp_path / "dest"),
         "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True, check=False, env={"NEARZERO_ANSIBLE_WHEEL": str(wheel), "PATH": ""},
    )


def test_installs_only_the_listed_collections(tmp_path):
    wheel = make_wheel(tmp_path / "ansible-12.3.0-py3-none-any.whl",
                       {"ansible.posix": "2.1.0", "community.general": "11.4.2"})
    res = run(tmp_path, wheel, "collections:\n  - {name: ansible.posix, version: 2.1.0}\n")
    assert res.returncode == 0, res.stderr
    root = tmp_path / "dest" / "ansible_collections"
    assert (root / "ansible" / "posix" / "plugins" / "modules" / "thing.py").is_file()
    assert not (root / "community").exists()
    assert (root / "nearzero" / "gcp").resolve() == ROOT
    again = run(tmp_path, wheel, "collections:\n  - {name: ansible.posix, version: 2.1.0}\n")
    assert "already installed" in again.stdout


def test_version_mismatch_is_an_error_that_names_the_fix(tmp_path):
    wheel = make_wheel(tmp_path / "ansible-12.3.0-py3-none-any.whl", {"ansible.posix": "2.0.0"})
    res = run(tmp_path, wheel, "collections:\n  - {name: ansible.posix, version: 2.1.0}\n")
    assert res.returncode == 1
    assert "pins ansible.posix 2.1.0 but" in res.stderr and "carries 2.0.0" in res.stderr
    assert "Fix:" in res.stderr
    assert not (tmp_path / "dest" / "ansible_collections" / "ansible" / "posix").exists()


def test_collection_missing_from_the_wheel(tmp_path):
    wheel = make_wheel(tmp_path / "ansible-12.3.0-py3-none-any.whl", {"ansible.posix": "2.1.0"})
    res = run(tmp_path, wheel, "collections:\n  - {name: community.crypto, version: 3.0.5}\n")
    assert res.returncode == 1
    assert "community.crypto is not in" in res.stderr


def test_unpinned_requirement_is_refused(tmp_path):
    wheel = make_wheel(tmp_path / "ansible-12.3.0-py3-none-any.whl", {"ansible.posix": "2.1.0"})
    res = run(tmp_path, wheel, "collections:\n  - name: ansible.posix\n")
    assert res.returncode == 1
    assert "exact 'version'" in res.stderr
