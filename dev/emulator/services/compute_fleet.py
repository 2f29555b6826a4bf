"""Compute Engine v1, the fleet's side: instances.insert/delete/set*, resourcePolicies, machine and accelerator types.

Every mutation applies its change and answers with a zonal or regional Operation
(``compute_ops.new_operation``). Compute's own rules, beyond the request's shape (which
``discovery.py`` checks first), are kept here, each answered as Compute answers it:

- a name already taken in the zone (region, for a policy) is 409 ``alreadyExists``;
- the machine type must be offered in the zone (``dataset.ZONE_OFFERS``), so must each accelerator
  type; A3 and G2 machine types carry their GPUs (a request naming other GPUs for them is refused),
  the general-purpose families take none;
- an instance with GPUs needs ``scheduling.onHostMaintenance: TERMINATE`` (no live migration);
- Tier_1 egress needs every NIC to be gVNIC and a machine family and size that offer it (``TIER1_MIN_CPUS``);
- ``setMachineType``, ``setMachineResources``, ``setScheduling``, ``setServiceAccount`` and adding or
  removing a placement policy need the instance stopped (TERMINATED); a placement policy takes at most
  its ``vmCount`` instances;
- ``setLabels``/``setMetadata``/``setTags`` need the current fingerprint (412 ``conditionNotMet``);
- a deletion-protected instance cannot be deleted; a resource policy in use cannot be deleted.

Lab mode (the emulator serves a lab started by ``dev/lab/labctl.py``, see ``compute_fleet_lab.py``):
an inserted instance whose subnetwork is the lab's network gets a lab container of its own, which
``delete`` removes and ``stop``/``start`` stop and start.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import ipaddress
import re
import secrets
import threading
import time

from .. import dataset
from ..errors import ApiError, invalid_value, not_found
from ..server import Response
from ..store import API_BASE, region_of, zone_name
from .compute import COMPUTE_SCOPES, PREFIX, _check_alt, _project
from .compute_fleet_lab import LabFleet
from .compute_ops import new_operation

NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
# Tier_1 egress: the machine families that offer it and the fewest vCPUs it needs there.
TIER1_MIN_CPUS = {"n2-standard": 32, "c2-standard": 30, "c3-standard": 44, "c3-highcpu": 44, "a3-highgpu": 1}
# What Compute fills in for an instance created without a subnetwork range of its own.
_DEFAULT_RANGE = "10.128.0.0/20"
_SCOPE_DEFAULT = ["https://www.googleapis.com/auth/cloud-platform"]


def _now() -> str:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=-8))).isoformat(timespec="milliseconds")


def _fingerprint() -> str:
    return base64.b64encode(secrets.token_bytes(8)).decode()


def _invalid_usage(why: str) -> ApiError:
    return ApiError(400, f"Invalid resource usage: '{why}'.", "invalidResourceUsage")


def _last(value: str) -> str:
    return str(value).rstrip("/").rsplit("/", 1)[-1]


def _partial(value: str, kind: str, zone: str) -> str:
    """The name in a full or partial URL of a zonal resource (``zones/Z/<kind>/NAME``); refuses another zone."""
    text = str(value)
    parts = text.rstrip("/").split("/")
    if kind in parts:
        index = parts.index(kind)
        if index >= 2 and parts[index - 2] == "zones" and parts[index - 1] != zone:
            raise invalid_value(f"resource.{kind}", text, f"The {kind} must be in the instance's zone '{zone}'.")
    return parts[-1]


def register(router, emulator):
    """Serve the instance mutations, resourcePolicies, machineTypes and acceleratorTypes."""
    lab = LabFleet(emulator)
    emulator.lab_fleet = lab

    # -- lookups ---------------------------------------------------------------------------
    def zone_of(call, project) -> str:
        zone = call.params["zone"]
        if zone not in project.zones and zone not in dataset.ZONES and zone not in dataset.ZONE_OFFERS:
            raise not_found(f"projects/{project.name}/zones/{zone}")
        return zone

    def region_check(call, project) -> str:
        region = call.params["region"]
        known = {region_of(z) for z in (*dataset.ZONES, *dataset.ZONE_OFFERS, *project.zones)}
        if region not in known:
            raise not_found(f"projects/{project.name}/regions/{region}")
        return region

    def instance_of(call, project, zone) -> dict:
        name = call.params["name"]
        record = call.emulator.compute.find_instance(project.name, zone, name)
        if record is None:
            raise not_found(f"projects/{project.name}/zones/{zone}/instances/{name}")
        return record.data

    def user_of(call) -> str:
        principal = getattr(call.token, "principal", None) or getattr(call.token, "email", None)
        return principal if isinstance(principal, str) else "user@example.com"

    def zone_op(call, project, zone, op_type, instance, **extra) -> Response:
        """The operation of a change made; in lab mode, instances.json is written first (outside the lock)."""
        lab.save()
        op = new_operation(call.emulator, project.name, f"zones/{zone}", op_type, instance["selfLink"],
                           target_id=instance.get("id"), user=user_of(call), **extra)  # fmt: skip
        return Response(body=op)

    def save(project, data: dict) -> None:
        emulator.compute.put_instance(project.name, data)

    # -- machine and accelerator types ------------------------------------------------------
    def check_machine_type(project, zone: str, value: str, field: str = "resource.machineType") -> str:
        name = _partial(value, "machineTypes", zone)
        if name not in dataset.zone_machine_types(zone):
            raise invalid_value(field, value, f"Machine type with name '{name}' does not exist in zone '{zone}'.")
        return name

    def gpus_for(project, zone: str, machine_type: str, sent: list) -> list[dict]:
        """The instance's accelerators: the machine type's own, or the ones sent (checked against the zone)."""
        bundled = dataset.MACHINE_TYPES[machine_type][2]
        wanted = []
        for index, accel in enumerate(sent):
            field = f"resource.guestAccelerators[{index}].acceleratorType"
            value = accel.get("acceleratorType") or ""
            name = _partial(value, "acceleratorTypes", zone)
            if name not in dataset.zone_accelerator_types(zone):
                raise invalid_value(field, value, f"Accelerator type '{name}' does not exist in zone '{zone}'.")
            count = int(accel.get("acceleratorCount") or 0)
            most = dataset.ACCELERATOR_TYPES[name][1]
            if not 1 <= count <= most:
                raise invalid_value(f"resource.guestAccelerators[{index}].acceleratorCount", str(count),
                                    f"Between 1 and {most} {name} may be attached to an instance.")  # fmt: skip
            wanted.append((name, count))
        if bundled:
            if wanted and wanted != [bundled]:
                raise invalid_value("resource.guestAccelerators", str(wanted),
                                    f"Machine type {machine_type} comes with {bundled[1]} {bundled[0]}; "
                                    "leave guestAccelerators out or name exactly those.")  # fmt: skip
            wanted = [bundled]
        elif wanted and not machine_type.startswith("n1-"):
            raise invalid_value("resource.guestAccelerators", str(wanted),
                                f"Accelerators cannot be attached to machine type {machine_type}; "
                                "use an accelerator-optimized type (a3, g2) or n1.")  # fmt: skip
        zone_url = f"{API_BASE}/projects/{project.name}/zones/{zone}"
        return [{"acceleratorType": f"{zone_url}/acceleratorTypes/{n}", "acceleratorCount": c} for n, c in wanted]

    def check_scheduling(scheduling: dict, gpus: list) -> None:
        if gpus and scheduling.get("onHostMaintenance", "MIGRATE") != "TERMINATE":
            raise ApiError(400, "Instances with guest accelerators do not support live migration.", "badRequest")

    def check_tier1(instance: dict, machine_type: str) -> None:
        tier = (instance.get("networkPerformanceConfig") or {}).get("totalEgressBandwidthTier")
        if tier != "TIER_1":
            return
        field = "resource.networkPerformanceConfig.totalEgressBandwidthTier"
        if any(nic.get("nicType") != "GVNIC" for nic in instance.get("networkInterfaces") or ()):
            raise invalid_value(field, tier, "Tier_1 networking requires gVNIC: set nicType GVNIC on every interface.")
        family = dataset.machine_family(machine_type)
        cpus = dataset.MACHINE_TYPES[machine_type][0]
        least = TIER1_MIN_CPUS.get(family)
        if least is None or cpus < least:
            offer = ", ".join(f"{f} ({n}+ vCPUs)" for f, n in TIER1_MIN_CPUS.items())
            raise invalid_value(field, tier, f"Tier_1 networking is not supported for machine type {machine_type}; "
                                             f"it needs one of {offer}.")  # fmt: skip

    # -- resource policies ------------------------------------------------------------------
    def policy_key(project, value: str, region: str) -> tuple[str, str]:
        parts = str(value).rstrip("/").split("/")
        where = parts[parts.index("regions") + 1] if "regions" in parts else region
        name = parts[-1]
        if (where, name) not in project.resource_policies:
            raise not_found(f"projects/{project.name}/regions/{where}/resourcePolicies/{name}")
        if where != region:
            raise invalid_value("resource.resourcePolicies", value,
                                f"The resource policy must be in the instance's region '{region}'.")  # fmt: skip
        return where, name

    def users_of(project, key: tuple[str, str]) -> list[str]:
        link = project.resource_policies[key]["selfLink"]
        return [r.data["selfLink"] for rs in project.zones.values() for r in rs
                if link in (r.data.get("resourcePolicies") or ())]  # fmt: skip

    def check_room(project, key: tuple[str, str], adding: int) -> None:
        policy = project.resource_policies[key]
        placement = policy.get("groupPlacementPolicy") or {}
        limit = placement.get("vmCount")
        if limit and len(users_of(project, key)) + adding > int(limit):
            raise _invalid_usage(f"The placement policy {key[1]} already holds its vmCount of {limit} instances")

    # -- networking --------------------------------------------------------------------------
    def nics_for(call, project, zone: str, sent: list) -> list[dict]:
        if not sent:
            raise invalid_value("resource.networkInterfaces", "", "At least one network interface is required.")
        region = region_of(zone)
        out = []
        for index, nic in enumerate(sent):
            field = f"resource.networkInterfaces[{index}]"
            subnet_name = _last(nic["subnetwork"]) if nic.get("subnetwork") else None
            subnet = lab.subnetwork(project.name, region, subnet_name) if subnet_name else None
            if subnet_name and subnet is None:
                raise not_found(f"projects/{project.name}/regions/{region}/subnetworks/{subnet_name}")
            network = _last(nic.get("network") or (subnet or {}).get("network") or "default")
            if not lab.network_exists(project.name, network):
                raise not_found(f"projects/{project.name}/global/networks/{network}")
            if subnet and subnet["network"] != network:
                raise invalid_value(f"{field}.subnetwork", nic["subnetwork"],
                                    f"The subnetwork is on network {subnet['network']}, not {network}.")  # fmt: skip
            entry = {
                "kind": "compute#networkInterface",
                "network": f"{API_BASE}/projects/{project.name}/global/networks/{network}",
                "subnetwork": f"{API_BASE}/projects/{project.name}/regions/{region}/subnetworks/"
                + (subnet_name or network),
                "name": f"nic{index}",
                "fingerprint": _fingerprint(),
                "stackType": nic.get("stackType", "IPV4_ONLY"),
                "_cidr": (subnet or {}).get("ipCidrRange") or _DEFAULT_RANGE,
            }
            for key in ("nicType", "networkIP"):
                if nic.get(key):
                    entry[key] = nic[key]
            if nic.get("accessConfigs"):
                entry["accessConfigs"] = [
                    {"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT", "name": a.get("name", "External NAT"),
                     "natIP": f"34.{48 + index}.{secrets.randbelow(250)}.{2 + secrets.randbelow(250)}",
                     "networkTier": a.get("networkTier", "PREMIUM")}
                    for a in nic["accessConfigs"]
                ]  # fmt: skip
            out.append(entry)
        return out

    def free_ip(project, cidr: str) -> str:
        net = ipaddress.ip_network(cidr, strict=False)
        used = {n.get("networkIP") for rs in project.zones.values() for r in rs
                for n in r.data.get("networkInterfaces") or ()}  # fmt: skip
        for host in net.hosts():
            if int(host) - int(net.network_address) >= 2 and str(host) not in used:
                return str(host)
        raise ApiError(400, f"The subnetwork range {cidr} has no free address left.", "ipSpaceExhausted")

    # -- instances ------------------------------------------------------------------------------
    def insert(call):
        _check_alt(call)
        project = _project(call, "compute.instances.create")
        zone = zone_of(call, project)
        body = call.request.json() or {}
        name = body.get("name") or ""
        if not NAME_RE.fullmatch(name):
            raise invalid_value("resource.name", name, f"Must be a match of regex '{NAME_RE.pattern}'")
        if call.emulator.compute.find_instance(project.name, zone, name) is not None:
            raise ApiError(409, f"The resource 'projects/{project.name}/zones/{zone}/instances/{name}' already exists",
                           "alreadyExists")  # fmt: skip
        if not body.get("machineType"):
            raise invalid_value("resource.machineType", "", "Machine type must be specified.")
        machine_type = check_machine_type(project, zone, body["machineType"])
        gpus = gpus_for(project, zone, machine_type, body.get("guestAccelerators") or [])
        scheduling = {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False,
                      "provisioningModel": "STANDARD", **(body.get("scheduling") or {})}  # fmt: skip
        check_scheduling(body.get("scheduling") or {}, gpus)
        nics = nics_for(call, project, zone, body.get("networkInterfaces") or [])
        check_tier1({**body, "networkInterfaces": nics}, machine_type)
        threads = (body.get("advancedMachineFeatures") or {}).get("threadsPerCore")
        if threads is not None and int(threads) not in (1, 2):
            raise invalid_value("resource.advancedMachineFeatures.threadsPerCore", str(threads), "Must be 1 or 2.")
        for key, value in (body.get("labels") or {}).items():
            if not LABEL_KEY_RE.fullmatch(key) or not LABEL_VALUE_RE.fullmatch(str(value)):
                raise invalid_value(f"labels.{key}", str(value),
                                    "Label keys start with a lowercase letter; keys and values use lowercase "
                                    "letters, digits, '_' and '-', at most 63 characters.")  # fmt: skip
        disks = body.get("disks") or []
        if not any(d.get("boot") for d in disks) and len(disks) != 1:
            raise invalid_value("resource.disks", "", "An instance needs exactly one boot disk.")
        region = region_of(zone)
        policies = []
        with call.emulator.compute.lock:
            for value in body.get("resourcePolicies") or ():
                key = policy_key(project, value, region)
                check_room(project, key, 1)
                policies.append(project.resource_policies[key]["selfLink"])
            for nic in nics:
                nic.setdefault("networkIP", free_ip(project, nic["_cidr"]))
        instance = dataset.build_instance(project.name, zone, name, ip=None, machine_type=machine_type,
                                          labels=body.get("labels"), tags=(body.get("tags") or {}).get("items") or (),
                                          gpus=[], nics=nics, metadata_items=(body.get("metadata") or {}).get("items"),
                                          salt=secrets.randbits(30))  # fmt: skip
        instance["id"] = str(secrets.randbits(63))
        instance["creationTimestamp"] = instance["lastStartTimestamp"] = _now()
        instance["description"] = body.get("description", "")
        instance["scheduling"] = scheduling
        instance["cpuPlatform"] = "Intel Sapphire Rapids"
        instance["deletionProtection"] = bool(body.get("deletionProtection", False))
        for field in (
            "shieldedInstanceConfig",
            "networkPerformanceConfig",
            "advancedMachineFeatures",
            "hostname",
            "minCpuPlatform",
        ):
            if body.get(field) is not None:
                instance[field] = body[field]
        if gpus:
            instance["guestAccelerators"] = gpus
        if policies:
            instance["resourcePolicies"] = policies
        instance["serviceAccounts"] = [
            {"email": sa.get("email") or f"{project.number}-compute@developer.gserviceaccount.com",
             "scopes": list(sa.get("scopes") or _SCOPE_DEFAULT)}
            for sa in body.get("serviceAccounts") or ()
        ]  # fmt: skip
        instance["disks"] = [_attached(instance, d, i) for i, d in enumerate(disks)]
        cidrs = [n.pop("_cidr") for n in instance["networkInterfaces"]]
        network = lab.network_for(instance, cidrs[0])
        if network is None:
            save(project, instance)
            return zone_op(call, project, zone, "insert", instance)
        # lab mode: the operation is DONE once the instance's container answers (an error removes the instance)
        instance["status"] = "PROVISIONING"
        save(project, instance)

        def started():
            record = emulator.compute.find_instance(project.name, zone, name)
            if record is not None:
                save(project, {**record.data, "status": "RUNNING"})

        def failed():
            emulator.compute.remove_instance(project.name, zone, name)

        return later(
            call, project, zone, "insert", instance, lambda: lab.start_host(instance, network), started, failed
        )

    def later(call, project, zone, op_type, instance, work, done, undo):
        """A zonal operation RUNNING while ``work()`` runs in the background; then ``done()`` (or ``undo()``).

        Lab mode's container starts and stops take seconds, longer than a client waits for an answer.
        """
        op = new_operation(call.emulator, project.name, f"zones/{zone}", op_type, instance["selfLink"],
                           target_id=instance.get("id"), user=user_of(call), seconds=float("inf"))  # fmt: skip
        raw = call.emulator.compute_operations[(project.name, f"zones/{zone}", op["name"])]

        def run():
            error = None
            try:
                work()
                with call.emulator.compute.lock:
                    done()
            except ApiError as exc:
                error = exc
            except Exception as exc:  # the operation reports it, as Compute's do
                error = ApiError(500, f"{type(exc).__name__}: {exc}", "backendError")
            if error is not None:
                with call.emulator.compute.lock:
                    undo()
            lab.save()
            # the error first, the end time last: a poll that sees the operation DONE sees its error too
            if error is not None:
                raw["_error"] = {"errors": [{"code": error.reason, "message": error.message}]}
                raw["_http"] = error.code
            raw["_done_at"] = time.time()

        threading.Thread(target=run, daemon=True, name=f"compute-op-{op['name'][-8:]}").start()
        return Response(body=op)

    def delete(call):
        project = _project(call, "compute.instances.delete")
        zone = zone_of(call, project)
        instance = instance_of(call, project, zone)
        if instance.get("deletionProtection"):
            raise _invalid_usage("Resource cannot be deleted if it's protected against deletion")
        lab.remove(instance)
        call.emulator.compute.remove_instance(project.name, zone, instance["name"])
        return zone_op(call, project, zone, "delete", instance)

    def mutate(call, *, permission: str, op_type: str, change):
        """Load the instance, let ``change(instance_copy, body)`` edit it, store it, answer the operation."""
        project = _project(call, permission)
        zone = zone_of(call, project)
        with call.emulator.compute.lock:
            current = instance_of(call, project, zone)
            instance = copy.deepcopy(current)
            change(project, instance, call.request.json() or {})
            save(project, instance)
        return zone_op(call, project, zone, op_type, instance)

    def need_fingerprint(sent: str | None, current: str | None, what: str) -> None:
        if sent != current:
            raise ApiError(412, what, "conditionNotMet", status="FAILED_PRECONDITION")

    def set_labels(project, instance, body):
        need_fingerprint(body.get("labelFingerprint"), instance.get("labelFingerprint"),
                         "Labels fingerprint either invalid or resource labels have changed")  # fmt: skip
        instance["labels"] = dict(body.get("labels") or {})
        instance["labelFingerprint"] = _fingerprint()

    def set_metadata(project, instance, body):
        current = instance.get("metadata") or {}
        need_fingerprint(body.get("fingerprint"), current.get("fingerprint"),
                         "Supplied fingerprint does not match current metadata fingerprint.")  # fmt: skip
        instance["metadata"] = {"kind": "compute#metadata", "fingerprint": _fingerprint()}
        if body.get("items"):
            instance["metadata"]["items"] = body["items"]

    def set_tags(project, instance, body):
        need_fingerprint(body.get("fingerprint"), (instance.get("tags") or {}).get("fingerprint"),
                         "Supplied fingerprint does not match current tags fingerprint.")  # fmt: skip
        instance["tags"] = {"fingerprint": _fingerprint(), **({"items": body["items"]} if body.get("items") else {})}

    def must_be_stopped(instance, why: str) -> None:
        if instance.get("status") != "TERMINATED":
            raise _invalid_usage(f"{why}: the instance is {instance.get('status')}; stop it first")

    def set_machine_type(project, instance, body):
        zone = zone_name(instance["zone"])
        must_be_stopped(instance, "The machine type can only be changed on a stopped instance")
        if not body.get("machineType"):
            raise invalid_value("machineType", "", "Machine type must be specified.")
        machine_type = check_machine_type(project, zone, body["machineType"], "machineType")
        sent = [{"acceleratorType": a["acceleratorType"], "acceleratorCount": a["acceleratorCount"]}
                for a in instance.get("guestAccelerators") or ()
                if dataset.MACHINE_TYPES[_last(instance["machineType"])][2] is None]  # fmt: skip
        gpus = gpus_for(project, zone, machine_type, sent)
        check_scheduling(instance.get("scheduling") or {}, gpus)
        check_tier1(instance, machine_type)
        instance["machineType"] = f"{API_BASE}/projects/{project.name}/zones/{zone}/machineTypes/{machine_type}"
        if gpus:
            instance["guestAccelerators"] = gpus
        else:
            instance.pop("guestAccelerators", None)

    def set_machine_resources(project, instance, body):
        zone = zone_name(instance["zone"])
        must_be_stopped(instance, "Accelerators can only be changed on a stopped instance")
        gpus = gpus_for(project, zone, _last(instance["machineType"]), body.get("guestAccelerators") or [])
        check_scheduling(instance.get("scheduling") or {}, gpus)
        if gpus:
            instance["guestAccelerators"] = gpus
        else:
            instance.pop("guestAccelerators", None)

    def set_service_account(project, instance, body):
        must_be_stopped(instance, "The service account can only be changed on a stopped instance")
        email = body.get("email")
        if not email or email == "default":
            email = f"{project.number}-compute@developer.gserviceaccount.com"
        instance["serviceAccounts"] = [{"email": email, "scopes": list(body.get("scopes") or [])}]

    def nic_of(call, instance) -> dict:
        name = call.arg("networkInterface") or ""
        nic = next((n for n in instance.get("networkInterfaces") or () if n.get("name") == name), None)
        if nic is None:
            raise invalid_value("networkInterface", name, "The instance has no network interface of that name.")
        return nic

    def add_access_config(call):
        def change(project, instance, body):
            nic = nic_of(call, instance)
            if nic.get("accessConfigs"):
                raise ApiError(400, f"At most one access config currently supported per interface {nic['name']}.",
                               "badRequest")  # fmt: skip
            nic["accessConfigs"] = [
                {"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT", "name": body.get("name", "External NAT"),
                 "natIP": body.get("natIP") or f"34.48.{secrets.randbelow(250)}.{2 + secrets.randbelow(250)}",
                 "networkTier": body.get("networkTier", "PREMIUM")}
            ]  # fmt: skip
            nic["fingerprint"] = _fingerprint()

        return mutate(call, permission="compute.instances.addAccessConfig", op_type="addAccessConfig", change=change)

    def delete_access_config(call):
        def change(project, instance, body):
            nic = nic_of(call, instance)
            name = call.arg("accessConfig") or ""
            kept = [a for a in nic.get("accessConfigs") or () if a.get("name") != name]
            if len(kept) == len(nic.get("accessConfigs") or ()):
                raise invalid_value(
                    "accessConfig", name, f"The interface {nic['name']} has no access config of that name."
                )
            if kept:
                nic["accessConfigs"] = kept
            else:
                nic.pop("accessConfigs", None)
            nic["fingerprint"] = _fingerprint()

        return mutate(call, permission="compute.instances.deleteAccessConfig", op_type="deleteAccessConfig",
                      change=change)  # fmt: skip

    def set_scheduling(project, instance, body):
        must_be_stopped(instance, "Scheduling can only be changed on a stopped instance")
        check_scheduling(body, instance.get("guestAccelerators") or [])
        instance["scheduling"] = {**(instance.get("scheduling") or {}), **body}

    def set_deletion_protection(call):
        project = _project(call, "compute.instances.setDeletionProtection")
        zone = zone_of(call, project)
        value = (call.arg("deletionProtection", "true") or "true").lower() != "false"
        with call.emulator.compute.lock:
            instance = copy.deepcopy(instance_of(call, project, zone))
            instance["deletionProtection"] = value
            save(project, instance)
        return zone_op(call, project, zone, "setDeletionProtection", instance)

    def add_policies(project, instance, body):
        region = region_of(zone_name(instance["zone"]))
        links = list(instance.get("resourcePolicies") or ())
        for value in body.get("resourcePolicies") or ():
            key = policy_key(project, value, region)
            link = project.resource_policies[key]["selfLink"]
            if link in links:
                continue
            if project.resource_policies[key].get("groupPlacementPolicy"):
                must_be_stopped(instance, "A placement policy can only be added to a stopped instance")
                check_room(project, key, 1)
            links.append(link)
        instance["resourcePolicies"] = links

    def remove_policies(project, instance, body):
        region = region_of(zone_name(instance["zone"]))
        links = list(instance.get("resourcePolicies") or ())
        for value in body.get("resourcePolicies") or ():
            key = policy_key(project, value, region)
            link = project.resource_policies[key]["selfLink"]
            if link not in links:
                continue
            if project.resource_policies[key].get("groupPlacementPolicy"):
                must_be_stopped(instance, "A placement policy can only be removed from a stopped instance")
            links.remove(link)
        if links:
            instance["resourcePolicies"] = links
        else:
            instance.pop("resourcePolicies", None)

    def power(call, *, op_type: str):
        """stop/start; in lab mode the operation runs while the instance's container stops or boots."""
        project = _project(call, f"compute.instances.{op_type}")
        zone = zone_of(call, project)
        on = op_type == "start"
        final = "RUNNING" if on else "TERMINATED"
        with emulator.compute.lock:
            current = copy.deepcopy(instance_of(call, project, zone))
            busy = current["status"] in ("PROVISIONING", "STAGING", "STOPPING")
            as_asked = (current["status"] == "TERMINATED") != on
            container = None if busy or as_asked else lab.container(current)
            if not busy and not as_asked:
                current["cpuPlatform"] = "Intel Sapphire Rapids" if on else "Unknown CPU Platform"
                current["lastStartTimestamp" if on else "lastStopTimestamp"] = _now()
                current["status"] = final if container is None else "STAGING" if on else "STOPPING"
                save(project, current)
        if busy:
            path = current["selfLink"].split("/compute/v1/", 1)[1]
            raise ApiError(400, f"The resource '{path}' is not ready", "resourceNotReady")
        if as_asked or container is None:  # already as asked: a DONE operation, as Compute answers
            return zone_op(call, project, zone, op_type, current)

        def settle(status):
            def apply():
                record = emulator.compute.find_instance(project.name, zone, current["name"])
                if record is not None:
                    save(project, {**record.data, "status": status})

            return apply

        before = "TERMINATED" if on else "RUNNING"
        return later(call, project, zone, op_type, current, lambda: lab.power(current, on=on), settle(final),
                     settle(before))  # fmt: skip

    # -- resource policies ------------------------------------------------------------------
    def policy_insert(call):
        project = _project(call, "compute.resourcePolicies.create")
        region = region_check(call, project)
        body = call.request.json() or {}
        name = body.get("name") or ""
        if not NAME_RE.fullmatch(name):
            raise invalid_value("resource.name", name, f"Must be a match of regex '{NAME_RE.pattern}'")
        link = f"{API_BASE}/projects/{project.name}/regions/{region}/resourcePolicies/{name}"
        # maxDistance exists in compute beta only: v1's discovery document refuses it before this runs
        count = (body.get("groupPlacementPolicy") or {}).get("vmCount")
        if count is not None and not 2 <= int(count) <= 1500:
            raise invalid_value("resource.groupPlacementPolicy.vmCount", str(count), "Must be between 2 and 1500.")
        with call.emulator.compute.lock:
            if (region, name) in project.resource_policies:
                raise ApiError(409, f"The resource '{link.split('/compute/v1/', 1)[1]}' already exists",
                               "alreadyExists")  # fmt: skip
            policy = {
                "kind": "compute#resourcePolicy",
                "id": str(secrets.randbits(63)),
                "creationTimestamp": _now(),
                "selfLink": link,
                "region": f"{API_BASE}/projects/{project.name}/regions/{region}",
                "name": name,
                "status": "READY",
            }
            for field in ("description", "groupPlacementPolicy", "snapshotSchedulePolicy",
                          "instanceSchedulePolicy"):  # fmt: skip
                if body.get(field) is not None:
                    policy[field] = body[field]
            project.resource_policies[(region, name)] = policy
            call.emulator.compute._touch()
        op = new_operation(call.emulator, project.name, f"regions/{region}", "insert", link,
                           target_id=policy["id"], user=user_of(call))  # fmt: skip
        return Response(body=op)

    def policy_of(call, project, region) -> tuple[tuple[str, str], dict]:
        key = (region, call.params["name"])
        policy = project.resource_policies.get(key)
        if policy is None:
            raise not_found(f"projects/{project.name}/regions/{region}/resourcePolicies/{key[1]}")
        return key, policy

    def policy_get(call):
        _check_alt(call)
        project = _project(call, "compute.resourcePolicies.get")
        region = region_check(call, project)
        with call.emulator.compute.lock:
            return Response(body=policy_of(call, project, region)[1])

    def policy_list(call):
        _check_alt(call)
        project = _project(call, "compute.resourcePolicies.list")
        region = region_check(call, project)
        with call.emulator.compute.lock:
            items = [p for (r, _n), p in sorted(project.resource_policies.items()) if r == region]
        base = f"projects/{project.name}/regions/{region}/resourcePolicies"
        body = {"kind": "compute#resourcePolicyList", "id": base, "selfLink": f"{API_BASE}/{base}"}
        if items:
            body["items"] = items
        return Response(body=body)

    def policy_delete(call):
        project = _project(call, "compute.resourcePolicies.delete")
        region = region_check(call, project)
        with call.emulator.compute.lock:
            key, policy = policy_of(call, project, region)
            users = users_of(project, key)
            if users:
                path = policy["selfLink"].split("/compute/v1/", 1)[1]
                user = users[0].split("/compute/v1/", 1)[1]
                raise ApiError(400, f"The resource_policy resource '{path}' is already being used by '{user}'",
                               "resourceInUseByAnotherResource")  # fmt: skip
            del project.resource_policies[key]
            call.emulator.compute._touch()
        op = new_operation(call.emulator, project.name, f"regions/{region}", "delete", policy["selfLink"],
                           target_id=policy["id"], user=user_of(call))  # fmt: skip
        return Response(body=op)

    # -- machine and accelerator types ----------------------------------------------------------
    def machine_type_get(call):
        _check_alt(call)
        project = _project(call, "compute.machineTypes.get")
        zone = zone_of(call, project)
        name = call.params["name"]
        if name not in dataset.zone_machine_types(zone):
            raise not_found(f"projects/{project.name}/zones/{zone}/machineTypes/{name}")
        return Response(body=dataset.machine_type_resource(project.name, zone, name))

    def machine_type_list(call):
        _check_alt(call)
        project = _project(call, "compute.machineTypes.list")
        zone = zone_of(call, project)
        items = [dataset.machine_type_resource(project.name, zone, n) for n in dataset.zone_machine_types(zone)]
        base = f"projects/{project.name}/zones/{zone}/machineTypes"
        return Response(body={"kind": "compute#machineTypeList", "id": base, "items": items,
                              "selfLink": f"{API_BASE}/{base}"})  # fmt: skip

    def accelerator_list(call):
        _check_alt(call)
        project = _project(call, "compute.acceleratorTypes.list")
        zone = zone_of(call, project)
        names = dataset.zone_accelerator_types(zone)
        base = f"projects/{project.name}/zones/{zone}/acceleratorTypes"
        body = {"kind": "compute#acceleratorTypeList", "id": base, "selfLink": f"{API_BASE}/{base}"}
        if names:
            body["items"] = [dataset.accelerator_type_resource(project.name, zone, n) for n in names]
        return Response(body=body)

    def accelerator_get(call):
        _check_alt(call)
        project = _project(call, "compute.acceleratorTypes.get")
        zone = zone_of(call, project)
        name = call.params["name"]
        if name not in dataset.zone_accelerator_types(zone):
            raise not_found(f"projects/{project.name}/zones/{zone}/acceleratorTypes/{name}")
        return Response(body=dataset.accelerator_type_resource(project.name, zone, name))

    # -- routes -----------------------------------------------------------------------------------
    zone_base = PREFIX + r"/zones/(?P<zone>[^/]+)"
    one = zone_base + r"/instances/(?P<name>[^/]+)"
    add = router.add
    add("POST", zone_base + r"/instances", insert, kind="compute.instances.insert", scopes=COMPUTE_SCOPES[:1])
    add("DELETE", one, delete, kind="compute.instances.delete", scopes=COMPUTE_SCOPES[:1])
    setters = {
        "setLabels": ("compute.instances.setLabels", set_labels),
        "setMetadata": ("compute.instances.setMetadata", set_metadata),
        "setTags": ("compute.instances.setTags", set_tags),
        "setMachineType": ("compute.instances.setMachineType", set_machine_type),
        "setScheduling": ("compute.instances.setScheduling", set_scheduling),
        "setMachineResources": ("compute.instances.setMachineResources", set_machine_resources),
        "setServiceAccount": ("compute.instances.setServiceAccount", set_service_account),
        "addResourcePolicies": ("compute.instances.addResourcePolicies", add_policies),
        "removeResourcePolicies": ("compute.instances.removeResourcePolicies", remove_policies),
    }
    for verb, (kind, change) in setters.items():
        handler = functools.partial(mutate, permission=kind, op_type=verb, change=change)
        add("POST", one + "/" + verb, handler, kind=kind, scopes=COMPUTE_SCOPES[:1])
    for verb in ("stop", "start"):
        add("POST", one + "/" + verb, functools.partial(power, op_type=verb), kind=f"compute.instances.{verb}",
            scopes=COMPUTE_SCOPES[:1])  # fmt: skip
    add("POST", one + "/addAccessConfig", add_access_config, kind="compute.instances.addAccessConfig",
        scopes=COMPUTE_SCOPES[:1])  # fmt: skip
    add("POST", one + "/deleteAccessConfig", delete_access_config, kind="compute.instances.deleteAccessConfig",
        scopes=COMPUTE_SCOPES[:1])  # fmt: skip
    add("POST", one + "/setDeletionProtection", set_deletion_protection,
        kind="compute.instances.setDeletionProtection", scopes=COMPUTE_SCOPES[:1])  # fmt: skip
    region_base = PREFIX + r"/regions/(?P<region>[^/]+)/resourcePolicies"
    add("POST", region_base, policy_insert, kind="compute.resourcePolicies.insert", scopes=COMPUTE_SCOPES[:1])
    add("GET", region_base, policy_list, kind="compute.resourcePolicies.list", scopes=COMPUTE_SCOPES)
    add("GET", region_base + r"/(?P<name>[^/]+)", policy_get, kind="compute.resourcePolicies.get",
        scopes=COMPUTE_SCOPES)  # fmt: skip
    add("DELETE", region_base + r"/(?P<name>[^/]+)", policy_delete, kind="compute.resourcePolicies.delete",
        scopes=COMPUTE_SCOPES[:1])  # fmt: skip
    add("GET", zone_base + r"/machineTypes", machine_type_list, kind="compute.machineTypes.list", scopes=COMPUTE_SCOPES)
    add("GET", zone_base + r"/machineTypes/(?P<name>[^/]+)", machine_type_get, kind="compute.machineTypes.get",
        scopes=COMPUTE_SCOPES)  # fmt: skip
    add("GET", zone_base + r"/acceleratorTypes", accelerator_list, kind="compute.acceleratorTypes.list",
        scopes=COMPUTE_SCOPES)  # fmt: skip
    add("GET", zone_base + r"/acceleratorTypes/(?P<name>[^/]+)", accelerator_get,
        kind="compute.acceleratorTypes.get", scopes=COMPUTE_SCOPES)  # fmt: skip
    return lab


def _attached(instance: dict, disk: dict, index: int) -> dict:
    """An AttachedDisk as Compute reports it after insert (the boot disk named after the instance)."""
    params = disk.get("initializeParams") or {}
    name = params.get("diskName") or (instance["name"] if index == 0 else f"{instance['name']}-{index}")
    nvme = _last(instance["machineType"]).startswith(("c3", "a3"))
    return {
        "kind": "compute#attachedDisk",
        "type": "PERSISTENT",
        "mode": disk.get("mode", "READ_WRITE"),
        "source": disk.get("source") or f"{instance['zone']}/disks/{name}",
        "deviceName": disk.get("deviceName") or f"persistent-disk-{index}",
        "index": index,
        "boot": bool(disk.get("boot", index == 0)),
        "autoDelete": bool(disk.get("autoDelete", True)),
        "interface": disk.get("interface") or ("NVME" if nvme else "SCSI"),
        "diskSizeGb": str(params.get("diskSizeGb") or 10),
        "architecture": "X86_64",
    }
