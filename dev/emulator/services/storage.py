"""Cloud Storage JSON API v1: ``objects.get`` (metadata, or the content with ``alt=media``).

Enough for downloading release artifacts from ``gs://`` URLs the way the real API serves them:
``GET /storage/v1/b/{bucket}/o/{object}`` answers the object resource (``size`` as a string,
``md5Hash`` and ``crc32c`` base64, ``generation``), and with ``alt=media`` the bytes themselves.
``ifGenerationMatch`` and ``generation`` are honoured; a missing bucket or object gets the 404
body Cloud Storage sends.

Tests and scripts add objects with ``emulator.services["storage"].put(bucket, name, data)``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from ..errors import ApiError, invalid_value
from ..server import Response

STORAGE_SCOPES = (
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/devstorage.read_write",
    "https://www.googleapis.com/auth/devstorage.full_control",
)
# google-crc32c is what clients use; the emulator computes CRC32C (Castagnoli) itself.
_CRC32C_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0x82F63B78 if _crc & 1 else _crc >> 1
    _CRC32C_TABLE.append(_crc)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class StoredObject:
    bucket: str
    name: str
    data: bytes
    content_type: str
    generation: int
    created: float

    def resource(self, base_url: str) -> dict:
        stamp = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        path = f"b/{self.bucket}/o/{quote(self.name, safe='')}"
        return {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "selfLink": f"{base_url}/storage/v1/{path}",
            "mediaLink": f"{base_url}/download/storage/v1/{path}?generation={self.generation}&alt=media",
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": "1",
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": str(len(self.data)),
            "md5Hash": base64.b64encode(hashlib.md5(self.data).digest()).decode(),  # noqa: S324 - the API's field
            "crc32c": base64.b64encode(crc32c(self.data).to_bytes(4, "big")).decode(),
            "etag": base64.b64encode(f"{self.generation}".encode()).decode(),
            "timeCreated": stamp,
            "updated": stamp,
        }


class StorageStore:
    """Buckets and the latest generation of each object."""

    def __init__(self):
        self._lock = threading.Lock()
        self.buckets: dict[str, dict[str, StoredObject]] = {}

    def add_bucket(self, bucket: str) -> None:
        with self._lock:
            self.buckets.setdefault(bucket, {})

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> dict:
        """Store ``data`` as a new generation of ``gs://bucket/name`` (the bucket is created if needed)."""
        with self._lock:
            objects = self.buckets.setdefault(bucket, {})
            old = objects.get(name)
            generation = max(time.time_ns() // 1000, old.generation + 1 if old else 0)
            objects[name] = StoredObject(bucket, name, bytes(data), content_type, generation, time.time())
            return {"bucket": bucket, "name": name, "generation": generation}

    def get(self, bucket: str, name: str) -> StoredObject:
        with self._lock:
            objects = self.buckets.get(bucket)
            if objects is None:
                raise ApiError(404, "The specified bucket does not exist.", "notFound")
            found = objects.get(name)
        if found is None:
            raise ApiError(404, f"No such object: {bucket}/{name}", "notFound")
        return found


def register(router, emulator):
    """Serve objects.get under ``/storage/v1`` and the media download path under ``/download/storage/v1``."""
    store = StorageStore()

    def get_object(call):
        bucket, name = call.params["bucket"], unquote(call.params["object"])
        found = store.get(bucket, name)
        for param, have in (("generation", found.generation), ("ifGenerationMatch", found.generation)):
            wanted = call.arg(param)
            if wanted is None:
                continue
            if not wanted.isdigit():
                raise invalid_value(param, wanted, "It must be an integer.")
            if int(wanted) != have:
                if param == "generation":
                    raise ApiError(404, f"No such object: {bucket}/{name}", "notFound")
                raise ApiError(412, "At least one of the pre-conditions you specified did not hold.",
                               "conditionNotMet")
        alt = call.arg("alt", "json")
        if alt == "media":
            return Response(body=found.data, content_type=found.content_type,
                            headers={"X-Goog-Generation": str(found.generation),
                                     "X-Goog-Hash": f"crc32c={found.resource('')['crc32c']},"
                                                    f"md5={found.resource('')['md5Hash']}"})
        if alt != "json":
            raise invalid_value("alt", alt, "Use json or media.")
        return Response(body=found.resource(call.emulator.url))

    for prefix in ("/storage/v1", "/download/storage/v1"):
        router.add("GET", prefix + r"/b/(?P<bucket>[^/]+)/o/(?P<object>.+)", get_object, kind="storage.objects.get",
                   scopes=STORAGE_SCOPES)
    return store
