# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The option every Cloud SQL module takes besides its own (sqladmin.endpoint_option)."""

from __future__ import annotations


class ModuleDocFragment:
    """Documented once: where the SQL Admin API is."""

    DOCUMENTATION = r"""
options:
  api_endpoint:
    description:
      - Base URL of the SQL Admin API (C(/v1) is appended). Every request, Operation polls included, goes there,
        never to the host an Operation's C(selfLink) names.
      - When not set, the environment variable E(GCP_SQLADMIN_ENDPOINT) is used.
    type: str
    default: https://sqladmin.googleapis.com
"""
