#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module cloudsql_instance_info: read a Cloud SQL instance, its connect settings and server CAs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudsql_instance_info
short_description: Read a Cloud SQL instance, its connection settings and its server CA bundle
description:
  - Reads a Cloud SQL instance through the SQL Admin API v1 and, on request, its connect settings
    (C(connectSettings)) and every server CA certificate (C(listServerCas) - current, next, rotated out).
  - Returns the facts a client needs to connect directly over private IP without the Auth Proxy
    (private IP, public IPs, DNS name, whole CA bundle, server CA mode).
  - "Run it on the controller (C(delegate_to: localhost)); it changes nothing."
options:
  project:
    description: Project ID of the instance.
    type: str
    required: true
  name:
    description: Instance name.
    type: str
    required: true
  connect_settings:
    description: Also read the connect settings (needs C(cloudsql.instances.connect)).
    type: bool
    default: false
  server_cas:
    description: Also read every server CA certificate and return them as one PEM bundle.
    type: bool
    default: false
  login_token:
    description:
      - Also return an OAuth access token with scope C(sqlservice.login) and the database user name for IAM
        database authentication (the token is the password). Use C(no_log) on the task.
    type: bool
    default: false
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
  - nearzero.gcp.sqladmin
"""

EXAMPLES = r"""
- name: Read the primary's connection facts
  nearzero.gcp.cloudsql_instance_info:
    project: prod-db
    name: orders-us
    connect_settings: true
    server_cas: true
  delegate_to: localhost
  run_once: true
  register: db

- name: The credential once for every nearzero.gcp module of the play
  module_defaults:
    group/nearzero.gcp.gcp:
      auth_kind: serviceaccount
      service_account_file: /etc/nearzero/reader.json
  block:
    - name: IAM database login for the engine (the token is a credential)
      nearzero.gcp.cloudsql_instance_info:
        project: prod-db
        name: orders-us
        login_token: true
      delegate_to: localhost
      run_once: true
      no_log: true
      register: db_login
"""

RETURN = r"""
exists:
  description: Whether the instance exists.
  type: bool
  returned: always
instance:
  description: The DatabaseInstance resource (empty when it does not exist).
  type: dict
  returned: always
connect_settings:
  description: The ConnectSettings resource.
  type: dict
  returned: when O(connect_settings=true)
server_cas:
  description: Every server CA as SslCert dicts.
  type: list
  elements: dict
  returned: when O(server_cas=true)
ca_bundle:
  description: The PEM bundle of every server CA, the current one first.
  type: str
  returned: when O(server_cas=true)
private_ip:
  description: The private (PRIVATE) IP address, or an empty string.
  type: str
  returned: when the instance exists
public_ips:
  description: Public (PRIMARY) IP addresses.
  type: list
  elements: str
  returned: when the instance exists
dns_name:
  description: The instance's DNS name without the trailing dot, or an empty string.
  type: str
  returned: when the instance exists
server_ca_mode:
  description: C(settings.ipConfiguration.serverCaMode) (or the connect settings' value).
  type: str
  returned: when the instance exists
is_replica:
  description: Whether the instance is a read replica.
  type: bool
  returned: when the instance exists
login_user:
  description: Database user of the credential for IAM authentication.
  type: str
  returned: when O(login_token=true)
login_token:
  description: Access token with scope sqlservice.login (a credential).
  type: str
  returned: when O(login_token=true)
"""

from typing import Any

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.sqladmin import (
    LOGIN_SCOPE,
    SqlAdminApi,
    endpoint_option,
    private_ip,
    public_ips,
)


def login_identity(module: AnsibleGcpModule) -> tuple[str, str]:
    """(database user, access token) for IAM database authentication with this task's credential."""
    client = module.client(scopes=[LOGIN_SCOPE])
    token = client.ensure_token()
    creds = client.credentials
    email = getattr(creds, "service_account_email", None) or getattr(creds, "signer_email", None) or ""
    if not email or email == "default":
        raise GcpError("Cannot tell the database user of this credential for IAM authentication. Use a service "
                       "account credential (serviceaccount, impersonate or machineaccount).", kind="credentials")
    # Cloud SQL's IAM user for a service account is its e-mail without ".gserviceaccount.com"
    return email.removesuffix(".gserviceaccount.com"), token


def main() -> None:
    """Read the instance and report its connection facts."""
    module = AnsibleGcpModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "connect_settings": {"type": "bool", "default": False},
            "server_cas": {"type": "bool", "default": False},
            "login_token": {"type": "bool", "default": False, "no_log": False},
            **endpoint_option(),
        },
        supports_check_mode=True,
    )
    params = module.params
    project, name = params["project"], params["name"]
    try:
        api = SqlAdminApi(module.client(), params["api_endpoint"])
        instance = api.get_instance(project, name)
        if instance is None:
            if params["connect_settings"] or params["server_cas"]:
                module.fail_json(msg=f"Cloud SQL instance '{name}' does not exist in project '{project}'. Check the "
                                     f"name with `gcloud sql instances list --project {project}`.")
            module.exit_json(changed=False, exists=False, instance={})
        result: dict[str, Any] = {
            "changed": False, "exists": True, "instance": instance,
            "private_ip": private_ip(instance) or "", "public_ips": public_ips(instance),
            "dns_name": (instance.get("dnsName") or "").rstrip("."),
            "server_ca_mode": ((instance.get("settings") or {}).get("ipConfiguration") or {}).get("serverCaMode", ""),
            "is_replica": bool(instance.get("masterInstanceName")),
        }
        if params["connect_settings"]:
            settings = api.connect_settings(project, name)
            result["connect_settings"] = settings
            result["private_ip"] = private_ip(settings) or result["private_ip"]
            result["public_ips"] = public_ips(settings)
            result["dns_name"] = (settings.get("dnsName") or result["dns_name"]).rstrip(".")
            result["server_ca_mode"] = settings.get("serverCaMode") or result["server_ca_mode"]
        if params["server_cas"]:
            certs = api.server_cas(project, name)
            if not certs:
                module.fail_json(msg=f"Cloud SQL instance '{name}' in project '{project}' returned no server CA "
                                     "certificate; a client cannot verify it.")
            result["server_cas"] = certs
            result["ca_bundle"] = "".join(c["cert"].strip() + "\n" for c in certs if c.get("cert"))
        if params["login_token"]:
            result["login_user"], result["login_token"] = login_identity(module)
    except GcpError as exc:
        module.fail_gcp(exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
