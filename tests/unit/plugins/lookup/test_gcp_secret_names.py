"""gcp_secret with names by project number, regional secrets, and a VM token without the cloud-platform scope.

One real ansible-playbook run against the emulator's Secret Manager and metadata server.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
# `make setup` links the repository into .collections as nearzero.gcp (docs/CONVENTIONS.md).
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError  # noqa: E402
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.secretmanager import (  # noqa: E402
    parse_name,
    regional_endpoint,
)

BIN = Path(sys.executable).parent

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: read by number, by regional name, by ID and location
      ansible.builtin.set_fact:
        by_number: "{{ lookup('nearzero.gcp.gcp_secret', 'projects/' ~ number ~ '/secrets/global-one') }}"
        regional: "{{ lookup('nearzero.gcp.gcp_secret', 'projects/p1/locations/europe-west3/secrets/db') }}"
        regional_by_id: "{{ lookup('nearzero.gcp.gcp_secret', 'db', project='p1', location='europe-west3') }}"
        regional_by_number: >-
          {{ lookup('nearzero.gcp.gcp_secret',
                    'projects/' ~ number ~ '/locations/europe-west3/secrets/db/versions/1') }}
      no_log: true
    - name: show only hashes
      ansible.builtin.debug:
        msg: >-
          HASHES {{ [by_number, regional, regional_by_id, regional_by_number] | map('hash', 'sha256') | join(' ') }}
    - name: failures
      ansible.builtin.debug:
        msg: "{{ lookup('nearzero.gcp.gcp_secret', item.term, project='p1', **item.opts) }}"
      loop:
        - {term: db, opts: {}}
        - {term: db, opts: {location: us-east4}}
        - {term: db, opts: {location: 'Europe West'}}
        # the VM's token (GCE gives it the VM's access scopes, whatever a client asks for)
        - {term: db, opts: {location: europe-west3, auth_kind: machineaccount}}
        - {term: global-one, opts: {auth_kind: accesstoken, access_token: tok-narrow}}
      loop_control:
        label: "{{ item.term }}"
      ignore_errors: true
      register: bad
    - name: report the failures
      ansible.builtin.copy:
        content: "{{ bad.results | map(attribute='msg') | list | to_json }}"
        dest: "{{ results_file }}"
        mode: "0600"
"""


def test_names_by_number_regional_secrets_and_a_vm_token_without_cloud_platform(emulator, sa_key_file, tmp_path):
    from emulator.services.secretmanager import project_number

    store = emulator.services["secretmanager"]
    glob = "G-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:20]
    regional = "R-" + hashlib.sha256(b"r" + str(tmp_path).encode()).hexdigest()[:20]
    store.add_version("p1", "global-one", glob)
    store.add_version("p1", "db", regional, location="europe-west3")
    # the VM's access scopes: compute read-only, no cloud-platform
    vm_scopes = ["https://www.googleapis.com/auth/compute.readonly"]
    emulator.metadata_scopes = vm_scopes
    emulator.add_access_token("tok-narrow", scopes=["https://www.googleapis.com/auth/sqlservice.admin"])
    playbook = tmp_path / "names.yml"
    playbook.write_text(PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GCP_", "GCE_"))}
    host = f"127.0.0.1:{emulator.port}"
    env.update(GCP_AUTH_KIND="serviceaccount", GCP_SERVICE_ACCOUNT_FILE=str(sa_key_file),
               GCP_SECRETMANAGER_ENDPOINT=emulator.url, GCE_METADATA_HOST=host, GCE_METADATA_IP=host,
               ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{env['PATH']}")
    results = tmp_path / "results.json"
    extra = json.dumps({"number": project_number("p1"), "vm_scopes": vm_scopes, "results_file": str(results)})
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-vvv", "-c", "local", "-i", "localhost,", "-e", extra,
                           str(playbook)],
                          cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    hashes = next(ln for ln in output.splitlines() if "HASHES " in ln).split("HASHES ")[1].strip('"').split()
    want_global, want_regional = (hashlib.sha256(v.encode()).hexdigest() for v in (glob, regional))
    assert hashes == [want_global, want_regional, want_regional, want_regional]
    assert glob not in output and regional not in output
    messages = json.loads(results.read_text())
    global_db, other_location, bad_location, vm_scope, narrow_scope = messages
    # the regional secret is not the global one, nor the one of another location
    assert "Secret 'db' (version latest) does not exist in project 'p1'" in global_db
    assert "in location 'us-east4'" in other_location and "--location us-east4" in other_location
    assert "'Europe West' is not a Secret Manager location" in bad_location
    # the VM's token: the missing scope and the fix, not an IAM role
    assert "lacks the OAuth scope https://www.googleapis.com/auth/cloud-platform" in vm_scope
    assert "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in vm_scope and "VM's access scopes" in vm_scope
    assert "set-service-account" in vm_scope and "--scopes cloud-platform" in vm_scope
    assert "roles/secretmanager.secretAccessor" not in vm_scope
    assert "lacks the OAuth scope" in narrow_scope and "leave the scopes option at its default" in narrow_scope
    assert "VM" not in narrow_scope


@pytest.mark.parametrize(("endpoint", "expected"), [
    (None, "https://secretmanager.europe-west3.rep.googleapis.com"),
    ("https://secretmanager.googleapis.com/", "https://secretmanager.europe-west3.rep.googleapis.com"),
    ("https://sm-{location}.p.example.internal", "https://sm-europe-west3.p.example.internal"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
])
def test_the_regional_endpoint_is_built_from_the_configured_one(endpoint, expected):
    assert regional_endpoint(endpoint, "europe-west3") == expected


def test_names_parse_with_numbers_and_locations():
    assert parse_name("projects/123456789012/secrets/s") == ("123456789012", None, "s", "latest")
    assert parse_name("projects/p/locations/europe-west3/secrets/s/versions/4") == ("p", "europe-west3", "s", "4")
    assert parse_name("s", "p", "2", "europe-west3") == ("p", "europe-west3", "s", "2")
    with pytest.raises(GcpError, match="projects/PROJECT/locations/LOCATION/secrets/SECRET"):
        parse_name("projects/p/zones/z/secrets/s")
