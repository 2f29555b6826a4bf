"""SSH host keys from the guest attributes Compute Engine publishes, written as a known_hosts file.

The guest agent of a VM with metadata ``enable-guest-attributes=TRUE`` publishes the VM's SSH host
public keys under the guest attribute namespace ``hostkeys/``; ``instances.getGuestAttributes`` reads
them over the authenticated API, so the first SSH connection can already check the key instead of
trusting whatever answers on the address (trust on first use).

Each key is checked before it is written: a guest controls what it publishes, and a value carrying a
line break or a marker could otherwise add a line for another host to the file.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.compute import ComputeApi
from ansible_collections.nearzero.gcp.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.errors import ConfigError

# Key types OpenSSH accepts in known_hosts.
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# Instance names: RFC 1035 labels, as Compute Engine requires them.
_NAME = re.compile(r"[a-z]([-a-z0-9.]{0,253}[a-z0-9])?")

# (inventory host name, project, zone, instance name, ansible_host or None)
Target = tuple[str, str, str, str, "str | None"]


def valid_key(key_type: Any, blob: Any) -> bool:
    """Whether (``key_type``, ``blob``) is a well-formed public key whose blob names the same type."""
    if key_type not in KEY_TYPES or not isinstance(blob, str) or not _BASE64.fullmatch(blob):
        return False
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return False
    # an SSH public key blob starts with its type as a length-prefixed string
    size = int.from_bytes(raw[:4], "big")
    return raw[4:4 + size] == key_type.encode()


def host_patterns(target: Target) -> list[str]:
    """The names ssh will look the host up by: its inventory name and its address, each checked."""
    host, _project, _zone, _name, address = target
    out = [host] if _NAME.fullmatch(host) else []
    if address:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is not None:
            out.append(f"[{ip}]" if ip.version == 6 else str(ip))
    return out


def published_keys(api: ComputeApi, project: str, zone: str, name: str) -> list[tuple[str, str]]:
    """The (type, key) pairs the instance published under ``hostkeys/``; [] when it published none."""
    url = f"{api.base}/projects/{project}/zones/{zone}/instances/{name}/getGuestAttributes"
    context = {"project": project, "resource": f"guest attributes of instance '{name}' in zone '{zone}'",
               "permission": "compute.instances.getGuestAttributes", "role": "roles/compute.viewer",
               "api": "Compute Engine API", "service": "compute.googleapis.com", "endpoint_option": "api_endpoint"}
    try:
        body = api.client.get_json(url, params={"queryPath": "hostkeys/"}, context=context)
    except GcpError as exc:
        if exc.kind == "not_found":  # guest attributes off, or nothing published yet
            return []
        raise
    items = ((body.get("queryValue") or {}).get("items")) or ()
    return [(i.get("key"), i.get("value")) for i in items if i.get("namespace") == "hostkeys"]


def fetch(api: ComputeApi, targets: Iterable[Target], concurrency: int,
          warn: Callable[[str], None]) -> list[str]:
    """known_hosts lines for ``targets``, in their order; warns about hosts without a usable key."""
    targets = list(targets)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="gce-hostkeys") as pool:
        answers = list(pool.map(lambda t: published_keys(api, t[1], t[2], t[3]), targets))
    lines: list[str] = []
    for target, keys in zip(targets, answers, strict=True):
        patterns = host_patterns(target)
        good = [(t, k) for t, k in keys if valid_key(t, k)]
        if len(good) != len(keys):
            warn(f"host {target[0]} published {len(keys) - len(good)} malformed host key(s) in its guest "
                 "attributes; they were left out.")
        if not good or not patterns:
            warn(f"host {target[0]} published no SSH host key in its guest attributes (hostkeys/), so ssh will "
                 "refuse it. Fix: set metadata enable-guest-attributes=TRUE on the instance and restart its "
                 "guest agent (google-guest-agent publishes the keys at boot).")
            continue
        lines.extend(f"{','.join(patterns)} {key_type} {blob}" for key_type, blob in good)
    return lines


def write_known_hosts(path: str, lines: list[str]) -> None:
    """Replace ``path`` with ``lines`` (mode 0644) through a temporary file in the same directory."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=directory)
    except OSError as exc:
        raise ConfigError(f"host_keys_file {path}: cannot write there ({exc.strerror}). Fix: name a writable "
                          "path.") from None
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def ssh_args(path: str) -> str:
    """The ssh options that make Ansible's ssh check host keys against ``path`` only."""
    return f"-o UserKnownHostsFile={path} -o StrictHostKeyChecking=yes"
