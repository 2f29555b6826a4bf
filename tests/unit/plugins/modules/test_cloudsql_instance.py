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
    _, args = sql
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
    _, args = sql
    emulator.reset()
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", private_network=None,
                                                          backups={"start_time": "04:00"}))
    assert failed and "private_network" in result["msg"]
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **dict(POLICY, backups={
        "start_time": "4:30"})))
    assert failed and "HH:00" in result["msg"]
    assert emulator.stats()["requests"].get("sqladmin.instances.get", 0) == 0
