"""dev/tools/sanity.py gives ansible-test the collection as it ships, plus its tests, and no ignore file."""

from tools import sanity

ROOT = sanity.ROOT


def test_the_tree_is_the_collection_and_its_tests():
    files = set(sanity.collection_files())
    assert {"galaxy.yml", "meta/runtime.yml", "plugins/inventory/gce.py", "playbooks/site.yml",
            "tests/config.yml"} <= files
    workbench = [f for f in files if f.split("/")[0] in {"dev", "molecule", ".ci"}
                 or f in {"Makefile", "ansible.cfg", "conftest.py", "pyproject.toml", "requirements.txt"}]
    assert workbench == []


def test_build_ignore_patterns_match_like_ansible_galaxy():
    patterns = ["dev", "inventory/lab", "*.tar.gz", "**/__pycache__"]
    assert sanity.build_ignored("dev/emulator/server.py", patterns)
    assert sanity.build_ignored("inventory/lab/gce.yml", patterns)
    assert sanity.build_ignored("nearzero-gcp-0.1.0.tar.gz", patterns)
    assert sanity.build_ignored("plugins/inventory/__pycache__/gce.cpython-311.pyc", patterns)
    assert not sanity.build_ignored("plugins/inventory/gce.py", patterns)
    assert not sanity.build_ignored("inventory/production/gce.yml", patterns)
    assert not sanity.build_ignored("roles/dev_tools/tasks/main.yml", patterns)


def test_no_ignore_file():
    assert not list((ROOT / "tests" / "sanity").glob("ignore-*.txt"))


def test_a_rerun_after_a_crash_keeps_the_options_but_not_the_test_choice():
    argv = ["--test", "pylint", "--skip-test", "pep8", "--test=yamllint", "-v"]
    assert sanity.without_test_choice(argv) == ["--skip-test", "pep8", "-v"]
