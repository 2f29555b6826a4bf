"""gcs_object: a gs:// object downloaded through the emulator's Cloud Storage API by `ansible -m`, sha256-verified."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))

DATA = b"release bytes " * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def env():
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GCP_", "GOOGLE_", "GCE_"))}
    base.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PATH=f"{BIN}:{base.get('PATH', '')}")
    return base


def run(**args):
    proc = subprocess.run([str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m",
                           "nearzero.gcp.gcs_object", "-a", json.dumps(args), "-e",
                           f"ansible_python_interpreter={sys.executable}", "-o"],
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout.split("=>", 1)[1] if "=>" in proc.stdout else "{}"
    return proc, json.loads(out)


@pytest.fixture
def bucket(emulator):
    emulator.services["storage"].put("nz-releases", "engine/nearzero-engine-1.0.0.tar.gz", DATA)
    return emulator


def media_gets(emulator):
    return [r for r in emulator.requests if r.kind == "storage.objects.get" and r.query.get("alt") == ["media"]]


def test_download_then_nothing_to_do(bucket, sa_key_file, tmp_path):
    dest = tmp_path / "a.tar.gz"
    args = dict(src="gs://nz-releases/engine/nearzero-engine-1.0.0.tar.gz", dest=str(dest), sha256=SHA,
                auth_kind="serviceaccount", service_account_file=str(sa_key_file), endpoint=bucket.url)
    proc, out = run(**args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["changed"] is True and out["sha256"] == SHA and out["size"] == len(DATA)
    assert dest.read_bytes() == DATA
    assert len(media_gets(bucket)) == 1
    # the object name is sent URL-encoded as one path segment, as the JSON API requires
    assert media_gets(bucket)[0].path.endswith("/o/engine%2Fnearzero-engine-1.0.0.tar.gz")
    proc, out = run(**args)
    assert proc.returncode == 0 and out["changed"] is False
    assert len(media_gets(bucket)) == 1  # already there with the right sha256: no request


def test_checksum_mismatch_leaves_dest_untouched(bucket, sa_key_file, tmp_path):
    dest = tmp_path / "a.tar.gz"
    dest.write_bytes(b"previous content")
    proc, out = run(src="gs://nz-releases/engine/nearzero-engine-1.0.0.tar.gz", dest=str(dest), sha256="0" * 64,
                    auth_kind="serviceaccount", service_account_file=str(sa_key_file), endpoint=bucket.url)
    assert proc.returncode != 0
    assert f"has sha256 {SHA}, expected {'0' * 64}: refusing it" in out["msg"]
    assert dest.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".gcs-")) == []


def test_missing_object_names_it(bucket, sa_key_file, tmp_path):
    proc, out = run(src="gs://nz-releases/engine/nope.tar.gz", dest=str(tmp_path / "x"), sha256=SHA,
                    auth_kind="serviceaccount", service_account_file=str(sa_key_file), endpoint=bucket.url)
    assert proc.returncode != 0
    assert "object gs://nz-releases/engine/nope.tar.gz was not found (HTTP 404" in out["msg"]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("src", "message"), [
    ("https://example.com/x.tar.gz", "is not a Cloud Storage URL; use gs://BUCKET/OBJECT"),
    ("gs://Bad_Bucket!/x", "is not a valid bucket name"),
])
def test_bad_url_is_refused_before_any_request(emulator, tmp_path, src, message):
    proc, out = run(src=src, dest=str(tmp_path / "x"), sha256=SHA, auth_kind="accesstoken",
                    access_token="unused-token-value", endpoint=emulator.url)
    assert proc.returncode != 0 and message in out["msg"]
    assert emulator.requests == []


def test_access_token_never_reaches_output(bucket, tmp_path):
    token = "storage-reader-credential-for-the-test"
    bucket.add_access_token(token, scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
    proc, out = run(src="gs://nz-releases/engine/nearzero-engine-1.0.0.tar.gz", dest=str(tmp_path / "a"),
                    sha256=SHA, auth_kind="accesstoken", access_token=token, endpoint=bucket.url)
    assert proc.returncode == 0 and out["changed"] is True, proc.stdout
    assert token not in proc.stdout + proc.stderr


def test_metadata_carries_the_api_fields(bucket, sa_key_file):
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import get_client
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.storage import StorageApi

    client = get_client({"auth_kind": "serviceaccount", "service_account_file": str(sa_key_file)})
    meta = StorageApi(client, bucket.url).metadata("nz-releases", "engine/nearzero-engine-1.0.0.tar.gz")
    assert meta["size"] == str(len(DATA))
    assert meta["kind"] == "storage#object" and meta["generation"].isdigit()
    assert len(meta["md5Hash"]) == 24 and len(meta["crc32c"]) == 8
