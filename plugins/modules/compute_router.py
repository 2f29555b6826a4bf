#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module compute_router: ensure a Cloud Router with its Cloud NAT."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_router
short_description: Ensure a Cloud Router and its Cloud NAT (hosts without external IP addresses reach the internet)
description:
  - Creates the Cloud Router in O(region) on O(network) with one Cloud NAT (automatic NAT addresses), so hosts
    without external IP addresses reach package mirrors; corrects the NAT in place (C(routers.patch), the router
    then has exactly this NAT); deletes the router with O(state=absent).
  - The network cannot be changed in place (the task fails and says what it would take).
  - Supports check mode (nothing is sent; the result says what would change) and diff mode.
  - Run it on the controller.
options:
  project:
    description: Project ID.
    type: str
    required: true
  region:
    description: Region of the router (for example V(us-east4)); the NAT serves this region's subnetworks.
    type: str
    required: true
  name:
    description: Router name.
    type: str
    required: true
  network:
    description:
      - The VPC network, by name (in O(project)), C(projects/P/global/networks/N) or URL.
      - Required with O(state=present).
    type: str
  nat:
    description: The router's Cloud NAT. Omitted, the router's NATs are left alone.
    type: dict
    suboptions:
      name:
        description: NAT name.
        type: str
        required: true
      source_subnetwork_ip_ranges:
        description:
          - Which ranges the NAT serves (C(sourceSubnetworkIpRangesToNat)). With V(LIST_OF_SUBNETWORKS) list them
            in O(nat.subnetworks).
        type: str
        choices: [ALL_SUBNETWORKS_ALL_IP_RANGES, ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES, LIST_OF_SUBNETWORKS]
        default: ALL_SUBNETWORKS_ALL_IP_RANGES
      subnetworks:
        description: Subnetworks (names in the router's region, or paths) served with V(LIST_OF_SUBNETWORKS).
        type: list
        elements: str
      min_ports_per_vm:
        description: Minimum ports allocated to each VM (2 to 65536; the API's default is 64).
        type: int
      log:
        description: What the NAT logs (C(logConfig.filter)); V(NONE) turns logging off.
        type: str
        choices: [NONE, ERRORS_ONLY, TRANSLATIONS_ONLY, ALL]
        default: ERRORS_ONLY
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.compute_resource
"""

EXAMPLES = r"""
- name: Cloud NAT for the trading subnetwork
  nearzero.gcp.compute_router:
    project: prod-net
    region: us-east4
    name: trading-nat-router
    network: trading
    nat:
      name: trading-nat
      min_ports_per_vm: 128
      log: ERRORS_ONLY
  delegate_to: localhost
"""

RETURN = r"""
resource:
  description: The router as the API shows it after the run (in check mode, as it would be); null when absent.
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
    network_link,
    resource_for,
    run,
)
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

IMMUTABLE = {"network": "a router never moves to another network: delete it and create it on the new one"}


def nat_body(project: str, region: str, nat: dict) -> dict:
    """The Router.Nat the API takes for the ``nat`` option."""
    body = {
        "name": nat["name"],
        "natIpAllocateOption": "AUTO_ONLY",
        "sourceSubnetworkIpRangesToNat": nat["source_subnetwork_ip_ranges"],
        "logConfig": {"enable": False} if nat["log"] == "NONE" else {"enable": True, "filter": nat["log"]},
    }
    if nat["source_subnetwork_ip_ranges"] == "LIST_OF_SUBNETWORKS":
        body["subnetworks"] = [
            {"name": sub if "/" in sub else f"projects/{project}/regions/{region}/subnetworks/{sub}",
             "sourceIpRangesToNat": ["ALL_IP_RANGES"]}
            for sub in nat["subnetworks"]
        ]
    if nat["min_ports_per_vm"] is not None:
        body["minPortsPerVm"] = nat["min_ports_per_vm"]
    return body


def main() -> None:
    """Ensure the router and its NAT."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "region": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "network": {"type": "str"},
            "nat": {"type": "dict", "options": {
                "name": {"type": "str", "required": True},
                "source_subnetwork_ip_ranges": {
                    "type": "str", "default": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                    "choices": ["ALL_SUBNETWORKS_ALL_IP_RANGES", "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES",
                                "LIST_OF_SUBNETWORKS"]},
                "subnetworks": {"type": "list", "elements": "str"},
                "min_ports_per_vm": {"type": "int"},
                "log": {"type": "str", "default": "ERRORS_ONLY",
                        "choices": ["NONE", "ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL"]},
            }},
            **module_options(),
        },
        required_if=[("state", "present", ("network",))],
        supports_check_mode=True,
    )
    params = module.params
    nat = params["nat"]
    if nat:
        listed = nat["source_subnetwork_ip_ranges"] == "LIST_OF_SUBNETWORKS"
        if listed != bool(nat["subnetworks"]):
            module.fail_json(msg="nat.subnetworks goes with nat.source_subnetwork_ip_ranges=LIST_OF_SUBNETWORKS "
                                 "(and that needs at least one subnetwork): set both or neither")
        if nat["min_ports_per_vm"] is not None and not 2 <= nat["min_ports_per_vm"] <= 65536:
            module.fail_json(msg=f"nat.min_ports_per_vm {nat['min_ports_per_vm']} is outside 2..65536")

    def build():
        desired = {}
        if params["state"] == "present":
            desired = {"network": network_link(params["project"], params["network"])}
            if nat:
                desired["nats"] = [nat_body(params["project"], params["region"], nat)]
        resource = resource_for(module, f"regions/{params['region']}", "routers", params["name"], kind="router",
                                immutable=IMMUTABLE, unordered=("nats.subnetworks",), permission="compute.routers")
        return resource, desired

    run(module, build)


if __name__ == "__main__":
    main()
