"""The shared GCP client (plugins/module_utils/gcp) against the emulator over real HTTP."""

import json
import socket
import threading

import pytest

from tests.unit.plugins.gce_helpers import gcp_modules, instance

auth, client, compute, errors = gcp_modules()
GcpError = errors.GcpError

FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


def make_client(params, **settings):
    return client.GcpClient(auth.build_credentials(params), **{**FAST, **settings})


def sa_params(sa_key_file):
    return {"auth_kind": "serviceaccount", "service_account_file": str(sa_key_file)}


@pytest.fixture
def project(emulator):
    emulator.add_project("p1", zones=["us-central1-a", "europe-west4-b"])
    emulator.add_instances("p1", [
        instance("p1", "us-central1-a", f"vm-{i}", ip=f"10.0.0.{i + 2}") for i in range(7)
    ])
    return "p1"


def list_url(emulator, project):
    return f"{emulator.url}/compute/v1/projects/{project}/aggregated/instances"


def test_one_token_shared_by_concurrent_requests(emulator, sa_key_file, project):
    c = make_client(sa_params(sa_key_file), pool_size=8)
    errors = []

    def work():
        try:
            for _attempt in range(5):
                c.get_json(list_url(emulator, project))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _thread in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert emulator.tokens_issued == 1
    assert c.request_count == 40
    token_posts = [r for r in emulator.requests if r.path == "/token"]
    assert len(token_posts) == 1


def test_expired_token_is_refreshed_once_after_401(emulator, sa_key_file, project):
    c = make_client(sa_params(sa_key_file))
    c.get_json(list_url(emulator, project))
    emulator.faults.add(path_regex=r"/compute/", expire_token=True, times=1)
    page = c.get_json(list_url(emulator, project))
    assert page["items"]
    assert emulator.tokens_issued == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retryable_status_is_retried_then_succeeds(emulator, sa_key_file, project, status):
    c = make_client(sa_params(sa_key_file))
    emulator.faults.add(path_regex=r"/aggregated/instances", status=status, times=2)
    page = c.get_json(list_url(emulator, project))
    assert len(page["items"]["zones/us-central1-a"]["instances"]) == 7
    assert len([r for r in emulator.requests if "/aggregated/" in r.path]) == 3


def test_malformed_body_is_retried(emulator, sa_key_file, project):
    c = make_client(sa_params(sa_key_file))
    emulator.faults.add(path_regex=r"/aggregated/instances", malformed=True, times=1)
    assert c.get_json(list_url(emulator, project))["items"]


def test_retries_are_bounded(emulator, sa_key_file, project):
    c = make_client(sa_params(sa_key_file), retries=2)
    emulator.faults.add(path_regex=r"/aggregated/instances", status=503, times=None)
    with pytest.raises(GcpError) as err:
        c.get_json(list_url(emulator, project), context={"project": project, "resource": "instances"})
    assert len([r for r in emulator.requests if "/aggregated/" in r.path]) == 3
    assert "HTTP 503" in str(err.value) and "p1" in str(err.value)


def test_network_failure_after_retries(sa_key_file, emulator):
    c = make_client(sa_params(sa_key_file), retries=2, timeout=2)
    c.ensure_token()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GcpError) as err:
        c.get_json(f"http://127.0.0.1:{port}/compute/v1/projects/p/aggregated/instances",
                   context={"project": "p", "resource": "instances", "endpoint_option": "api_endpoint"})
    assert err.value.kind == "network"
    assert "Gave up after 3 attempt(s) over" in str(err.value) and "api_endpoint" in str(err.value)
    assert err.value.attempts == 3 and err.value.elapsed > 0


def test_error_messages_name_project_permission_and_fix(emulator, sa_key_file):
    c = make_client(sa_params(sa_key_file))
    api = compute.ComputeApi(c, emulator.url)
    for name, kind in (("gone", "not_found"), ("locked", "permission_denied"), ("off", "api_disabled")):
        emulator.add_project(name, zones=["us-central1-a"])
        emulator.set_project_error(name, kind)
    with pytest.raises(GcpError) as err:
        list(api.aggregated_instances("gone"))
    assert err.value.kind == "not_found" and "Project 'gone' was not found" in str(err.value)
    with pytest.raises(GcpError) as err:
        list(api.aggregated_instances("locked"))
    assert err.value.kind == "permission_denied"
    assert "compute.instances.list" in str(err.value) and "'locked'" in str(err.value)
    with pytest.raises(GcpError) as err:
        list(api.aggregated_instances("off"))
    assert err.value.kind == "api_disabled"
    assert "Compute Engine API is disabled in project 'off'" in str(err.value)
    assert "gcloud services enable compute.googleapis.com --project off" in str(err.value)


def test_bad_filter_is_explained(emulator, sa_key_file, project):
    api = compute.ComputeApi(make_client(sa_params(sa_key_file)), emulator.url)
    with pytest.raises(GcpError) as err:
        list(api.aggregated_instances(project, filter_expr="name eq 'a.*' AND status = RUNNING"))
    assert err.value.kind == "bad_request"
    assert "'filter' option" in str(err.value)


def test_listing_sends_only_documented_parameters(emulator, sa_key_file, project):
    """Compute v1 documents no returnPartialSuccess: a listing is one request per page, never a 400 and a retry."""
    api = compute.ComputeApi(make_client(sa_params(sa_key_file)), emulator.url)
    pages = list(api.aggregated_instances(project))
    assert pages[0]["items"]
    sent = [r for r in emulator.requests if "/aggregated/" in r.path]
    assert len(sent) == len(pages) and {r.status for r in sent} == {200}
    assert not any("returnPartialSuccess" in r.query for r in sent)


def test_pagination_follows_every_page(emulator, sa_key_file, project):
    c = make_client(sa_params(sa_key_file))
    url = f"{emulator.url}/compute/v1/projects/{project}/zones/us-central1-a/instances"
    pages = list(c.paginate(url, params={"maxResults": "2"}))
    assert len(pages) == 4
    assert sorted(i["name"] for p in pages for i in p.get("items", [])) == [f"vm-{i}" for i in range(7)]


def test_gzip_and_user_agent(emulator, sa_key_file, project):
    make_client(sa_params(sa_key_file)).get_json(list_url(emulator, project))
    req = next(r for r in emulator.requests if "/aggregated/" in r.path)
    assert "gzip" in req.headers.get("User-Agent", "")
    assert "gzip" in req.headers.get("Accept-Encoding", "")


def test_zones_listing(emulator, sa_key_file, project):
    api = compute.ComputeApi(make_client(sa_params(sa_key_file)), emulator.url)
    assert sorted(api.zones(project)) == [("europe-west4-b", "europe-west4"), ("us-central1-a", "us-central1")]


# -- credentials -----------------------------------------------------------------------------

def test_service_account_contents_string(emulator, project):
    key = json.dumps(emulator.make_service_account())
    c = make_client({"auth_kind": "serviceaccount", "service_account_contents": key})
    assert c.get_json(list_url(emulator, project))["items"]
    assert emulator.tokens_issued == 1


def test_access_token(emulator, project):
    emulator.add_access_token("ya29.static-test-token")
    c = make_client({"auth_kind": "accesstoken", "access_token": "ya29.static-test-token"})
    c.get_json(list_url(emulator, project))
    c.get_json(list_url(emulator, project))
    assert emulator.tokens_issued == 0  # nothing to mint: the token is used as given
    auth_headers = {r.headers.get("Authorization") for r in emulator.requests if "/compute/" in r.path}
    assert auth_headers == {"Bearer ya29.static-test-token"}


def test_rejected_access_token_is_a_clear_error(emulator, project):
    c = make_client({"auth_kind": "accesstoken", "access_token": "ya29.not-known"})
    with pytest.raises(GcpError) as err:
        c.get_json(list_url(emulator, project))
    assert "ya29.not-known" not in str(err.value)
    assert err.value.kind in ("credentials", "unauthenticated")


def test_machine_account_uses_metadata_server(metadata_env, project):
    emulator = metadata_env
    c = make_client({"auth_kind": "machineaccount"})
    c.get_json(list_url(emulator, project))
    c.get_json(list_url(emulator, project))
    assert emulator.tokens_issued == 1
    assert any(r.path.startswith("/computeMetadata/v1/instance/service-accounts/") for r in emulator.requests)


def test_impersonation_through_iam_endpoint(emulator, sa_key_file, project):
    target = emulator.make_service_account(email="inventory@proj.iam.gserviceaccount.com")["client_email"]
    c = make_client({"auth_kind": "impersonate", "service_account_file": str(sa_key_file),
                     "impersonate_service_account": target, "iam_endpoint": emulator.url})
    c.get_json(list_url(emulator, project))
    c.get_json(list_url(emulator, project))
    gen = [r for r in emulator.requests if r.path.endswith(":generateAccessToken")]
    assert len(gen) == 1 and target in gen[0].path
    # one source token (JWT grant) and one impersonated token, each fetched once
    assert emulator.tokens_issued == 2


def test_application_default_credentials(emulator, sa_key_file, project, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_key_file))
    c = make_client({"auth_kind": "application"})
    c.get_json(list_url(emulator, project))
    assert emulator.tokens_issued == 1


def test_get_client_shares_one_session_per_credential(emulator, sa_key_file, project):
    params = sa_params(sa_key_file)
    first = client.get_client(params, **FAST)
    assert client.get_client(dict(params), **FAST) is first
    assert client.get_client({**params, "scopes": ["https://www.googleapis.com/auth/compute"]}, **FAST) is not first


def test_client_from_options_is_one_builder_for_params_and_plugin_options(emulator, sa_key_file, project):
    """Module params (a dict's get) and plugin options (a getter) with the same values share one client."""
    module_params = {**sa_params(sa_key_file), "retry_backoff": 0.01, "retry_backoff_max": 0.05,
                     "timeout": 30, "retries": 5, "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                     "iam_endpoint": "https://iamcredentials.googleapis.com", "impersonate_delegates": []}
    plugin_options = {"auth_kind": "serviceaccount", "service_account_file": str(sa_key_file), "timeout": 30,
                      "retries": 5, "retry_backoff": 0.01, "retry_backoff_max": 0.05}
    first = client.client_from_options(module_params.get)
    assert client.client_from_options(plugin_options.get) is first
    assert (first.timeout, first.retries, first.backoff_base, first.backoff_max) == (30.0, 5, 0.01, 0.05)
    first.get_json(list_url(emulator, project))
    # a call that needs its own scopes gets its own client and token, with exactly those scopes
    login = client.client_from_options(module_params.get, scopes=["https://www.googleapis.com/auth/sqlservice.login"])
    assert login is not first
    assert login.credentials.scopes == ["https://www.googleapis.com/auth/sqlservice.login"]
    login.ensure_token()
    assert emulator.tokens_issued == 2


@pytest.mark.parametrize(("params", "needle"), [
    ({"auth_kind": "serviceaccount", "service_account_file": "/nonexistent/key.json"}, "does not exist"),
    ({"auth_kind": "serviceaccount"}, "needs service_account_file"),
    ({"auth_kind": "serviceaccount", "service_account_contents": "{not json"}, "not valid JSON"),
    ({"auth_kind": "accesstoken"}, "needs access_token"),
    ({"auth_kind": "impersonate"}, "needs impersonate_service_account"),
    ({"auth_kind": "kerberos"}, "not supported"),
])
def test_credential_errors(params, needle):
    with pytest.raises(GcpError) as err:
        auth.build_credentials(params)
    assert needle in str(err.value)


def test_key_file_that_is_not_json(tmp_path):
    bad = tmp_path / "key.json"
    bad.write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(GcpError, match="is not a JSON service-account key"):
        auth.build_credentials({"auth_kind": "serviceaccount", "service_account_file": str(bad)})


@pytest.fixture
def sql(emulator):
    store = emulator.services["sqladmin"]
    store.operation_seconds = 0.3
    store.add_instance("p1", "db1")
    return store


def patch_db(emulator, c):
    url = f"{emulator.url}/v1/projects/p1/instances/db1"
    return c.request("PATCH", url, json={"settings": {"userLabels": {"a": "b"}}}).json()


def op_url(emulator, op):
    """Where a caller polls an operation: its own endpoint and the operation's name (never the selfLink)."""
    return f"{emulator.url}/v1/projects/p1/operations/{op['name']}"


def test_operation_polled_until_done(emulator, sa_key_file, sql):
    c = make_client(sa_params(sa_key_file))
    op = patch_db(emulator, c)
    assert op["status"] != "DONE"
    done = c.wait_operation(op_url(emulator, op), op, timeout=20, poll_interval=0.05)
    assert done["status"] == "DONE"
    polls = [r for r in emulator.requests if "/operations/" in r.path]
    assert len(polls) >= 2


def test_operation_error_raised(emulator, sa_key_file, sql):
    c = make_client(sa_params(sa_key_file))
    sql.fail_next_operation("db1", message="disk full", code="INTERNAL_ERROR")
    op = patch_db(emulator, c)
    with pytest.raises(GcpError, match="INTERNAL_ERROR: disk full") as err:
        c.wait_operation(op_url(emulator, op), op, timeout=20, poll_interval=0.05)
    assert err.value.kind == "operation"


def test_operation_timeout(emulator, sa_key_file, sql):
    c = make_client(sa_params(sa_key_file))
    sql.stall_operations = True
    op = patch_db(emulator, c)
    with pytest.raises(GcpError, match=r"did not finish within 0\.5 s") as err:
        c.wait_operation(op_url(emulator, op), op, timeout=0.5, poll_interval=0.05)
    assert err.value.kind == "timeout"


def test_operation_without_url():
    c = client.GcpClient.__new__(client.GcpClient)
    with pytest.raises(GcpError, match="without its URL"):
        c.wait_operation("", {"name": "op-1", "status": "RUNNING"})
