"""An empty or partial fleet fails the run, with its cause, instead of "no hosts matched" and exit 0.

Real ``ansible-playbook`` runs from the repository root (so ``ansible.cfg`` applies) against the
GCP API emulator through the ``gce`` inventory plugin. The Compute API answers 503 to every call
(a persistent fault), so the inventory source fails to parse:

- as a fleet should run it (``any_unparsed_is_failed``, docs/ANSIBLE_CFG.md), ansible-playbook
  stops before any play with the plugin's error;
- relaxed (failed sources only warn), the fleet check each playbook starts with
  (``playbooks/fleet_check.yml``) stops the run, naming the empty group and the likely cause;
- either way the source is listed once: the plugin is enabled once in ``ansible.cfg`` (the
  ``auto`` plugin would load it again and repeat every call).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
PROJECT = "nz-fleet"
# Retries of the plugin's client in these tests: each listing is 1 + RETRIES calls.
RETRIES = 1
RUNS = {
    "site": ["playbooks/site.yml"],
    "site-verify": ["playbooks/site.yml", "--tags", "verify"],
    "deploy": ["playbooks/deploy.yml"],
}
STRICT = {"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true"}
RELAXED = {"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "false", "ANSIBLE_INVENTORY_UNPARSED_IS_FAILED": "false"}


@pytest.fixture
def fleet(emulator, tmp_path):
    """A gce source for project nz-fleet on the emulator; returns (emulator, write_source)."""
    emulator.add_project(PROJECT, zones=["us-east4-a", "europe-west3-a"])
    key = tmp_path / "service-account.json"
    key.write_text(json.dumps(emulator.make_service_account(f"sa@{PROJECT}.iam.gserviceaccount.com", PROJECT)))
    key.chmod(0o600)

    def write_source(extra: str = "") -> Path:
        source = tmp_path / "fleet.gce.yml"
        source.write_text(
            f"plugin: nearzero.gcp.gce\nprojects: [{PROJECT}]\nauth_kind: serviceaccount\n"
            f"service_account_file: {key}\napi_endpoint: {emulator.url}\nretries: {RETRIES}\n{extra}")
        return source

    return emulator, write_source


def playbook(source: Path, args: list[str], env: dict) -> subprocess.CompletedProcess:
    """ansible-playbook from the repository root with ``source`` as the only inventory."""
    full_env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0", **env}
    full_env.pop("ANSIBLE_INVENTORY", None)
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(source), *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, check=False, timeout=300)


def listings(emulator) -> int:
    """How many instance listings the emulator answered (aggregated and per zone)."""
    counts = emulator.stats()["requests"]
    return counts.get("compute.instances.aggregatedList", 0) + counts.get("compute.instances.list", 0)


@pytest.mark.parametrize("run", RUNS.values(), ids=RUNS.keys())
def test_failed_source_stops_the_run_as_fleets_run_it(fleet, run):
    emulator, write_source = fleet
    emulator.faults.add(path_regex="/compute/", status=503, times=None)
    res = playbook(write_source(), run, STRICT)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "Completely failed to parse inventory source" in out, out
    # the cause: which API, which status, how often it was tried
    assert "Compute Engine API failed" in out and "HTTP 503" in out, out
    assert "PLAY [" not in out, out
    # once per listing attempt set: one failing listing of 1 + RETRIES calls, not a second one by `auto`
    assert listings(emulator) == 1 + RETRIES, emulator.stats()


@pytest.mark.parametrize(("run", "group"), [(RUNS["site"], "all"), (RUNS["site-verify"], "all"),
                                            (RUNS["deploy"], "role_trading_engine")], ids=RUNS.keys())
def test_relaxed_failed_source_is_stopped_by_the_fleet_check(fleet, run, group):
    emulator, write_source = fleet
    emulator.faults.add(path_regex="/compute/", status=503, times=None)
    res = playbook(write_source(), run, RELAXED)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert f"No host matches '{group}'" in out, out
    assert "every inventory source came back empty" in out and "Nothing was changed" in out, out
    # the source's own warning, above the check, says why it came back empty
    assert "HTTP 503" in out, out
    assert "skipping: no hosts matched" not in out, out
    assert listings(emulator) == 1 + RETRIES, emulator.stats()


def test_an_empty_group_the_operator_expects_passes(fleet):
    emulator, write_source = fleet
    emulator.faults.add(path_regex="/compute/", status=503, times=None)
    res = playbook(write_source(), [*RUNS["deploy"], "-e", '{"nearzero_allow_empty_groups": ["role_trading_engine"]}'],
                   RELAXED)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "skipping: no hosts matched" in out, out


def test_allow_list_must_be_a_list(fleet):
    _, write_source = fleet
    res = playbook(write_source(), [*RUNS["deploy"], "-e", "nearzero_allow_empty_groups=role_trading_engine"], RELAXED)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "nearzero_allow_empty_groups is" in out and "give a list" in out, out


def test_filter_that_leaves_a_group_empty_is_named(fleet):
    # A partial fleet: the source parses, but its filter keeps the databases only.
    emulator, write_source = fleet
    emulator.generate(24, projects=[PROJECT], zones=["us-east4-a", "europe-west3-a"], seed=3)
    source = write_source("filter: labels.role = database\n")
    res = playbook(source, ["playbooks/deploy.yml"], {})
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "No host matches 'role_trading_engine'" in out and "no host carries this group" in out, out
    assert "every inventory source came back empty" not in out, out
