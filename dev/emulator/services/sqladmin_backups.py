"""Cloud SQL Admin v1 backups and point-in-time recovery: ``backupRuns.list/get/insert`` and ``instances.clone``.

Built on the SQL Admin service's store (``sqladmin.py``: its instances, project check, views and
operations, ``store.routes``). Shapes follow ``sqladmin.v1.json``, against which the server checks
each request first.

Cloud SQL's rules kept here:

- every backup run carries its ``location``: the instance's ``backupConfiguration.location`` when the
  run was taken (an on-demand run may name its own), else the multi-region of the instance's region
  (``us``, ``eu``, ``asia``), as Cloud SQL's default is;
- ``instances.clone`` creates a NEW instance (``cloneContext.destinationInstanceName``, a name already
  taken is 409) and never touches the source; with ``pointInTime`` it refuses an instance without
  point-in-time recovery (backups and ``pointInTimeRecoveryEnabled``), a time in the future, and a
  time before the earliest recovery time: the later of now minus ``transactionLogRetentionDays`` and
  the end of the oldest successful backup (a restore starts from a backup taken before the time).
  Refusals are 400s answered before anything is created.

Lab mode (``<lab>/cloudsql.json``, written by the cloudsql_lab role): a lab primary archives its WAL
(gzip, one file per segment) into ``wal_archive`` and keeps its base backups (``pg_basebackup``, tar)
in ``backup_dir``, both inside its container; that is the lab's log and backup storage, which the
emulator (standing for Google) reads with ``podman exec``. Each backup's ``nearzero-backup.json``
describes the run. ``backupRuns.insert`` runs the role's backup script in the container. A clone of
a lab instance is restored for real on a spare lab host (``spares`` in cloudsql.json, hosts the
topology labels ``cloudsql: restore``): the emulator closes the source's current WAL segment
(``pg_switch_wal()``) and waits until it is archived, copies the newest base backup that ended at or
before the target time and the archive into the spare, and starts PostgreSQL there with
``recovery_target_time`` and ``recovery_target_action = 'promote'``. The operation is DONE once the
clone accepts a write; the clone is then served with the spare's private IP and its own CA (the
spare's per-instance CA: its certificate names the spare, which ``verify-ca`` does not check).

Tests drive it through ``emulator.services["sqladmin_backups"]`` (a ``BackupStore``): ``add_run``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shlex
import subprocess
import threading

from ..errors import ApiError
from ..server import Response
from .sqladmin import GOOGLE_BASE, INTERNAL_CA, LAB_TIMEOUT, SCOPES, _invalid

# Cloud SQL's default backup location: the multi-region holding the instance's region
MULTI_REGIONS = {"us": "us", "northamerica": "us", "southamerica": "us", "europe": "eu", "asia": "asia"}


def _parse_time(value: str) -> dt.datetime:
    """An RFC 3339 time (the discovery check has validated its form) as an aware datetime."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def default_location(region: str) -> str:
    """The multi-region Cloud SQL stores backups in when no location is set."""
    return MULTI_REGIONS.get(region.split("-", 1)[0], "us")


class BackupStore:
    """Backup runs per instance (API-only ones in memory, lab ones read from their container)."""

    def __init__(self, sql):
        self.sql = sql
        self.runs: dict[tuple[str, str], list[dict]] = {}
        # a lab run's location, fixed the first time the API sees it (the setting when it was taken)
        self.lab_locations: dict[tuple[str, str, str], str] = {}
        # spare container -> the clone it holds
        self.spares_used: dict[str, str] = {}
        self.lock = threading.RLock()

    # -- test controls -------------------------------------------------------------------
    def add_run(
        self,
        project: str,
        instance: str,
        *,
        start: dt.datetime | None = None,
        seconds: float = 1.0,
        location: str | None = None,
        run_type: str = "AUTOMATED",
        status: str = "SUCCESSFUL",
    ) -> dict:
        """Record a finished backup run of an API-only instance (``start`` defaults to now)."""
        start = start or dt.datetime.now(dt.UTC)
        instance_data = self.sql.instances[(project, instance)]
        run = self._run(project, instance_data, start, start + dt.timedelta(seconds=seconds), run_type, location)
        run["status"] = status
        with self.lock:
            self.runs.setdefault((project, instance), []).append(run)
        return run

    # -- runs ----------------------------------------------------------------------------
    def location_for(self, instance: dict, asked: str | None = None) -> str:
        backup = instance["settings"].get("backupConfiguration") or {}
        return asked or backup.get("location") or default_location(instance["region"])

    def _run(self, project, instance, start, end, run_type, location, description=None) -> dict:
        run_id = str(int(start.timestamp() * 1000))
        run = {
            "kind": "sql#backupRun",
            "id": run_id,
            "instance": instance["name"],
            "status": "SUCCESSFUL",
            "type": run_type,
            "backupKind": "SNAPSHOT",
            "location": self.location_for(instance, location),
            "enqueuedTime": _rfc3339(start),
            "startTime": _rfc3339(start),
            "endTime": _rfc3339(end),
            "windowStartTime": _rfc3339(start),
            "databaseVersion": instance.get("databaseVersion"),
            "selfLink": f"{GOOGLE_BASE}/projects/{project}/instances/{instance['name']}/backupRuns/{run_id}",
        }
        if description:
            run["description"] = description
        return run

    def list_runs(self, project: str, instance: dict) -> list[dict]:
        """Every run of the instance, newest first (by enqueued time), as Cloud SQL lists them."""
        key = (project, instance["name"])
        container = self.sql.lab_containers.get(key)
        with self.lock:
            runs = [copy.deepcopy(r) for r in self.runs.get(key, [])]
        if container:
            runs.extend(self._lab_runs(project, instance, container))
        return sorted(runs, key=lambda r: r["enqueuedTime"], reverse=True)

    def _lab_runs(self, project: str, instance: dict, container: str) -> list[dict]:
        spec = self.lab_spec(instance["name"])
        if not spec or not spec.get("backup_dir"):
            return []
        script = f"cat {shlex.quote(spec['backup_dir'])}/*/nearzero-backup.json 2>/dev/null || true"
        res = self.sql._podman(container, "sh", "-c", script)
        runs = []
        for line in res.stdout.splitlines():
            if not line.strip():
                continue
            meta = json.loads(line)
            stamp = (project, instance["name"], meta["id"])
            with self.lock:
                location = self.lab_locations.setdefault(stamp, self.location_for(instance, meta.get("location")))
            run = self._run(
                project,
                instance,
                _parse_time(meta["startTime"]),
                _parse_time(meta["endTime"]),
                meta.get("type", "AUTOMATED"),
                location,
                meta.get("description"),
            )
            run["id"] = meta["id"]
            run["selfLink"] = run["selfLink"].rsplit("/", 1)[0] + "/" + meta["id"]
            runs.append(run)
        return runs

    def earliest_recovery(self, project: str, instance: dict) -> tuple[dt.datetime | None, list[dict]]:
        """(earliest recovery time, the successful runs) of a PITR-enabled instance; None without a backup."""
        runs = [r for r in self.list_runs(project, instance) if r["status"] == "SUCCESSFUL"]
        if not runs:
            return None, runs
        backup = instance["settings"].get("backupConfiguration") or {}
        days = int(backup.get("transactionLogRetentionDays") or 7)
        window = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        oldest_end = min(_parse_time(r["endTime"]) for r in runs)
        return max(window, oldest_end), runs

    # -- lab -----------------------------------------------------------------------------
    def lab_file(self) -> dict:
        path = self.sql._lab_file()
        if path is None or not path.exists():
            return {}
        return json.loads(path.read_text())

    def lab_spec(self, name: str) -> dict | None:
        return next((s for s in self.lab_file().get("instances", []) if s["name"] == name), None)

    def free_spare(self) -> dict | None:
        """A spare lab host that holds no clone yet (none restored by this emulator, nor by an earlier one)."""
        with self.lock:
            used = set(self.spares_used)
        for spare in self.lab_file().get("spares", []):
            if spare["container"] in used:
                continue
            marker = f"{spare['conf_dir']}/conf.d/nearzero-restore.conf"
            if self.sql._podman(spare["container"], "test", "-e", marker).returncode != 0:
                return spare
        return None

    def backup_lab(self, container: str, spec: dict, location: str, description: str) -> str | None:
        """Take an on-demand base backup with the role's script; None once it is there, else the error."""
        argv = [spec["backup_command"], "ON_DEMAND", location, description]
        res = self.sql._podman(container, *argv, user="postgres")
        if res.returncode != 0:
            return f"the base backup failed in {container}: {(res.stderr or res.stdout).strip()[-300:]}"
        return None

    def restore_lab(self, source: dict, spare: dict, run_id: str, target: str) -> str | None:
        """Restore run ``run_id`` of the source plus its WAL up to ``target`` on the spare; None once it writes."""
        container = source["container"]
        closed = self.sql._psql(container, "select pg_walfile_name(pg_switch_wal())")
        if closed.returncode != 0:
            return f"pg_switch_wal() failed in {container}: {(closed.stderr or closed.stdout).strip()[:300]}"
        segment = closed.stdout.strip()

        def archived() -> str | None:
            res = self.sql._psql(container, "select coalesce(last_archived_wal, '') from pg_stat_archiver")
            last = res.stdout.strip()
            return None if res.returncode == 0 and last[:24] >= segment else f"last archived {last or 'none'}"

        last = self.sql._poll_lab(archived)
        if last is not None:
            return f"{container} did not archive WAL segment {segment} within {LAB_TIMEOUT:.0f} s ({last})"
        staging = spare["restore_dir"]
        pack = subprocess.Popen(
            [
                "podman",
                "exec",
                container,
                "tar",
                "-C",
                "/",
                "-cf",
                "-",
                f"{source['backup_dir'].lstrip('/')}/{run_id}/base.tar.gz",
                source["wal_archive"].lstrip("/"),
            ],
            stdout=subprocess.PIPE,
        )
        unpack = subprocess.run(
            ["podman", "exec", "-i", spare["container"], "sh", "-c", _unpack_script(staging)],
            stdin=pack.stdout,
            capture_output=True,
            text=True,
            timeout=LAB_TIMEOUT,
            check=False,
        )
        pack.stdout.close()
        if pack.wait(timeout=LAB_TIMEOUT) != 0 or unpack.returncode != 0:
            return f"copying backup {run_id} and the WAL archive to {spare['container']} failed: {unpack.stderr[-300:]}"
        script = _restore_script(
            spare,
            f"{staging}/{source['backup_dir'].lstrip('/')}/{run_id}/base.tar.gz",
            f"{staging}/{source['wal_archive'].lstrip('/')}",
            target,
        )
        res = self.sql._podman(spare["container"], "sh", "-c", script)
        if res.returncode != 0:
            return f"restoring in {spare['container']} failed: {(res.stderr or res.stdout).strip()[-300:]}"

        def promoted() -> str | None:
            res = self.sql._psql(
                spare["container"],
                "begin; create temp table nearzero_restore_probe(x int); commit; select pg_is_in_recovery()",
            )
            return None if res.returncode == 0 and res.stdout.strip().endswith("f") else res.stderr.strip()[-300:]

        last = self.sql._poll_lab(promoted)
        if last is None:
            return None
        return (
            f"the restore in {spare['container']} did not reach {target} and promote within {LAB_TIMEOUT:.0f} s: {last}"
        )


def _unpack_script(staging: str) -> str:
    quoted = shlex.quote(staging)
    return f"rm -rf {quoted} && mkdir -p {quoted} && tar -C {quoted} -xf - && chown -R postgres:postgres {quoted}"


def _restore_script(spare: dict, base_tar: str, wal_dir: str, target: str) -> str:
    """Replace the spare's cluster by the base backup and recover it to ``target``, then promote."""
    data, conf, service = spare["data_dir"], spare["conf_dir"], spare["service"]
    restore = f"test -f {wal_dir}/%f.gz && gunzip < {wal_dir}/%f.gz > %p"
    settings = (
        f"restore_command = '{restore}'\n"
        f"recovery_target_time = '{target}'\n"
        "recovery_target_inclusive = on\n"
        "recovery_target_action = 'promote'\n"
    )
    return " && ".join(
        [
            "set -e",
            f"systemctl stop {service}",
            f"rm -rf {data}",
            f"install -d -m 0700 -o postgres -g postgres {data}",
            f"tar -xzf {base_tar} -C {data}",
            f"touch {data}/recovery.signal",
            f"printf %s {shlex.quote(settings)} > {conf}/conf.d/nearzero-restore.conf",
            f"chown -R postgres:postgres {data}",
            f"systemctl enable --now {service}",
        ]
    )


def register(router, emulator):
    """Serve backupRuns.list/get/insert and instances.clone; return the BackupStore tests use."""
    sql = emulator.services["sqladmin"]
    store = BackupStore(sql)
    check_project = sql.routes["check_project"]
    find = sql.routes["find"]
    new_operation = sql.routes["new_operation"]

    def list_runs(call):
        project = check_project(call, "cloudsql.backupRuns.list")
        with sql.lock:
            instance = copy.deepcopy(find(project, call.params["instance"]))
        runs = store.list_runs(project, instance)
        start = int(call.arg("pageToken") or 0)
        size = int(call.arg("maxResults") or 0) or len(runs) or 1
        body = {"kind": "sql#backupRunsList", "items": runs[start : start + size]}
        if start + size < len(runs):
            body["nextPageToken"] = str(start + size)
        return Response(body=body)

    def get_run(call):
        project = check_project(call, "cloudsql.backupRuns.get")
        with sql.lock:
            instance = copy.deepcopy(find(project, call.params["instance"]))
        for run in store.list_runs(project, instance):
            if run["id"] == call.params["id"]:
                return Response(body=run)
        raise ApiError(404, "The backup run does not exist.", "backupRunDoesNotExist", status="NOT_FOUND")

    def insert_run(call):
        project = check_project(call, "cloudsql.backupRuns.create")
        name = call.params["instance"]
        sent = call.request.json() or {}
        with sql.lock:
            instance = copy.deepcopy(find(project, name))
        if instance.get("masterInstanceName"):
            raise _invalid("Backups are not supported for read replica instances; back up the primary.")
        location = store.location_for(instance, sent.get("location"))
        container = sql.lab_containers.get((project, name))
        spec = store.lab_spec(name) if container else None
        if container and not (spec and spec.get("backup_command")):
            raise _invalid(
                f"The lab instance {name} keeps no backups: run the cloudsql_lab role on it with "
                "cloudsql_lab_backups: true (the default for a primary)."
            )
        start = dt.datetime.now(dt.UTC)

        def apply():
            if container:
                return store.backup_lab(container, spec, location, sent.get("description") or "")
            run = store._run(
                project, instance, start, dt.datetime.now(dt.UTC), "ON_DEMAND", location, sent.get("description")
            )
            with store.lock:
                store.runs.setdefault((project, name), []).append(run)
            return None

        return Response(body=new_operation(call, name, "BACKUP_VOLUME", apply))

    def clone(call):
        project = check_project(call, "cloudsql.instances.clone")
        name = call.params["instance"]
        context = (call.request.json() or {}).get("cloneContext") or {}
        dest = context.get("destinationInstanceName")
        if not dest:
            raise _invalid("cloneContext.destinationInstanceName is required: name the new instance.")
        with sql.lock:
            source = copy.deepcopy(find(project, name))
            if (project, dest) in sql.instances:
                raise ApiError(
                    409, "The Cloud SQL instance already exists.", "instanceAlreadyExists", status="ALREADY_EXISTS"
                )
        backup = source["settings"].get("backupConfiguration") or {}
        if not (backup.get("enabled") and backup.get("pointInTimeRecoveryEnabled")):
            raise _invalid(
                f"Point-in-time recovery is not enabled on instance {name}: enable backups and "
                "pointInTimeRecoveryEnabled on it (settings.backupConfiguration), then clone it once its "
                "first backup has run."
            )
        now = dt.datetime.now(dt.UTC)
        target = _parse_time(context["pointInTime"]) if context.get("pointInTime") else now
        if target > now:
            raise _invalid(
                f"The point in time {context['pointInTime']} is in the future (now: {_rfc3339(now)}); "
                "pick a time that has passed."
            )
        earliest, runs = store.earliest_recovery(project, source)
        if earliest is None:
            raise _invalid(
                f"Instance {name} has no successful backup yet, so it cannot be restored to a point in time."
            )
        if target < earliest:
            raise _invalid(
                f"The point in time {_rfc3339(target)} is before the earliest recovery time of instance {name} "
                f"({_rfc3339(earliest)}: the transaction log retention of "
                f"{backup.get('transactionLogRetentionDays', 7)} days and the oldest backup); pick a later time."
            )
        base_run = max((r for r in runs if _parse_time(r["endTime"]) <= target), key=lambda r: r["endTime"])
        lab_source = store.lab_spec(name) if sql.lab_containers.get((project, name)) else None
        spare = None
        if lab_source:
            spare = store.free_spare()
            if spare is None:
                raise _invalid(
                    "The lab has no free spare host to restore into: add a host labelled cloudsql: restore to the "
                    "lab topology (each holds one clone)."
                )
            with store.lock:
                store.spares_used[spare["container"]] = dest
        with sql.lock:
            placeholder = sql.add_instance(
                project,
                dest,
                region=source["region"],
                private_ip=spare["ip"] if spare else sql.new_private_ip(),
                database_version=source["databaseVersion"],
                settings={
                    "tier": source["settings"].get("tier"),
                    "ipConfiguration": {
                        k: v for k, v in source["settings"]["ipConfiguration"].items() if k != "serverCaMode"
                    },
                },
                ca_pems=[sql._lab_file().parent.joinpath(spare["ca_file"]).read_text()] if spare else None,
                server_ca_mode=INTERNAL_CA,
            )
            placeholder["state"] = "PENDING_CREATE"
        # microseconds: what PostgreSQL's recovery_target_time holds
        target_text = target.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")

        def apply():
            problem = store.restore_lab(lab_source, spare, base_run["id"], target_text) if spare else None
            if problem:
                with sql.lock:
                    sql.instances.pop((project, dest), None)
                # the spare is free again: its half-restored cluster is replaced by the next restore
                sql._podman(spare["container"], "rm", "-f", f"{spare['conf_dir']}/conf.d/nearzero-restore.conf")
                with store.lock:
                    store.spares_used.pop(spare["container"], None)
                return problem
            with sql.lock:
                sql.instances[(project, dest)]["state"] = "RUNNABLE"
            return None

        return Response(body=new_operation(call, dest, "CLONE", apply))

    inst = r"/v1/projects/(?P<project>[^/]+)/instances/(?P<instance>[a-z][a-z0-9-]*)"
    router.add("GET", inst + r"/backupRuns", list_runs, kind="sqladmin.backupRuns.list", scopes=SCOPES)
    router.add("GET", inst + r"/backupRuns/(?P<id>-?\d+)", get_run, kind="sqladmin.backupRuns.get", scopes=SCOPES)
    router.add("POST", inst + r"/backupRuns", insert_run, kind="sqladmin.backupRuns.insert", scopes=SCOPES)
    router.add("POST", inst + r"/clone", clone, kind="sqladmin.instances.clone", scopes=SCOPES)
    return store
