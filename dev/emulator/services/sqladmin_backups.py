"""Cloud SQL Admin v1 backups and recovery: ``backupRuns.list/get/insert``, ``instances.clone`` and ``restoreBackup``.

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
- ``instances.restoreBackup`` overwrites an EXISTING instance (the path's) with a backup run
  (``restoreBackupContext``: ``backupRunId``, the source ``instanceId`` and ``project``, the path's by
  default). Refused before anything changes: an unknown run or source (404), a run that is not
  SUCCESSFUL, a target that is a read replica or has read replicas, a database version other than the
  run's, a target disk smaller than the source's.
- Automated runs (type AUTOMATED) are taken once per day, in the window that starts at
  ``backupConfiguration.startTime`` (UTC, ``00:00`` when unset), for every instance with backups
  enabled, from the first window after the emulator first saw the instance. API-only instances get
  theirs when the runs are read (each dated at its window: what a caller sees is the same); a lab
  can compress the day to ``automated_backup_seconds`` in ``cloudsql.json``, and then a scheduler
  thread takes real base backups of its lab primaries at each window. Without that key the lab
  takes none (its first run is the cloudsql_lab role's).

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
``restoreBackup`` onto a lab instance (a clone on a spare, or a lab instance from cloudsql.json)
copies the run's base backup (no WAL archive) into the target's host and recovers it to its
consistent point only (``recovery_target = 'immediate'``: the end of the backup, nothing replayed
after it), then promotes it; the operation is DONE once the target accepts a write.

Tests drive it through ``emulator.services["sqladmin_backups"]`` (a ``BackupStore``): ``add_run``,
``automated_every`` (the seconds between automated windows of API-only instances, 86400).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import shlex
import subprocess
import threading
import time
import weakref

from ..errors import ApiError
from ..server import Response
from .sqladmin import GOOGLE_BASE, INTERNAL_CA, LAB_TIMEOUT, SCOPES, _invalid

LOG = logging.getLogger("emulator")

# Cloud SQL's default backup location: the multi-region holding the instance's region
DAY = 86400.0
# how often the lab's scheduler looks for a due automated run
SCHEDULER_TICK = 2.0
MULTI_REGIONS = {"us": "us", "northamerica": "us", "southamerica": "us", "europe": "eu", "asia": "asia"}


def _parse_time(value: str) -> dt.datetime:
    """An RFC 3339 time (the discovery check has validated its form) as an aware datetime."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def window_start(backup: dict, moment: dt.datetime, every: float) -> dt.datetime:
    """Start of the automated-backup window holding ``moment``: ``startTime`` (HH:MM UTC) plus whole periods."""
    hour, minute = (int(part) for part in (backup.get("startTime") or "00:00").split(":")[:2])
    anchor = moment.astimezone(dt.UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return anchor + dt.timedelta(seconds=((moment - anchor).total_seconds() // every) * every)


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
        # seconds between the automated windows of API-only instances (a lab sets its own in cloudsql.json)
        self.automated_every = DAY
        # (project, instance) -> the last automated window accounted for (taken, or the first one seen)
        self.automated_upto: dict[tuple[str, str], dt.datetime] = {}
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
        if not container:
            self._automated_memory(project, instance)
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

    def _automated_memory(self, project: str, instance: dict) -> None:
        """Add the AUTOMATED runs of an API-only instance for each window passed since it was last read.

        The first window counted is the first after the instance's creation; each run is dated at its
        window (one second long), and only the newest ``retainedBackups`` (7) automated runs are kept.
        """
        backup = instance["settings"].get("backupConfiguration") or {}
        if not backup.get("enabled") or instance.get("masterInstanceName"):
            return
        key, now, every = (project, instance["name"]), dt.datetime.now(dt.UTC), float(self.automated_every)
        retained = int((backup.get("backupRetentionSettings") or {}).get("retainedBackups") or 7)
        with self.lock:
            upto = self.automated_upto.setdefault(key, _parse_time(instance.get("createTime") or _rfc3339(now)))
            window = max(
                window_start(backup, upto, every),
                window_start(backup, now, every) - dt.timedelta(seconds=every * retained),
            )
            window += dt.timedelta(seconds=every)
            while window <= now:
                run = self._run(project, instance, window, window + dt.timedelta(seconds=1), "AUTOMATED", None)
                self.runs.setdefault(key, []).append(run)
                window += dt.timedelta(seconds=every)
            self.automated_upto[key] = now
            automated = [r for r in self.runs.get(key, []) if r["type"] == "AUTOMATED"]
            for old in sorted(automated, key=lambda r: r["startTime"])[:-retained]:
                self.runs[key].remove(old)

    def take_due_lab_backups(self) -> None:
        """Take a real AUTOMATED base backup of each lab primary whose window has come (lab setting only).

        A lab turns this on with ``automated_backup_seconds`` in cloudsql.json (its compressed day);
        the first window this sees for an instance is not taken (its start passed unseen), the next is.
        """
        every = float(self.lab_file().get("automated_backup_seconds") or 0)
        if every <= 0:
            return
        now = dt.datetime.now(dt.UTC)
        with self.sql.lock:
            primaries = [
                (key, copy.deepcopy(self.sql.instances[key]), container)
                for key, container in self.sql.lab_containers.items()
                if key in self.sql.instances and not self.sql.instances[key].get("masterInstanceName")
            ]
        for key, instance, container in primaries:
            backup = instance["settings"].get("backupConfiguration") or {}
            spec = self.lab_spec(key[1])
            if not (backup.get("enabled") and spec and spec.get("backup_command")):
                continue
            window = window_start(backup, now, every)
            with self.lock:
                if window <= self.automated_upto.setdefault(key, window):
                    continue
                self.automated_upto[key] = window
            problem = self.backup_lab(container, spec, self.location_for(instance), "", "AUTOMATED")
            if problem:
                LOG.warning("automated backup of %s: %s", key[1], problem)

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

    def backup_lab(
        self, container: str, spec: dict, location: str, description: str, run_type: str = "ON_DEMAND"
    ) -> str | None:
        """Take a base backup (``run_type``) with the role's script; None once it is there, else the error."""
        argv = [spec["backup_command"], run_type, location, description]
        res = self.sql._podman(container, *argv, user="postgres")
        if res.returncode != 0:
            return f"the base backup failed in {container}: {(res.stderr or res.stdout).strip()[-300:]}"
        return None

    def restore_lab(self, source: dict, spare: dict, run_id: str, target: str | None) -> str | None:
        """Restore run ``run_id`` of the source plus its WAL up to ``target`` on the spare; None once it writes.

        ``target`` None restores the base backup alone to its consistent point (restoreBackup): the WAL
        archive is neither closed nor copied, and recovery stops where the backup ends.
        """
        container = source["container"]
        if target is None:
            return self._copy_and_recover(source, spare, run_id, None)
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
        return self._copy_and_recover(source, spare, run_id, target)

    def _copy_and_recover(self, source: dict, spare: dict, run_id: str, target: str | None) -> str | None:
        """Copy the base backup (and, with a ``target`` time, the WAL archive) to the spare, recover and promote."""
        container = source["container"]
        staging = spare["restore_dir"]
        wal = [source["wal_archive"].lstrip("/")] if target else []
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
                *wal,
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
            return f"copying backup {run_id} to {spare['container']} failed: {unpack.stderr[-300:]}"
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
            f"the restore in {spare['container']} did not reach {target or 'the end of backup ' + run_id} and "
            f"promote within {LAB_TIMEOUT:.0f} s: {last}"
        )


def _unpack_script(staging: str) -> str:
    quoted = shlex.quote(staging)
    return f"rm -rf {quoted} && mkdir -p {quoted} && tar -C {quoted} -xf - && chown -R postgres:postgres {quoted}"


def _restore_script(spare: dict, base_tar: str, wal_dir: str, target: str | None) -> str:
    """Replace the spare's cluster by the base backup and recover it to ``target``, then promote.

    ``target`` None: to the backup's consistent point (``recovery_target = 'immediate'``), with no
    archive to read (``restore_command`` finds nothing: the WAL the backup carries is in its pg_wal).
    """
    data, conf, service = spare["data_dir"], spare["conf_dir"], spare["service"]
    if target is None:
        settings = "restore_command = 'false'\nrecovery_target = 'immediate'\nrecovery_target_action = 'promote'\n"
    else:
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
    """Serve backupRuns.list/get/insert, instances.clone and restoreBackup, start the lab's backup schedule."""
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

    def lab_target(project: str, name: str) -> tuple[dict | None, bool]:
        """(the lab server holding instance ``name``, whether it is a spare), or (None, False) for an API-only one."""
        with store.lock:
            held = next((c for c, clone in store.spares_used.items() if clone == name), None)
        if held:
            return next(s for s in store.lab_file().get("spares", []) if s["container"] == held), True
        container = sql.lab_containers.get((project, name))
        spec = store.lab_spec(name) if container else None
        return (dict(spec, container=container) if spec else None), False

    def restore_backup(call):
        project = check_project(call, "cloudsql.instances.restoreBackup")
        name = call.params["instance"]
        context = (call.request.json() or {}).get("restoreBackupContext") or {}
        run_id = str(context.get("backupRunId") or "")
        if not run_id:
            raise _invalid(
                "restoreBackupContext.backupRunId is required: name the backup run to restore (backupRuns.list)."
            )
        source_project = context.get("project") or project
        source_name = context.get("instanceId") or name
        with sql.lock:
            target = copy.deepcopy(find(project, name))
            source = copy.deepcopy(find(source_project, source_name))
        run = next((r for r in store.list_runs(source_project, source) if r["id"] == run_id), None)
        if run is None:
            raise ApiError(
                404,
                f"The backup run {run_id} of instance {source_name} does not exist.",
                "backupRunDoesNotExist",
                status="NOT_FOUND",
            )
        if run["status"] != "SUCCESSFUL":
            raise _invalid(
                f"The backup run {run_id} of instance {source_name} is {run['status']}: only a SUCCESSFUL run can be "
                "restored; pick another from backupRuns.list."
            )
        if target.get("masterInstanceName"):
            raise _invalid(
                f"A backup cannot be restored to the read replica {name} (it replicates from "
                f"{target['masterInstanceName']}): restore it to a primary or a stand-alone instance."
            )
        if target.get("replicaNames"):
            raise _invalid(
                f"The instance {name} has read replicas ({', '.join(target['replicaNames'])}): delete them before "
                "restoring a backup onto it."
            )
        if run.get("databaseVersion") != target.get("databaseVersion"):
            raise _invalid(
                f"The backup run {run_id} is of {run.get('databaseVersion')} and the instance {name} runs "
                f"{target.get('databaseVersion')}: restore it to an instance of the same database version."
            )
        size = {n: int(i["settings"].get("dataDiskSizeGb") or 0) for n, i in (("source", source), ("target", target))}
        if size["target"] and size["target"] < size["source"]:
            raise _invalid(
                f"The instance {name} has {size['target']} GB of storage and the backup's instance {source_name} "
                f"{size['source']} GB: increase the target's storage (settings.dataDiskSizeGb) first."
            )
        lab_source = store.lab_spec(source_name) if sql.lab_containers.get((source_project, source_name)) else None
        server, spare = lab_target(project, name)
        if bool(lab_source) != bool(server):
            kinds = {True: "a lab instance", False: "API-only"}
            raise _invalid(
                f"The lab restores backups between lab servers only: {source_name} is {kinds[bool(lab_source)]} "
                f"and {name} is {kinds[bool(server)]}."
            )
        if lab_source:
            lab_source = dict(lab_source, container=sql.lab_containers[(source_project, source_name)])

        def apply():
            if not server:
                return None
            problem = store.restore_lab(lab_source, server, run_id, None)
            if problem is None and not spare:
                # an instance that may stream again later (a rebuilt replica) must not keep the restore's target
                sql._podman(server["container"], "rm", "-f", f"{server['conf_dir']}/conf.d/nearzero-restore.conf")
            return problem

        return Response(body=new_operation(call, name, "RESTORE_VOLUME", apply))

    def schedule(ref) -> None:
        """The lab's automated backups: every SCHEDULER_TICK, while the BackupStore lives."""
        while True:
            time.sleep(SCHEDULER_TICK)
            alive = ref()
            if alive is None:
                return
            try:
                alive.take_due_lab_backups()
            except Exception:  # a bad lab file or podman hiccup must not end the schedule
                LOG.exception("automated backups")
            del alive

    threading.Thread(target=schedule, args=(weakref.ref(store),), daemon=True, name="sql-backup-schedule").start()

    inst = r"/v1/projects/(?P<project>[^/]+)/instances/(?P<instance>[a-z][a-z0-9-]*)"
    router.add("GET", inst + r"/backupRuns", list_runs, kind="sqladmin.backupRuns.list", scopes=SCOPES)
    router.add("GET", inst + r"/backupRuns/(?P<id>-?\d+)", get_run, kind="sqladmin.backupRuns.get", scopes=SCOPES)
    router.add("POST", inst + r"/backupRuns", insert_run, kind="sqladmin.backupRuns.insert", scopes=SCOPES)
    router.add("POST", inst + r"/clone", clone, kind="sqladmin.instances.clone", scopes=SCOPES)
    router.add("POST", inst + r"/restoreBackup", restore_backup, kind="sqladmin.instances.restoreBackup", scopes=SCOPES)
    return store
