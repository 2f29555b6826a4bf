"""Field selections checked against Google's discovery documents.

Google rejects ``fields=`` naming a field the response does not have (400 "Invalid field
selection X"); without this check a client typo would pass against the emulator and fail
in production. The documents ship in google-api-python-client (pinned in
requirements.txt); where that package is missing, selections are not checked.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from .errors import ApiError


@cache
def document(name: str) -> dict | None:
    """The discovery document ``name`` (e.g. ``compute.v1``), or None when not installed."""
    try:
        import googleapiclient
    except ImportError:
        return None
    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _resolve(schema: dict, schemas: dict) -> dict:
    while "$ref" in schema:
        schema = schemas[schema["$ref"]]
    while schema.get("type") == "array":
        schema = schema.get("items", {})
        while "$ref" in schema:
            schema = schemas[schema["$ref"]]
    return schema


def _walk(tree, schema: dict, schemas: dict) -> None:
    if tree is None:
        return
    schema = _resolve(schema, schemas)
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, sub in tree.items():
        if key in properties:
            _walk(sub, properties[key], schemas)
        elif extra is not None:  # a map: any key (or "*") selects values
            _walk(sub, extra, schemas)
        elif key != "*":
            raise ApiError(400, f"Invalid field selection {key}", "invalidParameter")


def check_selection(tree: dict, doc: str, schema: str) -> None:
    """Raise ApiError 400 when ``tree`` names a field that ``schema`` of ``doc`` lacks."""
    parsed = document(doc)
    if parsed is not None:
        _walk(tree, {"$ref": schema}, parsed["schemas"])
