"""Cloud Storage JSON API v1: ``objects.get`` (metadata or content) and ``objects.insert`` (media upload).

Enough for downloading release artifacts from ``gs://`` URLs the way the real API serves them:
``GET /storage/v1/b/{bucket}/o/{object}`` answers the object resource (``size`` as a string,
``md5Hash`` and ``crc32c`` base64, ``generation``), and with ``alt=media`` the bytes themselves.
``ifGenerationMatch`` and ``generation`` are honoured; a missing bucket or object gets the 404
body Cloud Storage sends.

Uploads (``POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name=...``, the body is the
object's bytes) write a new generation, as Cloud Storage does; with ``ifGenerationMatch`` the write
happens only if the live generation is that number (``0``: only if no live object exists), checked
and applied under one lock, else HTTP 412 ``conditionNotMet``: two writers that read the same
generation cannot both win. The upload route carries media, not the Object resource, so its body is
not checked against the discovery document's request schema (google=False); its scopes are checked.

Tests and scripts add objects with ``emulator.services["storage"].put(bucket, name, data)``; a lab
creates a bucket (what an operator does once with gcloud) with ``POST /_emulator/storage/buckets``
and ``{"name": BUCKET}``.
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

    def insert(self, bucket: str, name: str, data: bytes, content_type: str,
               if_generation_match: int | None = None) -> StoredObject:
        """Write a new generation of an existing bucket's object, if ``if_generation_match`` holds (412 if not)."""
        with self._lock:
            objects = self.buckets.get(bucket)
            if objects is None:
                raise ApiError(404, "The specified bucket does not exist.", "notFound")
            old = objects.get(name)
            live = old.generation if old else 0
            if if_generation_match is not None and if_generation_match != live:
                raise ApiError(412, "At least one of the pre-conditions you specified did not hold.",
                               "conditionNotMet")
            generation = max(time.time_ns() // 1000, live + 1)
            stored = StoredObject(bucket, name, bytes(data), content_type, generation, time.time())
            objects[name] = stored
            return stored

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

    def insert_object(call):
        upload_type = call.arg("uploadType")
        if upload_type != "media":
            raise invalid_value("uploadType", upload_type or "",
                                "This emulator serves simple media uploads only: use uploadType=media.")
        name = call.arg("name")
        if not name:
            raise ApiError(400, "Required parameter: name", "required")
        wanted = call.arg("ifGenerationMatch")
        if wanted is not None and not wanted.isdigit():
            raise invalid_value("ifGenerationMatch", wanted, "It must be an integer.")
        content_type = call.request.headers.get("content-type") or "application/octet-stream"
        stored = store.insert(call.params["bucket"], name, call.request.raw_body, content_type,
                              int(wanted) if wanted is not None else None)
        return Response(body=stored.resource(call.emulator.url))

    def add_bucket(call):
        spec = call.request.json()
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not name:
            raise ApiError(400, 'Send {"name": BUCKET}.', "invalid")
        store.add_bucket(name)
        return Response(body={"name": name})

    for prefix in ("/storage/v1", "/download/storage/v1"):
        router.add("GET", prefix + r"/b/(?P<bucket>[^/]+)/o/(?P<object>.+)", get_object, kind="storage.objects.get",
                   scopes=STORAGE_SCOPES)
    router.add("POST", r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o", insert_object, kind="storage.objects.insert",
               scopes=STORAGE_SCOPES[1:], google=False)
    router.add("POST", r"/_emulator/storage/buckets", add_bucket, kind="emulator.storage", auth=False, google=False)
    return store
