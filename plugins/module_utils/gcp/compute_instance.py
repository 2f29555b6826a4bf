"""What the compute_instance module wants of a VM, and what each difference takes to fix.

A VM is compared through one flat *view* (machine type, GPUs, NIC, Tier_1, labels, ...), built
the same way from the module's options (``wanted_view``) and from the Instance the API returns
(``actual_view``), so a difference is one key. ``plan`` sorts the differences by what Compute
Engine needs to apply them:

- ``in_place``: a method that works on a running VM (setLabels and setMetadata with their
  fingerprints, setTags, setDeletionProtection, add/deleteAccessConfig, start/stop);
- ``stop``: a method that needs the VM stopped (setMachineType, setMachineResources,
  setScheduling, setServiceAccount, add/removeResourcePolicies for a compact placement);
- ``recreate``: nothing short of a new VM (the NIC type, network, Tier_1, SMT, Shielded VM).

Only the standard library is imported: this file runs inside AnsiballZ payloads.
"""

from __future__ import annotations

import re
from typing import Any, Final

# Metadata is readable by every process on the VM and by anyone with compute.instances.get: a key
# or a value that looks like a credential is refused before any call.
SECRET_KEY_RE: Final = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|credential)", re.I)
SECRET_VALUE_RES: Final = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\"private_key\"\s*:"),                 # a service-account key file
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),          # an AWS access key id
    re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}"),           # a Google OAuth access token
    re.compile(r"\beyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}\."),  # a JWT
    re.compile(r"postgres(ql)?://[^/\s:@]+:[^/\s@]+@"),  # a connection URL with a password
)

# what each stop-needing field is applied with
STOP_METHODS: Final[dict[str, str]] = {
    "machine_type": "setMachineType",
    "accelerators": "setMachineResources",
    "on_host_maintenance": "setScheduling",
    "service_account": "setServiceAccount",
    "scopes": "setServiceAccount",
    "resource_policies": "removeResourcePolicies/addResourcePolicies",
}
IN_PLACE_METHODS: Final[dict[str, str]] = {
    "labels": "setLabels",
    "metadata": "setMetadata",
    "tags": "setTags",
    "deletion_protection": "setDeletionProtection",
    "external_ip": "deleteAccessConfig/addAccessConfig",
    "status": "start/stop",
}
RECREATE_FIELDS: Final[tuple[str, ...]] = ("nic_type", "network", "subnetwork", "tier1", "threads_per_core",
                                           "shielded_vm")


def last(url: str | None) -> str | None:
    """The last path segment of a resource URL (its name), or None."""
    return url.rstrip("/").rsplit("/", 1)[-1] if url else None


def secret_problems(metadata: dict[str, Any]) -> dict[str, str]:
    """The metadata keys whose entry looks like a secret, each with why (the value is never repeated)."""
    found = {}
    for key, value in metadata.items():
        if SECRET_KEY_RE.search(str(key)):
            found[key] = f"metadata key '{key}' names a credential"
        elif any(r.search(str(value)) for r in SECRET_VALUE_RES):
            found[key] = f"metadata key '{key}' holds what looks like a credential"
    return found


def region_of(zone: str) -> str:
    """``us-east4`` for ``us-east4-a``."""
    return zone.rsplit("-", 1)[0]


def _path(value: str, project: str, scope: str, kind: str) -> str:
    """A project-relative path for a name, or the value as given when it is already a path or URL."""
    return value if "/" in value else f"projects/{project}/{scope}/{kind}/{value}"


def wanted_view(params: dict[str, Any]) -> dict[str, Any]:
    """The view the options ask for; options left unset (None) are not compared."""
    view = {
        "machine_type": params["machine_type"],
        "accelerators": None if params["accelerators"] is None else sorted(
            (a["type"], a["count"]) for a in params["accelerators"]),
        "nic_type": params["nic_type"],
        "network": last(params["network"]),
        "subnetwork": last(params["subnetwork"]),
        "external_ip": params["external_ip"],
        "tier1": params["tier1"],
        "threads_per_core": params["threads_per_core"],
        "on_host_maintenance": on_host_maintenance(params),
        "shielded_vm": params["shielded_vm"],
        "labels": params["labels"],
        "metadata": params["metadata"],
        "tags": None if params["tags"] is None else sorted(params["tags"]),
        "service_account": params["service_account"],
        "scopes": None if params["service_account_scopes"] is None else sorted(params["service_account_scopes"]),
        "resource_policies": None if params["resource_policies"] is None else sorted(
            last(p) for p in params["resource_policies"]),
        "deletion_protection": params["deletion_protection"],
        "status": params["status"],
    }
    return {k: v for k, v in view.items() if v is not None}


def on_host_maintenance(params: dict[str, Any]) -> str | None:
    """TERMINATE for a VM with GPUs unless set (GPU VMs cannot live-migrate), else the option."""
    if params["on_host_maintenance"]:
        return params["on_host_maintenance"]
    return "TERMINATE" if params["accelerators"] else None


def actual_view(instance: dict[str, Any]) -> dict[str, Any]:
    """The same view of an Instance as the API returns it."""
    nic = (instance.get("networkInterfaces") or [{}])[0]
    shielded = instance.get("shieldedInstanceConfig") or {}
    account = (instance.get("serviceAccounts") or [{}])[0]
    metadata = {i["key"]: i.get("value") for i in (instance.get("metadata") or {}).get("items") or []}
    return {
        "machine_type": last(instance.get("machineType")),
        "accelerators": sorted((last(a["acceleratorType"]), a["acceleratorCount"])
                               for a in instance.get("guestAccelerators") or []),
        "nic_type": nic.get("nicType") or "VIRTIO_NET",
        "network": last(nic.get("network")),
        "subnetwork": last(nic.get("subnetwork")),
        "external_ip": bool(nic.get("accessConfigs")),
        "tier1": (instance.get("networkPerformanceConfig") or {}).get("totalEgressBandwidthTier") == "TIER_1",
        "threads_per_core": (instance.get("advancedMachineFeatures") or {}).get("threadsPerCore"),
        "on_host_maintenance": (instance.get("scheduling") or {}).get("onHostMaintenance", "MIGRATE"),
        "shielded_vm": bool(shielded.get("enableSecureBoot") and shielded.get("enableVtpm")
                            and shielded.get("enableIntegrityMonitoring")),
        "labels": dict(instance.get("labels") or {}),
        "metadata": metadata,
        "tags": sorted((instance.get("tags") or {}).get("items") or []),
        "service_account": account.get("email"),
        "scopes": sorted(account.get("scopes") or []),
        "resource_policies": sorted(last(p) for p in instance.get("resourcePolicies") or []),
        "deletion_protection": bool(instance.get("deletionProtection")),
        "status": "RUNNING" if instance.get("status") in ("RUNNING", "PROVISIONING", "STAGING") else "TERMINATED",
    }


def merged(actual: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """Labels and metadata are managed per key: keys the options do not name are left alone."""
    out = dict(wanted)
    for key in ("labels", "metadata"):
        if key in wanted:
            out[key] = {**actual.get(key, {}), **wanted[key]}
    return out


def plan(actual: dict[str, Any], wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """Every difference as {field, before, after, needs, method}; ``needs`` is in_place, stop or recreate."""
    target = merged(actual, wanted)
    changes = []
    for field, after in target.items():
        before = actual.get(field)
        if before == after:
            continue
        if field in IN_PLACE_METHODS:
            needs, method = "in_place", IN_PLACE_METHODS[field]
        elif field in STOP_METHODS:
            needs, method = "stop", STOP_METHODS[field]
        else:
            needs, method = "recreate", "delete and create the instance"
        changes.append({"field": field, "before": before, "after": after, "needs": needs, "method": method})
    return changes


def insert_body(params: dict[str, Any]) -> dict[str, Any]:
    """The Instance to insert, from the options."""
    project, zone, name = params["project"], params["zone"], params["name"]
    region = region_of(zone)
    nic: dict[str, Any] = {"nicType": params["nic_type"],
                           "network": _path(params["network"], project, "global", "networks")}
    if params["subnetwork"]:
        nic["subnetwork"] = _path(params["subnetwork"], project, f"regions/{region}", "subnetworks")
    nic["accessConfigs"] = [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}] if params["external_ip"] else []
    disk = params["boot_disk"] or {}
    body: dict[str, Any] = {
        "name": name,
        "machineType": f"zones/{zone}/machineTypes/{params['machine_type']}",
        "networkInterfaces": [nic],
        "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
            "sourceImage": disk.get("image") or "projects/debian-cloud/global/images/family/debian-12",
            "diskSizeGb": str(disk.get("size_gb") or 50),
            "diskType": f"zones/{zone}/diskTypes/{disk.get('type') or 'pd-balanced'}"}}],
        "labels": dict(params["labels"] or {}),
        "tags": {"items": sorted(params["tags"] or [])},
        "metadata": {"items": [{"key": k, "value": str(v)} for k, v in sorted((params["metadata"] or {}).items())]},
        "serviceAccounts": [{"email": params["service_account"] or "default",
                             "scopes": sorted(params["service_account_scopes"] or [])}],
        "scheduling": {"onHostMaintenance": on_host_maintenance(params) or "MIGRATE", "automaticRestart": True},
        "deletionProtection": bool(params["deletion_protection"]),
    }
    if params["accelerators"]:
        body["guestAccelerators"] = [
            {"acceleratorType": f"projects/{project}/zones/{zone}/acceleratorTypes/{a['type']}",
             "acceleratorCount": a["count"]} for a in params["accelerators"]]
    if params["tier1"]:
        body["networkPerformanceConfig"] = {"totalEgressBandwidthTier": "TIER_1"}
    if params["threads_per_core"]:
        body["advancedMachineFeatures"] = {"threadsPerCore": params["threads_per_core"]}
    if params["shielded_vm"]:
        body["shieldedInstanceConfig"] = {"enableSecureBoot": True, "enableVtpm": True,
                                          "enableIntegrityMonitoring": True}
    if params["resource_policies"]:
        body["resourcePolicies"] = [_path(p, project, f"regions/{region}", "resourcePolicies")
                                    for p in params["resource_policies"]]
    return body
