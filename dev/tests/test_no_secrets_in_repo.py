"""No secret is committed: scan every tracked file for private keys and tokens.

Examples and group_vars must fetch secrets at run time (``lookup('gcp_secret', ...)``, Ansible
Vault); keys for tests are generated when the tests run. A finding that is a deliberate test
fixture goes into ``ALLOWLIST`` with the reason. The detectors are themselves tested below on
samples generated at run time (a real private key included), so a detector that can no longer
fire fails the suite instead of passing silently.
"""

from __future__ import annotations

import math
import random
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 2_000_000

# (path, detector) -> why it is not a secret. Keep it short; every entry is a reviewed exception.
ALLOWLIST: dict[tuple[str, str], str] = {
    ("dev/tests/fixtures/emulator/gce/gke1-compute-instances-aggregated.json", "generic-secret"):
        "public, sanitised gcpdiag test data: the kube-env metadata of a long-deleted test cluster",
}

_B64 = r"[A-Za-z0-9+/=]"
DETECTORS: dict[str, re.Pattern[str]] = {
    # A PEM private key header followed by key material (a header alone, in docs, is no secret);
    # the material may follow a real newline or a JSON-escaped one.
    "pem-private-key": re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\s|\\n|\\r)+" + _B64 + "{32,}"),
    # A GCP service-account key file: its private_key_id is 40 hex digits next to the key.
    "gcp-service-account-key": re.compile(r'"private_key_id"\s*:\s*"[0-9a-f]{40}"'),
    "aws-access-key-id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z2-7]{16}\b"),
    "aws-secret-access-key": re.compile(
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}\b"),
    # Lookarounds, not \b: a key may end in "-" or "_", where \b never matches.
    "google-api-key": re.compile(r"(?<![0-9A-Za-z_\-])AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"),
    "google-oauth-token": re.compile(r"\bya29\.[0-9A-Za-z_\-]{30,}"),
    "github-token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "slack-token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{20,}"),
}
# key = value / key: value where the key names a secret and the value is a literal.
SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?P<key>[\w.-]*(?:password|passwd|secret|token|api_?key|private_?key|credential)[\w.-]*)[\"']?"
    r"\s*[:=]\s*(?P<q>[\"']?)(?P<value>[^\s\"'#,;(){}\[\]]{12,})(?P=q)")
# Secret-sounding keys that hold no secret (pagination cursors, endpoints).
NOT_SECRET_KEY = re.compile(r"(?i)page_?token$|token_?ur[il]$|token_?endpoint$")
# Values that are references, not secrets: templating, lookups, vault, env/shell expansion, paths.
REFERENCE = re.compile(r"://|\{\{|\{%|lookup\(|!vault|\$\{?|%\(|^<|^/|^\./|^~|\.(?:json|pem|key|txt|conf|yml|yaml)$")


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: random tokens score high, words and names low."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def looks_random(value: str) -> bool:
    """A generated token: 16+ characters mixing upper case, lower case and digits, high entropy.

    Lower-case words joined by dashes (``ya29.static-test-token``, ``trading-db-password``),
    hex digests, paths, URLs and templated references are not tokens.
    """
    if REFERENCE.search(value):
        return False
    classes = all(re.search(c, value) for c in ("[A-Z]", "[a-z]", "[0-9]"))
    return classes and len(value) >= 16 and entropy(value) >= 3.5


def scan_text(text: str) -> list[tuple[str, int, str]]:
    """(detector, line number, excerpt) for every finding in ``text``."""
    findings = []
    for name, pattern in DETECTORS.items():
        for match in pattern.finditer(text):
            if "EXAMPLE" in match.group(0):  # the documented AWS example keys
                continue
            findings.append((name, text.count("\n", 0, match.start()) + 1, match.group(0)[:40]))
    for match in SECRET_ASSIGNMENT.finditer(text):
        if not NOT_SECRET_KEY.search(match.group("key")) and looks_random(match.group("value")):
            findings.append(("generic-secret", text.count("\n", 0, match.start()) + 1,
                             f"{match.group('key')}=<{len(match.group('value'))} chars>"))
    return findings


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def read_text(path: Path) -> str | None:
    """The file's text, or None for binaries, huge files and files deleted but still tracked."""
    try:
        data = path.read_bytes()[:MAX_BYTES]
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def test_no_private_keys_or_tokens_are_tracked():
    files = tracked_files()
    assert files, "git ls-files returned nothing: run the tests from a git checkout"
    problems = []
    for rel in files:
        text = read_text(ROOT / rel)
        if text is None:
            continue
        for name, line, excerpt in scan_text(text):
            if (rel, name) not in ALLOWLIST:
                problems.append(f"{rel}:{line}: {name}: {excerpt}")
    assert not problems, (
        "Secrets (or look-alikes) in tracked files:\n  " + "\n  ".join(problems)
        + "\nFix: remove them from the repository (and rotate them), fetch them at run time with "
          "lookup('gcp_secret', ...) or Ansible Vault; for a deliberate test fixture add "
          "(path, detector) with the reason to ALLOWLIST in dev/tests/test_no_secrets_in_repo.py.")


def _vars_files() -> list[str]:
    """Inventories, group_vars and host_vars: where operators put settings, hence secrets."""
    return [p for p in tracked_files()
            if p.endswith((".yml", ".yaml")) and (p.startswith("inventory/") or "group_vars/" in p
                                                   or "host_vars/" in p)]


def _secret_literals(node, trail=""):
    """Yield (key path, value) for secret-named keys whose value is a literal string."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{trail}.{key}" if trail else str(key)
            if (isinstance(value, str) and value and re.search(r"(?i)password|secret|token|private_?key", str(key))
                    and not REFERENCE.search(value) and not str(key).endswith(("_file", "_path", "_name", "_id"))):
                yield path, value
            yield from _secret_literals(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _secret_literals(value, f"{trail}[{i}]")


class _VaultLoader(yaml.SafeLoader):
    """SafeLoader that accepts !vault (an encrypted value is a reference, not a secret)."""


_VaultLoader.add_constructor("!vault", lambda loader, node: "!vault")
_VaultLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def test_inventories_and_group_vars_use_lookups_or_vault():
    problems = []
    for rel in _vars_files():
        text = read_text(ROOT / rel)
        if text is None:
            continue
        for doc in yaml.load_all(text, Loader=_VaultLoader):
            problems += [f"{rel}: {key}" for key, _ in _secret_literals(doc)]
    assert not problems, (
        "Secret-named settings with literal values:\n  " + "\n  ".join(problems)
        + "\nFix: use \"{{ lookup('gcp_secret', 'NAME') }}\" or an Ansible Vault value (!vault).")


# --- the detectors themselves ------------------------------------------------------------------

def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _token(alphabet: str, length: int) -> str:
    """A token drawn from ``alphabet``; seeded, so a failure reproduces on every run."""
    rng = random.Random(f"{alphabet}:{length}")  # noqa: S311 - test samples, not secrets
    return "".join(rng.choice(alphabet) for _ in range(length))


UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = UPPER + UPPER.lower() + "0123456789"


@pytest.mark.parametrize(("detector", "sample"), [
    ("pem-private-key", lambda: _private_key_pem()),
    ("pem-private-key", lambda: '{"private_key": "' + _private_key_pem().replace("\n", "\\n") + '"}'),
    ("gcp-service-account-key", lambda: '{"type": "service_account", "private_key_id": "'
        + _token("0123456789abcdef", 40) + '"}'),
    ("aws-access-key-id", lambda: "key_id = AKIA" + _token(UPPER + "234567", 16)),
    ("aws-secret-access-key", lambda: "aws_secret_access_key = " + _token(ALNUM + "/+", 40)),
    ("google-api-key", lambda: "key=AIza" + _token(ALNUM + "_-", 35)),
    # Keys whose last or first character is not a word character (a trailing \b misses them).
    ("google-api-key", lambda: "key=AIza" + _token(ALNUM, 34) + "-"),
    ("google-api-key", lambda: 'api_key: "AIza_' + _token(ALNUM, 33) + '_"'),
    ("google-oauth-token", lambda: "Authorization: Bearer ya29." + _token(ALNUM, 60)),
    ("github-token", lambda: "ghp_" + _token(ALNUM, 36)),
    ("slack-token", lambda: "xoxb-" + _token(ALNUM, 30)),
    ("generic-secret", lambda: "db_password: Aa1" + _token(ALNUM, 24)),
    ("generic-secret", lambda: 'API_KEY = "Zz9' + _token(ALNUM, 32) + '"'),
])
def test_detector_fires(detector, sample):
    assert detector in {name for name, _, _ in scan_text(sample())}


@pytest.mark.parametrize("text", [
    "db_password: \"{{ lookup('gcp_secret', 'db-password') }}\"",
    "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6231",
    "token_uri: https://oauth2.googleapis.com/token",
    "private_key_file: .lab/demo/id_ed25519",
    "-----BEGIN PRIVATE KEY----- is how a PEM key starts",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "password_sha256: " + "0123456789abcdef" * 4,
    "secret_name: trading-db-password",
    "client_secret = secrets.token_urlsafe(18)",
    '"nextPageToken": "ClgI-fiQw4y09wI6TQoCGAMKAyC1EAoCGAIKByDg3fmMvREK"',
    'token = "ya29.vaulted-secret-token-123"',
])
def test_detectors_leave_references_alone(text):
    assert scan_text(text) == []


def test_vars_check_flags_a_literal_and_accepts_references():
    doc = yaml.load("a:\n  db_password: hunter2-literal\n  api_token: \"{{ lookup('gcp_secret', 't') }}\"\n"
                    "  ssh_private_key_file: /x\n  vaulted_secret: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n",
                    Loader=_VaultLoader)  # noqa: S506
    assert [k for k, _ in _secret_literals(doc)] == ["a.db_password"]
