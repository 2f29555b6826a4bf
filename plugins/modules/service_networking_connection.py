#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module service_networking_connection: ensure the private services access connection of a VPC network."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_networking_connection
short_description: Ensure a VPC network's private services access connection (Service Networking)
description:
  - Connects O(network) to Google's service producer network (the VPC peering C(servicenetworking-googleapis-com))
    with the reserved ranges O(reserved_peering_ranges), so that a Cloud SQL instance can have a private IP address
    only. The ranges are global internal addresses with purpose C(VPC_PEERING) on the network
    (M(nearzero.gcp.compute_global_address)).
  - Creates the connection, or changes its ranges in place (C(connections.patch)); dropping a range needs
    O(force=true), since instances may have addresses in it. Deletes the connection with O(state=absent).
  - The network is named to Service Networking by the project's number, which the module reads from the Compute
    Engine API (C(projects.get)).
  - Operations are polled under O(api_endpoint), with O(wait_timeout).
  - Supports check mode (nothing is sent; the result says what would change) and diff mode.
  - Run it on the controller.
options:
  project:
    description: Project ID of the network.
    type: str
    required: true
  network:
    description: The VPC network's name.
    type: str
    required: true
  reserved_peering_ranges:
    description:
      - Names of the reserved ranges (global addresses with purpose V(VPC_PEERING)) the producer allocates from.
      - Required with O(state=present); compared as a set.
    type: list
    elements: str
  service:
    description: The peering service.
    type: str
    default: servicenetworking.googleapis.com
  force:
    description: Allow a change that drops a range from the connection.
    type: bool
    default: false
  state:
    description: V(present) creates or corrects the connection, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description: Seconds to wait for each Operation before failing with its name.
    type: float
    default: 300
  api_endpoint:
    description:
      - Base URL of the Service Networking API (C(/v1) is appended).
      - When not set, the environment variable E(GCP_SERVICENETWORKING_ENDPOINT) is used.
    type: str
    default: https://servicenetworking.googleapis.com
  compute_endpoint:
    description:
      - Base URL of the Compute Engine API, for the project's number (C(/compute/v1) is appended).
      - When not set, the environment variable E(GCP_COMPUTE_ENDPOINT) is used.
    type: str
    default: https://compute.googleapis.com
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
"""

EXAMPLES = r"""
- name: Private services access for Cloud SQL on the trading VPC
  nearzero.gcp.service_networking_connection:
    project: prod-net
    network: trading
    reserved_peering_ranges: [google-managed-services-trading]
  delegate_to: localhost
"""

RETURN = r"""
connection:
  description: The connection as the API lists it after the run (in check mode, as it would be); null when absent.
  returned: always
  type: dict
  sample:
    network: projects/123456789012/global/networks/trading
    reservedPeeringRanges: [google-managed-services-trading]
    peering: servicenetworking-googleapis-com
    service: services/servicenetworking.googleapis.com
created:
  description: Whether the connection was created (or, in check mode, would be).
  returned: when O(state=present) and something changed
  type: bool
operations:
  description: Names of the Operations this run waited for.
  returned: always
  type: list
  elements: str
diff:
  description: The reserved ranges before and after.
  returned: always
  type: dict
"""

import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

PEERING = "servicenetworking-googleapis-com"


class Connection:
    """The Service Networking calls for one network."""

    def __init__(self, module: AnsibleGcpModule) -> None:
        params = module.params
        self.client = module.client()
        self.project = params["project"]
        self.service = params["service"]
        self.timeout = params["wait_timeout"]
        self.base = params["api_endpoint"].rstrip("/") + "/v1"
        self.compute = params["compute_endpoint"].rstrip("/") + "/compute/v1"
        self.network_name = params["network"]
        self.operations: list[str] = []
        self.network = ""

    def context(self, what: str, permission: str, api: str = "Service Networking API",
                service: str = "servicenetworking.googleapis.com") -> dict:
        """What error messages name."""
        return {"project": self.project, "resource": what, "permission": permission,
                "role": "roles/servicenetworking.networksAdmin", "api": api, "service": service,
                "endpoint_option": "api_endpoint",
                "bad_request_hint": "The API refused the connection's settings; its message says which."}

    def resolve_network(self) -> str:
        """``projects/NUMBER/global/networks/N``: Service Networking names networks by the project's number."""
        ctx = self.context(f"project '{self.project}'", "compute.projects.get", "Compute Engine API",
                           "compute.googleapis.com")
        ctx["role"] = "roles/compute.networkViewer"
        project = self.client.get_json(f"{self.compute}/projects/{self.project}", params={"fields": "id"},
                                       context=ctx)
        self.network = f"projects/{project['id']}/global/networks/{self.network_name}"
        return self.network

    def get(self) -> dict | None:
        """The connection on the network, or None (also when the network itself does not exist)."""
        ctx = self.context(f"connections of network '{self.network_name}'",
                           "servicenetworking.services.get")
        ctx["project_scoped"] = False
        try:
            body = self.client.get_json(f"{self.base}/services/{self.service}/connections",
                                        params={"network": self.network}, context=ctx)
        except GcpError as exc:
            if exc.status != 404:
                raise
            return None  # the network does not exist (yet: a check run before the task that creates it)
        found = body.get("connections") or []
        return found[0] if found else None

    def mutate(self, method: str, url: str, body: dict, params: dict | None = None) -> None:
        """Send a mutation and wait for its long-running Operation (``done``, then ``error`` or ``response``)."""
        ctx = self.context(f"the connection of network '{self.network_name}'", "servicenetworking.services.addPeering")
        op = self.client.request(method, url, params=params, json=body, context=ctx).json()
        name = op.get("name", "")
        self.operations.append(name)
        deadline = time.monotonic() + float(self.timeout)
        interval = 0.5
        while not op.get("done"):
            if time.monotonic() + interval > deadline:
                raise GcpError(f"Operation {name} did not finish within {self.timeout} s. It may still complete: "
                               f"check it with `gcloud services vpc-peerings operations describe --name={name}`, "
                               "or raise wait_timeout.", project=self.project, kind="timeout")
            time.sleep(interval)
            interval = min(interval * 1.5, 5.0)
            op = self.client.get_json(f"{self.base}/{name}", context=ctx)
        if op.get("error"):
            error = op["error"]
            raise GcpError(f"Operation {name} on the connection of network '{self.network_name}' failed: "
                           f"{error.get('code', 'ERROR')}: {error.get('message', '')}", project=self.project,
                           kind="operation")


def main() -> None:
    """Ensure the connection."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "network": {"type": "str", "required": True},
            "reserved_peering_ranges": {"type": "list", "elements": "str"},
            "service": {"type": "str", "default": "servicenetworking.googleapis.com"},
            "force": {"type": "bool", "default": False},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "wait_timeout": {"type": "float", "default": 300},
            "api_endpoint": {"type": "str", "default": "https://servicenetworking.googleapis.com",
                             "fallback": (env_fallback, ["GCP_SERVICENETWORKING_ENDPOINT"])},
            "compute_endpoint": {"type": "str", "default": "https://compute.googleapis.com",
                                 "fallback": (env_fallback, ["GCP_COMPUTE_ENDPOINT"])},
        },
        required_if=[("state", "present", ("reserved_peering_ranges",))],
        supports_check_mode=True,
    )
    params = module.params
    wanted = sorted(set(params["reserved_peering_ranges"] or ()))
    if params["state"] == "present" and not wanted:
        module.fail_json(msg="reserved_peering_ranges is empty: name at least one VPC_PEERING range "
                             "(nearzero.gcp.compute_global_address)")
    try:
        api = Connection(module)
        network = api.resolve_network()
        actual = api.get()
        held = sorted(actual.get("reservedPeeringRanges") or ()) if actual else []
        collection = f"{api.base}/services/{params['service']}/connections"
        if params["state"] == "absent":
            changed = actual is not None
            if changed and not module.check_mode:
                api.mutate("POST", f"{collection}/{actual.get('peering') or PEERING}", {"consumerNetwork": network})
            module.exit_json(changed=changed, connection=None, operations=api.operations,
                             diff={"before": {"reservedPeeringRanges": held} if actual else {}, "after": {}})
        if actual is not None and held == wanted:
            module.exit_json(changed=False, connection=actual, operations=[],
                             diff={"before": {"reservedPeeringRanges": held}, "after": {"reservedPeeringRanges": held}})
        dropped = sorted(set(held) - set(wanted))
        if actual is not None and dropped and not params["force"]:
            module.fail_json(msg=f"The connection of network '{params['network']}' holds the ranges {dropped}, "
                                 "which reserved_peering_ranges leaves out; instances may have addresses there. Add "
                                 "them back, or set force: true to drop them.", kind="force_needed")
        body = {"network": network, "reservedPeeringRanges": wanted}
        if not module.check_mode:
            if actual is None:
                api.mutate("POST", collection, body)
            else:
                api.mutate("PATCH", f"{collection}/-", body,
                           params={"updateMask": "reservedPeeringRanges", "force": str(params["force"]).lower()})
        after = (api.get() if not module.check_mode else None) or dict(
            body, peering=PEERING, service=f"services/{params['service']}")
        module.exit_json(changed=True, created=actual is None, connection=after, operations=api.operations,
                         diff={"before": {"reservedPeeringRanges": held} if actual else {},
                               "after": {"reservedPeeringRanges": wanted}})
    except GcpError as exc:
        module.fail_gcp(exc)


if __name__ == "__main__":
    main()
