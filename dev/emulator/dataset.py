"""Where the emulator's Compute data comes from.

* ``load_document``: real API dumps (aggregated or per-zone lists, project read from
  the selfLinks), a plain list of Instance dicts, or the emulator's own dataset format
  ``{"projects": {P: {"zones": [...], "instances": [...], "error": KIND, "unreachable": [...]}}}``;
* ``generate``: N realistic instances over P projects and Z zones, deterministic per seed;
* ``lab_instances``: the lab's ``instances.json`` (written by ``dev/lab/labctl.py``) turned into
  GCE instances whose ``networkIP`` is the container address, and the lab network's MTU.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import zlib
from pathlib import Path

from .store import API_BASE, project_of, region_of, zone_name

ZONES = [
    "us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f", "us-east1-b", "us-east1-c",
    "us-east1-d", "us-east4-a", "us-east4-b", "us-east4-c", "us-west1-a", "us-west1-b", "us-west1-c",
    "us-west4-a", "us-west4-b", "europe-west1-b", "europe-west1-c", "europe-west1-d", "europe-west2-a",
    "europe-west2-b", "europe-west2-c", "europe-west3-a", "europe-west3-b", "europe-west3-c",
    "europe-west4-a", "europe-west4-b", "europe-west4-c", "asia-east1-a", "asia-east1-b", "asia-east1-c",
    "asia-northeast1-a", "asia-northeast1-b", "asia-northeast1-c", "asia-southeast1-a",
    "asia-southeast1-b", "asia-southeast1-c", "australia-southeast1-a", "australia-southeast1-b",
    "southamerica-east1-a", "southamerica-east1-b",
]  # fmt: skip
_STATUSES = ["RUNNING"] * 34 + ["TERMINATED", "TERMINATED", "STOPPED", "STAGING", "PROVISIONING",
                               "STOPPING", "SUSPENDED", "REPAIRING"]  # fmt: skip
_ROLES = ["trading-engine", "market-data", "risk", "gateway", "database", "monitoring"]
_MACHINES = ["c3-standard-22", "c3-highcpu-44", "n2-standard-8", "c2-standard-16", "e2-standard-4"]
_GPUS = [("nvidia-h100-80gb", 8, "a3-highgpu-8g"), ("nvidia-l4", 1, "g2-standard-8"),
         ("nvidia-tesla-t4", 1, "n1-standard-8"), ("nvidia-h200-141gb", 8, "a3-ultragpu-8g")]  # fmt: skip
_SCOPES = [
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring.write",
]
NIC_TYPES = ("GVNIC", "IDPF", "IRDMA", "MRDMA", "VIRTIO_NET")
STATUSES = ("DEPROVISIONING", "PENDING", "PENDING_STOP", "PROVISIONING", "REPAIRING", "RUNNING", "STAGING",
            "STOPPED", "STOPPING", "SUSPENDED", "SUSPENDING", "TERMINATED")  # fmt: skip
_DEBIAN_LICENSE = f"{API_BASE}/projects/debian-cloud/global/licenses/debian-12-bookworm"


def _fingerprint(seed: int) -> str:
    return base64.b64encode((seed & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")).decode()


def instance_id(project: str, zone: str, name: str, salt: int = 0) -> str:
    """A stable 19-digit id for an instance."""
    crc = zlib.crc32(f"{project}/{zone}/{name}/{salt}".encode())
    return str(1000000000000000000 + crc * 1000003 % 8999999999999999999)


def build_instance(
    project: str,
    zone: str,
    name: str,
    *,
    ip: str | None,
    status: str = "RUNNING",
    machine_type: str = "n2-standard-8",
    labels: dict | None = None,
    tags=(),
    gpus=(),
    nic_type: str = "GVNIC",
    nics: list | None = None,
    metadata_items: list | None = None,
    salt: int = 0,
) -> dict:
    """A complete Instance resource as Compute returns it (selfLinks, disks, scheduling...)."""
    zone_url = f"{API_BASE}/projects/{project}/zones/{zone}"
    region = region_of(zone)
    ident = instance_id(project, zone, name, salt)
    seed = int(ident)
    if nics is None:
        nics = [
            {
                "kind": "compute#networkInterface",
                "network": f"{API_BASE}/projects/{project}/global/networks/default",
                "subnetwork": f"{API_BASE}/projects/{project}/regions/{region}/subnetworks/default",
                "networkIP": ip,
                "name": "nic0",
                "fingerprint": _fingerprint(seed + 1),
                "stackType": "IPV4_ONLY",
                "nicType": nic_type,
            }
        ]
    has_gpu = bool(gpus)
    instance = {
        "kind": "compute#instance",
        "id": ident,
        "creationTimestamp": "2026-03-02T09:14:07.512-08:00",
        "name": name,
        "description": "",
        "tags": {"items": list(tags), "fingerprint": _fingerprint(seed + 2)}
        if tags
        else {"fingerprint": "42WmSpB8rSM="},
        "machineType": f"{zone_url}/machineTypes/{machine_type}",
        "status": status,
        "zone": zone_url,
        "canIpForward": False,
        "networkInterfaces": nics,
        "disks": [
            {
                "kind": "compute#attachedDisk",
                "type": "PERSISTENT",
                "mode": "READ_WRITE",
                "source": f"{zone_url}/disks/{name}",
                "deviceName": "persistent-disk-0",
                "index": 0,
                "boot": True,
                "autoDelete": True,
                "licenses": [_DEBIAN_LICENSE],
                "interface": "NVME" if machine_type.startswith(("c3", "a3")) else "SCSI",
                "guestOsFeatures": [{"type": "UEFI_COMPATIBLE"}, {"type": "VIRTIO_SCSI_MULTIQUEUE"}, {"type": "GVNIC"}],
                "diskSizeGb": "100",
                "architecture": "X86_64",
            }
        ],
        "metadata": {
            "kind": "compute#metadata",
            "fingerprint": _fingerprint(seed + 3),
            **({"items": metadata_items} if metadata_items else {}),
        },
        "serviceAccounts": [
            {"email": f"{100000000000 + seed % 900000000000}-compute@developer.gserviceaccount.com", "scopes": _SCOPES}
        ],
        "selfLink": f"{zone_url}/instances/{name}",
        "scheduling": {
            "onHostMaintenance": "TERMINATE" if has_gpu else "MIGRATE",
            "automaticRestart": True,
            "preemptible": False,
            "provisioningModel": "STANDARD",
        },
        "cpuPlatform": "Intel Sapphire Rapids" if status == "RUNNING" else "Unknown CPU Platform",
        "labels": dict(labels or {}),
        "labelFingerprint": _fingerprint(seed + 4),
        "startRestricted": False,
        "deletionProtection": False,
        "shieldedInstanceConfig": {"enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True},
        "shieldedInstanceIntegrityPolicy": {"updateAutoLearnPolicy": True},
        "fingerprint": _fingerprint(seed + 5),
        "lastStartTimestamp": "2026-03-02T09:14:19.104-08:00",
        "satisfiesPzi": True,
    }
    if has_gpu:
        instance["guestAccelerators"] = [
            {"acceleratorType": f"{zone_url}/acceleratorTypes/{gpu['type']}", "acceleratorCount": int(gpu["count"])}
            for gpu in gpus
        ]
    if status in ("TERMINATED", "STOPPED"):
        instance["lastStopTimestamp"] = "2026-03-05T17:40:02.913-08:00"
    return instance


def _nic(project, region, index, ip, rng, natip, stack, nic_type, fp):
    network, subnet = ("default", "default") if index == 0 else (f"vpc-{index}", f"sub-{index}")
    nic = {
        "kind": "compute#networkInterface",
        "network": f"{API_BASE}/projects/{project}/global/networks/{network}",
        "subnetwork": f"{API_BASE}/projects/{project}/regions/{region}/subnetworks/{subnet}",
        "name": f"nic{index}",
        "fingerprint": fp,
        "stackType": stack,
        "nicType": nic_type,
    }
    if stack != "IPV6_ONLY":
        nic["networkIP"] = ip
    if natip and stack != "IPV6_ONLY":
        nic["accessConfigs"] = [
            {"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT", "name": "External NAT",
             "natIP": natip, "networkTier": "PREMIUM"}
        ]  # fmt: skip
    if stack != "IPV4_ONLY":
        suffix = ip.replace(".", ":") if ip else f"{rng.getrandbits(16):x}"
        if rng.random() < 0.5:
            nic["ipv6AccessType"] = "INTERNAL"
            nic["ipv6Address"] = f"fd20:a1b:{index:x}::{suffix}"
            nic["internalIpv6PrefixLength"] = 96
        else:
            nic["ipv6AccessType"] = "EXTERNAL"
            nic["ipv6AccessConfigs"] = [
                {"kind": "compute#accessConfig", "type": "DIRECT_IPV6", "name": "external-ipv6",
                 "externalIpv6": f"2600:1900:4000:{index:x}::{suffix}", "externalIpv6PrefixLength": 96,
                 "networkTier": "PREMIUM"}
            ]  # fmt: skip
    return nic


def generate(n: int, projects, zones, seed: int = 0, duplicates: int = 0) -> dict[str, tuple[list[str], list[dict]]]:
    """``n`` instances spread over the projects and zones: ``{project: (zones, instances)}``.

    ``projects``/``zones`` are counts or lists of names. ``duplicates`` of the ``n``
    instances reuse the name of an earlier instance in another zone or project.
    """
    if n < 0 or duplicates < 0 or duplicates > n:
        raise ValueError(f"generate: need 0 <= duplicates ({duplicates}) <= n ({n})")
    rng = random.Random(seed)  # noqa: S311 - repeatable test data, not secrets
    project_names = [f"nz-gen-{seed}-{i:03d}" for i in range(projects)] if isinstance(projects, int) else list(projects)
    if isinstance(zones, int):
        zone_names = ZONES[:zones] + [f"zz-region{i}-a" for i in range(max(0, zones - len(ZONES)))]
    else:
        zone_names = [zone_name(z) for z in zones]
    if not project_names or not zone_names:
        raise ValueError("generate: need at least one project and one zone")
    result = {p: (list(zone_names), []) for p in project_names}
    slots = [(p, z) for p in project_names for z in zone_names]
    if duplicates and len(slots) < 2:
        raise ValueError("generate: duplicates need more than one zone or project")
    originals: list[str] = []
    where: dict[str, set] = {}
    unique = n - duplicates
    for i in range(n):
        project, zone = slots[rng.randrange(len(slots))]
        if i < unique:
            role = _ROLES[rng.randrange(len(_ROLES))]
            name = f"{role}-{i:05d}"
            originals.append(name)
        else:
            # reuse a name, in a project/zone where that name is not yet
            start = rng.randrange(len(originals))
            for step in range(len(originals)):
                name = originals[(start + step) % len(originals)]
                free = [slot for slot in slots if slot not in where[name]]
                if free:
                    project, zone = free[rng.randrange(len(free))]
                    break
            else:
                raise ValueError(f"generate: {duplicates} duplicates do not fit in {len(slots)} project/zone pairs")
            role = name.rsplit("-", 1)[0]
        where.setdefault(name, set()).add((project, zone))
        result[project][1].append(_random_instance(rng, project, zone, name, role, i))
    return result


def _random_instance(rng: random.Random, project: str, zone: str, name: str, role: str, i: int) -> dict:
    region = region_of(zone)
    gpu = _GPUS[rng.randrange(len(_GPUS))] if rng.random() < 0.15 else None
    machine = gpu[2] if gpu else _MACHINES[rng.randrange(len(_MACHINES))]
    nic_count = 1 if rng.random() < 0.9 else rng.randint(2, 4)
    roll = rng.random()
    stack = "IPV4_ONLY" if roll < 0.8 else "IPV4_IPV6" if roll < 0.95 else "IPV6_ONLY"
    nic_type = "GVNIC" if rng.random() < 0.6 else "VIRTIO_NET"
    nics = []
    for index in range(nic_count):
        k = i * 4 + index
        ip = str(ipaddress.IPv4Address((10 << 24) + (index << 20) + k % (1 << 20) + 2))
        natip = (
            f"34.{64 + k % 64}.{(k >> 6) & 255}.{(k >> 14) % 254 + 1}" if index == 0 and rng.random() < 0.3 else None
        )
        nics.append(_nic(project, region, index, ip, rng, natip, stack if index == 0 else "IPV4_ONLY", nic_type,
                         _fingerprint(rng.getrandbits(64))))  # fmt: skip
    items = [{"key": "enable-oslogin", "value": "FALSE" if rng.random() < 0.5 else "TRUE"}]
    if rng.random() < 0.5:
        items.append({"key": "ssh-keys", "value": f"ops:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:08d} ops@bastion"})
    if rng.random() < 0.3:
        items.append({"key": "startup-script", "value": "#!/bin/bash\necho started > /var/run/started\n"})
    labels = {"role": role, "env": "prod" if rng.random() < 0.7 else "staging", "team": f"desk-{rng.randrange(8)}"}
    if gpu:
        labels["gpu"] = gpu[0]
    instance = build_instance(
        project,
        zone,
        name,
        ip=None,
        status=_STATUSES[rng.randrange(len(_STATUSES))],
        machine_type=machine,
        labels=labels,
        tags=[role, "ssh"] + (["gpu"] if gpu else []),
        gpus=[{"type": gpu[0], "count": gpu[1]}] if gpu else (),
        nics=nics,
        metadata_items=items,
        salt=i,
    )
    if rng.random() < 0.1:
        instance["scheduling"] = {
            "onHostMaintenance": "TERMINATE",
            "automaticRestart": False,
            "preemptible": True,
            "provisioningModel": "SPOT",
            "instanceTerminationAction": "STOP",
        }
    if rng.random() < 0.1:
        instance["resourcePolicies"] = [
            f"{API_BASE}/projects/{project}/regions/{region}/resourcePolicies/compact-{role}"
        ]
    if rng.random() < 0.1 or gpu:
        instance["networkPerformanceConfig"] = {"totalEgressBandwidthTier": "TIER_1"}
        instance["advancedMachineFeatures"] = {"threadsPerCore": 1}
    if rng.random() < 0.2:
        instance["hostname"] = f"{name}.trading.example.com"
    return instance


def lab_instances(path: Path) -> tuple[dict[str, list[dict]], dict[str, dict[str, int]]]:
    """Read the lab's ``instances.json`` once: ``({project: [Instance, ...]}, {project: {"default": mtu}})``.

    Each entry is ``{name, project, zone, ip, labels{}, tags[], machine_type, gpus[{type,count}], status,
    nic_type, network_mtu}``, or ``{..., instance}`` with the whole Instance (what the emulator's lab mode
    writes back); other keys are ignored. The project of ``lab.json`` beside it is served even empty.
    ``network_mtu`` is the podman network's MTU, which ``labctl`` writes; entries without one keep the
    emulator's default network MTU.
    """
    try:
        entries = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist: start the lab first (dev/lab/labctl.py up --lab NAME)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); rewrite it with dev/lab/labctl.py up") from None
    if not isinstance(entries, list):
        raise ValueError(f"{path} must hold a JSON list of instances, not {type(entries).__name__}")
    result: dict[str, list[dict]] = {}
    networks: dict[str, dict[str, int]] = {}
    lab_file = Path(path).parent / "lab.json"
    if lab_file.exists():
        # the lab's project exists even before it has an instance (the demo's lab, provisioned later)
        result[json.loads(lab_file.read_text())["project"]] = []
    for number, entry in enumerate(entries):
        if isinstance(entry.get("instance"), dict):
            # written back by the emulator's lab mode: the instance whole, as the API made it
            result.setdefault(entry["project"], []).append(entry["instance"])
            continue
        missing = [key for key in ("name", "project", "zone", "ip") if not entry.get(key)]
        if missing:
            raise ValueError(f"{path}: entry {number} lacks {', '.join(missing)} (each needs name, project, zone, ip)")
        status = entry.get("status") or "RUNNING"
        if status not in STATUSES:
            raise ValueError(f"{path}: entry {entry['name']}: status {status!r} is not one of {', '.join(STATUSES)}")
        nic_type = entry.get("nic_type") or "GVNIC"
        if nic_type not in NIC_TYPES:
            raise ValueError(
                f"{path}: entry {entry['name']}: nic_type {nic_type!r} is not one of {', '.join(NIC_TYPES)}"
            )
        gpus = entry.get("gpus") or []
        for gpu in gpus:
            if not gpu.get("type") or int(gpu.get("count", 0)) < 1:
                raise ValueError(f"{path}: entry {entry['name']}: each gpu needs a type and a count >= 1, got {gpu}")
        result.setdefault(entry["project"], []).append(
            build_instance(
                entry["project"],
                entry["zone"],
                entry["name"],
                ip=entry["ip"],
                status=status,
                nic_type=nic_type,
                machine_type=entry.get("machine_type") or "n2-standard-8",
                labels=entry.get("labels") or {},
                tags=entry.get("tags") or [],
                gpus=gpus,
            )
        )
        if entry.get("network_mtu"):
            networks.setdefault(entry["project"], {})["default"] = int(entry["network_mtu"])
    return result, networks


def load_document(document) -> dict[str, dict]:
    """Normalise a dataset document to ``{project: {zones, instances, error, unreachable}}``."""
    out: dict[str, dict] = {}

    def bucket(project):
        return out.setdefault(project, {"zones": [], "instances": [], "error": None, "unreachable": []})

    def add(instances, fallback=None):
        for instance in instances:
            project = project_of(instance.get("selfLink", "")) or project_of(instance.get("zone", "")) or fallback
            if not project:
                raise ValueError(f"instance {instance.get('name')!r} has no selfLink or zone URL naming its project")
            bucket(project)["instances"].append(instance)

    if isinstance(document, list):
        add(document)
    elif isinstance(document, dict) and "projects" in document:
        for project, spec in document["projects"].items():
            entry = bucket(project)
            entry["zones"].extend(zone_name(z) for z in spec.get("zones", []))
            entry["error"] = spec.get("error")
            entry["unreachable"] = [zone_name(z) for z in spec.get("unreachable", [])]
            add(spec.get("instances", []), project)
    elif isinstance(document, dict) and document.get("kind") == "compute#instanceAggregatedList":
        project = project_of(document.get("selfLink", ""))
        for scope, scoped in document.get("items", {}).items():
            if project:
                bucket(project)["zones"].append(zone_name(scope))
            add(scoped.get("instances", []), project)
    elif isinstance(document, dict) and document.get("kind") == "compute#instanceList":
        project = project_of(document.get("selfLink", ""))
        if project:
            bucket(project)["zones"].append(zone_name(document["selfLink"].rsplit("/instances", 1)[0]))
        add(document.get("items", []), project)
    else:
        raise ValueError(
            "unrecognised dataset: expected an instanceAggregatedList or instanceList dump, "
            'a JSON list of Instance objects, or {"projects": {...}}'
        )
    return out


# -- machine and accelerator types --------------------------------------------------------------
# A realistic subset of Compute's catalogue for the families the project uses: name -> (guestCpus,
# memoryMb, bundled accelerators). A3 and G2 come with their GPUs attached; other families take none.
def _family(prefix: str, sizes, gb_per_cpu: int, gpus=None) -> dict:
    return {f"{prefix}-{n}": (n, n * gb_per_cpu * 1024, gpus(n) if gpus else None) for n in sizes}


MACHINE_TYPES: dict[str, tuple[int, int, tuple | None]] = {
    **_family("c3-standard", (4, 8, 22, 44, 88, 176), 4),
    **_family("c3-highcpu", (4, 8, 22, 44, 88, 176), 2),
    **_family("c2-standard", (4, 8, 16, 30, 60), 4),
    **_family("n2-standard", (2, 4, 8, 16, 32, 48, 64, 80, 96, 128), 4),
    **_family("e2-standard", (2, 4, 8, 16, 32), 4),
    **_family("n1-standard", (1, 2, 4, 8, 16, 32, 64, 96), 3),
    "a3-highgpu-1g": (26, 234 * 1024, ("nvidia-h100-80gb", 1)),
    "a3-highgpu-2g": (52, 468 * 1024, ("nvidia-h100-80gb", 2)),
    "a3-highgpu-4g": (104, 936 * 1024, ("nvidia-h100-80gb", 4)),
    "a3-highgpu-8g": (208, 1872 * 1024, ("nvidia-h100-80gb", 8)),
    "g2-standard-4": (4, 16 * 1024, ("nvidia-l4", 1)),
    "g2-standard-8": (8, 32 * 1024, ("nvidia-l4", 1)),
    "g2-standard-12": (12, 48 * 1024, ("nvidia-l4", 1)),
    "g2-standard-16": (16, 64 * 1024, ("nvidia-l4", 1)),
    "g2-standard-24": (24, 96 * 1024, ("nvidia-l4", 2)),
    "g2-standard-32": (32, 128 * 1024, ("nvidia-l4", 1)),
    "g2-standard-48": (48, 192 * 1024, ("nvidia-l4", 4)),
    "g2-standard-96": (96, 384 * 1024, ("nvidia-l4", 8)),
}
# accelerator type -> (description, most per VM)
ACCELERATOR_TYPES = {
    "nvidia-h100-80gb": ("NVIDIA H100 80GB", 8),
    "nvidia-l4": ("NVIDIA L4", 8),
    "nvidia-tesla-t4": ("NVIDIA T4", 4),
}
_GENERAL = ("c3-standard", "c3-highcpu", "c2-standard", "n2-standard", "e2-standard", "n1-standard")
# zone -> (machine families, accelerator types); zones not listed offer the general families only.
ZONE_OFFERS = {
    "us-east4-a": ((*_GENERAL, "a3-highgpu", "g2-standard"), ("nvidia-h100-80gb", "nvidia-l4", "nvidia-tesla-t4")),
    "us-east4-b": (_GENERAL, ("nvidia-tesla-t4",)),
    "us-east4-c": ((*_GENERAL, "a3-highgpu", "g2-standard"), ("nvidia-h100-80gb", "nvidia-l4", "nvidia-tesla-t4")),
    "us-central1-a": ((*_GENERAL, "a3-highgpu", "g2-standard"), ("nvidia-h100-80gb", "nvidia-l4", "nvidia-tesla-t4")),
    "europe-west3-a": (_GENERAL, ("nvidia-tesla-t4",)),
    "europe-west3-b": ((*_GENERAL, "g2-standard"), ("nvidia-l4", "nvidia-tesla-t4")),
    "europe-west4-b": ((*_GENERAL, "a3-highgpu", "g2-standard"), ("nvidia-h100-80gb", "nvidia-l4", "nvidia-tesla-t4")),
}


def machine_family(machine_type: str) -> str:
    """``c3-standard-8`` -> ``c3-standard``; ``a3-highgpu-1g`` -> ``a3-highgpu``."""
    return machine_type.rsplit("-", 1)[0]


def zone_machine_types(zone: str) -> list[str]:
    """The machine types offered in ``zone``, in catalogue order."""
    families = ZONE_OFFERS.get(zone, (_GENERAL, ()))[0]
    return [name for name in MACHINE_TYPES if machine_family(name) in families]


def zone_accelerator_types(zone: str) -> list[str]:
    """The accelerator types offered in ``zone``."""
    return list(ZONE_OFFERS.get(zone, ((), ()))[1])


def machine_type_resource(project: str, zone: str, name: str) -> dict:
    """A MachineType resource as Compute returns it."""
    cpus, memory, gpus = MACHINE_TYPES[name]
    zone_url = f"{API_BASE}/projects/{project}/zones/{zone}"
    resource = {
        "kind": "compute#machineType",
        "id": str(800000000 + zlib.crc32(name.encode()) % 100000000),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": name,
        "description": f"{cpus} vCPUs, {memory // 1024} GB RAM" + (f", {gpus[1]} {gpus[0]}" if gpus else ""),
        "guestCpus": cpus,
        "memoryMb": memory,
        "imageSpaceGb": 0,
        "maximumPersistentDisks": 128,
        "maximumPersistentDisksSizeGb": "263168",
        "zone": zone,
        "selfLink": f"{zone_url}/machineTypes/{name}",
        "isSharedCpu": False,
        "architecture": "X86_64",
    }
    if gpus:
        resource["accelerators"] = [{"guestAcceleratorType": gpus[0], "guestAcceleratorCount": gpus[1]}]
    return resource


def accelerator_type_resource(project: str, zone: str, name: str) -> dict:
    """An AcceleratorType resource as Compute returns it."""
    description, most = ACCELERATOR_TYPES[name]
    zone_url = f"{API_BASE}/projects/{project}/zones/{zone}"
    return {
        "kind": "compute#acceleratorType",
        "id": str(10000 + zlib.crc32(name.encode()) % 10000),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": name,
        "description": description,
        "zone": zone_url,
        "selfLink": f"{zone_url}/acceleratorTypes/{name}",
        "maximumCardsPerInstance": most,
    }
