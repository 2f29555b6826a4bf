"""cloudsql_clone against the emulator: a point-in-time clone into a new instance, check mode, refusals."""

import datetime as dt

import pytest

PITR = {"backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True, "transactionLogRetentionDays": 1}}


@pytest.fixture
def pitr(sql, emulator):
    store, args = sql
    store.add_instance("p1", "db-pitr", region="us-east4", private_ip="10.20.0.8", settings=PITR)
    now = dt.datetime.now(dt.UTC)
    emulator.services["sqladmin_backups"].add_run("p1", "db-pitr", start=now - dt.timedelta(hours=3))
    return store, dict(args, name="db-pitr"), now


def test_clone_to_a_point_in_time(run_module, pitr):
    store, args, now = pitr
    point = (now - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    source_before = dict(store.instances[("p1", "db-pitr")])
    failed, result = run_module("cloudsql_clone", dict(args, destination="db-pitr-r1", point_in_time=point.isoformat()))
    assert not failed, result
    assert result["changed"] and result["operation"]
    assert result["point_in_time"] == (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert result["instance"]["name"] == "db-pitr-r1" and result["instance"]["state"] == "RUNNABLE"
    assert result["private_ip"] and result["private_ip"] != "10.20.0.8"
    assert result["duration"] > 0
    assert store.instances[("p1", "db-pitr")] == source_before
    # a second run: the destination exists, which fails unless kept
    failed, again = run_module("cloudsql_clone", dict(args, destination="db-pitr-r1", point_in_time=point.isoformat()))
    assert failed and "'db-pitr-r1' already exists" in again["msg"] and not again["changed"]
    failed, kept = run_module("cloudsql_clone", dict(args, destination="db-pitr-r1", existing="keep"))
    assert not failed and not kept["changed"] and kept["private_ip"] == result["private_ip"]


def test_check_mode_requests_nothing(run_module, pitr, emulator):
    store, args, now = pitr
    point = (now - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    emulator.clear_requests()
    failed, result = run_module("cloudsql_clone", dict(args, destination="db-pitr-c", point_in_time=point), check=True)
    assert not failed and result["changed"] and result["operation"] == ""
    assert ("p1", "db-pitr-c") not in store.instances
    assert [r.method for r in emulator.requests if "/instances/" in r.path] == ["GET", "GET"]


@pytest.mark.parametrize(
    ("extra", "needs"),
    [
        ({"destination": "db-pitr"}, "never overwrites its source"),
        ({"destination": "db-x", "point_in_time": "2026-12-06 07:30"}, "is not an RFC 3339 time with a time zone"),
        ({"destination": "db-x", "name": "db-us"}, "Point-in-time recovery is not enabled on 'db-us'"),
        ({"destination": "db-x", "name": "db-gone"}, "The source Cloud SQL instance 'db-gone' does not exist"),
        ({"destination": "db-x", "point_in_time": "2099-01-01T00:00:00Z"}, "is in the future"),
        ({"destination": "db-x", "point_in_time": "2020-01-01T00:00:00Z"}, "before the earliest recovery time"),
    ],
)
def test_refusals_create_nothing(run_module, pitr, extra, needs):
    store, args, _now = pitr
    failed, result = run_module("cloudsql_clone", dict(args, **extra))
    assert failed and needs in result["msg"], result["msg"]
    assert not result["changed"]
    if needs in ("is in the future", "before the earliest recovery time"):  # refused by the API: says so
        assert "refused the clone before starting it, so nothing was created" in result["msg"]
    assert ("p1", "db-x") not in store.instances
