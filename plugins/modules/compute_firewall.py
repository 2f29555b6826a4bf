#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module compute_firewall: ensure a VPC firewall rule."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_firewall
short_description: Ensure a VPC firewall rule (direction, priority, sources, targets, allowed ports)
description:
  - Creates the rule, or corrects its priority, sources, target tags, allowed protocols and ports, and description
    in place (C(firewalls.patch)); deletes it with O(state=absent).
  - VPC firewall rules are enforced in each VM's virtual NIC by the host, so they add no hop to the path between
    the trading hosts and the exchange.
  - Source ranges and target tags compare as sets; the network and the direction cannot be changed in place (the
    task fails and says what it would take).
  - Supports check mode (nothing is sent; the result says what would change) and diff mode.
  - Run it on the controller.
options:
  project:
    description: Project ID.
    type: str
    required: true
  name:
    description: Rule name.
    type: str
    required: true
  network:
    description:
      - The VPC network, by name (in O(project)), C(projects/P/global/networks/N) or URL.
      - Required with O(state=present).
    type: str
  direction:
    description: Traffic direction the rule applies to.
    type: str
    choices: [INGRESS, EGRESS]
    default: INGRESS
  priority:
    description: Priority, 0 (highest) to 65535.
    type: int
    default: 1000
  source_ranges:
    description:
      - IPv4 ranges traffic may come from (ingress), for example V(35.235.240.0/20) (Identity-Aware Proxy's TCP
        forwarding range, for SSH without external IP addresses).
      - Omitted on an ingress rule without other sources, the API takes V(0.0.0.0/0); set it.
    type: list
    elements: str
  source_tags:
    description: Network tags of the instances traffic may come from (ingress), besides O(source_ranges).
    type: list
    elements: str
  target_tags:
    description: Network tags of the instances the rule applies to; omitted, it applies to every instance.
    type: list
    elements: str
  allowed:
    description: What the rule allows; at least one entry with O(state=present).
    type: list
    elements: dict
    suboptions:
      protocol:
        description: V(tcp), V(udp), V(icmp), V(sctp), V(all) or an IP protocol number.
        type: str
        required: true
      ports:
        description: Ports or ranges (V(22), V(9000-9100)); only for tcp, udp and sctp. Omitted, every port.
        type: list
        elements: str
  description:
    description: Free text shown with the rule.
    type: str
  log:
    description: Log the connections the rule matches (Firewall Rules Logging, C(logConfig.enable)).
    type: bool
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.compute_resource
"""

EXAMPLES = r"""
- name: SSH only through Identity-Aware Proxy
  nearzero.gcp.compute_firewall:
    project: prod-net
    name: trading-ssh-iap
    network: trading
    source_ranges: [35.235.240.0/20]
    target_tags: [trading-engine]
    allowed:
      - protocol: tcp
        ports: ["22"]
  delegate_to: localhost

- name: Application ports inside the VPC
  nearzero.gcp.compute_firewall:
    project: prod-net
    name: trading-internal
    network: trading
    priority: 900
    source_ranges: [10.10.0.0/24]
    target_tags: [trading-engine]
    allowed:
      - protocol: tcp
        ports: ["9000-9100"]
  delegate_to: localhost
"""

RETURN = r"""
resource:
  description: The firewall rule as the API shows it after the run (in check mode, as it would be); null when absent.
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

IMMUTABLE = {
    "network": "a firewall rule never moves to another network: delete it and create it on the new one",
    "direction": "the direction of a rule is fixed: delete it and create it again",
}
PORT_PROTOCOLS = ("tcp", "udp", "sctp", "6", "17", "132")


def main() -> None:
    """Ensure the firewall rule."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "network": {"type": "str"},
            "direction": {"type": "str", "default": "INGRESS", "choices": ["INGRESS", "EGRESS"]},
            "priority": {"type": "int", "default": 1000},
            "source_ranges": {"type": "list", "elements": "str"},
            "source_tags": {"type": "list", "elements": "str"},
            "target_tags": {"type": "list", "elements": "str"},
            "allowed": {"type": "list", "elements": "dict", "options": {
                "protocol": {"type": "str", "required": True},
                "ports": {"type": "list", "elements": "str"},
            }},
            "description": {"type": "str"},
            "log": {"type": "bool"},
            **module_options(),
        },
        required_if=[("state", "present", ("network", "allowed"))],
        supports_check_mode=True,
    )
    params = module.params
    problems = []
    if not 0 <= params["priority"] <= 65535:
        problems.append(f"priority {params['priority']} is outside 0..65535")
    for value in params["source_ranges"] or ():
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            problems.append(f"source_ranges entry {value!r} is not an address range (write it as 10.0.0.0/8)")
    for rule in params["allowed"] or ():
        if rule["ports"] and rule["protocol"].lower() not in PORT_PROTOCOLS:
            problems.append(f"allowed protocol {rule['protocol']!r} takes no ports (only tcp, udp and sctp do)")
    if params["state"] == "present" and not params["allowed"]:
        problems.append("allowed is empty: list at least one protocol the rule allows")
    if problems:
        module.fail_json(msg="; ".join(problems))

    def build():
        desired = {}
        if params["state"] == "present":
            desired = {
                "network": network_link(params["project"], params["network"]),
                "direction": params["direction"],
                "priority": params["priority"],
                "allowed": [dict({"IPProtocol": rule["protocol"].lower()},
                                 **({"ports": list(rule["ports"])} if rule["ports"] else {}))
                            for rule in params["allowed"]],
            }
            if params["source_ranges"] is not None:
                desired["sourceRanges"] = list(params["source_ranges"])
            if params["source_tags"] is not None:
                desired["sourceTags"] = list(params["source_tags"])
            if params["target_tags"] is not None:
                desired["targetTags"] = list(params["target_tags"])
            if params["log"] is not None:
                desired["logConfig"] = {"enable": params["log"]}
            if params["description"] is not None:
                desired["description"] = params["description"]
        resource = resource_for(module, "global", "firewalls", params["name"], kind="firewall rule",
                                immutable=IMMUTABLE, unordered=("sourceRanges", "sourceTags", "targetTags", "allowed"),
                                permission="compute.firewalls")
        return resource, desired

    run(module, build)


if __name__ == "__main__":
    main()
