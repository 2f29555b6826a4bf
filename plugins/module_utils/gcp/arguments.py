"""The one definition of the GCP credential and HTTP options every module, lookup and inventory takes.

Modules merge ``gcp_argument_spec()`` into their own spec (``AnsibleGcpModule`` does it), so the
environment fallbacks, choices, defaults and ``no_log`` live here once. Plugins cannot take an
argument spec: their options come from the doc fragment ``nearzero.gcp.gcp_auth``, which a unit
test (tests/unit/plugins/module_utils/test_gcp_arguments.py) holds equal to this spec. Both kinds
then read the same names through one getter and build their client with
``client.client_from_options``.

Only the standard library and ansible.module_utils are imported, so this file works on the
controller and inside AnsiballZ payloads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Final

from ansible.module_utils.basic import env_fallback

OptionSpec = dict[str, Any]
ArgumentSpec = dict[str, OptionSpec]
OptionGetter = Callable[[str], Any]

AUTH_KINDS: Final[tuple[str, ...]] = ("application", "serviceaccount", "machineaccount", "accesstoken", "impersonate")
DEFAULT_SCOPES: Final[tuple[str, ...]] = ("https://www.googleapis.com/auth/cloud-platform",)
DEFAULT_IAM_ENDPOINT: Final[str] = "https://iamcredentials.googleapis.com"


def _env(name: str) -> OptionSpec:
    """The spec keys that make an option fall back to environment variable ``name`` when it is not set."""
    return {"fallback": (env_fallback, [name])}


# Who the caller is. service_account_contents and access_token are credentials: no_log.
AUTH_ARGUMENT_SPEC: Final[ArgumentSpec] = {
    "auth_kind": {"type": "str", "default": "application", "choices": list(AUTH_KINDS), **_env("GCP_AUTH_KIND")},
    "service_account_file": {"type": "path", **_env("GCP_SERVICE_ACCOUNT_FILE")},
    "service_account_contents": {"type": "raw", "no_log": True, **_env("GCP_SERVICE_ACCOUNT_CONTENTS")},
    "service_account_email": {"type": "str", **_env("GCP_SERVICE_ACCOUNT_EMAIL")},
    "access_token": {"type": "str", "no_log": True, **_env("GCP_ACCESS_TOKEN")},
    "impersonate_service_account": {"type": "str", **_env("GCP_IMPERSONATE_SERVICE_ACCOUNT")},
    "impersonate_delegates": {"type": "list", "elements": "str", "default": []},
    "iam_endpoint": {"type": "str", "default": DEFAULT_IAM_ENDPOINT, **_env("GCP_IAM_ENDPOINT")},
    "scopes": {"type": "list", "elements": "str", "default": list(DEFAULT_SCOPES)},
}

# How patiently the shared client talks to the API (GcpClient's timeout, retries and backoff).
HTTP_ARGUMENT_SPEC: Final[ArgumentSpec] = {
    "timeout": {"type": "float", "default": 30},
    "retries": {"type": "int", "default": 5},
    "retry_backoff": {"type": "float", "default": 0.5},
    "retry_backoff_max": {"type": "float", "default": 16},
}

AUTH_OPTIONS: Final[tuple[str, ...]] = tuple(AUTH_ARGUMENT_SPEC)
HTTP_OPTIONS: Final[tuple[str, ...]] = tuple(HTTP_ARGUMENT_SPEC)
GCP_OPTIONS: Final[tuple[str, ...]] = AUTH_OPTIONS + HTTP_OPTIONS


def gcp_argument_spec() -> ArgumentSpec:
    """A fresh copy of every GCP option's spec, safe for the caller to merge into and change."""
    return copy.deepcopy({**AUTH_ARGUMENT_SPEC, **HTTP_ARGUMENT_SPEC})


def env_variables(option: str) -> list[str]:
    """The environment variables option ``option`` falls back to (empty when it has none)."""
    fallback = {**AUTH_ARGUMENT_SPEC, **HTTP_ARGUMENT_SPEC}[option].get("fallback")
    return list(fallback[1]) if fallback else []


def auth_params(get_option: OptionGetter) -> dict[str, Any]:
    """The credential options read through ``get_option``, as ``auth.build_credentials`` takes them.

    Lists are copied into plain lists: plugin options may arrive as tuples or tagged sequences,
    and the credential fingerprint hashes them.
    """
    params = {name: get_option(name) for name in AUTH_OPTIONS}
    for name in ("scopes", "impersonate_delegates"):
        params[name] = list(params[name] or [])
    return params


def client_settings(get_option: OptionGetter) -> dict[str, Any]:
    """The HTTP options read through ``get_option``, under the names ``GcpClient`` takes."""
    return {
        "timeout": get_option("timeout"),
        "retries": get_option("retries"),
        "backoff_base": get_option("retry_backoff"),
        "backoff_max": get_option("retry_backoff_max"),
    }
