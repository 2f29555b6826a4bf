"""SqlAdminApi and GcpClient's retry modes against the emulator over real HTTP.

What is safe to repeat is repeated (reads, polls, the PATCH), what is not is sent once or only
when the API cannot have acted on it, Operations are polled at the configured endpoint whatever
their selfLink says, and every failure tells how many attempts were made over how long.
"""

import importlib
import re
import socket

import pytest

from tests.unit.plugins.gce_helpers import gcp_modules

auth, client, _compute, errors = gcp_modules()
GcpError = errors.GcpError

sqladmin = importlib.import_module("ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin")

FAST = {"backoff_base": 0.01, "backoff_max": 0.02}
SETTINGS = {"settings": {"ipConfiguration": {"sslMode": "ENCRYPTED_ONLY", "requireSsl": False}}}
INSTANCE = r"^/v1/projects/p1/instances/db1$"


@pytest.fixture
def api(emulator, sa_key_file):
    store = emulator.services["sqladmin"]
    store.operation_seconds = 0.2
    store.add_instance("p1", "db1")
    c = client.GcpClient(auth.build_credentials({"auth_kind": "serviceaccount",
                                                 "service_account_file": str(sa_key_file)}), retries=2, **FAST)
    return sqladmin.SqlAdminApi(c, emulator.url), store


def sent(emulator, method, regex):
    return [r for r in emulator.requests if r.method == method and re.search(regex, r.path)]


def test_operations_are_polled_under_the_endpoint_not_their_self_link(api, emulator):
    sql, store = api
    op = sql.patch("p1", "db1", SETTINGS)
    assert op["selfLink"].startswith("https://sqladmin.googleapis.com/v1/projects/p1/operations/")
    assert sql.operation_url("p1", op["name"]) == f"{emulator.url}/v1/projects/p1/operations/{op['name']}"
    done = sql.wait(op, "p1", "db1", timeout=10)
    assert done["status"] == "DONE"
    polls = sent(emulator, "GET", r"/operations/")
    assert polls and {r.path for r in polls} == {f"/v1/projects/p1/operations/{op['name']}"}
    assert store.instances[("p1", "db1")]["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"


def test_a_self_link_naming_another_host_is_never_contacted(api, emulator):
    """An Operation whose selfLink names an unreachable host is still polled at the endpoint."""
    sql, _store = api
    op = sql.patch("p1", "db1", SETTINGS)
    op["selfLink"] = "https://sqladmin.invalid/v1/projects/p1/operations/" + op["name"]
    assert sql.wait(op, "p1", "db1", timeout=10)["status"] == "DONE"


def test_patch_is_retried_on_transient_failures(api, emulator):
    sql, _store = api
    emulator.faults.add(path_regex=INSTANCE, method="PATCH", status=502, times=2)
    op = sql.patch("p1", "db1", SETTINGS)
    assert op["operationType"] == "UPDATE" and len(sent(emulator, "PATCH", INSTANCE)) == 3


def test_exhausted_patch_says_attempts_and_time(api, emulator):
    sql, _store = api
    emulator.faults.add(path_regex=INSTANCE, method="PATCH", status=503, times=None)
    with pytest.raises(GcpError) as err:
        sql.patch("p1", "db1", SETTINGS)
    assert err.value.attempts == 3 and err.value.elapsed >= 0 and err.value.status == 503
    assert re.search(r"Gave up after 3 attempt\(s\) over \d+\.\d s\.$", str(err.value))
    assert "db1" in str(err.value) and "p1" in str(err.value)


def test_definitive_errors_are_not_retried_nor_padded(api, emulator):
    sql, store = api
    store.deny("p1")
    with pytest.raises(GcpError) as err:
        sql.patch("p1", "db1", SETTINGS)
    assert err.value.kind == "permission_denied" and err.value.attempts == 1
    assert "Gave up" not in str(err.value) and len(sent(emulator, "PATCH", INSTANCE)) == 1


def test_promote_is_sent_once_on_a_server_error_and_again_on_a_rate_limit(api, emulator):
    sql, store = api
    store.add_instance("p1", "db2", private_ip="10.20.0.6", master="db1")
    emulator.faults.add(path_regex=r"/db2/promoteReplica$", status=500, times=1)
    with pytest.raises(GcpError) as err:
        sql.promote_replica("p1", "db2")
    assert err.value.attempts == 1 and "not retried" in str(err.value)
    emulator.faults.add(path_regex=r"/db2/promoteReplica$", status=429, times=2)
    op = sql.promote_replica("p1", "db2")
    assert op["operationType"] == "PROMOTE_REPLICA"
    assert len(sent(emulator, "POST", r"/db2/promoteReplica$")) == 4


def test_unprocessed_mode_retries_a_connection_never_made(sa_key_file, emulator):
    c = client.GcpClient(auth.build_credentials({"auth_kind": "serviceaccount",
                                                 "service_account_file": str(sa_key_file)}), retries=2, **FAST)
    c.ensure_token()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GcpError) as err:
        c.request("POST", f"http://127.0.0.1:{port}/v1/projects/p1/instances/db1/promoteReplica",
                  retry="unprocessed")
    assert err.value.kind == "network" and err.value.attempts == 3


def test_unprocessed_mode_does_not_repeat_a_lost_response(api, emulator):
    sql, store = api
    store.add_instance("p1", "db2", private_ip="10.20.0.6", master="db1")
    sql.client.timeout = 0.5
    emulator.faults.add(path_regex=r"/db2/promoteReplica$", latency_ms=1000, times=1)
    with pytest.raises(GcpError) as err:
        sql.promote_replica("p1", "db2")
    assert err.value.attempts == 1 and "may have reached the API" in str(err.value)
    assert len(sent(emulator, "POST", r"/db2/promoteReplica$")) == 1


def test_sent_once_by_design(api, emulator):
    sql, _store = api
    emulator.faults.add(path_regex=INSTANCE, method="PATCH", status=503, times=1)
    with pytest.raises(GcpError) as err:
        sql.client.request("PATCH", f"{emulator.url}/v1/projects/p1/instances/db1", json=SETTINGS, retry=False)
    assert err.value.attempts == 1 and "sent once by design" in str(err.value)


def test_polling_failure_is_pending_and_names_the_operation(api, emulator):
    sql, _store = api
    op = sql.patch("p1", "db1", SETTINGS)
    emulator.faults.add(path_regex=r"/operations/", status=503, times=None)
    with pytest.raises(GcpError) as err:
        sql.wait(op, "p1", "db1", timeout=10)
    assert err.value.kind == "pending" and err.value.operation == op["name"]
    assert "was submitted and accepted" in str(err.value) and op["name"] in str(err.value)
    assert "Gave up after 3 attempt(s)" in str(err.value)


def test_timeout_is_pending_and_names_the_operation(api):
    sql, store = api
    store.stall_operations = True
    op = sql.patch("p1", "db1", SETTINGS)
    with pytest.raises(GcpError) as err:
        sql.wait(op, "p1", "db1", timeout=0.6)
    assert err.value.kind == "timeout" and err.value.operation == op["name"]
    assert "did not finish within 0.6 s" in str(err.value)


def test_failed_operation_changed_nothing(api):
    sql, store = api
    store.fail_next_operation("db1", "disk full", "INTERNAL_ERROR")
    op = sql.patch("p1", "db1", SETTINGS)
    with pytest.raises(GcpError) as err:
        sql.wait(op, "p1", "db1", timeout=10)
    assert err.value.kind == "operation" and "changed nothing" in str(err.value)
    assert "INTERNAL_ERROR: disk full" in str(err.value)


def test_insert_conflict_on_the_first_attempt_is_never_taken_as_ours(api, emulator):
    """An instance that existed before this call's first attempt is someone else's, even if it looks the same."""
    sql, store = api
    existing = store.instances[("p1", "db1")]
    body = {"name": "db1", "region": existing["region"], "databaseVersion": existing["databaseVersion"],
            "settings": {"tier": "db-custom-2-8192", "ipConfiguration": {
                "ipv4Enabled": False, "privateNetwork": "projects/p1/global/networks/default"}}}
    with pytest.raises(GcpError) as err:
        sql.insert("p1", body)
    assert err.value.status == 409 and err.value.attempts == 1


def test_wait_created_follows_the_instance_state(api, emulator):
    sql, store = api
    store.instances[("p1", "db1")]["state"] = "PENDING_CREATE"
    with pytest.raises(GcpError) as err:
        sql.wait_created("p1", "db1", timeout=0.6)
    assert err.value.kind == "timeout" and "still PENDING_CREATE" in str(err.value)
    store.instances[("p1", "db1")]["state"] = "RUNNABLE"
    assert sql.wait_created("p1", "db1", timeout=5)["name"] == "db1"
