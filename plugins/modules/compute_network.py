#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module compute_network: ensure a custom-mode VPC network (MTU, routing mode)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_network
short_description: Ensure a VPC network (custom mode, MTU up to 8896, routing mode)
description:
  - Creates the VPC network in custom mode (its subnetworks are made with M(nearzero.gcp.compute_subnetwork)) or
    corrects its MTU and dynamic routing mode in place (C(networks.patch)); deletes it with O(state=absent)
    (the API refuses while subnetworks, firewall rules, routers, ranges, connections or instances use it).
  - Only the options set are compared; an existing auto-mode network is reported, not converted.
  - Supports check mode (nothing is sent; the result says what would change) and diff mode.
  - Run it on the controller.
options:
  project:
    description: Project ID.
    type: str
    required: true
  name:
    description: Network name.
    type: str
    required: true
  mtu:
    description:
      - Maximum transmission unit in bytes, 1300 to 8896. V(8896) (jumbo frames) helps bulk transfers within one
        subnetwork; the API's default is 1460.
      - Changed in place; running instances see the new MTU after they restart.
    type: int
  routing_mode:
    description: Dynamic routing mode of the network's Cloud Routers (C(routingConfig.routingMode)).
    type: str
    choices: [REGIONAL, GLOBAL]
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.compute_resource
"""

EXAMPLES = r"""
- name: The trading VPC, custom mode, jumbo frames
  nearzero.gcp.compute_network:
    project: prod-net
    name: trading
    mtu: 8896
    routing_mode: REGIONAL
  delegate_to: localhost
"""

RETURN = r"""
resource:
  description: The network as the API shows it after the run (in check mode, as it would be); null when absent.
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

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute_resource import (
    module_options,
    resource_for,
    run,
)
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

IMMUTABLE = {
    "autoCreateSubnetworks": "an auto-mode network becomes custom mode only one way, with "
                             "`gcloud compute networks update NAME --switch-to-custom-subnet-mode`",
}


def main() -> None:
    """Ensure the network."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "mtu": {"type": "int"},
            "routing_mode": {"type": "str", "choices": ["REGIONAL", "GLOBAL"]},
            **module_options(),
        },
        supports_check_mode=True,
    )
    params = module.params
    if params["mtu"] is not None and not 1300 <= params["mtu"] <= 8896:
        module.fail_json(msg=f"mtu {params['mtu']} is outside 1300..8896 (the range a VPC network takes); "
                             "use 1460 (the default) or up to 8896 for jumbo frames")

    def build():
        desired = {"autoCreateSubnetworks": False}
        if params["mtu"] is not None:
            desired["mtu"] = params["mtu"]
        if params["routing_mode"]:
            desired["routingConfig"] = {"routingMode": params["routing_mode"]}
        resource = resource_for(module, "global", "networks", params["name"], kind="network", immutable=IMMUTABLE,
                                permission="compute.networks")
        return resource, desired

    run(module, build)


if __name__ == "__main__":
    main()
