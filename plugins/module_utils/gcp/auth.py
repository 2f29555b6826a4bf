"""Credentials for every auth kind nearzero supports, built from one flat options dict.

The options themselves (names, types, defaults, environment fallbacks, no_log) are defined once
in ``arguments.py``; this module builds credentials from them. Only the standard library,
ansible.module_utils, requests and google-auth are imported, so this file works on the controller
and inside AnsiballZ payloads. A missing google-auth is reported through ``GcpError`` with the
install command instead of an ImportError traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.arguments import (
    AUTH_ARGUMENT_SPEC,
    AUTH_KINDS,
    AUTH_OPTIONS,
    DEFAULT_IAM_ENDPOINT,
    DEFAULT_SCOPES,
)
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

try:
    import google.auth
    import google.auth.exceptions
    from google.auth import compute_engine, impersonated_credentials
    from google.oauth2 import credentials as oauth2_credentials
    from google.oauth2 import service_account

    HAS_GOOGLE_AUTH = True
    GOOGLE_AUTH_IMPORT_ERROR = None
except ImportError as _exc:  # reported when credentials are first needed
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMPORT_ERROR = str(_exc)

Params = Mapping[str, Any]


def require_google_auth() -> None:
    """Raise a GcpError naming the fix when google-auth or requests cannot be imported."""
    if not HAS_GOOGLE_AUTH:
        raise GcpError(
            "The Python packages 'google-auth' and 'requests' are required on the host that runs this "
            "(the controller for inventory and lookups, the managed host for modules) but could not be "
            f"imported ({GOOGLE_AUTH_IMPORT_ERROR}). Install them: python3 -m pip install google-auth requests",
            kind="dependency",
        )


def _service_account_info(params: Params) -> dict[str, Any]:
    """Return the parsed service-account key from service_account_contents or service_account_file."""
    contents = params.get("service_account_contents")
    path = params.get("service_account_file")
    if contents:
        if isinstance(contents, dict):
            return dict(contents)
        try:
            info = json.loads(str(contents))
        except ValueError as exc:
            raise GcpError(
                f"service_account_contents is not valid JSON ({exc}). Pass the whole key file as a string or a "
                "dict, for example service_account_contents: \"{{ lookup('file', 'key.json') }}\".",
                kind="credentials",
            ) from None
        if not isinstance(info, dict):
            raise GcpError("service_account_contents must be a JSON object (a service-account key).",
                           kind="credentials")
        return info
    if not path:
        raise GcpError(
            "auth_kind 'serviceaccount' needs service_account_file (path to a JSON key) or "
            "service_account_contents (the key itself). Set one of them, or the GCP_SERVICE_ACCOUNT_FILE "
            "environment variable.",
            kind="credentials",
        )
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise GcpError(
            f"service_account_file '{path}' does not exist. Fix the path, or create a key with `gcloud iam "
            f"service-accounts keys create {path} --iam-account SA_EMAIL`.",
            kind="credentials",
        )
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise GcpError(
            f"service_account_file '{path}' cannot be read ({exc.strerror}). Make it readable by the user "
            "running Ansible (chmod 600, owned by that user).",
            kind="credentials",
        ) from None
    try:
        info = json.loads(text)
    except ValueError:
        raise GcpError(
            f"service_account_file '{path}' is not a JSON service-account key. Download a JSON key (not P12) "
            "for the service account.",
            kind="credentials",
        ) from None
    if not isinstance(info, dict):
        raise GcpError(f"service_account_file '{path}' does not hold a JSON object.", kind="credentials")
    return info


def _from_key(params: Params, scopes: list[str]) -> Credentials:
    """Service-account credentials from the key given in the options, checked to be a service-account key."""
    info = _service_account_info(params)
    if info.get("type") not in (None, "service_account"):
        raise GcpError(
            f"The key given for auth_kind 'serviceaccount' has type '{info.get('type')}', expected "
            "'service_account'. For user or external-account credentials use auth_kind 'application' with "
            "GOOGLE_APPLICATION_CREDENTIALS.",
            kind="credentials",
        )
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=scopes)
    except (ValueError, KeyError) as exc:
        raise GcpError(
            f"The service-account key is incomplete or invalid ({exc}). It needs client_email, private_key and "
            "token_uri; download a fresh JSON key.",
            kind="credentials",
        ) from None


def build_credentials(params: Params) -> Credentials:
    """Return google-auth credentials for ``params['auth_kind']``.

    Keys read: auth_kind, scopes, service_account_file, service_account_contents,
    service_account_email (machineaccount), access_token, impersonate_service_account,
    impersonate_delegates, iam_endpoint. Impersonation uses, as its source credential, the
    service-account key when one is given, else the access token, else application default
    credentials.
    """
    require_google_auth()
    kind = params.get("auth_kind") or "application"
    scopes = list(params.get("scopes") or DEFAULT_SCOPES)
    if kind not in AUTH_KINDS:
        raise GcpError("auth_kind '{}' is not supported; use one of: {}.".format(kind, ", ".join(AUTH_KINDS)),
                       kind="credentials")
    if kind == "serviceaccount":
        return _from_key(params, scopes)
    if kind == "accesstoken":
        token = params.get("access_token")
        if not token:
            raise GcpError("auth_kind 'accesstoken' needs access_token (for example from `gcloud auth "
                           "print-access-token`, kept in a vault).", kind="credentials")
        return oauth2_credentials.Credentials(token=str(token))
    if kind == "machineaccount":
        email = params.get("service_account_email") or "default"
        return compute_engine.Credentials(service_account_email=email, scopes=scopes)
    if kind == "application":
        return _application_default(scopes)
    # impersonate
    target = params.get("impersonate_service_account")
    if not target:
        raise GcpError("auth_kind 'impersonate' needs impersonate_service_account (the e-mail of the service "
                       "account to act as).", kind="credentials")
    if params.get("service_account_file") or params.get("service_account_contents"):
        source = _from_key(params, list(DEFAULT_SCOPES))
    elif params.get("access_token"):
        source = oauth2_credentials.Credentials(token=str(params["access_token"]))
    else:
        source = _application_default(list(DEFAULT_SCOPES))
    iam = (params.get("iam_endpoint") or DEFAULT_IAM_ENDPOINT).rstrip("/")
    return impersonated_credentials.Credentials(
        source_credentials=source,
        target_principal=str(target),
        target_scopes=scopes,
        delegates=list(params.get("impersonate_delegates") or []) or None,
        iam_endpoint_override=f"{iam}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
    )


def _application_default(scopes: list[str]) -> Credentials:
    """Application default credentials, or a GcpError naming the three ways to provide them."""
    try:
        creds, _project = google.auth.default(scopes=scopes)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise GcpError(
            f"No application default credentials were found ({exc}). Run `gcloud auth application-default login`, "
            "set GOOGLE_APPLICATION_CREDENTIALS to a key file, or choose another auth_kind.",
            kind="credentials",
        ) from None
    return creds


def credential_fingerprint(params: Params) -> tuple[Hashable, ...]:
    """Hashable identity of a credential configuration, used to share one session per credential.

    Every option of ``AUTH_OPTIONS`` counts; an unset option counts as its default, so leaving
    ``auth_kind`` out and naming the default share a session. The options the spec marks
    ``no_log`` are hashed, never kept in the key, so the cache never holds them in clear text twice.
    """
    def part(name: str) -> Hashable:
        spec = AUTH_ARGUMENT_SPEC[name]
        value = params.get(name)
        if value is None or value == []:
            value = spec.get("default")
        if spec.get("no_log"):
            return _digest(value)
        return tuple(value) if isinstance(value, (list, tuple)) else value

    return tuple(part(name) for name in AUTH_OPTIONS)


def _digest(value: Any) -> str | None:
    """sha256 of a secret (a dict is serialised with sorted keys first), or None when it is not set."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = json.dumps(value, sort_keys=True)
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()
