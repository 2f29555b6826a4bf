"""The database and engine plays as on Google Cloud, run on the live lab after the drill.

On a real fleet the Cloud SQL instances are in no inventory group (they are not Compute instances),
there is no lab emulator.json, the credential is application default credentials and the endpoints
are Google's. Here: an inventory of the engine host alone, without the lab's variables, the lab's key
through GOOGLE_APPLICATION_CREDENTIALS and the emulator's URL through GCP_SQLADMIN_ENDPOINT and
GCP_SECRETMANAGER_ENDPOINT.

- Nothing names the instances: cloudsql.yml, database.yml and dr_failover.yml each stop before any
  API call, naming the variables to set.
- No engine host matches the engines' group: database.yml, dr_failover.yml and site.yml stop in their
  fleet check (playbooks/fleet_check.yml), naming the group, before any other task.
- Named: database.yml connects the engine host to the current primary (db-eu-1 since the drill),
  the password read from Secret Manager with application default credentials, into a scratch
  directory (the engine's own files stay as the drill left them).
- No release named: trading_engine.yml stops and deploys nothing (only the lab's own play,
  dev/playbooks/lab_release.yml, names the repository's reference engine).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

testinfra_hosts = ["ansible://engine-us-1"]

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LAB = ROOT / ".lab" / os.environ.get("NEARZERO_CLOUDSQL_LAB", "mol-cloudsql")
BIN = Path(sys.executable).parent
SCRATCH = "/tmp/nz-outside-the-lab"  # inside the lab container
# the tasks of playbooks/fleet_check.yml, which every fleet playbook starts with
FLEET_CHECK = {"Check nearzero_allow_empty_groups", "Check that every targeted group has hosts"}


def fleet_inventory(tmp_path):
    """The lab's engine hosts as the gce plugin would list a real fleet: no lab variables, no database hosts."""
    lab = yaml.safe_load((LAB / "inventory.yml").read_text())["all"]
    engines = lab["children"]["role_trading_engine"]["hosts"]
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump({"all": {
        "vars": {k: v for k, v in lab["vars"].items() if not k.startswith("nearzero_lab")},
        "children": {"role_trading_engine": {"hosts": {name: lab["hosts"][name] for name in engines}}}}}))
    return path


def run(tmp_path, playbook, *extra):
    url = json.loads((LAB / "emulator.json").read_text())["url"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "GOOGLE_", "ANSIBLE_VERBOSITY"))}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               GOOGLE_APPLICATION_CREDENTIALS=str(LAB / "service-account.json"),
               GCP_SQLADMIN_ENDPOINT=url, GCP_SECRETMANAGER_ENDPOINT=url)
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(fleet_inventory(tmp_path)),
                           str(ROOT / "playbooks" / playbook), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(("playbook", "unset"), [
    ("cloudsql.yml", "nearzero_db_project, nearzero_db_primary_instance, nearzero_db_replica_instance"),
    ("database.yml", "nearzero_db_project, nearzero_db_primary_instance"),
    ("dr_failover.yml", "nearzero_db_project, nearzero_db_primary_instance, nearzero_db_replica_instance"),
])
def test_unnamed_instances_stop_the_play_before_any_call(tmp_path, playbook, unset):
    rc, out = run(tmp_path, playbook)
    assert rc != 0
    assert f"Not named: {unset}." in out and "Nothing was changed" in out
    # the check is the first task after the fleet check (database.yml and dr_failover.yml start with it):
    # nothing else ran before it, nothing after it
    tasks = [t for t in re.findall(r"^TASK \[([^\]]+)\]", out, re.M) if t not in FLEET_CHECK]
    assert tasks == ["Check the Cloud SQL project and instances are named"], out


@pytest.mark.parametrize("playbook", ["database.yml", "dr_failover.yml", "site.yml"])
def test_an_empty_engine_group_stops_the_play_before_anything(tmp_path, playbook):
    # the engines' group named by nearzero_engine_hosts matches nothing (a source that failed, a filter that
    # leaves them out): the fleet check stops the run, naming the group, before any other task
    rc, out = run(tmp_path, playbook, "-e", "nearzero_engine_hosts=role_engines_not_here",
                  "-e", "nearzero_db_project=nearzero-lab", "-e", "nearzero_db_primary_instance=db-eu-1",
                  "-e", "nearzero_db_replica_instance=db-eu-2")
    assert rc != 0
    assert "No host matches 'role_engines_not_here'" in out and "Nothing was changed" in out, out
    assert set(re.findall(r"^TASK \[([^\]]+)\]", out, re.M)) <= FLEET_CHECK, out


def test_named_instances_connect_the_engine_with_application_default_credentials(tmp_path, host):
    described = {i["name"]: i for i in json.loads((LAB / "cloudsql.json").read_text())["instances"]}
    host.run(f"rm -rf {SCRATCH}")
    try:
        rc, out = run(tmp_path, "database.yml", "-e", "nearzero_db_project=nearzero-lab",
                      "-e", "nearzero_db_primary_instance=db-eu-1", "-e", f"cloudsql_client_dir={SCRATCH}",
                      "-e", "cloudsql_client_probe_queries=10", "-e", "cloudsql_client_probe_connects=1")
        assert rc == 0, out[-3000:]
        service = host.file(f"{SCRATCH}/pg_service.conf").content_string
        # db-eu-1's per-instance CA certificate does not carry its DNS name: verify-ca at its private IP
        assert f"host={described['db-eu-1']['ip']}\n" in service and "sslmode=verify-ca\n" in service
        assert host.file(f"{SCRATCH}/pgpass").mode == 0o640 and host.file(f"{SCRATCH}/pgpass").user == "root"
    finally:
        host.run(f"rm -rf {SCRATCH}")


def test_no_release_named_deploys_nothing(tmp_path, host):
    current = "/opt/nearzero/engine/current"
    before = host.file(current).linked_to
    rc, out = run(tmp_path, "trading_engine.yml")
    assert rc != 0
    assert "No release named for engine-us-1" in out and "trading_engine_artifact_sha256" in out
    assert "Build dist/" not in out and "Nothing was changed" in out
    assert host.file(current).linked_to == before
