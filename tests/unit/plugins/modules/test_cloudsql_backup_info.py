"""cloudsql_backup_info against the emulator: every run with its location, the newest successful one, settings."""

import datetime as dt

EU = {"backupConfiguration": {"enabled": True, "location": "eu", "pointInTimeRecoveryEnabled": True}}


def test_runs_newest_first_with_locations(run_module, sql, emulator):
    store, args = sql
    backups = emulator.services["sqladmin_backups"]
    store.add_instance("p1", "db-bk", private_ip="10.20.0.8", settings=EU)
    now = dt.datetime.now(dt.UTC)
    old = backups.add_run("p1", "db-bk", start=now - dt.timedelta(days=1))
    newest_ok = backups.add_run("p1", "db-bk", start=now - dt.timedelta(hours=2), location="europe-west3")
    backups.add_run("p1", "db-bk", start=now - dt.timedelta(hours=1), location="us", status="FAILED")
    failed, result = run_module("cloudsql_backup_info", dict(args, name="db-bk"))
    assert not failed and not result["changed"]
    assert [r["location"] for r in result["runs"]] == ["us", "europe-west3", "eu"]
    # the newest run failed: the newest successful one is what is stored
    assert result["latest"]["id"] == newest_ok["id"] and result["latest_location"] == "europe-west3"
    assert result["runs"][-1]["id"] == old["id"]
    assert result["backup_configuration"]["location"] == "eu" and result["point_in_time_recovery"] is True


def test_no_backup_yet_and_no_pitr(run_module, sql):
    _store, args = sql
    failed, result = run_module("cloudsql_backup_info", dict(args, name="db-us"))
    assert not failed
    assert result["runs"] == [] and result["latest"] == {} and result["latest_location"] == ""
    assert result["point_in_time_recovery"] is False


def test_missing_instance(run_module, sql):
    _store, args = sql
    failed, result = run_module("cloudsql_backup_info", dict(args, name="nope"))
    assert failed and "'nope' does not exist in project 'p1'" in result["msg"]
