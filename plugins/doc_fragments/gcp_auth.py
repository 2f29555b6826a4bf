# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the GCP credential and HTTP options (nearzero.gcp.gcp_auth).

The options are defined once, as an argument spec, in plugins/module_utils/gcp/arguments.py;
this is their documentation, and tests/unit/plugins/module_utils/test_gcp_arguments.py fails
when the spec and either variant below disagree (names, types, choices, defaults, environment
variables), or when the variants' texts differ by more than the environment variables.

Two variants, because plugins and modules learn about environment variables differently:

- ``nearzero.gcp.gcp_auth`` (``DOCUMENTATION``), for plugins (inventory, lookups): Ansible's
  configuration system reads each option's ``env:`` entries.
- ``nearzero.gcp.gcp_auth.modules`` (``MODULES``), for modules: their environment fallback is in
  the argument spec, and module documentation may not carry ``env:`` (ansible-test's
  validate-modules refuses it), so each variable is named in the option's description instead.

Both are string literals: ansible-test reads doc fragments without importing them.
"""

from __future__ import annotations


class ModuleDocFragment:
    """Options read by plugins/module_utils/gcp (auth.build_credentials and GcpClient)."""

    DOCUMENTATION = r"""
options:
  auth_kind:
    description:
      - How to obtain credentials.
      - V(application) uses application default credentials (C(gcloud auth application-default login),
        E(GOOGLE_APPLICATION_CREDENTIALS), or the metadata server).
      - V(serviceaccount) uses a JSON key from O(service_account_file) or O(service_account_contents).
      - V(machineaccount) asks the GCE metadata server (set E(GCE_METADATA_HOST) to redirect it).
      - V(accesstoken) uses a ready OAuth2 access token from O(access_token); it cannot be refreshed.
      - V(impersonate) acts as O(impersonate_service_account) through the IAM Credentials API; the source
        credential is the service-account key when one is given, else O(access_token), else application
        default credentials.
    type: str
    choices: [application, serviceaccount, machineaccount, accesstoken, impersonate]
    default: application
    env:
      - name: GCP_AUTH_KIND
  service_account_file:
    description:
      - Path to a service-account JSON key. Templates (vault, lookups) are accepted.
    type: path
    env:
      - name: GCP_SERVICE_ACCOUNT_FILE
  service_account_contents:
    description:
      - The service-account JSON key itself, as a string or a dictionary, for example from a vault.
      - A credential, never logged.
    type: raw
    env:
      - name: GCP_SERVICE_ACCOUNT_CONTENTS
  service_account_email:
    description:
      - With O(auth_kind=machineaccount), the attached service account to use (default the VM's default one).
    type: str
    env:
      - name: GCP_SERVICE_ACCOUNT_EMAIL
  access_token:
    description:
      - OAuth2 access token for O(auth_kind=accesstoken), or the source token for O(auth_kind=impersonate).
      - A credential, never logged.
    type: str
    env:
      - name: GCP_ACCESS_TOKEN
  impersonate_service_account:
    description:
      - E-mail of the service account to impersonate with O(auth_kind=impersonate). The source credential needs
        the Service Account Token Creator role on it.
    type: str
    env:
      - name: GCP_IMPERSONATE_SERVICE_ACCOUNT
  impersonate_delegates:
    description:
      - Chain of service accounts between the source credential and O(impersonate_service_account).
    type: list
    elements: str
    default: []
  iam_endpoint:
    description:
      - Base URL of the IAM Credentials API used for impersonation (C(generateAccessToken)).
    type: str
    default: https://iamcredentials.googleapis.com
    env:
      - name: GCP_IAM_ENDPOINT
  scopes:
    description:
      - OAuth2 scopes requested for the access token.
    type: list
    elements: str
    default: ['https://www.googleapis.com/auth/cloud-platform']
  timeout:
    description:
      - Seconds to wait for each HTTP request (connect and read).
    type: float
    default: 30
  retries:
    description:
      - How many times a request is retried after HTTP 429, 5xx, a rate-limit 403, a malformed body or a
        connection error, with exponential backoff and full jitter.
    type: int
    default: 5
  retry_backoff:
    description:
      - Base delay in seconds of the exponential backoff; attempt N sleeps a random time up to
        min(O(retry_backoff_max), O(retry_backoff) * 2^N).
    type: float
    default: 0.5
  retry_backoff_max:
    description:
      - Upper bound in seconds of one backoff sleep (also caps C(Retry-After)).
    type: float
    default: 16
requirements:
  - requests
  - google-auth >= 2.0
notes:
  - One HTTP session and one access token are kept per credential and reused for every request; the token
    is fetched again only when it expires or the API answers 401.
  - Errors name the project, the missing permission or disabled API, and the fix.
"""

    MODULES = r"""
options:
  auth_kind:
    description:
      - How to obtain credentials.
      - V(application) uses application default credentials (C(gcloud auth application-default login),
        E(GOOGLE_APPLICATION_CREDENTIALS), or the metadata server).
      - V(serviceaccount) uses a JSON key from O(service_account_file) or O(service_account_contents).
      - V(machineaccount) asks the GCE metadata server (set E(GCE_METADATA_HOST) to redirect it).
      - V(accesstoken) uses a ready OAuth2 access token from O(access_token); it cannot be refreshed.
      - V(impersonate) acts as O(impersonate_service_account) through the IAM Credentials API; the source
        credential is the service-account key when one is given, else O(access_token), else application
        default credentials.
      - When not set, the environment variable E(GCP_AUTH_KIND) is used.
    type: str
    choices: [application, serviceaccount, machineaccount, accesstoken, impersonate]
    default: application
  service_account_file:
    description:
      - Path to a service-account JSON key. Templates (vault, lookups) are accepted.
      - When not set, the environment variable E(GCP_SERVICE_ACCOUNT_FILE) is used.
    type: path
  service_account_contents:
    description:
      - The service-account JSON key itself, as a string or a dictionary, for example from a vault.
      - A credential, never logged.
      - When not set, the environment variable E(GCP_SERVICE_ACCOUNT_CONTENTS) is used.
    type: raw
  service_account_email:
    description:
      - With O(auth_kind=machineaccount), the attached service account to use (default the VM's default one).
      - When not set, the environment variable E(GCP_SERVICE_ACCOUNT_EMAIL) is used.
    type: str
  access_token:
    description:
      - OAuth2 access token for O(auth_kind=accesstoken), or the source token for O(auth_kind=impersonate).
      - A credential, never logged.
      - When not set, the environment variable E(GCP_ACCESS_TOKEN) is used.
    type: str
  impersonate_service_account:
    description:
      - E-mail of the service account to impersonate with O(auth_kind=impersonate). The source credential needs
        the Service Account Token Creator role on it.
      - When not set, the environment variable E(GCP_IMPERSONATE_SERVICE_ACCOUNT) is used.
    type: str
  impersonate_delegates:
    description:
      - Chain of service accounts between the source credential and O(impersonate_service_account).
    type: list
    elements: str
    default: []
  iam_endpoint:
    description:
      - Base URL of the IAM Credentials API used for impersonation (C(generateAccessToken)).
      - When not set, the environment variable E(GCP_IAM_ENDPOINT) is used.
    type: str
    default: https://iamcredentials.googleapis.com
  scopes:
    description:
      - OAuth2 scopes requested for the access token.
    type: list
    elements: str
    default: ['https://www.googleapis.com/auth/cloud-platform']
  timeout:
    description:
      - Seconds to wait for each HTTP request (connect and read).
    type: float
    default: 30
  retries:
    description:
      - How many times a request is retried after HTTP 429, 5xx, a rate-limit 403, a malformed body or a
        connection error, with exponential backoff and full jitter.
    type: int
    default: 5
  retry_backoff:
    description:
      - Base delay in seconds of the exponential backoff; attempt N sleeps a random time up to
        min(O(retry_backoff_max), O(retry_backoff) * 2^N).
    type: float
    default: 0.5
  retry_backoff_max:
    description:
      - Upper bound in seconds of one backoff sleep (also caps C(Retry-After)).
    type: float
    default: 16
requirements:
  - requests
  - google-auth >= 2.0
notes:
  - One HTTP session and one access token are kept per credential and reused for every request; the token
    is fetched again only when it expires or the API answers 401.
  - Errors name the project, the missing permission or disabled API, and the fix.
  - Every module that takes these options is in the action group C(nearzero.gcp.gcp); set them once for all of
    them with C(module_defaults) on C(group/nearzero.gcp.gcp).
"""
