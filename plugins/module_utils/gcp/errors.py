"""One exception type for every failure talking to Google APIs.

Messages name the project or resource, the permission involved and the fix, because the
raw API text ("The caller does not have permission") does not say which project or which
permission, and users of an inventory of several projects need both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class GcpError(Exception):
    """A Google API call failed; ``str(exc)`` is a complete, user-facing explanation.

    Attributes let callers branch without parsing the message: ``status`` (HTTP status or
    None for network/credential problems), ``reason`` (API reason such as ``notFound``,
    ``SERVICE_DISABLED``, ``forbidden``), ``project`` and ``url``.
    """

    def __init__(self, message: str, status: int | None = None, reason: str | None = None, project: str | None = None,
                 url: str | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.project = project
        self.url = url
        # Coarse classification callers switch on: not_found, permission_denied,
        # api_disabled, bad_request, unauthenticated, network, timeout, operation,
        # credentials, http, pending (a mutation was accepted but its outcome is not known).
        self.kind = kind
        # set by GcpClient.request: how many times the request was sent, over how many seconds
        self.attempts: int | None = None
        self.elapsed: float | None = None
        # the long-running Operation this error is about, when the API had accepted the change
        self.operation: str | None = None

    def tried(self, attempts: int, elapsed: float, note: str = "", say: bool = True) -> GcpError:
        """Record how often the request was sent (and, with ``say``, tell it in the message); return self."""
        self.attempts, self.elapsed = attempts, elapsed
        if say:
            self.message = f"{self.message} Gave up after {attempts} attempt(s) over {elapsed:.1f} s{note}."
            self.args = (self.message,)
        return self


def parse_error_body(text: str | None) -> tuple[str, list[str]]:
    """Return (message, reasons) from a Google JSON error body; tolerate non-JSON bodies.

    Reasons gathers both the legacy ``errors[].reason`` values (``accessNotConfigured``,
    ``forbidden``, ``rateLimitExceeded``) and ``details[].reason`` of ``google.rpc.ErrorInfo``
    (``SERVICE_DISABLED``, ``IAM_PERMISSION_DENIED``), since APIs send one, the other or both.
    """
    try:
        body = json.loads(text or "")
    except (TypeError, ValueError):
        return (text or "").strip()[:300], []
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, str):
        # OAuth token endpoint style: {"error": "invalid_grant", "error_description": "..."}
        return "{}: {}".format(err, body.get("error_description", "")), [err]
    if not isinstance(err, dict):
        return (text or "").strip()[:300], []
    reasons = []
    for item in err.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            reasons.append(item["reason"])
    for item in err.get("details") or []:
        if isinstance(item, dict) and item.get("reason"):
            reasons.append(item["reason"])
    if err.get("status"):
        reasons.append(err["status"])
    return str(err.get("message") or "").strip(), reasons


DISABLED_REASONS = ("accessNotConfigured", "SERVICE_DISABLED")
RATE_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED", "quotaExceeded")


def explain_http_error(status: int, text: str | None, url: str, context: Mapping[str, Any] | None = None) -> GcpError:
    """Build a GcpError for an HTTP error response.

    ``context`` is a dict the caller fills with what it was doing: ``project``,
    ``resource`` (e.g. "instances in zone us-central1-a"), ``permission``
    (e.g. "compute.instances.list"), ``api`` (human name, "Compute Engine API"),
    ``service`` ("compute.googleapis.com"), ``role`` (a role granting the permission)
    and ``bad_request_hint`` (what a 400 most likely means, e.g. the filter option).
    """
    ctx = context or {}
    project = ctx.get("project")
    api = ctx.get("api", "Google API")
    service = ctx.get("service", "the API")
    where = f" in project '{project}'" if project else ""
    what = ctx.get("resource") or "resource"
    api_message, reasons = parse_error_body(text)
    detail = f" (API said: {api_message})" if api_message else ""
    reason = reasons[0] if reasons else None

    if status == 404:
        if project and ctx.get("project_scoped", True):
            msg = (f"Project '{project}' was not found, or the {api} cannot see it (HTTP 404 for {what}). "
                   f"Check the project ID (the ID, not the display name or number) in the 'projects' option.{detail}")
        else:
            msg = f"{what} was not found (HTTP 404, {url}).{detail}"
        return GcpError(msg, status, reason or "notFound", project, url, "not_found")
    if status == 403 and any(r in DISABLED_REASONS for r in reasons):
        msg = (f"The {api} is disabled in project '{project}' (HTTP 403 {reason}). Enable it with "
               f"`gcloud services enable {service} --project {project}` or at "
               f"https://console.cloud.google.com/apis/library/{service}?project={project}, wait a minute, "
               f"then retry; or remove the project from the configuration.{detail}")
        return GcpError(msg, status, reason, project, url, "api_disabled")
    if status == 403:
        perm = ctx.get("permission")
        role = ctx.get("role")
        if perm:
            example = f" (for example {role})" if role else ""
            msg = (f"Permission denied{where}: the credential lacks '{perm}' (HTTP 403 while listing {what}). "
                   f"Grant it a role that includes '{perm}'{example} on project '{project}', or use a credential "
                   f"that has it.{detail}")
        else:
            msg = f"Permission denied{where} for {what} (HTTP 403).{detail}"
        return GcpError(msg, status, reason or "forbidden", project, url, "permission_denied")
    if status == 400:
        hint = ctx.get("bad_request_hint") or "Check the request parameters."
        msg = f"The {api} rejected the request for {what}{where} as invalid (HTTP 400). {hint}{detail}"
        return GcpError(msg, status, reason or "badRequest", project, url, "bad_request")
    if status == 401:
        msg = (f"Authentication failed (HTTP 401) calling the {api} for {what}{where}: the access token was "
               "rejected even after refreshing it. Check auth_kind and the credential (key file, access token or "
               f"impersonated account); a static access token may have expired.{detail}")
        return GcpError(msg, status, reason or "unauthenticated", project, url, "unauthenticated")
    if status == 429 or any(r in RATE_REASONS for r in reasons):
        msg = (f"Quota or rate limit exceeded{where} for {what} (HTTP {status}) after all retries. Lower the "
               f"concurrency or raise the retry settings.{detail}")
        return GcpError(msg, status, reason or "rateLimitExceeded", project, url, "rate_limited")
    msg = f"The {api} failed for {what}{where} with HTTP {status} at {url}.{detail}"
    return GcpError(msg, status, reason, project, url, "http")
