"""Requests checked against Google's discovery documents, the way Google's front ends check them.

Every Google API route of the emulator names a ``kind`` (``compute.instances.aggregatedList``,
``sqladmin.instances.patch``, ...). ``method_for(kind)`` finds the discovery method behind it:
the document from the kind's first word (``DOCUMENTS``), the method id from the kind itself or,
where the emulator's name differs from Google's id, from ``METHOD_IDS``. Everything checked
comes from that method, never from a hand-written list:

* query parameters: the method's ``query`` parameters plus the system parameters every Google
  API takes (``SYSTEM_PARAMETERS`` and the document's own ``parameters``); anything else is
  Google's 400 "Cannot bind query parameter", and typed values (integers, booleans, enums)
  are parsed as Google parses them;
* the request body, recursively against the method's ``request`` schema: unknown keys at any
  depth, JSON types (int64 and other 64-bit formats as a JSON number or a decimal string, as
  proto3 JSON allows), enum values, ``byte``/``google-datetime``/``google-duration`` formats,
  arrays and ``additionalProperties`` maps. Output-only fields (``readOnly`` or a description
  starting "Output only"/"[Output Only]") are parsed and then dropped, as AIP-203 says;
* OAuth scopes: the token needs one of the method's ``scopes``;
* ``fields=`` selections against the method's ``response`` schema.

Errors carry Google's wording: the paths in messages use the proto field names
(``body.settings.availability_type``), which Google's JSON transcoder reports.

The documents ship in google-api-python-client (pinned in requirements.txt); where that package
is missing nothing is checked (``method_for`` answers None).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ApiError, insufficient_scopes

# Parameters Google's front ends accept on every method, documented or not in a given document
# (https://cloud.google.com/apis/docs/system-parameters), with the ``$``-prefixed forms of
# alt/fields/prettyPrint/quotaUser/callback that the same page lists (GAPIC REST clients send
# ``$alt=json;enum-encoding=int``) and userProject (the billing project, x-goog-user-project).
SYSTEM_PARAMETERS = frozenset(
    {
        "fields",
        "prettyPrint",
        "alt",
        "key",
        "access_token",
        "quotaUser",
        "userIp",
        "uploadType",
        "upload_protocol",
        "callback",
        "$.xgafv",
        "oauth_token",
        "userProject",
        "$alt",
        "$fields",
        "$prettyPrint",
        "$quotaUser",
        "$callback",
    }
)

# The discovery document of each API, by the first word of a route's kind.
DOCUMENTS = {
    "compute": "compute.v1",
    "sqladmin": "sqladmin.v1",
    "secretmanager": "secretmanager.v1",
    "storage": "storage.v1",
    "iam": "iamcredentials.v1",
    "servicenetworking": "servicenetworking.v1",
}

# Kinds whose name is not the discovery method id (the others are their own id).
METHOD_IDS = {
    "sqladmin.instances.get": "sql.instances.get",
    "sqladmin.instances.patch": "sql.instances.patch",
    "sqladmin.instances.insert": "sql.instances.insert",
    "sqladmin.instances.promoteReplica": "sql.instances.promoteReplica",
    "sqladmin.instances.switchover": "sql.instances.switchover",
    "sqladmin.instances.delete": "sql.instances.delete",
    "sqladmin.instances.listServerCas": "sql.instances.listServerCas",
    "sqladmin.connect.get": "sql.connect.get",
    "sqladmin.operations.get": "sql.operations.get",
    "sqladmin.backupRuns.list": "sql.backupRuns.list",
    "sqladmin.backupRuns.get": "sql.backupRuns.get",
    "sqladmin.backupRuns.insert": "sql.backupRuns.insert",
    "sqladmin.instances.clone": "sql.instances.clone",
    "sqladmin.instances.restoreBackup": "sql.instances.restoreBackup",
    "secretmanager.versions.access": "secretmanager.projects.secrets.versions.access",
    "secretmanager.locations.versions.access": "secretmanager.projects.locations.secrets.versions.access",
    "iam.generateAccessToken": "iamcredentials.projects.serviceAccounts.generateAccessToken",
}

# What Google's transcoder calls the request body in error paths: the field of the request
# message that holds it ("" where the body is the request message itself, e.g. ``body: "*"``).
# Compute names it after the resource (``instance_resource``); see ``_body_field``.
BODY_FIELDS = {
    "sqladmin.v1": "body",
    "iamcredentials.v1": "",
    "secretmanager.v1": "",
    "storage.v1": "",
    "servicenetworking.v1": "",
}
# The proto package of each document, for the type names Google puts in "Invalid value" messages.
PROTO_PACKAGES = {
    "compute.v1": "google.cloud.compute.v1",
    "sqladmin.v1": "google.cloud.sql.v1",
    "secretmanager.v1": "google.cloud.secretmanager.v1",
    "storage.v1": "google.storage.v1",
    "iamcredentials.v1": "google.iam.credentials.v1",
    "servicenetworking.v1": "google.cloud.servicenetworking.v1",
}

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|NaN|-?Infinity")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_DURATION = re.compile(r"-?\d+(\.\d{1,9})?s")
_INT_FORMATS = {"int64": "TYPE_INT64", "uint64": "TYPE_UINT64", "int32": "TYPE_INT32", "uint32": "TYPE_UINT32"}


@cache
def document(name: str) -> dict | None:
    """The discovery document ``name`` (e.g. ``compute.v1``), or None when not installed."""
    try:
        import googleapiclient
    except ImportError:
        return None
    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


@cache
def _methods(name: str) -> dict:
    """Every method of document ``name`` by its id."""
    found = {}
    stack = [document(name)]
    while stack:
        node = stack.pop()
        for method in node.get("methods", {}).values():
            found[method["id"]] = method
        stack.extend(node.get("resources", {}).values())
    return found


@cache
def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


@dataclass(frozen=True)
class Method:
    """The discovery method behind a route: what its requests may carry."""

    document: str
    id: str
    http_method: str
    path_parameters: frozenset
    query_parameters: dict
    document_parameters: dict  # the system parameters the document itself describes (alt's values, ...)
    request: str | None
    response: str | None
    scopes: frozenset
    service: str

    def check_query(self, query: dict) -> None:
        """Raise Google's 400 for an undocumented query parameter or a value its type refuses."""
        for name, values in query.items():
            if name in self.path_parameters:
                continue
            spec = self.query_parameters.get(name) or self.document_parameters.get(name)
            if spec is None and name in SYSTEM_PARAMETERS:
                continue
            if spec is None:
                message = (
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                    f"Field '{name}' could not be found in request message."
                )
                raise _bad_request([(None, message)])
            for value in values:
                label = _query_label(spec, value)
                if label:
                    field = _snake(name)
                    raise _bad_request([(field, f"Invalid value at '{field}' ({label}), \"{value}\"")])

    def check_scopes(self, token, also=()) -> None:
        """Raise Google's 403 when ``token`` holds none of the method's scopes.

        ``also``: scopes the API accepts beyond those its document lists (Google's IAM Credentials
        API takes ``auth/iam``, which google-auth's impersonation asks for, though only
        cloud-platform is documented).
        """
        if self.scopes and not self.scopes.intersection(token.scopes) and not set(also) & set(token.scopes):
            raise insufficient_scopes(self.service, self.id)

    def clean_body(self, raw: bytes):
        """The request body as the service may act on it, or Google's 400.

        Unknown names and bad values at any depth are all reported (one fieldViolation each);
        output-only fields are dropped. Only for methods with a ``request`` schema (the server
        leaves the bodies of the others alone).
        """
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _bad_request([(None, "Invalid JSON payload received. Unexpected token.")]) from None
        checker = _BodyChecker(self.document)
        cleaned = checker.value(body, {"$ref": self.request}, _body_field(self.document, self.request))
        if checker.violations:
            raise _bad_request(checker.violations)
        return cleaned


def _body_field(doc: str, schema: str) -> str:
    if doc in BODY_FIELDS:
        return BODY_FIELDS[doc]
    return _snake(schema) + "_resource"


def _query_label(spec: dict, value: str) -> str | None:
    """The proto type Google names when it cannot parse ``value`` for parameter ``spec``, else None."""
    kind, fmt = spec.get("type"), spec.get("format")
    if "enum" in spec:
        return None if value in spec["enum"] else "TYPE_ENUM"
    if kind == "boolean":
        return None if value in ("true", "false") else "TYPE_BOOL"
    integer = kind == "integer" or fmt in _INT_FORMATS
    if integer and (not _INTEGER.fullmatch(value) or ((fmt or "").startswith("uint") and value.startswith("-"))):
        return _INT_FORMATS.get(fmt, "TYPE_INT32")
    return None


def _bad_request(violations: list) -> ApiError:
    """400 INVALID_ARGUMENT with a BadRequest detail, as Google's JSON transcoder answers."""
    message = "\n".join(description for _, description in violations)
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [
                {"field": field, "description": description} if field else {"description": description}
                for field, description in violations
            ],
        }
    ]
    return ApiError(400, message, "invalid", status="INVALID_ARGUMENT", details=details)


def _output_only(prop: dict) -> bool:
    description = prop.get("description", "").lstrip().lower()
    return bool(prop.get("readOnly")) or description.startswith(("output only", "[output only]"))


# Per object schema (by id: the documents stay loaded): {JSON name: (property, proto name, output only)}.
_FIELDS: dict[int, dict] = {}


def _fields(schema: dict) -> dict:
    fields = _FIELDS.get(id(schema))
    if fields is None:
        fields = {key: (prop, _snake(key), _output_only(prop)) for key, prop in schema.get("properties", {}).items()}
        _FIELDS[id(schema)] = fields
    return fields


class _BodyChecker:
    """Walks a request body and its schema together, collecting Google's violations."""

    def __init__(self, doc: str):
        self.doc = doc
        self.schemas = document(doc)["schemas"]
        self.package = PROTO_PACKAGES.get(doc, doc)
        self.violations: list = []

    def _bad(self, path: str, label: str, value) -> None:
        rendered = json.dumps(value) if not isinstance(value, dict | list) else "Starting an object on a scalar field"
        self.violations.append((path, f"Invalid value at '{path}' ({label}), {rendered}"))

    def value(self, value, schema: dict, path: str):
        """``value`` checked against ``schema``; output-only fields of objects left out."""
        name = None
        while "$ref" in schema:
            name = schema["$ref"]
            schema = self.schemas[name]
        if value is None:
            return None
        kind = schema.get("type", "object" if "properties" in schema else "any")
        if kind == "array":
            if not isinstance(value, list):
                self.violations.append((path, f"Invalid value at '{path}': Proto field is repeated, expected a list."))
                return value
            return [self.value(item, schema.get("items", {}), f"{path}[{i}]") for i, item in enumerate(value)]
        if kind == "object":
            if not isinstance(value, dict):
                self._bad(path, f"type.googleapis.com/{self.package}.{name or 'Struct'}", value)
                return value
            return self._object(value, schema, path)
        if isinstance(value, list):
            self.violations.append(
                (path, f"Invalid value at '{path}': Proto field is not repeating, cannot start list.")
            )
            return value
        label = self._scalar_label(value, schema, path)
        if label:
            self._bad(path, label, value)
        return value

    def _object(self, value: dict, schema: dict, path: str) -> dict:
        fields = _fields(schema)
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            known = fields.get(key)
            if known is None and extra is not None:
                out[key] = self.value(item, extra, f"{path}[{key}]" if path else key)
                continue
            if known is None:
                where = f" at '{path}'" if path else ""
                message = f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.'
                self.violations.append((path or key, message))
                continue
            prop, field, output_only = known
            checked = self.value(item, prop, f"{path}.{field}" if path else field)
            if not output_only:
                out[key] = checked
        return out

    def _scalar_label(self, value, schema: dict, path: str) -> str | None:
        """The type Google names when it refuses scalar ``value`` for ``schema``, or None."""
        kind, fmt = schema.get("type"), schema.get("format")
        if kind == "any":
            return None
        if kind == "boolean":
            return None if isinstance(value, bool) else "TYPE_BOOL"
        if kind == "integer" or fmt in _INT_FORMATS:
            label = _INT_FORMATS.get(fmt, "TYPE_INT32")
            if isinstance(value, bool):
                return label
            whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            if not whole and not (isinstance(value, str) and _INTEGER.fullmatch(value)):
                return label
            number = int(value)
            return label if number < 0 and (fmt or "").startswith("uint") else None
        if kind == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return None if ok or (isinstance(value, str) and _NUMBER.fullmatch(value)) else "TYPE_DOUBLE"
        if "enum" in schema:
            if isinstance(value, str) and value in schema["enum"]:
                return None
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(schema["enum"]):
                return None  # proto3 JSON also takes an enum's number
            leaf = "".join(part.title() for part in path.rsplit(".", 1)[-1].split("_"))
            return f"type.googleapis.com/{self.package}.{leaf}"
        if not isinstance(value, str):
            return "TYPE_BYTES" if fmt == "byte" else "TYPE_STRING"
        if fmt == "byte":
            try:
                base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True)
            except (binascii.Error, ValueError):
                return "TYPE_BYTES"
        if fmt in ("google-datetime", "date-time") and not _TIMESTAMP.fullmatch(value):
            return "type.googleapis.com/google.protobuf.Timestamp"
        if fmt == "google-duration" and not _DURATION.fullmatch(value):
            return "type.googleapis.com/google.protobuf.Duration"
        return None


class NoMethodError(LookupError):
    """A Google API route whose kind maps to no method of its discovery document."""


@cache
def method_for(kind: str) -> Method | None:
    """The discovery method of route kind ``kind``; None for kinds that are no Google API or without documents.

    Raises NoMethodError when the kind belongs to a documented API but names no method of it.
    """
    doc_name = DOCUMENTS.get(kind.split(".", 1)[0])
    if doc_name is None:
        return None
    doc = document(doc_name)
    if doc is None:
        return None
    method_id = METHOD_IDS.get(kind, kind)
    spec = _methods(doc_name).get(method_id)
    if spec is None:
        raise NoMethodError(f"route kind {kind!r}: {doc_name} has no method {method_id!r}; map it in METHOD_IDS")
    params = spec.get("parameters", {})
    root = doc.get("rootUrl", "")
    return Method(
        document=doc_name,
        id=method_id,
        http_method=spec["httpMethod"],
        path_parameters=frozenset(n for n, p in params.items() if p.get("location") == "path"),
        query_parameters={n: p for n, p in params.items() if p.get("location") == "query"},
        document_parameters=doc.get("parameters", {}),
        request=spec.get("request", {}).get("$ref"),
        response=spec.get("response", {}).get("$ref"),
        scopes=frozenset(spec.get("scopes", ())),
        service=root.split("//", 1)[-1].rstrip("/"),
    )


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
