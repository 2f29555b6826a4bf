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
    assert not failed and not result["changed"] and result["exists"]
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
    assert not failed and result["exists"] is False and result["runs"] == [] and result["latest_location"] == ""


def test_cloudsql_verify_fails_unless_the_newest_backup_is_in_europe(sql, emulator, tmp_path):
    """playbooks/cloudsql.yml --tags verify reads the backup runs: a newest backup in us fails, one in eu passes."""
    import json
    import subprocess

    from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env

    store, args = sql
    backups = emulator.services["sqladmin_backups"]
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.20.0.9", master="db-us")
    now = dt.datetime.now(dt.UTC)
    backups.add_run("p1", "db-us", start=now - dt.timedelta(days=1), location="eu")
    backups.add_run("p1", "db-us", start=now - dt.timedelta(hours=1), location="us")
    extra = {
        "nearzero_db_project": "p1", "nearzero_db_primary_instance": "db-us", "nearzero_db_replica_instance": "db-eu",
        "nearzero_sqladmin_endpoint": args["api_endpoint"],
        "nearzero_gcp_auth": {k: args[k] for k in ("auth_kind", "service_account_file", "retries", "retry_backoff")},
        "ansible_python_interpreter": str(BIN / "python")}
    (tmp_path / "vars.json").write_text(json.dumps(extra))

    def verify():
        return subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-e", f"@{tmp_path / 'vars.json'}",
                               "--tags", "verify", str(ROOT / "playbooks" / "cloudsql.yml")],
                              cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=300, check=False)

    failing = verify()
    assert failing.returncode != 0, failing.stdout[-2000:]
    assert "is stored in 'us', not in Europe" in failing.stdout
    assert not [r for r in emulator.requests if r.method != "GET" and "/v1/" in r.path]  # verify changes nothing
    backups.add_run("p1", "db-us", start=now - dt.timedelta(minutes=5), location="europe-west3")
    passing = verify()
    assert passing.returncode == 0, passing.stdout[-2000:]
    assert "is stored in europe-west3" in passing.stdout
