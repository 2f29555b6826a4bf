#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module compute_global_address: ensure a global internal address range (private services access)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_global_address
short_description: Ensure a global internal address range for private services access (VPC_PEERING)
description:
  - Reserves the internal range that private services access (Cloud SQL over private IP) allocates from, on
    O(network); M(nearzero.gcp.service_networking_connection) then connects the network to Google's services with it.
  - Without O(address) the API picks a free block of O(prefix_length) bits; with it, the range must overlap no
    subnetwork of the network.
  - A reserved range cannot be changed; a different O(address), O(prefix_length) or O(network) fails the task with
    what it would take. Deleting it (O(state=absent)) is refused by the API while a connection holds it.
  - Supports check mode (nothing is sent; the result says what would change) and diff mode.
  - Run it on the controller.
options:
  project:
    description: Project ID.
    type: str
    required: true
  name:
    description: Address (range) name.
    type: str
    required: true
  network:
    description:
      - The VPC network, by name (in O(project)), C(projects/P/global/networks/N) or URL.
      - Required with O(state=present).
    type: str
  purpose:
    description: What the range is for; V(VPC_PEERING) is private services access.
    type: str
    choices: [VPC_PEERING]
    default: VPC_PEERING
  address:
    description: First address of the range (for example V(10.100.0.0)); omitted, the API picks a free block.
    type: str
  prefix_length:
    description: Size of the range in prefix bits (V(16) is Google's advice, V(24) the smallest Cloud SQL takes).
    type: int
    default: 16
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.compute_resource
"""

EXAMPLES = r"""
- name: The range Cloud SQL's private IPs come from
  nearzero.gcp.compute_global_address:
    project: prod-net
    name: google-managed-services-trading
    network: trading
    address: 10.100.0.0
    prefix_length: 16
  delegate_to: localhost
"""

RETURN = r"""
resource:
  description: The address as the API shows it after the run (in check mode, as it would be); null when absent.
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
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

RECREATE = ("a reserved range cannot be changed: remove it from the Service Networking connection "
            "(nearzero.gcp.service_networking_connection), delete it and reserve the new one")
IMMUTABLE = dict.fromkeys(("network", "purpose", "addressType", "address", "prefixLength"), RECREATE)


def main() -> None:
    """Ensure the global address range."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "network": {"type": "str"},
            "purpose": {"type": "str", "default": "VPC_PEERING", "choices": ["VPC_PEERING"]},
            "address": {"type": "str"},
            "prefix_length": {"type": "int", "default": 16},
            **module_options(),
        },
        required_if=[("state", "present", ("network",))],
        supports_check_mode=True,
    )
    params = module.params
    if not 8 <= params["prefix_length"] <= 29:
        module.fail_json(msg=f"prefix_length {params['prefix_length']} is outside 8..29; private services access "
                             "wants 16 (Google's recommendation) to 24 (the smallest Cloud SQL takes)")
    if params["address"]:
        try:
            ipaddress.ip_network(f"{params['address']}/{params['prefix_length']}", strict=True)
        except ValueError as exc:
            module.fail_json(msg=f"address {params['address']} is not the first address of a "
                                 f"/{params['prefix_length']} ({exc}); give the range's network address")

    def build():
        desired = {}
        if params["state"] == "present":
            desired = {"addressType": "INTERNAL", "purpose": params["purpose"],
                       "network": network_link(params["project"], params["network"]),
                       "prefixLength": params["prefix_length"]}
            if params["address"]:
                desired["address"] = params["address"]
        resource = resource_for(module, "global", "addresses", params["name"], kind="global address",
                                immutable=IMMUTABLE, permission="compute.globalAddresses")
        return resource, desired

    run(module, build)


if __name__ == "__main__":
    main()
