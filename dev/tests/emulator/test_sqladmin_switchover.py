"""The emulator's advanced DR over real HTTP: DR replica designation, switchover, delete and name reuse.

Shapes are checked against sqladmin.v1.json; what Cloud SQL refuses is refused with the reason and the fix.
The lab side (real PostgreSQL servers switching roles) runs in molecule/cloudsql's side effect.
"""

import pytest
import requests
from discovery_schema import check
from sqladmin_ops import wait_done

DOC = "sqladmin.v1"
PLUS = {"edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-N-4"}
PITR = {"backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True}}


def done(session, base, resp):
    assert resp.status_code == 200, resp.text
    body = wait_done(session, base, resp.json())
    assert "error" not in body, body
    return body


@pytest.fixture
def dr(emulator):
    """An Enterprise Plus primary in the US with PITR, a replica in the EU and one in the US."""
    emulator.add_access_token("tok-dr")
    store = emulator.services["sqladmin"]
    store.operation_seconds = 0.1
    store.add_instance("p1", "db-us", region="us-east4", private_ip="10.20.0.5", settings={**PLUS, **PITR})
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us",
                       settings=PLUS)
    store.add_instance("p1", "db-us-ro", region="us-east4", private_ip="10.20.0.6", master="db-us", settings=PLUS)
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-dr"
    return store, session, f"{emulator.url}/v1/projects/p1"


def designate(session, base, replica, primary="db-us"):
    return session.patch(f"{base}/instances/{primary}", json={"replicationCluster": {"failoverDrReplicaName": replica}})


def error(resp):
    return resp.json()["error"]["message"]


def test_a_designated_dr_replica_is_shown_on_both_instances(dr):
    _, session, base = dr
    # output-only fields sent are ignored
    resp = session.patch(f"{base}/instances/db-us", json={"replicationCluster": {
        "failoverDrReplicaName": "db-eu", "drReplica": True, "psaWriteEndpoint": "x.example."}})
    done(session, base, resp)
    primary = session.get(f"{base}/instances/db-us").json()
    replica = session.get(f"{base}/instances/db-eu").json()
    assert check(primary, "DatabaseInstance", doc=DOC) == []
    assert check(replica, "DatabaseInstance", doc=DOC) == []
    assert primary["replicationCluster"]["failoverDrReplicaName"] == "db-eu"
    assert primary["replicationCluster"]["psaWriteEndpoint"].endswith(".sql-psa.goog.")
    assert primary["replicationCluster"]["psaWriteEndpoint"] != "x.example."
    assert replica["replicationCluster"]["drReplica"] is True
    assert replica["writeEndpoint"] == primary["writeEndpoint"] == primary["replicationCluster"]["psaWriteEndpoint"]
    assert session.get(f"{base}/instances/db-us-ro").json()["replicationCluster"]["drReplica"] is False
    # cleared with an empty name
    done(session, base, designate(session, base, ""))
    assert "failoverDrReplicaName" not in session.get(f"{base}/instances/db-us").json()["replicationCluster"]
    assert session.get(f"{base}/instances/db-eu").json()["replicationCluster"]["drReplica"] is False


@pytest.mark.parametrize(("replica", "primary", "needle"), [
    ("db-us-ro", "db-us", "must be in a different region"),
    ("db-nope", "db-us", "'db-nope' is not a read replica of db-us"),
    ("db-us", "db-eu", "is set on the primary instance, not on a read replica"),
])
def test_a_dr_designation_cloud_sql_refuses_is_refused(dr, replica, primary, needle):
    _, session, base = dr
    resp = designate(session, base, replica, primary)
    assert resp.status_code == 400 and needle in error(resp), resp.text
    assert "failoverDrReplicaName" not in session.get(f"{base}/instances/db-us").json().get("replicationCluster", {})


def test_an_enterprise_primary_has_no_dr_replica_and_no_switchover(dr):
    store, session, base = dr
    store.add_instance("p1", "ent-us", region="us-east4", private_ip="10.20.0.7", settings=PITR)
    store.add_instance("p1", "ent-eu", region="europe-west3", private_ip="10.30.0.7", master="ent-us")
    resp = designate(session, base, "ent-eu", "ent-us")
    assert resp.status_code == 400 and "supported only on Cloud SQL Enterprise Plus" in error(resp)
    resp = session.post(f"{base}/instances/ent-eu/switchover")
    assert resp.status_code == 400
    assert "Switchover is supported only on Cloud SQL Enterprise Plus" in error(resp)
    assert "promoteReplica" in error(resp)
    assert session.get(f"{base}/instances/ent-eu").json()["masterInstanceName"] == "p1:ent-us"
    # Enterprise Plus needs a performance-optimised tier
    resp = session.patch(f"{base}/instances/ent-us", json={"settings": {"edition": "ENTERPRISE_PLUS"}})
    assert resp.status_code == 400 and "Invalid Tier (db-custom-4-16384) for (ENTERPRISE_PLUS)" in error(resp)


def test_switchover_swaps_the_roles_and_keeps_the_write_endpoint(dr):
    _, session, base = dr
    done(session, base, designate(session, base, "db-eu"))
    endpoint = session.get(f"{base}/instances/db-us").json()["writeEndpoint"]
    op = done(session, base, session.post(f"{base}/instances/db-eu/switchover", params={"dbTimeout": "600s"}))
    assert op["operationType"] == "SWITCHOVER" and check(op, "Operation", doc=DOC) == []
    new, old = (session.get(f"{base}/instances/{n}").json() for n in ("db-eu", "db-us"))
    assert "masterInstanceName" not in new and new["instanceType"] == "CLOUD_SQL_INSTANCE"
    assert new["replicationCluster"]["failoverDrReplicaName"] == "db-us"
    assert old["masterInstanceName"] == "p1:db-eu" and old["instanceType"] == "READ_REPLICA_INSTANCE"
    assert old["replicationCluster"]["drReplica"] is True
    assert new["writeEndpoint"] == old["writeEndpoint"] == endpoint
    assert new["replicaNames"] == ["db-us"]
    # the US read replica keeps streaming from db-us, now a replica itself (cascading)
    assert session.get(f"{base}/instances/db-us-ro").json()["masterInstanceName"] == "p1:db-us"
    # a replica keeps no backups
    assert old["settings"]["backupConfiguration"]["enabled"] is False
    # switching back needs PITR on the new primary first
    resp = session.post(f"{base}/instances/db-us/switchover")
    assert resp.status_code == 400
    assert "Point-in-time recovery must be enabled on the primary instance db-eu" in error(resp)
    done(session, base, session.patch(f"{base}/instances/db-eu", json={"settings": PITR}))
    done(session, base, session.post(f"{base}/instances/db-us/switchover"))
    assert "masterInstanceName" not in session.get(f"{base}/instances/db-us").json()
    assert session.get(f"{base}/instances/db-eu").json()["masterInstanceName"] == "p1:db-us"


def test_switchover_refuses_what_cloud_sql_refuses(dr):
    _, session, base = dr
    resp = session.post(f"{base}/instances/db-eu/switchover")
    assert resp.status_code == 400 and "db-eu is not the DR replica of db-us" in error(resp)
    assert "--failover-dr-replica-name=db-eu" in error(resp)
    resp = session.post(f"{base}/instances/db-us/switchover")
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "FAILED_PRECONDITION"
    done(session, base, designate(session, base, "db-eu"))
    done(session, base, session.patch(f"{base}/instances/db-us", json={"settings": {"activationPolicy": "NEVER"}}))
    resp = session.post(f"{base}/instances/db-eu/switchover")
    assert resp.status_code == 400 and "db-us is not running" in error(resp)
    assert session.get(f"{base}/instances/db-eu").json()["masterInstanceName"] == "p1:db-us"


def test_delete_frees_nothing_it_should_not_and_the_name_is_not_reused(dr):
    _, session, base = dr
    resp = session.delete(f"{base}/instances/db-us")
    assert resp.status_code == 400 and "has read replicas (db-eu, db-us-ro)" in error(resp)
    done(session, base, session.patch(f"{base}/instances/db-us-ro", json={"settings": {
        "deletionProtectionEnabled": True}}))
    resp = session.delete(f"{base}/instances/db-us-ro")
    assert resp.status_code == 400 and "protected from deletion" in error(resp)
    done(session, base, session.patch(f"{base}/instances/db-us-ro", json={"settings": {
        "deletionProtectionEnabled": False}}))
    op = done(session, base, session.delete(f"{base}/instances/db-us-ro"))
    assert op["operationType"] == "DELETE"
    assert session.get(f"{base}/instances/db-us-ro").status_code == 404
    assert session.get(f"{base}/instances/db-us").json()["replicaNames"] == ["db-eu"]
    again = session.post(f"{base}/instances", json={"name": "db-us-ro", "masterInstanceName": "db-us"})
    assert again.status_code == 409 and "can't reuse the name of the deleted instance" in error(again)
    fresh = session.post(f"{base}/instances", json={"name": "db-us-ro2", "masterInstanceName": "db-us"})
    done(session, base, fresh)


def test_no_replica_of_a_stopped_primary(dr):
    _, session, base = dr
    done(session, base, session.patch(f"{base}/instances/db-us", json={"settings": {"activationPolicy": "NEVER"}}))
    resp = session.post(f"{base}/instances", json={"name": "db-us-2", "masterInstanceName": "db-us"})
    assert resp.status_code == 400 and "db-us is not running" in error(resp)
    assert session.get(f"{base}/instances/db-us-2").status_code == 404
