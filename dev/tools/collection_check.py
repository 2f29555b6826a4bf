"""The collection as a user gets it: built, installed from the tarball, used from outside this repository.

``make test`` runs this as its phase ``collection``. Everything happens in a temporary directory
outside the repository, with the repository on no path: the working directory is that
directory, ``ANSIBLE_CONFIG`` names an ansible.cfg written there, no ANSIBLE_/GCP_/GOOGLE_ variable
or PYTHONPATH is inherited, and Ansible does not scan ``sys.path`` for collections. The Python
that runs Ansible is this checkout's virtual environment (the controller's Python install, which
must hold ansible-core, requests and google-auth); nothing else of the checkout is used.

Steps (each timed):

1. ``ansible-galaxy collection build`` of the repository into the temporary directory;
2. the tarball holds the collection and none of the workbench (tests, molecule, dev/ and its
   emulator, lab, bench, tools, engine, the Makefile, ansible.cfg, caches);
3. ``ansible-galaxy collection install TARBALL -p EMPTY_DIR --no-deps`` (Galaxy is not reachable
   here), the dependency collections copied from this checkout's ``.collections/`` into a
   separate path (never nearzero.gcp from there: that one is a link back to the repository);
4. every installed plugin imports with only the installed collections on the collection path,
   and none of them loads a file from this repository;
5. ``ansible-doc -t inventory nearzero.gcp.gce`` documents the installed plugin;
6. ``ansible-inventory`` with ``plugin: nearzero.gcp.gce`` lists the GCP API emulator's instances;
7. ``ansible localhost -m nearzero.gcp.cloudsql_instance_info`` reads an instance from the
   emulator's SQL Admin API;
8. ``ansible-playbook nearzero.gcp.site --syntax-check``.

The emulator (workbench) runs inside this script's process, never inside Ansible's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VENV = ROOT / ".venv"
NAMESPACE, NAME = "nearzero", "gcp"
# Top-level entries that are the workbench or the repository's tooling, never the collection.
WORKBENCH_TOP = {"tests", "molecule", "dev", "Makefile", "ansible.cfg", "conftest.py", "pyproject.toml",
                 "requirements.txt", "execution-environment.yml", ".ci", ".ansible-lint", ".yamllint",
                 ".gitignore", ".git"}
# Folder names that are the workbench wherever they appear (the list), and what a checkout piles up.
WORKBENCH_DIRS = {"emulator", "lab", "bench", "tools", "engine", "molecule", ".lab", ".venv", ".collections",
                  ".cache", "__pycache__", ".pytest_cache", ".ruff_cache"}
REQUIRED = ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "plugins/inventory/gce.py",
            "plugins/modules/cloudsql_instance_info.py", "playbooks/site.yml")
PROJECT, ZONE = "nz-collection-check", "us-east4-a"
HOSTS = {"engine-1": "10.0.0.2", "engine-2": "10.0.0.3", "db-1": "10.0.1.2"}
SQL_INSTANCE, SQL_IP = "db-check", "10.20.0.9"


class CheckFailed(Exception):
    """A step found the collection unusable as installed; the message says what and where."""


def tarball_problems(tarball: Path) -> list[str]:
    """What is wrong with the tarball's contents: workbench files in it, collection files missing."""
    with tarfile.open(tarball) as tar:
        names = [m.name.removeprefix("./") for m in tar.getmembers()]
    problems = []
    for name in names:
        parts = name.split("/")
        if parts[0] in WORKBENCH_TOP:
            problems.append(f"{name}: workbench or repository tooling ({parts[0]})")
        elif any(p in WORKBENCH_DIRS for p in parts) or name.endswith((".pyc", ".retry")):
            problems.append(f"{name}: workbench folder or checkout leftover")
    present = set(names)
    problems += [f"{req}: missing from the tarball" for req in REQUIRED if req not in present]
    return problems


# Run by the Python that runs Ansible, with the repository on no path: imports every plugin of the
# installed collection through ansible-core's collection loader, then names every module that came
# from the repository. argv: collection paths (os.pathsep-joined), the repository root, its .venv.
IMPORT_PROBE = textwrap.dedent("""
    import importlib, json, os, sys, traceback
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
    paths, root, venv = sys.argv[1].split(os.pathsep), sys.argv[2], sys.argv[3]
    _AnsibleCollectionFinder(paths=paths, scan_sys_paths=False)._install()
    base = importlib.import_module("ansible_collections.nearzero.gcp")
    coll = os.path.dirname(base.__file__)
    errors = []
    for folder, _dirs, files in os.walk(os.path.join(coll, "plugins")):
        for file in sorted(files):
            if not file.endswith(".py") or file == "__init__.py":
                continue
            rel = os.path.relpath(os.path.join(folder, file), coll)
            name = "ansible_collections.nearzero.gcp." + rel[:-3].replace(os.sep, ".")
            try:
                importlib.import_module(name)
            except BaseException as exc:
                errors.append(f"{rel}: import failed: {type(exc).__name__}: {exc}")
    inside = lambda f, d: f == d or f.startswith(d + os.sep)
    for mod in list(sys.modules.values()):
        f = os.path.realpath(getattr(mod, "__file__", None) or "")
        if f and inside(f, root) and not inside(f, venv):
            errors.append(f"module {mod.__name__} was loaded from the repository: {f}")
    print(json.dumps({"collection": os.path.realpath(coll), "errors": errors}))
""")


def import_problems(collection_paths: list[Path], python: str = sys.executable) -> tuple[str, list[str]]:
    """Import every installed plugin; return where nearzero.gcp was found and what went wrong."""
    with tempfile.TemporaryDirectory(prefix="nearzero-import-") as cwd:
        proc = subprocess.run([python, "-c", IMPORT_PROBE, os.pathsep.join(map(str, collection_paths)),
                               str(ROOT), str(VENV.resolve())],
                              cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        return "", [f"the import probe failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["collection"], result["errors"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that could point Ansible or Python at the repository."""
    drop = ("ANSIBLE_", "GCP_", "GOOGLE_", "GCE_", "PYTHON", "VIRTUAL_ENV", "MOLECULE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = os.pathsep.join([str(BIN), *(p for p in env.get("PATH", "").split(os.pathsep)
                                               if p and not Path(p).resolve().is_relative_to(ROOT))])
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **extra)
    return env


class Check:
    """One run of the steps in a temporary directory outside the repository."""

    def __init__(self, work: Path):
        self.work = work
        self.dist = work / "dist"
        self.collections = work / "collections"  # nearzero.gcp, from the tarball only
        self.deps = work / "deps"  # the collections it depends on
        self.env = clean_env(ANSIBLE_CONFIG=str(work / "ansible.cfg"), ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1",
                             HOME=str(work / "home"))
        self.tarball: Path | None = None

    def run(self, *cmd: str, timeout: int = 180) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=self.work, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise CheckFailed(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                              f"{proc.stderr[-3000:]}")
        return proc

    def step_build(self) -> str:
        (self.work / "home").mkdir()
        (self.work / "ansible.cfg").write_text(textwrap.dedent(f"""\
            [defaults]
            collections_path = {self.collections}:{self.deps}
            collections_scan_sys_path = false
            roles_path = {self.work / "roles"}
            """))
        self.run("ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(self.dist))
        tarballs = list(self.dist.glob(f"{NAMESPACE}-{NAME}-*.tar.gz"))
        if len(tarballs) != 1:
            raise CheckFailed(f"expected one {NAMESPACE}-{NAME}-*.tar.gz in {self.dist}, found {tarballs}")
        self.tarball = tarballs[0]
        return f"{self.tarball.name}, {self.tarball.stat().st_size // 1024} KiB"

    def step_contents(self) -> str:
        problems = tarball_problems(self.tarball)
        if problems:
            raise CheckFailed("the tarball is not the collection alone (fix galaxy.yml build_ignore):\n  "
                              + "\n  ".join(problems))
        with tarfile.open(self.tarball) as tar:
            return f"{len(tar.getmembers())} entries, no workbench"

    def step_install(self) -> str:
        self.collections.mkdir()
        self.run("ansible-galaxy", "collection", "install", str(self.tarball), "-p", str(self.collections),
                 "--no-deps")
        installed = self.collections / "ansible_collections" / NAMESPACE / NAME
        manifest = json.loads((installed / "MANIFEST.json").read_text())
        copied = []
        for dep in manifest["collection_info"]["dependencies"]:
            ns, name = dep.split(".")
            src = ROOT / ".collections" / "ansible_collections" / ns / name
            if not (src / "MANIFEST.json").is_file() or src.is_symlink():
                raise CheckFailed(f"dependency {dep} is not installed in {src.parent.parent.parent}. "
                                  "Fix: dev/tools/setup.sh (it installs requirements.yml there).")
            shutil.copytree(src, self.deps / "ansible_collections" / ns / name, symlinks=True)
            copied.append(dep)
        return f"into an empty path; dependencies {', '.join(copied)} beside it"

    def step_imports(self) -> str:
        found, problems = import_problems([self.collections, self.deps])
        expected = (self.collections / "ansible_collections" / NAMESPACE / NAME).resolve()
        if found and Path(found) != expected:
            problems.insert(0, f"nearzero.gcp was imported from {found}, not from the installed {expected}")
        if problems:
            raise CheckFailed("installed plugins reach outside the collection:\n  " + "\n  ".join(problems))
        return "every plugin imports from the installed collection alone"

    def step_doc(self) -> str:
        out = self.run("ansible-doc", "-t", "inventory", "nearzero.gcp.gce").stdout
        installed = str(self.collections / "ansible_collections" / NAMESPACE / NAME / "plugins/inventory/gce.py")
        if installed not in out or "projects" not in out:
            raise CheckFailed(f"ansible-doc did not document the installed plugin ({installed}):\n{out[:1500]}")
        return "documented from the installed path"

    def step_inventory(self, emulator, key_file: Path) -> str:
        from emulator.dataset import build_instance

        from tests.unit.plugins.gce_helpers import unwrap  # the tests' reader of ansible-inventory --list

        labels = {"engine-1": "trading-engine", "engine-2": "trading-engine", "db-1": "database"}
        emulator.add_instances(PROJECT, [build_instance(PROJECT, ZONE, name, ip=ip, labels={"role": labels[name]})
                                         for name, ip in HOSTS.items()])
        inv = self.work / "inventory"
        inv.mkdir()
        config = inv / "fleet.gce.yml"
        config.write_text(json.dumps({
            "plugin": "nearzero.gcp.gce", "projects": [PROJECT], "api_endpoint": emulator.url,
            "auth_kind": "serviceaccount", "service_account_file": str(key_file),
            "keyed_groups": [{"key": "gce.labels.role", "prefix": "role"}],
        }))
        emulator.clear_requests()
        data = json.loads(self.run("ansible-inventory", "-i", str(config), "--list").stdout)
        hostvars = data.get("_meta", {}).get("hostvars", {})
        got = {host: unwrap(hv.get("ansible_host")) for host, hv in hostvars.items()}
        if got != HOSTS:
            raise CheckFailed(f"ansible-inventory listed {got}, the emulator holds {HOSTS}")
        engines = sorted(data.get("role_trading_engine", {}).get("hosts", []))
        if engines != ["engine-1", "engine-2"]:
            raise CheckFailed(f"keyed group role_trading_engine holds {engines}, expected engine-1 and engine-2")
        if not any(f"/projects/{PROJECT}/" in r.path for r in emulator.requests):
            raise CheckFailed("ansible-inventory answered without asking the emulator's Compute API")
        return f"{len(got)} hosts and their keyed groups from the emulator"

    def step_module(self, emulator, key_file: Path) -> str:
        store = emulator.services["sqladmin"]
        store.add_instance(PROJECT, SQL_INSTANCE, private_ip=SQL_IP, dns_name=f"{SQL_INSTANCE}.x.sql.goog")
        args = {"project": PROJECT, "name": SQL_INSTANCE, "connect_settings": True, "api_endpoint": emulator.url,
                "auth_kind": "serviceaccount", "service_account_file": str(key_file)}
        out = self.run("ansible", "localhost", "-i", "localhost,", "-c", "local", "-m",
                       "nearzero.gcp.cloudsql_instance_info", "-a", json.dumps(args),
                       "-e", f"ansible_python_interpreter={sys.executable}").stdout
        try:
            result = json.loads(out[out.index("=>") + 2:])
        except ValueError as exc:
            raise CheckFailed(f"no module result in the output ({exc}):\n{out[:1500]}") from None
        if not result.get("exists") or result.get("private_ip") != SQL_IP:
            raise CheckFailed(f"cloudsql_instance_info answered {result}, the emulator holds {SQL_IP}")
        return f"cloudsql_instance_info found {SQL_INSTANCE} at {SQL_IP}"

    def step_syntax(self) -> str:
        out = self.run("ansible-playbook", "nearzero.gcp.site", "--syntax-check").stdout
        installed = self.collections / "ansible_collections" / NAMESPACE / NAME / "playbooks" / "site.yml"
        if f"playbook: {installed}" not in out:
            raise CheckFailed(f"the syntax check did not read the installed {installed}:\n{out[:1500]}")
        return "nearzero.gcp.site parses, read from the installed collection"


def main() -> int:
    # the emulator and the tests' helpers, for this process only (its Ansible commands get a clean environment)
    sys.path[:0] = [str(ROOT / "dev"), str(ROOT)]
    from emulator import Emulator

    base = Path(tempfile.mkdtemp(prefix="nearzero-collection-"))
    if base.resolve().is_relative_to(ROOT):
        print(f"collection: the temporary directory {base} is inside the repository; set TMPDIR elsewhere.")
        return 2
    check = Check(base)
    emulator = Emulator(host="127.0.0.1", port=0).start()
    start = time.monotonic()
    try:
        key_file = base / "service-account.json"
        key_file.write_text(json.dumps(emulator.make_service_account()))
        key_file.chmod(0o600)
        steps = [
            ("build", check.step_build), ("contents", check.step_contents), ("install", check.step_install),
            ("imports", check.step_imports), ("ansible-doc", check.step_doc),
            ("ansible-inventory", lambda: check.step_inventory(emulator, key_file)),
            ("module", lambda: check.step_module(emulator, key_file)), ("syntax-check", check.step_syntax),
        ]
        failed = []
        for name, step in steps:
            # Nothing can be checked without a tarball, and nothing past the install without the install.
            if "build" in failed or ("install" in failed and name not in ("contents", "install")):
                print(f"collection: {name}: skipped ({' and '.join(failed)} failed)", flush=True)
                continue
            t0 = time.monotonic()
            try:
                what = step()
            except (CheckFailed, subprocess.TimeoutExpired) as exc:
                print(f"collection: {name}: FAILED: {exc}", flush=True)
                failed.append(name)
                continue
            print(f"collection: {name}: ok in {time.monotonic() - t0:.1f} s ({what})", flush=True)
        if failed:
            print(f"collection: FAILED steps: {', '.join(failed)}")
            return 1
    finally:
        emulator.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"collection: installed from the tarball and used outside the repository in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
