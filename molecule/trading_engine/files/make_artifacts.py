#!/usr/bin/env python3
"""Build every artifact the scenario deploys, good and bad, and write their manifest.

Good ones come from dev/tools/engine_artifact.py on the real engine: 0.1.0 and 0.2.0 (signed with a
throw-away SSH key). Bad ones are what a broken pipeline or an attacker would produce:

- ``crash``: bin/engine exits 3 at once (the unit never starts);
- ``notready``: bin/engine tells systemd READY=1 but never serves its health endpoint;
- ``dotdot``, ``absolute``, ``symlink``: tarballs with a member escaping the release
  (``../``, an absolute path, a symlink pointing out of it).

Output: ``OUT/manifest.json`` mapping each name to {path, sha256, version}.
"""

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "dev" / "tools"))

import engine_artifact  # noqa: E402 - the path is set just above

CRASH = """#!/bin/sh
echo "engine: fatal: cannot map the order book (deliberately broken release)" >&2
exit 3
"""
NOT_READY = """#!/usr/bin/python3
# Deliberately broken: tells systemd it is ready, but never serves /healthz/ready.
import os, socket, time
addr = os.environ.get("NOTIFY_SOCKET", "")
if addr:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1", "\\0" + addr[1:] if addr.startswith("@") else addr)
print("engine: started without a health endpoint (deliberately broken release)", flush=True)
time.sleep(3600)
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def variant(out: Path, version: str, entry: str) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "engine"
        shutil.copytree(ROOT / "dev" / "engine", src, ignore=shutil.ignore_patterns("__pycache__"))
        (src / "bin" / "engine").write_text(entry)
        (src / "bin" / "engine").chmod(0o755)
        path, _ = engine_artifact.build(src, version, out, 0)
    return path


def evil(out: Path, name: str, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    path = out / f"nearzero-engine-0.9.0-{name}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind=tarfile.REGTYPE, mode=0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    key = out / "release-key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release@nearzero", "-f", str(key)],
                       check=True)
    rogue = out / "rogue-key"
    if not rogue.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rogue", "-f", str(rogue)], check=True)
    built = {}
    for name, version in (("v1", "0.1.0"), ("v2", "0.2.0")):
        path, _ = engine_artifact.build(ROOT / "dev" / "engine", version, out, 0)
        built[name] = (path, version)
    # a valid signature of v2 by a key nobody trusts, for the refusal test; then the real one
    rogue_sig = out / "v2-by-rogue.sig"
    engine_artifact.sign(built["v2"][0], rogue).rename(rogue_sig)
    engine_artifact.sign(built["v2"][0], key)
    built["crash"] = (variant(out, "0.3.0-crash", CRASH), "0.3.0-crash")
    built["notready"] = (variant(out, "0.3.0-notready", NOT_READY), "0.3.0-notready")
    entry = (member("bin/engine", mode=0o755), b"#!/bin/sh\nexit 0\n")
    built["dotdot"] = (evil(out, "dotdot", [entry, (member("../../../etc/cron.d/evil"), b"* * * * * root id\n")]),
                       "0.9.0-dotdot")
    built["absolute"] = (evil(out, "absolute", [entry, (member("/etc/cron.d/evil"), b"* * * * * root id\n")]),
                         "0.9.0-absolute")
    built["symlink"] = (evil(out, "symlink", [entry, (member("lib", tarfile.SYMTYPE, link="../../../../etc"), b"")]),
                        "0.9.0-symlink")
    manifest = {name: {"path": str(path), "sha256": sha256(path), "version": version}
                for name, (path, version) in built.items()}
    manifest["v2"]["signature"] = str(built["v2"][0]) + ".sig"
    manifest["v2"]["rogue_signature"] = str(rogue_sig)
    manifest["allowed_signers"] = f"release@nearzero {' '.join((key.with_suffix('.pub')).read_text().split()[:2])}"
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
