"""Run ``ansible-test sanity`` on the collection, offline, with no ignore file.

ansible-test only works on a collection that sits at ``.../ansible_collections/<ns>/<name>/`` and
is a git work tree, and it only tests files git knows. This repository is the collection root and
the workbench (``dev/`` and the tooling galaxy.yml's ``build_ignore`` lists) at once, so the
script copies what the collection is made of (every file git tracks or would track, minus
``build_ignore``, plus ``tests/``, which certified collections keep in the collection and
ansible-test reads) into a temporary ``ansible_collections/nearzero/gcp`` git tree and runs
``ansible-test sanity --venv --python 3.11`` there. So the gate sees the collection as it ships,
with the tests that belong to it.

ansible-test bootstraps pip in every virtual environment it makes from a ``get-pip`` script it
downloads from a host this machine cannot reach; it uses a cached copy at
``~/.ansible/test/cache/get_pip_<version>.py`` when one is present. The script points HOME at
``.cache/sanity/home`` and writes a shim there that installs pip with ``ensurepip`` and then asks
pip (from PyPI) for what ansible-test wanted. The per-test virtual environments and pip's cache
stay there too, so only the first run installs the test requirements.

Usage: ``dev/tools/sanity.py [ansible-test sanity options, e.g. --test pylint]``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / ".cache" / "sanity" / "home"
PYTHON = "3.11"
# ansible-core 2.19's ansible-test pins pip 24.2 (ansible_test/_data/requirements/ansible-test.txt).
GET_PIP = HOME / ".ansible" / "test" / "cache" / "get_pip_24_2.py"
GET_PIP_SHIM = '''"""Stand-in for get-pip.py (its host is unreachable here): ensurepip, then pip from PyPI."""
import subprocess
import sys

# get-pip.py options that pip's own command line does not have.
DROPPED = {"--no-setuptools", "--no-wheel"}
subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True,
               stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in DROPPED]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode)
'''


def build_ignored(rel: str, patterns: list[str]) -> bool:
    """Whether galaxy.yml's build_ignore leaves this path (or a folder above it) out of the tarball."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))] + [parts[-1]]
    return any(fnmatch.fnmatch(c, p) for c in candidates for p in patterns)


def collection_files() -> list[str]:
    """Files of the collection as it ships, plus tests/: tracked or addable, present, not build-ignored."""
    patterns = yaml.safe_load((ROOT / "galaxy.yml").read_text()).get("build_ignore") or []
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    keep = []
    for rel in sorted(set(filter(None, listed))):
        if not os.path.lexists(ROOT / rel):
            continue  # deleted in the work tree, not yet committed
        if rel.startswith("tests/") or not build_ignored(rel, patterns):
            keep.append(rel)
    return keep


def make_tree(base: Path) -> Path:
    """Copy the collection into base/ansible_collections/nearzero/gcp and commit it there."""
    tree = base / "ansible_collections" / "nearzero" / "gcp"
    for rel in collection_files():
        dest = tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = ROOT / rel
        if src.is_symlink():
            os.symlink(os.readlink(src), dest)
        else:
            shutil.copy2(src, dest)
    # ansible-test lists the files git knows, untracked ones too: keep its own output out.
    (tree / ".gitignore").write_text("/tests/output/\n")
    git = ["git", "-c", "user.name=sanity", "-c", "user.email=sanity@localhost", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "collection as built"]):
        subprocess.run([*git, *args], cwd=tree, check=True)
    return tree


def write_shim() -> None:
    """Write the get-pip stand-in unless it is already there as written."""
    if GET_PIP.is_file() and GET_PIP.read_text() == GET_PIP_SHIM:
        return
    GET_PIP.parent.mkdir(parents=True, exist_ok=True)
    GET_PIP.write_text(GET_PIP_SHIM)


def main(argv: list[str]) -> int:
    ansible_test = Path(sys.executable).parent / "ansible-test"
    if not ansible_test.is_file():
        print(f"sanity: {ansible_test} not found. Fix: install ansible-core into this virtual environment "
              "(dev/tools/setup.sh), then run this script with its python.", file=sys.stderr)
        return 2
    if shutil.which(f"python{PYTHON}") is None:
        print(f"sanity: python{PYTHON} is not on PATH; ansible-test --venv --python {PYTHON} needs it.",
              file=sys.stderr)
        return 2
    for ignore in (ROOT / "tests" / "sanity").glob("ignore-*.txt"):
        print(f"sanity: {ignore.relative_to(ROOT)} exists; the gate runs with no ignore file. Fix the findings "
              "and remove it.", file=sys.stderr)
        return 1
    write_shim()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(HOME), PATH=f"{ansible_test.parent}{os.pathsep}{env.get('PATH', '')}")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nearzero-sanity-") as tmp:
        tree = make_tree(Path(tmp))
        rc, crashed = run_sanity(ansible_test, tree, env, argv)
    for test in crashed:
        print(f"sanity: FAILED: ansible-test crashed in the test {test!r}; its traceback above quotes the findings "
              "it could not parse, or the file it could not read")
    ok = rc == 0 and not crashed
    print(f"sanity: {'passed' if ok else 'FAILED'} in {time.monotonic() - start:.0f} s")
    return 0 if ok else 1


def run_sanity(ansible_test: Path, tree: Path, env: dict[str, str], argv: list[str]) -> tuple[int, list[str]]:
    """Run ansible-test sanity; if it crashes in one test, run the tests after that one too.

    ansible-test 2.19 dies with a traceback when a test's findings hold a ':' in a path
    (no-illegal-filenames, symlinks) or when a doc fragment assigns something other than a string;
    without this the tests after it would never report. A crash counts as a failure.
    """
    base = [str(ansible_test), "sanity", "--venv", "--python", PYTHON, "--color", "no"]
    listed = subprocess.run([*base, "--list-tests", *argv], cwd=tree, env=env, capture_output=True, text=True,
                            check=False)
    remaining = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
    if listed.returncode != 0 or not remaining:
        print(listed.stdout + listed.stderr)
        return listed.returncode or 1, []
    crashed: list[str] = []
    tests = argv
    while True:
        cmd = [*base, *tests]
        print(f"sanity: {' '.join(cmd[1:])} in {tree}", flush=True)
        current, traceback = None, False
        with subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as proc:
            for line in proc.stdout:
                print(line, end="", flush=True)
                found = re.match(r'Running sanity test "([\w-]+)"', line)
                if found:
                    current = found.group(1)
                traceback = traceback or line.startswith("Traceback (most recent call last)")
        if not (traceback and current in remaining):
            return proc.returncode, crashed
        crashed.append(current)
        remaining = remaining[remaining.index(current) + 1:]
        if not remaining:
            return 1, crashed
        # The same options, limited to the tests that had not run yet.
        tests = [*without_test_choice(argv), *(arg for test in remaining for arg in ("--test", test))]


def without_test_choice(argv: list[str]) -> list[str]:
    """The options without ``--test NAME`` (``--list-tests`` already applied them to what remains)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--test":
            skip = True
        elif not arg.startswith("--test="):
            out.append(arg)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
