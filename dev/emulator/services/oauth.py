"""The OAuth2 token endpoint ``POST /token``: JWT-bearer (service accounts) and refresh-token grants."""

from __future__ import annotations

from ..auth import GOOGLE_TOKEN_AUDIENCES
from ..errors import OAuthError
from ..server import Response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def register(router, emulator):
    """Serve ``POST /token`` (also at Google's ``/oauth2/v4/token`` path)."""

    def token(call):
        emu = call.emulator
        content_type = call.request.headers.get("content-type") or ""
        if "application/x-www-form-urlencoded" not in content_type:
            raise OAuthError("invalid_request", "Token requests must be application/x-www-form-urlencoded.")
        form = call.request.form()
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            if not form.get("assertion"):
                raise OAuthError("invalid_request", "Missing required parameter: assertion")
            claims = emu.auth.verify_jwt(form["assertion"], (emu.token_uri, *GOOGLE_TOKEN_AUDIENCES))
            scopes = claims.get("scope", "").split()
            if not scopes:
                raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
            principal = claims.get("sub") or claims["iss"]
        elif grant == "refresh_token":
            user = emu.auth.refresh_user(form)
            scopes = form.get("scope", "").split() or ["https://www.googleapis.com/auth/cloud-platform"]
            principal = user["email"]
        elif not grant:
            raise OAuthError("unsupported_grant_type", "Missing required parameter: grant_type")
        else:
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")
        issued = emu.auth.issue(principal, scopes, "oauth")
        return Response(
            body={
                "access_token": issued.value,
                "expires_in": emu.auth.token_ttl,
                "scope": " ".join(scopes),
                "token_type": "Bearer",
            },
            headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"},
        )

    router.add("POST", r"/token", token, kind="oauth.token", auth=False, google=False)
    router.add("POST", r"/oauth2/v4/token", token, kind="oauth.token", auth=False, google=False)
