"""cloudsql_instance_info against the emulator: connection facts, CA bundle, public IP, errors."""

from emulator.services.sqladmin import _test_ca


def test_connection_facts_and_whole_ca_bundle(run_module, sql):
    store, args = sql
    pems = [_test_ca("current"), _test_ca("next")]
    store.add_instance("p1", "db-rot", private_ip="10.20.0.9", dns_name="db-rot.x.sql.goog", ca_pems=pems)
    failed, result = run_module("cloudsql_instance_info", dict(args, name="db-rot", connect_settings=True,
                                                               server_cas=True))
    assert not failed and result["exists"] and not result["changed"]
    assert result["private_ip"] == "10.20.0.9" and result["public_ips"] == []
    assert result["dns_name"] == "db-rot.x.sql.goog"
    assert result["server_ca_mode"] == "GOOGLE_MANAGED_CAS_CA"
    assert result["ca_bundle"] == "".join(p.strip() + "\n" for p in pems)
    assert not result["is_replica"]


def test_public_ip_is_reported(run_module, sql):
    store, args = sql
    store.add_instance("p1", "db-pub", public_ip="34.1.2.3")
    failed, result = run_module("cloudsql_instance_info", dict(args, name="db-pub", connect_settings=True))
    assert not failed and result["public_ips"] == ["34.1.2.3"]


def test_missing_instance(run_module, sql):
    _store, args = sql
    failed, result = run_module("cloudsql_instance_info", dict(args, name="nope"))
    assert not failed and result["exists"] is False
    failed, result = run_module("cloudsql_instance_info", dict(args, name="nope", connect_settings=True))
    assert failed and "'nope' does not exist in project 'p1'" in result["msg"]


def test_login_token_for_iam_database_authentication(run_module, sql, emulator):
    _store, args = sql
    failed, result = run_module("cloudsql_instance_info", dict(args, name="db-us", login_token=True))
    assert not failed
    assert result["login_user"] == "sa@proj.iam"
    assert result["login_token"] and emulator.auth.check_bearer(f"Bearer {result['login_token']}", ())


def test_credential_and_endpoint_from_the_environment(run_module, sql, monkeypatch):
    # the shared spec's env fallbacks (GCP_AUTH_KIND, GCP_SERVICE_ACCOUNT_FILE) and the module's own
    _store, args = sql
    monkeypatch.setenv("GCP_AUTH_KIND", args.pop("auth_kind"))
    monkeypatch.setenv("GCP_SERVICE_ACCOUNT_FILE", args.pop("service_account_file"))
    monkeypatch.setenv("GCP_SQLADMIN_ENDPOINT", args.pop("api_endpoint"))
    failed, result = run_module("cloudsql_instance_info", dict(args, name="db-us"))
    assert not failed, result
    assert result["exists"] and result["private_ip"] == "10.20.0.5"
    monkeypatch.setenv("GCP_AUTH_KIND", "serviceacount")
    failed, result = run_module("cloudsql_instance_info", dict(args, name="db-us"))
    assert failed and "auth_kind must be one of: application, serviceaccount" in result["msg"]
