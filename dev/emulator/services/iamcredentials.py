"""IAM Credentials ``generateAccessToken`` (service-account impersonation).

google-auth's ``impersonated_credentials.Credentials(..., iam_endpoint_override=URL)``
posts here with the source credential's bearer token.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from urllib.parse import unquote

from ..errors import ApiError
from ..server import Response

IAM_SCOPES = ("https://www.googleapis.com/auth/iam",)


def register(router, emulator):
    """Serve ``POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken``."""

    def generate(call):
        emu = call.emulator
        email = unquote(call.params["email"])
        if email not in emu.auth.service_accounts:
            raise ApiError(404, f"Not found; Gaia id not found for email {email}", "notFound", status="NOT_FOUND")
        try:
            body = call.request.json() or {}
        except json.JSONDecodeError:
            raise ApiError(400, "Invalid JSON payload received.", "badRequest", status="INVALID_ARGUMENT") from None
        scopes = body.get("scope") or []
        if not scopes:
            raise ApiError(400, "Scope required.", "badRequest", status="INVALID_ARGUMENT")
        lifetime = body.get("lifetime", "3600s")
        match = re.fullmatch(r"(\d+)(?:\.\d+)?s", str(lifetime))
        if not match or not 1 <= int(match.group(1)) <= 43200:
            raise ApiError(
                400,
                f"Invalid value for lifetime: {lifetime!r} (use e.g. '3600s', at most 43200s).",
                "badRequest",
                status="INVALID_ARGUMENT",
            )
        ttl = min(int(match.group(1)), emu.auth.token_ttl)
        issued = emu.auth.issue(email, scopes, "impersonation", ttl=ttl)
        expire = datetime.fromtimestamp(time.time() + ttl, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Response(body={"accessToken": issued.value, "expireTime": expire})

    router.add(
        "POST",
        r"/v1/projects/-/serviceAccounts/(?P<email>[^/:]+):generateAccessToken",
        generate,
        kind="iam.generateAccessToken",
        scopes=IAM_SCOPES,
    )
