#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Download a Cloud Storage object to a local file, verified against its sha256; read or write a JSON object."""

from __future__ import annotations

DOCUMENTATION = r"""
module: gcs_object
short_description: Download a gs:// object, verified against a sha256; read or write a small JSON object
description:
  - Downloads O(src) through the Cloud Storage JSON API (C(objects.get) with C(alt=media)) using the shared
    nearzero GCP client, and writes it to O(dest) only when its sha256 equals O(sha256). The file is written
    to a temporary name and renamed, so O(dest) is never partial and a mismatch leaves it untouched.
  - When O(dest) already holds a file with the expected sha256 nothing is requested (C(changed=false)).
  - Runs where the task runs; the trading_engine role delegates it to the controller.
  - With O(mode=read) it returns a small object's content and generation (both from the same generation), and
    C(exists=false) when there is none. Nothing changes.
  - With O(mode=write) it writes O(content_json) as the object (C(objects.insert), a media upload of
    C(application/json)). With O(if_generation_match) the write happens only if the live generation is that
    number (C(0) only if no live object exists), checked by Cloud Storage itself, so two writers that read the
    same generation cannot both win; the loser fails with C(kind=precondition_failed) and the generation it lost
    to. An object that already holds O(content_json) is not written (C(changed=false)). In check mode it reads
    the object and says what it would write.
  - The content read is returned as data; playbooks must treat it as untrusted and never template it.
version_added: 0.1.0
author: nearzero (!UNKNOWN)
options:
  src:
    description: The object, as C(gs://BUCKET/OBJECT).
    type: str
    required: true
  dest:
    description: Local file to write. Its directory must exist. Required with O(mode=download).
    type: path
  sha256:
    description: Expected sha256 of the object (64 hex digits). Required with O(mode=download).
    type: str
  mode:
    description:
      - V(download) fetches O(src) to O(dest), verified against O(sha256).
      - V(read) returns the object's content and generation.
      - V(write) writes O(content_json) as the object.
    type: str
    choices: [download, read, write]
    default: download
  content_json:
    description: The JSON document to write with O(mode=write).
    type: dict
  if_generation_match:
    description:
      - With O(mode=write), write only if the object's live generation is this number; V(0) writes only if
        no live object exists. Without it the write is unconditional.
    type: int
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

EXAMPLES += r"""
- name: Read a small JSON object and its generation
  nearzero.gcp.gcs_object:
    src: gs://acme-witness-us-central1/nearzero/active-region.json
    mode: read
  register: witness

- name: Replace it only if nobody changed it since it was read
  nearzero.gcp.gcs_object:
    src: gs://acme-witness-us-central1/nearzero/active-region.json
    mode: write
    content_json: {region: europe-west3, epoch: 8}
    if_generation_match: "{{ witness.generation }}"
"""

RETURN = r"""
dest: {description: The file written or found., type: str, returned: mode is download}
sha256: {description: sha256 of O(dest)., type: str, returned: success}
size: {description: Size in bytes., type: int, returned: success}
generation:
  description:
    - Generation of the object downloaded (absent when nothing was downloaded).
    - With O(mode=read), the generation read (C(0) when there is no object); with O(mode=write), the generation
      written or found (in check mode, the generation found).
  type: str
  returned: when downloaded, read or written
exists: {description: Whether the object exists (before a write)., type: bool, returned: mode is read or write}
content: {description: The object's content as text (untrusted data)., type: str, returned: mode is read and exists}
json:
  description: The object's content parsed as JSON, or null when it is not JSON (untrusted data).
  type: raw
  returned: mode is read and exists
previous:
  description: The JSON content the write replaced (untrusted data), null when there was none or it was not JSON.
  type: raw
  returned: mode is write
"""

import hashlib
import json
import os
import re
from urllib.parse import quote

from ansible.module_utils.basic import env_fallback
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.storage import StorageApi, parse_gs_url

READ_ONLY = "https://www.googleapis.com/auth/devstorage.read_only"
READ_WRITE = "https://www.googleapis.com/auth/devstorage.read_write"


def file_sha256(path: str) -> str:
    """sha256 of a local file, read in 1 MiB blocks so a large artifact is never held in memory whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_object(api: StorageApi, bucket: str, name: str) -> dict:
    """The object's generation and content, both of one generation; ``exists=False`` when there is none.

    The metadata names the live generation and the media read asks for exactly that one, so a write
    in between cannot pair one generation's number with another's content.
    """
    try:
        meta = api.metadata(bucket, name)
    except GcpError as exc:
        if exc.status == 404 and "bucket does not exist" not in str(exc):
            return {"exists": False, "generation": "0"}
        raise
    resp = api.client.request("GET", api._url(bucket, name), params={"alt": "media", "generation": meta["generation"]},
                              context=api._context(bucket, name))
    text = resp.content.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return {"exists": True, "generation": str(meta["generation"]), "content": text, "json": parsed}


def write_object(module: AnsibleGcpModule, api: StorageApi, bucket: str, name: str) -> None:
    """Write content_json unless the object already holds it; honour if_generation_match; exit the module."""
    params = module.params
    wanted = params["content_json"]
    match = params["if_generation_match"]
    found = read_object(api, bucket, name)
    result = {"exists": found["exists"], "previous": found.get("json"), "generation": found["generation"]}
    if found["exists"] and found["json"] == wanted:
        module.exit_json(changed=False, **result)
    if match is not None and str(match) != found["generation"]:
        module.fail_json(
            msg=f"gs://{bucket}/{name} is at generation {found['generation']}, not {match} as if_generation_match "
                "requires: someone wrote it after it was read, so this write would overwrite their change. Nothing "
                "was written. Fix: read it again, decide with what it holds now, and write with its generation.",
            kind="precondition_failed", **result)
    if module.check_mode:
        module.exit_json(changed=True, **result)
    query = {"uploadType": "media", "name": name}
    if match is not None:
        query["ifGenerationMatch"] = str(match)
    url = f"{api.endpoint}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
    context = {**api._context(bucket, name), "permission": "storage.objects.create",
               "role": "roles/storage.objectUser"}
    try:
        # a write is sent again only when it surely never reached the API: a repeat of one that
        # landed would be refused by its own precondition
        resp = api.client.request("POST", url, params=query, json=wanted, context=context, retry="unprocessed")
    except GcpError as exc:
        if exc.status != 412:
            raise
        now = read_object(api, bucket, name)
        if now["exists"] and now["json"] == wanted:  # another writer, or a lost response of ours, wrote the same
            module.exit_json(changed=False, **{**result, "generation": now["generation"]})
        module.fail_json(
            msg=f"gs://{bucket}/{name} changed while it was written (now generation {now['generation']}, expected "
                f"{match}): another writer won (HTTP 412). Nothing was written. Fix: read it again and decide with "
                "what it holds now.", kind="precondition_failed", **{**result, "generation": now["generation"]})
    module.exit_json(changed=True, **{**result, "generation": str(resp.json().get("generation"))})


def main() -> None:
    """Download and verify (or do nothing when dest already holds the expected bytes); read; write."""
    module = AnsibleGcpModule(
        argument_spec={
            "src": {"type": "str", "required": True},
            "dest": {"type": "path"},
            "sha256": {"type": "str"},
            "mode": {"type": "str", "choices": ["download", "read", "write"], "default": "download"},
            "content_json": {"type": "dict"},
            "if_generation_match": {"type": "int"},
            "endpoint": {"type": "str", "default": "https://storage.googleapis.com",
                         "fallback": (env_fallback, ["GCP_STORAGE_ENDPOINT"])},
        },
        required_if=[("mode", "download", ("dest", "sha256")), ("mode", "write", ("content_json",))],
        supports_check_mode=True,
    )
    params = module.params
    if params["mode"] != "download":
        try:
            bucket, name = parse_gs_url(params["src"])
            api = StorageApi(module.client(scopes=[READ_WRITE if params["mode"] == "write" else READ_ONLY]),
                             params["endpoint"])
            if params["mode"] == "read":
                module.exit_json(changed=False, **read_object(api, bucket, name))
            write_object(module, api, bucket, name)
        except GcpError as exc:
            module.fail_gcp(exc)
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
