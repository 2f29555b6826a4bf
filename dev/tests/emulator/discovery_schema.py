"""Check JSON responses against the official Compute discovery document.

The document ships in google-api-python-client (a test-only dependency):
``googleapiclient/discovery_cache/documents/compute.v1.json``. ``check`` walks a value
and its schema together and reports every key the schema does not declare and every
value of the wrong JSON type, recursively (``$ref``, ``additionalProperties``, arrays).
"""

import json
from functools import cache
from pathlib import Path

import googleapiclient


@cache
def discovery(name="compute.v1"):
    """The parsed discovery document ``name``."""
    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / f"{name}.json"
    return json.loads(path.read_text())


def _type_ok(kind, value):
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "any":
        return True
    raise AssertionError(f"schema type {kind!r} unknown to the checker")


def check(value, schema, path="$", doc="compute.v1"):
    """Problems of ``value`` against ``schema`` (a schema dict or a schema name), as strings."""
    schemas = discovery(doc)["schemas"]
    if isinstance(schema, str):
        schema = {"$ref": schema}
    while "$ref" in schema:
        schema = schemas[schema["$ref"]]
    problems = []
    kind = schema.get("type", "object")
    if not _type_ok(kind, value):
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if kind == "object":
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                problems += check(item, properties[key], f"{path}.{key}", doc)
            elif extra is not None:
                problems += check(item, extra, f"{path}[{key!r}]", doc)
            else:
                problems.append(f"{path}: key {key!r} is not in the schema")
    elif kind == "array":
        for index, item in enumerate(value):
            problems += check(item, schema.get("items", {"type": "any"}), f"{path}[{index}]", doc)
    return problems
