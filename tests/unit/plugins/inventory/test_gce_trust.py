"""What API data may not decide (issue 19): the ansible-core floor, untrusted values, protected groups,
pinned host keys and the identity a secret-receiving play checks. Real HTTP against the emulator."""

import fcntl
import json
import subprocess
import sys

import pytest

from tests.unit.plugins.gce_helpers import (
    BIN,
    ROOT,
    ansible_inventory,
    base_env,
    group_hosts,
    hostvars,
    instance,
    write_config,
)

PROJECT, ZONE = "nz-trust", "us-central1-a"
# ansible-core 2.18 (the release below the floor), in its own venv, made once and reused
CORE218 = ROOT / ".cache" / "core218"
CORE218_PIP = ["ansible-core>=2.18,<2.19", "google-auth==2.63.0", "requests==2.34.2", "jmespath==1.1.0"]


def planted(emulator, tmp_path, labels=None, **kw):
    """A project whose engine carries a label that runs a command if it is ever templated."""
    marker = tmp_path / "pwned"
    payload = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    emulator.add_project(PROJECT, zones=[ZONE])
    engine_labels = {"role": "trading-engine", "note": payload, **(labels or {})}
    emulator.add_instances(PROJECT, [
        instance(PROJECT, ZONE, "engine-1", ip="10.0.0.2", labels=engine_labels, **kw),
        instance(PROJECT, ZONE, "db-1", ip="10.0.0.3", labels={"role": "database"}),
    ])
    return marker, payload


@pytest.fixture(scope="session")
def core218():
    """A venv with ansible-core 2.18 under .cache/core218 (created on first use, then reused)."""
    CORE218.parent.mkdir(exist_ok=True)
    with open(CORE218.parent / "core218.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = CORE218 / ".ready"
        if not ready.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(CORE218)], check=True, timeout=120)
            subprocess.run([str(CORE218 / "bin" / "pip"), "install", "-q", *CORE218_PIP], check=True, timeout=600)
            ready.write_text(" ".join(CORE218_PIP) + "\n")
    return CORE218 / "bin"


# -- 1. the version floor and explicit untrust ------------------------------------------------------

def test_ansible_core_below_2_19_is_refused_before_any_call(core218, emulator, sa_key_file, tmp_path):
    marker, _payload = planted(emulator, tmp_path)
    version = subprocess.run([str(core218 / "python"), "-c", "import ansible.release as r; print(r.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("2.18.")
    # compose and keyed_groups template the label: what 2.18 rendered (and ran) in the attack
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT],
                          compose={"note": "gce.labels.note"},
                          keyed_groups=[{"key": "gce.labels.note", "prefix": "note"}])
    env = base_env(PATH=f"{core218}:/usr/bin:/bin")
    proc = subprocess.run([str(core218 / "ansible-inventory"), "-i", str(config), "--graph"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out
    assert f"ansible-core {version} is installed" in out and "2.19 or newer" in out, out
    assert "pip install 'ansible-core>=2.19'" in out, out
    assert not marker.exists()
    assert not [r for r in emulator.requests if "/compute/" in r.path]  # refused before listing anything


TRUSTING_TRANSPORT = """
import runpy, sys
import requests
from ansible.template import trust_as_template

def trust(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trust(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trust(v) for v in value]
    return value

plain = requests.models.Response.json
requests.models.Response.json = lambda self, **kw: trust(plain(self, **kw))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_api_values_stay_untrusted_even_when_they_arrive_trusted(emulator, sa_key_file, tmp_path):
    # ansible-core keeps a trust tag a value already carries (trusted_by_default=False adds none, removes none):
    # a transport, decoder or cache that tagged API data would make labels templates. The plugin untags
    # every value itself; without that, this playbook runs the label's command.
    marker, payload = planted(emulator, tmp_path)
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT])
    playbook = tmp_path / "show.yml"
    playbook.write_text("- hosts: engine-1\n  gather_facts: false\n  connection: local\n  tasks:\n"
                        "    - ansible.builtin.debug:\n        msg: 'LABEL[{{ gce.labels.note }}]'\n")
    probe = tmp_path / "trusting.py"
    probe.write_text(TRUSTING_TRANSPORT)
    proc = subprocess.run([str(BIN / "python"), str(probe), str(BIN / "ansible-playbook"), "-i", str(config),
                           str(playbook)], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"LABEL[{payload}]" in proc.stdout
    assert not marker.exists()


# -- 2a. API data cannot make the groups the playbooks target ------------------------------------------

def test_a_planted_label_cannot_make_a_protected_group(emulator, sa_key_file, tmp_path):
    # label role_trading=engine sanitises to role_trading_engine, the engines' group (and the database password)
    marker, _payload = planted(emulator, tmp_path, labels={"role_trading": "engine"})
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT])
    proc = ansible_inventory(config, "--graph", check=False)
    assert proc.returncode != 0
    err = " ".join(proc.stderr.split())
    assert "label role_trading='engine' makes group 'role_trading_engine'" in err, err
    assert "host engine-1" in err and "trusted_groups" in err and "Fix: remove that label" in err, err
    assert not marker.exists()
    # the configuration may say so explicitly
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT],
                          trusted_groups={"role_*": ["label:role"], "gpu": ["accelerators"],
                                          "role_trading_engine": ["label:role_trading"]})
    data = ansible_inventory(config).data
    assert group_hosts(data, "role_trading_engine") == ["engine-1"]


def test_label_role_still_makes_role_groups_and_other_sources_are_refused(emulator, sa_key_file, tmp_path):
    planted(emulator, tmp_path)
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT])
    data = ansible_inventory(config).data
    assert group_hosts(data, "role_trading_engine") == ["engine-1"] and group_hosts(data, "role_database") == ["db-1"]
    # a keyed group reaching a protected name from API data is refused the same way...
    keyed = [{"key": "gce.labels.role | replace('-', '_')", "prefix": "role", "separator": "_x_"}]
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT], keyed_groups=keyed)
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0
    assert "keyed_groups makes group 'role_x_" in " ".join(proc.stderr.split()), proc.stderr
    # ...unless trusted; and with no trusted source at all even label role cannot make role_*
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT], keyed_groups=keyed,
                          trusted_groups={"role_*": ["label:role", "keyed_groups"]})
    assert group_hosts(ansible_inventory(config).data, "role_x_trading_engine") == ["engine-1"]
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT], trusted_groups={})
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "trusts no API data to make it" in " ".join(proc.stderr.split())
    # a malformed trusted_groups is named
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT],
                          trusted_groups={"role_*": ["labels:role"]})
    proc = ansible_inventory(config, check=False)
    assert proc.returncode != 0 and "unknown source(s) labels:role in trusted_groups" in proc.stderr


# -- 2c. host keys pinned from the guest attributes ----------------------------------------------------

def ssh_public_key(tmp_path, name):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
    return (tmp_path / f"{name}.pub").read_text().split()[:2]


def test_host_keys_from_guest_attributes_become_a_strict_known_hosts(emulator, sa_key_file, tmp_path):
    planted(emulator, tmp_path)
    emulator.add_instances(PROJECT, [instance(PROJECT, ZONE, "quiet-1", ip="10.0.0.4")])
    store = emulator.services["guest_attributes"]
    engine_type, engine_key = ssh_public_key(tmp_path, "engine")
    store.publish(PROJECT, ZONE, "engine-1", "hostkeys", engine_type, engine_key)
    # db-1's guest tries to slip a line for engine-1 into the file, and publishes a key of the wrong type
    _db_type, db_key = ssh_public_key(tmp_path, "db")
    store.publish(PROJECT, ZONE, "db-1", "hostkeys", "ssh-ed25519", f"{db_key}\nengine-1 ssh-ed25519 {db_key}")
    store.publish(PROJECT, ZONE, "db-1", "hostkeys", "ssh-rsa", db_key)
    known_hosts = tmp_path / "pinned" / "known_hosts"
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT],
                          host_keys_file=str(known_hosts))
    proc = ansible_inventory(config)
    assert known_hosts.read_text() == f"engine-1,10.0.0.2 {engine_type} {engine_key}\n"
    err = " ".join(proc.stderr.split())
    assert "host db-1 published 2 malformed host key(s)" in err
    assert "host quiet-1 published no SSH host key" in err and "enable-guest-attributes=TRUE" in err
    args = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    assert {h: v["ansible_ssh_common_args"] for h, v in hostvars(proc.data).items()} == dict.fromkeys(
        ["db-1", "engine-1", "quiet-1"], args)
    # ssh's own lookup finds the pinned key by the address Ansible connects to, and nothing for db-1
    found = subprocess.run(["ssh-keygen", "-F", "10.0.0.2", "-f", str(known_hosts)], capture_output=True, text=True,
                           check=False)
    assert found.returncode == 0 and engine_key in found.stdout
    assert subprocess.run(["ssh-keygen", "-F", "10.0.0.3", "-f", str(known_hosts)], capture_output=True,
                          check=False).returncode != 0
    assert len([r for r in emulator.requests if r.path.endswith("/getGuestAttributes")]) == 3


# -- 2b. the database password goes only to the identities the operator allows ---------------------------

def test_right_labels_wrong_service_account_get_no_secret(emulator, sa_key_file, tmp_path):
    planted(emulator, tmp_path)
    allowed = f"engine@{PROJECT}.iam.gserviceaccount.com"
    # the identity comes from the inventory: project and service accounts stored on each host
    config = write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT],
                          hostvar_keys=["project", "zone", "private_ip", "labels", "service_accounts"])
    extra = {
        "nearzero_db_project": PROJECT, "nearzero_db_primary_instance": "db-primary",
        "nearzero_secret_identity": [{"project": PROJECT, "service_account": allowed}],
        "nearzero_gcp_auth": {"auth_kind": "serviceaccount", "service_account_file": str(sa_key_file)},
        "nearzero_secretmanager_endpoint": emulator.url, "nearzero_sqladmin_endpoint": emulator.url,
    }
    variables = tmp_path / "extra.json"
    variables.write_text(json.dumps(extra))
    emulator.services["secretmanager"].add_version(PROJECT, "nearzero-db-password", "not-for-this-host")

    def database_play(inventory):
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/database.yml",
                               "-e", f"@{variables}"], cwd=ROOT, env=base_env(), capture_output=True, text=True,
                              timeout=300, check=False)
        return proc.returncode, " ".join((proc.stdout + proc.stderr).split())

    rc, out = database_play(config)
    assert rc != 0
    # engine-1 carries label role=trading-engine, but runs as the project's default compute account
    assert "engine-1 is not given the database password" in out, out
    assert f"runs in project {PROJECT} as " in out and "-compute@developer.gserviceaccount.com" in out
    assert allowed in out and "Nothing was read or changed on this host" in out
    # an inventory that does not store the identity is refused too, and told what to store
    rc, out = database_play(write_config(tmp_path, emulator, key_file=sa_key_file, projects=[PROJECT]))
    assert rc != 0 and "add service_accounts to hostvar_keys of the gce inventory" in out, out
    assert not [r for r in emulator.requests if "secretmanager" in r.path or ":access" in r.path]
    assert "not-for-this-host" not in out
    # the failover hands out the same password: every engine host is checked before anything moves
    variables.write_text(json.dumps(dict(extra, nearzero_db_replica_instance="db-replica")))
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(config), "playbooks/dr_failover.yml",
                           "-e", f"@{variables}"], cwd=ROOT, env=base_env(), capture_output=True, text=True,
                          timeout=300, check=False)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and "engine-1 is not given the database password" in out, out
    assert not [r for r in emulator.requests if "/sql/v1" in r.path or ":access" in r.path]
