"""cloudsql_instance under API faults injected by the emulator, on each call of the sequence.

The sequence of one policy change is GET instance -> PATCH -> GET operation (polled) -> GET
instance (read back). Each test breaks one of them and checks what the task reports: what was
applied, what is pending (accepted, with the Operation's name) and what was not, ``changed`` only
for what the API accepted, and how many attempts were made over how long.
"""

import re

import pytest

POLICY = {
    "private_network": "projects/p1/global/networks/trading",
    "backups": {"start_time": "04:00", "location": "eu", "retained_backups": 30,
                "transaction_log_retention_days": 5},
    "wait_timeout": 10,
}
INSTANCE = r"^/v1/projects/p1/instances/db-us$"
OPERATIONS = r"^/v1/projects/p1/operations/"


def calls(emulator, method, regex):
    return [r for r in emulator.requests if r.method == method and re.search(regex, r.path)]


def ssl_mode(store, name="db-us"):
    return store.instances[("p1", name)]["settings"]["ipConfiguration"]["sslMode"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_patch_is_retried_after_a_transient_failure(run_module, sql, emulator, status):
    store, args = sql
    fault = emulator.faults.add(path_regex=INSTANCE, method="PATCH", status=status, times=2)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", retries=3, **POLICY))
    assert not failed, result["msg"]
    assert fault.fired == 2 and len(calls(emulator, "PATCH", INSTANCE)) == 3
    assert result["changed"] and result["pending"] == [] and result["not_applied"] == []
    assert {c["path"] for c in result["applied"]} == {c["path"] for c in result["changes"]}
    assert ssl_mode(store) == "ENCRYPTED_ONLY"


def test_patch_failing_every_time_changes_nothing_and_says_so(run_module, sql, emulator):
    store, args = sql
    emulator.faults.add(path_regex=INSTANCE, method="PATCH", status=503, times=None)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", retries=2, **POLICY))
    assert failed and result["changed"] is False
    assert result["applied"] == [] and result["pending"] == [] and result["operations"] == []
    assert result["not_applied"] == result["changes"] and result["changes"]
    assert len(calls(emulator, "PATCH", INSTANCE)) == 3
    assert re.search(r"Gave up after 3 attempt\(s\) over \d+\.\d s", result["msg"]), result["msg"]
    assert "Not applied: settings." in result["msg"] and result["attempts"] == 3
    assert ssl_mode(store) == "ALLOW_UNENCRYPTED_AND_ENCRYPTED"


def test_lost_patch_response_is_retried_and_converges(run_module, sql, emulator):
    """The first PATCH reaches the API but its answer comes after the client's timeout."""
    store, args = sql
    emulator.faults.add(path_regex=INSTANCE, method="PATCH", latency_ms=1500, times=1)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", retries=2, timeout=1, **POLICY))
    assert not failed, result["msg"]
    assert len(calls(emulator, "PATCH", INSTANCE)) == 2
    assert result["changed"] and result["not_applied"] == [] and len(result["operations"]) == 1
    assert ssl_mode(store) == "ENCRYPTED_ONLY"


def test_polling_failure_after_an_accepted_patch_is_pending_with_the_operation(run_module, sql, emulator):
    store, args = sql
    emulator.faults.add(path_regex=OPERATIONS, method="GET", status=503, times=None)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", retries=1, **POLICY))
    assert failed and result["kind"] == "pending"
    assert result["changed"] is True  # the API accepted the PATCH
    assert result["applied"] == [] and result["not_applied"] == []
    assert {c["path"] for c in result["pending"]} == {c["path"] for c in result["changes"]}
    operation = result["pending"][0]["operation"]
    assert operation and {c["operation"] for c in result["pending"]} == {operation}
    assert "was submitted and accepted" in result["msg"] and operation in result["msg"]
    assert "Gave up after 2 attempt(s)" in result["msg"]
    assert f"gcloud sql operations describe {operation} --project p1" in result["msg"]
    # the change was really submitted: once the operation finishes, a re-run has nothing left to do
    emulator.faults.clear()
    store.operations[("p1", operation)]  # the emulator knows it by that name
    failed, again = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert not failed and not again["changed"] and ssl_mode(store) == "ENCRYPTED_ONLY"


@pytest.mark.parametrize(("regex", "method"), [(INSTANCE, "GET"), (OPERATIONS, "GET")])
def test_transient_failures_of_reads_and_polls_are_retried(run_module, sql, emulator, regex, method):
    store, args = sql
    fault = emulator.faults.add(path_regex=regex, method=method, status=503, times=2)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", retries=3, **POLICY))
    assert not failed, result["msg"]
    assert fault.fired == 2 and result["changed"] and result["not_applied"] == [] and result["pending"] == []
    assert ssl_mode(store) == "ENCRYPTED_ONLY"


def test_first_read_failing_changes_nothing(run_module, sql, emulator):
    _store, args = sql
    emulator.faults.add(path_regex=INSTANCE, method="GET", status=500, times=None)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", retries=1, **POLICY))
    assert failed and result["changed"] is False and result["changes"] == []
    assert "Gave up after 2 attempt(s)" in result["msg"]
    assert calls(emulator, "PATCH", INSTANCE) == []


def test_read_back_failure_after_a_finished_operation(run_module, sql, emulator):
    """The PATCH finished (applied) but the read-back GET fails: applied is told, changed stays true."""
    store, args = sql
    emulator.faults.add(path_regex=INSTANCE, method="GET", status=503, nth=2, times=None)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", retries=1, **POLICY))
    assert failed and result["changed"] is True
    assert {c["path"] for c in result["applied"]} == {c["path"] for c in result["changes"]}
    assert "Applied: settings." in result["msg"] and len(result["operations"]) == 1
    assert ssl_mode(store) == "ENCRYPTED_ONLY"


def test_failed_operation_is_not_applied_and_not_changed(run_module, sql):
    store, args = sql
    store.fail_next_operation("db-us", "Backup location eu is not allowed by the organization policy.",
                              "ORG_POLICY_VIOLATION")
    failed, result = run_module("cloudsql_instance", dict(args, name="db-us", **POLICY))
    assert failed and result["kind"] == "operation" and result["changed"] is False
    assert result["not_applied"] == result["changes"] and result["applied"] == [] and result["pending"] == []
    assert "failed, so it changed nothing" in result["msg"] and "ORG_POLICY_VIOLATION" in result["msg"]


def test_promote_is_not_repeated_after_a_server_error(run_module, sql, emulator):
    """A 503 may come after the API acted: a second promoteReplica is not safe, so it is sent once."""
    store, args = sql
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    emulator.faults.add(path_regex=r"/promoteReplica$", status=503, times=None)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", promote=True, apply_policy=False,
                                                          retries=3, **POLICY))
    assert failed and result["changed"] is False and not result["promoted"]
    assert len(calls(emulator, "POST", r"/promoteReplica$")) == 1
    assert "not retried" in result["msg"] and "Gave up after 1 attempt(s)" in result["msg"]
    assert result["not_applied"] == [{"path": "masterInstanceName", "before": "p1:db-us", "after": None}]


def test_promote_is_repeated_after_a_rate_limit(run_module, sql, emulator):
    store, args = sql
    store.add_instance("p1", "db-eu", region="europe-west3", private_ip="10.30.0.5", master="db-us")
    emulator.faults.add(path_regex=r"/promoteReplica$", status=429, times=1)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", promote=True, apply_policy=False,
                                                          retries=3, **POLICY))
    assert not failed, result["msg"]
    assert result["promoted"] and len(calls(emulator, "POST", r"/promoteReplica$")) == 2
    assert "masterInstanceName" not in store.instances[("p1", "db-eu")]


def test_lost_create_response_is_recognised_as_ours(run_module, sql, emulator):
    """The insert is applied but answered after the timeout; the retry's 409 is recognised, not an error."""
    store, args = sql
    # the emulator delays before it acts: the first insert is created at 1.5 s, after the client gave up on
    # it (1 s); the second is held until 2 s so it meets the first one's instance, as a retry after a lost
    # response would; the second and later attempts get 409
    emulator.faults.add(path_regex=r"^/v1/projects/p1/instances$", method="POST", latency_ms=1500, times=1)
    emulator.faults.add(path_regex=r"^/v1/projects/p1/instances$", method="POST", latency_ms=1000, nth=2, times=1)
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", master_instance="db-us",
                                                          region="europe-west3", retries=3, timeout=1, **POLICY))
    assert not failed, result["msg"]
    inserts = calls(emulator, "POST", r"^/v1/projects/p1/instances$")
    assert inserts[0].status == 200 and {r.status for r in inserts[1:]} == {409}
    assert result["created"] and result["changed"]
    assert store.instances[("p1", "db-eu")]["state"] == "RUNNABLE"


def test_a_409_for_someone_elses_instance_is_not_taken_as_ours(run_module, sql, emulator):
    """After a lost response, an instance of that name with another region is refused, naming the conflict."""
    store, args = sql

    def someone_else_creates_it():
        store.add_instance("p1", "db-eu", region="asia-east1", private_ip="10.40.0.5")

    emulator.faults.add(path_regex=r"^/v1/projects/p1/instances$", method="POST", status=503, times=1)
    original = emulator.faults.evaluate

    def evaluate(method, path):
        effect = original(method, path)
        if effect and method == "POST":
            someone_else_creates_it()
        return effect

    emulator.faults.evaluate = evaluate
    failed, result = run_module("cloudsql_instance", dict(args, name="db-eu", master_instance="db-us",
                                                          region="europe-west3", retries=2, **POLICY))
    assert failed and result["status"] == 409 and not result["created"] and result["changed"] is False
    assert result["not_applied"][0]["path"] == "instance"
    assert store.instances[("p1", "db-eu")]["region"] == "asia-east1"
