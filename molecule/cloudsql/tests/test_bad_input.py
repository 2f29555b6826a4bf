"""cloudsql_client refuses bad input on the live lab, each with a message naming the cause.

Each case runs the role for real (ansible-playbook from the controller) into a scratch directory on
the engine host, so the engine's own connection files are never touched, except the wrong CA:

- a CA bundle that does not verify the server, aimed at the engine's real files: the role verifies
  staged copies first, so it stops and the real files keep their checksums;
- a server that accepts plain text (db-eu-2, promoted by the unplanned failover and used by no engine,
  given a hostnossl rule for the test; the old primary db-us-1 is fenced, stopped);
- an instance that exposes a public IP (patched through the emulated SQL Admin API);
- a misspelt credential option (it would otherwise be ignored, and another credential used).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import lab_api
import pytest

testinfra_hosts = ["ansible://engine-us-1"]

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LAB = ROOT / ".lab" / os.environ.get("NEARZERO_CLOUDSQL_LAB", "mol-cloudsql")
BIN = Path(sys.executable).parent
SCRATCH = "/tmp/nz-bad-input"  # inside the lab container


def run_role(tmp_path, extra):
    """Run cloudsql_client on engine-us-1 with ``extra`` variables; return (rc, output)."""
    playbook = tmp_path / "bad.yml"
    playbook.write_text(json.dumps([{
        "hosts": "engine-us-1", "become": True, "gather_facts": False,
        "roles": [{"role": "cloudsql_client"}],
    }]))
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps(dict({"cloudsql_client_dir": SCRATCH, "cloudsql_client_probe_queries": 10,
                                          "cloudsql_client_probe_connects": 1}, **extra)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "ANSIBLE_VERBOSITY"))}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(LAB / "inventory.yml"), str(playbook),
                           "-e", f"@{variables}", "--tags", "cloudsql_client_configure,verify"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def lab():
    return {i["name"]: i for i in json.loads((LAB / "cloudsql.json").read_text())["instances"]}


def static_vars(instance, ca_bundle):
    return {"cloudsql_client_discover": False, "cloudsql_client_private_ip": instance["ip"],
            "cloudsql_client_dns_name": instance["dnsName"], "cloudsql_client_ca_bundle": ca_bundle,
            "cloudsql_client_password": (LAB / "secrets" / "nearzero-db-password").read_text().strip(),
            "cloudsql_client_target_session_attrs": "any"}


REAL_FILES = ["/etc/nearzero/db/server-ca.pem", "/etc/nearzero/db/pg_service.conf", "/etc/nearzero/db/pgpass"]


def test_a_ca_that_does_not_verify_the_server_stops_the_role_and_leaves_the_files(tmp_path, host):
    other_ca = host.check_output("sed -n '/BEGIN CERT/,/END CERT/p;/END CERT/q' /etc/ssl/certs/ca-certificates.crt")
    before = {path: host.file(path).sha256sum for path in REAL_FILES}
    # the real directory, and target_session_attrs=any: a role that wrote first would change all three files
    variables = dict(static_vars(lab()["db-eu-1"], other_ca + "\n"), cloudsql_client_dir="/etc/nearzero/db")
    rc, out = run_role(tmp_path, variables)
    assert rc != 0
    assert "certificate verify failed" in out and "the CA bundle does not verify the server" in out
    assert "Nothing was written: the files in /etc/nearzero/db are unchanged" in out
    assert {path: host.file(path).sha256sum for path in REAL_FILES} == before
    assert host.check_output("find /tmp -maxdepth 1 -name 'nearzero-db-stage-*'") == ""  # staging removed


def test_a_server_that_accepts_plain_text_stops_the_role(tmp_path, host):
    old = lab()["db-eu-2"]
    ctr = old["container"]
    hba = "/etc/postgresql/15/main/pg_hba.conf"
    allow = f"hostnossl nearzero trading {old['ip'].rsplit('.', 1)[0]}.0/24 scram-sha-256"
    subprocess.run(["podman", "exec", ctr, "sed", "-i", f"1i {allow}", hba], check=True)
    subprocess.run(["podman", "exec", "-u", "postgres", ctr, "psql", "-Xqc", "select pg_reload_conf()"], check=True)
    try:
        rc, out = run_role(tmp_path, static_vars(old, lab_api.ca_bundle(LAB, "db-eu-2")))
    finally:
        subprocess.run(["podman", "exec", ctr, "sed", "-i", "1d", hba], check=True)
        subprocess.run(["podman", "exec", "-u", "postgres", ctr, "psql", "-Xqc", "select pg_reload_conf()"],
                       check=True)
    assert rc != 0
    assert "The server accepted" in out and "ENCRYPTED_ONLY" in out


@pytest.mark.parametrize("instance", ["db-eu-2"])
def test_an_instance_with_a_public_ip_is_refused(tmp_path, instance):
    emulator = json.loads((LAB / "emulator.json").read_text())
    key = LAB / "service-account.json"
    auth = {"auth_kind": "serviceaccount", "service_account_file": str(key)}
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")

    def set_public_ip(value):
        patch = tmp_path / "public.yml"
        patch.write_text(json.dumps([{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable}, "tasks": [{
            "cloudsql_instance": dict(auth, project="nearzero-lab", name=instance, public_ip=value,
                                      private_network="projects/nearzero-lab/global/networks/default",
                                      deletion_protection=True, api_endpoint=emulator["url"], wait_timeout=30)}]}]))
        subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(patch)], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=300)

    set_public_ip(True)
    try:
        rc, out = run_role(tmp_path, {"cloudsql_client_project": "nearzero-lab", "cloudsql_client_instance": instance,
                                      "cloudsql_client_gcp_auth": auth, "cloudsql_client_api_endpoint": emulator["url"],
                                      "cloudsql_client_password": "unused-here"})
    finally:
        set_public_ip(False)
    assert rc != 0
    assert f"Instance {instance} has a public IP address" in out and "ipv4Enabled" in out


def test_a_misspelt_credential_option_is_refused_before_any_call(tmp_path):
    # without the check the key would be ignored and the call made with another credential (ADC)
    rc, out = run_role(tmp_path, {"cloudsql_client_project": "nearzero-lab", "cloudsql_client_instance": "db-us-1",
                                  "cloudsql_client_gcp_auth": {"auth_knd": "serviceaccount"},
                                  "cloudsql_client_password": "unused-here"})
    assert rc != 0
    # since f559b83 the module checks the names against the collection's one spec (argument parsing, before any
    # API call), no longer the role's argument_specs
    assert "Unsupported parameters for (nearzero.gcp.cloudsql_instance_info) module: auth_knd" in out
    assert "Supported parameters include" in out and "auth_kind" in out
