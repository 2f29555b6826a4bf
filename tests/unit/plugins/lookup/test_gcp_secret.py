"""The gcp_secret lookup in a real ansible-playbook run (-vvv) against the emulator's Secret Manager."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: read the good secret
      ansible.builtin.set_fact:
        value: "{{ lookup('gcp_secret', 'good', project='p1') }}"
        pinned: "{{ lookup('nearzero.gcp.gcp_secret', 'projects/p1/secrets/good/versions/1') }}"
      no_log: true
    - name: show only hashes
      ansible.builtin.debug:
        msg: "{{ value | hash('sha256') }} {{ pinned | hash('sha256') }}"
    - name: every bad input, one after the other
      ansible.builtin.debug:
        msg: "{{ lookup('gcp_secret', item, project='p1') }}"
      loop: [missing, corrupted, denied, 'bad/name', 'projects/p1/secrets/good/versions/7']
      ignore_errors: true
      register: bad
    - name: a misspelt credential option (must not fall back to another credential)
      ansible.builtin.debug:
        msg: "{{ lookup('gcp_secret', 'good', project='p1', auth_knd='application') }}"
      ignore_errors: true
      register: typo
    - name: report the failures
      ansible.builtin.debug:
        msg: "RESULTS {{ (bad.results | map(attribute='msg') | list + [typo.msg]) | to_json }}"
"""


def test_lookup_reads_checks_and_never_logs(emulator, sa_key_file, tmp_path):
    store = emulator.services["secretmanager"]
    good = "Gd-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:20]
    old = "Old-" + hashlib.sha256(b"old" + str(tmp_path).encode()).hexdigest()[:20]
    corrupt = "Cx-" + hashlib.sha256(b"c" + str(tmp_path).encode()).hexdigest()[:20]
    store.add_version("p1", "good", old)
    store.add_version("p1", "good", good)
    store.add_version("p1", "corrupted", corrupt, crc32c_override=1)
    store.add_version("p1", "denied", "never")
    store.deny("p1", "denied")
    playbook = tmp_path / "lookup.yml"
    playbook.write_text(PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GCP_"))}
    env.update(GCP_AUTH_KIND="serviceaccount", GCP_SERVICE_ACCOUNT_FILE=str(sa_key_file),
               GCP_SECRETMANAGER_ENDPOINT=emulator.url, ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{env['PATH']}")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-vvv", "-i", "localhost,", str(playbook)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert hashlib.sha256(good.encode()).hexdigest() in output  # latest
    assert hashlib.sha256(old.encode()).hexdigest() in output  # version 1 by full name
    for value in (good, old, corrupt):
        assert value not in output
    line = next(ln for ln in output.splitlines() if "RESULTS [" in ln)
    messages = json.loads(line[line.index("RESULTS ") + 8:].rstrip('"').replace('\\"', '"'))
    missing, corrupted, denied, bad_name, bad_version, typo = messages
    assert "Secret 'missing' (version latest) does not exist in project 'p1'" in missing
    assert "fails its CRC32C check" in corrupted
    assert "secretmanager.versions.access" in denied and "roles/secretmanager.secretAccessor" in denied
    assert "is not a secret ID" in bad_name
    assert "version 7" in bad_version
    assert "unknown option(s) auth_knd" in typo and "auth_kind" in typo.split("Valid options:")[1]
