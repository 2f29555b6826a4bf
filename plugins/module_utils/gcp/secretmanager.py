"""Secret Manager v1 ``versions.access`` with the payload's CRC32C checked.

The value is returned to the caller only; it never appears in an exception message.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

if TYPE_CHECKING:
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import GcpClient

DEFAULT_ENDPOINT = "https://secretmanager.googleapis.com"
ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
_NAME_RE = re.compile(r"^projects/(?P<project>[^/]+)/secrets/(?P<secret>[^/]+)(?:/versions/(?P<version>[^/]+))?$")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def _crc32c_table() -> list[int]:
    """The byte-wise lookup table of the reflected Castagnoli polynomial."""
    table = []
    for byte in range(256):
        crc = byte
        for _bit in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data`` (bytes); pure Python, so no extra package on any host."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def parse_name(name: str, project: str | None = None, version: str = "latest") -> tuple[str, str, str]:
    """Return (project, secret, version) from ``projects/P/secrets/S[/versions/V]`` or a bare secret ID."""
    found = _NAME_RE.match(name or "")
    if found:
        return found["project"], found["secret"], found["version"] or version
    if not _ID_RE.match(name or ""):
        raise GcpError(
            f"'{name}' is not a secret ID or a name like projects/PROJECT/secrets/SECRET[/versions/VERSION]. "
            "Secret IDs hold letters, digits, '-' and '_' only.", kind="bad_request")
    if not project:
        raise GcpError(f"Secret '{name}' needs a project: pass project=PROJECT or the full name "
                       f"projects/PROJECT/secrets/{name}.", kind="bad_request")
    return project, name, version


class SecretManagerApi:
    """Access secret versions against ``endpoint`` (``https://secretmanager.googleapis.com`` by default)."""

    def __init__(self, client: GcpClient, endpoint: str | None = None) -> None:
        self.client = client
        self.base = (endpoint or DEFAULT_ENDPOINT).rstrip("/") + "/v1"

    def access(self, project: str, secret: str, version: str = "latest") -> bytes:
        """Return the payload bytes of ``projects/project/secrets/secret/versions/version``.

        Raises GcpError (kind not_found, permission_denied, checksum, ...) naming the secret
        and the fix; a payload whose CRC32C does not match ``dataCrc32c`` is refused.
        """
        resource = f"projects/{project}/secrets/{secret}/versions/{version}"
        ctx = {
            "project": project,
            "resource": f"secret version '{resource}'",
            "permission": "secretmanager.versions.access",
            "role": ACCESSOR_ROLE,
            "api": "Secret Manager API",
            "service": "secretmanager.googleapis.com",
            "endpoint_option": "api_endpoint",
            "project_scoped": False,
            "bad_request_hint": "The version may be disabled or destroyed: enable it or use another version.",
        }
        try:
            data = self.client.get_json(f"{self.base}/{resource}:access", context=ctx)
        except GcpError as exc:
            if exc.kind == "not_found":
                raise GcpError(
                    f"Secret '{secret}' (version {version}) does not exist in project '{project}', or has no enabled "
                    f"version (HTTP 404). Create it with `gcloud secrets create {secret} --project {project}` and add "
                    "a version, or fix the name.", status=404, reason=exc.reason, project=project, url=exc.url,
                    kind="not_found") from None
            raise
        payload = data.get("payload") or {}
        try:
            raw = base64.b64decode(payload.get("data") or "", validate=True)
        except (binascii.Error, ValueError):
            raise GcpError(f"Secret Manager returned a payload for '{resource}' that is not valid base64; refusing "
                           "it.", project=project, kind="checksum") from None
        expected = payload.get("dataCrc32c")
        if expected is None:
            raise GcpError(f"Secret Manager returned no dataCrc32c for '{resource}', so the payload cannot be "
                           "checked; refusing it.", project=project, kind="checksum")
        try:
            expected = int(expected)
        except (TypeError, ValueError):
            raise GcpError(f"Secret Manager returned a dataCrc32c for '{resource}' that is not a number; refusing "
                           "the payload.", project=project, kind="checksum") from None
        if crc32c(raw) != expected:
            raise GcpError(
                f"The payload of '{resource}' fails its CRC32C check (the data was corrupted in transit or storage); "
                "refusing it. Retry; if it persists, add a new secret version.", project=project, kind="checksum")
        return raw
