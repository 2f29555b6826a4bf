"""One authorised HTTP session per credential, with retries, pagination and operation polling.

Every nearzero plugin, module and lookup talks to Google through ``GcpClient``:

- the access token is fetched once and shared by all threads (a lock makes concurrent first
  requests wait for one refresh instead of each fetching a token), refreshed only when it is
  about to expire or after a 401;
- 429, 5xx, rate-limit 403s, connection errors, timeouts and unparsable bodies are retried
  with exponential backoff and full jitter (AWS architecture blog's "full jitter": sleep a
  random time between 0 and min(cap, base * 2**attempt)), honouring Retry-After;
- responses are gzip-compressed (Google only compresses when the User-Agent says "gzip");
- every failure becomes a ``GcpError`` whose message names the project, permission and fix.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.arguments import (
    HTTP_ARGUMENT_SPEC,
    OptionGetter,
    auth_params,
    client_settings,
)
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.auth import (
    build_credentials,
    credential_fingerprint,
    require_google_auth,
)
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import (
    RATE_REASONS,
    GcpError,
    explain_http_error,
    parse_error_body,
)

try:
    import requests
    from google.auth import exceptions as auth_exceptions
    from google.auth.transport.requests import AuthorizedSession
except ImportError:  # require_google_auth() reports it with the fix
    requests = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

USER_AGENT = "nearzero-gcp/0.1.0 (gzip)"
RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))
# the documented option defaults, under GcpClient's names, for callers that build a client directly
DEFAULTS: dict[str, Any] = {**client_settings(lambda name: HTTP_ARGUMENT_SPEC[name]["default"]), "pool_size": 16}


class GcpClient:
    """Authorised, retrying JSON client bound to one credential.

    ``settings``: timeout (seconds per request), retries (extra attempts after the first),
    backoff_base and backoff_max (seconds), pool_size (HTTP connections kept per host; set it
    to at least the number of threads that share the client).
    """

    def __init__(self, credentials: Credentials, **settings: Any) -> None:
        require_google_auth()
        conf = dict(DEFAULTS)
        conf.update({k: v for k, v in settings.items() if v is not None})
        self.timeout = float(conf["timeout"])
        self.retries = max(0, int(conf["retries"]))
        self.backoff_base = float(conf["backoff_base"])
        self.backoff_max = float(conf["backoff_max"])
        self.credentials = credentials
        # 401 handling is done here (under the token lock), not by AuthorizedSession, so that
        # several threads hitting an expired token cause one refresh, not one each.
        self.session = AuthorizedSession(credentials, refresh_status_codes=())
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=int(conf["pool_size"]))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
        self._token_lock = threading.Lock()
        self.request_count = 0
        self.token_refreshes = 0

    # -- tokens ---------------------------------------------------------------------------
    def _refresh_locked(self) -> None:
        """Fetch a new token; the caller holds the token lock."""
        try:
            self.credentials.refresh(self.session._auth_request)
        except auth_exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise
            raise GcpError(
                f"Could not obtain an access token: {_short(exc)}. Check the credential (auth_kind, key file or "
                "token, the impersonated account and the Service Account Token Creator role).",
                kind="credentials",
            ) from None
        self.token_refreshes += 1

    def ensure_token(self, stale_token: str | None = None) -> str:
        """Make sure a valid token is cached; with ``stale_token``, replace it if still current."""
        with self._token_lock:
            if not self.credentials.valid or (stale_token is not None and self.credentials.token == stale_token):
                self._refresh_locked()
            return self.credentials.token

    # -- requests -------------------------------------------------------------------------
    def _sleep(self, attempt: int, response: requests.Response | None = None) -> None:
        """Full-jitter backoff before retry ``attempt``; a Retry-After header (capped) wins."""
        delay = random.uniform(0, min(self.backoff_max, self.backoff_base * (2 ** attempt)))  # noqa: S311
        if response is not None:
            retry_after = response.headers.get("Retry-After")
            if retry_after and retry_after.isdigit():
                delay = min(float(retry_after), self.backoff_max)
        time.sleep(delay)

    def request(self, method: str, url: str, params: Mapping[str, Any] | None = None, json: Any = None,
                context: Mapping[str, Any] | None = None, retry: bool | str = True) -> requests.Response:
        """Send one API request and return the ``requests.Response`` (2xx only).

        ``context`` feeds error messages (see errors.explain_http_error). ``retry`` says which
        failures are sent again (with backoff, up to ``retries`` extra attempts):

        - ``True``: every transient failure (429, 5xx, rate-limit 403, connection errors,
          timeouts). For reads and idempotent mutations (a PATCH carrying the whole desired
          state), where a repeat after a lost response does no harm.
        - ``"unprocessed"``: only failures where the server did not act on the request: 429,
          rate-limit 403s and connections that were never established. For mutations a repeat
          could apply twice (promoteReplica).
        - ``False``: exactly once.

        Every GcpError raised here carries ``attempts`` and ``elapsed``, and its message says them.
        """
        attempts = self.retries + 1 if retry else 1
        refreshed_after_401 = False
        last_problem = None
        attempt = 0
        started = time.monotonic()
        not_retried = ""
        while attempt < attempts:
            try:
                token = self.ensure_token()
                self.request_count += 1
                resp = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout, auth_exceptions.TransportError,
                    auth_exceptions.RefreshError) as exc:
                last_problem = exc
                attempt += 1
                if retry == "unprocessed" and not _never_sent(exc):
                    not_retried = "; not retried: the request may have reached the API, and repeating it is unsafe"
                    break
                if attempt < attempts:
                    self._sleep(attempt - 1)
                continue
            if resp.status_code == 401 and not refreshed_after_401:
                # Token expired or revoked early: refresh once (unless another thread already did).
                refreshed_after_401 = True
                self.ensure_token(stale_token=token)
                continue
            rate_limited = resp.status_code == 429 or (resp.status_code == 403 and _is_rate_limit(resp))
            if rate_limited or resp.status_code in RETRY_STATUSES:
                last_problem = resp
                attempt += 1
                if retry == "unprocessed" and not rate_limited:
                    not_retried = "; not retried: the API may have acted on it, and repeating it is unsafe"
                    break
                if attempt < attempts:
                    self._sleep(attempt - 1, resp)
                continue
            if resp.status_code >= 400:
                # a definitive answer; worth telling only when transient failures came before it
                raise explain_http_error(resp.status_code, resp.text, url, context).tried(
                    attempt + 1, time.monotonic() - started, say=attempt > 0)
            return resp
        elapsed = time.monotonic() - started
        if not retry and last_problem is not None:
            not_retried = "; sent once by design"
        if isinstance(last_problem, requests.Response):
            raise explain_http_error(last_problem.status_code, last_problem.text, url, context).tried(
                attempt, elapsed, not_retried)
        ctx = context or {}
        in_project = f" in project '{ctx['project']}'" if ctx.get("project") else ""
        option = f" ({ctx['endpoint_option']})" if ctx.get("endpoint_option") else ""
        raise GcpError(
            f"Could not reach {url} for {ctx.get('resource', 'the request')}{in_project}: "
            f"{_short(last_problem)}. Check the network, proxy settings and the API endpoint option"
            f"{option}.",
            project=ctx.get("project"), url=url, kind="network").tried(attempt, elapsed, not_retried)

    def get_json(self, url: str, params: Mapping[str, Any] | None = None,
                 context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``url`` and return the decoded JSON object; a malformed body is retried like a 5xx."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            resp = self.request("GET", url, params=params, context=context)
            try:
                data = resp.json()
            except ValueError:
                data = None
            if isinstance(data, dict):
                return data
            if attempt + 1 < attempts:
                self._sleep(attempt)
        ctx = context or {}
        raise GcpError(f"The API returned a malformed (non-JSON) response for {ctx.get('resource', 'the request')} "
                       f"from {url} {attempts} time(s) in a row.",
                       project=ctx.get("project"), url=url, kind="malformed")

    def paginate(self, url: str, params: Mapping[str, Any] | None = None,
                 context: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every page of a list call, following ``nextPageToken``."""
        params = dict(params or {})
        seen = set()
        while True:
            page = self.get_json(url, params=params, context=context)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen:
                raise GcpError(f"The API returned the same nextPageToken twice for {url}; stopping to avoid an endless "
                               "loop.", url=url, kind="http")
            seen.add(token)
            params["pageToken"] = token

    def wait_operation(self, url: str, operation: Mapping[str, Any] | None = None, timeout: float = 600.0,
                       poll_interval: float = 1.0, max_interval: float = 10.0,
                       context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Poll the operation at ``url`` until ``status == DONE``; raise GcpError on error or timeout.

        ``url`` is built by the caller from its configured endpoint and the operation's name,
        never taken from the Operation's ``selfLink``: Google always names its public host there,
        whatever endpoint (a private one, a proxy) the caller was told to use. ``operation`` is
        the Operation the mutation returned, if any (no poll is needed when it is already DONE).
        Each poll is a GET with the client's retries. Works for Compute, SQL Admin and any API
        whose operations carry ``status``/``error.errors[]``.
        """
        if not url:
            raise GcpError("Cannot wait for an operation without its URL.", kind="operation")
        op = operation
        deadline = time.monotonic() + float(timeout)
        interval = float(poll_interval)
        while op is None or op.get("status") != "DONE":
            if op is not None:
                if time.monotonic() + interval > deadline:
                    raise GcpError(
                        f"Operation {op.get('name', url)} did not finish within {timeout} s (last status "
                        f"{op.get('status')}). It may still complete in GCP: check it at {url}, or raise the timeout.",
                        url=url, kind="timeout")
                time.sleep(interval)
                interval = min(interval * 1.5, max_interval)
            op = self.get_json(url, context=context)
        if op.get("error"):
            errors = op["error"].get("errors") or [op["error"]]
            text = "; ".join("{}: {}".format(e.get("code", "ERROR"), e.get("message", "")) for e in errors)
            target = op.get("targetLink") or op.get("targetId") or op.get("name")
            raise GcpError(f"Operation {op.get('name')} on {target} failed: {text}", url=url, kind="operation")
        return dict(op)


def _is_rate_limit(resp: requests.Response) -> bool:
    """Whether a 403 is a rate limit (retried) rather than a denied permission."""
    _msg, reasons = parse_error_body(resp.text)
    return any(r in RATE_REASONS for r in reasons)


def _never_sent(exc: Exception) -> bool:
    """Whether a transport failure happened before the request left this machine (safe to repeat).

    A connect timeout or a refused/unresolvable connection never carried the request; a read
    timeout or a dropped connection may have, after the server acted on it.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, (auth_exceptions.RefreshError, auth_exceptions.TransportError)):
        return True  # the token fetch failed: the API request itself was never sent
    cause = exc.args[0] if exc.args else None
    return type(getattr(cause, "reason", None)).__name__ == "NewConnectionError"


def _short(exc: object) -> str:
    """The text of an exception (or a response) cut to a length an error message can carry."""
    text = str(exc) or exc.__class__.__name__
    return text if len(text) < 300 else text[:300] + "..."


_CLIENTS: dict[tuple[Any, ...], GcpClient] = {}
_CLIENTS_LOCK = threading.Lock()


def get_client(auth_params: Mapping[str, Any], **settings: Any) -> GcpClient:
    """Return the process-wide GcpClient for this credential and these settings, creating it once.

    Lookups run once per task and item; sharing the client means one token and one connection
    pool for a whole playbook run instead of one per call.
    """
    key = (credential_fingerprint(auth_params), tuple(sorted((k, v) for k, v in settings.items() if v is not None)))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = GcpClient(build_credentials(auth_params), **settings)
            _CLIENTS[key] = client
        return client


def client_from_options(get_option: OptionGetter, *, scopes: Sequence[str] | None = None,
                        pool_size: int | None = None) -> GcpClient:
    """The client for the nearzero.gcp.gcp_auth options read through ``get_option``.

    The one way every module (``AnsibleGcpModule.client``), lookup and inventory plugin turns its
    options into a client, whatever holds them: ``module.params.get``, ``plugin.get_option``, or a
    getter that templates first. ``scopes`` replaces the configured scopes when a call needs its
    own (the Cloud SQL IAM login token); ``pool_size`` is for callers that share the client
    between threads. Raises GcpError (credentials, dependency) naming the fix.
    """
    params = auth_params(get_option)
    if scopes is not None:
        params["scopes"] = list(scopes)
    return get_client(params, **client_settings(get_option), pool_size=pool_size)
