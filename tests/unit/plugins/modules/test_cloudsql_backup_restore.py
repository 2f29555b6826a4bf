"""cloudsql_backup_restore against the emulator: a restore over an existing instance, consent, check mode, refusals."""

import datetime as dt

import pytest

BACKUPS = {"backupConfiguration": {"enabled": True, "location": "eu"}}


@pytest.fixture
def runs(sql, emulator):
    """db-src (backups in Europe): an older EU run, a newer US one, a newer failed one; db-scratch to restore into."""
    store, args = sql
    store.add_instance("p1", "db-src", region="us-east4", private_ip="10.20.0.8", settings=BACKUPS)
    store.add_instance("p1", "db-scratch", region="europe-west3", private_ip="10.20.0.9")
    backups = emulator.services["sqladmin_backups"]
    now = dt.datetime.now(dt.UTC)
    eu = backups.add_run("p1", "db-src", start=now - dt.timedelta(hours=3))
    us = backups.add_run("p1", "db-src", start=now - dt.timedelta(hours=2), location="us", run_type="ON_DEMAND")
    failed = backups.add_run("p1", "db-src", start=now - dt.timedelta(hours=1), status="FAILED")
    return store, dict(args, name="db-scratch", source="db-src"), {"eu": eu, "us": us, "failed": failed}


def restores(emulator):
    return [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/restoreBackup")]


def test_restores_the_newest_european_run_into_the_target(run_module, runs, emulator):
    _store, args, made = runs
    emulator.clear_requests()
    failed, result = run_module("cloudsql_backup_restore", args)
    assert not failed, result
    assert result["changed"] and result["operation"] and result["overwritten"] == "db-scratch"
    assert result["backup_run"]["id"] == made["eu"]["id"] and result["backup_run"]["location"] == "eu"
    assert result["instance"]["name"] == "db-scratch" and result["duration"] > 0
    assert "Overwrote all data of 'db-scratch' with backup run" in result["msg"]
    [sent] = restores(emulator)
    assert sent.json() == {
        "restoreBackupContext": {"backupRunId": made["eu"]["id"], "instanceId": "db-src", "project": "p1"}
    }


def test_a_named_run_is_restored_whatever_its_location(run_module, runs, emulator):
    _store, args, made = runs
    emulator.clear_requests()
    failed, result = run_module("cloudsql_backup_restore", dict(args, backup_run_id=made["us"]["id"]))
    assert not failed, result
    assert result["backup_run"]["id"] == made["us"]["id"]
    assert [r.json()["restoreBackupContext"]["backupRunId"] for r in restores(emulator)] == [made["us"]["id"]]


def test_check_mode_says_what_would_be_overwritten_and_requests_nothing(run_module, runs, emulator):
    _store, args, made = runs
    emulator.clear_requests()
    failed, result = run_module("cloudsql_backup_restore", args, check=True)
    assert not failed and result["changed"] and result["operation"] == "" and result["overwritten"] == ""
    assert result["msg"].startswith(f"Would overwrite all data of 'db-scratch' with backup run {made['eu']['id']}")
    assert [r.method for r in emulator.requests if "/instances/" in r.path] == ["GET", "GET", "GET"]


def test_overwriting_the_source_itself_needs_its_name_as_consent(run_module, runs, emulator):
    _store, args, made = runs
    own = dict(args, name="db-src", source=None)
    emulator.clear_requests()
    failed, result = run_module("cloudsql_backup_restore", own)
    assert failed and "confirm_overwrite: db-src" in result["msg"] and not result["changed"]
    failed, result = run_module("cloudsql_backup_restore", dict(own, confirm_overwrite="db-scratch"))
    assert failed and "confirm_overwrite is 'db-scratch', not the instance restored into" in result["msg"]
    assert emulator.requests == []
    failed, result = run_module("cloudsql_backup_restore", dict(own, confirm_overwrite="db-src"))
    assert not failed and result["overwritten"] == "db-src" and result["backup_run"]["id"] == made["eu"]["id"]
    assert len(restores(emulator)) == 1


@pytest.mark.parametrize(
    ("extra", "needs"),
    [
        ({"backup_run_id": "42"}, "'db-src' has no backup run 42"),
        ({"backup_run_id": "failed"}, "is FAILED, and only a SUCCESSFUL run can be restored"),
        ({"name": "db-eu"}, "'db-eu' is a read replica"),
        ({"name": "db-us"}, "'db-us' has read replicas (db-eu)"),
        ({"name": "db-mysql"}, "is of POSTGRES_15 and 'db-mysql' runs MYSQL_8_0"),
        ({"name": "db-gone"}, "'db-gone' to restore into does not exist"),
        ({"source": "db-us"}, "has no SUCCESSFUL backup run in a European location (successful runs in: none)"),
    ],
)
def test_refusals_request_nothing(run_module, runs, emulator, extra, needs):
    store, args, made = runs
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.20.0.7", master="db-us")
    store.add_instance("p1", "db-mysql", private_ip="10.20.0.10", database_version="MYSQL_8_0")
    if extra.get("backup_run_id") == "failed":
        extra = dict(extra, backup_run_id=made["failed"]["id"])
    emulator.clear_requests()
    failed, result = run_module("cloudsql_backup_restore", dict(args, **extra))
    assert failed and needs in result["msg"] and not result["changed"], result["msg"]
    assert "Nothing was restored." in result["msg"]
    assert restores(emulator) == []


def test_the_api_refusal_is_reported_and_nothing_overwritten(run_module, runs, emulator):
    store, args, _made = runs
    # the target's disk is smaller than the source's: only Cloud SQL checks it
    store.instances[("p1", "db-src")]["settings"]["dataDiskSizeGb"] = "100"
    store.instances[("p1", "db-scratch")]["settings"]["dataDiskSizeGb"] = "10"
    failed, result = run_module("cloudsql_backup_restore", args)
    assert failed and "has 10 GB of storage" in result["msg"] and "nothing was overwritten" in result["msg"]
    assert result["operation"] == "" and result["overwritten"] == ""
