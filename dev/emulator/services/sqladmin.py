"""Cloud SQL Admin v1 under ``/v1/projects/{project}/``: instances, connect settings, server CAs, operations.

Served: ``instances.get``, ``instances.insert`` (read replicas), ``instances.patch`` (merge),
``instances.promoteReplica``, ``instances.listServerCas``, ``connect.get``
(``.../connectSettings``) and ``operations.get``; shapes follow ``sqladmin.v1.json``. Every
mutation returns an Operation that is PENDING, then RUNNING, then DONE (with ``error`` when it
failed); the change is applied when the operation finishes, as in Cloud SQL.

Lab mode: ``<lab>/cloudsql.json`` (written by the cloudsql_lab role) describes the lab's
PostgreSQL hosts. They are the instances: private IP = the container's address, server CA =
the lab CA (``<lab>/pki/ca.pem``), ``dnsName`` = the name in the server certificate. Promoting
a replica runs ``pg_promote()`` in its container, and the operation is DONE only once the
server accepts a write.

Tests drive it through ``emulator.services["sqladmin"]`` (a ``SqlStore``): ``add_instance``,
``deny``, ``fail_next_operation``, ``operation_seconds``, ``stall_operations``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

from ..errors import ApiError
from ..server import Response

PREFIX = r"/v1/projects/(?P<project>[^/]+)"
SCOPES = ("https://www.googleapis.com/auth/sqlservice.admin",)
SSL_MODES = ("ALLOW_UNENCRYPTED_AND_ENCRYPTED", "ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
CA_MODES = ("GOOGLE_MANAGED_INTERNAL_CA", "GOOGLE_MANAGED_CAS_CA", "CUSTOMER_MANAGED_CAS_CA")
# top-level DatabaseInstance fields a client may set; everything else is output only
WRITABLE = {
    "name",
    "region",
    "databaseVersion",
    "settings",
    "masterInstanceName",
    "replicaConfiguration",
    "rootPassword",
    "gceZone",
    "secondaryGceZone",
    "instanceType",
    "project",
    "kind",
    "failoverReplica",
    "diskEncryptionConfiguration",
    "maxDiskSize",
    "onPremisesConfiguration",
    "tags",
}
PROMOTE_TIMEOUT = 60.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _merge(target: dict, patch: dict) -> None:
    """PATCH semantics: objects merge recursively, everything else (lists included) replaces."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _ssl_cert(pem: str, instance: str, project: str) -> dict:
    """An SslCert resource for a CA certificate in PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(pem.encode())
    common_name = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return {
        "kind": "sql#sslCert",
        "certSerialNumber": str(cert.serial_number),
        "cert": pem.strip() + "\n",
        "commonName": common_name[0].value if common_name else "",
        "sha1Fingerprint": cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - the API's own field
        "instance": instance,
        "createTime": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "expirationTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "selfLink": "",
    }


def _test_ca(common_name: str) -> str:
    """A throw-away self-signed CA in PEM, for instances tests add without one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class SqlStore:
    """Instances and operations per project, test controls, and the lab's instances."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.instances: dict[tuple[str, str], dict] = {}
        self.ca_pems: dict[tuple[str, str], list[str]] = {}
        self.operations: dict[tuple[str, str], dict] = {}
        self.lab_containers: dict[tuple[str, str], str] = {}
        self.denied: set[str] = set()
        self.operation_seconds = 0.2
        self.stall_operations = False
        self._fail_next: dict[str, str] = {}
        self.lock = threading.RLock()
        self._lab_mtime = None
        self._promoted: set[tuple[str, str]] = set()
        self._lab_settings: dict[tuple[str, str], dict] = {}

    # -- test controls -------------------------------------------------------------------
    def add_instance(
        self,
        project: str,
        name: str,
        *,
        region: str = "us-east4",
        private_ip: str = "10.20.0.5",
        public_ip: str | None = None,
        dns_name: str | None = None,
        ca_pems=None,
        master: str | None = None,
        database_version: str = "POSTGRES_15",
        settings=None,
        server_ca_mode: str = "GOOGLE_MANAGED_CAS_CA",
    ) -> dict:
        """Add a RUNNABLE instance; ``ca_pems`` (current CA first) defaults to one generated CA."""
        ip_addresses = [{"type": "PRIVATE", "ipAddress": private_ip}] if private_ip else []
        if public_ip:
            ip_addresses.insert(0, {"type": "PRIMARY", "ipAddress": public_ip})
        base_settings = {
            "kind": "sql#settings",
            "tier": "db-custom-4-16384",
            "settingsVersion": "1",
            "availabilityType": "ZONAL",
            "activationPolicy": "ALWAYS",
            "dataDiskSizeGb": "100",
            "dataDiskType": "PD_SSD",
            "ipConfiguration": {
                "ipv4Enabled": bool(public_ip),
                "privateNetwork": f"projects/{project}/global/networks/default" if private_ip else None,
                "sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED",
                "requireSsl": False,
                "serverCaMode": server_ca_mode,
            },
            "backupConfiguration": {
                "kind": "sql#backupConfiguration",
                "enabled": False,
                "startTime": "00:00",
                "pointInTimeRecoveryEnabled": False,
                "transactionLogRetentionDays": 7,
                "backupRetentionSettings": {"retentionUnit": "COUNT", "retainedBackups": 7},
            },
            "deletionProtectionEnabled": False,
            "locationPreference": {"kind": "sql#locationPreference", "zone": f"{region}-a"},
        }
        base_settings["ipConfiguration"] = {k: v for k, v in base_settings["ipConfiguration"].items() if v is not None}
        if settings:
            _merge(base_settings, settings)
        instance = {
            "kind": "sql#instance",
            "state": "RUNNABLE",
            "databaseVersion": database_version,
            "settings": base_settings,
            "project": project,
            "name": name,
            "connectionName": f"{project}:{region}:{name}",
            "region": region,
            "gceZone": f"{region}-a",
            "backendType": "SECOND_GEN",
            "instanceType": "READ_REPLICA_INSTANCE" if master else "CLOUD_SQL_INSTANCE",
            "ipAddresses": ip_addresses,
            "serviceAccountEmailAddress": f"p{_number(project)}-abc@gcp-sa-cloud-sql.iam.gserviceaccount.com",
            "createTime": _now(),
        }
        if dns_name:
            instance["dnsName"] = dns_name.rstrip(".") + "."
        if master:
            instance["masterInstanceName"] = f"{project}:{master}"
            instance["replicaConfiguration"] = {"kind": "sql#replicaConfiguration", "failoverTarget": False}
        pems = list(ca_pems) if ca_pems else [_test_ca("Google Cloud SQL Server CA")]
        with self.lock:
            self.instances[(project, name)] = instance
            self.ca_pems[(project, name)] = pems
            if master and (project, master) in self.instances:
                names = self.instances[(project, master)].setdefault("replicaNames", [])
                if name not in names:
                    names.append(name)
        return instance

    def deny(self, project: str) -> None:
        """Answer 403 notAuthorized to every call for ``project``."""
        self.denied.add(project)

    def fail_next_operation(
        self, instance: str, message: str = "An internal error occurred.", code: str = "INTERNAL_ERROR"
    ) -> None:
        """The next operation on ``instance`` finishes DONE with this error and changes nothing."""
        self._fail_next[instance] = f"{code}\n{message}"

    # -- lab ------------------------------------------------------------------------------
    def _lab_file(self) -> Path | None:
        lab_dir = getattr(self.emulator, "lab_dir", None)
        if not lab_dir:
            lab_file = getattr(self.emulator, "_lab_file", None)
            lab_dir = Path(lab_file).parent if lab_file else None
        return Path(lab_dir) / "cloudsql.json" if lab_dir else None

    def reload_lab(self) -> None:
        """(Re)load the lab's instances when ``cloudsql.json`` changed; keep patches and promotions."""
        path = self._lab_file()
        if path is None:
            return
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        with self.lock:
            if mtime == self._lab_mtime:
                return
            self._lab_mtime = mtime
            lab = json.loads(path.read_text())
            project = lab["project"]
            for key in [k for k in self.lab_containers if k[0] == project]:
                current = self.instances.pop(key, None)
                if current is not None:
                    self._lab_settings[key] = current["settings"]
                self.lab_containers.pop(key)
            ca_pem = (path.parent / lab.get("ca_file", "pki/ca.pem")).read_text()
            by_host = {spec["host"]: spec["name"] for spec in lab["instances"]}
            for spec in sorted(lab["instances"], key=lambda s: s["role"] != "primary"):
                key = (project, spec["name"])
                master = None
                if spec["role"] == "replica" and key not in self._promoted:
                    master = by_host.get(spec.get("primary_host"))
                self.add_instance(
                    project,
                    spec["name"],
                    region=spec["region"],
                    private_ip=spec["ip"],
                    dns_name=spec["dnsName"],
                    ca_pems=[ca_pem],
                    master=master,
                    database_version=spec.get("databaseVersion", "POSTGRES_15"),
                    settings={
                        "ipConfiguration": {"sslMode": "ENCRYPTED_ONLY"},
                        "locationPreference": {"zone": spec["zone"]},
                    },
                )
                self.instances[key]["gceZone"] = spec["zone"]
                if key in self._lab_settings:
                    self.instances[key]["settings"] = self._lab_settings[key]
                self.lab_containers[key] = spec["container"]

    def _psql(self, container: str, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["podman", "exec", "-u", "postgres", container, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def promote_lab(self, container: str) -> str | None:
        """Promote the lab replica in ``container``; return None once it accepts writes, else the error."""
        try:
            res = self._psql(container, "select pg_promote(true, 60)")
        except OSError as exc:
            return f"pg_promote() failed in {container}: podman cannot be run ({exc.strerror})"
        if res.returncode != 0:
            return f"pg_promote() failed in {container}: {(res.stderr or res.stdout).strip()[:300]}"
        deadline = time.monotonic() + PROMOTE_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            # a standby refuses even a temporary table: this is a real write transaction
            res = self._psql(
                container,
                "begin; create temp table nearzero_promote_probe(x int); "
                "insert into nearzero_promote_probe values (1); commit; "
                "select pg_is_in_recovery()",
            )
            if res.returncode == 0 and res.stdout.strip().endswith("f"):
                return None
            last = (res.stderr or res.stdout).strip()[:300]
            time.sleep(0.2)
        return f"{container} did not accept writes within {PROMOTE_TIMEOUT:.0f} s after pg_promote(): {last}"


def register(router, emulator):
    """Serve the SQL Admin routes; return the SqlStore tests use."""
    store = SqlStore(emulator)

    def base(call) -> str:
        return f"{call.emulator.url}/v1/projects/{call.params['project']}"

    def check_project(call, permission: str) -> str:
        store.reload_lab()
        project = call.params["project"]
        if project in store.denied:
            raise ApiError(
                403,
                "The client is not authorized to make this request.",
                "notAuthorized",
                status="PERMISSION_DENIED",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "sqladmin.googleapis.com",
                        "metadata": {"permission": permission},
                    }
                ],
            )
        return project

    def find(project: str, name: str) -> dict:
        instance = store.instances.get((project, name))
        if instance is None:
            raise ApiError(404, "The Cloud SQL instance does not exist.", "instanceDoesNotExist", status="NOT_FOUND")
        return instance

    def view(call, instance: dict) -> dict:
        out = copy.deepcopy(instance)
        out["selfLink"] = f"{base(call)}/instances/{instance['name']}"
        pems = store.ca_pems[(instance["project"], instance["name"])]
        out["serverCaCert"] = _ssl_cert(pems[0], instance["name"], instance["project"])
        settings = out["settings"]
        settings["ipConfiguration"]["requireSsl"] = (
            settings["ipConfiguration"].get("sslMode") != "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
        )
        out["etag"] = hashlib.sha256(json.dumps(instance, sort_keys=True).encode()).hexdigest()
        return out

    def new_operation(call, instance_name: str, op_type: str, apply) -> dict:
        """Register an operation that runs ``apply()`` when it finishes (in a background thread)."""
        project = call.params["project"]
        name = str(uuid.uuid4())
        principal = getattr(call.token, "principal", None) or getattr(call.token, "email", None) or "user@example.com"
        op = {
            "kind": "sql#operation",
            "targetLink": f"{base(call)}/instances/{instance_name}",
            "status": "PENDING",
            "user": principal if isinstance(principal, str) else "user@example.com",
            "insertTime": _now(),
            "operationType": op_type,
            "name": name,
            "targetId": instance_name,
            "selfLink": f"{base(call)}/operations/{name}",
            "targetProject": project,
        }
        failure = store._fail_next.pop(instance_name, None)
        with store.lock:
            store.operations[(project, name)] = op

        def run():
            time.sleep(store.operation_seconds / 2)
            with store.lock:
                op["status"] = "RUNNING"
                op["startTime"] = _now()
            if store.stall_operations:
                return
            time.sleep(store.operation_seconds / 2)
            error = None
            if failure:
                code, message = failure.split("\n", 1)
                error = {"kind": "sql#operationError", "code": code, "message": message}
            else:
                try:
                    problem = apply()
                except Exception as exc:  # the operation reports it, as Cloud SQL does
                    problem = f"{type(exc).__name__}: {exc}"
                if problem:
                    error = {"kind": "sql#operationError", "code": "INTERNAL_ERROR", "message": problem}
            with store.lock:
                if error:
                    op["error"] = {"kind": "sql#operationErrors", "errors": [error]}
                op["status"] = "DONE"
                op["endTime"] = _now()

        threading.Thread(target=run, daemon=True, name=f"sql-op-{name[:8]}").start()
        return copy.deepcopy(op)

    def get_instance(call):
        project = check_project(call, "cloudsql.instances.get")
        with store.lock:
            return Response(body=view(call, find(project, call.params["instance"])))

    def connect_settings(call):
        project = check_project(call, "cloudsql.instances.connect")
        with store.lock:
            instance = find(project, call.params["instance"])
            pems = store.ca_pems[(project, instance["name"])]
            body = {
                "kind": "sql#connectSettings",
                "serverCaCert": _ssl_cert(pems[0], instance["name"], project),
                "ipAddresses": copy.deepcopy(instance["ipAddresses"]),
                "region": instance["region"],
                "databaseVersion": instance["databaseVersion"],
                "backendType": "SECOND_GEN",
                "pscEnabled": False,
                "serverCaMode": instance["settings"]["ipConfiguration"].get(
                    "serverCaMode", "GOOGLE_MANAGED_INTERNAL_CA"
                ),
            }
            if instance.get("dnsName"):
                body["dnsName"] = instance["dnsName"]
                body["dnsNames"] = [
                    {
                        "name": instance["dnsName"],
                        "connectionType": "PRIVATE_SERVICES_ACCESS",
                        "dnsScope": "INSTANCE",
                        "recordManager": "CUSTOMER",
                    }
                ]
        return Response(body=body)

    def list_server_cas(call):
        project = check_project(call, "cloudsql.instances.listServerCas")
        with store.lock:
            instance = find(project, call.params["instance"])
            certs = [_ssl_cert(p, instance["name"], project) for p in store.ca_pems[(project, instance["name"])]]
        return Response(
            body={"certs": certs, "activeVersion": certs[0]["sha1Fingerprint"], "kind": "sql#instancesListServerCas"}
        )

    def validate_settings(settings: dict) -> None:
        if not isinstance(settings, dict):
            raise _invalid("settings", "must be an object")
        ip = settings.get("ipConfiguration") or {}
        if "sslMode" in ip and ip["sslMode"] not in SSL_MODES:
            raise _invalid("settings.ip_configuration.ssl_mode", f"'{ip['sslMode']}' is not one of {SSL_MODES}")
        if "serverCaMode" in ip and ip["serverCaMode"] not in CA_MODES:
            raise _invalid("settings.ip_configuration.server_ca_mode", f"'{ip['serverCaMode']}'")
        backup = settings.get("backupConfiguration") or {}
        start = backup.get("startTime")
        if start is not None and (
            len(start) != 5
            or start[2] != ":"
            or not (start[:2] + start[3:]).isdigit()
            or int(start[:2]) > 23
            or start[3:] != "00"
        ):
            raise _invalid(
                "settings.backup_configuration.start_time", f"'{start}' must be HH:00 (backups start on the hour, UTC)"
            )
        days = backup.get("transactionLogRetentionDays")
        if days is not None and not (isinstance(days, int) and 1 <= days <= 35):
            raise _invalid("settings.backup_configuration.transaction_log_retention_days", f"{days!r} not in 1..35")

    def patch(call):
        project = check_project(call, "cloudsql.instances.update")
        try:
            body = call.request.json()
        except ValueError:
            raise _invalid("body", "is not JSON") from None
        if not isinstance(body, dict):
            raise _invalid("body", "must be a DatabaseInstance object")
        unknown = set(body) - WRITABLE
        if unknown:
            raise _invalid(sorted(unknown)[0], "is output only or unknown and cannot be patched")
        name = call.params["instance"]
        with store.lock:
            instance = find(project, name)
            validate_settings(body.get("settings") or {})
            merged = copy.deepcopy(instance)
            _merge(merged, {k: v for k, v in body.items() if k not in ("name", "project", "kind")})
            ip = merged["settings"].get("ipConfiguration") or {}
            if not ip.get("ipv4Enabled") and not ip.get("privateNetwork"):
                raise ApiError(
                    400,
                    "At least one of public IP or private IP must be enabled.",
                    "invalid",
                    status="INVALID_ARGUMENT",
                )

        def apply():
            with store.lock:
                current = store.instances[(project, name)]
                version = int(current["settings"].get("settingsVersion", "1")) + 1
                merged["settings"]["settingsVersion"] = str(version)
                ip_addresses = [a for a in merged["ipAddresses"] if a["type"] != "PRIMARY"]
                if ip.get("ipv4Enabled"):
                    public = next(
                        (a for a in current["ipAddresses"] if a["type"] == "PRIMARY"),
                        {"type": "PRIMARY", "ipAddress": "34.86.0.10"},
                    )
                    ip_addresses.insert(0, public)
                merged["ipAddresses"] = ip_addresses
                store.instances[(project, name)] = merged
            return None

        return Response(body=new_operation(call, name, "UPDATE", apply))

    def insert(call):
        project = check_project(call, "cloudsql.instances.create")
        try:
            body = call.request.json()
        except ValueError:
            raise _invalid("body", "is not JSON") from None
        if not isinstance(body, dict) or not body.get("name"):
            raise _invalid("name", "is required")
        name = body["name"]
        master = (body.get("masterInstanceName") or "").split(":")[-1]
        if not master:
            raise ApiError(
                400,
                "This emulator creates read replicas only: set masterInstanceName.",
                "invalid",
                status="INVALID_ARGUMENT",
            )
        with store.lock:
            if (project, name) in store.instances:
                raise ApiError(
                    409, "The Cloud SQL instance already exists.", "instanceAlreadyExists", status="ALREADY_EXISTS"
                )
            primary = find(project, master)
            if primary.get("masterInstanceName"):
                raise _invalid(
                    "masterInstanceName", f"'{master}' is itself a replica; replicas of replicas are not supported here"
                )
            validate_settings(body.get("settings") or {})
            region = body.get("region") or primary["region"]
            settings = copy.deepcopy(primary["settings"])
            settings["backupConfiguration"] = {"kind": "sql#backupConfiguration", "enabled": False}
            settings["settingsVersion"] = "1"
            settings.pop("locationPreference", None)
            _merge(settings, body.get("settings") or {})
            private = next((a["ipAddress"] for a in primary["ipAddresses"] if a["type"] == "PRIVATE"), None)
            octets = (private or "10.20.0.5").split(".")
            private_ip = ".".join([*octets[:3], str((int(octets[3]) + 1 + len(store.instances)) % 250 + 2)])
            placeholder = store.add_instance(
                project,
                name,
                region=region,
                private_ip=private_ip,
                dns_name=f"{name}.{region}.sql.emulator.internal" if primary.get("dnsName") else None,
                ca_pems=store.ca_pems[(project, master)],
                master=master,
                database_version=body.get("databaseVersion") or primary["databaseVersion"],
                settings=settings,
            )
            placeholder["state"] = "PENDING_CREATE"

        def apply():
            with store.lock:
                store.instances[(project, name)]["state"] = "RUNNABLE"
            return None

        return Response(body=new_operation(call, name, "CREATE_REPLICA", apply))

    def promote(call):
        project = check_project(call, "cloudsql.instances.promoteReplica")
        name = call.params["instance"]
        with store.lock:
            instance = find(project, name)
            if not instance.get("masterInstanceName"):
                raise ApiError(
                    400,
                    "The instance is not a read replica instance.",
                    "notReplicaInstance",
                    status="FAILED_PRECONDITION",
                )
            container = store.lab_containers.get((project, name))

        def apply():
            if container:
                problem = store.promote_lab(container)
                if problem:
                    return problem
            with store.lock:
                current = store.instances[(project, name)]
                master = current.pop("masterInstanceName").split(":")[-1]
                current.pop("replicaConfiguration", None)
                current["instanceType"] = "CLOUD_SQL_INSTANCE"
                old = store.instances.get((project, master))
                if old is not None and name in old.get("replicaNames", []):
                    old["replicaNames"].remove(name)
                store._promoted.add((project, name))
            return None

        return Response(body=new_operation(call, name, "PROMOTE_REPLICA", apply))

    def get_operation(call):
        project = check_project(call, "cloudsql.instances.get")
        with store.lock:
            op = store.operations.get((project, call.params["operation"]))
            if op is None:
                raise ApiError(
                    404,
                    f"The operation {call.params['operation']} does not exist.",
                    "operationDoesNotExist",
                    status="NOT_FOUND",
                )
            return Response(body=copy.deepcopy(op))

    inst = PREFIX + r"/instances/(?P<instance>[a-z][a-z0-9-]*)"
    router.add("GET", inst, get_instance, kind="sqladmin.instances.get", scopes=SCOPES)
    router.add("PATCH", inst, patch, kind="sqladmin.instances.patch", scopes=SCOPES)
    router.add("POST", PREFIX + r"/instances", insert, kind="sqladmin.instances.insert", scopes=SCOPES)
    router.add("GET", inst + r"/connectSettings", connect_settings, kind="sqladmin.connect.get", scopes=SCOPES)
    router.add("GET", inst + r"/listServerCas", list_server_cas, kind="sqladmin.instances.listServerCas", scopes=SCOPES)
    router.add("POST", inst + r"/promoteReplica", promote, kind="sqladmin.instances.promoteReplica", scopes=SCOPES)
    router.add(
        "GET",
        PREFIX + r"/operations/(?P<operation>[^/]+)",
        get_operation,
        kind="sqladmin.operations.get",
        scopes=SCOPES,
    )
    return store


def _invalid(field: str, why: str) -> ApiError:
    return ApiError(400, f"Invalid request: {field} {why}.", "invalid", status="INVALID_ARGUMENT")


def _number(project: str) -> int:
    """A stable project number (the service agent's address carries it)."""
    return int(hashlib.sha256(project.encode()).hexdigest(), 16) % 10**12
