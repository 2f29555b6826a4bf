#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module compute_resource_policy: a compact placement policy (group placement) for low-latency VMs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_resource_policy
short_description: Ensure a Compute Engine compact placement policy (resource policy with group placement)
description:
  - Creates the regional resource policy with C(groupPlacementPolicy) when it does not exist, and waits for the
    region Operation; O(state=absent) deletes it (Compute refuses while instances use it).
  - Compute cannot change a placement policy in place. A policy whose settings differ is reported with what it
    would take (detach its instances while stopped, delete the policy, create it again, attach them) and the task
    fails; nothing is changed.
  - C(maxDistance) exists only in Compute's beta API; this module uses v1, so compact placement is best effort.
  - Supports check mode and diff mode. Run it on the controller.
options:
  project: {description: "Project ID.", type: str, required: true}
  region: {description: "Region (for example V(us-east4)).", type: str, required: true}
  name: {description: "Policy name.", type: str, required: true}
  description: {description: "Description.", type: str}
  group_placement:
    description: The placement.
    type: dict
    default: {}
    suboptions:
      collocation: {description: "V(COLLOCATED) keeps the VMs close (compact placement).", type: str,
                    choices: [COLLOCATED, UNSPECIFIED_COLLOCATION], default: COLLOCATED}
      vm_count: {description: "Number of VMs the policy is meant for (C(vmCount)); omit for no fixed count.", type: int}
  state: {description: "Present or absent.", type: str, choices: [present, absent], default: present}
  wait_timeout: {description: "Seconds to wait for each Operation.", type: float, default: 300}
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
- name: The engines' compact placement policy
  nearzero.gcp.compute_resource_policy:
    project: acme-trading
    region: us-east4
    name: engines-compact
    group_placement: {collocation: COLLOCATED}
  delegate_to: localhost
"""

RETURN = r"""
resource:
  description: The policy as the API returns it (as it would be, in check mode; null when absent).
  type: dict
  returned: always
created:
  description: Whether the policy was (or would be) created.
  type: bool
  returned: always
operations:
  description: Names of the Operations that finished.
  type: list
  elements: str
  returned: always
"""

from typing import Any

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute_resource import DEFAULT_ENDPOINT, ComputeResource
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

RECREATE = ("Compute cannot change a resource policy in place: stop its instances, remove the policy from them "
            "(removeResourcePolicies), delete it, create it with the new settings and add it back")


def desired(params: dict[str, Any]) -> dict[str, Any]:
    """The policy in the API's shape, with only what the options set."""
    placement = params["group_placement"]
    group: dict[str, Any] = {"collocation": placement["collocation"]}
    if placement["vm_count"] is not None:
        group["vmCount"] = placement["vm_count"]
    body: dict[str, Any] = {"groupPlacementPolicy": group}
    if params["description"] is not None:
        body["description"] = params["description"]
    return body


def main() -> None:
    """Create, compare (a difference fails with what it would take) or delete the policy."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "region": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "description": {"type": "str"},
            "group_placement": {"type": "dict", "default": {}, "options": {
                "collocation": {"type": "str", "choices": ["COLLOCATED", "UNSPECIFIED_COLLOCATION"],
                                "default": "COLLOCATED"},
                "vm_count": {"type": "int"},
            }},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "wait_timeout": {"type": "float", "default": 300},
            "api_endpoint": {"type": "str", "default": DEFAULT_ENDPOINT,
                             "fallback": (env_fallback, ["GCP_COMPUTE_ENDPOINT"])},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        policy = ComputeResource(
            module.client(), params["project"], f"regions/{params['region']}", "resourcePolicies", params["name"],
            endpoint=params["api_endpoint"], kind="resource policy", timeout=params["wait_timeout"],
            immutable={"groupPlacementPolicy": RECREATE, "description": RECREATE}, check_mode=module.check_mode)
        result = policy.ensure_absent() if params["state"] == "absent" else policy.ensure(desired(params))
    except GcpError as exc:
        module.fail_gcp(exc)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
