"""Secret Manager v1: ``projects.secrets.versions.access`` (``GET .../versions/{v}:access``).

Responses follow ``secretmanager.v1.json``: ``{"name", "payload": {"data", "dataCrc32c"}}`` with
``data`` base64 and ``dataCrc32c`` the CRC32C (Castagnoli) of the raw bytes as an int64 string;
``name`` uses the project number, as the real API does. Errors use the real API's codes: 404
for a missing secret or version, 400 FAILED_PRECONDITION for a disabled or destroyed version,
403 for a caller without ``secretmanager.versions.access``.

In lab mode each file ``<lab>/secrets/<secret-id>`` (written by the cloudsql_lab role) is
version 1 of that secret in the lab's project; one trailing newline is not part of the value.
Tests add secrets with ``emulator.services["secretmanager"].add_version(...)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ApiError
from ..server import Response

PREFIX = r"/v1/projects/(?P<project>[^/]+)/secrets/(?P<secret>[^/]+)/versions/(?P<version>[^/:]+)"


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
    """A stable 12-digit project number for a project ID."""
    return str(100000000000 + int(hashlib.sha256(project.encode()).hexdigest(), 16) % 899999999999)


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
        self.secrets: dict[tuple[str, str], Secret] = {}
        self.denied_projects: set[str] = set()
        self.lock = threading.Lock()

    def add_version(
        self, project: str, secret: str, data, *, crc32c_override: int | None = None, state: str = "ENABLED"
    ) -> int:
        """Add a version holding ``data`` (str or bytes); return its number.

        ``crc32c_override`` serves a wrong checksum (a corrupted payload in transit).
        """
        raw = data.encode() if isinstance(data, str) else bytes(data)
        with self.lock:
            entry = self.secrets.setdefault((project, secret), Secret())
            number = max(entry.versions, default=0) + 1
            entry.versions[number] = SecretVersion(raw, state, crc32c_override)
            return number

    def set_version_state(self, project: str, secret: str, version: int, state: str) -> None:
        """Set a version ENABLED, DISABLED or DESTROYED."""
        with self.lock:
            self.secrets[(project, secret)].versions[version].state = state

    def deny(self, project: str, secret: str | None = None) -> None:
        """Answer 403 for one secret, or for every secret of ``project`` when ``secret`` is None."""
        with self.lock:
            if secret is None:
                self.denied_projects.add(project)
            else:
                self.secrets.setdefault((project, secret), Secret()).denied = True

    def _lab_secret(self, project: str, secret: str) -> Secret | None:
        lab_dir = _lab_dir(self.emulator)
        if lab_dir is None:
            return None
        described = lab_dir / "cloudsql.json"
        try:
            lab = json.loads(described.read_text())
        except (OSError, ValueError):
            return None
        if lab.get("project") != project:
            return None
        path = lab_dir / lab.get("secrets_dir", "secrets") / secret
        if "/" in secret or not path.is_file():
            return None
        data = path.read_bytes()
        if data.endswith(b"\n"):
            data = data[:-1]
        return Secret(versions={1: SecretVersion(data)})

    def find(self, project: str, secret: str) -> Secret | None:
        """The secret, from the tests' store first, then from the lab's files."""
        with self.lock:
            found = self.secrets.get((project, secret))
        return found if found is not None else self._lab_secret(project, secret)


def _lab_dir(emulator) -> Path | None:
    lab_dir = getattr(emulator, "lab_dir", None)
    if lab_dir:
        return Path(lab_dir)
    lab_file = getattr(emulator, "_lab_file", None)
    return Path(lab_file).parent if lab_file else None


def register(router, emulator):
    """Serve ``versions.access``; return the SecretStore tests use."""
    store = SecretStore(emulator)

    def access(call):
        project, secret_id, version = call.params["project"], call.params["secret"], call.params["version"]
        number = project_number(project)
        resource = f"projects/{project}/secrets/{secret_id}/versions/{version}"
        if project in store.denied_projects:
            raise _denied(resource)
        secret = store.find(project, secret_id)
        if secret is not None and secret.denied:
            raise _denied(resource)
        if secret is None or not secret.versions:
            raise ApiError(
                404,
                f"Secret [projects/{number}/secrets/{secret_id}] not found or has no versions.",
                "notFound",
                status="NOT_FOUND",
            )
        if version == "latest":
            enabled = [n for n, v in secret.versions.items() if v.state == "ENABLED"]
            if not enabled:
                raise ApiError(
                    400,
                    f"Secret [projects/{number}/secrets/{secret_id}] has no enabled versions.",
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
                    f"Secret Version [projects/{number}/secrets/{secret_id}/versions/{chosen}] not found.",
                    "notFound",
                    status="NOT_FOUND",
                )
        entry = secret.versions[chosen]
        if entry.state != "ENABLED":
            raise ApiError(
                400,
                f"Secret Version [projects/{number}/secrets/{secret_id}/versions/{chosen}] is in {entry.state} state.",
                "failedPrecondition",
                status="FAILED_PRECONDITION",
            )
        checksum = entry.crc32c if entry.crc32c is not None else crc32c(entry.data)
        return Response(
            body={
                "name": f"projects/{number}/secrets/{secret_id}/versions/{chosen}",
                "payload": {"data": base64.b64encode(entry.data).decode(), "dataCrc32c": str(checksum)},
            }
        )

    router.add("GET", PREFIX + r":access", access, kind="secretmanager.versions.access")
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
