#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Download a Cloud Storage object to a local file, verified against its sha256."""

from __future__ import annotations

DOCUMENTATION = r"""
module: gcs_object
short_description: Download a gs:// object, verified against a sha256
description:
  - Downloads O(src) through the Cloud Storage JSON API (C(objects.get) with C(alt=media)) using the shared
    nearzero GCP client, and writes it to O(dest) only when its sha256 equals O(sha256). The file is written
    to a temporary name and renamed, so O(dest) is never partial and a mismatch leaves it untouched.
  - When O(dest) already holds a file with the expected sha256 nothing is requested (C(changed=false)).
  - Runs where the task runs; the trading_engine role delegates it to the controller.
version_added: 0.1.0
author: nearzero (!UNKNOWN)
options:
  src:
    description: The object, as C(gs://BUCKET/OBJECT).
    type: str
    required: true
  dest:
    description: Local file to write. Its directory must exist.
    type: path
    required: true
  sha256:
    description: Expected sha256 of the object (64 hex digits).
    type: str
    required: true
  endpoint:
    description:
      - Base URL of the Cloud Storage JSON API.
      - When not set, the environment variable E(GCP_STORAGE_ENDPOINT) is used.
    type: str
    default: https://storage.googleapis.com
extends_documentation_fragment:
  - nearzero.gcp.gcp_auth.modules
"""

EXAMPLES = r"""
- name: Fetch a release artifact on the controller
  nearzero.gcp.gcs_object:
    src: gs://acme-releases/engine/nearzero-engine-1.4.0.tar.gz
    dest: /var/cache/nearzero/nearzero-engine-1.4.0.tar.gz
    sha256: 4f1c9d0c1b5e...
    auth_kind: serviceaccount
    service_account_file: /etc/nearzero/deployer.json
  delegate_to: localhost

- name: The credential once for every nearzero.gcp module of the play
  module_defaults:
    group/nearzero.gcp.gcp:
      auth_kind: impersonate
      impersonate_service_account: releases-reader@acme-prod.iam.gserviceaccount.com
  block:
    - name: Fetch the artifact as the releases reader
      nearzero.gcp.gcs_object:
        src: gs://acme-releases/engine/nearzero-engine-1.4.0.tar.gz
        dest: /var/cache/nearzero/nearzero-engine-1.4.0.tar.gz
        sha256: 4f1c9d0c1b5e...
      delegate_to: localhost
"""

RETURN = r"""
dest: {description: The file written or found., type: str, returned: always}
sha256: {description: sha256 of O(dest)., type: str, returned: success}
size: {description: Size in bytes., type: int, returned: success}
generation: {description: Generation of the object downloaded (absent when nothing was downloaded)., type: str,
             returned: when downloaded}
"""

import hashlib
import os
import re

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.storage import StorageApi, parse_gs_url


def file_sha256(path: str) -> str:
    """sha256 of a local file, read in 1 MiB blocks so a large artifact is never held in memory whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    """Download and verify, or do nothing when dest already holds the expected bytes."""
    module = AnsibleGcpModule(
        argument_spec={
            "src": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "sha256": {"type": "str", "required": True},
            "endpoint": {"type": "str", "default": "https://storage.googleapis.com",
                         "fallback": (env_fallback, ["GCP_STORAGE_ENDPOINT"])},
        },
        supports_check_mode=True,
    )
    params = module.params
    dest = params["dest"]
    expected = params["sha256"].lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        module.fail_json(msg=f"sha256 must be 64 hexadecimal digits, got {params['sha256']!r}")
    try:
        bucket, name = parse_gs_url(params["src"])
    except GcpError as exc:
        module.fail_gcp(exc)
    if os.path.isfile(dest) and file_sha256(dest) == expected:
        module.exit_json(changed=False, dest=dest, sha256=expected, size=os.path.getsize(dest))
    if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        module.fail_json(msg=f"the directory of dest {dest} does not exist; create it first")
    if module.check_mode:
        module.exit_json(changed=True, dest=dest)
    try:
        result = StorageApi(module.client(), params["endpoint"]).download(bucket, name, dest, expected)
    except GcpError as exc:
        module.fail_gcp(exc)
    module.exit_json(changed=True, dest=dest, **result)


if __name__ == "__main__":
    main()
