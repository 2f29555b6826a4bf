#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module compute_subnetwork: ensure a VPC subnetwork (range, Private Google Access)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_subnetwork
short_description: Ensure a VPC subnetwork (primary range, Private Google Access)
description:
  - Creates the subnetwork in O(network) and O(region), or turns Private Google Access on or off in place
    (C(subnetworks.patch) with the current fingerprint); deletes it with O(state=absent) (the API refuses while
    instances or a Cloud NAT use it).
  - The API refuses a range that overlaps another subnetwork of the network (in any region) or its private
    services access range.
  - A wider range that contains the current one is applied in place (C(subnetworks.expandIpCidrRange)); any other
    range, or another network, cannot be, and the task fails and says what it would take.
  - Supports check mode (nothing is sent; the result says what would change) and diff mode.
  - Run it on the controller.
options:
  project:
    description: Project ID.
    type: str
    required: true
  region:
    description: Region of the subnetwork (for example V(us-east4)).
    type: str
    required: true
  name:
    description: Subnetwork name.
    type: str
    required: true
  network:
    description:
      - The VPC network, by name (in O(project)), C(projects/P/global/networks/N) or URL.
      - Required with O(state=present).
    type: str
  ip_cidr_range:
    description:
      - Primary IPv4 range, for example V(10.10.0.0/24) (/8 to /29).
      - Required with O(state=present).
    type: str
  private_ip_google_access:
    description: Let instances without external IP addresses reach Google APIs (C(privateIpGoogleAccess)).
    type: bool
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.compute_resource
"""

EXAMPLES = r"""
- name: The subnetwork next to the exchange
  nearzero.gcp.compute_subnetwork:
    project: prod-net
    region: us-east4
    name: trading-us-east4
    network: trading
    ip_cidr_range: 10.10.0.0/24
    private_ip_google_access: true
  delegate_to: localhost
"""

RETURN = r"""
resource:
  description: The subnetwork as the API shows it after the run (in check mode, as it would be); null when absent.
  returned: always
  type: dict
created:
  description: Whether the resource was created (or, in check mode, would be).
  returned: always
  type: bool
operations:
  description: Names of the Operations this run waited for.
  returned: always
  type: list
  elements: str
diff:
  description: The fields that differed, before and after (only the fields the task sets).
  returned: always
  type: dict
"""

import ipaddress

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute_resource import (
    module_options,
    network_link,
    resource_for,
    run,
)
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

IMMUTABLE = {
    "network": "a subnetwork never moves to another network: delete it (and the instances in it) and create it again",
    "ipCidrRange": "a subnetwork's range can only be widened in place, to a range that contains it; any other "
                   "change means deleting and re-creating the subnetwork and the instances in it",
}


def main() -> None:
    """Ensure the subnetwork."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "region": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "network": {"type": "str"},
            "ip_cidr_range": {"type": "str"},
            "private_ip_google_access": {"type": "bool"},
            **module_options(),
        },
        required_if=[("state", "present", ("network", "ip_cidr_range"))],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "present":
        try:
            block = ipaddress.ip_network(params["ip_cidr_range"], strict=True)
        except ValueError as exc:
            module.fail_json(msg=f"ip_cidr_range {params['ip_cidr_range']!r} is not a network range ({exc}); write "
                                 "it as ADDRESS/PREFIX with the host bits zero, for example 10.10.0.0/24")
        if block.version != 4 or not 8 <= block.prefixlen <= 29:
            module.fail_json(msg=f"ip_cidr_range {block} must be an IPv4 range from /8 to /29")

    def build():
        desired = {}
        if params["state"] == "present":
            desired = {"network": network_link(params["project"], params["network"]),
                       "ipCidrRange": params["ip_cidr_range"]}
            if params["private_ip_google_access"] is not None:
                desired["privateIpGoogleAccess"] = params["private_ip_google_access"]
        resource = resource_for(module, f"regions/{params['region']}", "subnetworks", params["name"],
                                kind="subnetwork", immutable=IMMUTABLE, fingerprint=True,
                                permission="compute.subnetworks")
        return resource, desired

    def widen(resource, desired: dict, actual: dict | None) -> str | None:
        """Widen the range in place when the wanted one contains it (the one range change the API allows)."""
        if actual is None or not actual.get("ipCidrRange") or desired["ipCidrRange"] == actual["ipCidrRange"]:
            return None
        old, new = ipaddress.ip_network(actual["ipCidrRange"]), ipaddress.ip_network(desired["ipCidrRange"])
        if new.prefixlen >= old.prefixlen or not old.subnet_of(new):
            return None
        if not module.check_mode:
            resource.call("POST", f"{resource.url}/expandIpCidrRange", "expandIpCidrRange", {"ipCidrRange": str(new)})
        return actual["ipCidrRange"]

    if params["state"] == "absent":
        run(module, build)  # exits the module
    try:
        resource, desired = build()
        widened_from = widen(resource, desired, resource.get())
        if widened_from and module.check_mode:
            desired = {k: v for k, v in desired.items() if k != "ipCidrRange"}
        result = resource.ensure(desired)
    except GcpError as exc:
        module.fail_gcp(exc)
    if widened_from:
        result["changed"] = True
        result["diff"]["before"]["ipCidrRange"] = widened_from
        result["diff"]["after"]["ipCidrRange"] = params["ip_cidr_range"]
        result["resource"] = dict(result["resource"], ipCidrRange=params["ip_cidr_range"])
        result["operations"] = list(resource.operations)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
