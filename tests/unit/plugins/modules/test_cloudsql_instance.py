"""cloudsql_instance against the emulator: policy by merge PATCH, check/diff, replicas, promotion, errors."""

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


def test_cloudsql_play_sets_the_credential_once_for_the_group(sql, emulator, tmp_path):
    """playbooks/cloudsql.yml: group/nearzero.gcp.gcp carries nearzero_gcp_auth to every module call."""
    import json
    import re
    import subprocess

    from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env

    store, args = sql
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "nearzero_db_project": "p1", "nearzero_db_primary_instance": "db-us", "nearzero_db_replica_instance": "db-eu",
        "nearzero_db_private_network": "projects/p1/global/networks/trading",
        "nearzero_sqladmin_endpoint": args["api_endpoint"],
        "nearzero_gcp_auth": {k: args[k] for k in ("auth_kind", "service_account_file", "retries", "retry_backoff")},
        "ansible_python_interpreter": str(BIN / "python")}))

    def play(*flags):
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-e", f"@{extra}", *flags,
                               str(ROOT / "playbooks" / "cloudsql.yml")],
                              cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        return int(re.search(r"localhost\s*: ok=\d+\s+changed=(\d+)", proc.stdout).group(1))

    assert play("--check", "--diff") == 2  # the primary's policy and the replica would change
    mutations = [r for r in emulator.requests if r.method in ("PATCH", "POST") and r.path.startswith("/v1/projects/")]
    assert ("p1", "db-eu") not in store.instances and mutations == []
    assert play() == 2
    replica = store.instances[("p1", "db-eu")]
    assert replica["masterInstanceName"] == "p1:db-us" and replica["region"] == "europe-west3"
    assert store.instances[("p1", "db-us")]["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert play() == 0
