"""plugin_utils/gce/trust.py and hostkeys.py: the version floor, untrusting, protected groups, host key checks."""

import base64
import struct

import pytest
from ansible.template import is_trusted_as_template, trust_as_template

from tests.unit.plugins.plugin_utils.gce_utils import gce_utils

trust, hostkeys, errors = gce_utils("trust", "hostkeys", "errors")


def blob(key_type, body=b"\x00" * 32):
    """An SSH public key blob: the type as a length-prefixed string, then key material."""
    raw = struct.pack(">I", len(key_type)) + key_type.encode() + struct.pack(">I", len(body)) + body
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(("version", "refused"), [
    ("2.18.19", True), ("2.17.0", True), ("2.9.27", True), ("garbage", True),
    ("2.19.0", False), ("2.19.14", False), ("2.20.1rc1", False), ("3.0.0", False),
])
def test_core_floor(version, refused):
    if refused:
        with pytest.raises(errors.ConfigError, match=f"ansible-core {version} is installed.*2.19 or newer"):
            trust.check_core(version)
    else:
        trust.check_core(version)


def test_untrusted_removes_trust_everywhere():
    value = {"labels": {"note": trust_as_template("{{ 1 }}")}, "tags": [trust_as_template("{{ 2 }}")], "id": 3}
    out = trust.untrusted(value)
    assert out == {"labels": {"note": "{{ 1 }}"}, "tags": ["{{ 2 }}"], "id": 3}
    assert not is_trusted_as_template(out["labels"]["note"]) and not is_trusted_as_template(out["tags"][0])


def test_group_guard_protects_patterns_and_trusts_named_sources_only():
    guard = trust.GroupGuard(["role_*", "gpu"], {"role_*": ["label:role"], "gpu": ["accelerators"]})
    facts = {"project": "p", "zone": "z", "labels": {"role_trading": "engine"}}
    guard.check("role_trading_engine", "label:role", "h", facts)
    guard.check("gpu", "accelerators", "h", facts)
    guard.check("env_prod", "label:env", "h", facts)  # not protected
    planted = "label role_trading='engine' makes group 'role_trading_engine'"
    with pytest.raises(trust.ProtectedGroupError, match=planted):
        guard.check("role_trading_engine", "label:role_trading", "h", facts)
    with pytest.raises(trust.ProtectedGroupError, match="keyed_groups makes group 'gpu'"):
        guard.check("gpu", "keyed_groups", "h", facts)
    # nothing trusted: even label role is refused
    with pytest.raises(trust.ProtectedGroupError, match="trusts no API data"):
        trust.GroupGuard(["role_*"], {}).check("role_database", "label:role", "h", facts)


@pytest.mark.parametrize("trusted", [{"role_*": "label:role"}, {"role_*": ["labels:role"]}, {"gpu": ["label:"]}])
def test_group_guard_names_a_bad_configuration(trusted):
    with pytest.raises(errors.ConfigError, match="trusted_groups"):
        trust.GroupGuard(["role_*"], trusted)


def test_host_keys_are_checked_before_they_reach_known_hosts():
    good = blob("ssh-ed25519")
    assert hostkeys.valid_key("ssh-ed25519", good)
    assert not hostkeys.valid_key("ssh-rsa", good)  # the blob names another type
    assert not hostkeys.valid_key("ssh-ed25519", good + "\nother ssh-ed25519 " + good)  # a second line
    assert not hostkeys.valid_key("@cert-authority", good)
    assert not hostkeys.valid_key("ssh-ed25519", "not base64!")
    assert not hostkeys.valid_key("ssh-ed25519", None)


def test_known_hosts_names_the_host_and_its_checked_address(tmp_path):
    assert hostkeys.host_patterns(("engine-1", "p", "z", "engine-1", "10.0.0.2")) == ["engine-1", "10.0.0.2"]
    assert hostkeys.host_patterns(("engine-1", "p", "z", "engine-1", "fd00::2")) == ["engine-1", "[fd00::2]"]
    # a name or address that is not one is left out rather than written
    assert hostkeys.host_patterns(("Bad Name,*", "p", "z", "x", "10.0.0.2,*")) == []
    path = tmp_path / "sub" / "known_hosts"
    hostkeys.write_known_hosts(str(path), ["engine-1,10.0.0.2 ssh-ed25519 AAAA"])
    assert path.read_text() == "engine-1,10.0.0.2 ssh-ed25519 AAAA\n" and oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in path.parent.iterdir()] == ["known_hosts"]  # no temporary file left
    assert hostkeys.ssh_args(str(path)) == f"-o UserKnownHostsFile={path} -o StrictHostKeyChecking=yes"
