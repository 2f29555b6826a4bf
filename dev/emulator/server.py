"""The emulator: an HTTP server on 127.0.0.1 whose routes come from pluggable services.

A service is a module in ``emulator/services/`` with ``register(router, emulator)``; it
adds routes and may return an object kept in ``emulator.services[name]``. Adding a
service means adding its module and one line to ``SERVICES``.

Every request goes through the same pipeline: record it, count it by route kind, apply
the configured latency and fault rules, check the bearer token (routes with
``auth=True``), check the request against the route's discovery method (scopes, query
parameters, body; see ``discovery.py``), run the handler, then encode the body
(``fields=``, ``prettyPrint``, gzip) the way Google front ends do.
"""

from __future__ import annotations

import errno
import gzip
import importlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from . import dataset
from . import fields as fields_mod
from .auth import AuthState, new_key_pair
from .discovery import Method, NoMethodError, check_selection, method_for
from .errors import ApiError, OAuthError, for_status, unauthenticated
from .faults import FaultSet
from .jsonenc import dumps
from .store import ComputeStore

LOG = logging.getLogger("emulator")

# Services loaded by every emulator, in route-priority order: one line per service.
SERVICES = [
    "admin",
    "oauth",
    "metadata",
    "iamcredentials",
    "compute",
    "servicenetworking",  # private services access connections (issue 18)
    "compute_ops",  # Compute operations get/wait (issue 18)
    "compute_network",  # VPC networks, subnetworks, firewalls, routers, global addresses (issue 18)
    "compute_fleet",  # instances insert/delete/set*, resource policies, machine/accelerator types (issue 18)
    "sqladmin",
    "sqladmin_backups",  # backup runs and point-in-time clones (issue 21)
    "secretmanager",  # the database tier (issue 7)
    "storage",  # gs:// engine artifacts (issue 6)
    "guest_attributes",  # instances.getGuestAttributes: published SSH host keys (issue 19)
]

_REQUEST_LOG_LIMIT = 20000
_RAW = object()  # RecordedRequest.accepted before a discovery method checked the body


class EmulatorError(RuntimeError):
    """The emulator cannot start or was misused; the message names the fix."""


class MetadataError(Exception):
    """A failure of the metadata server (plain text, as the real one answers)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Headers(dict):
    """Request headers: a dict with lower-cased keys, looked up case-insensitively."""

    def __init__(self, items=()):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def get(self, key, default=None):
        """Case-insensitive ``dict.get``."""
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    """One request as the emulator received it (``emulator.requests``)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    raw_body: bytes
    kind: str = "unknown"
    status: int | None = None
    time: float = field(default_factory=time.time)
    # the body as the handler acts on it (output-only fields dropped); raw_body is what was sent
    accepted: object = field(default=_RAW, repr=False)

    @property
    def body(self) -> str:
        """The body decoded as UTF-8."""
        return self.raw_body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON: for a method with a request schema, the checked body without output-only fields."""
        if self.accepted is not _RAW:
            return self.accepted
        return json.loads(self.raw_body or b"null")

    def form(self) -> dict[str, str]:
        """The body parsed as an urlencoded form (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body, keep_blank_values=True).items()}


@dataclass
class Response:
    """What a handler answers. ``body``: JSON data (may hold fragments), ``bytes`` or ``str``."""

    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json; charset=UTF-8"


@dataclass
class Route:
    """A method + path pattern served by a handler."""

    method: str
    pattern: re.Pattern
    handler: object
    kind: str
    auth: bool
    scopes: tuple
    google: bool
    schema: tuple | None
    method_spec: Method | None = None


@dataclass
class Call:
    """What a handler gets: the emulator, the request, the path parameters and the caller's token."""

    emulator: Emulator
    request: RecordedRequest
    params: dict
    token: object = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter."""
        values = self.request.query.get(name)
        return values[-1] if values else default


class Router:
    """Routes in registration order; the first match wins."""

    def __init__(self):
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        pattern: str,
        handler,
        *,
        kind: str,
        auth: bool = True,
        scopes=(),
        google: bool = True,
        schema: tuple[str, str] | None = None,
    ):
        """Serve ``method`` on paths fully matching ``pattern`` with ``handler(call) -> Response``.

        ``auth``: require a valid bearer token (accepted ``scopes``; cloud-platform always works).
        ``google``: a Google API front end (``fields=``, ``prettyPrint``, gzip apply).
        ``schema``: ``(discovery document, response schema)``, e.g. ``("compute.v1", "InstanceList")``,
        against which ``fields=`` selections are checked; by default the response schema of the
        kind's discovery method.

        A Google API route's ``kind`` names its discovery method (``discovery.method_for``); its
        requests are then checked against that method: a token needs one of its ``scopes`` or of
        ``scopes`` (what the API accepts beyond its document).
        A kind that maps to no method is served unchecked (a test lists such routes).
        """
        spec = None
        if google:
            try:
                spec = method_for(kind)
            except NoMethodError:
                spec = None
        if schema is None and spec is not None and spec.response:
            schema = (spec.document, spec.response)
        route = Route(method, re.compile(pattern), handler, kind, auth, tuple(scopes), google, schema, spec)
        self.routes.append(route)

    def match(self, method: str, path: str):
        """``(route, match)``, or ``(None, allowed_methods)`` when nothing serves ``method`` there."""
        allowed = []
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found:
                if route.method == method:
                    return route, found
                allowed.append(route.method)
        return None, allowed


# Linux: bind an address this machine does not (yet) have; Python 3.11 has no name for it
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    # a second emulator must not silently share a port with a live one
    allow_reuse_address = False
    # a listener for the lab's hosts: bound with IP_FREEBIND (its address may not exist yet) and
    # serving Google's APIs only, never the /_emulator/ test controls
    lab_listener = False

    def server_bind(self):
        if self.lab_listener:
            self.socket.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        super().server_bind()


class _LabServer(_Server):
    lab_listener = True


def lab_gateways(lab_dir) -> list[str]:
    """The gateway addresses of a lab's networks (``lab.json``, written by labctl.py up), or []."""
    try:
        networks = json.loads((Path(lab_dir) / "lab.json").read_text()).get("networks") or {}
    except (FileNotFoundError, ValueError):
        return []
    return sorted({spec["gateway"] for spec in networks.values() if spec.get("gateway")})


class Emulator:
    """A running (after ``start()``) GCP API emulator; see the README for the API."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency_ms: int = 0):
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.auth = AuthState()
        self.compute = ComputeStore()
        self.faults = FaultSet()
        self.requests: list[RecordedRequest] = []
        self.counters: Counter = Counter()
        self.statuses: Counter = Counter()
        self.metadata_project = "emulator-project"
        self.metadata_email = "123456789012-compute@developer.gserviceaccount.com"
        self.metadata_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
        self.log_requests = False
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._lab_servers: list[_Server] = []
        self.lab_addresses: list[str] = []
        self._thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._lab_file: Path | None = None
        self._lab_mtime: float | None = None
        self.router = Router()
        self.services: dict[str, object] = {}
        for name in SERVICES:
            module = importlib.import_module(f"{__package__}.services.{name}")
            self.services[name] = module.register(self.router, self)

    # -- lifecycle
    def start(self) -> Emulator:
        """Bind and serve in background threads; raise EmulatorError naming the port if it is taken.

        In lab mode the emulator also listens, on the same port, on the gateway of each of the lab's
        networks (``lab.json``): the lab's hosts reach it there as a VM reaches Google's APIs and its
        metadata server. Those listeners are bound with IP_FREEBIND, because a lab network's gateway
        address exists only once its first container runs, and they serve no ``/_emulator/`` control.
        Never on all interfaces.
        """
        gateways = [g for g in lab_gateways(self._lab_file.parent) if g != self.host] if self._lab_file else []
        for attempt in range(5):
            servers = []
            try:
                servers.append(self._bind(_Server, self.host, self.port))
                servers += [self._bind(_LabServer, gateway, servers[0].server_address[1]) for gateway in gateways]
            except EmulatorError:
                for server in servers:
                    server.server_close()
                if self.port or not servers or attempt == 4:
                    raise
                continue  # the free port picked on the first address is taken on a gateway: pick another
            break
        self._server, self._lab_servers = servers[0], servers[1:]
        self.port = self._server.server_address[1]
        self.lab_addresses = gateways
        self._threads = [threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                         for server in servers]
        for thread in self._threads:
            thread.start()
        self._thread = self._threads[0]
        return self

    def _bind(self, kind, host: str, port: int):
        try:
            return kind((host, port), _handler_class(self))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EmulatorError(
                    f"port {port} on {host} is already in use: stop the process listening there "
                    "or pick another port with --port PORT (--port 0 picks a free one)"
                ) from None
            raise EmulatorError(f"cannot listen on {host}:{port}: {exc.strerror}") from None

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            for server in [self._server, *self._lab_servers]:
                server.shutdown()
                server.server_close()
            self._server = None
            self._lab_servers = []

    @property
    def lab_urls(self) -> list[str]:
        """Where the lab's hosts reach the emulator: ``http://GATEWAY:PORT`` per lab network (lab mode)."""
        return [f"http://{address}:{self.port}" for address in self.lab_addresses]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (Compute lives under ``url + "/compute/v1/"``)."""
        if self._server is None:
            raise EmulatorError("the emulator is not started: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def token_uri(self) -> str:
        """The OAuth2 token endpoint clients should use."""
        return self.url + "/token"

    # -- auth
    @property
    def tokens_issued(self) -> int:
        """Access tokens minted since start (or the last reset)."""
        return self.auth.tokens_issued

    @property
    def token_ttl(self) -> int:
        """Lifetime in seconds of the tokens the emulator issues from now on."""
        return self.auth.token_ttl

    @token_ttl.setter
    def token_ttl(self, seconds: int) -> None:
        self.auth.token_ttl = int(seconds)

    def make_service_account(self, email: str = "sa@proj.iam.gserviceaccount.com", project: str = "proj") -> dict:
        """Create a key for ``email``, trust its public half, and return the full key-file JSON."""
        info, key_id, public_key = new_key_pair(project, email, self.token_uri)
        self.auth.register_service_account(email, project, key_id, public_key)
        return info

    def make_authorized_user(self, email: str = "user@example.com") -> dict:
        """An ADC ``authorized_user`` file whose refresh token the emulator accepts."""
        info = {
            "type": "authorized_user",
            "client_id": f"{secrets.token_hex(6)}.apps.googleusercontent.com",
            "client_secret": secrets.token_urlsafe(18),
            "refresh_token": "1//emu-" + secrets.token_urlsafe(32),
            "token_uri": self.token_uri,
            "universe_domain": "googleapis.com",
        }
        self.auth.register_user(info["refresh_token"], info["client_id"], info["client_secret"], email)
        return info

    def add_access_token(self, token: str, principal: str = "user@example.com", scopes=None, ttl: int | None = None):
        """Accept ``token`` as a bearer token as-is (auth_kind accesstoken)."""
        return self.auth.add_access_token(token, principal, scopes, ttl)

    # -- data
    def add_project(self, project: str, zones=()) -> None:
        """Create a project with these zones (names or URLs)."""
        self.compute.add_project(project, zones)

    def add_instances(self, project: str, instances) -> None:
        """Add raw Instance dicts to ``project``; each one's zone comes from its ``zone`` URL."""
        self.compute.add_instances(project, instances)

    def set_project_error(self, project: str, kind: str | None) -> None:
        """Fail every Compute call for ``project`` with the error of ``kind``.

        Kinds: not_found, permission_denied, api_disabled, quota_exceeded (403
        rateLimitExceeded) or rate_limited (429); None heals the project.
        """
        self.compute.set_project_error(project, kind)

    def set_quota(self, project: str, per_minute: int | None, status: int = 403) -> None:
        """Allow ``per_minute`` Compute reads of ``project`` in any 60 s; then 403 rateLimitExceeded (or 429)."""
        self.compute.set_quota(project, per_minute, status)

    def set_unreachable(self, project: str, zones) -> None:
        """Report these zones of ``project`` as unreachable."""
        self.compute.set_unreachable(project, zones)

    def set_network(self, project: str, network: str, mtu: int) -> None:
        """Create or change VPC network ``network`` of ``project`` with this MTU (networks.get)."""
        self.compute.set_network(project, network, mtu)

    def load_document(self, document) -> list[str]:
        """Load a dataset document (see ``dataset.load_document``); return the projects it holds."""
        loaded = dataset.load_document(document)
        for project, spec in loaded.items():
            self.compute.add_project(project, spec["zones"])
            self.compute.add_instances(project, spec["instances"])
            if spec["error"]:
                self.compute.set_project_error(project, spec["error"])
            if spec["unreachable"]:
                self.compute.set_unreachable(project, spec["unreachable"])
        return list(loaded)

    def load_fixture(self, path) -> list[str]:
        """Load a JSON (or YAML) dataset file: a real API dump, a list of instances, or ``{"projects": ...}``."""
        path = Path(path)
        text = path.read_text()
        if path.suffix in (".yml", ".yaml"):
            import yaml

            document = yaml.safe_load(text)
        else:
            document = json.loads(text)
        try:
            return self.load_document(document)
        except ValueError as exc:
            raise EmulatorError(f"{path}: {exc}") from None

    def generate(self, n: int, projects=1, zones=3, seed: int = 0, duplicates: int = 0) -> list[str]:
        """Generate ``n`` realistic instances over ``projects`` and ``zones`` (counts or names)."""
        generated = dataset.generate(n, projects, zones, seed=seed, duplicates=duplicates)
        for project, (zone_names, instances) in generated.items():
            self.compute.add_project(project, zone_names)
            self.compute.add_instances(project, instances)
        return list(generated)

    def load_lab(self, lab_dir) -> list[str]:
        """Serve ``LAB_DIR/instances.json`` (re-read whenever the file changes)."""
        self._lab_file = Path(lab_dir) / "instances.json"
        self._lab_mtime = None
        return self.maybe_reload_lab()

    def maybe_reload_lab(self) -> list[str]:
        """Re-read the lab file if it changed since the last read (lab mode only)."""
        if self._lab_file is None:
            return []
        try:
            stat = self._lab_file.stat()
            mtime = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            mtime = None
        with self._lock:
            if mtime == self._lab_mtime and mtime is not None:
                return []
            self._lab_mtime = mtime
            projects, networks_by_project = dataset.lab_instances(self._lab_file)
            self.compute.clear()
            for project, instances in projects.items():
                zones = sorted({instance["zone"].rsplit("/", 1)[-1] for instance in instances})
                self.compute.add_project(project, zones)
                self.compute.add_instances(project, instances)
            for project, networks in networks_by_project.items():
                for network, mtu in networks.items():
                    self.compute.set_network(project, network, mtu)
            if projects:
                self.metadata_project = next(iter(projects))
        return list(projects)

    # -- observation
    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def stats(self) -> dict:
        """Counters for benchmarks (also served at ``GET /_emulator/stats``)."""
        with self._lock:
            return {
                "requests": dict(self.counters),
                "requests_total": sum(v for k, v in self.counters.items() if not k.startswith("emulator.")),
                "responses": {str(k): v for k, v in self.statuses.items()},
                "tokens_issued": self.auth.tokens_issued,
                "instances": self.compute.instance_count(),
                "faults": [f.describe() for f in self.faults],
            }

    def reset(self) -> None:
        """Zero the counters, forget recorded requests and drop fault rules (data stays)."""
        with self._lock:
            self.counters.clear()
            self.statuses.clear()
            self.requests.clear()
            self.auth.tokens_issued = 0
        self.faults.clear()

    def write_key_files(self, keys_dir) -> dict:
        """Write ``service-account.json``, ``authorized-user.json`` and ``emulator.json`` into ``keys_dir``."""
        keys_dir = Path(keys_dir)
        keys_dir.mkdir(parents=True, exist_ok=True)
        files = {
            "service-account.json": self.make_service_account(
                f"nearzero@{self.metadata_project}.iam.gserviceaccount.com", self.metadata_project
            ),
            "authorized-user.json": self.make_authorized_user(),
            "emulator.json": {
                "url": self.url,
                "compute_endpoint": self.url + "/compute/v1/",
                "token_uri": self.token_uri,
                "metadata_host": f"{self.host}:{self.port}",
                "lab_urls": self.lab_urls,
                "pid": os.getpid(),
            },
        }
        for name, content in files.items():
            target = keys_dir / name
            tmp = target.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(content, handle, indent=2)
            os.replace(tmp, target)
        return {name: str(keys_dir / name) for name in files}

    # -- request pipeline (called from the handler threads)
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if len(self.requests) > _REQUEST_LOG_LIMIT:
                del self.requests[: _REQUEST_LOG_LIMIT // 2]
            self.counters[request.kind] += 1

    def handle(self, method: str, target: str, headers: Headers, body: bytes) -> tuple[int, dict, bytes]:
        """Serve one request; return status, response headers and body bytes."""
        split = urlsplit(target)
        path = split.path
        request = RecordedRequest(method, path, parse_qs(split.query, keep_blank_values=True), headers, body)
        route, found = self.router.match(method, path)
        request.kind = route.kind if route else "unknown"
        self._record(request)
        effect = None
        if not path.startswith("/_emulator/"):
            effect = self.faults.evaluate(method, path)
            delay = self.latency_ms + (effect.latency_ms if effect else 0)
            if delay:
                time.sleep(delay / 1000)
        google = route.google if route else True
        try:
            if effect and effect.expire_token:
                authorization = headers.get("authorization") or ""
                if authorization.lower().startswith("bearer "):
                    self.auth.expire(authorization[7:].strip())
                raise unauthenticated()
            if effect and effect.status:
                raise self._injected(route, effect.status)
            if route is None:
                if found:
                    raise ApiError(
                        405, f"Method {method} is not allowed for {path}; use {', '.join(found)}.", "badMethod"
                    )
                raise ApiError(404, f"The requested URL {path} was not found on this server.", "notFound")
            call = Call(self, request, found.groupdict())
            if route.auth:
                authorization = headers.get("authorization")
                if not authorization and request.query.get("access_token"):
                    # Google also takes the token as a query parameter
                    authorization = "Bearer " + request.query["access_token"][-1]
                spec = route.method_spec
                call.token = self.auth.check_bearer(authorization, () if spec else route.scopes)
                if spec:
                    spec.check_scopes(call.token, route.scopes)
            if route.method_spec:
                route.method_spec.check_query(request.query)
                if route.method_spec.request:
                    request.accepted = route.method_spec.clean_body(body)
            response = route.handler(call)
        except ApiError as exc:
            response = Response(exc.code, exc.body(), dict(exc.headers))
        except OAuthError as exc:
            response = Response(exc.code, exc.body())
            google = False
        except MetadataError as exc:
            response = Response(
                exc.code, f"Injected failure {exc.code}.\n", {"Metadata-Flavor": "Google"}, "text/plain"
            )
            google = False
        except Exception:
            LOG.error("emulator handler failed for %s %s\n%s", method, target, traceback.format_exc())
            response = Response(500, for_status(500).body())
        payload = self._encode(request, response, google, route.schema if route else None)
        out_headers = {"Content-Type": response.content_type, **response.headers}
        if effect and effect.malformed:
            payload = payload[: max(1, len(payload) // 2)]
        if google and "gzip" in (headers.get("accept-encoding") or "") and "gzip" in (headers.get("user-agent") or ""):
            payload = gzip.compress(payload, compresslevel=6)
            out_headers["Content-Encoding"] = "gzip"
            out_headers["Vary"] = "Origin, X-Origin, Referer"
        request.status = response.status
        with self._lock:
            self.statuses[response.status] += 1
        if self.log_requests:
            LOG.info("%s %s -> %s (%d bytes)", method, _loggable(path, request.query), response.status, len(payload))
        return response.status, out_headers, payload

    @staticmethod
    def _injected(route: Route | None, status: int) -> Exception:
        """The error an injected status produces, in the style of the endpoint it hits."""
        kind = route.kind if route else ""
        if kind.startswith("oauth."):
            error = (
                "internal_failure" if status >= 500 else "rate_limit_exceeded" if status == 429 else "invalid_request"
            )
            return OAuthError(error, f"Injected failure {status}.", code=status)
        if kind.startswith("metadata."):
            return MetadataError(status)
        return for_status(status)

    def _encode(self, request: RecordedRequest, response: Response, google: bool, schema) -> bytes:
        body = response.body
        if body is None:
            return b""
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode()
        if not google:
            return dumps(body, pretty=False)
        pretty = (request.query.get("prettyPrint") or ["true"])[-1].lower() not in ("false", "0")
        spec = (request.query.get("fields") or [""])[-1]
        if spec and 200 <= response.status < 300:
            try:
                tree = fields_mod.parse(spec)
                if schema:
                    check_selection(tree, *schema)
                body = fields_mod.apply(tree, body)
            except ApiError as exc:
                response.status, response.headers = exc.code, {}
                body = exc.body()
        return dumps(body, pretty=pretty)


_SECRET_PARAMS = {"access_token", "oauth_token", "key"}


def _loggable(path: str, query: dict) -> str:
    """The request target with credential-carrying query parameters masked."""
    if not query:
        return path
    shown = "&".join(
        f"{name}={'***' if name in _SECRET_PARAMS else value}" for name, values in query.items() for value in values
    )
    return f"{path}?{shown}"


def _handler_class(emulator: Emulator):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ESF"
        sys_version = ""

        def setup(self):
            super().setup()
            # headers and body leave in separate writes: without this, Nagle's algorithm
            # plus the client's delayed ACK add ~40 ms to every small response
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = Headers(self.headers.items())
            if self.server.lab_listener and urlsplit(self.path).path.startswith("/_emulator/"):
                status, out_headers, payload = 404, {"Content-Type": "text/plain"}, b"Not Found\n"
            else:
                status, out_headers, payload = emulator.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format, *args):
            LOG.debug("%s - " + format, self.address_string(), *args)

    return Handler
