# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options every Compute resource module takes besides its own (compute_resource.module_options)."""

from __future__ import annotations


class ModuleDocFragment:
    """Documented once: state, the Operation timeout and the Compute endpoint."""

    DOCUMENTATION = r"""
options:
  state:
    description: V(present) creates or corrects the resource, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description: Seconds to wait for each Operation before failing with its name.
    type: float
    default: 300
  api_endpoint:
    description:
      - Base URL of the Compute Engine API (C(/compute/v1) is appended). Every request, Operation polls included,
        goes there, never to the host an Operation's C(selfLink) names.
      - When not set, the environment variable E(GCP_COMPUTE_ENDPOINT) is used.
    type: str
    default: https://compute.googleapis.com
"""
