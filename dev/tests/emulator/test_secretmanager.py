"""The emulator's Secret Manager v1 versions.access over real HTTP: shape, CRC32C, errors."""

import base64

import pytest
import requests
from discovery_schema import check
from emulator.services.secretmanager import crc32c, project_number


@pytest.fixture
def sm(emulator):
    emulator.add_access_token("tok-sm")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-sm"
    return emulator.services["secretmanager"], session, f"{emulator.url}/v1/projects/p1/secrets"


def test_crc32c_known_vector():
    # RFC 3720 appendix B.4 check value for "123456789"
    assert crc32c(b"123456789") == 0xE3069283


def test_access_latest_returns_data_and_checksum(sm):
    store, session, base = sm
    store.add_version("p1", "db-password", "first")
    store.add_version("p1", "db-password", "s3cr\u00e9t:with\\chars")
    body = session.get(f"{base}/db-password/versions/latest:access").json()
    assert check(body, "AccessSecretVersionResponse", doc="secretmanager.v1") == []
    assert body["name"] == f"projects/{project_number('p1')}/secrets/db-password/versions/2"
    raw = base64.b64decode(body["payload"]["data"])
    assert raw.decode() == "s3cr\u00e9t:with\\chars"
    assert body["payload"]["dataCrc32c"] == str(crc32c(raw))
    first = session.get(f"{base}/db-password/versions/1:access").json()
    assert base64.b64decode(first["payload"]["data"]) == b"first"


def test_missing_secret_version_disabled_and_denied(sm):
    store, session, base = sm
    assert session.get(f"{base}/nope/versions/latest:access").status_code == 404
    store.add_version("p1", "s", "x")
    assert session.get(f"{base}/s/versions/9:access").status_code == 404
    store.set_version_state("p1", "s", 1, "DISABLED")
    resp = session.get(f"{base}/s/versions/1:access")
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "FAILED_PRECONDITION"
    store.deny("p1", "s")
    resp = session.get(f"{base}/s/versions/latest:access")
    assert resp.status_code == 403 and "secretmanager.versions.access" in resp.json()["error"]["message"]


def test_a_wrong_checksum_is_served_when_asked(sm):
    store, session, base = sm
    store.add_version("p1", "bad", "payload", crc32c_override=12345)
    assert session.get(f"{base}/bad/versions/latest:access").json()["payload"]["dataCrc32c"] == "12345"


def test_lab_secrets_come_from_the_lab_directory(emulator, tmp_path):
    (tmp_path / "instances.json").write_text("[]")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "nearzero-db-password").write_text("labpass\n")
    (tmp_path / "cloudsql.json").write_text('{"project": "lab-p", "instances": [], "ca_file": "x"}')
    emulator.load_lab(tmp_path)
    emulator.add_access_token("tok-lab")
    resp = requests.get(f"{emulator.url}/v1/projects/lab-p/secrets/nearzero-db-password/versions/latest:access",
                        headers={"Authorization": "Bearer tok-lab"}, timeout=10)
    assert base64.b64decode(resp.json()["payload"]["data"]) == b"labpass"
    other = requests.get(f"{emulator.url}/v1/projects/other/secrets/nearzero-db-password/versions/latest:access",
                         headers={"Authorization": "Bearer tok-lab"}, timeout=10)
    assert other.status_code == 404


def test_a_name_with_the_project_number_reads_the_same_secret(sm, emulator):
    store, session, _ = sm
    store.add_version("p1", "by-number", "n-value")
    number = project_number("p1")
    # the number is the one the metadata server gives the project, too
    emulator.metadata_project = "p1"
    flavor = {"Metadata-Flavor": "Google"}
    assert requests.get(f"{emulator.url}/computeMetadata/v1/project/numeric-project-id", headers=flavor,
                        timeout=10).text == number
    body = session.get(f"{emulator.url}/v1/projects/{number}/secrets/by-number/versions/latest:access").json()
    assert base64.b64decode(body["payload"]["data"]) == b"n-value"
    assert body["name"] == f"projects/{number}/secrets/by-number/versions/1"
    # an unknown number is just a missing secret
    assert session.get(f"{emulator.url}/v1/projects/999999999999/secrets/by-number/versions/latest:access"
                       ).status_code == 404


def test_regional_secrets_live_under_their_location(sm, emulator):
    store, session, base = sm
    store.add_version("p1", "db-password", "regional", location="europe-west3")
    regional = f"{emulator.url}/v1/projects/p1/locations/europe-west3/secrets/db-password/versions/latest:access"
    body = session.get(regional).json()
    assert check(body, "AccessSecretVersionResponse", doc="secretmanager.v1") == []
    assert base64.b64decode(body["payload"]["data"]) == b"regional"
    assert body["name"] == f"projects/{project_number('p1')}/locations/europe-west3/secrets/db-password/versions/1"
    # the global secret of the same ID, and the same ID in another location, are other secrets
    assert session.get(f"{base}/db-password/versions/latest:access").status_code == 404
    other = regional.replace("europe-west3", "us-east4")
    missing = session.get(other)
    assert missing.status_code == 404 and "locations/us-east4/secrets/db-password" in missing.json()["error"]["message"]
    # by number too
    number = project_number("p1")
    assert session.get(regional.replace("/projects/p1/", f"/projects/{number}/")).status_code == 200


@pytest.mark.parametrize("scopes", [
    ["https://www.googleapis.com/auth/compute.readonly"],
    ["https://www.googleapis.com/auth/sqlservice.admin", "https://www.googleapis.com/auth/devstorage.read_only"],
])
def test_a_token_without_cloud_platform_is_refused(sm, emulator, scopes):
    store, _session, base = sm
    store.add_version("p1", "s", "x")
    emulator.add_access_token("tok-narrow", scopes=scopes)
    resp = requests.get(f"{base}/s/versions/latest:access", headers={"Authorization": "Bearer tok-narrow"},
                        timeout=10)
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["message"] == "Request had insufficient authentication scopes."
    assert error["status"] == "PERMISSION_DENIED"
    assert [d["reason"] for d in error["details"]] == ["ACCESS_TOKEN_SCOPE_INSUFFICIENT"]
    assert "insufficient_scope" in resp.headers["WWW-Authenticate"]


def test_a_vm_token_without_cloud_platform_is_refused_through_google_auth(emulator, metadata_env):
    """A VM's token from the metadata server, through google-auth's compute_engine credentials."""
    from google.auth import compute_engine
    from google.auth.transport.requests import AuthorizedSession

    store = emulator.services["secretmanager"]
    store.add_version("p1", "s", "x")
    url = f"{emulator.url}/v1/projects/p1/secrets/s/versions/latest:access"
    emulator.metadata_scopes = ["https://www.googleapis.com/auth/compute.readonly"]
    narrow = AuthorizedSession(compute_engine.Credentials())
    assert narrow.get(url).status_code == 403
    emulator.metadata_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    wide = AuthorizedSession(compute_engine.Credentials())
    resp = wide.get(url)
    assert resp.status_code == 200 and base64.b64decode(resp.json()["payload"]["data"]) == b"x"
