"""Cloud SQL Admin v1 under ``/v1/projects/{project}/``: instances, connect settings, server CAs, operations.

Served: ``instances.get``, ``instances.insert`` (primaries and read replicas), ``instances.patch``
(merge), ``instances.delete``, ``instances.promoteReplica``, ``instances.switchover``, ``instances.listServerCas``,
``connect.get``
(``.../connectSettings``) and ``operations.get``; shapes follow ``sqladmin.v1.json``, against which the
server checks every request before a handler here sees it (``discovery.py``), so this module keeps to
Cloud SQL's own rules. Every
mutation returns an Operation that is PENDING, then RUNNING, then DONE (with ``error`` when it
failed); the change is applied when the operation finishes, as in Cloud SQL. Every ``selfLink``
and ``targetLink`` names ``https://sqladmin.googleapis.com/v1/...`` whatever address the emulator
listens on, as Google's do: a client must build its URLs from its own endpoint.

Cloud SQL's own rules, beyond the request's shape:

- a project the caller cannot see (unknown to the emulator, or ``deny``-ed) answers 403
  ``notAuthorized``, as Cloud SQL does, never 404;
- ``instances.insert`` without ``masterInstanceName`` creates a primary and needs ``region``,
  ``databaseVersion`` and ``settings.tier``; a private-only one needs
  ``settings.ipConfiguration.privateNetwork``;
- read replicas refuse automated backups, point-in-time recovery and ``activationPolicy: NEVER``;
- ``requireSsl`` follows ``sslMode`` (ENCRYPTED_ONLY and ALLOW_UNENCRYPTED_AND_ENCRYPTED pair with
  false, TRUSTED_CLIENT_CERTIFICATE_REQUIRED with true); a request sending a pair that disagrees is
  refused;
- ``serverCaMode`` defaults to GOOGLE_MANAGED_INTERNAL_CA: a CA of the instance's own, whose server
  certificate does not carry a DNS name, so the instance has no ``dnsName``. The CAS modes share a
  regional CA and give the instance a ``dnsName``, which their server certificate carries;
- ``settings.activationPolicy: NEVER`` stops the instance (the DR fence) and ALWAYS starts it again;
  every applied change is appended to ``SqlStore.activation_log``.
- advanced DR (Enterprise Plus only): ``replicationCluster.failoverDrReplicaName`` on a primary names its DR
  replica, a cross-region Enterprise Plus replica of it (``drReplica`` and ``psaWriteEndpoint`` are output
  only); ``instances.switchover`` on that replica needs the primary running, with point-in-time recovery, and
  swaps the roles: the old primary becomes the DR replica of the new one (backups off), the write endpoint
  stays with the cluster. An edition changed to ENTERPRISE_PLUS needs a ``db-perf-optimized-N-*`` tier;
- ``instances.delete`` refuses a protected instance and a primary with replicas; a deleted instance's name
  is refused (409) for a week, as Cloud SQL does; a replica of a stopped primary is refused.

Lab mode: ``<lab>/cloudsql.json`` (written by the cloudsql_lab role) describes the lab's
PostgreSQL hosts. They are the instances: private IP = the container's address, server CA mode and
CA file per instance (``serverCaMode``, ``ca_file``), ``dnsName`` = the name a CAS-mode server
certificate carries. Promoting a replica runs ``pg_promote()`` in its container, and the operation
is DONE only once the server accepts a write; ``activationPolicy`` NEVER stops the container's
PostgreSQL unit and disables it (its cluster's ``start.conf`` too, so a restart of the container keeps
it down), ALWAYS enables and starts it again, and the operation is DONE only once the server is down,
or answers again. ``instances.insert`` in lab mode (a lab with ``lab.json``, in its project) starts the lab
PostgreSQL host for the new instance (``compute_fleet_lab.LabFleet.add_database_host``): the insert's
operation is DONE once the host answers, the instance's private IP is the host's address, and the host
becomes the stand-in when ``dev/playbooks/lab_database.yml`` sets it up. Elsewhere, an instance
inserted in lab mode that the lab does not hold exists in the API only. A switchover of two lab instances is
real: the old primary stops cleanly, the DR replica replays up to its shutdown checkpoint and is promoted
(a failure before that starts the old primary again), and the old primary's server is rebuilt as a streaming
replica of the new one (pg_basebackup over TLS, verifying it as its CA mode allows). Deleting a lab instance
stops its server and keeps its host; a new replica in that host's region is rebuilt there the same way (the host
keeps its server certificate, so the API serves that certificate's CA mode, CA and DNS name).

Tests drive it through ``emulator.services["sqladmin"]`` (a ``SqlStore``): ``add_instance``,
``add_project``, ``deny``, ``fail_next_operation``, ``operation_seconds``, ``stall_operations``,
``activation_log``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

from ..errors import ApiError
from ..server import Response

PREFIX = r"/v1/projects/(?P<project>[^/]+)"
# what every selfLink names, whatever address the emulator listens on
GOOGLE_BASE = "https://sqladmin.googleapis.com/v1"
SCOPES = ("https://www.googleapis.com/auth/sqlservice.admin",)
# sslMode -> the only requireSsl Cloud SQL pairs with it (PostgreSQL and MySQL)
REQUIRE_SSL = {
    "ALLOW_UNENCRYPTED_AND_ENCRYPTED": False,
    "ENCRYPTED_ONLY": False,
    "TRUSTED_CLIENT_CERTIFICATE_REQUIRED": True,
}
SSL_MODES = tuple(REQUIRE_SSL)
INTERNAL_CA = "GOOGLE_MANAGED_INTERNAL_CA"
CAS_MODES = ("GOOGLE_MANAGED_CAS_CA", "CUSTOMER_MANAGED_CAS_CA")
CA_MODES = (INTERNAL_CA, *CAS_MODES)
# the subject Cloud SQL gives each instance's own (GOOGLE_MANAGED_INTERNAL_CA) server CA
INTERNAL_CA_SUBJECT = {"country": "US", "organization": "Google, Inc", "common_name": "Google Cloud SQL Server CA"}
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,96}[a-z0-9]$")
NETWORK_RE = re.compile(r"(?:^|/)projects/[^/]+/global/networks/[^/]+$")
TIER_RE = re.compile(
    r"^db-(custom-\d+-\d+|f1-micro|g1-small|(n1|n2|c4a?|n4)-(standard|highmem)-\d+|perf-optimized-N-\d+)$"
)
# Top-level DatabaseInstance fields a client may set. Cloud SQL keeps the others (state, ipAddresses,
# connectionName, ...) itself, although the discovery document marks only some of them output only: sent,
# they are ignored, as output-only fields are (AIP-203).
SETTABLE = {
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
    "failoverReplica",
    "diskEncryptionConfiguration",
    "maxDiskSize",
    "onPremisesConfiguration",
    "tags",
    "replicationCluster",
}
LAB_TIMEOUT = 60.0
# Cloud SQL refuses a deleted instance's name for a week (the 409 says so)
NAME_REUSE_DAYS = 7
ENTERPRISE_PLUS = "ENTERPRISE_PLUS"
PERF_TIER = "db-perf-optimized-N-"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _merge(target: dict, patch: dict) -> None:
    """PATCH semantics: objects merge recursively, everything else (lists included) replaces."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _ssl_cert(pem: str, instance: str) -> dict:
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
    }


def _test_ca(common_name: str, organization: str | None = None, country: str | None = None) -> str:
    """A throw-away self-signed CA in PEM, for instances created without one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    attributes = []
    if country:
        attributes.append(x509.NameAttribute(x509.NameOID.COUNTRY_NAME, country))
    if organization:
        attributes.append(x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name))
    name = x509.Name(attributes)
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


def _invalid(why: str) -> ApiError:
    """Cloud SQL's 400: ``Invalid request: <why>``."""
    return ApiError(400, f"Invalid request: {why}", "invalid", status="INVALID_ARGUMENT")


def _field_invalid(field: str, why: str) -> ApiError:
    return _invalid(f"{field} {why}.")


class SqlStore:
    """Instances and operations per project, test controls, and the lab's instances."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.instances: dict[tuple[str, str], dict] = {}
        # (project, instance) -> {server CA mode: [CA PEMs, current first]}
        self.ca_sets: dict[tuple[str, str], dict[str, list[str]]] = {}
        # the DNS name a CAS-mode server certificate carries (served only while the mode is CAS)
        self.dns_names: dict[tuple[str, str], str] = {}
        self.operations: dict[tuple[str, str], dict] = {}
        self.lab_containers: dict[tuple[str, str], str] = {}
        self.lab_services: dict[tuple[str, str], str] = {}
        self.lab_modes: dict[tuple[str, str], str] = {}
        self.projects: set[str] = set()
        self.denied: set[str] = set()
        # every applied activationPolicy change: {"project", "instance", "activationPolicy", "time", "lab_container"}
        self.activation_log: list[dict] = []
        self.operation_seconds = 0.2
        self.stall_operations = False
        self._fail_next: dict[str, str] = {}
        self._cas_cas: dict[str, str] = {}
        self._next_ip = 0
        self.lock = threading.RLock()
        self._lab_mtime = None
        self._promoted: set[tuple[str, str]] = set()
        self._lab_settings: dict[tuple[str, str], dict] = {}
        # (project, name) -> when it was deleted: the name cannot be used again for NAME_REUSE_DAYS
        self.deleted: dict[tuple[str, str], dt.datetime] = {}
        # lab hosts of deleted instances, PostgreSQL stopped: a new replica in their region is rebuilt on one
        self.lab_free: list[dict] = []
        # lab instances whose role changed through the API (switchover, rebuilt replica): name of their
        # primary (None: a primary), kept over a reload of cloudsql.json
        self._masters: dict[tuple[str, str], str | None] = {}
        self._lab_rebuilt: set[tuple[str, str]] = set()

    # -- test controls -------------------------------------------------------------------
    def add_project(self, project: str) -> None:
        """Make ``project`` visible to callers without giving it an instance."""
        self.projects.add(project)

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
        server_ca_mode: str | None = None,
    ) -> dict:
        """Add a RUNNABLE instance.

        ``server_ca_mode`` defaults to GOOGLE_MANAGED_CAS_CA when ``dns_name`` is given, else to the
        API's default GOOGLE_MANAGED_INTERNAL_CA; ``ca_pems`` (current CA first) defaults to the
        mode's CA: a new one of the instance's own, or the region's CAS CA.
        """
        mode = server_ca_mode or ("GOOGLE_MANAGED_CAS_CA" if dns_name else INTERNAL_CA)
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
                "serverCaMode": mode,
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
        ip = base_settings["ipConfiguration"]
        ip["requireSsl"] = REQUIRE_SSL.get(ip.get("sslMode"), False)
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
        if master:
            instance["masterInstanceName"] = f"{project}:{master}"
            instance["replicaConfiguration"] = {"kind": "sql#replicaConfiguration", "failoverTarget": False}
        with self.lock:
            key = (project, name)
            self.instances[key] = instance
            self.ca_sets[key] = {}
            if ca_pems:
                self.ca_sets[key][ip["serverCaMode"]] = list(ca_pems)
            if dns_name:
                self.dns_names[key] = dns_name.rstrip(".") + "."
            self._ensure_ca(key)
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

    # -- state the routes read ---------------------------------------------------------------
    def visible(self, project: str) -> bool:
        """Whether the caller may see ``project``: known here or to Compute, and not denied."""
        if project in self.denied:
            return False
        if project in self.projects or any(key[0] == project for key in self.instances):
            return True
        return project in getattr(getattr(self.emulator, "compute", None), "projects", {})

    def mode(self, key: tuple[str, str]) -> str:
        """The instance's server CA mode (CA_MODE_UNSPECIFIED is, as the API says, the per-instance CA)."""
        mode = self.instances[key]["settings"]["ipConfiguration"].get("serverCaMode")
        return mode if mode in CA_MODES else INTERNAL_CA

    def _ensure_ca(self, key: tuple[str, str]) -> list[str]:
        """The CA certificates of the instance's current mode, made on first use; a CAS mode gets a DNS name."""
        instance = self.instances[key]
        mode = self.mode(key)
        cas = self.ca_sets.setdefault(key, {})
        if mode not in cas:
            if mode == INTERNAL_CA:
                cas[mode] = [_test_ca(**INTERNAL_CA_SUBJECT)]
            else:
                region = instance["region"]
                if region not in self._cas_cas:
                    self._cas_cas[region] = _test_ca(f"Google Cloud SQL CAS CA {region}", "Google LLC", "US")
                cas[mode] = [self._cas_cas[region]]
        if mode in CAS_MODES and key not in self.dns_names:
            digest = hashlib.sha256("/".join(key).encode()).hexdigest()
            self.dns_names[key] = f"{digest[:12]}.{digest[12:18]}.{instance['region']}.sql.goog."
        return cas[mode]

    def ca_pems(self, key: tuple[str, str]) -> list[str]:
        """The server CAs of the instance's current mode (current first)."""
        return self._ensure_ca(key)

    def ca_pems_of(self, key: tuple[str, str]) -> list[str]:
        """The CA certificates of the instance's lab server (its lab mode's), for a host that outlives it."""
        return list(self.ca_sets.get(key, {}).get(self.lab_modes.get(key, INTERNAL_CA), []))

    def dns_name(self, key: tuple[str, str]) -> str | None:
        """The instance's dnsName: only in a CAS mode, as Cloud SQL gives one only there."""
        return self.dns_names.get(key) if self.mode(key) in CAS_MODES else None

    def new_private_ip(self) -> str:
        """A private address for a new instance (10.20.1.x, then on)."""
        with self.lock:
            self._next_ip += 1
            return f"10.20.{1 + self._next_ip // 250}.{2 + self._next_ip % 250}"

    # -- lab ------------------------------------------------------------------------------
    def _lab_file(self) -> Path | None:
        lab_dir = getattr(self.emulator, "lab_dir", None)
        if not lab_dir:
            lab_file = getattr(self.emulator, "_lab_file", None)
            lab_dir = Path(lab_file).parent if lab_file else None
        return Path(lab_dir) / "cloudsql.json" if lab_dir else None

    def reload_lab(self) -> None:
        """(Re)load the lab's instances when ``cloudsql.json`` changed; keep patches and promotions.

        The lab's CA mode and CA file win over a kept patch: they are what the lab server's
        certificate really is.
        """
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
            self.projects.add(project)
            for key in [k for k in self.lab_containers if k[0] == project and k not in self._lab_rebuilt]:
                current = self.instances.pop(key, None)
                if current is not None:
                    self._lab_settings[key] = current["settings"]
                self.lab_containers.pop(key)
            by_host = {spec["host"]: spec["name"] for spec in lab["instances"]}
            for spec in sorted(lab["instances"], key=lambda s: s["role"] != "primary"):
                key = (project, spec["name"])
                if key in self.deleted:
                    continue
                master = None
                if key in self._masters:
                    master = self._masters[key]
                elif spec["role"] == "replica" and key not in self._promoted:
                    master = by_host.get(spec.get("primary_host"))
                # a lab written before the CA modes had one shared CA with the DNS name in every certificate
                mode = spec.get("serverCaMode", "GOOGLE_MANAGED_CAS_CA")
                ca_pem = (path.parent / spec.get("ca_file", lab.get("ca_file", "pki/ca.pem"))).read_text()
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
                        "ipConfiguration": {"sslMode": "ENCRYPTED_ONLY", "serverCaMode": mode},
                        "locationPreference": {"zone": spec["zone"]},
                    },
                    server_ca_mode=mode,
                )
                self.instances[key]["gceZone"] = spec["zone"]
                if key in self._lab_settings:
                    kept = self._lab_settings[key]
                    kept["ipConfiguration"]["serverCaMode"] = mode
                    self.instances[key]["settings"] = kept
                self.lab_containers[key] = spec["container"]
                version = spec.get("databaseVersion", "POSTGRES_15").rsplit("_", 1)[-1]
                self.lab_services[key] = spec.get("service", f"postgresql@{version}-main")
                self.lab_modes[key] = mode
            self.relink(project)

    def relink(self, project: str) -> None:
        """Rebuild every primary's ``replicaNames`` from its replicas' ``masterInstanceName``."""
        with self.lock:
            mine = {k: v for k, v in self.instances.items() if k[0] == project}
            for instance in mine.values():
                instance.pop("replicaNames", None)
            for (_, name), instance in sorted(mine.items()):
                master = (instance.get("masterInstanceName") or "").split(":")[-1]
                if master and (project, master) in mine:
                    mine[(project, master)].setdefault("replicaNames", []).append(name)

    def _podman(self, container: str, *argv: str, user: str | None = None) -> subprocess.CompletedProcess:
        command = ["podman", "exec", *(["-u", user] if user else []), container, *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=LAB_TIMEOUT, check=False)

    def _psql(self, container: str, sql: str) -> subprocess.CompletedProcess:
        return self._podman(container, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql, user="postgres")

    def promote_lab(self, container: str) -> str | None:
        """Promote the lab replica in ``container``; return None once it accepts writes, else the error."""
        try:
            res = self._psql(container, "select pg_promote(true, 60)")
        except OSError as exc:
            return f"pg_promote() failed in {container}: podman cannot be run ({exc.strerror})"
        if res.returncode != 0:
            return f"pg_promote() failed in {container}: {(res.stderr or res.stdout).strip()[:300]}"

        def writable() -> str | None:
            # a standby refuses even a temporary table: this is a real write transaction
            res = self._psql(
                container,
                "begin; create temp table nearzero_promote_probe(x int); "
                "insert into nearzero_promote_probe values (1); commit; "
                "select pg_is_in_recovery()",
            )
            if res.returncode == 0 and res.stdout.strip().endswith("f"):
                return None
            return (res.stderr or res.stdout).strip()[:300]

        last = self._poll_lab(writable)
        if last is None:
            return None
        return f"{container} did not accept writes within {LAB_TIMEOUT:.0f} s after pg_promote(): {last}"

    @staticmethod
    def _poll_lab(check) -> str | None:
        """Call ``check()`` every 0.2 s until it returns None (done) or LAB_TIMEOUT passes.

        Returns None when done, else the last thing ``check`` said was missing.
        """
        deadline = time.monotonic() + LAB_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            last = check()
            if last is None:
                return None
            time.sleep(0.2)
        return last

    def activate_lab(self, container: str, service: str, policy: str) -> str | None:
        """Apply ``policy`` to the lab server: NEVER stops its unit, ALWAYS starts it.

        The unit is disabled (NEVER) or enabled (ALWAYS), and the cluster's ``start.conf`` (Debian's
        systemd generator starts clusters marked ``auto`` at boot) set to ``manual`` or ``auto``, so a
        fenced server stays down when its container restarts, as a stopped Cloud SQL instance does.
        Returns None once the server is really down (NEVER) or answers a query (ALWAYS), else the error.
        """
        found = re.fullmatch(r"postgresql@(\d+)-(.+)", service)
        start = "manual" if policy == "NEVER" else "auto"
        verb = "stop" if policy == "NEVER" else "start"
        script = f"systemctl {'disable' if policy == 'NEVER' else 'enable'} --now {service}"
        if found:
            script = f"printf '{start}\\n' > /etc/postgresql/{found[1]}/{found[2]}/start.conf && {script}"
        try:
            res = self._podman(container, "sh", "-c", script)
        except OSError as exc:
            return f"{verb}ping {service} failed in {container}: podman cannot be run ({exc.strerror})"
        if res.returncode != 0:
            return f"{verb}ping {service} failed in {container}: {(res.stderr or res.stdout).strip()[:300]}"

        def stopped() -> str | None:
            state = self._podman(container, "systemctl", "is-active", service).stdout.strip()
            probe = self._psql(container, "select 1")
            return None if state != "active" and probe.returncode != 0 else f"{service} is {state}"

        def answers() -> str | None:
            probe = self._psql(container, "select 1")
            return None if probe.returncode == 0 else (probe.stderr or probe.stdout).strip()[:300]

        last = self._poll_lab(stopped if policy == "NEVER" else answers)
        if last is None:
            return None
        outcome = "stop" if policy == "NEVER" else "answer"
        return f"{container}: {service} did not {outcome} within {LAB_TIMEOUT:.0f} s: {last}"

    @staticmethod
    def _cluster_paths(service: str) -> dict:
        """Debian's paths of the cluster a ``postgresql@<version>-<cluster>`` unit runs."""
        found = re.fullmatch(r"postgresql@(\d+)-(.+)", service)
        version, cluster = (found[1], found[2]) if found else ("15", "main")
        return {
            "conf": f"/etc/postgresql/{version}/{cluster}",
            "data": f"/var/lib/postgresql/{version}/{cluster}",
            "bin": f"/usr/lib/postgresql/{version}/bin",
        }

    def _podman_input(self, container: str, script: str, data: str, user: str | None = None):
        """Run ``sh -c script`` in the container with ``data`` on stdin (what must not reach a command line)."""
        command = ["podman", "exec", "-i", *(["-u", user] if user else []), container, "sh", "-c", script]
        return subprocess.run(command, input=data, capture_output=True, text=True, timeout=LAB_TIMEOUT, check=False)

    def _replication_password(self) -> str | None:
        """The lab's replication password (cloudsql_lab keeps it in the lab's secrets directory)."""
        path = self._lab_file()
        if path is None or not path.exists():
            return None
        lab = json.loads(path.read_text())
        secret = path.parent / lab.get("secrets_dir", "secrets") / "nearzero-db-replication-password"
        return secret.read_text().split()[0] if secret.exists() else None

    def rebuild_lab_replica(self, container: str, service: str, primary: tuple[str, str], name: str) -> str | None:
        """Make the lab server in ``container`` a streaming replica of ``primary``'s lab server.

        Its data directory is replaced by a base backup of the primary (pg_basebackup over TLS, verifying
        the primary as its CA mode allows: verify-full against its DNS name in a CAS mode, else verify-ca),
        it becomes a standby streaming from it, and the call returns None once it streams, else the error.
        """
        paths = self._cluster_paths(service)
        password = self._replication_password()
        if password is None:
            return "the lab's replication password (secrets/nearzero-db-replication-password) is missing"
        with self.lock:
            ip = next(a["ipAddress"] for a in self.instances[primary]["ipAddresses"] if a["type"] == "PRIVATE")
            ca_pem = self.ca_pems(primary)[0]
            dns_name = (self.dns_name(primary) or "").rstrip(".")
        ca_file = f"{paths['conf']}/tls/upstream-ca.crt"
        conninfo = (
            f"host={dns_name or ip} hostaddr={ip} port=5432 user=replicator "
            f"sslmode={'verify-full' if dns_name else 'verify-ca'} "
            f"sslrootcert={ca_file} application_name={name}"
        )
        steps = [
            self._podman_input(
                container,
                f"cat > {ca_file} && chown postgres:postgres {ca_file}",
                ca_pem,
            ),
            self._podman_input(
                container,
                "umask 077 && cat > /var/lib/postgresql/.pgpass",
                f"*:*:replication:replicator:{password}\n",
                user="postgres",
            ),
            self._podman(
                container,
                "sh",
                "-c",
                f"systemctl stop {service} && rm -rf {paths['data']}"
                f" && install -d -o postgres -g postgres -m 0700 {paths['data']}",
            ),
        ]
        for res in steps:
            if res.returncode != 0:
                return f"preparing {container} as a replica failed: {(res.stderr or res.stdout).strip()[:300]}"
        res = self._podman(
            container,
            "pg_basebackup",
            f"--dbname={conninfo}",
            f"--pgdata={paths['data']}",
            "--wal-method=stream",
            "--checkpoint=fast",
            user="postgres",
        )
        if res.returncode != 0:
            return f"pg_basebackup of {container} from {primary[1]} failed: {(res.stderr or res.stdout).strip()[:300]}"
        # conf.d is read in name order: this file's primary_conninfo wins over nearzero.conf's
        script = (
            f"touch {paths['data']}/standby.signal && chown postgres:postgres {paths['data']}/standby.signal"
            f" && sed -i '/^primary_conninfo/d' {paths['data']}/postgresql.auto.conf"
            f' && printf "primary_conninfo = \'%s\'\\n" "$1" > {paths["conf"]}/conf.d/zz-nearzero-replica.conf'
            f" && printf 'auto\\n' > {paths['conf']}/start.conf && systemctl enable --now {service}"
        )
        res = self._podman(container, "sh", "-c", script, "rebuild", conninfo)
        if res.returncode != 0:
            return f"starting {container} as a replica failed: {(res.stderr or res.stdout).strip()[:300]}"

        def streaming() -> str | None:
            res = self._psql(container, "select pg_is_in_recovery(), (select status from pg_stat_wal_receiver)")
            return None if res.stdout.strip() == "t|streaming" else (res.stdout or res.stderr).strip()[:300]

        last = self._poll_lab(streaming)
        return (
            None
            if last is None
            else f"{container} does not stream from {primary[1]} within {LAB_TIMEOUT:.0f} s: {last}"
        )

    def switchover_lab(self, old: tuple[str, str], new: tuple[str, str]) -> tuple[str | None, bool]:
        """A planned switchover of the lab servers: (error or None, whether the DR replica was promoted).

        The old primary stops cleanly (PostgreSQL streams its shutdown checkpoint to the connected replicas
        first), the DR replica replays up to that checkpoint, then is promoted. Before the promotion a
        failure starts the old primary again, so nothing changed.
        """
        old_container, old_service = self.lab_containers[old], self.lab_services[old]
        new_container = self.lab_containers[new]
        paths = self._cluster_paths(old_service)
        res = self._podman(old_container, "systemctl", "stop", old_service)
        if res.returncode != 0:
            return f"stopping {old[1]} failed: {(res.stderr or res.stdout).strip()[:300]}", False
        control = self._podman(old_container, f"{paths['bin']}/pg_controldata", paths["data"], user="postgres")
        found = re.search(r"Latest checkpoint location:\s+(\S+)", control.stdout)
        problem = None
        if not found or "shut down" not in control.stdout:
            problem = f"{old[1]} did not shut down cleanly: {(control.stderr or control.stdout).strip()[:300]}"
        else:
            checkpoint = found[1]

            def replayed() -> str | None:
                res = self._psql(new_container, f"select pg_last_wal_replay_lsn() > '{checkpoint}'::pg_lsn")
                return None if res.stdout.strip() == "t" else f"replayed: {(res.stdout or res.stderr).strip()[:200]}"

            last = self._poll_lab(replayed)
            if last is not None:
                problem = (
                    f"{new[1]} did not replay {old[1]}'s shutdown checkpoint {checkpoint} "
                    f"within {LAB_TIMEOUT:.0f} s ({last})"
                )
            else:
                problem = self.promote_lab(new_container)
        if problem:
            self._podman(old_container, "systemctl", "start", old_service)
            return f"{problem}; {old[1]} was started again, nothing changed", False
        return None, True


def _reconcile_ssl(current_ip: dict, sent_ip: dict) -> dict:
    """``sslMode``/``requireSsl`` after a request sending ``sent_ip``; a disagreeing pair is refused.

    sslMode wins and sets requireSsl; a request sending only the legacy requireSsl moves sslMode to
    the mode it pairs with (true: TRUSTED_CLIENT_CERTIFICATE_REQUIRED; false keeps a mode that
    pairs with false).
    """
    mode, legacy = sent_ip.get("sslMode"), sent_ip.get("requireSsl")
    if mode is not None and mode not in REQUIRE_SSL:
        raise _field_invalid("settings.ip_configuration.ssl_mode", f"'{mode}' is not one of {SSL_MODES}")
    if mode is not None and legacy is not None and REQUIRE_SSL[mode] != legacy:
        pairs = ", ".join(f"{m} with requireSsl={str(r).lower()}" for m, r in REQUIRE_SSL.items())
        raise _invalid(
            f"sslMode {mode} conflicts with requireSsl={str(legacy).lower()}. "
            f"Valid pairs: {pairs}; or leave requireSsl out (it is deprecated)."
        )
    if mode is None:
        current = current_ip.get("sslMode", "ALLOW_UNENCRYPTED_AND_ENCRYPTED")
        if legacy is None:
            mode = current
        elif legacy:
            mode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
        else:
            mode = current if not REQUIRE_SSL.get(current) else "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
    return {"sslMode": mode, "requireSsl": REQUIRE_SSL[mode]}


def _check_replica_settings(settings: dict) -> None:
    """What Cloud SQL refuses on a read replica."""
    backup = settings.get("backupConfiguration") or {}
    if backup.get("enabled") is True:
        raise _invalid("Automated backups are not supported for read replica instances; enable them on the primary.")
    if backup.get("pointInTimeRecoveryEnabled") is True:
        raise _invalid("Point-in-time recovery is not supported for read replica instances; enable it on the primary.")
    if settings.get("activationPolicy") == "NEVER":
        raise _invalid("The activation policy NEVER is not supported for read replica instances.")


def _validate_settings(settings: dict) -> None:
    """Cloud SQL's checks of values the discovery document cannot express (the shape is checked before)."""
    ip = settings.get("ipConfiguration") or {}
    network = ip.get("privateNetwork")
    if network and not NETWORK_RE.search(network):
        raise _field_invalid(
            "settings.ip_configuration.private_network",
            f"'{network}' must name a VPC network as projects/PROJECT/global/networks/NETWORK",
        )
    policy = settings.get("activationPolicy")
    if policy is not None and policy not in ("ALWAYS", "NEVER"):
        raise _field_invalid("settings.activation_policy", f"'{policy}' must be ALWAYS or NEVER")
    tier = settings.get("tier")
    if tier is not None and not TIER_RE.match(str(tier)):
        raise _invalid(f"Invalid Tier ({tier}) for (ENTERPRISE) Edition. Use sql.tiers.list to get valid tiers.")
    backup = settings.get("backupConfiguration") or {}
    start = backup.get("startTime")
    if start is not None and (
        len(start) != 5
        or start[2] != ":"
        or not (start[:2] + start[3:]).isdigit()
        or int(start[:2]) > 23
        or start[3:] != "00"
    ):
        raise _field_invalid(
            "settings.backup_configuration.start_time", f"'{start}' must be HH:00 (backups start on the hour, UTC)"
        )
    days = backup.get("transactionLogRetentionDays")  # int32: a JSON number or a decimal string
    if days is not None and not 1 <= int(days) <= 35:
        raise _field_invalid("settings.backup_configuration.transaction_log_retention_days", f"{days!r} not in 1..35")


def _check_addresses(ip: dict) -> None:
    if not ip.get("ipv4Enabled") and not ip.get("privateNetwork"):
        raise ApiError(
            400,
            "At least one of public IP or private IP must be enabled.",
            "invalid",
            status="INVALID_ARGUMENT",
        )


def register(router, emulator):
    """Serve the SQL Admin routes; return the SqlStore tests use."""
    store = SqlStore(emulator)

    def base(call) -> str:
        return f"{GOOGLE_BASE}/projects/{call.params['project']}"

    def check_project(call, permission: str) -> str:
        store.reload_lab()
        project = call.params["project"]
        if not store.visible(project):
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

    def read_body(call) -> dict:
        """The settable part of the DatabaseInstance sent (its shape was checked against the discovery document)."""
        body = {k: v for k, v in (call.request.json() or {}).items() if k in SETTABLE}
        _validate_settings(body.get("settings") or {})
        return body

    def view(call, instance: dict) -> dict:
        key = (instance["project"], instance["name"])
        out = copy.deepcopy(instance)
        out["selfLink"] = f"{base(call)}/instances/{instance['name']}"
        out["serverCaCert"] = _ssl_cert(store.ca_pems(key)[0], instance["name"])
        dns_name = store.dns_name(key)
        if dns_name:
            out["dnsName"] = dns_name
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
            key = (project, instance["name"])
            body = {
                "kind": "sql#connectSettings",
                "serverCaCert": _ssl_cert(store.ca_pems(key)[0], instance["name"]),
                "ipAddresses": copy.deepcopy(instance["ipAddresses"]),
                "region": instance["region"],
                "databaseVersion": instance["databaseVersion"],
                "backendType": "SECOND_GEN",
                "pscEnabled": False,
                "serverCaMode": store.mode(key),
            }
            dns_name = store.dns_name(key)
            if dns_name:
                body["dnsName"] = dns_name
                body["dnsNames"] = [
                    {
                        "name": dns_name,
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
            certs = [_ssl_cert(p, instance["name"]) for p in store.ca_pems((project, instance["name"]))]
        return Response(
            body={"certs": certs, "activeVersion": certs[0]["sha1Fingerprint"], "kind": "sql#instancesListServerCas"}
        )

    def patch(call):
        project = check_project(call, "cloudsql.instances.update")
        body = read_body(call)
        name = call.params["instance"]
        key = (project, name)
        with store.lock:
            instance = find(project, name)
            sent = body.get("settings") or {}
            if instance.get("masterInstanceName"):
                _check_replica_settings(sent)
            if "replicationCluster" in body:
                # drReplica and psaWriteEndpoint are output only: sent, they are ignored
                body["replicationCluster"] = {
                    k: v for k, v in (body["replicationCluster"] or {}).items() if k == "failoverDrReplicaName"
                }
            merged = copy.deepcopy(instance)
            _merge(merged, {k: v for k, v in body.items() if k != "name"})
            check_edition(instance, merged)
            designated = check_dr_designation(project, instance, merged, body)
            ip = merged["settings"].setdefault("ipConfiguration", {})
            ip.update(
                _reconcile_ssl(instance["settings"].get("ipConfiguration") or {}, sent.get("ipConfiguration") or {})
            )
            _check_addresses(ip)
            container = store.lab_containers.get(key)
            old_policy = instance["settings"].get("activationPolicy", "ALWAYS")
            new_policy = merged["settings"].get("activationPolicy", "ALWAYS")
            new_mode = ip.get("serverCaMode") if ip.get("serverCaMode") in CA_MODES else INTERNAL_CA

        def apply():
            if container and new_mode != store.lab_modes.get(key, new_mode):
                return (
                    f"The lab server in {container} has a {store.lab_modes[key]} certificate, issued by the lab "
                    f"(cloudsql_lab): set cloudsql_lab_server_ca_mode: {new_mode} for it and run the "
                    "lab's database play again."
                )
            if container and new_policy != old_policy:
                problem = store.activate_lab(container, store.lab_services[key], new_policy)
                if problem:
                    return problem
            with store.lock:
                current = store.instances[key]
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
                store.instances[key] = merged
                store._ensure_ca(key)
                if designated is not None:
                    designate(project, name, designated)
                if new_policy != old_policy:
                    store.activation_log.append(
                        {
                            "project": project,
                            "instance": name,
                            "activationPolicy": new_policy,
                            "time": _now(),
                            "lab_container": container,
                        }
                    )
            return None

        return Response(body=new_operation(call, name, "UPDATE", apply))

    def insert(call):
        project = check_project(call, "cloudsql.instances.create")
        body = read_body(call)
        name = body.get("name")
        if not name:
            raise _field_invalid("name", "is required")
        if not NAME_RE.match(str(name)):
            raise _invalid(
                f"instance name ({name}): use lowercase letters, digits and hyphens, start with a letter, "
                "end with a letter or digit, at most 98 characters."
            )
        master = (body.get("masterInstanceName") or "").split(":")[-1]
        with store.lock:
            if (project, name) in store.instances:
                raise ApiError(
                    409, "The Cloud SQL instance already exists.", "instanceAlreadyExists", status="ALREADY_EXISTS"
                )
            deleted = store.deleted.get((project, name))
            if deleted and dt.datetime.now(dt.UTC) - deleted < dt.timedelta(days=NAME_REUSE_DAYS):
                raise ApiError(
                    409,
                    "The Cloud SQL instance already exists. When you delete an instance, you can't reuse the name "
                    "of the deleted instance until one week from the deletion date.",
                    "instanceAlreadyExists",
                    status="ALREADY_EXISTS",
                )
            if master:
                placeholder, op_type = insert_replica(project, name, master, body), "CREATE_REPLICA"
            else:
                placeholder, op_type = insert_primary(project, name, body), "CREATE"
            placeholder["state"] = "PENDING_CREATE"

        def apply():
            if master:
                used, problem = lab_replica_on_free_host(project, name, master)
                if problem:
                    with store.lock:
                        store.instances.pop((project, name), None)
                        store.relink(project)
                    return problem
                if used:
                    with store.lock:
                        store.instances[(project, name)]["state"] = "RUNNABLE"
                    return None
            lab_host(project, name, "replica" if master else "primary", body)
            with store.lock:
                store.instances[(project, name)]["state"] = "RUNNABLE"
            return None

        return Response(body=new_operation(call, name, op_type, apply))

    def lab_host(project: str, name: str, role: str, body: dict) -> None:
        """Lab mode: start the lab PostgreSQL host of a new instance (compute_fleet_lab); it is the instance.

        Its address is the instance's private IP; its settings are kept when the lab's cloudsql.json
        (written once the host is set up as the stand-in) is loaded, so the API's settings stay as created.
        """
        fleet = getattr(store.emulator, "lab_fleet", None)
        if fleet is None:
            return
        with store.lock:
            instance = store.instances[(project, name)]
            region, tier = instance["region"], instance["settings"].get("tier") or "db-custom-4-16384"
        labels = {"env": "lab", **((body.get("settings") or {}).get("userLabels") or {})}
        network = (instance["settings"].get("ipConfiguration") or {}).get("privateNetwork") or "default"
        ip = fleet.add_database_host(project, name, region, role, tier, labels, network.rsplit("/", 1)[-1])
        if ip is None:
            return
        with store.lock:
            instance["ipAddresses"] = [a for a in instance["ipAddresses"] if a["type"] != "PRIVATE"]
            instance["ipAddresses"].append({"type": "PRIVATE", "ipAddress": ip})
            store._lab_settings[(project, name)] = instance["settings"]

    def lab_replica_on_free_host(project: str, name: str, master: str) -> tuple[bool, str | None]:
        """Lab mode: rebuild the lab host of a deleted instance in the new replica's region as its server.

        Returns (whether such a host was used, the error or None). The host keeps its server certificate (the
        lab's), so the new instance is served with that certificate's CA mode, CA and DNS name.
        """
        with store.lock:
            region = store.instances[(project, name)]["region"]
            host = next((h for h in store.lab_free if h["project"] == project and h["region"] == region), None)
            if host is None or (project, master) not in store.lab_containers:
                return False, None
            store.lab_free.remove(host)
        problem = store.rebuild_lab_replica(host["container"], host["service"], (project, master), name)
        with store.lock:
            if problem:
                store.lab_free.append(host)
                return True, problem
            key = (project, name)
            instance = store.instances[key]
            instance["ipAddresses"] = [{"type": "PRIVATE", "ipAddress": host["ip"]}]
            instance["gceZone"] = host["zone"]
            instance["settings"]["ipConfiguration"]["serverCaMode"] = host["mode"]
            store.ca_sets[key] = {host["mode"]: list(host["ca_pems"])}
            if host["dns_name"]:
                store.dns_names[key] = host["dns_name"]
            store.lab_containers[key] = host["container"]
            store.lab_services[key] = host["service"]
            store.lab_modes[key] = host["mode"]
            store._lab_rebuilt.add(key)
            store._masters[key] = master
        return True, None

    def insert_primary(project: str, name: str, body: dict) -> dict:
        settings = copy.deepcopy(body.get("settings") or {})
        for field, value in (
            ("region", body.get("region")),
            ("databaseVersion", body.get("databaseVersion")),
            ("settings.tier", settings.get("tier")),
        ):
            if not value:
                raise _invalid(f"{field} is required to create a primary instance.")
        ip = settings.setdefault("ipConfiguration", {})
        ip.setdefault("ipv4Enabled", True)  # Cloud SQL's default: a public IP unless told otherwise
        ip.update(_reconcile_ssl({}, ip))
        ip.setdefault("serverCaMode", INTERNAL_CA)
        _check_addresses(ip)
        settings.setdefault("activationPolicy", "ALWAYS")
        region = body["region"]
        private_ip = store.new_private_ip() if ip.get("privateNetwork") else None
        return store.add_instance(
            project,
            name,
            region=region,
            private_ip=private_ip,
            public_ip=f"34.86.1.{2 + store._next_ip % 250}" if ip.get("ipv4Enabled") else None,
            database_version=body["databaseVersion"],
            settings=settings,
            server_ca_mode=ip["serverCaMode"],
        )

    def insert_replica(project: str, name: str, master: str, body: dict) -> dict:
        primary = find(project, master)
        if primary["settings"].get("activationPolicy") == "NEVER":
            raise ApiError(
                400,
                f"The primary instance {master} is not running (activationPolicy NEVER): start it before creating "
                "a read replica of it.",
                "invalidState",
                status="FAILED_PRECONDITION",
            )
        if primary.get("masterInstanceName"):
            raise _field_invalid(
                "masterInstanceName", f"'{master}' is itself a replica; replicas of replicas are not supported here"
            )
        sent = body.get("settings") or {}
        _check_replica_settings(sent)
        region = body.get("region") or primary["region"]
        settings = copy.deepcopy(primary["settings"])
        settings["backupConfiguration"] = {"kind": "sql#backupConfiguration", "enabled": False}
        settings["settingsVersion"] = "1"
        settings["activationPolicy"] = "ALWAYS"
        settings.pop("locationPreference", None)
        # a replica gets its own server CA, in the mode it asks for (the API's default otherwise)
        settings["ipConfiguration"]["serverCaMode"] = INTERNAL_CA
        _merge(settings, sent)
        ip = settings["ipConfiguration"]
        ip.update(_reconcile_ssl(primary["settings"]["ipConfiguration"], sent.get("ipConfiguration") or {}))
        has_private = any(a["type"] == "PRIVATE" for a in primary["ipAddresses"])
        return store.add_instance(
            project,
            name,
            region=region,
            private_ip=store.new_private_ip() if has_private else None,
            public_ip=f"34.86.2.{2 + store._next_ip % 250}" if ip.get("ipv4Enabled") else None,
            master=master,
            database_version=body.get("databaseVersion") or primary["databaseVersion"],
            settings=settings,
            server_ca_mode=ip["serverCaMode"],
        )

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

    def check_edition(instance: dict, merged: dict) -> None:
        """Enterprise Plus runs on the performance-optimised tiers only (checked when the edition changes)."""
        edition = merged["settings"].get("edition")
        if edition == ENTERPRISE_PLUS and instance["settings"].get("edition") != edition:
            tier = merged["settings"].get("tier", "")
            if not tier.startswith(PERF_TIER):
                raise _invalid(
                    f"Invalid Tier ({tier}) for (ENTERPRISE_PLUS) Edition. Use a {PERF_TIER}* tier "
                    "(sql.tiers.list lists them)."
                )

    def check_dr_designation(project: str, instance: dict, merged: dict, body: dict) -> str | None:
        """The DR replica a PATCH designates ("" clears it), refused where Cloud SQL refuses it; None: untouched."""
        sent = (body.get("replicationCluster") or {}).get("failoverDrReplicaName")
        if sent is None:
            return None
        replica = sent.split(":")[-1]
        if not replica:
            return ""
        if instance.get("masterInstanceName"):
            raise _invalid(
                f"replicationCluster.failoverDrReplicaName is set on the primary instance, not on a read replica "
                f"({instance['name']} replicates from {instance['masterInstanceName']})."
            )
        if merged["settings"].get("edition") != ENTERPRISE_PLUS:
            raise _invalid(
                f"A DR replica (advanced disaster recovery) is supported only on Cloud SQL Enterprise Plus edition "
                f"instances; {instance['name']} is {merged['settings'].get('edition', 'ENTERPRISE')}."
            )
        if replica not in instance.get("replicaNames", []):
            raise _invalid(f"'{replica}' is not a read replica of {instance['name']}: it cannot be its DR replica.")
        found = find(project, replica)
        if found["region"] == instance["region"]:
            raise _invalid(
                f"The DR replica must be in a different region from its primary: {replica} and {instance['name']} "
                f"are both in {instance['region']}."
            )
        if found["settings"].get("edition") != ENTERPRISE_PLUS:
            raise _invalid(f"The DR replica {replica} must be Enterprise Plus edition, as its primary is.")
        return replica

    def write_endpoint(project: str, primary: dict) -> str | None:
        """The cluster's PSA DNS write endpoint (private services access only), kept over switchovers."""
        kept = (primary.get("replicationCluster") or {}).get("psaWriteEndpoint")
        if kept or not primary["settings"].get("ipConfiguration", {}).get("privateNetwork"):
            return kept
        digest = hashlib.sha256(f"{project}/{primary['name']}/write".encode()).hexdigest()
        return f"{digest[:12]}.{digest[12:18]}.{primary['region']}.sql-psa.goog."

    def designate(project: str, primary_name: str, replica: str) -> None:
        """Record the primary's DR replica ("" clears it) and every replica's drReplica flag (lock held)."""
        primary = store.instances[(project, primary_name)]
        cluster = primary.setdefault("replicationCluster", {})
        endpoint = write_endpoint(project, primary) if replica else cluster.get("psaWriteEndpoint")
        if replica:
            cluster["failoverDrReplicaName"] = replica
        else:
            cluster.pop("failoverDrReplicaName", None)
        if endpoint:
            cluster["psaWriteEndpoint"] = endpoint
            primary["writeEndpoint"] = endpoint
        for other in primary.get("replicaNames", []):
            found = store.instances[(project, other)]
            found["replicationCluster"] = {"drReplica": other == replica}
            if endpoint and other == replica:
                found["replicationCluster"]["psaWriteEndpoint"] = endpoint
                found["writeEndpoint"] = endpoint

    def switchover(call):
        project = check_project(call, "cloudsql.instances.failover")
        name = call.params["instance"]
        with store.lock:
            replica = find(project, name)
            master = (replica.get("masterInstanceName") or "").split(":")[-1]
            if not master:
                raise ApiError(
                    400,
                    f"The instance is not a read replica instance: {name} is a primary, so there is nothing to "
                    "switch over to it.",
                    "notReplicaInstance",
                    status="FAILED_PRECONDITION",
                )
            primary = find(project, master)
            edition = primary["settings"].get("edition", "ENTERPRISE")
            if edition != ENTERPRISE_PLUS:
                raise _invalid(
                    f"Switchover is supported only on Cloud SQL Enterprise Plus edition instances; {master} is "
                    f"{edition}. On Enterprise, promote the replica (promoteReplica) after fencing the primary."
                )
            designated = ((primary.get("replicationCluster") or {}).get("failoverDrReplicaName") or "").split(":")[-1]
            if designated != name:
                raise _invalid(
                    f"{name} is not the DR replica of {master} (replicationCluster.failoverDrReplicaName is "
                    f"'{designated}'): designate it first (gcloud sql instances patch {master} "
                    f"--failover-dr-replica-name={name})."
                )
            if primary["settings"].get("activationPolicy", "ALWAYS") != "ALWAYS" or primary["state"] != "RUNNABLE":
                raise ApiError(
                    400,
                    f"The primary instance {master} is not running: a switchover needs both instances online.",
                    "invalidState",
                    status="FAILED_PRECONDITION",
                )
            if not primary["settings"].get("backupConfiguration", {}).get("pointInTimeRecoveryEnabled"):
                raise _invalid(f"Point-in-time recovery must be enabled on the primary instance {master}.")
            old_key, new_key = (project, master), (project, name)
            lab = old_key in store.lab_containers and new_key in store.lab_containers

        def apply():
            if lab:
                problem, promoted = store.switchover_lab(old_key, new_key)
                if not promoted:
                    return problem
            with store.lock:
                new, old = store.instances[new_key], store.instances[old_key]
                new.pop("masterInstanceName", None)
                new.pop("replicaConfiguration", None)
                new["instanceType"] = "CLOUD_SQL_INSTANCE"
                old["masterInstanceName"] = f"{project}:{name}"
                old["replicaConfiguration"] = {"kind": "sql#replicaConfiguration", "failoverTarget": False}
                old["instanceType"] = "READ_REPLICA_INSTANCE"
                # a replica keeps no backups; the new primary's are the operator's to turn on (PITR included)
                old["settings"]["backupConfiguration"] = {"kind": "sql#backupConfiguration", "enabled": False}
                endpoint = (old.get("replicationCluster") or {}).get("psaWriteEndpoint")
                old["replicationCluster"] = {}
                new["replicationCluster"] = {"psaWriteEndpoint": endpoint} if endpoint else {}
                store._masters[old_key], store._masters[new_key] = name, None
                store._promoted.add(new_key)
                store.relink(project)
                designate(project, name, master)
            if lab:
                return store.rebuild_lab_replica(
                    store.lab_containers[old_key], store.lab_services[old_key], new_key, master
                )
            return None

        return Response(body=new_operation(call, name, "SWITCHOVER", apply))

    def delete(call):
        project = check_project(call, "cloudsql.instances.delete")
        name = call.params["instance"]
        key = (project, name)
        with store.lock:
            instance = find(project, name)
            if instance["settings"].get("deletionProtectionEnabled"):
                raise _invalid(
                    f"The instance {name} is protected from deletion: set settings.deletionProtectionEnabled to "
                    "false first."
                )
            if instance.get("replicaNames"):
                raise ApiError(
                    400,
                    f"The instance {name} has read replicas ({', '.join(instance['replicaNames'])}): delete or "
                    "promote them first.",
                    "invalidState",
                    status="FAILED_PRECONDITION",
                )
            container = store.lab_containers.get(key)

        def apply():
            if container:
                problem = store.activate_lab(container, store.lab_services[key], "NEVER")
                if problem:
                    return problem
            with store.lock:
                gone = store.instances.pop(key)
                store.deleted[key] = dt.datetime.now(dt.UTC)
                ca_pems = store.ca_pems_of(key)
                if container:
                    store.lab_free.append(
                        {
                            "project": project,
                            "region": gone["region"],
                            "zone": gone.get("gceZone", f"{gone['region']}-a"),
                            "container": store.lab_containers.pop(key),
                            "service": store.lab_services.pop(key),
                            "mode": store.lab_modes.pop(key),
                            "ca_pems": ca_pems,
                            "dns_name": store.dns_names.get(key),
                            "ip": next(a["ipAddress"] for a in gone["ipAddresses"] if a["type"] == "PRIVATE"),
                        }
                    )
                store._masters.pop(key, None)
                store._lab_rebuilt.discard(key)
                store.relink(project)
            return None

        return Response(body=new_operation(call, name, "DELETE", apply))

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
    router.add("POST", inst + r"/switchover", switchover, kind="sqladmin.instances.switchover", scopes=SCOPES)
    router.add("DELETE", inst, delete, kind="sqladmin.instances.delete", scopes=SCOPES)
    router.add(
        "GET",
        PREFIX + r"/operations/(?P<operation>[^/]+)",
        get_operation,
        kind="sqladmin.operations.get",
        scopes=SCOPES,
    )
    # what other SQL Admin services (sqladmin_backups) build their routes on: the same checks and operations
    store.routes = {"check_project": check_project, "find": find, "view": view, "new_operation": new_operation}
    return store


def _number(project: str) -> int:
    """A stable project number (the service agent's address carries it)."""
    return int(hashlib.sha256(project.encode()).hexdigest(), 16) % 10**12
