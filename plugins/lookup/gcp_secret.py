# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup plugin gcp_secret: read Secret Manager secret versions, CRC32C-checked."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gcp_secret
short_description: Read a Secret Manager secret version, checking its CRC32C
description:
  - Returns the payload of each named secret version as a string (UTF-8), after checking the payload against
    the C(dataCrc32c) checksum Secret Manager sends with it. A payload that fails the check is refused.
  - The value is never written to a log or an error message; still use C(no_log) on tasks that receive it.
  - All calls share one authorised session per credential (nearzero.gcp shared client).
options:
  _terms:
    description:
      - Secret IDs (with O(project), and O(location) for a regional secret) or full names
        C(projects/P/secrets/S[/versions/V]) (global secrets) or C(projects/P/locations/L/secrets/S[/versions/V])
        (regional secrets). C(P) is the project ID or the project number, as Secret Manager writes names.
    required: true
    type: list
    elements: str
  project:
    description: Project (ID or number) of secrets given by ID.
    type: str
    env:
      - name: GCP_PROJECT
  location:
    description:
      - Location (a region such as V(europe-west3)) of regional secrets given by ID. Unset, secrets given by ID
        are global. Full names carry their own location.
    type: str
  version:
    description: Version of secrets given without one (a number or V(latest)).
    type: str
    default: latest
  api_endpoint:
    description:
      - Base URL of the Secret Manager API (C(/v1) is appended).
      - Regional secrets are served by the location's own endpoint. With the default, a regional secret of
        location C(L) is read from C(https://secretmanager.L.rep.googleapis.com); an endpoint containing
        C({location}) gets the location filled in; any other endpoint (a private one) is used as is for both.
    type: str
    default: https://secretmanager.googleapis.com
    env:
      - name: GCP_SECRETMANAGER_ENDPOINT
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth
notes:
  - Needs the Secret Manager Secret Accessor role (C(secretmanager.versions.access)) on the secret.
  - Secret Manager accepts only the C(https://www.googleapis.com/auth/cloud-platform) OAuth scope. With
    O(auth_kind=machineaccount) the token carries the VM's access scopes, so the VM's service account needs the
    cloud-platform scope ("Allow full access to all Cloud APIs"); otherwise the lookup fails naming the missing
    scope and that fix.
"""

EXAMPLES = r"""
- name: Engine database password
  ansible.builtin.set_fact:
    engine_db_password: "{{ lookup('nearzero.gcp.gcp_secret', 'nearzero-db-password', project='prod-db') }}"
  no_log: true

- name: A pinned version by full name
  ansible.builtin.debug:
    msg: "{{ lookup('nearzero.gcp.gcp_secret', 'projects/prod-db/secrets/api-key/versions/3') | length }} bytes"

- name: A regional secret kept in Europe (read from secretmanager.europe-west3.rep.googleapis.com)
  ansible.builtin.set_fact:
    engine_db_password: "{{ lookup('nearzero.gcp.gcp_secret', 'nearzero-db-password', project='prod-db',
                            location='europe-west3') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: The payload of each secret version, decoded as UTF-8.
  type: list
  elements: str
"""

from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.client import client_from_options
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.secretmanager import SecretManagerApi, parse_name


class LookupModule(LookupBase):
    """Read secret versions through the shared client."""

    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
        """Return one decoded payload per term."""
        self.set_options(var_options=variables, direct=kwargs)
        # set_options ignores keywords it does not know: a misspelt credential option would
        # silently fall back to application default credentials, another identity
        unknown = sorted(set(kwargs) - set(self._options))
        if unknown:
            raise AnsibleLookupError(f"gcp_secret: unknown option(s) {', '.join(unknown)}. Valid options: "
                                     f"{', '.join(sorted(set(self._options) - {'_terms'}))}.")
        try:
            api = SecretManagerApi(client_from_options(self.get_option), self.get_option("api_endpoint"),
                                   auth_kind=self.get_option("auth_kind"))
            values = []
            for term in terms:
                project, location, secret, version = parse_name(str(term), self.get_option("project"),
                                                                str(self.get_option("version")),
                                                                self.get_option("location"))
                raw = api.access(project, secret, version, location)
                try:
                    values.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise GcpError(f"Secret '{secret}' (version {version}) in project '{project}' is binary, not "
                                   "UTF-8 text; this lookup returns text only.", kind="bad_request") from None
        except GcpError as exc:
            raise AnsibleLookupError(f"gcp_secret: {exc}") from None
        return values
