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
