"""Cloud Storage JSON API calls on top of the shared GcpClient: object metadata and verified downloads."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

if TYPE_CHECKING:
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
READ_PERMISSION = "storage.objects.get"
READER_ROLE = "roles/storage.objectViewer"
# Bucket names: 3-63 characters (up to 222 with dots), lower-case letters, digits, - _ and .
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def parse_gs_url(url: str) -> tuple[str, str]:
    """Split ``gs://bucket/path/to/object`` into (bucket, object name); raise GcpError naming the fix."""
    match = re.fullmatch(r"gs://([^/]+)/(.+)", str(url or ""))
    if not match:
        raise GcpError(f"'{url}' is not a Cloud Storage URL; use gs://BUCKET/OBJECT (for example "
                       "gs://releases/engine/nearzero-engine-1.4.0.tar.gz).", kind="bad_request")
    bucket, name = match.groups()
    if not _BUCKET_RE.match(bucket):
        raise GcpError(f"'{bucket}' in {url} is not a valid bucket name (lower-case letters, digits, '-', '_', '.').",
                       kind="bad_request")
    return bucket, name


class VerificationError(GcpError):
    """The downloaded bytes do not have the expected sha256."""


class StorageApi:
    """Object reads against ``endpoint`` (``https://storage.googleapis.com`` by default, or a private endpoint)."""

    def __init__(self, client: GcpClient, endpoint: str | None = None) -> None:
        self.client = client
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")

    def _url(self, bucket: str, name: str) -> str:
        """The JSON API URL of an object; the name is one path segment, so its slashes are encoded."""
        return f"{self.endpoint}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"

    def _context(self, bucket: str, name: str) -> dict[str, Any]:
        """What error messages name: the object, the permission a read needs and a role granting it."""
        return {
            "resource": f"object gs://{bucket}/{name}",
            "project_scoped": False,
            "permission": READ_PERMISSION,
            "role": READER_ROLE,
            "api": "Cloud Storage JSON API",
            "service": "storage.googleapis.com",
            "bad_request_hint": "Check the bucket and object names.",
        }

    def metadata(self, bucket: str, name: str) -> dict[str, Any]:
        """The object resource (``size``, ``generation``, ``md5Hash``, ``crc32c``...)."""
        return self.client.get_json(self._url(bucket, name), context=self._context(bucket, name))

    def download(self, bucket: str, name: str, dest: str, sha256: str) -> dict[str, Any]:
        """Download the object to ``dest`` atomically, only if its sha256 is ``sha256``.

        The bytes go to a temporary file next to ``dest``, which replaces ``dest`` only after the
        digest matched; on a mismatch the temporary file is removed and ``dest`` is untouched.
        Returns ``{"size", "sha256", "generation"}``.
        """
        resp = self.client.request("GET", self._url(bucket, name), params={"alt": "media"},
                                   context=self._context(bucket, name))
        data = resp.content
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise VerificationError(
                f"gs://{bucket}/{name} has sha256 {actual}, expected {sha256.lower()}: refusing it (nothing was "
                "written). Fix: publish the artifact that matches the checksum, or use the checksum of this one.",
                kind="verification")
        directory = os.path.dirname(os.path.abspath(dest))
        fd, tmp = tempfile.mkstemp(prefix=".gcs-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return {"size": len(data), "sha256": actual, "generation": resp.headers.get("X-Goog-Generation")}
