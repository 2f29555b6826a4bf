"""dev/tools/collection_check.py catches what it is there to catch.

The phase ``collection`` of ``make test`` runs the whole check on the real collection; these tests
feed its two detectors a bad tarball and a bad installed collection, so a check that stopped
looking would fail here.
"""

import io
import json
import tarfile

import pytest
from tools import collection_check as cc

CLEAN = {
    "MANIFEST.json": "{}",
    "FILES.json": "{}",
    "meta/runtime.yml": "requires_ansible: '>=2.19.0'\n",
    "plugins/inventory/gce.py": "",
    "plugins/modules/cloudsql_instance_info.py": "",
    "playbooks/site.yml": "---\n",
    "roles/trading_engine/tasks/main.yml": "---\n",
}


def _tarball(tmp_path, files):
    path = tmp_path / "nearzero-gcp-0.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_clean_tarball_passes(tmp_path):
    assert cc.tarball_problems(_tarball(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("intruder", [
    "tests/unit/plugins/test_x.py", "molecule/default/molecule.yml", "dev/emulator/server.py", "Makefile",
    "ansible.cfg", "conftest.py", "roles/base/files/tools/labctl.py", "plugins/module_utils/lab/x.py",
    "engine/main.py", "bench/run.py", ".lab/demo/env", "plugins/inventory/__pycache__/gce.cpython-311.pyc",
])
def test_workbench_in_the_tarball_is_named(tmp_path, intruder):
    problems = cc.tarball_problems(_tarball(tmp_path, {**CLEAN, intruder: "x"}))
    assert len(problems) == 1 and problems[0].startswith(intruder + ":"), problems


def test_a_missing_collection_file_is_named(tmp_path):
    files = dict(CLEAN)
    del files["plugins/inventory/gce.py"]
    assert cc.tarball_problems(_tarball(tmp_path, files)) == ["plugins/inventory/gce.py: missing from the tarball"]


def _collection(tmp_path, plugins):
    base = tmp_path / "installed"
    coll = base / "ansible_collections" / "nearzero" / "gcp"
    (coll / "plugins").mkdir(parents=True)
    (coll / "MANIFEST.json").write_text(json.dumps({"collection_info": {"namespace": "nearzero", "name": "gcp"}}))
    for rel, code in plugins.items():
        path = coll / "plugins" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    return base, coll


GOOD = {
    "module_utils/helper.py": "VALUE = 1\n",
    "lookup/ok.py": "from ansible_collections.nearzero.gcp.plugins.module_utils.helper import VALUE\n",
}


def test_plugins_that_import_within_the_collection_pass(tmp_path):
    base, coll = _collection(tmp_path, GOOD)
    found, problems = cc.import_problems([base])
    assert problems == [] and found == str(coll.resolve())


def test_a_plugin_importing_the_workbench_fails(tmp_path):
    # The emulator is importable only with dev/ on sys.path, which an installed collection never has.
    base, _ = _collection(tmp_path, {**GOOD, "inventory/bad.py": "import emulator\n"})
    _, problems = cc.import_problems([base])
    assert len(problems) == 1 and problems[0].startswith("plugins/inventory/bad.py: import failed: ModuleNotFoundError")


def test_a_plugin_reaching_into_the_repository_fails(tmp_path):
    # A plugin that finds the checkout by itself (a path hack) imports fine, but loads repository files.
    hack = f"import sys\nsys.path.insert(0, {str(cc.ROOT / 'dev')!r})\nimport emulator.dataset\n"
    base, _ = _collection(tmp_path, {**GOOD, "lookup/hack.py": hack})
    _, problems = cc.import_problems([base])
    assert problems and all("was loaded from the repository" in p for p in problems)
    assert any("module emulator.dataset was loaded from the repository" in p for p in problems)


def test_a_plugin_of_another_copy_is_not_used(tmp_path):
    # nearzero.gcp comes from the collection path given, never from the checkout's .collections link.
    base, coll = _collection(tmp_path, GOOD)
    found, _ = cc.import_problems([base, cc.ROOT / ".collections"])
    assert found == str(coll.resolve())
