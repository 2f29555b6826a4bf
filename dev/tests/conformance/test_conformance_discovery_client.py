"""googleapiclient, built from the pinned discovery documents, judges the emulator.

Covers every call the product code makes (plugins/: compute instances aggregatedList/list/get,
zones.list, networks.get; sqladmin instances get/patch/insert/promoteReplica/listServerCas,
connect.get, operations.get; secretmanager versions.access; storage objects.get and media; the
metadata server's token), then what Google refuses: bad bodies, undocumented parameters, bad field
selections and tokens without the method's scopes. googleapiclient raises ``HttpError`` for every
HTTP error, so the judge is that class plus the status and reason it parsed from Google's body.
"""

import base64
import time

import google.auth.compute_engine
import google.auth.transport.requests
import pytest
from conformance_world import DEPLOYER, OBJECT, PROJECT, SECRET, ZONES
from emulator.services.secretmanager import project_number
from googleapiclient.errors import HttpError

# -- the calls the product makes -----------------------------------------------------------------


def test_compute_listing_calls(build, world):
    compute = build("compute", "v1", "compute-ro")
    instances = compute.instances()
    names = []
    request = instances.aggregatedList(
        project=PROJECT, maxResults=2, fields="items/*/instances(name,zone),nextPageToken"
    )
    pages = 0
    while request is not None:
        page = request.execute()
        pages += 1
        for scoped in page.get("items", {}).values():
            names.extend(i["name"] for i in scoped.get("instances", []))
        request = instances.aggregatedList_next(request, page)
    assert pages >= 5 and len(names) == 9 == len(set(names))
    zonal = []
    for zone in ZONES:
        zonal.extend(i["name"] for i in instances.list(project=PROJECT, zone=zone).execute().get("items", []))
    assert sorted(zonal) == sorted(names)
    one = instances.list(project=PROJECT, zone=ZONES[0]).execute()["items"][0]
    got = instances.get(project=PROJECT, zone=ZONES[0], instance=one["name"]).execute()
    assert got["id"] == one["id"] and got["kind"] == "compute#instance"
    zones = compute.zones().list(project=PROJECT, fields="items(name,region)").execute()["items"]
    assert sorted(z["name"] for z in zones) == sorted(ZONES)
    assert compute.networks().get(project=PROJECT, network="default", fields="mtu").execute() == {"mtu": 1460}


def _wait(sql, operation, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        op = sql.operations().get(project=PROJECT, operation=operation["name"]).execute()
        if op["status"] == "DONE":
            return op
        assert time.monotonic() < deadline, f"operation {operation['name']} not DONE"
        time.sleep(0.05)


def test_sqladmin_read_calls(build):
    sql = build("sqladmin", "v1", "sql")
    instance = sql.instances().get(project=PROJECT, instance="db-us").execute()
    assert instance["name"] == "db-us" and instance["settings"]["settingsVersion"].isdigit()
    assert instance["selfLink"].startswith("https://sqladmin.googleapis.com/v1/")
    cas = sql.instances().listServerCas(project=PROJECT, instance="db-us").execute()
    assert cas["certs"][0]["cert"].startswith("-----BEGIN CERTIFICATE-----")
    settings = sql.connect().get(project=PROJECT, instance="db-us").execute()
    assert {"type": "PRIVATE", "ipAddress": "10.20.0.5"} in settings["ipAddresses"]


def test_sqladmin_patch_through_an_operation(build):
    sql = build("sqladmin", "v1", "sql")
    before = sql.instances().get(project=PROJECT, instance="db-us").execute()
    body = {
        "settings": {
            "settingsVersion": before["settings"]["settingsVersion"],
            "userLabels": {"tier": "gold"},
            "ipConfiguration": {"sslMode": "ENCRYPTED_ONLY", "requireSsl": False},
        }
    }
    operation = sql.instances().patch(project=PROJECT, instance="db-us", body=body).execute()
    assert operation["kind"] == "sql#operation" and operation["operationType"] == "UPDATE"
    assert _wait(sql, operation).get("error") is None
    after = sql.instances().get(project=PROJECT, instance="db-us").execute()
    assert after["settings"]["userLabels"] == {"tier": "gold"}
    assert after["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"


def test_sqladmin_insert_of_a_primary_and_promote_replica(build):
    """Interface I2: instances.insert without masterInstanceName creates a primary."""
    sql = build("sqladmin", "v1", "sql")
    body = {
        "name": "db-new",
        "region": "europe-west4",
        "databaseVersion": "POSTGRES_15",
        "settings": {
            "tier": "db-custom-2-7680",
            "ipConfiguration": {"ipv4Enabled": False, "privateNetwork": f"projects/{PROJECT}/global/networks/default"},
        },
    }
    operation = sql.instances().insert(project=PROJECT, body=body).execute()
    assert _wait(sql, operation).get("error") is None
    created = sql.instances().get(project=PROJECT, instance="db-new").execute()
    assert created["instanceType"] == "CLOUD_SQL_INSTANCE" and "masterInstanceName" not in created
    promoted = sql.instances().promoteReplica(project=PROJECT, instance="db-eu").execute()
    assert _wait(sql, promoted).get("error") is None
    assert "masterInstanceName" not in sql.instances().get(project=PROJECT, instance="db-eu").execute()


def test_secret_access_and_storage_object(build):
    secrets = build("secretmanager", "v1")
    name = f"projects/{PROJECT}/secrets/db-password/versions/latest"
    version = secrets.projects().secrets().versions().access(name=name).execute()
    assert base64.b64decode(version["payload"]["data"]) == SECRET
    assert version["name"].endswith("/secrets/db-password/versions/1")
    storage = build("storage", "v1", "storage-ro")
    meta = storage.objects().get(bucket="conf-artifacts", object="engine/v1.tar.gz").execute()
    assert int(meta["size"]) == len(OBJECT) and meta["contentType"] == "application/gzip"
    assert storage.objects().get_media(bucket="conf-artifacts", object="engine/v1.tar.gz").execute() == OBJECT


def test_secrets_by_project_number_and_regional(build):
    secrets = build("secretmanager", "v1")
    number = project_number(PROJECT)
    by_number = f"projects/{number}/secrets/db-password/versions/1"
    version = secrets.projects().secrets().versions().access(name=by_number).execute()
    assert base64.b64decode(version["payload"]["data"]) == SECRET and version["name"] == by_number
    regional = f"projects/{PROJECT}/locations/europe-west3/secrets/eu-password/versions/latest"
    version = secrets.projects().locations().secrets().versions().access(name=regional).execute()
    assert base64.b64decode(version["payload"]["data"]) == SECRET
    assert "/locations/europe-west3/secrets/eu-password/versions/" in version["name"]


def test_impersonation_token_and_its_bad_bodies(build, world):
    accounts = build("iamcredentials", "v1").projects().serviceAccounts()
    name = f"projects/-/serviceAccounts/{DEPLOYER}"
    body = {"scope": ["https://www.googleapis.com/auth/compute.readonly"], "lifetime": "600s"}
    issued = accounts.generateAccessToken(name=name, body=body).execute()
    assert issued["accessToken"] and issued["expireTime"].endswith("Z")
    assert world.auth.tokens[issued["accessToken"]].principal == DEPLOYER
    unknown = _refused(accounts.generateAccessToken(name=name, body=dict(body, lifetim="600s")), 400)
    assert unknown.reason == 'Invalid JSON payload received. Unknown name "lifetim": Cannot find field.'
    duration = _refused(accounts.generateAccessToken(name=name, body=dict(body, lifetime="1h")), 400)
    assert duration.reason == "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), \"1h\""


def test_metadata_token_drives_the_api(metadata_env, build, world):
    credentials = google.auth.compute_engine.Credentials()
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.token and credentials.expiry is not None
    world.metadata_scopes = ["https://www.googleapis.com/auth/compute.readonly"]
    narrow = google.auth.compute_engine.Credentials()
    narrow.refresh(google.auth.transport.requests.Request())
    from googleapiclient import discovery

    compute = discovery.build(
        "compute",
        "v1",
        credentials=narrow,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": world.url + "/compute/v1/"},
    )
    assert compute.zones().list(project=PROJECT).execute()["items"]
    secrets = discovery.build(
        "secretmanager",
        "v1",
        credentials=narrow,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": world.url + "/"},
    )
    with pytest.raises(HttpError) as denied:
        secrets.projects().secrets().versions().access(
            name=f"projects/{PROJECT}/secrets/db-password/versions/latest"
        ).execute()
    assert denied.value.status_code == 403


# -- what Google refuses -----------------------------------------------------------------------


def _refused(request, status):
    with pytest.raises(HttpError) as raised:
        request.execute()
    assert raised.value.status_code == status, raised.value
    return raised.value


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        (
            {"backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabld": True}},
            "Unknown name \"pointInTimeRecoveryEnabld\" at 'body.settings.backup_configuration': Cannot find field.",
        ),
        ({"deletionProtectionEnabled": "yes"}, "Invalid value at 'body.settings.deletion_protection_enabled'"),
        ({"availabilityType": "MULTI_REGION"}, "Invalid value at 'body.settings.availability_type'"),
        (
            {"backupConfiguration": {"backupRetentionSettings": {"retentionUnit": "DAYS"}}},
            "Invalid value at 'body.settings.backup_configuration.backup_retention_settings.retention_unit'",
        ),
    ],
)
def test_bad_bodies_are_refused_and_nothing_is_applied(build, world, settings, needle):
    sql = build("sqladmin", "v1", "sql")
    before = sql.instances().get(project=PROJECT, instance="db-us").execute()
    error = _refused(sql.instances().patch(project=PROJECT, instance="db-us", body={"settings": settings}), 400)
    assert needle in error.reason
    assert error.error_details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert sql.instances().get(project=PROJECT, instance="db-us").execute() == before


def test_undocumented_query_parameters_are_refused(build):
    compute = build("compute", "v1", "compute-ro")
    request = compute.instances().aggregatedList(project=PROJECT)
    request.uri += "&returnPartialSuccess=true"  # googleapiclient itself refuses undocumented keyword arguments
    error = _refused(request, 400)
    assert error.reason == (
        'Invalid JSON payload received. Unknown name "returnPartialSuccess": Cannot bind query parameter. '
        "Field 'returnPartialSuccess' could not be found in request message."
    )
    sql = build("sqladmin", "v1", "sql")
    request = sql.instances().get(project=PROJECT, instance="db-us")
    request.uri += "&view=FULL"
    _refused(request, 400)


def test_bad_field_selections_are_refused(build):
    sql = build("sqladmin", "v1", "sql")
    error = _refused(sql.instances().get(project=PROJECT, instance="db-us", fields="name,setings"), 400)
    assert "Invalid field selection setings" in error.reason
    compute = build("compute", "v1", "compute-ro")
    _refused(compute.instances().aggregatedList(project=PROJECT, fields="items/*/instances(nmae)"), 400)
    assert sql.instances().get(project=PROJECT, instance="db-us", fields="name").execute() == {"name": "db-us"}


@pytest.mark.parametrize(
    ("api", "call"),
    [
        (
            "secretmanager",
            lambda s: (
                s.projects().secrets().versions().access(name=f"projects/{PROJECT}/secrets/db-password/versions/latest")
            ),
        ),
        ("sqladmin", lambda s: s.instances().get(project=PROJECT, instance="db-us")),
        ("storage", lambda s: s.objects().get(bucket="conf-artifacts", object="engine/v1.tar.gz")),
    ],
)
def test_tokens_without_the_methods_scopes_are_refused(build, api, call):
    version = "v1"
    error = _refused(call(build(api, version, "compute-ro")), 403)
    assert error.reason == "Request had insufficient authentication scopes."
    assert error.error_details[0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert call(build(api, version, "cloud")).execute()
