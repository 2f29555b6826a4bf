#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module compute_instance: a low-latency GCE VM, created or brought in line in place."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_instance
short_description: Ensure a Compute Engine VM for low-latency trading (GPUs, gVNIC, Tier_1, no external IP, SMT off)
description:
  - Creates the VM when it does not exist - machine type, GPUs, gVNIC, Tier_1 egress, no external IP, threads per
    core, C(onHostMaintenance=TERMINATE) with GPUs, Shielded VM, labels, metadata, network tags, a service account
    with minimal scopes, the boot disk, resource policies (compact placement) and deletion protection - and waits
    for the zone Operation.
  - An existing VM is compared on the options that are set, and only what differs is changed.
  - In place, on a running VM - labels (C(setLabels) with the label fingerprint), metadata (C(setMetadata) with the
    metadata fingerprint), network tags (C(setTags)), deletion protection, the external IP (C(deleteAccessConfig) /
    C(addAccessConfig)) and O(status) (C(stop) / C(start)). Labels and metadata are managed per key; keys the
    options do not name are left alone.
  - Needing a stop - machine type (C(setMachineType)), GPUs (C(setMachineResources)), host maintenance
    (C(setScheduling)), service account and scopes (C(setServiceAccount)), resource policies (the placement).
    Reported, with what it takes, and carried out only with O(allow_restart) - stop, change, start (when the VM
    was running). One VM per task; a playbook does one host at a time.
  - Needing a new VM - NIC type, network, subnetwork, Tier_1, threads per core, Shielded VM. Always reported
    (RV(not_applied)), never carried out; the boot disk is used only at creation.
  - Metadata that looks like a credential (a key naming a password, secret, token or key; a value that looks like
    a private key, an access token or a URL with a password) is refused before any call.
  - O(state=absent) deletes the VM; one with deletion protection is refused.
  - Every Operation is polled under O(api_endpoint) until done or O(wait_timeout).
  - Supports check mode and diff mode. Run it on the controller.
options:
  project: {description: "Project ID.", type: str, required: true}
  zone: {description: "Zone (for example V(us-east4-a)).", type: str, required: true}
  name: {description: "Instance name.", type: str, required: true}
  machine_type: {description: "Machine type name (for example V(a3-highgpu-1g)); required to create.", type: str}
  accelerators:
    description: GPUs; for accelerator-optimized types (A2, A3, G2) the ones that come with the type.
    type: list
    elements: dict
    suboptions:
      type: {description: "Accelerator type name (for example V(nvidia-h100-80gb)).", type: str, required: true}
      count: {description: "How many.", type: int, default: 1}
  nic_type: {description: "NIC type.", type: str, choices: [GVNIC, VIRTIO_NET], default: GVNIC}
  network: {description: "Network name or path (C(projects/P/global/networks/N)); required to create.", type: str}
  subnetwork: {description: "Subnetwork name (in the zone's region) or path.", type: str}
  external_ip: {description: "Give the VM an external IPv4 address (one-to-one NAT).", type: bool, default: false}
  tier1: {description: "Tier_1 total egress bandwidth (C(networkPerformanceConfig)).", type: bool, default: false}
  threads_per_core: {description: "Threads per core; V(1) turns SMT off.", type: int}
  on_host_maintenance:
    description: Host maintenance behaviour; V(TERMINATE) by default when O(accelerators) is set (GPUs cannot migrate).
    type: str
    choices: [MIGRATE, TERMINATE]
  shielded_vm: {description: "Secure Boot, vTPM and integrity monitoring.", type: bool, default: true}
  labels: {description: "Labels (managed per key).", type: dict}
  metadata: {description: "Metadata (managed per key; never a secret).", type: dict}
  tags: {description: "Network tags (the whole list).", type: list, elements: str}
  service_account: {description: "Service account email; the project's default one at creation when omitted.",
                    type: str}
  service_account_scopes:
    description: Access scopes of the service account (minimal - logging and monitoring writes - by default).
    type: list
    elements: str
    default: ['https://www.googleapis.com/auth/logging.write', 'https://www.googleapis.com/auth/monitoring.write']
  boot_disk:
    description: Boot disk, used at creation only.
    type: dict
    suboptions:
      image: {description: "Source image.", type: str, default: projects/debian-cloud/global/images/family/debian-12}
      size_gb: {description: "Size in GB.", type: int, default: 50}
      type: {description: "Disk type.", type: str, default: pd-balanced}
  resource_policies: {description: "Resource policy names or paths (a compact placement policy).", type: list,
                      elements: str}
  deletion_protection: {description: "Protect the VM from deletion.", type: bool}
  status: {description: "Whether the VM runs.", type: str, choices: [RUNNING, TERMINATED], default: RUNNING}
  allow_restart:
    description: Carry out changes that need the VM stopped (stop, change, start). Without it they are only reported.
    type: bool
    default: false
  state: {description: "Present or absent.", type: str, choices: [present, absent], default: present}
  wait_timeout: {description: "Seconds to wait for each Operation.", type: float, default: 600}
  api_endpoint:
    description:
      - Base URL of the Compute Engine API (C(/compute/v1) is appended). Operations are polled there too.
      - When not set, the environment variable E(GCP_COMPUTE_ENDPOINT) is used.
    type: str
    default: https://compute.googleapis.com
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
"""

EXAMPLES = r"""
- name: A GPU trading host near the exchange
  nearzero.gcp.compute_instance:
    project: acme-trading
    zone: us-east4-a
    name: engine-us-1
    machine_type: a3-highgpu-1g
    accelerators: [{type: nvidia-h100-80gb, count: 1}]
    network: trading
    subnetwork: trading-us-east4
    threads_per_core: 1
    labels: {role: trading-engine, env: prod}
    tags: [trading-engine]
    resource_policies: [engines-compact]
    deletion_protection: true
  delegate_to: localhost

- name: Resize it (stop, setMachineType, start)
  nearzero.gcp.compute_instance:
    project: acme-trading
    zone: us-east4-a
    name: engine-us-2
    machine_type: c3-standard-44
    allow_restart: true
  delegate_to: localhost
"""

RETURN = r"""
changes:
  description: Every difference, as C(field) C(before) C(after), C(needs) (V(in_place), V(stop), V(recreate)) and
    the C(method) that applies it; creating is the field V(instance), deleting V(instance) with after V(null).
  type: list
  elements: dict
  returned: always
applied:
  description: The changes the API applied.
  type: list
  elements: dict
  returned: always
not_applied:
  description: The changes not applied - needing a stop without O(allow_restart), or a new VM - with what it takes.
  type: list
  elements: dict
  returned: always
operations:
  description: Names of the Operations that finished.
  type: list
  elements: str
  returned: always
instance:
  description: The instance after the change (before it in check mode; empty when absent).
  type: dict
  returned: always
"""

from typing import Any, NoReturn

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp import compute_instance as ci
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute_resource import DEFAULT_ENDPOINT, ComputeResource
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

MINIMAL_SCOPES = ["https://www.googleapis.com/auth/logging.write", "https://www.googleapis.com/auth/monitoring.write"]


class Converge:
    """One VM: get, then create, change or delete it, waiting for every zone Operation."""

    def __init__(self, module: AnsibleGcpModule) -> None:
        self.module = module
        self.params = module.params
        project, zone, name = self.params["project"], self.params["zone"], self.params["name"]
        self.res = ComputeResource(module.client(), project, f"zones/{zone}", "instances", name,
                                   endpoint=self.params["api_endpoint"], kind="instance",
                                   timeout=self.params["wait_timeout"], check_mode=module.check_mode)
        self.url = self.res.url
        self.what = f"instance {name} in zone {zone} of project {project}"
        self.actual_email: str | None = None
        self.result: dict[str, Any] = {"changed": False, "changes": [], "applied": [], "not_applied": [],
                                       "operations": self.res.operations, "instance": {}}

    def get(self) -> dict[str, Any] | None:
        """The instance, or None when it does not exist."""
        return self.res.get()

    def action(self, verb: str, body: Any = None, params: dict[str, Any] | None = None) -> None:
        """POST instances/NAME/VERB and wait for its zone Operation."""
        self.res.call("POST", f"{self.url}/{verb}", verb, body, params)

    # -- steps ----------------------------------------------------------------------------
    def exit(self, instance: dict[str, Any] | None) -> NoReturn:
        """Exit with the result; changed is what would change (check mode) or what the API applied."""
        res = self.result
        res["changed"] = bool(res["applied"]) if not self.module.check_mode else \
            any(c["needs"] == "in_place" or c["field"] == "instance" or (self.params["allow_restart"] and
                c["needs"] == "stop") for c in res["changes"])
        res["instance"] = instance or {}
        for change in res["not_applied"]:
            self.module.warn(f"{self.what}: {change['field']} is {change['before']!r}, wanted {change['after']!r}; "
                             f"not applied: {change['takes']}")
        self.module.exit_json(**res)

    def create(self) -> NoReturn:
        """Insert the VM (and stop it after when status TERMINATED is asked)."""
        params = self.params
        missing = [o for o in ("machine_type", "network") if not params[o]]
        if missing:
            self.module.fail_json(msg=f"{self.what} does not exist; to create it set {' and '.join(missing)}.",
                                  **self.result)
        body = ci.insert_body(params)
        change = {"field": "instance", "before": None, "after": f"{params['machine_type']} in {params['zone']}",
                  "needs": "in_place", "method": "insert"}
        self.result["changes"].append(change)
        if self.module._diff:
            self.result["diff"] = {"before": {}, "after": body}
        if self.module.check_mode:
            self.exit(None)
        self.res.call("POST", self.res.collection_url, "create", body)
        self.result["applied"].append(change)
        if params["status"] == "TERMINATED":
            self.action("stop")
        self.exit(self.get())

    def delete(self, instance: dict[str, Any]) -> NoReturn:
        """Delete the VM unless it is protected."""
        if instance.get("deletionProtection"):
            self.module.fail_json(msg=f"{self.what} has deletion protection, so it is not deleted. Fix: if it must "
                                      "go, turn deletion protection off first (deletion_protection: false), "
                                      "knowingly, then delete it.", **self.result)
        change = {"field": "instance", "before": ci.last(instance.get("machineType")), "after": None,
                  "needs": "in_place", "method": "delete"}
        self.result["changes"].append(change)
        if self.module._diff:
            self.result["diff"] = {"before": {"name": instance["name"]}, "after": {}}
        if self.module.check_mode:
            self.exit(instance)
        self.res.delete()
        self.result["applied"].append(change)
        self.exit(None)

    def apply_in_place(self, change: dict[str, Any], instance: dict[str, Any]) -> None:
        """One in-place change on the VM as it is now (fingerprints from ``instance``)."""
        field, after = change["field"], change["after"]
        if field == "labels":
            self.action("setLabels", {"labels": after, "labelFingerprint": instance.get("labelFingerprint")})
        elif field == "metadata":
            self.action("setMetadata", {"fingerprint": (instance.get("metadata") or {}).get("fingerprint"),
                                        "items": [{"key": k, "value": str(v)} for k, v in sorted(after.items())]})
        elif field == "tags":
            self.action("setTags", {"items": after, "fingerprint": (instance.get("tags") or {}).get("fingerprint")})
        elif field == "deletion_protection":
            self.action("setDeletionProtection", params={"deletionProtection": str(after).lower()})
        elif field == "external_ip":
            nic = (instance.get("networkInterfaces") or [{}])[0]
            nic_name = nic.get("name", "nic0")
            if after:
                self.action("addAccessConfig", {"type": "ONE_TO_ONE_NAT", "name": "External NAT"},
                            params={"networkInterface": nic_name})
            else:
                for config in nic.get("accessConfigs") or []:
                    self.action("deleteAccessConfig", params={"networkInterface": nic_name,
                                                              "accessConfig": config["name"]})

    def apply_stopped(self, change: dict[str, Any]) -> None:
        """One change that needs the VM stopped (it is)."""
        params, field = self.params, change["field"]
        project, zone = params["project"], params["zone"]
        if field == "machine_type":
            self.action("setMachineType", {"machineType": f"zones/{zone}/machineTypes/{change['after']}"})
        elif field == "accelerators":
            self.action("setMachineResources", {"guestAccelerators": [
                {"acceleratorType": f"projects/{project}/zones/{zone}/acceleratorTypes/{t}", "acceleratorCount": n}
                for t, n in change["after"]]})
        elif field == "on_host_maintenance":
            self.action("setScheduling", {"onHostMaintenance": change["after"], "automaticRestart": True})
        elif field in ("service_account", "scopes"):
            self.action("setServiceAccount", {"email": params["service_account"] or self.actual_email or "default",
                                              "scopes": params["service_account_scopes"]})
        elif field == "resource_policies":
            region = ci.region_of(zone)
            before, after = set(change["before"] or []), set(change["after"])
            path = f"projects/{project}/regions/{region}/resourcePolicies/"
            if before - after:
                self.action("removeResourcePolicies", {"resourcePolicies": [path + p for p in sorted(before - after)]})
            if after - before:
                self.action("addResourcePolicies", {"resourcePolicies": [path + p for p in sorted(after - before)]})

    def update(self, instance: dict[str, Any]) -> NoReturn:
        """Bring an existing VM in line: in place first, then (with allow_restart) what needs a stop, then status."""
        actual = ci.actual_view(instance)
        self.actual_email = actual["service_account"]
        wanted = ci.wanted_view(self.params)
        changes = ci.plan(actual, wanted)
        self.result["changes"] = changes
        if self.module._diff and changes:
            self.result["diff"] = {"before": {c["field"]: c["before"] for c in changes},
                                   "after": {c["field"]: c["after"] for c in changes}}
        stop_needed = [c for c in changes if c["needs"] == "stop"]
        for change in changes:
            if change["needs"] == "recreate":
                self.result["not_applied"].append(dict(change, takes=f"a new VM ({change['method']}); nearzero never "
                                                       "deletes a VM to change it"))
            elif change["needs"] == "stop" and not self.params["allow_restart"]:
                self.result["not_applied"].append(dict(change, takes=f"stop the VM, {change['method']}, start it; "
                                                       "set allow_restart: true to do it (one host at a time)"))
        if self.module.check_mode:
            self.exit(instance)
        in_place = [c for c in changes if c["needs"] == "in_place" and c["field"] != "status"]
        for change in in_place:
            self.apply_in_place(change, instance)
            self.result["applied"].append(change)
            instance = self.get() or instance  # fresh fingerprints for the next change
        running = actual["status"] == "RUNNING"
        if stop_needed and self.params["allow_restart"]:
            if running:
                self.action("stop")
                running = False
            for change in stop_needed:
                self.apply_stopped(change)
                self.result["applied"].append(change)
        if self.params["status"] == "RUNNING" and not running:
            self.action("start")
        elif self.params["status"] == "TERMINATED" and running:
            self.action("stop")
        status = next((c for c in changes if c["field"] == "status"), None)
        if status:
            self.result["applied"].append(status)
        self.exit(self.get() if self.result["applied"] else instance)

    def run(self) -> NoReturn:
        """Refuse secret metadata, then converge."""
        instance = self.get()
        if self.params["state"] == "absent":
            if instance is None:
                self.exit(None)
            self.delete(instance)
        if instance is None:
            self.create()
        self.update(instance)


def main() -> None:
    """Create, update in place, or (with allow_restart) stop/change/start; or delete."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "zone": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "machine_type": {"type": "str"},
            "accelerators": {"type": "list", "elements": "dict", "options": {
                "type": {"type": "str", "required": True}, "count": {"type": "int", "default": 1}}},
            "nic_type": {"type": "str", "choices": ["GVNIC", "VIRTIO_NET"], "default": "GVNIC"},
            "network": {"type": "str"},
            "subnetwork": {"type": "str"},
            "external_ip": {"type": "bool", "default": False},
            "tier1": {"type": "bool", "default": False},
            "threads_per_core": {"type": "int"},
            "on_host_maintenance": {"type": "str", "choices": ["MIGRATE", "TERMINATE"]},
            "shielded_vm": {"type": "bool", "default": True},
            "labels": {"type": "dict"},
            "metadata": {"type": "dict"},
            "tags": {"type": "list", "elements": "str"},
            "service_account": {"type": "str"},
            "service_account_scopes": {"type": "list", "elements": "str", "default": list(MINIMAL_SCOPES)},
            "boot_disk": {"type": "dict", "options": {
                "image": {"type": "str", "default": "projects/debian-cloud/global/images/family/debian-12"},
                "size_gb": {"type": "int", "default": 50},
                "type": {"type": "str", "default": "pd-balanced"}}},
            "resource_policies": {"type": "list", "elements": "str"},
            "deletion_protection": {"type": "bool"},
            "status": {"type": "str", "choices": ["RUNNING", "TERMINATED"], "default": "RUNNING"},
            "allow_restart": {"type": "bool", "default": False},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "wait_timeout": {"type": "float", "default": 600},
            "api_endpoint": {"type": "str", "default": DEFAULT_ENDPOINT,
                             "fallback": (env_fallback, ["GCP_COMPUTE_ENDPOINT"])},
        },
        supports_check_mode=True,
    )
    secrets = ci.secret_problems(module.params["metadata"] or {})
    if secrets:
        # the task result echoes the options (invocation): the refused values must not ride along
        metadata = module.params["metadata"]
        module.params["metadata"] = {k: "(refused)" if k in secrets else v for k, v in metadata.items()}
        module.fail_json(msg=f"Refused before any call: {'; '.join(secrets.values())}. Instance metadata is "
                             "readable by every process on the VM and by anyone who can read the instance. Fix: "
                             "keep secrets in Secret Manager (the nearzero.gcp.gcp_secret lookup) and drop them "
                             "from metadata.")
    try:
        Converge(module).run()
    except GcpError as exc:
        module.fail_gcp(exc)


if __name__ == "__main__":
    main()
