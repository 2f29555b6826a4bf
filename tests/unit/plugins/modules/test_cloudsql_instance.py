"""cloudsql_instance against the emulator: policy by merge PATCH, check/diff, replicas, promotion, errors."""

import json

import pytest

POLICY = {
    "private_network": "projects/p1/global/networks/trading",
    "backups": {"start_time": "04:00", "location": "us", "retained_backups": 30,
                "transaction_log_retention_days": 5},
    "wait_timeout": 10,
}


def test_check_mode_reports_the_diff_and_changes_nothing(run_module, sql):
    store, args = sql
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY), check=True, diff=True)
    assert not failed and result["changed"]
    paths = {c["path"] for c in result["changes"]}
    assert "settings.ipConfiguration.sslMode" in paths
    assert "settings.backupConfiguration.pointInTimeRecoveryEnabled" in paths
    assert result["diff"]["after"]["settings"]["ipConfiguration"]["privateNetwork"].endswith("/trading")
    assert result["diff"]["before"]["settings"]["ipConfiguration"]["sslMode"] == "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
    assert result["operations"] == []
    assert store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["sslMode"] == \
        "ALLOW_UNENCRYPTED_AND_ENCRYPTED"


def test_apply_then_second_run_changes_nothing(run_module, sql):
    store, args = sql
    store.instances[("p1", "db-us")]["settings"]["userLabels"] = {"team": "db"}
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert not failed and result["changed"] and len(result["operations"]) == 1
    settings = store.instances[("p1", "db-us")]["settings"]
    assert settings["ipConfiguration"] == {
        "ipv4Enabled": False, "privateNetwork": "projects/p1/global/networks/trading", "sslMode": "ENCRYPTED_ONLY",
        "requireSsl": False, "serverCaMode": "GOOGLE_MANAGED_CAS_CA"}
    backup = settings["backupConfiguration"]
    assert (backup["enabled"], backup["startTime"], backup["location"], backup["pointInTimeRecoveryEnabled"],
            backup["transactionLogRetentionDays"], backup["backupRetentionSettings"]["retainedBackups"]) == \
        (True, "04:00", "us", True, 5, 30)
    assert settings["deletionProtectionEnabled"] is True
    assert settings["userLabels"] == {"team": "db"}  # merge: unmanaged settings untouched
    failed, again = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert not failed and not again["changed"] and again["changes"] == [] and again["operations"] == []


def test_creates_a_cross_region_replica_without_backups(run_module, sql):
    store, args = sql
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", master_instance="db-us",
                                                          region="europe-west3", **POLICY))
    assert not failed and result["created"] and result["changed"]
    replica = store.instances[("p1", "db-eu")]
    assert replica["region"] == "europe-west3" and replica["masterInstanceName"] == "p1:db-us"
    assert replica["state"] == "RUNNABLE"
    assert replica["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert replica["settings"]["backupConfiguration"]["enabled"] is False
    failed, again = run_module("cloudsql_instance", dict(args, name="db-eu", master_instance="db-us",
                                                         region="europe-west3", **POLICY))
    assert not failed and not again["changed"]


def test_promote_is_applied_once(run_module, sql):
    store, args = sql
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", promote=True, apply_policy=False,
                                                          private_network="projects/p1/global/networks/default"))
    assert not failed and result["promoted"] and "masterInstanceName" not in result["instance"]
    failed, again = run_module("cloudsql_instance", dict(args, name="db-eu", promote=True, apply_policy=False,
                                                         private_network="projects/p1/global/networks/default"))
    assert not failed and not again["changed"]


def test_wrong_instance_name(run_module, sql):
    _store, args = sql
    failed, result = run_module("cloudsql_instance", dict(args, name="db-usa", **POLICY))
    assert failed and "'db-usa' does not exist in project 'p1'" in result["msg"]
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", master_instance="nope", **POLICY))
    assert failed and "primary 'nope' does not exist" in result["msg"]
    # a check run, where an earlier task would create the primary, reports the replica as to be created
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", master_instance="nope", **POLICY),
                                check=True)
    assert not failed and result["changed"] and "read replica of nope (which does not exist yet)" in \
        result["changes"][0]["after"]


def test_permission_denied_names_the_permission(run_module, sql):
    store, args = sql
    store.deny("p1")
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert failed and result["kind"] == "permission_denied"
    assert "cloudsql.instances.get" in result["msg"] and "p1" in result["msg"]


def test_failed_operation_is_reported(run_module, sql):
    store, args = sql
    store.fail_next_operation("db-us", "Backup location us is not allowed by the organization policy.",
                              "ORG_POLICY_VIOLATION")
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert failed and result["kind"] == "operation"
    assert "ORG_POLICY_VIOLATION" in result["msg"] and "db-us" in result["msg"]


def test_operation_timeout_names_the_operation(run_module, sql):
    store, args = sql
    store.stall_operations = True
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **dict(POLICY, wait_timeout=1.5)))
    assert failed and result["kind"] == "timeout"
    assert "did not finish within 1.5 s" in result["msg"] and "gcloud sql operations describe" in result["msg"]


def test_bad_options_fail_before_any_call(run_module, sql, emulator):
    _store, args = sql
    emulator.reset()
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", private_network=None,
                                                          backups={"start_time": "04:00"}))
    assert failed and "private_network" in result["msg"]
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **dict(POLICY, backups={
        "start_time": "4:30"})))
    assert failed and "HH:00" in result["msg"]
    assert emulator.stats()["requests"].get("sqladmin.instances.get", 0) == 0


@pytest.fixture
def play(sql, tmp_path):
    """``play(*flags, check_rc=True, **extra_vars) -> (rc, changed, output)``: cloudsql.yml on the emulator."""
    import json
    import re
    import subprocess

    from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env

    _store, args = sql
    base = {
        "nearzero_db_project": "p1", "nearzero_db_primary_instance": "db-us", "nearzero_db_replica_instance": "db-eu",
        "nearzero_db_private_network": "projects/p1/global/networks/trading",
        "nearzero_sqladmin_endpoint": args["api_endpoint"],
        "nearzero_gcp_auth": {k: args[k] for k in ("auth_kind", "service_account_file", "retries", "retry_backoff")},
        "ansible_python_interpreter": str(BIN / "python")}

    def run(*flags, check_rc=True, **extra):
        path = tmp_path / "vars.json"
        path.write_text(json.dumps({**base, **extra}))
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-e", f"@{path}", *flags,
                               str(ROOT / "playbooks" / "cloudsql.yml")],
                              cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=300, check=False)
        output = proc.stdout + proc.stderr
        if check_rc:
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        found = re.search(r"localhost\s*: ok=\d+\s+changed=(\d+)", proc.stdout)
        return proc.returncode, int(found.group(1)) if found else None, output

    return run


def mutations(emulator):
    return [r for r in emulator.requests if r.method in ("PATCH", "POST") and r.path.startswith("/v1/projects/")]


def test_cloudsql_play_sets_the_credential_once_for_the_group(sql, emulator, play):
    """playbooks/cloudsql.yml: group/nearzero.gcp.gcp carries nearzero_gcp_auth to every module call."""
    store, _args = sql
    assert play("--check", "--diff")[1] == 2  # the primary's policy and the replica would change
    assert ("p1", "db-eu") not in store.instances and mutations(emulator) == []
    assert play()[1] == 2
    replica = store.instances[("p1", "db-eu")]
    assert replica["masterInstanceName"] == "p1:db-us" and replica["region"] == "europe-west3"
    primary = store.instances[("p1", "db-us")]["settings"]
    assert primary["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert primary["backupConfiguration"]["location"] == "eu"  # Europe by default
    assert primary["ipConfiguration"]["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"  # unset: left alone
    assert play()[1] == 0


@pytest.mark.parametrize("location", ["us", "us-east4", "asia-northeast1", "europe"])
def test_backups_outside_europe_are_refused_before_any_call(sql, emulator, play, location):
    _store, _args = sql
    rc, _changed, output = play(check_rc=False, nearzero_db_backup_location=location)
    assert rc != 0 and f"nearzero_db_backup_location is '{location}', which is not in Europe" in output
    assert "backups stored in Europe" in output and "nearzero_db_backup_location_outside_europe_ok: true" in output
    assert not [r for r in emulator.requests if r.path.startswith("/v1/")]


def test_backups_outside_europe_when_the_operator_allows_them(sql, play):
    store, _args = sql
    play(nearzero_db_backup_location="us", nearzero_db_backup_location_outside_europe_ok=True)
    assert store.instances[("p1", "db-us")]["settings"]["backupConfiguration"]["location"] == "us"


def test_server_ca_mode_and_european_region_pass_through(sql, play):
    store, _args = sql
    play(nearzero_db_backup_location="europe-west3", nearzero_db_server_ca_mode="GOOGLE_MANAGED_INTERNAL_CA")
    for name in ("db-us", "db-eu"):
        assert store.instances[("p1", name)]["settings"]["ipConfiguration"]["serverCaMode"] == \
            "GOOGLE_MANAGED_INTERNAL_CA"
    assert store.instances[("p1", "db-us")]["settings"]["backupConfiguration"]["location"] == "europe-west3"


def test_replica_failure_says_the_primary_was_already_fixed(sql, emulator, play):
    store, _args = sql
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    emulator.faults.add(path_regex=r"^/v1/projects/p1/instances/db-eu$", method="PATCH", status=503, times=None)
    rc, _changed, output = play(check_rc=False)
    assert rc != 0
    assert "The replica db-eu failed" in output and "Gave up after 2 attempt(s)" in output
    assert "The primary db-us was already fixed (settings." in output
    assert store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert store.instances[("p1", "db-eu")]["settings"]["ipConfiguration"]["sslMode"] == \
        "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
    emulator.faults.clear()
    assert play()[1] == 1  # only the replica is left to fix


PRIMARY = {"region": "europe-west3", "tier": "db-custom-2-8192", "database_version": "POSTGRES_16"}


def test_creates_a_private_primary_with_the_policy(run_module, sql, emulator):
    store, args = sql
    policy = dict(POLICY, backups=dict(POLICY["backups"], location="eu"))
    failed, result = run_module("cloudsql_instance", dict(args, name="db-new", **PRIMARY, **policy), check=True,
                                diff=True)
    assert not failed and result["changed"] and ("p1", "db-new") not in store.instances
    assert result["changes"] == [{"path": "instance", "before": None,
                                  "after": "primary POSTGRES_16 (db-custom-2-8192) in europe-west3"}]
    assert result["diff"]["after"]["settings"]["ipConfiguration"]["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"
    failed, result = run_module("cloudsql_instance", dict(args, name="db-new", **PRIMARY, **policy))
    assert not failed, result["msg"]
    assert result["created"] and result["changed"] and [c["path"] for c in result["applied"]] == ["instance"]
    inserts = [r for r in emulator.requests if r.method == "POST" and r.path == "/v1/projects/p1/instances"]
    assert len(inserts) == 1 and "masterInstanceName" not in inserts[0].json()
    created = store.instances[("p1", "db-new")]
    assert created["state"] == "RUNNABLE" and "masterInstanceName" not in created
    assert (created["region"], created["databaseVersion"], created["settings"]["tier"]) == \
        ("europe-west3", "POSTGRES_16", "db-custom-2-8192")
    assert [a["type"] for a in created["ipAddresses"]] == ["PRIVATE"]
    ip = created["settings"]["ipConfiguration"]
    assert (ip["ipv4Enabled"], ip["sslMode"], ip["requireSsl"], ip["serverCaMode"]) == \
        (False, "ENCRYPTED_ONLY", False, "GOOGLE_MANAGED_CAS_CA")
    backup = created["settings"]["backupConfiguration"]
    assert (backup["enabled"], backup["location"], backup["pointInTimeRecoveryEnabled"]) == (True, "eu", True)
    assert created["settings"]["deletionProtectionEnabled"] is True
    failed, again = run_module("cloudsql_instance", dict(args, name="db-new", **PRIMARY, **policy))
    assert not failed and not again["changed"] and again["changes"] == []


def test_edition_is_set_at_creation_the_replica_takes_it_and_it_is_never_changed(run_module, sql, emulator):
    store, args = sql
    policy = dict(POLICY, backups=dict(POLICY["backups"], location="eu"))
    plus = dict(PRIMARY, tier="db-perf-optimized-N-4", edition="ENTERPRISE_PLUS")
    failed, result = run_module("cloudsql_instance", dict(args, name="db-plus", **plus, **policy))
    assert not failed, result["msg"]
    assert store.instances[("p1", "db-plus")]["settings"]["edition"] == "ENTERPRISE_PLUS"
    failed, result = run_module("cloudsql_instance", dict(args, name="db-plus-eu", master_instance="db-plus",
                                                          region="europe-west4", **POLICY))
    assert not failed, result["msg"]
    assert store.instances[("p1", "db-plus-eu")]["settings"]["edition"] == "ENTERPRISE_PLUS"
    # an existing instance keeps its edition: a warning says what it would take, nothing is sent (run as Ansible
    # runs it: in-process runs share ansible's global warning list, so the warning is read from ansible's output)
    import subprocess

    from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env

    before = len(emulator.requests)
    module_args = dict(args, name="db-plus", **dict(plus, edition="ENTERPRISE"), **policy)
    proc = subprocess.run([str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={BIN / 'python'}",
                           "-m", "nearzero.gcp.cloudsql_instance", "-a", json.dumps(module_args)],
                          cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=300, check=False)
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 0 and '"changed": false' in output, output[-2000:]
    assert "'db-plus' is ENTERPRISE_PLUS, not ENTERPRISE" in output and "--edition" in output, output[-2000:]
    assert not [r for r in emulator.requests[before:] if r.method in ("PATCH", "POST") and r.path != "/token"]
    assert store.instances[("p1", "db-plus")]["settings"]["edition"] == "ENTERPRISE_PLUS"


def test_missing_primary_without_creation_options_names_them(run_module, sql, emulator):
    _store, args = sql
    failed, result = run_module("cloudsql_instance", dict(args, name="db-new", region="europe-west3", **POLICY))
    assert failed and "'db-new' does not exist in project 'p1'" in result["msg"]
    assert "set tier, database_version" in result["msg"] and "master_instance" in result["msg"]
    assert not [r for r in emulator.requests if r.method == "POST" and r.path.startswith("/v1/")]


def test_server_ca_mode_is_changed_only_when_asked(run_module, sql):
    store, args = sql
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert not failed and store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["serverCaMode"] == \
        "GOOGLE_MANAGED_CAS_CA"  # omitted: left alone
    internal = dict(args, name="db-us", server_ca_mode="GOOGLE_MANAGED_INTERNAL_CA", **POLICY)
    failed, result = run_module("cloudsql_instance", internal)
    assert not failed and [c["path"] for c in result["applied"]] == ["settings.ipConfiguration.serverCaMode"]
    assert store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["serverCaMode"] == \
        "GOOGLE_MANAGED_INTERNAL_CA"
    failed, again = run_module("cloudsql_instance", internal)
    assert not failed and not again["changed"]


def test_replica_takes_its_primarys_ca_mode(run_module, sql):
    store, args = sql
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", master_instance="db-us",
                                                          region="europe-west3", **POLICY))
    assert not failed and result["created"]
    assert store.instances[("p1", "db-eu")]["settings"]["ipConfiguration"]["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"


def test_stale_require_ssl_is_cleared(run_module, sql, emulator):
    """An instance left with the legacy requireSsl true beside ENCRYPTED_ONLY is drift, and is fixed."""
    store, args = sql
    run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    ip = store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]
    ip["requireSsl"] = True
    emulator.clear_requests()
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert not failed and result["changes"] == [{"path": "settings.ipConfiguration.requireSsl", "before": True,
                                                 "after": False}]
    patches = [r.json() for r in emulator.requests if r.method == "PATCH"]
    assert patches[0]["settings"]["ipConfiguration"]["requireSsl"] is False
    assert store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["requireSsl"] is False


def test_trusted_client_certificates_set_require_ssl(run_module, sql):
    store, args = sql
    failed, _result = run_module("cloudsql_instance", dict(args, name="db-us",
                                                           ssl_mode="TRUSTED_CLIENT_CERTIFICATE_REQUIRED", **POLICY))
    assert not failed
    ip = store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]
    assert (ip["sslMode"], ip["requireSsl"]) == ("TRUSTED_CLIENT_CERTIFICATE_REQUIRED", True)


def test_activation_policy_fences_without_touching_the_policy(run_module, sql, emulator):
    store, args = sql
    fence = dict(args, name="db-us", activation_policy="NEVER", apply_policy=False,
                 private_network="projects/p1/global/networks/trading")
    failed, result = run_module("cloudsql_instance", fence, check=True)
    assert not failed and result["changed"] and store.activation_log == []
    failed, result = run_module("cloudsql_instance", fence)
    assert not failed and [c["path"] for c in result["applied"]] == ["settings.activationPolicy"]
    assert [r.json() for r in emulator.requests if r.method == "PATCH"] == [{"settings": {"activationPolicy": "NEVER"}}]
    assert store.instances[("p1", "db-us")]["settings"]["activationPolicy"] == "NEVER"
    assert [e["activationPolicy"] for e in store.activation_log] == ["NEVER"]
    assert store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["sslMode"] == \
        "ALLOW_UNENCRYPTED_AND_ENCRYPTED"  # apply_policy false: the rest left alone
    failed, again = run_module("cloudsql_instance", fence)
    assert not failed and not again["changed"]
    failed, result = run_module("cloudsql_instance", dict(fence, activation_policy="ALWAYS"))
    assert not failed and store.instances[("p1", "db-us")]["settings"]["activationPolicy"] == "ALWAYS"


def test_operations_are_polled_at_the_configured_endpoint(run_module, sql, emulator):
    """Operations' selfLinks name sqladmin.googleapis.com, as Google's do; every poll still goes to api_endpoint."""
    _store, args = sql
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert not failed and len(result["operations"]) == 1
    polls = [r for r in emulator.requests if r.method == "GET" and "/operations/" in r.path]
    assert polls and {r.path for r in polls} == {f"/v1/projects/p1/operations/{result['operations'][0]}"}
    assert result["instance"]["selfLink"].startswith("https://sqladmin.googleapis.com/v1/")


def test_fence_and_promote_need_no_network_option(run_module, sql):
    """apply_policy false touches no address, so private_network is not needed (a failover's critical path)."""
    store, args = sql
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", promote=True, apply_policy=False))
    assert not failed and result["promoted"]
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", activation_policy="NEVER",
                                                          apply_policy=False))
    assert not failed and store.instances[("p1", "db-us")]["settings"]["activationPolicy"] == "NEVER"
    failed, result = run_module("cloudsql_instance", dict(args, name="db-new", apply_policy=False, **PRIMARY))
    assert failed and "cannot be created" in result["msg"] and "private_network" in result["msg"]
    assert ("p1", "db-new") not in store.instances


def test_cloudsql_play_creates_both_instances(sql, emulator, play):
    """An empty project: --check reports both creations and sends nothing; the run creates them, primary first."""
    store, _args = sql
    new = {"nearzero_db_primary_instance": "orders-us", "nearzero_db_replica_instance": "orders-eu",
           "nearzero_db_primary_region": "us-east4", "nearzero_db_tier": "db-custom-2-8192",
           "nearzero_db_database_version": "POSTGRES_16"}
    assert play("--check", **new)[1] == 2
    assert mutations(emulator) == []
    assert play(**new)[1] == 2
    primary, replica = store.instances[("p1", "orders-us")], store.instances[("p1", "orders-eu")]
    assert primary["settings"]["ipConfiguration"]["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"
    assert primary["settings"]["backupConfiguration"]["location"] == "eu"
    assert replica["masterInstanceName"] == "p1:orders-us" and replica["region"] == "europe-west3"
    assert replica["settings"]["ipConfiguration"]["serverCaMode"] == "GOOGLE_MANAGED_CAS_CA"
    assert play(**new)[1] == 0
