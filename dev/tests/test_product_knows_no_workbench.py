"""The collection never knows its workbench (issue 16, rule 2).

Nothing the collection is made of (plugins/, the product roles/, playbooks/, meta/, galaxy.yml)
may mention the lab state folder ``.lab``, the GCP API emulator, a ``make`` target as a command
(users of an installed collection have no Makefile), or an absolute path of a build machine
(``/work/``, ``/root/``, ``/home/``). galaxy.yml's ``build_ignore`` entries are the one exception:
they name the workbench so that the tarball leaves it out.
"""

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("plugins", "roles", "playbooks", "meta", "galaxy.yml")
SKIP_PARTS = {"__pycache__"}


def _make_targets() -> list[str]:
    """Targets of the repository's Makefile (``name: ... ##``), the commands a newcomer is told to run."""
    targets = re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert targets, "no targets found in the Makefile"
    return sorted(set(targets), key=len, reverse=True)


RULES = {
    "lab state folder": re.compile(r"(?<![\w-])\.lab\b"),
    "emulator": re.compile(r"emulat(?:or|ed|ion|e)", re.IGNORECASE),
    "make command": re.compile(r"(?<![\w-])make(?:\s+-\S+)*\s+(?:" + "|".join(map(re.escape, _make_targets()))
                               + r")(?![\w-])|`make`"),
    "absolute machine path": re.compile(r"/(?:work|root|home)/"),
}


def _build_ignore_lines() -> set[str]:
    """galaxy.yml lines that are build_ignore entries (``- dev``), allowed to name the workbench."""
    entries = yaml.safe_load((ROOT / "galaxy.yml").read_text()).get("build_ignore") or []
    return {f"- {entry}" for entry in entries} | {f'- "{entry}"' for entry in entries}


def product_files() -> list[Path]:
    files = []
    for top in PRODUCT:
        path = ROOT / top
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in candidates if not SKIP_PARTS & set(p.relative_to(ROOT).parts)]
    return files


def matching_lines(rule: re.Pattern, text: str, allowed=frozenset()) -> list[tuple[int, str]]:
    """(line number, line) of every line the rule matches, except the allowed ones."""
    return [(number, line) for number, line in enumerate(text.splitlines(), 1)
            if line.strip() not in allowed and rule.search(line)]


def hits(rule: re.Pattern, files: list[Path]) -> list[str]:
    build_ignore = _build_ignore_lines()
    found = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary file
        rel = path.relative_to(ROOT).as_posix()
        allowed = build_ignore if rel == "galaxy.yml" else frozenset()
        found += [f"{rel}:{number}: {line.strip()[:160]}" for number, line in matching_lines(rule, text, allowed)]
    return found


def test_the_product_is_there():
    files = {p.relative_to(ROOT).as_posix() for p in product_files()}
    assert {"galaxy.yml", "meta/runtime.yml", "plugins/inventory/gce.py", "playbooks/site.yml"} <= files


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_product_never_mentions_the_workbench(rule):
    found = hits(RULES[rule], product_files())
    assert not found, (f"the collection mentions the workbench ({rule}); move lab wiring to inventory/lab or "
                       "dev/, and give users commands they have:\n  " + "\n  ".join(found))


@pytest.mark.parametrize(("rule", "line"), [
    ("lab state folder", "lab_dir: \"{{ role_path ~ '/../.lab/' }}\""),
    ("lab state folder", "source .lab/demo/env"),
    ("emulator", "api_endpoint: \"{{ lookup('file', 'emulator.json') }}\""),
    ("emulator", "Against the GCP API Emulator."),
    ("make command", "msg: run make demo first"),
    ("make command", "Run `make` to set things up."),
    ("make command", "run 'make -s test' again"),
    ("absolute machine path", "key: /work/main/keys/sa.json"),
    ("absolute machine path", "/root/nearzero/roles"),
    ("absolute machine path", "cd /home/dev/nearzero"),
])
def test_each_rule_catches_what_it_is_for(rule, line):
    assert [name for name, pattern in RULES.items() if matching_lines(pattern, line)] == [rule]


@pytest.mark.parametrize("line", [
    "With default_groups, also make C(tag_<network tag>) for each network tag.",
    "make the planned failover lossless",
    "dest: /etc/nearzero/lab.conf",
    "hostname: engine-1.example.com",
    "url: https://gitlab.example.com/make-test",
])
def test_prose_and_product_paths_pass(line):
    assert [name for name, pattern in RULES.items() if matching_lines(pattern, line)] == []


def test_build_ignore_entries_are_the_only_exception():
    text = "build_ignore:\n  - .lab\n  - dev\n# the emulator lives in dev/\n"
    allowed = frozenset({"- .lab", "- dev"})
    assert matching_lines(RULES["lab state folder"], text, allowed) == []
    assert matching_lines(RULES["emulator"], text, allowed) == [(4, "# the emulator lives in dev/")]


def test_tests_compile_the_collection_outside_its_sources():
    """The tests import the collection from this tree: its bytecode goes under .cache, however pytest was
    started, so no compiled copy carrying this machine's paths lands beside plugins/ or roles/."""
    assert sys.pycache_prefix, "conftest.py sets no bytecode prefix"
    assert Path(sys.pycache_prefix).resolve().is_relative_to(ROOT / ".cache")
