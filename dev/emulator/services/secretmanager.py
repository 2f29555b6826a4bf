"""Secret Manager v1: ``projects.secrets.versions.access`` and its regional twin.

Served: ``GET /v1/projects/{project}/secrets/{secret}/versions/{v}:access`` and
``GET /v1/projects/{project}/locations/{location}/secrets/{secret}/versions/{v}:access`` (a regional
secret: in GCP its endpoint is ``secretmanager.{location}.rep.googleapis.com``; here both paths are on
the emulator's one address). ``{project}`` may be the project ID or its number, as Google returns names
with the number.

Responses follow ``secretmanager.v1.json``: ``{"name", "payload": {"data", "dataCrc32c"}}`` with
``data`` base64 and ``dataCrc32c`` the CRC32C (Castagnoli) of the raw bytes as an int64 string;
``name`` uses the project number, as the real API does. Errors use the real API's codes: 404
for a missing secret or version, 400 FAILED_PRECONDITION for a disabled or destroyed version,
403 for a caller without ``secretmanager.versions.access``. A token needs the ``cloud-platform``
scope, the only one the discovery document lists for Secret Manager (403
ACCESS_TOKEN_SCOPE_INSUFFICIENT otherwise, e.g. a VM token with ``compute.readonly`` only).

In lab mode each file ``<lab>/secrets/<secret-id>`` (written by the cloudsql_lab role) is
version 1 of that (global) secret in the lab's project; one trailing newline is not part of the
value. Tests add secrets with ``emulator.services["secretmanager"].add_version(...)``
(``location=`` for a regional one).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..auth import CLOUD_PLATFORM
from ..errors import ApiError
from ..server import Response
from ..store import project_number as _compute_number

PROJECT = r"/v1/projects/(?P<project>[^/]+)"
VERSION_PATH = r"/secrets/(?P<secret>[^/]+)/versions/(?P<version>[^/:]+):access"
LOCATION = r"/locations/(?P<location>[a-z][a-z0-9-]*)"


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager returns in ``dataCrc32c``."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def project_number(project: str) -> str:
    """The project's number, the same one the metadata server and Compute give it."""
    return str(_compute_number(project))


@dataclass
class SecretVersion:
    """One version: its bytes, its state and the checksum served with it (normally the true CRC32C)."""

    data: bytes
    state: str = "ENABLED"
    crc32c: int | None = None


@dataclass
class Secret:
    """A secret's versions (numbered from 1) and whether callers are denied access."""

    versions: dict[int, SecretVersion] = field(default_factory=dict)
    denied: bool = False


class SecretStore:
    """The emulator's secrets: ``(project, secret id) -> Secret``, plus lab files."""

    def __init__(self, emulator):
        self.emulator = emulator
        # (project ID, location or "" for a global secret, secret ID) -> Secret
        self.secrets: dict[tuple[str, str, str], Secret] = {}
        self.denied_projects: set[str] = set()
        self.lock = threading.Lock()

    def add_version(
        self,
        project: str,
        secret: str,
        data,
        *,
        crc32c_override: int | None = None,
        state: str = "ENABLED",
        location: str = "",
    ) -> int:
        """Add a version holding ``data`` (str or bytes); return its number.

        ``crc32c_override`` serves a wrong checksum (a corrupted payload in transit); ``location``
        makes it a regional secret (``projects/P/locations/L/secrets/S``), distinct from a global
        one of the same ID.
        """
        raw = data.encode() if isinstance(data, str) else bytes(data)
        with self.lock:
            entry = self.secrets.setdefault((project, location, secret), Secret())
            number = max(entry.versions, default=0) + 1
            entry.versions[number] = SecretVersion(raw, state, crc32c_override)
            return number

    def set_version_state(self, project: str, secret: str, version: int, state: str, location: str = "") -> None:
        """Set a version ENABLED, DISABLED or DESTROYED."""
        with self.lock:
            self.secrets[(project, location, secret)].versions[version].state = state

    def deny(self, project: str, secret: str | None = None, location: str = "") -> None:
        """Answer 403 for one secret, or for every secret of ``project`` when ``secret`` is None."""
        with self.lock:
            if secret is None:
                self.denied_projects.add(project)
            else:
                self.secrets.setdefault((project, location, secret), Secret()).denied = True

    def project_id(self, project: str) -> str:
        """The project ID behind ``project``, which may be a project number (as Google writes names)."""
        if not project.isdigit():
            return project
        with self.lock:
            known = {key[0] for key in self.secrets} | self.denied_projects
        lab = self._lab_project()
        if lab:
            known.add(lab)
        return next((p for p in sorted(known) if project_number(p) == project), project)

    def _lab(self) -> tuple[Path, dict] | None:
        lab_dir = _lab_dir(self.emulator)
        if lab_dir is None:
            return None
        try:
            return lab_dir, json.loads((lab_dir / "cloudsql.json").read_text())
        except (OSError, ValueError):
            return None

    def _lab_project(self) -> str | None:
        lab = self._lab()
        return lab[1].get("project") if lab else None

    def _lab_secret(self, project: str, secret: str) -> Secret | None:
        found = self._lab()
        if found is None:
            return None
        lab_dir, lab = found
        if lab.get("project") != project:
            return None
        path = lab_dir / lab.get("secrets_dir", "secrets") / secret
        if "/" in secret or not path.is_file():
            return None
        data = path.read_bytes()
        if data.endswith(b"\n"):
            data = data[:-1]
        return Secret(versions={1: SecretVersion(data)})

    def find(self, project: str, secret: str, location: str = "") -> Secret | None:
        """The secret, from the tests' store first, then (global secrets) from the lab's files."""
        with self.lock:
            found = self.secrets.get((project, location, secret))
        if found is not None or location:
            return found
        return self._lab_secret(project, secret)


def _lab_dir(emulator) -> Path | None:
    lab_dir = getattr(emulator, "lab_dir", None)
    if lab_dir:
        return Path(lab_dir)
    lab_file = getattr(emulator, "_lab_file", None)
    return Path(lab_file).parent if lab_file else None


def register(router, emulator):
    """Serve ``versions.access`` (global and regional); return the SecretStore tests use."""
    store = SecretStore(emulator)

    def access(call):
        secret_id, version = call.params["secret"], call.params["version"]
        location = call.params.get("location") or ""
        project = store.project_id(call.params["project"])
        number = project_number(project)
        where = f"locations/{location}/" if location else ""
        resource = f"projects/{call.params['project']}/{where}secrets/{secret_id}/versions/{version}"
        secret_name = f"projects/{number}/{where}secrets/{secret_id}"
        if project in store.denied_projects:
            raise _denied(resource)
        secret = store.find(project, secret_id, location)
        if secret is not None and secret.denied:
            raise _denied(resource)
        if secret is None or not secret.versions:
            raise ApiError(
                404,
                f"Secret [{secret_name}] not found or has no versions.",
                "notFound",
                status="NOT_FOUND",
            )
        if version == "latest":
            enabled = [n for n, v in secret.versions.items() if v.state == "ENABLED"]
            if not enabled:
                raise ApiError(
                    400,
                    f"Secret [{secret_name}] has no enabled versions.",
                    "failedPrecondition",
                    status="FAILED_PRECONDITION",
                )
            chosen = max(enabled)
        else:
            try:
                chosen = int(version)
            except ValueError:
                raise ApiError(
                    400,
                    f"Invalid resource field value in the request: version '{version}' must be a number or 'latest'.",
                    "badRequest",
                    status="INVALID_ARGUMENT",
                ) from None
            if chosen not in secret.versions:
                raise ApiError(
                    404,
                    f"Secret Version [{secret_name}/versions/{chosen}] not found.",
                    "notFound",
                    status="NOT_FOUND",
                )
        entry = secret.versions[chosen]
        if entry.state != "ENABLED":
            raise ApiError(
                400,
                f"Secret Version [{secret_name}/versions/{chosen}] is in {entry.state} state.",
                "failedPrecondition",
                status="FAILED_PRECONDITION",
            )
        checksum = entry.crc32c if entry.crc32c is not None else crc32c(entry.data)
        return Response(
            body={
                "name": f"{secret_name}/versions/{chosen}",
                "payload": {"data": base64.b64encode(entry.data).decode(), "dataCrc32c": str(checksum)},
            }
        )

    # cloud-platform is the only scope secretmanager.v1.json lists
    scopes = (CLOUD_PLATFORM,)
    router.add("GET", PROJECT + VERSION_PATH, access, kind="secretmanager.versions.access", scopes=scopes)
    router.add(
        "GET", PROJECT + LOCATION + VERSION_PATH, access, kind="secretmanager.locations.versions.access", scopes=scopes
    )
    return store


def _denied(resource: str) -> ApiError:
    return ApiError(
        403,
        f"Permission 'secretmanager.versions.access' denied for resource '{resource}' (or it may not exist).",
        "forbidden",
        status="PERMISSION_DENIED",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "secretmanager.googleapis.com",
                "metadata": {"permission": "secretmanager.versions.access", "resource": resource},
            }
        ],
    )
