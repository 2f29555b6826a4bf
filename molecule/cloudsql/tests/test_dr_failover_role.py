"""The role nearzero.gcp.dr_failover on the lab after the drill (db-eu-1 promoted, the engine on it).

- A second run of the failover stops at its gate (the target is already a primary) and changes nothing:
  no promotion, the engine's connection files keep their checksums, db-eu-1 stays the primary.
- The verify phase (--tags verify) passes read-only on the end state, in check mode too, and reports
  no change; aimed at another instance than the one the engine uses (db-eu-2, promoted by the unplanned
  failover earlier in the side effect), it fails and names where the engine's connection goes.
- A bad variable stops the role in its preflight, before any API call; a misspelt credential option
  is refused by the first module, before any call.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

testinfra_hosts = ["ansible://engine-us-1"]

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LAB = ROOT / ".lab" / os.environ.get("NEARZERO_CLOUDSQL_LAB", "mol-cloudsql")
BIN = Path(sys.executable).parent
CONNECTION_FILES = ["/etc/nearzero/db/server-ca.pem", "/etc/nearzero/db/pg_service.conf", "/etc/nearzero/db/pgpass"]


def failover(*extra):
    """Run playbooks/dr_failover.yml on the lab inventory; return (rc, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "ANSIBLE_VERBOSITY"))}
    env.pop("ANSIBLE_FORCE_COLOR", None)  # molecule's; the recap is read below
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(LAB / "inventory.yml"),
                           str(ROOT / "playbooks" / "dr_failover.yml"), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)


def in_recovery(instance):
    described = {i["name"]: i for i in json.loads((LAB / "cloudsql.json").read_text())["instances"]}
    container = described[instance]["container"]
    out = subprocess.run(["podman", "exec", "-u", "postgres", container, "psql", "-XAtc", "select pg_is_in_recovery()"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip() == "t"


def engine_recap(out):
    """changed= and failed= of engine-us-1 in the play recap."""
    match = re.search(r"^engine-us-1\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", out, re.M)
    assert match, out[-3000:]
    return int(match.group(1)), int(match.group(2))


def test_a_second_run_stops_at_the_gate_and_changes_nothing(host):
    before = {path: host.file(path).sha256sum for path in CONNECTION_FILES}
    rc, out = failover()
    assert rc != 0
    assert "db-eu-1 is not a read replica of db-us-1 (masterInstanceName: none: already a primary)" in out
    assert "Nothing was changed" in out and "--tags verify" in out
    assert "Promote the replica and wait" not in out and "Run cloudsql_client against the new primary" not in out
    assert engine_recap(out)[0] == 0
    assert {path: host.file(path).sha256sum for path in CONNECTION_FILES} == before
    assert not in_recovery("db-eu-1")


def test_verify_passes_read_only_on_the_end_state():
    for extra in ([], ["--check"]):
        rc, out = failover("--tags", "verify", *extra)
        assert rc == 0, out[-3000:]
        assert engine_recap(out) == (0, 0)
        # the checks ran (ok, not skipped), and nothing of the failover itself
        task = "nearzero.gcp.dr_failover : Check the engine runs and is connected to the new primary"
        assert re.search(re.escape(f"TASK [{task}]") + r" \*+\nok: \[engine-us-1\]", out), out[-3000:]
        assert "Promote the replica and wait" not in out and "Measure the replica's lag" not in out


def test_verify_names_where_the_engine_goes_when_it_is_not_the_instance_named():
    rc, out = failover("--tags", "verify", "-e", "dr_failover_new_primary=db-eu-2")
    assert rc != 0
    assert re.search(r"engine-us-1: the engine's connection \(/etc/nearzero/db/pg_service.conf, service nearzero\) "
                     r"reaches [0-9.]+, not db-eu-2", out), out[-3000:]


def test_a_bad_variable_stops_the_role_before_any_call():
    rc, out = failover("-e", "dr_failover_catchup_timeout=0")
    assert rc != 0
    assert "Invalid dr_failover variables" in out and "dr_failover_catchup_timeout (0)" in out
    assert "Read the new primary through the SQL Admin API" not in out


def test_a_misspelt_credential_option_is_refused_before_any_call():
    rc, out = failover("-e", '{"dr_failover_gcp_auth": {"auth_knd": "serviceaccount"}}')
    assert rc != 0
    assert "Unsupported parameters for (nearzero.gcp.cloudsql_instance_info) module: auth_knd" in out
    assert "auth_kind" in out and "Check the target is a replica" not in out
