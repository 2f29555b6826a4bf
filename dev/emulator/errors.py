"""Google-style error bodies.

Google APIs answer errors with ``{"error": {"code", "message", "errors": [...], ...}}``;
clients (google-api-core, gcloud, our own client) read ``error.errors[0].reason`` and
``error.status``/``error.details``, so the emulator reproduces those shapes exactly.
"""

from __future__ import annotations

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error answered with a Google API error body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        *,
        domain: str = "global",
        status: str | None = None,
        details: list | None = None,
        extra: dict | None = None,
        headers: dict | None = None,
        item_message: str | None = None,
    ):
        super().__init__(message)
        self.item_message = item_message
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.status = status
        self.details = details
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict:
        """Return the JSON body Google sends for this error."""
        item = {"message": self.item_message or self.message, "domain": self.domain, "reason": self.reason}
        item.update(self.extra)
        err: dict = {"code": self.code, "message": self.message, "errors": [item]}
        if self.status:
            err["status"] = self.status
        if self.details:
            err["details"] = self.details
        return {"error": err}


class OAuthError(Exception):
    """An error answered in the OAuth2 token-endpoint style (``error``/``error_description``)."""

    def __init__(self, error: str, description: str, code: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.code = code

    def body(self) -> dict:
        """Return the OAuth2 error body."""
        return {"error": self.error, "error_description": self.description}


def invalid_value(field: str, value: str, why: str) -> ApiError:
    """400 for a bad request parameter, worded like Compute's own message."""
    return ApiError(400, f"Invalid value for field '{field}': '{value}'. {why}", "invalid")


def not_found(resource: str) -> ApiError:
    """404 for a missing Compute resource."""
    return ApiError(404, f"The resource '{resource}' was not found", "notFound")


def permission_denied(permission: str, resource: str) -> ApiError:
    """403 as Compute answers a caller lacking an IAM permission."""
    return ApiError(403, f"Required '{permission}' permission for '{resource}'", "forbidden")


def api_disabled(project: str, service: str = "compute.googleapis.com", title: str = "Compute Engine API") -> ApiError:
    """403 for an API that is not enabled in the project (SERVICE_DISABLED)."""
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project={project}"
    message = (
        f"{title} has not been used in project {project} before or it is disabled. "
        f"Enable it by visiting {url} then retry. If you enabled this API recently, "
        "wait a few minutes for the action to propagate to our systems and retry."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "SERVICE_DISABLED",
            "domain": "googleapis.com",
            "metadata": {"service": service, "consumer": f"projects/{project}", "activationUrl": url},
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Google developers console API activation", "url": url}],
        },
    ]
    return ApiError(
        403,
        message,
        "accessNotConfigured",
        domain="usageLimits",
        status="PERMISSION_DENIED",
        details=details,
        extra={"extendedHelp": url},
    )


def quota_exceeded(project: str, code: int = 403, service: str = "compute.googleapis.com") -> ApiError:
    """403 ``rateLimitExceeded`` (or 429) for a per-project, per-minute quota."""
    message = (
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' "
        f"of service '{service}' for consumer 'projects/{project}'."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {"service": service, "consumer": f"projects/{project}", "quota_metric": "read_requests"},
        }
    ]
    return ApiError(
        code,
        message,
        "rateLimitExceeded",
        domain="usageLimits",
        status="RESOURCE_EXHAUSTED" if code == 429 else "PERMISSION_DENIED",
        details=details,
        headers={"Retry-After": "1"} if code == 429 else None,
    )


def unauthenticated(missing: bool = False) -> ApiError:
    """401 for a missing, unknown or expired bearer token."""
    if missing:
        message = (
            "Request is missing required authentication credential. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. "
            "See https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
        reason, item_message = "required", "Login Required."
    else:
        message = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. "
            "See https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
        reason, item_message = "authError", "Invalid Credentials"
    return ApiError(
        401,
        message,
        reason,
        status="UNAUTHENTICATED",
        item_message=item_message,
        extra={"location": "Authorization", "locationType": "header"},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


def insufficient_scopes(service: str = "", method: str = "") -> ApiError:
    """403 for a token whose scopes do not cover the API method (reason ACCESS_TOKEN_SCOPE_INSUFFICIENT)."""
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": service, "method": method} if service else {},
        }
    ]
    return ApiError(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        status="PERMISSION_DENIED",
        details=details,
        item_message="Insufficient Permission",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope"'},
    )


def for_status(code: int) -> ApiError:
    """A plausible Google error for an injected HTTP status."""
    if code == 401:
        return unauthenticated()
    if code == 429:
        return quota_exceeded("-", 429)
    if code == 403:
        return ApiError(403, "The caller does not have permission", "forbidden", status="PERMISSION_DENIED")
    if code == 404:
        return ApiError(404, "The requested resource was not found.", "notFound", status="NOT_FOUND")
    if code == 400:
        return ApiError(400, "Invalid request.", "invalid", status="INVALID_ARGUMENT")
    if code == 503:
        return ApiError(503, "The service is currently unavailable.", "backendError", status="UNAVAILABLE")
    if code >= 500:
        return ApiError(
            code,
            "Internal error. Please try again or contact Google Support.",
            "backendError",
            status=STATUS_NAMES.get(code, "INTERNAL"),
        )
    return ApiError(code, f"Injected error {code}.", "injected", status=STATUS_NAMES.get(code))
