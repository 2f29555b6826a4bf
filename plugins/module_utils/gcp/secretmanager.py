"""Secret Manager v1 ``versions.access`` with the payload's CRC32C checked.

Global secrets (``projects/P/secrets/S``) are read from the configured endpoint; regional secrets
(``projects/P/locations/L/secrets/S``) from the location's endpoint, which in GCP is
``https://secretmanager.L.rep.googleapis.com`` (see ``regional_endpoint``). ``P`` may be the
project ID or its number, as Google writes names.

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
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_NAME_RE = re.compile(r"^projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?/secrets/(?P<secret>[^/]+)"
                      r"(?:/versions/(?P<version>[^/]+))?$")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_LOCATION_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
# what a 403 for a token without the API's scope carries (newer APIs: the ErrorInfo reason; older: errors[].reason)
_SCOPE_REASONS = ("ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions")


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


def parse_name(name: str, project: str | None = None, version: str = "latest",
               location: str | None = None) -> tuple[str, str | None, str, str]:
    """Return (project, location, secret, version) from a secret name or a bare secret ID.

    Names: ``projects/P/secrets/S[/versions/V]`` (global) or ``projects/P/locations/L/secrets/S[/versions/V]``
    (regional); ``P`` is the project ID or number. A bare ID takes ``project`` and ``location`` (None:
    global). ``location`` is None for a global secret.
    """
    found = _NAME_RE.match(name or "")
    if found:
        location = found["location"]
        project, secret, version = found["project"], found["secret"], found["version"] or version
    elif not _ID_RE.match(name or ""):
        raise GcpError(
            f"'{name}' is not a secret ID or a name like projects/PROJECT/secrets/SECRET[/versions/VERSION] or "
            "projects/PROJECT/locations/LOCATION/secrets/SECRET[/versions/VERSION]. Secret IDs hold letters, digits, "
            "'-' and '_' only.", kind="bad_request")
    elif not project:
        raise GcpError(f"Secret '{name}' needs a project: pass project=PROJECT or the full name "
                       f"projects/PROJECT/secrets/{name}.", kind="bad_request")
    else:
        secret = name
    if location is not None and not _LOCATION_RE.match(location):
        raise GcpError(f"'{location}' is not a Secret Manager location (a region such as europe-west3) for secret "
                       f"'{secret}'.", kind="bad_request")
    return project, location or None, secret, version


def regional_endpoint(endpoint: str | None, location: str) -> str:
    """The endpoint serving regional secrets of ``location``, built from the configured global endpoint.

    Google's global endpoint becomes ``https://secretmanager.LOCATION.rep.googleapis.com``; an endpoint
    holding ``{location}`` gets it filled in; any other endpoint (a private or test one) is used as is.
    """
    base = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
    if "{location}" in base:
        return base.replace("{location}", location)
    if base == DEFAULT_ENDPOINT:
        return f"https://secretmanager.{location}.rep.googleapis.com"
    return base


def _scope_error(exc: GcpError, resource: str, project: str, auth_kind: str | None) -> GcpError | None:
    """A clear error for a 403 caused by the token's OAuth scopes, not by IAM; None for any other error."""
    if exc.status != 403 or not (exc.reason in _SCOPE_REASONS or "insufficient authentication scopes" in exc.message):
        return None
    if auth_kind == "machineaccount":
        fix = ("With auth_kind machineaccount the token carries the VM's access scopes. Give the VM's service "
               "account the cloud-platform scope: stop the VM, then `gcloud compute instances set-service-account VM "
               "--zone ZONE --service-account EMAIL --scopes cloud-platform` (or the console's \"Allow full access "
               "to all Cloud APIs\"), and start it; or use another auth_kind (serviceaccount, impersonation).")
    else:
        fix = (f"Request the scope {CLOUD_PLATFORM}: leave the scopes option at its default or add it there; "
               "IAM roles cannot make up for a missing scope.")
    return GcpError(f"The access token lacks the OAuth scope {CLOUD_PLATFORM}, the only scope Secret Manager "
                    f"accepts (HTTP 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT reading '{resource}'). {fix}",
                    status=403, reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT", project=project, url=exc.url,
                    kind="insufficient_scopes")


class SecretManagerApi:
    """Access secret versions against ``endpoint`` (``https://secretmanager.googleapis.com`` by default).

    ``auth_kind`` (the credential's kind) only shapes the fix an error names.
    """

    def __init__(self, client: GcpClient, endpoint: str | None = None, auth_kind: str | None = None) -> None:
        self.client = client
        self.endpoint = endpoint
        self.base = (endpoint or DEFAULT_ENDPOINT).rstrip("/") + "/v1"
        self.auth_kind = auth_kind

    def access(self, project: str, secret: str, version: str = "latest", location: str | None = None) -> bytes:
        """Return the payload bytes of ``projects/project/[locations/location/]secrets/secret/versions/version``.

        Raises GcpError (kind not_found, permission_denied, insufficient_scopes, checksum, ...) naming
        the secret and the fix; a payload whose CRC32C does not match ``dataCrc32c`` is refused.
        """
        where = f"locations/{location}/" if location else ""
        resource = f"projects/{project}/{where}secrets/{secret}/versions/{version}"
        base = regional_endpoint(self.endpoint, location) + "/v1" if location else self.base
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
            data = self.client.get_json(f"{base}/{resource}:access", context=ctx)
        except GcpError as exc:
            if exc.kind == "not_found":
                in_location = f" in location '{location}'" if location else ""
                create = f" --location {location}" if location else ""
                raise GcpError(
                    f"Secret '{secret}' (version {version}) does not exist in project '{project}'{in_location}, or "
                    f"has no enabled version (HTTP 404). Create it with `gcloud secrets create {secret} --project "
                    f"{project}{create}` and add a version, or fix the name.", status=404, reason=exc.reason,
                    project=project, url=exc.url, kind="not_found") from None
            scoped = _scope_error(exc, resource, project, self.auth_kind)
            if scoped is not None:
                raise scoped from None
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
