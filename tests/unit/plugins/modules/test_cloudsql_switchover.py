"""cloudsql_switchover and cloudsql_instance's DR options against the emulator (real HTTP): designation,
switchover once, the refusals that change nothing, delete with deletion protection, a deleted name not reused."""

PLUS = {"edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-N-4"}
PITR = {"backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True}}
NET = "projects/p1/global/networks/default"


def pair(store, *, primary=None, replica=None):
    """An Enterprise Plus primary (US, PITR) and a replica in the EU."""
    store.add_instance("p1", "pg-us", region="us-east4", private_ip="10.20.0.7",
                       settings=primary if primary is not None else {**PLUS, **PITR})
    store.add_instance("p1", "pg-eu", region="europe-west3", private_ip="10.30.0.7", master="pg-us",
                       settings=replica if replica is not None else PLUS)


def designate(run_module, args, replica, check=False):
    return run_module("cloudsql_instance", dict(args, name="pg-us", dr_replica=replica, apply_policy=False,
                                                wait_timeout=10), check=check)


def test_designate_then_switch_over_once_and_back(run_module, sql):
    store, args = sql
    pair(store)
    failed, result = designate(run_module, args, "pg-eu", check=True)
    assert not failed and result["changed"]
    assert "failoverDrReplicaName" not in store.instances[("p1", "pg-us")].get("replicationCluster", {})
    failed, result = designate(run_module, args, "pg-eu")
    assert not failed and result["changed"]
    assert result["instance"]["replicationCluster"]["failoverDrReplicaName"] == "pg-eu"
    failed, again = designate(run_module, args, "pg-eu")
    assert not failed and not again["changed"]
    # check mode says what would happen and calls nothing
    failed, result = run_module("cloudsql_switchover", dict(args, name="pg-eu", wait_timeout=10), check=True)
    assert not failed and result["changed"] and result["old_primary"] == "pg-us" and result["operation"] == ""
    assert store.instances[("p1", "pg-eu")]["masterInstanceName"] == "p1:pg-us"
    failed, result = run_module("cloudsql_switchover", dict(args, name="pg-eu", wait_timeout=10))
    assert not failed and result["changed"] and result["operation"] and result["seconds"] > 0
    assert "masterInstanceName" not in result["instance"]
    assert store.instances[("p1", "pg-us")]["masterInstanceName"] == "p1:pg-eu"
    # a second run changes nothing
    failed, again = run_module("cloudsql_switchover", dict(args, name="pg-eu", wait_timeout=10))
    assert not failed and not again["changed"] and "already a primary" in again["msg"]
    # back: the new primary needs PITR first, and the refusal names the fix and changes nothing
    failed, result = run_module("cloudsql_switchover", dict(args, name="pg-us", wait_timeout=10))
    assert failed and "has no point-in-time recovery" in result["msg"] and "nothing changed" in result["msg"]
    store.instances[("p1", "pg-eu")]["settings"].update(PITR)
    failed, result = run_module("cloudsql_switchover", dict(args, name="pg-us", wait_timeout=10))
    assert not failed and result["old_primary"] == "pg-eu"
    assert "masterInstanceName" not in store.instances[("p1", "pg-us")]


def test_enterprise_and_an_undesignated_replica_are_refused_with_the_fix(run_module, sql):
    store, args = sql
    pair(store, primary=PITR, replica={})
    failed, result = run_module("cloudsql_switchover", dict(args, name="pg-eu", wait_timeout=10))
    assert failed and "is ENTERPRISE: switchover (advanced DR) needs Enterprise Plus" in result["msg"]
    assert "nearzero.gcp.dr_failover" in result["msg"]
    failed, result = designate(run_module, args, "pg-eu")
    assert failed and "supported only on Cloud SQL Enterprise Plus" in result["msg"]
    store.instances[("p1", "pg-us")]["settings"].update(PLUS)
    store.instances[("p1", "pg-eu")]["settings"].update(PLUS)
    failed, result = run_module("cloudsql_switchover", dict(args, name="pg-eu", wait_timeout=10))
    assert failed and "'pg-eu' is not the DR replica of 'pg-us'" in result["msg"]
    assert "dr_replica=pg-eu" in result["msg"]
    failed, result = run_module("cloudsql_switchover", dict(args, name="pg-nope", wait_timeout=10))
    assert failed and "'pg-nope' does not exist" in result["msg"]
    # a replica cannot designate
    failed, result = run_module("cloudsql_instance", dict(args, name="pg-eu", dr_replica="pg-us", apply_policy=False))
    assert failed and "is a read replica of p1:pg-us" in result["msg"]
    assert store.instances[("p1", "pg-eu")]["masterInstanceName"] == "p1:pg-us"


def test_delete_honours_deletion_protection_and_the_name_is_not_reused(run_module, sql):
    store, args = sql
    pair(store)
    store.instances[("p1", "pg-eu")]["settings"]["deletionProtectionEnabled"] = True
    absent = dict(args, name="pg-eu", state="absent", apply_policy=False, wait_timeout=10)
    failed, result = run_module("cloudsql_instance", absent)
    assert failed and "deletion protection on, so it was not deleted" in result["msg"]
    failed, result = run_module("cloudsql_instance", dict(absent, deletion_protection=False), check=True)
    assert not failed and result["changed"] and ("p1", "pg-eu") in store.instances
    failed, result = run_module("cloudsql_instance", dict(absent, deletion_protection=False))
    assert not failed and result["changed"] and result["deleted"]
    assert [c["path"] for c in result["applied"]] == ["settings.deletionProtectionEnabled", "instance"]
    assert ("p1", "pg-eu") not in store.instances
    failed, again = run_module("cloudsql_instance", dict(absent, deletion_protection=False))
    assert not failed and not again["changed"]
    failed, result = run_module("cloudsql_instance", dict(args, name="pg-eu", master_instance="pg-us",
                                                          private_network=NET, wait_timeout=10))
    assert failed and "can't reuse the name of the deleted instance" in result["msg"]
