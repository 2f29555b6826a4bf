"""The emulator's Cloud SQL Admin v1 over real HTTP: shapes from sqladmin.v1.json, operations, Cloud SQL's rules."""

import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from discovery_schema import check
from sqladmin_ops import wait_done

DOC = "sqladmin.v1"
GOOGLE = "https://sqladmin.googleapis.com/v1/projects"


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


def patch_done(session, base, instance, body):
    resp = session.patch(f"{base}/instances/{instance}", json=body)
    assert resp.status_code == 200, resp.text
    return wait_done(session, base, resp.json())


def subject(pem):
    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


def test_get_connect_settings_and_server_cas_match_the_discovery_document(api):
    _, _, session, base = api
    instance = session.get(f"{base}/instances/db-us").json()
    assert check(instance, "DatabaseInstance", doc=DOC) == []
    assert instance["settings"]["settingsVersion"] == "1"  # int64 travels as a string
    settings = session.get(f"{base}/instances/db-us/connectSettings").json()
    assert check(settings, "ConnectSettings", doc=DOC) == []
    assert settings["ipAddresses"] == [{"type": "PRIVATE", "ipAddress": "10.20.0.5"}]
    assert settings["dnsName"] == "db-us.x.sql.goog."
    assert settings["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"
    cas = session.get(f"{base}/instances/db-us/listServerCas").json()
    assert check(cas, "InstancesListServerCasResponse", doc=DOC) == []
    assert cas["activeVersion"] == cas["certs"][0]["sha1Fingerprint"]
    assert cas["certs"][0]["cert"].startswith("-----BEGIN CERTIFICATE-----")


def test_every_self_link_names_google_not_the_emulator(api):
    _, _, session, base = api
    assert session.get(f"{base}/instances/db-us").json()["selfLink"] == f"{GOOGLE}/p1/instances/db-us"
    op = session.patch(f"{base}/instances/db-us", json={"settings": {"deletionProtectionEnabled": True}}).json()
    assert op["selfLink"] == f"{GOOGLE}/p1/operations/{op['name']}"
    assert op["targetLink"] == f"{GOOGLE}/p1/instances/db-us"
    done = wait_done(session, base, op)
    assert done["selfLink"].startswith(GOOGLE) and done["targetLink"].startswith(GOOGLE)


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
        "settings": {"backupConfiguration": {"enabled": True, "startTime": "04:00", "location": "eu"},
                     "deletionProtectionEnabled": True}})
    assert resp.status_code == 200
    op = resp.json()
    assert check(op, "Operation", doc=DOC) == []
    assert op["status"] in ("PENDING", "RUNNING") and op["operationType"] == "UPDATE"
    # not applied before the operation finishes
    assert session.get(f"{base}/instances/db-us").json()["settings"]["deletionProtectionEnabled"] is False
    done = wait_done(session, base, op)
    assert "error" not in done and check(done, "Operation", doc=DOC) == []
    settings = session.get(f"{base}/instances/db-us").json()["settings"]
    assert settings["deletionProtectionEnabled"] is True
    assert settings["backupConfiguration"]["startTime"] == "04:00"
    # merge: what the PATCH did not name is kept
    assert settings["backupConfiguration"]["transactionLogRetentionDays"] == 7
    assert settings["ipConfiguration"]["privateNetwork"] == "projects/p1/global/networks/default"
    assert settings["settingsVersion"] == "2"


@pytest.mark.parametrize(("body", "needle"), [
    ({"settings": {"ipConfiguration": {"sslMode": "SOMETIMES"}}}, "SOMETIMES"),
    ({"settings": {"backupConfiguration": {"startTime": "04:30"}}}, "start_time"),
    ({"settings": {"ipConfiguration": {"ipv4Enabled": False, "privateNetwork": ""}}}, "public IP or private IP"),
    ({"settings": {"ipConfiguration": {"privateNetwork": "default"}}}, "projects/PROJECT/global/networks/NETWORK"),
    ({"settings": {"tier": "db-huge"}}, "Invalid Tier (db-huge)"),
    ({"settings": {"activationPolicy": "ON_DEMAND"}}, "ALWAYS or NEVER"),
])
def test_invalid_patches_are_refused_with_400(api, body, needle):
    _, _, session, base = api
    resp = session.patch(f"{base}/instances/db-us", json=body)
    assert resp.status_code == 400
    assert needle in resp.json()["error"]["message"]


def test_a_misspelt_nested_key_is_refused_before_anything_is_applied(api):
    _, _, session, base = api
    resp = session.patch(f"{base}/instances/db-us", json={
        "settings": {"backupConfiguration": {"pointInTimeRecoveryEnabld": True}, "deletionProtectionEnabled": True}})
    assert resp.status_code == 400
    assert 'Unknown name "pointInTimeRecoveryEnabld"' in resp.json()["error"]["message"]
    assert session.get(f"{base}/instances/db-us").json()["settings"]["deletionProtectionEnabled"] is False


def test_fields_cloud_sql_keeps_itself_are_ignored(api):
    """state and ipAddresses are not marked output only in the document, but no client sets them."""
    _, _, session, base = api
    done = patch_done(session, base, "db-us", {"state": "SUSPENDED", "ipAddresses": [{"ipAddress": "1.2.3.4"}],
                                               "settings": {"deletionProtectionEnabled": True}})
    assert "error" not in done
    instance = session.get(f"{base}/instances/db-us").json()
    assert instance["state"] == "RUNNABLE"
    assert instance["ipAddresses"] == [{"type": "PRIVATE", "ipAddress": "10.20.0.5"}]
    assert instance["settings"]["deletionProtectionEnabled"] is True


# -- requireSsl follows sslMode ---------------------------------------------------------------
@pytest.mark.parametrize(("mode", "require"), [
    ("ENCRYPTED_ONLY", False), ("ALLOW_UNENCRYPTED_AND_ENCRYPTED", False),
    ("TRUSTED_CLIENT_CERTIFICATE_REQUIRED", True),
])
def test_require_ssl_follows_ssl_mode(api, mode, require):
    _, _, session, base = api
    strict = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    patch_done(session, base, "db-us", {"settings": {"ipConfiguration": {"sslMode": strict}}})
    patch_done(session, base, "db-us", {"settings": {"ipConfiguration": {"sslMode": mode}}})
    ip = session.get(f"{base}/instances/db-us").json()["settings"]["ipConfiguration"]
    assert (ip["sslMode"], ip["requireSsl"]) == (mode, require)
    # sending the pair that goes together is accepted too
    pair = {"sslMode": mode, "requireSsl": require}
    done = patch_done(session, base, "db-us", {"settings": {"ipConfiguration": pair}})
    assert "error" not in done


@pytest.mark.parametrize(("mode", "require"), [
    ("ENCRYPTED_ONLY", True), ("ALLOW_UNENCRYPTED_AND_ENCRYPTED", True),
    ("TRUSTED_CLIENT_CERTIFICATE_REQUIRED", False),
])
def test_an_inconsistent_ssl_pair_is_refused(api, mode, require):
    _, _, session, base = api
    resp = session.patch(f"{base}/instances/db-us",
                         json={"settings": {"ipConfiguration": {"sslMode": mode, "requireSsl": require}}})
    assert resp.status_code == 400
    message = resp.json()["error"]["message"]
    assert message.startswith("Invalid request: ") and f"sslMode {mode} conflicts with requireSsl" in message


def test_the_legacy_require_ssl_alone_moves_ssl_mode(api):
    _, _, session, base = api
    patch_done(session, base, "db-us", {"settings": {"ipConfiguration": {"requireSsl": True}}})
    ip = session.get(f"{base}/instances/db-us").json()["settings"]["ipConfiguration"]
    assert (ip["sslMode"], ip["requireSsl"]) == ("TRUSTED_CLIENT_CERTIFICATE_REQUIRED", True)
    patch_done(session, base, "db-us", {"settings": {"ipConfiguration": {"requireSsl": False}}})
    ip = session.get(f"{base}/instances/db-us").json()["settings"]["ipConfiguration"]
    assert (ip["sslMode"], ip["requireSsl"]) == ("ALLOW_UNENCRYPTED_AND_ENCRYPTED", False)


# -- projects the caller cannot see ------------------------------------------------------------
def test_a_project_the_caller_cannot_see_is_403_not_authorized(api, emulator, sa_key_file):
    """Through google-auth, as a client would meet it: 403 notAuthorized, never 404."""
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_file(
        str(sa_key_file), scopes=["https://www.googleapis.com/auth/sqlservice.admin"])
    authed = AuthorizedSession(creds)
    other = f"{emulator.url}/v1/projects/nobody-knows"
    for resp in (authed.get(f"{other}/instances/db-us"), authed.get(f"{other}/instances/db-us/connectSettings"),
                 authed.post(f"{other}/instances", json={"name": "db-x", "region": "us-east4",
                                                          "databaseVersion": "POSTGRES_15",
                                                          "settings": {"tier": "db-custom-2-7680"}})):
        assert resp.status_code == 403, resp.text
        error = resp.json()["error"]
        assert error["message"] == "The client is not authorized to make this request."
        assert error["errors"][0]["reason"] == "notAuthorized" and error["status"] == "PERMISSION_DENIED"
    # a known project answers, and a missing instance there is a 404
    assert authed.get(f"{emulator.url}/v1/projects/p1/instances/db-us").status_code == 200
    missing = authed.get(f"{emulator.url}/v1/projects/p1/instances/nope")
    assert missing.status_code == 404 and missing.json()["error"]["errors"][0]["reason"] == "instanceDoesNotExist"


def test_a_denied_project_is_403_too(api):
    _, store, session, base = api
    store.deny("p1")
    denied = session.get(f"{base}/instances/db-us/connectSettings")
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "notAuthorized"


def test_an_empty_known_project_and_a_compute_project_are_visible(api, emulator):
    _, store, session, _ = api
    store.add_project("empty-p")
    emulator.add_project("compute-p", ["us-east4-a"])
    for project in ("empty-p", "compute-p"):
        resp = session.get(f"{emulator.url}/v1/projects/{project}/instances/nope")
        assert resp.status_code == 404


# -- creating a primary ------------------------------------------------------------------------
PRIMARY = {"name": "db-new", "region": "europe-west3", "databaseVersion": "POSTGRES_15",
           "settings": {"tier": "db-custom-2-7680",
                        "ipConfiguration": {"ipv4Enabled": False,
                                            "privateNetwork": "projects/p1/global/networks/prod"}}}


def test_insert_creates_a_primary_with_a_ca_of_its_own_and_no_dns_name(api):
    _, _, session, base = api
    resp = session.post(f"{base}/instances", json=PRIMARY)
    assert resp.status_code == 200, resp.text
    assert resp.json()["operationType"] == "CREATE"
    assert session.get(f"{base}/instances/db-new").json()["state"] == "PENDING_CREATE"
    done = wait_done(session, base, resp.json())
    assert "error" not in done
    instance = session.get(f"{base}/instances/db-new").json()
    assert check(instance, "DatabaseInstance", doc=DOC) == []
    assert instance["state"] == "RUNNABLE" and instance["instanceType"] == "CLOUD_SQL_INSTANCE"
    assert instance["region"] == "europe-west3" and instance["databaseVersion"] == "POSTGRES_15"
    assert instance["settings"]["tier"] == "db-custom-2-7680"
    assert instance["settings"]["activationPolicy"] == "ALWAYS"
    assert [a["type"] for a in instance["ipAddresses"]] == ["PRIVATE"]
    ip = instance["settings"]["ipConfiguration"]
    assert ip["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA"
    assert "dnsName" not in instance
    connect = session.get(f"{base}/instances/db-new/connectSettings").json()
    assert check(connect, "ConnectSettings", doc=DOC) == []
    assert connect["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA"
    assert "dnsName" not in connect and "dnsNames" not in connect
    cas = session.get(f"{base}/instances/db-new/listServerCas").json()["certs"]
    assert subject(cas[0]["cert"]) == "CN=Google Cloud SQL Server CA,O=Google\\, Inc,C=US"
    assert connect["serverCaCert"]["cert"] == cas[0]["cert"]
    # a second primary gets a CA of its own
    other = session.post(f"{base}/instances", json={**PRIMARY, "name": "db-new-2"}).json()
    wait_done(session, base, other)
    cas2 = session.get(f"{base}/instances/db-new-2/listServerCas").json()["certs"]
    assert cas2[0]["cert"] != cas[0]["cert"]


def test_insert_of_a_cas_primary_gives_it_a_dns_name(api):
    _, _, session, base = api
    body = json.loads(json.dumps(PRIMARY))
    body["settings"]["ipConfiguration"]["serverCaMode"] = "GOOGLE_MANAGED_CAS_CA"
    wait_done(session, base, session.post(f"{base}/instances", json=body).json())
    connect = session.get(f"{base}/instances/db-new/connectSettings").json()
    assert connect["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"
    assert connect["dnsName"].endswith(".europe-west3.sql.goog.")
    assert connect["dnsNames"][0]["name"] == connect["dnsName"]
    assert session.get(f"{base}/instances/db-new").json()["dnsName"] == connect["dnsName"]


def test_insert_without_a_private_network_gets_a_public_ip_as_cloud_sql_does(api):
    _, _, session, base = api
    body = {k: v for k, v in PRIMARY.items() if k != "settings"} | {"settings": {"tier": "db-custom-2-7680"}}
    wait_done(session, base, session.post(f"{base}/instances", json=body).json())
    instance = session.get(f"{base}/instances/db-new").json()
    assert instance["settings"]["ipConfiguration"]["ipv4Enabled"] is True
    assert [a["type"] for a in instance["ipAddresses"]] == ["PRIMARY"]


@pytest.mark.parametrize(("drop", "needle"), [
    ("region", "region is required"), ("databaseVersion", "databaseVersion is required"),
    ("tier", "settings.tier is required"), ("privateNetwork", "public IP or private IP"),
])
def test_insert_of_a_primary_refuses_what_cloud_sql_refuses(api, drop, needle):
    _, _, session, base = api
    body = json.loads(json.dumps(PRIMARY))
    if drop in body:
        del body[drop]
    elif drop == "tier":
        del body["settings"]["tier"]
    else:
        del body["settings"]["ipConfiguration"][drop]
    resp = session.post(f"{base}/instances", json=body)
    assert resp.status_code == 400
    assert needle in resp.json()["error"]["message"]
    assert session.get(f"{base}/instances/db-new").status_code == 404


def test_insert_refuses_a_bad_name_and_an_existing_one(api):
    _, _, session, base = api
    assert session.post(f"{base}/instances", json={**PRIMARY, "name": "Db_New"}).status_code == 400
    assert session.post(f"{base}/instances", json={**PRIMARY, "name": "db-us"}).status_code == 409


# -- replicas ----------------------------------------------------------------------------------
def test_insert_creates_a_cross_region_replica(api):
    _, _, session, base = api
    resp = session.post(f"{base}/instances", json={"name": "db-eu", "masterInstanceName": "db-us",
                                                   "region": "europe-west3"})
    assert resp.status_code == 200
    assert resp.json()["operationType"] == "CREATE_REPLICA"
    assert session.get(f"{base}/instances/db-eu").json()["state"] == "PENDING_CREATE"
    wait_done(session, base, resp.json())
    replica = session.get(f"{base}/instances/db-eu").json()
    assert check(replica, "DatabaseInstance", doc=DOC) == []
    assert replica["state"] == "RUNNABLE" and replica["region"] == "europe-west3"
    assert replica["masterInstanceName"] == "p1:db-us" and replica["instanceType"] == "READ_REPLICA_INSTANCE"
    assert "db-eu" in session.get(f"{base}/instances/db-us").json()["replicaNames"]
    # the API's default CA mode, a CA of its own
    assert replica["settings"]["ipConfiguration"]["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA"
    assert "dnsName" not in replica
    assert replica["serverCaCert"]["cert"] != session.get(f"{base}/instances/db-us").json()["serverCaCert"]["cert"]
    again = session.post(f"{base}/instances", json={"name": "db-eu", "masterInstanceName": "db-us"})
    assert again.status_code == 409


@pytest.mark.parametrize(("settings", "needle"), [
    ({"backupConfiguration": {"enabled": True}}, "Automated backups are not supported for read replica"),
    ({"backupConfiguration": {"pointInTimeRecoveryEnabled": True}}, "Point-in-time recovery is not supported"),
    ({"activationPolicy": "NEVER"}, "NEVER is not supported for read replica"),
])
def test_replicas_refuse_backups_pitr_and_being_stopped(api, settings, needle):
    _, store, session, base = api
    created = session.post(f"{base}/instances", json={"name": "db-eu", "masterInstanceName": "db-us",
                                                      "settings": settings})
    assert created.status_code == 400 and needle in created.json()["error"]["message"]
    assert created.json()["error"]["message"].startswith("Invalid request: ")
    store.add_instance("p1", "db-eu-2", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    patched = session.patch(f"{base}/instances/db-eu-2", json={"settings": settings})
    assert patched.status_code == 400 and needle in patched.json()["error"]["message"]
    backup = session.get(f"{base}/instances/db-eu-2").json()["settings"]["backupConfiguration"]
    assert backup["enabled"] is False and backup["pointInTimeRecoveryEnabled"] is False
    # disabling is fine
    done = patch_done(session, base, "db-eu-2", {"settings": {"backupConfiguration": {"enabled": False}}})
    assert "error" not in done


def test_promote_replica_detaches_it(api):
    _, store, session, base = api
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    op = session.post(f"{base}/instances/db-eu/promoteReplica").json()
    assert op["operationType"] == "PROMOTE_REPLICA"
    wait_done(session, base, op)
    promoted = session.get(f"{base}/instances/db-eu").json()
    assert "masterInstanceName" not in promoted and promoted["instanceType"] == "CLOUD_SQL_INSTANCE"
    assert "db-eu" not in session.get(f"{base}/instances/db-us").json().get("replicaNames", [])
    # a primary cannot be promoted
    assert session.post(f"{base}/instances/db-us/promoteReplica").status_code == 400
    # once promoted, backups are allowed
    done = patch_done(session, base, "db-eu", {"settings": {"backupConfiguration": {"enabled": True}}})
    assert "error" not in done


# -- CA modes ----------------------------------------------------------------------------------
def test_changing_the_ca_mode_changes_the_ca_and_the_dns_name(api):
    _, store, session, base = api
    store.add_instance("p1", "db-int", region="us-east4", private_ip="10.20.0.9")
    before = session.get(f"{base}/instances/db-int/connectSettings").json()
    assert before["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA" and "dnsName" not in before
    patch_done(session, base, "db-int", {"settings": {"ipConfiguration": {"serverCaMode": "GOOGLE_MANAGED_CAS_CA"}}})
    after = session.get(f"{base}/instances/db-int/connectSettings").json()
    assert after["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA" and after["dnsName"].endswith(".us-east4.sql.goog.")
    assert after["serverCaCert"]["cert"] != before["serverCaCert"]["cert"]


# -- the fence: activationPolicy ---------------------------------------------------------------
def test_activation_policy_never_stops_the_instance_and_is_recorded(api):
    _, store, session, base = api
    done = patch_done(session, base, "db-us", {"settings": {"activationPolicy": "NEVER"}})
    assert "error" not in done
    instance = session.get(f"{base}/instances/db-us").json()
    # the API keeps RUNNABLE ("running, or stopped by its owner"); the policy says it is off
    assert instance["settings"]["activationPolicy"] == "NEVER" and instance["state"] == "RUNNABLE"
    assert [(e["instance"], e["activationPolicy"]) for e in store.activation_log] == [("db-us", "NEVER")]
    # the same policy again changes nothing and records nothing
    patch_done(session, base, "db-us", {"settings": {"activationPolicy": "NEVER"}})
    assert len(store.activation_log) == 1
    patch_done(session, base, "db-us", {"settings": {"activationPolicy": "ALWAYS"}})
    assert [e["activationPolicy"] for e in store.activation_log] == ["NEVER", "ALWAYS"]
    assert session.get(f"{base}/instances/db-us").json()["settings"]["activationPolicy"] == "ALWAYS"


def test_a_failed_operation_reports_its_error_and_changes_nothing(api):
    _, store, session, base = api
    store.fail_next_operation("db-us", "Quota exceeded for backups.", "QUOTA_EXCEEDED")
    op = session.patch(f"{base}/instances/db-us", json={"settings": {"deletionProtectionEnabled": True}}).json()
    done = wait_done(session, base, op)
    assert done["error"]["errors"][0] == {"kind": "sql#operationError", "code": "QUOTA_EXCEEDED",
                                          "message": "Quota exceeded for backups."}
    assert session.get(f"{base}/instances/db-us").json()["settings"]["deletionProtectionEnabled"] is False


def test_errors_wrong_instance_and_unknown_operation(api):
    _, _, session, base = api
    missing = session.get(f"{base}/instances/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["errors"][0]["reason"] == "instanceDoesNotExist"
    assert session.get(f"{base}/operations/0000").status_code == 404


def test_calls_need_a_token(api, emulator):
    resp = requests.get(f"{emulator.url}/v1/projects/p1/instances/db-us", timeout=10)
    assert resp.status_code == 401


# -- lab mode ----------------------------------------------------------------------------------
def _write_lab(tmp_path, container_prefix="nz-nolab"):
    from emulator.services.sqladmin import INTERNAL_CA_SUBJECT, _test_ca

    (tmp_path / "instances.json").write_text("[]")
    (tmp_path / "pki").mkdir()
    ca = _test_ca("nearzero lab Cloud SQL server CA")
    own = _test_ca(**INTERNAL_CA_SUBJECT)
    (tmp_path / "pki" / "ca.pem").write_text(ca)
    (tmp_path / "pki" / "db-eu-1-ca.pem").write_text(own)
    instances = [
        {"name": "db-us-1", "host": "db-us-1", "container": f"{container_prefix}-db-us-1", "ip": "10.89.1.11",
         "region": "us-east4", "zone": "us-east4-a", "role": "primary", "primary_host": "db-us-1",
         "dnsName": "db-us-1.us-east4.sql.nearzero.internal", "port": 5432, "databaseVersion": "POSTGRES_15",
         "serverCaMode": "GOOGLE_MANAGED_CAS_CA", "ca_file": "pki/ca.pem", "service": "postgresql@15-main"},
        {"name": "db-eu-1", "host": "db-eu-1", "container": f"{container_prefix}-db-eu-1", "ip": "10.89.1.12",
         "region": "europe-west3", "zone": "europe-west3-a", "role": "replica", "primary_host": "db-us-1",
         "dnsName": "db-eu-1.europe-west3.sql.nearzero.internal", "port": 5432, "databaseVersion": "POSTGRES_15",
         "serverCaMode": "GOOGLE_MANAGED_INTERNAL_CA", "ca_file": "pki/db-eu-1-ca.pem",
         "service": "postgresql@15-main"},
    ]
    (tmp_path / "cloudsql.json").write_text(
        json.dumps({"project": "lab-p", "ca_file": "pki/ca.pem", "instances": instances}))
    return ca, own


def _lab_api(emulator, tmp_path, **lab):
    """The emulator in lab mode on a written lab; returns (lab CA, instance CA, session, project base URL)."""
    ca, own = _write_lab(tmp_path, **lab)
    emulator.load_lab(tmp_path)
    emulator.add_access_token("tok-lab")
    emulator.services["sqladmin"].operation_seconds = 0.1
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-lab"
    return ca, own, session, f"{emulator.url}/v1/projects/lab-p"


def test_lab_mode_serves_each_hosts_ca_mode(emulator, tmp_path):
    ca, own, session, base = _lab_api(emulator, tmp_path)
    primary = session.get(f"{base}/instances/db-us-1/connectSettings").json()
    assert primary["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"
    assert primary["dnsName"] == "db-us-1.us-east4.sql.nearzero.internal."
    assert primary["serverCaCert"]["cert"].strip() == ca.strip()
    replica_settings = session.get(f"{base}/instances/db-eu-1/connectSettings").json()
    assert replica_settings["ipAddresses"] == [{"type": "PRIVATE", "ipAddress": "10.89.1.12"}]
    assert replica_settings["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA"
    assert "dnsName" not in replica_settings
    assert replica_settings["serverCaCert"]["cert"].strip() == own.strip()
    replica = session.get(f"{base}/instances/db-eu-1").json()
    assert replica["masterInstanceName"] == "lab-p:db-us-1"
    assert replica["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert replica["settings"]["ipConfiguration"]["requireSsl"] is False
    assert "db-eu-1" in session.get(f"{base}/instances/db-us-1").json()["replicaNames"]


def test_lab_mode_a_changed_mode_in_the_lab_wins_over_a_kept_patch(emulator, tmp_path):
    _ca, _own, session, base = _lab_api(emulator, tmp_path)
    patch_done(session, base, "db-us-1", {"settings": {"deletionProtectionEnabled": True}})
    described = json.loads((tmp_path / "cloudsql.json").read_text())
    described["instances"][0].update(serverCaMode="GOOGLE_MANAGED_INTERNAL_CA", ca_file="pki/db-eu-1-ca.pem")
    (tmp_path / "cloudsql.json").write_text(json.dumps(described))
    time.sleep(0.01)
    instance = session.get(f"{base}/instances/db-us-1").json()
    assert instance["settings"]["deletionProtectionEnabled"] is True
    assert instance["settings"]["ipConfiguration"]["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA"
    assert "dnsName" not in instance


def test_lab_mode_refuses_a_ca_mode_the_lab_server_does_not_have(emulator, tmp_path):
    _ca, _own, session, base = _lab_api(emulator, tmp_path)
    op = session.patch(f"{base}/instances/db-eu-1",
                       json={"settings": {"ipConfiguration": {"serverCaMode": "GOOGLE_MANAGED_CAS_CA"}}}).json()
    done = wait_done(session, base, op)
    assert "cloudsql_lab_server_ca_mode: GOOGLE_MANAGED_CAS_CA" in done["error"]["errors"][0]["message"]
    mode = session.get(f"{base}/instances/db-eu-1/connectSettings").json()["serverCaMode"]
    assert mode == "GOOGLE_MANAGED_INTERNAL_CA"


def test_lab_fence_fails_its_operation_when_the_server_cannot_be_stopped(emulator, tmp_path):
    _ca, _own, session, base = _lab_api(emulator, tmp_path, container_prefix="nz-no-such-lab")
    op = session.patch(f"{base}/instances/db-us-1", json={"settings": {"activationPolicy": "NEVER"}}).json()
    done = wait_done(session, base, op, timeout=60)
    message = done["error"]["errors"][0]["message"]
    assert "stopping postgresql@15-main failed in nz-no-such-lab-db-us-1" in message
    # not applied, not recorded
    assert session.get(f"{base}/instances/db-us-1").json()["settings"]["activationPolicy"] == "ALWAYS"
    assert emulator.services["sqladmin"].activation_log == []


def test_lab_mode_an_instance_outside_the_lab_exists_in_the_api_only(emulator, tmp_path):
    _ca, _own, session, base = _lab_api(emulator, tmp_path, container_prefix="nz-no-such-lab")
    body = json.loads(json.dumps(PRIMARY))
    body["settings"]["ipConfiguration"]["privateNetwork"] = "projects/lab-p/global/networks/default"
    wait_done(session, base, session.post(f"{base}/instances", json=body).json())
    # no container behind it: the fence is the API's alone and succeeds
    done = patch_done(session, base, "db-new", {"settings": {"activationPolicy": "NEVER"}})
    assert "error" not in done
    assert emulator.services["sqladmin"].activation_log[-1]["lab_container"] is None


def test_lab_promotion_fails_its_operation_when_the_server_cannot_be_promoted(emulator, tmp_path):
    _ca, _own, session, base = _lab_api(emulator, tmp_path, container_prefix="nz-no-such-lab")
    op = session.post(f"{base}/instances/db-eu-1/promoteReplica").json()
    done = wait_done(session, base, op, timeout=60)
    assert "pg_promote() failed in nz-no-such-lab-db-eu-1" in done["error"]["errors"][0]["message"]
    # nothing changed: still a replica
    assert session.get(f"{base}/instances/db-eu-1").json()["masterInstanceName"] == "lab-p:db-us-1"


# -- lab mode on real PostgreSQL servers: the CA modes and the fence --------------------------
ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
LAB_TOPOLOGY = """\
project: nearzero-lab
networks: {internal: {}}
hosts:
  - {name: db-us-1, zone: us-east4-a, labels: {role: database, cloudsql: primary}}
  - {name: db-eu-1, zone: europe-west3-a, labels: {role: database, cloudsql: replica}}
"""


@pytest.fixture(scope="module")
def sql_lab(tmp_path_factory):
    """A primary and a replica set up by cloudsql_lab (default CA modes), and the emulator in lab mode."""
    lab = "h2-sqlfence"
    topology = tmp_path_factory.mktemp("topo") / "topology.yml"
    topology.write_text(LAB_TOPOLOGY)
    labctl, emulator_sh = str(ROOT / "dev" / "lab" / "labctl.py"), str(ROOT / "dev" / "tools" / "emulator.sh")
    state = ROOT / ".lab" / lab
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / "dev" / "lab" / "containers.conf"),
           "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(state / "facts")}
    subprocess.run([sys.executable, labctl, "up", "--lab", lab, "--topology", str(topology), "--replace",
                    "--auto-subnets"], check=True, env=env, capture_output=True)
    try:
        subprocess.run([emulator_sh, "start", lab], check=True, env=env, capture_output=True)
        play = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(state / "inventory.yml"),
                               str(ROOT / "dev" / "playbooks" / "lab_database.yml")], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=False)
        assert play.returncode == 0, play.stdout[-3000:] + play.stderr[-2000:]
        from google.auth.transport.requests import AuthorizedSession
        from google.oauth2 import service_account

        creds = service_account.Credentials.from_service_account_file(
            str(state / "service-account.json"), scopes=["https://www.googleapis.com/auth/sqlservice.admin"])
        described = {i["name"]: i for i in json.loads((state / "cloudsql.json").read_text())["instances"]}
        url = json.loads((state / "emulator.json").read_text())["url"]
        yield {"state": state, "described": described, "session": AuthorizedSession(creds),
               "base": f"{url}/v1/projects/nearzero-lab", "env": env}
    finally:
        subprocess.run([emulator_sh, "stop", lab], env=env, check=False, capture_output=True)
        subprocess.run([sys.executable, labctl, "down", "--lab", lab], env=env, check=False, capture_output=True)


def server_certificate(ip, cafile, hostname=None):
    """The certificate a PostgreSQL server presents, verified against ``cafile`` (and ``hostname`` if given)."""
    context = ssl.create_default_context(cafile=str(cafile))
    context.check_hostname = hostname is not None
    with socket.create_connection((ip, 5432), timeout=10) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest
        assert sock.recv(1) == b"S"
        with context.wrap_socket(sock, server_hostname=hostname) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def names(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        return None


@pytest.mark.lab
def test_lab_certificates_follow_each_instance_ca_mode(sql_lab):
    state, described, session, base = (sql_lab[k] for k in ("state", "described", "session", "base"))
    primary, replica = described["db-us-1"], described["db-eu-1"]
    assert (primary["serverCaMode"], replica["serverCaMode"]) == ("GOOGLE_MANAGED_CAS_CA", "GOOGLE_MANAGED_INTERNAL_CA")
    # CAS primary: the lab CA, the DNS name in the SAN, verify-full against the name works
    cert = server_certificate(primary["ip"], state / "pki" / "ca.pem", hostname=primary["dnsName"])
    assert names(cert) == [primary["dnsName"]]
    served = session.get(f"{base}/instances/db-us-1/connectSettings").json()
    assert served["dnsName"] == primary["dnsName"] + "."
    assert served["serverCaCert"]["cert"].strip() == (state / "pki" / "ca.pem").read_text().strip()
    # per-instance CA replica: its own CA, CN project:instance, no SAN: only verify-ca works
    own_ca = state / replica["ca_file"]
    cert = server_certificate(replica["ip"], own_ca)
    assert names(cert) is None
    assert cert.subject.rfc4514_string() == "CN=nearzero-lab:db-eu-1,O=Google\\, Inc,C=US"
    assert cert.issuer.rfc4514_string() == "CN=Google Cloud SQL Server CA,O=Google\\, Inc,C=US"
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        server_certificate(replica["ip"], own_ca, hostname=replica["dnsName"])
    with pytest.raises(ssl.SSLCertVerificationError):
        server_certificate(replica["ip"], state / "pki" / "ca.pem")
    served = session.get(f"{base}/instances/db-eu-1/connectSettings").json()
    assert served["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA" and "dnsName" not in served
    assert served["serverCaCert"]["cert"].strip() == own_ca.read_text().strip()
    # and the replica streams from its CAS primary (verify-full) all the same
    status = subprocess.run(["podman", "exec", "-u", "postgres", replica["container"], "psql", "-XAtc",
                             "select status from pg_stat_wal_receiver"], capture_output=True, text=True, check=True)
    assert status.stdout.strip() == "streaming"


def lab_unit_state(instance):
    return subprocess.run(["podman", "exec", instance["container"], "systemctl", "is-active", instance["service"]],
                          capture_output=True, text=True, check=False).stdout.strip()


def answers(instance):
    try:
        with socket.create_connection((instance["ip"], 5432), timeout=5):
            return True
    except OSError:
        return False


@pytest.mark.lab
def test_lab_fence_really_stops_and_starts_the_server(sql_lab):
    described, session, base = sql_lab["described"], sql_lab["session"], sql_lab["base"]
    primary, replica = described["db-us-1"], described["db-eu-1"]
    assert lab_unit_state(primary) == "active" and answers(primary)
    # a replica cannot be stopped
    refused = session.patch(f"{base}/instances/db-eu-1", json={"settings": {"activationPolicy": "NEVER"}})
    assert refused.status_code == 400 and lab_unit_state(replica) == "active"
    op = session.patch(f"{base}/instances/db-us-1", json={"settings": {"activationPolicy": "NEVER"}}).json()
    done = wait_done(session, base, op, timeout=90)
    assert "error" not in done, done
    # DONE means down: the unit is stopped and nothing listens
    assert lab_unit_state(primary) != "active" and not answers(primary)
    # and it stays down across a restart of the container: systemd's generator (re-run by daemon-reload, as at
    # boot) no longer wants the cluster started
    for argv in (["systemctl", "daemon-reload"], ["systemctl", "is-enabled", primary["service"]]):
        enabled = subprocess.run(["podman", "exec", primary["container"], *argv],
                                 capture_output=True, text=True, check=False).stdout.strip()
    assert not enabled.startswith("enabled")
    assert session.get(f"{base}/instances/db-us-1").json()["settings"]["activationPolicy"] == "NEVER"
    op = session.patch(f"{base}/instances/db-us-1", json={"settings": {"activationPolicy": "ALWAYS"}}).json()
    done = wait_done(session, base, op, timeout=90)
    assert "error" not in done, done
    assert lab_unit_state(primary) == "active" and answers(primary)
    enabled = subprocess.run(["podman", "exec", primary["container"], "sh", "-c",
                              f"systemctl daemon-reload && systemctl is-enabled {primary['service']}"],
                             capture_output=True, text=True, check=False).stdout.strip()
    assert enabled.startswith("enabled")
    write = subprocess.run(["podman", "exec", "-u", "postgres", primary["container"], "psql", "-XAtc",
                            "select pg_is_in_recovery()"], capture_output=True, text=True, check=True)
    assert write.stdout.strip() == "f"


@pytest.mark.lab
def test_lab_a_change_of_ca_mode_reissues_the_certificate_and_replication_follows(sql_lab):
    """The primary moves to the per-instance CA: new certificate, served by the API, and the replica re-verifies."""
    state, session, base, env = (sql_lab[k] for k in ("state", "session", "base", "env"))
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(state / "inventory.yml"), "-e",
                          "cloudsql_lab_server_ca_mode=GOOGLE_MANAGED_INTERNAL_CA",
                          str(ROOT / "dev" / "playbooks" / "lab_database.yml")], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    described = {i["name"]: i for i in json.loads((state / "cloudsql.json").read_text())["instances"]}
    primary, replica = described["db-us-1"], described["db-eu-1"]
    assert primary["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA" and primary["ca_file"] == "pki/db-us-1-ca.pem"
    cert = server_certificate(primary["ip"], state / primary["ca_file"])
    assert names(cert) is None and cert.subject.rfc4514_string() == "CN=nearzero-lab:db-us-1,O=Google\\, Inc,C=US"
    served = session.get(f"{base}/instances/db-us-1/connectSettings").json()
    assert served["serverCaMode"] == "GOOGLE_MANAGED_INTERNAL_CA" and "dnsName" not in served
    assert served["serverCaCert"]["cert"].strip() == (state / primary["ca_file"]).read_text().strip()
    # the replica now verifies its primary with verify-ca against the primary's own CA, and streams again
    conninfo = subprocess.run(["podman", "exec", "-u", "postgres", replica["container"], "psql", "-XAtc",
                               "show primary_conninfo"], capture_output=True, text=True, check=True).stdout
    assert "sslmode=verify-ca" in conninfo and "upstream-ca.crt" in conninfo
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline and status != "streaming":
        status = subprocess.run(["podman", "exec", "-u", "postgres", replica["container"], "psql", "-XAtc",
                                 "select status from pg_stat_wal_receiver"], capture_output=True, text=True,
                                check=False).stdout.strip()
        time.sleep(1)
    assert status == "streaming"
