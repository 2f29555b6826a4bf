"""The database tier after converge, idempotence and the DR drill (side effect).

Runs against engine-us-1 (the engine host): the converge started from a primary with a public IP,
which the policy removed before the client connected (site.yml's order); the connection files and
their modes; the new primary (db-eu-1, a per-instance CA whose certificate lacks the DNS name) reached
with verify-ca at its private IP with its whole CA bundle, and verify-full shown to fail there; a
TLS session that verifies with the service file, a wrong CA refused, plain text refused by the
server; the old primary fenced through the API (activationPolicy NEVER, its server really stopped);
the drill's RPO of 0 rows and the failover's RPO 0 claim (fence done, lag gate passed); the engine
restarted through the health gate and connected over TLS to the new primary (its readiness endpoint,
and pg_stat_activity/pg_stat_ssl on the new primary), and no secret value (the database passwords,
the service-account key) in the scenario's whole -vvv Ansible log. The verify-full side (the US
primary, a CAS certificate with its DNS name) is checked by the side effect while the engine uses it.
"""

import json
import os
import subprocess
from pathlib import Path

import lab_api
import pytest
from PIL import Image

testinfra_hosts = ["ansible://engine-us-1"]

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LAB = ROOT / ".lab" / os.environ.get("NEARZERO_CLOUDSQL_LAB", "mol-cloudsql")
ENV = "PGSERVICEFILE=/etc/nearzero/db/pg_service.conf PGPASSFILE=/etc/nearzero/db/pgpass PGSERVICE=nearzero"


def as_engine(host, sql, conninfo="", check=True):
    cmd = f"sudo -u trading env {ENV} psql -XAtc {sql!r} {conninfo!r}" if conninfo else \
        f"sudo -u trading env {ENV} psql -XAtc {sql!r}"
    return host.run(cmd) if not check else host.check_output(cmd)


def service(host):
    text = host.file("/etc/nearzero/db/pg_service.conf").content_string
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize("path", ["/etc/nearzero/db/pg_service.conf", "/etc/nearzero/db/pgpass"])
def test_credentials_files_are_root_owned_and_readable_by_the_engine_group(host, path):
    # the engine reads them (its group) but cannot change them (issue 19, item 7)
    f = host.file(path)
    assert f.is_file and f.user == "root" and f.group == "trading" and f.mode == 0o640
    directory = host.file("/etc/nearzero/db")
    assert directory.user == "root" and directory.group == "trading" and directory.mode == 0o750


def described():
    return {i["name"]: i for i in json.loads((LAB / "cloudsql.json").read_text())["instances"]}


def test_the_converge_fixed_a_public_ip_before_the_client_connected():
    # the first converge turned the primary's public IP on through the API, then ran site.yml's database part;
    # the client refuses an instance with a public IP, so it connected only because the policy ran first
    start = json.loads((LAB / "public-ip-at-start.json").read_text())
    assert start["name"] == "db-us-1" and start["ipv4Enabled"] is True
    assert any(a["type"] == "PRIMARY" for a in start["ipAddresses"])
    now = lab_api.instance(LAB, "db-us-1")
    assert now["settings"]["ipConfiguration"]["ipv4Enabled"] is False
    assert not any(a["type"] == "PRIMARY" for a in now.get("ipAddresses", []))


def test_ca_bundle_is_world_readable_and_is_the_new_primarys_whole_bundle(host):
    f = host.file("/etc/nearzero/db/server-ca.pem")
    assert f.user == "root" and f.mode == 0o644
    assert f.content_string.strip() == lab_api.ca_bundle(LAB, "db-eu-1").strip()


def test_service_file_verifies_the_ca_of_the_new_primary_at_its_private_ip(host):
    svc = service(host)
    # after the drill the engines point at the promoted EU replica, whose per-instance CA issues a certificate
    # without the DNS name: the client chose verify-ca, host and hostaddr its private IP
    assert lab_api.instance(LAB, "db-eu-1")["settings"]["ipConfiguration"]["serverCaMode"] == \
        "GOOGLE_MANAGED_INTERNAL_CA"
    assert svc["host"] == svc["hostaddr"] == described()["db-eu-1"]["ip"]
    assert svc["sslmode"] == "verify-ca"
    assert svc["sslrootcert"] == "/etc/nearzero/db/server-ca.pem"
    assert svc["target_session_attrs"] == "read-write"


def test_tls_session_verifies_and_is_encrypted(host):
    out = as_engine(host, "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()")
    ssl, version = out.split("|")
    assert ssl == "t" and version.startswith("TLSv1.")


def test_a_wrong_ca_is_refused(host):
    # the system's public CA bundle does not hold the lab CA: the server's certificate must not verify
    res = as_engine(host, "select 1", "service=nearzero sslrootcert=/etc/ssl/certs/ca-certificates.crt", check=False)
    assert res.rc != 0
    assert "certificate verify failed" in res.stderr


def test_verify_full_would_fail_against_the_new_primarys_certificate(host):
    # why verify-ca: the same service with verify-full against the instance's DNS name is refused by libpq
    ip, dns = service(host)["hostaddr"], described()["db-eu-1"]["dnsName"]
    res = as_engine(host, "select 1", f"service=nearzero sslmode=verify-full host={dns} hostaddr={ip}", check=False)
    assert res.rc != 0
    assert "does not match host name" in res.stderr


def test_plain_text_is_refused_by_the_server(host):
    res = as_engine(host, "select 1", "service=nearzero sslmode=disable", check=False)
    assert res.rc != 0
    assert "no encryption" in res.stderr


def test_the_old_primary_is_fenced_through_the_api(host):
    # the drill's failover stopped db-us-1 with settings.activationPolicy NEVER: the API says so, its server is
    # down (the emulator applies the fence to the lab server), and nothing reaches it any more
    assert lab_api.instance(LAB, "db-us-1")["settings"]["activationPolicy"] == "NEVER"
    old = described()["db-us-1"]
    active = subprocess.run(["podman", "exec", old["container"], "systemctl", "is-active", "postgresql@15-main"],
                            capture_output=True, text=True, check=False).stdout.strip()
    assert active == "inactive"
    res = as_engine(host, "select 1", f"service=nearzero host={old['ip']} hostaddr={old['ip']} sslmode=verify-ca",
                    check=False)
    assert res.rc != 0 and "Connection refused" in res.stderr


def test_the_drill_lost_no_committed_row(host):
    report = json.loads((LAB / "dr_drill.json").read_text())
    assert report["rpo_rows"] == 0
    assert report["committed_rows"] == report["rows_after_failover"] > 0
    assert report["rto_seconds"] > 0
    count = as_engine(host, f"select count(*) from nearzero_dr_drill where drill = '{report['drill']}'")
    assert int(count) == report["committed_rows"]


def drill_report():
    return json.loads((LAB / "dr_drill.json").read_text())


def test_the_drill_draws_its_timeline():
    """The picture beside dr_drill.json: the RTO shaded red from the promotion until the last engine is ready."""
    png = Image.open(LAB / "dr_drill.png").convert("RGB")
    assert png.size == (1200, 400)
    pixels = list(png.get_flattened_data())
    shaded = sum(1 for r, g, b in pixels if abs(r - 247) < 8 and abs(g - 222) < 8 and abs(b - 223) < 8)
    line = sum(1 for r, g, b in pixels if abs(r - 31) < 12 and abs(g - 119) < 12 and abs(b - 180) < 12)
    assert shaded > 20000 and line > 200


def engine_sessions(instance, engine_ip):
    """The engine's sessions on a lab database server, as the server sees them (user, TLS, client address)."""
    sql = ("select a.usename, s.ssl, s.version from pg_stat_activity a join pg_stat_ssl s using (pid) "
           f"where a.application_name = 'nearzero-engine' and a.client_addr = '{engine_ip}'")
    out = subprocess.run(["podman", "exec", "-u", "postgres", instance["container"], "psql", "-XAtc", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.splitlines()]


def test_the_drill_restarted_the_engine_through_the_health_gate():
    report = drill_report()
    assert report["rpo_rows"] == 0
    # the failover claims RPO 0 only because the API fence completed and the lag gate passed
    rpo = report["failover_rpo"]
    assert rpo["kind"] == "planned" and rpo["rows_lost"] == 0
    assert rpo["fenced"] is True and rpo["lag_gate"] == "passed" and "activationPolicy NEVER" in rpo["fence"]
    assert report["engines_restarted"] >= 1
    # RTO covers the restart and the gate's soak (2 s), so it cannot be shorter than the promotion plus the soak
    assert report["rto_seconds"] >= report["promotion_seconds"] + 2


def test_the_running_engine_is_ready_on_the_new_primary(host):
    report = drill_report()
    body = json.loads(host.check_output("curl -sf http://127.0.0.1:8095/healthz/ready"))
    assert body["ready"] is True
    assert body["database"]["detail"].startswith(f"connected to {described()['db-eu-1']['ip']}:5432/")
    assert "sslmode=verify-ca" in body["database"]["detail"]
    # the process serving now was started after the promotion began: the drill restarted it
    assert body["pid"] == int(host.check_output("systemctl show -p MainPID --value nearzero-engine"))
    started = float(host.check_output("date +%s.%N")) - body["uptime_s"]
    assert started > report["promotion_started_at"]


def test_the_new_primary_serves_the_engine_over_tls(host):
    # (the old primary serves nobody: it is stopped, test_the_old_primary_is_fenced_through_the_api)
    engine_ip = host.ansible.get_variables()["ansible_host"]
    sessions = engine_sessions(described()["db-eu-1"], engine_ip)
    assert sessions and all(user == "trading" and ssl == "t" and version.startswith("TLSv1.")
                            for user, ssl, version in sessions)


def test_writes_land_on_the_new_primary(host):
    out = as_engine(host, "select pg_is_in_recovery(), inet_server_addr()")
    in_recovery, addr = out.split("|")
    assert in_recovery == "f" and addr.split("/")[0] == service(host)["hostaddr"]


def test_no_secret_in_the_vvv_log():
    log = (ROOT / ".lab" / f"{LAB.name}-ansible.log").read_text(errors="replace")
    assert "EXEC" in log, "the scenario's log is not at -vvv"
    secrets = [p.read_text().strip() for p in (LAB / "secrets").iterdir()]
    assert len(secrets) >= 2
    # the service-account key, which the side effect also hands over as the contents of nearzero_gcp_auth
    key_lines = json.loads((LAB / "service-account.json").read_text())["private_key"].splitlines()[5:8]
    for value in secrets + key_lines:
        assert len(value) >= 16 and value not in log
