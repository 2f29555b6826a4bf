"""The emulator's backup runs and point-in-time clones over real HTTP (API-only; the lab drill is molecule/pitr)."""

import datetime as dt
import time

import pytest
import requests
from discovery_schema import check
from sqladmin_ops import wait_done

DOC = "sqladmin.v1"
PITR = {
    "backupConfiguration": {
        "enabled": True,
        "location": "eu",
        "pointInTimeRecoveryEnabled": True,
        "transactionLogRetentionDays": 1,
    }
}


def rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


@pytest.fixture
def api(emulator):
    emulator.add_access_token("tok-sql")
    sql = emulator.services["sqladmin"]
    sql.operation_seconds = 0.1
    sql.add_instance("p1", "db-us", region="us-east4", private_ip="10.20.0.5", settings=PITR)
    sql.add_instance("p1", "db-plain", region="us-east4", private_ip="10.20.0.6")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-sql"
    return sql, emulator.services["sqladmin_backups"], session, f"{emulator.url}/v1/projects/p1"


def test_backup_runs_carry_their_location_newest_first(api):
    _, backups, session, base = api
    now = dt.datetime.now(dt.UTC)
    older = backups.add_run("p1", "db-us", start=now - dt.timedelta(hours=5))
    body = {"location": "us-east4", "description": "pre-change"}
    resp = session.post(f"{base}/instances/db-us/backupRuns", json=body)
    assert resp.status_code == 200, resp.text
    assert wait_done(session, base, resp.json()).get("error") is None
    listed = session.get(f"{base}/instances/db-us/backupRuns").json()
    assert check(listed, "BackupRunsListResponse", doc=DOC) == []
    items = listed["items"]
    assert [r["location"] for r in items] == ["us-east4", "eu"]  # on demand (its own location), then automated
    assert [r["type"] for r in items] == ["ON_DEMAND", "AUTOMATED"]
    assert items[0]["description"] == "pre-change" and items[1]["id"] == older["id"]
    one = session.get(f"{base}/instances/db-us/backupRuns/{older['id']}").json()
    assert one["location"] == "eu" and one["status"] == "SUCCESSFUL"
    assert session.get(f"{base}/instances/db-us/backupRuns/12345").status_code == 404
    page = session.get(f"{base}/instances/db-us/backupRuns", params={"maxResults": 1}).json()
    assert len(page["items"]) == 1 and page["nextPageToken"]
    # without a location setting, backups go to the multi-region of the instance's region
    backups.add_run("p1", "db-plain")
    assert session.get(f"{base}/instances/db-plain/backupRuns").json()["items"][0]["location"] == "us"


def test_read_replicas_take_no_backups(api):
    sql, _, session, base = api
    sql.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.20.0.7", master="db-us")
    resp = session.post(f"{base}/instances/db-eu/backupRuns", json={})
    assert resp.status_code == 400 and "read replica" in resp.json()["error"]["message"]


def clone(session, base, source, dest, point=None):
    context = {"destinationInstanceName": dest}
    if point is not None:
        context["pointInTime"] = rfc3339(point)
    return session.post(f"{base}/instances/{source}/clone", json={"cloneContext": context})


def test_point_in_time_clone_is_a_new_instance(api):
    _, backups, session, base = api
    now = dt.datetime.now(dt.UTC)
    backups.add_run("p1", "db-us", start=now - dt.timedelta(hours=3))
    source_before = session.get(f"{base}/instances/db-us").json()
    resp = clone(session, base, "db-us", "db-us-restored", now - dt.timedelta(hours=1))
    assert resp.status_code == 200, resp.text
    op = resp.json()
    assert op["operationType"] == "CLONE" and op["targetId"] == "db-us-restored"
    assert wait_done(session, base, op).get("error") is None
    restored = session.get(f"{base}/instances/db-us-restored").json()
    assert check(restored, "DatabaseInstance", doc=DOC) == []
    assert restored["state"] == "RUNNABLE" and restored["region"] == "us-east4"
    ips = {a["ipAddress"] for a in restored["ipAddresses"] if a["type"] == "PRIVATE"}
    assert ips and ips != {"10.20.0.5"}
    source_after = session.get(f"{base}/instances/db-us").json()
    assert source_after["settings"] == source_before["settings"]
    assert source_after["ipAddresses"] == source_before["ipAddresses"]
    # the name is taken now
    again = clone(session, base, "db-us", "db-us-restored", now - dt.timedelta(hours=1))
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("source", "offset", "needs"),
    [
        ("db-plain", dt.timedelta(hours=-1), "Point-in-time recovery is not enabled on instance db-plain"),
        ("db-us", dt.timedelta(minutes=5), "is in the future"),
        ("db-us", dt.timedelta(hours=-30), "is before the earliest recovery time of instance db-us"),
        ("db-us", dt.timedelta(hours=-4), "is before the earliest recovery time of instance db-us"),
    ],
)
def test_clone_refusals_create_nothing(api, source, offset, needs):
    _, backups, session, base = api
    now = dt.datetime.now(dt.UTC)
    # retention 1 day, oldest backup ended 3 h ago: 30 h ago is outside the log window, 4 h ago before any backup
    backups.add_run("p1", "db-us", start=now - dt.timedelta(hours=3))
    backups.add_run("p1", "db-plain", start=now - dt.timedelta(hours=3))
    resp = clone(session, base, source, "db-never", now + offset)
    assert resp.status_code == 400, resp.text
    assert needs in resp.json()["error"]["message"]
    assert session.get(f"{base}/instances/db-never").status_code == 404


def test_clone_without_any_backup_is_refused(api):
    _, _, session, base = api
    resp = clone(session, base, "db-us", "db-never", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert resp.status_code == 400 and "no successful backup yet" in resp.json()["error"]["message"]
    assert session.get(f"{base}/instances/db-never").status_code == 404


def test_clone_requests_are_checked_against_the_discovery_document(api):
    _, _, session, base = api
    resp = session.post(f"{base}/instances/db-us/clone", json={"cloneContext": {"pointInTime": "yesterday"}})
    assert resp.status_code == 400 and "google.protobuf.Timestamp" in resp.json()["error"]["message"]
    resp = session.post(f"{base}/instances/db-us/clone", json={"cloneContext": {"destinationInstanceNam": "x"}})
    assert resp.status_code == 400 and 'Unknown name "destinationInstanceNam"' in resp.json()["error"]["message"]
    resp = session.post(f"{base}/instances/db-us/clone", json={"cloneContext": {}})
    assert resp.status_code == 400 and "destinationInstanceName is required" in resp.json()["error"]["message"]


def restore(session, base, target, run_id, source=None):
    context = {"backupRunId": run_id, "project": "p1"}
    if source:
        context["instanceId"] = source
    return session.post(f"{base}/instances/{target}/restoreBackup", json={"restoreBackupContext": context})


def test_restore_backup_overwrites_an_existing_instance(api):
    sql, backups, session, base = api
    sql.add_instance("p1", "db-scratch", region="europe-west3", private_ip="10.20.0.9")
    run = backups.add_run("p1", "db-us", start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    resp = restore(session, base, "db-scratch", run["id"], source="db-us")
    assert resp.status_code == 200, resp.text
    op = resp.json()
    assert check(op, "Operation", doc=DOC) == []
    assert op["operationType"] == "RESTORE_VOLUME" and op["targetId"] == "db-scratch"
    assert wait_done(session, base, op).get("error") is None
    # the instance's own backup onto itself (instanceId defaults to the path's instance)
    own = restore(session, base, "db-us", run["id"])
    assert own.status_code == 200, own.text
    assert wait_done(session, base, own.json()).get("error") is None


@pytest.mark.parametrize(
    ("target", "run", "status", "needs"),
    [
        ("db-scratch", "404", 404, "The backup run 404 of instance db-us does not exist"),
        ("db-scratch", "failed", 400, "is FAILED: only a SUCCESSFUL run can be restored"),
        ("db-eu", "ok", 400, "cannot be restored to the read replica db-eu"),
        ("db-us", "ok", 400, "The instance db-us has read replicas (db-eu)"),
        ("db-mysql", "ok", 400, "restore it to an instance of the same database version"),
        ("db-small", "ok", 400, "has 10 GB of storage and the backup's instance db-us 100 GB"),
    ],
)
def test_restore_backup_refusals_change_nothing(api, target, run, status, needs):
    sql, backups, session, base = api
    sql.instances[("p1", "db-us")]["settings"]["dataDiskSizeGb"] = "100"
    sql.add_instance("p1", "db-scratch", private_ip="10.20.0.9")
    sql.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.20.0.7", master="db-us")
    sql.add_instance("p1", "db-mysql", private_ip="10.20.0.10", database_version="MYSQL_8_0")
    sql.add_instance("p1", "db-small", private_ip="10.20.0.11", settings={"dataDiskSizeGb": "10"})
    runs = {
        "ok": backups.add_run("p1", "db-us")["id"],
        "failed": backups.add_run(
            "p1", "db-us", start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), status="FAILED"
        )["id"],
        "404": "404",
    }
    before = {name: session.get(f"{base}/instances/{name}").json() for name in ("db-us", target)}
    operations = len(sql.operations)
    resp = restore(session, base, target, runs[run], source="db-us")
    assert resp.status_code == status, resp.text
    assert needs in resp.json()["error"]["message"]
    assert len(sql.operations) == operations
    for name, instance in before.items():
        assert session.get(f"{base}/instances/{name}").json()["etag"] == instance["etag"]


def test_restore_backup_requests_are_checked_against_the_discovery_document(api):
    _, backups, session, base = api
    run = backups.add_run("p1", "db-us")
    resp = session.post(f"{base}/instances/db-us/restoreBackup", json={"restoreBackupContext": {"backupRunId": "x"}})
    assert resp.status_code == 400 and "backup_run_id' (TYPE_INT64)" in resp.json()["error"]["message"]
    resp = session.post(
        f"{base}/instances/db-us/restoreBackup", json={"restoreBackupContext": {"backupRun": run["id"]}}
    )
    assert resp.status_code == 400 and 'Unknown name "backupRun"' in resp.json()["error"]["message"]
    resp = session.post(f"{base}/instances/db-us/restoreBackup", json={"restoreBackupContext": {}})
    assert resp.status_code == 400 and "backupRunId is required" in resp.json()["error"]["message"]


def test_automated_runs_come_at_each_backup_window(api):
    sql, backups, session, base = api
    backups.automated_every = 0.5  # the day, compressed: a window every half second from startTime
    settings = sql.instances[("p1", "db-us")]["settings"]["backupConfiguration"]
    settings.update(startTime="03:00", backupRetentionSettings={"retainedBackups": 2})
    assert session.get(f"{base}/instances/db-us/backupRuns").json().get("items", []) == []
    time.sleep(1.8)
    items = session.get(f"{base}/instances/db-us/backupRuns").json()["items"]
    # three windows or more passed, the newest two are retained
    assert [r["type"] for r in items] == ["AUTOMATED", "AUTOMATED"]
    assert {r["location"] for r in items} == {"eu"} and {r["status"] for r in items} == {"SUCCESSFUL"}
    starts = [dt.datetime.fromisoformat(r["startTime"].replace("Z", "+00:00")) for r in items]
    assert starts[0] - starts[1] == dt.timedelta(seconds=0.5)
    assert {s.microsecond for s in starts} <= {0, 500000}
    # backups off: no automated run
    assert session.get(f"{base}/instances/db-plain/backupRuns").json().get("items", []) == []
