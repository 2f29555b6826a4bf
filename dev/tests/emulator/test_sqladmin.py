"""The emulator's Cloud SQL Admin v1 over real HTTP: shapes from sqladmin.v1.json, operations, errors."""

import json
import time

import pytest
import requests
from discovery_schema import check

DOC = "sqladmin.v1"


@pytest.fixture
def api(emulator):
    emulator.add_access_token("tok-sql")
    store = emulator.services["sqladmin"]
    store.operation_seconds = 0.1
    store.add_instance("p1", "db-us", region="us-east4", private_ip="10.20.0.5", dns_name="db-us.x.sql.goog")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-sql"
    base = f"{emulator.url}/v1/projects/p1"
    return emulator, store, session, base


def wait_done(session, op, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = session.get(op["selfLink"]).json()
        if body["status"] == "DONE":
            return body
        time.sleep(0.05)
    raise AssertionError(f"operation {op['name']} not DONE after {timeout} s")


def test_get_connect_settings_and_server_cas_match_the_discovery_document(api):
    _, _, session, base = api
    instance = session.get(f"{base}/instances/db-us").json()
    assert check(instance, "DatabaseInstance", doc=DOC) == []
    assert instance["settings"]["settingsVersion"] == "1"  # int64 travels as a string
    settings = session.get(f"{base}/instances/db-us/connectSettings").json()
    assert check(settings, "ConnectSettings", doc=DOC) == []
    assert settings["ipAddresses"] == [{"type": "PRIVATE", "ipAddress": "10.20.0.5"}]
    assert settings["dnsName"] == "db-us.x.sql.goog."
    cas = session.get(f"{base}/instances/db-us/listServerCas").json()
    assert check(cas, "InstancesListServerCasResponse", doc=DOC) == []
    assert cas["activeVersion"] == cas["certs"][0]["sha1Fingerprint"]
    assert cas["certs"][0]["cert"].startswith("-----BEGIN CERTIFICATE-----")


def test_every_server_ca_is_listed_current_first(api, emulator):
    _, store, session, base = api
    from emulator.services.sqladmin import _test_ca

    pems = [_test_ca("current"), _test_ca("next"), _test_ca("old")]
    store.add_instance("p1", "db-rot", ca_pems=pems)
    certs = session.get(f"{base}/instances/db-rot/listServerCas").json()["certs"]
    assert [c["commonName"] for c in certs] == ["current", "next", "old"]


def test_patch_merges_and_completes_through_an_operation(api):
    _, _, session, base = api
    resp = session.patch(f"{base}/instances/db-us", json={
        "settings": {"backupConfiguration": {"enabled": True, "startTime": "04:00", "location": "us"},
                     "deletionProtectionEnabled": True}})
    assert resp.status_code == 200
    op = resp.json()
    assert check(op, "Operation", doc=DOC) == []
    assert op["status"] in ("PENDING", "RUNNING") and op["operationType"] == "UPDATE"
    # not applied before the operation finishes
    assert session.get(f"{base}/instances/db-us").json()["settings"]["deletionProtectionEnabled"] is False
    done = wait_done(session, op)
    assert "error" not in done and check(done, "Operation", doc=DOC) == []
    settings = session.get(f"{base}/instances/db-us").json()["settings"]
    assert settings["deletionProtectionEnabled"] is True
    assert settings["backupConfiguration"]["startTime"] == "04:00"
    # merge: what the PATCH did not name is kept
    assert settings["backupConfiguration"]["transactionLogRetentionDays"] == 7
    assert settings["ipConfiguration"]["privateNetwork"] == "projects/p1/global/networks/default"
    assert settings["settingsVersion"] == "2"


@pytest.mark.parametrize(("body", "needle"), [
    ({"settings": {"ipConfiguration": {"sslMode": "SOMETIMES"}}}, "ssl_mode"),
    ({"settings": {"backupConfiguration": {"startTime": "04:30"}}}, "start_time"),
    ({"settings": {"ipConfiguration": {"ipv4Enabled": False, "privateNetwork": ""}}}, "public IP or private IP"),
    ({"state": "SUSPENDED"}, "state"),
])
def test_invalid_patches_are_refused_with_400(api, body, needle):
    _, _, session, base = api
    resp = session.patch(f"{base}/instances/db-us", json=body)
    assert resp.status_code == 400
    assert needle in resp.json()["error"]["message"]


def test_insert_creates_a_cross_region_replica(api):
    _, _, session, base = api
    resp = session.post(f"{base}/instances", json={"name": "db-eu", "masterInstanceName": "db-us",
                                                   "region": "europe-west3"})
    assert resp.status_code == 200
    assert resp.json()["operationType"] == "CREATE_REPLICA"
    assert session.get(f"{base}/instances/db-eu").json()["state"] == "PENDING_CREATE"
    wait_done(session, resp.json())
    replica = session.get(f"{base}/instances/db-eu").json()
    assert check(replica, "DatabaseInstance", doc=DOC) == []
    assert replica["state"] == "RUNNABLE" and replica["region"] == "europe-west3"
    assert replica["masterInstanceName"] == "p1:db-us" and replica["instanceType"] == "READ_REPLICA_INSTANCE"
    assert "db-eu" in session.get(f"{base}/instances/db-us").json()["replicaNames"]
    again = session.post(f"{base}/instances", json={"name": "db-eu", "masterInstanceName": "db-us"})
    assert again.status_code == 409


def test_promote_replica_detaches_it(api):
    _, store, session, base = api
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    op = session.post(f"{base}/instances/db-eu/promoteReplica").json()
    assert op["operationType"] == "PROMOTE_REPLICA"
    wait_done(session, op)
    promoted = session.get(f"{base}/instances/db-eu").json()
    assert "masterInstanceName" not in promoted and promoted["instanceType"] == "CLOUD_SQL_INSTANCE"
    assert "db-eu" not in session.get(f"{base}/instances/db-us").json().get("replicaNames", [])
    # a primary cannot be promoted
    assert session.post(f"{base}/instances/db-us/promoteReplica").status_code == 400


def test_a_failed_operation_reports_its_error_and_changes_nothing(api):
    _, store, session, base = api
    store.fail_next_operation("db-us", "Quota exceeded for backups.", "QUOTA_EXCEEDED")
    op = session.patch(f"{base}/instances/db-us", json={"settings": {"deletionProtectionEnabled": True}}).json()
    done = wait_done(session, op)
    assert done["error"]["errors"][0] == {"kind": "sql#operationError", "code": "QUOTA_EXCEEDED",
                                          "message": "Quota exceeded for backups."}
    assert session.get(f"{base}/instances/db-us").json()["settings"]["deletionProtectionEnabled"] is False


def test_errors_wrong_instance_permission_and_unknown_operation(api):
    _, store, session, base = api
    missing = session.get(f"{base}/instances/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["errors"][0]["reason"] == "instanceDoesNotExist"
    assert session.get(f"{base}/operations/0000").status_code == 404
    store.deny("p1")
    denied = session.get(f"{base}/instances/db-us/connectSettings")
    assert denied.status_code == 403
    assert denied.json()["error"]["status"] == "PERMISSION_DENIED"


def test_calls_need_a_token(api, emulator):
    resp = requests.get(f"{emulator.url}/v1/projects/p1/instances/db-us", timeout=10)
    assert resp.status_code == 401


def _write_lab(tmp_path, container_prefix="nz-nolab"):
    from emulator.services.sqladmin import _test_ca

    (tmp_path / "instances.json").write_text("[]")
    (tmp_path / "pki").mkdir()
    ca = _test_ca("nearzero lab Cloud SQL server CA")
    (tmp_path / "pki" / "ca.pem").write_text(ca)
    instances = [
        {"name": "db-us-1", "host": "db-us-1", "container": f"{container_prefix}-db-us-1", "ip": "10.89.1.11",
         "region": "us-east4", "zone": "us-east4-a", "role": "primary", "primary_host": "db-us-1",
         "dnsName": "db-us-1.us-east4.sql.nearzero.internal", "port": 5432, "databaseVersion": "POSTGRES_15"},
        {"name": "db-eu-1", "host": "db-eu-1", "container": f"{container_prefix}-db-eu-1", "ip": "10.89.1.12",
         "region": "europe-west3", "zone": "europe-west3-a", "role": "replica", "primary_host": "db-us-1",
         "dnsName": "db-eu-1.europe-west3.sql.nearzero.internal", "port": 5432, "databaseVersion": "POSTGRES_15"},
    ]
    (tmp_path / "cloudsql.json").write_text(
        json.dumps({"project": "lab-p", "ca_file": "pki/ca.pem", "instances": instances}))
    return ca


def _lab_api(emulator, tmp_path, **lab):
    """The emulator in lab mode on a written lab; returns (lab CA, authorised session, project base URL)."""
    ca = _write_lab(tmp_path, **lab)
    emulator.load_lab(tmp_path)
    emulator.add_access_token("tok-lab")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-lab"
    return ca, session, f"{emulator.url}/v1/projects/lab-p"


def test_lab_mode_serves_the_lab_hosts(emulator, tmp_path):
    ca, session, base = _lab_api(emulator, tmp_path)
    settings = session.get(f"{base}/instances/db-eu-1/connectSettings").json()
    assert settings["ipAddresses"] == [{"type": "PRIVATE", "ipAddress": "10.89.1.12"}]
    assert settings["dnsName"] == "db-eu-1.europe-west3.sql.nearzero.internal."
    assert settings["serverCaCert"]["cert"].strip() == ca.strip()
    replica = session.get(f"{base}/instances/db-eu-1").json()
    assert replica["masterInstanceName"] == "lab-p:db-us-1"
    assert replica["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert "db-eu-1" in session.get(f"{base}/instances/db-us-1").json()["replicaNames"]


def test_lab_promotion_fails_its_operation_when_the_server_cannot_be_promoted(emulator, tmp_path):
    _ca, session, base = _lab_api(emulator, tmp_path, container_prefix="nz-no-such-lab")
    op = session.post(f"{base}/instances/db-eu-1/promoteReplica").json()
    done = wait_done(session, op, timeout=60)
    assert "pg_promote() failed in nz-no-such-lab-db-eu-1" in done["error"]["errors"][0]["message"]
    # nothing changed: still a replica
    assert session.get(f"{base}/instances/db-eu-1").json()["masterInstanceName"] == "lab-p:db-us-1"
