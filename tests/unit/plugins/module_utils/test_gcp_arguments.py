"""The one definition of the GCP options: the argument spec, its doc fragment, and every caller.

arguments.py holds the argument spec; the doc fragment nearzero.gcp.gcp_auth documents it twice
(``DOCUMENTATION`` for plugins, with ``env:``; ``MODULES`` for modules, the variables named in the
descriptions). These tests fail when the spec and either variant disagree, when a module of the
action group ``gcp`` or a plugin is not wired to them, and they run the modules through
``module_defaults: group/nearzero.gcp.gcp`` against the emulator for real.
"""

import json
import re
import secrets
import subprocess

import pytest
import yaml

from tests.unit.plugins.gce_helpers import BIN, ROOT, base_env

BASE = "ansible_collections.nearzero.gcp.plugins"
SECRETS = {"service_account_contents", "access_token"}


def _arguments():
    import importlib

    return importlib.import_module(f"{BASE}.module_utils.gcp.arguments")


def _fragment(variant):
    from ansible_collections.nearzero.gcp.plugins.doc_fragments.gcp_auth import ModuleDocFragment

    return yaml.safe_load(getattr(ModuleDocFragment, variant))


def _spec():
    arguments = _arguments()
    return {**arguments.AUTH_ARGUMENT_SPEC, **arguments.HTTP_ARGUMENT_SPEC}


def _doc_fragments(path):
    """The doc fragments a plugin file extends, read from its DOCUMENTATION without importing it."""
    text = path.read_text()
    doc = text[text.index('DOCUMENTATION = r"""') + 20:]
    return yaml.safe_load(doc[:doc.index('"""')]).get("extends_documentation_fragment") or []


@pytest.mark.parametrize("variant", ["DOCUMENTATION", "MODULES"])
def test_fragment_documents_exactly_the_spec(variant):
    options = _fragment(variant)["options"]
    spec = _spec()
    assert list(options) == list(spec)
    for name, entry in spec.items():
        documented = options[name]
        assert documented["type"] == entry["type"], name
        assert documented.get("elements") == entry.get("elements"), name
        assert documented.get("choices") == entry.get("choices"), name
        assert documented.get("default") == entry.get("default"), name
        assert not documented.get("required") and not entry.get("required"), name


def test_plugins_read_the_same_environment_variables_the_modules_fall_back_to():
    arguments = _arguments()
    for name, documented in _fragment("DOCUMENTATION")["options"].items():
        assert [e["name"] for e in documented.get("env", [])] == arguments.env_variables(name), name
    for name, documented in _fragment("MODULES")["options"].items():
        # module documentation may not carry env: (validate-modules refuses it): the description names it
        assert "env" not in documented, name
        named = re.findall(r"environment variable E\((\w+)\)", " ".join(documented["description"]))
        assert named == arguments.env_variables(name), name
    assert arguments.env_variables("auth_kind") == ["GCP_AUTH_KIND"]  # the fallbacks exist at all


def test_the_two_variants_differ_only_in_how_they_name_the_environment():
    plugins, modules = _fragment("DOCUMENTATION"), _fragment("MODULES")
    for name, documented in plugins["options"].items():
        names = [e["name"] for e in documented.get("env", [])]
        expected = {k: v for k, v in documented.items() if k != "env"}
        if names:
            expected["description"] = [*documented["description"],
                                       f"When not set, the environment variable E({names[0]}) is used."]
        assert modules["options"][name] == expected, name
    assert modules["requirements"] == plugins["requirements"]
    assert modules["notes"][:-1] == plugins["notes"] and "group/nearzero.gcp.gcp" in modules["notes"][-1]


def test_fragment_variants_are_string_literals():
    """ansible-test (yamllint) reads doc fragments by AST and crashes on anything but a string."""
    import ast

    tree = ast.parse((ROOT / "plugins" / "doc_fragments" / "gcp_auth.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    assigned = {t.id: n.value for n in cls.body if isinstance(n, ast.Assign) for t in n.targets}
    assert sorted(assigned) == ["DOCUMENTATION", "MODULES"]
    assert all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in assigned.values())


def test_credentials_are_no_log_and_documented_as_such():
    spec = _spec()
    assert {name for name, entry in spec.items() if entry.get("no_log")} == SECRETS
    for variant in ("DOCUMENTATION", "MODULES"):
        for name in SECRETS:
            assert "never logged" in " ".join(_fragment(variant)["options"][name]["description"])


def test_modules_of_the_action_group_are_exactly_those_taking_the_options():
    group = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["action_groups"]["gcp"]
    taking = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py")
                    if any(f.startswith("nearzero.gcp.gcp_auth") for f in _doc_fragments(p)))
    assert sorted(group) == taking
    for name in taking:
        # the plugin variant's env: entries would fail validate-modules (other fragments may follow it)
        fragments = _doc_fragments(ROOT / "plugins" / "modules" / f"{name}.py")
        auth = [f for f in fragments if f.startswith("nearzero.gcp.gcp_auth")]
        assert auth == ["nearzero.gcp.gcp_auth.modules"], name
        source = (ROOT / "plugins" / "modules" / f"{name}.py").read_text()
        # the shared spec comes from AnsibleGcpModule, never from a copy in the module
        assert "AnsibleGcpModule(" in source and "AnsibleModule(" not in source.replace("AnsibleGcpModule(", ""), name
        assert not re.search(r'"(auth_kind|service_account_file|access_token|retry_backoff)"\s*:', source), name


def test_plugins_use_the_plugin_variant():
    for path in [*(ROOT / "plugins" / "lookup").glob("*.py"), *(ROOT / "plugins" / "inventory").glob("*.py")]:
        fragments = _doc_fragments(path)
        if any(f.startswith("nearzero.gcp.gcp_auth") for f in fragments):
            assert "nearzero.gcp.gcp_auth" in fragments and "nearzero.gcp.gcp_auth.modules" not in fragments, path


def test_ansible_doc_shows_the_spec_on_every_module_and_plugin():
    """What users read (the fragment merged by ansible-doc) is the spec, for each kind of plugin."""
    spec = _spec()
    arguments = _arguments()
    for kind, names in (("module", ["cloudsql_instance", "cloudsql_instance_info", "gcs_object"]),
                        ("lookup", ["gcp_secret"]), ("inventory", ["gce"])):
        proc = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", kind, *(f"nearzero.gcp.{n}" for n in names)],
                              cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        docs = json.loads(proc.stdout)
        for name in names:
            options = docs[f"nearzero.gcp.{name}"]["doc"]["options"]
            for option, entry in spec.items():
                assert options[option]["type"] == entry["type"], (name, option)
                assert options[option].get("default") == entry.get("default"), (name, option)
                if kind != "module":
                    assert [e["name"] for e in options[option].get("env", [])] == arguments.env_variables(option)


def test_a_module_cannot_redefine_a_shared_option():
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.module import AnsibleGcpModule

    with pytest.raises(ValueError, match=r"redefines the shared GCP option\(s\) auth_kind, timeout"):
        AnsibleGcpModule(argument_spec={"timeout": {"type": "int"}, "auth_kind": {"type": "str"}})


def test_gcp_argument_spec_is_a_fresh_copy():
    arguments = _arguments()
    spec = arguments.gcp_argument_spec()
    spec["scopes"]["default"].append("https://example.com/extra")
    spec["auth_kind"]["choices"].clear()
    assert arguments.gcp_argument_spec()["scopes"]["default"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert arguments.AUTH_ARGUMENT_SPEC["auth_kind"]["choices"] == list(arguments.AUTH_KINDS)


def test_fingerprint_hashes_the_secrets_and_counts_unset_as_default():
    from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.auth import credential_fingerprint

    key = {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----sekret"}
    fingerprint = credential_fingerprint({"auth_kind": "serviceaccount", "service_account_contents": key,
                                          "access_token": "ya29.sekret-token"})
    assert "sekret" not in repr(fingerprint)
    assert credential_fingerprint({}) == credential_fingerprint(
        {"auth_kind": "application", "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
         "iam_endpoint": "https://iamcredentials.googleapis.com", "impersonate_delegates": []})
    assert credential_fingerprint({"access_token": "a"}) != credential_fingerprint({"access_token": "b"})


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/nearzero.gcp.gcp: "{{ gcp_auth }}"
  tasks:
    - name: read the instance with the group's credential
      nearzero.gcp.cloudsql_instance_info:
        project: p1
        name: db-us
        api_endpoint: "{{ endpoint }}"
      register: info
    - name: the same credential reaches the policy module (check mode, diff)
      nearzero.gcp.cloudsql_instance:
        project: p1
        name: db-us
        private_network: projects/p1/global/networks/trading
        api_endpoint: "{{ endpoint }}"
      check_mode: true
      diff: true
      register: policy
    - name: report
      ansible.builtin.debug:
        msg: >-
          GROUP {{ {'ip': info.private_ip, 'changed': policy.changed,
          'paths': policy.changes | map(attribute='path') | list} | to_json }}
"""


def _play(tmp_path, emulator, gcp_auth):
    emulator.services["sqladmin"].add_instance("p1", "db-us", region="us-east4", private_ip="10.20.0.5",
                                               dns_name="db-us.x.sql.goog")
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps({"gcp_auth": gcp_auth, "endpoint": emulator.url}))
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-vvv", "-i", "localhost,", str(tmp_path / "play.yml"),
                           "-e", f"@{tmp_path / 'vars.json'}"],
                          cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_module_defaults_for_the_group_give_every_module_its_credential(emulator, tmp_path):
    # made at run time: a token-shaped literal in the tree would trip the repository's secret scan
    token = "ya29." + secrets.token_urlsafe(30)
    emulator.add_access_token(token)
    rc, out = _play(tmp_path, emulator, {"auth_kind": "accesstoken", "access_token": token, "retries": 1,
                                         "retry_backoff": 0.01})
    assert rc == 0, out[-3000:]
    line = next(ln for ln in out.splitlines() if "GROUP {" in ln)
    report = json.loads(line[line.index("GROUP ") + 6:].rstrip('"').replace('\\"', '"'))
    assert report["ip"] == "10.20.0.5"
    # the policy differs (no private network yet): reported, not applied, in check mode
    assert report["changed"] is True and "settings.ipConfiguration.privateNetwork" in report["paths"]
    assert not any(r.method == "PATCH" for r in emulator.requests)
    assert token not in out  # no_log of the shared spec holds through module_defaults, at -vvv


def test_a_misspelt_option_in_the_group_defaults_is_refused_before_any_call(emulator, tmp_path):
    rc, out = _play(tmp_path, emulator, {"auth_knd": "serviceaccount"})
    assert rc != 0
    assert "Unsupported parameters for (nearzero.gcp.cloudsql_instance_info) module: auth_knd" in out
    assert "auth_kind" in out.split("Supported parameters include:")[1]
    assert emulator.requests == []
