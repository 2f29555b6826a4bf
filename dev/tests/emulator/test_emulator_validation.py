"""Requests checked against the discovery documents: every route mapped, bodies, parameters, scopes, fields=."""

import json
import time

import pytest
import requests
from emulator import Emulator
from emulator.discovery import METHOD_IDS, NoMethodError, _methods, method_for
from emulator.errors import ApiError

CLOUD = "https://www.googleapis.com/auth/cloud-platform"
COMPUTE_RO = "https://www.googleapis.com/auth/compute.readonly"
SQL = "https://www.googleapis.com/auth/sqlservice.admin"


def test_every_google_api_route_maps_to_a_discovery_method():
    router = Emulator().router
    google = [route for route in router.routes if route.google]
    assert google, "no Google API route registered"
    unmapped = []
    for route in google:
        try:
            spec = method_for(route.kind)
        except NoMethodError as exc:
            unmapped.append(str(exc))
            continue
        if spec is None:
            unmapped.append(f"{route.kind}: no discovery document for its API (add it to DOCUMENTS)")
            continue
        assert route.method_spec == spec
        assert spec.http_method == route.method, f"{route.kind}: served on {route.method}, not {spec.http_method}"
        assert spec.response and route.schema == (spec.document, spec.response), route.kind
    assert unmapped == []


def test_the_mapping_table_names_only_real_methods():
    for kind, method_id in METHOD_IDS.items():
        spec = method_for(kind)
        assert spec is not None and spec.id == method_id
        assert method_id in _methods(spec.document)
    with pytest.raises(NoMethodError, match=r"sqladmin\.v1 has no method 'sqladmin\.instances\.explode'"):
        method_for("sqladmin.instances.explode")
    assert method_for("metadata.token") is None  # not a discovery-described API


@pytest.fixture
def sql(emulator):
    emulator.add_access_token("tok-sql", scopes=[SQL])
    store = emulator.services["sqladmin"]
    store.operation_seconds = 0.05
    store.add_instance("p1", "db-us", region="us-east4", private_ip="10.20.0.5", dns_name="db-us.x.sql.goog")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-sql"
    return emulator, session, f"{emulator.url}/v1/projects/p1/instances/db-us"


def _violations(response):
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    (detail,) = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    return error["message"], detail["fieldViolations"]


def test_nested_unknown_keys_are_refused_at_their_path(sql):
    emulator, session, url = sql
    body = {"settings": {"backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabld": True}, "tierr": "x"}}
    response = session.patch(url, json=body)
    assert response.status_code == 400
    message, violations = _violations(response)
    assert message.splitlines() == [
        'Invalid JSON payload received. Unknown name "pointInTimeRecoveryEnabld" at '
        "'body.settings.backup_configuration': Cannot find field.",
        "Invalid JSON payload received. Unknown name \"tierr\" at 'body.settings': Cannot find field.",
    ]
    assert [v["field"] for v in violations] == ["body.settings.backup_configuration", "body.settings"]
    # nothing was applied: the handler never saw the request
    settings = session.get(url).json()["settings"]
    assert "pointInTimeRecoveryEnabld" not in json.dumps(settings)
    assert not any(r.kind == "sqladmin.operations.get" for r in emulator.requests)


@pytest.mark.parametrize(
    ("settings", "path", "label", "rendered"),
    [
        ({"deletionProtectionEnabled": "yes"}, "body.settings.deletion_protection_enabled", "TYPE_BOOL", '"yes"'),
        (
            {"availabilityType": "MULTI_REGION"},
            "body.settings.availability_type",
            "type.googleapis.com/google.cloud.sql.v1.AvailabilityType",
            '"MULTI_REGION"',
        ),
        (
            {"backupConfiguration": {"backupRetentionSettings": {"retentionUnit": "DAYS"}}},
            "body.settings.backup_configuration.backup_retention_settings.retention_unit",
            "type.googleapis.com/google.cloud.sql.v1.RetentionUnit",
            '"DAYS"',
        ),
        ({"settingsVersion": "twelve"}, "body.settings.settings_version", "TYPE_INT64", '"twelve"'),
        ({"dataDiskSizeGb": 1.5}, "body.settings.data_disk_size_gb", "TYPE_INT64", "1.5"),
        ({"tier": 7}, "body.settings.tier", "TYPE_STRING", "7"),
        ({"userLabels": {"team": 3}}, "body.settings.user_labels[team]", "TYPE_STRING", "3"),
        (
            {"databaseFlags": [{"name": "a", "value": True}]},
            "body.settings.database_flags[0].value",
            "TYPE_STRING",
            "true",
        ),
    ],
)
def test_bad_values_are_refused_with_the_type_google_names(sql, settings, path, label, rendered):
    _, session, url = sql
    response = session.patch(url, json={"settings": settings})
    assert response.status_code == 400, response.text
    message, violations = _violations(response)
    assert message == f"Invalid value at '{path}' ({label}), {rendered}"
    assert violations == [{"field": path, "description": message}]


def test_valid_bodies_pass_int64_as_string_or_number_and_output_only_fields_are_ignored(sql):
    emulator, session, url = sql
    before = session.get(url).json()
    version = before["settings"]["settingsVersion"]
    body = {
        "dnsName": "evil.example.com",  # output only
        "settings": {
            "settingsVersion": int(version),  # int64 as a JSON number is valid proto3 JSON
            "dataDiskSizeGb": "20",
            "userLabels": {"team": "db"},
            "backupConfiguration": {"backupTier": "ENHANCED", "startTime": "03:00"},  # backupTier: output only
            "databaseFlags": [{"name": "max_connections", "value": "200"}],
        },
    }
    response = session.patch(url, json=body)
    assert response.status_code == 200, response.text
    operation = f"{emulator.url}/v1/projects/p1/operations/{response.json()['name']}"
    deadline = time.monotonic() + 5
    while session.get(operation).json()["status"] != "DONE":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    instance = session.get(url).json()
    assert instance["dnsName"] == before["dnsName"] != "evil.example.com"
    assert instance["settings"]["userLabels"] == {"team": "db"}
    assert "backupTier" not in instance["settings"].get("backupConfiguration", {})
    patch = next(r for r in emulator.requests if r.kind == "sqladmin.instances.patch")
    assert json.loads(patch.raw_body)["dnsName"] == "evil.example.com"  # what was sent stays recorded
    assert "dnsName" not in patch.json()  # what the service acted on


def test_malformed_json_is_refused(sql):
    _, session, url = sql
    response = session.patch(url, data=b'{"settings": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid JSON payload received.")


def test_undocumented_and_badly_typed_query_parameters(sql):
    emulator, session, url = sql
    unknown = session.get(url, params={"view": "FULL"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "view": Cannot bind query parameter. '
        "Field 'view' could not be found in request message."
    )
    bad_alt = session.get(url, params={"alt": "xml"})  # the document's own system parameters are typed too
    assert bad_alt.status_code == 400
    assert bad_alt.json()["error"]["message"] == "Invalid value at 'alt' (TYPE_ENUM), \"xml\""
    # documented ones and Google's system parameters pass
    assert session.get(url, params={"location": "us-east4", "quotaUser": "x", "$.xgafv": "2"}).status_code == 200
    emulator.add_project("p1", ["us-central1-a"])
    emulator.add_access_token("tok-compute", scopes=[COMPUTE_RO])
    headers = {"Authorization": "Bearer tok-compute"}
    compute = f"{emulator.url}/compute/v1/projects/p1/aggregated/instances"
    bad_int = requests.get(compute, params={"maxResults": "ten"}, headers=headers, timeout=10)
    assert bad_int.status_code == 400
    assert bad_int.json()["error"]["message"] == "Invalid value at 'max_results' (TYPE_UINT32), \"ten\""
    bad_bool = requests.get(compute, params={"includeAllScopes": "yes"}, headers=headers, timeout=10)
    assert bad_bool.status_code == 400
    assert "(TYPE_BOOL)" in bad_bool.json()["error"]["message"]
    ok = requests.get(compute, params={"includeAllScopes": "true", "maxResults": "5"}, headers=headers, timeout=10)
    assert ok.status_code == 200, ok.text


def test_sqladmin_field_selection_typos_are_refused(sql):
    _, session, url = sql
    good = session.get(url, params={"fields": "name,settings/tier"})
    assert good.status_code == 200 and set(good.json()) == {"name", "settings"}
    typo = session.get(url, params={"fields": "name,setings/tier"})
    assert typo.status_code == 400
    assert typo.json()["error"]["message"] == "Invalid field selection setings"
    op = session.get(url.rsplit("/instances/", 1)[0] + "/operations/none", params={"fields": "statuss"})
    assert op.status_code == 404  # the resource error comes first, as the handler answers before encoding


def _scope_error(response, service, method):
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"] == "Request had insufficient authentication scopes."
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert error["details"][0]["metadata"] == {"service": service, "method": method}


def test_scopes_come_from_the_method(emulator):
    emulator.add_project("p1", ["us-central1-a"])
    emulator.services["secretmanager"].add_version("p1", "db-password", "s3cret")
    emulator.services["sqladmin"].add_instance("p1", "db-us")
    emulator.add_access_token("compute-only", scopes=[COMPUTE_RO])
    emulator.add_access_token("cloud", scopes=[CLOUD])
    secret = f"{emulator.url}/v1/projects/p1/secrets/db-password/versions/latest:access"
    instance = f"{emulator.url}/v1/projects/p1/instances/db-us"
    compute = f"{emulator.url}/compute/v1/projects/p1/zones"
    for token, url, expected in (
        ("compute-only", compute, 200),
        ("cloud", secret, 200),
        ("cloud", instance, 200),
    ):
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == expected, (token, url, response.text)
    _scope_error(
        requests.get(secret, headers={"Authorization": "Bearer compute-only"}, timeout=10),
        "secretmanager.googleapis.com",
        "secretmanager.projects.secrets.versions.access",
    )
    _scope_error(
        requests.get(instance, headers={"Authorization": "Bearer compute-only"}, timeout=10),
        "sqladmin.googleapis.com",
        "sql.instances.get",
    )
    # the 401 for a missing token still comes first
    assert requests.get(secret, params={"bogus": "1"}, timeout=10).status_code == 401


def test_compute_bodies_output_only_and_error_paths():
    """Compute marks output-only fields "[Output Only]" and names its body after the resource."""
    insert = method_for("compute.instances.insert")
    body = {
        "name": "vm-1",
        "id": "123",  # [Output Only]
        "status": "RUNNING",  # [Output Only]
        "labels": {"role": "engine"},
        "networkInterfaces": [{"network": "global/networks/default", "kind": "compute#networkInterface"}],
    }
    assert insert.clean_body(json.dumps(body).encode()) == {
        "name": "vm-1",
        "labels": {"role": "engine"},
        "networkInterfaces": [{"network": "global/networks/default"}],
    }
    bad = {"networkInterfaces": [{"netwrk": "n"}], "scheduling": {"preemptible": "no"}, "canIpForward": None}
    with pytest.raises(ApiError) as raised:
        insert.clean_body(json.dumps(bad).encode())
    assert raised.value.code == 400
    assert raised.value.message.splitlines() == [
        "Invalid JSON payload received. Unknown name \"netwrk\" at 'instance_resource.network_interfaces[0]': "
        "Cannot find field.",
        "Invalid value at 'instance_resource.scheduling.preemptible' (TYPE_BOOL), \"no\"",
    ]
