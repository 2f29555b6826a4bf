#!/usr/bin/env python3
"""Build the engine's release artifact: a reproducible tarball, its sha256 and (optionally) a signature.

``make engine-artifact`` runs this. The tarball follows the artifact contract of the
trading_engine role (roles/trading_engine/README.md): its members sit at the root of the
release (``bin/engine``, ``lib/...``, ``VERSION``), with no leading directory, no absolute
path, no ``..`` and no link.

The same sources and version always give the same bytes (sorted members, owner root, fixed
modes, mtimes from ``SOURCE_DATE_EPOCH`` or 0, a gzip header without name or time), so the
sha256 identifies the content and a rebuild does not look like a new release.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = "nearzero-engine"
SIGNATURE_NAMESPACE = "nearzero-engine"
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+~-]{0,63}$")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".swp")


class ArtifactError(Exception):
    """A problem the caller can fix; the message names it."""


def collect(source: Path) -> list[Path]:
    """Files under ``source`` that belong in the artifact, sorted; links are refused."""
    files = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                raise ArtifactError(f"{path} is a symbolic link; the artifact contract allows regular files only")
            if name in filenames and not name.endswith(SKIP_SUFFIXES):
                files.append(path)
    return files


def build(source: Path, version: str, out_dir: Path, mtime: int) -> tuple[Path, str]:
    """Write ``out_dir/nearzero-engine-<version>.tar.gz`` and its ``.sha256``; return (path, sha256)."""
    if not VERSION_RE.match(version):
        raise ArtifactError(f"version {version!r} must match {VERSION_RE.pattern} (e.g. 1.4.0 or 1.4.0+g1a2b3c)")
    entry = source / "bin" / "engine"
    if not entry.is_file() or not os.access(entry, os.X_OK):
        raise ArtifactError(f"{entry} is missing or not executable; the artifact contract needs bin/engine")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories = set()
        members = [(path.relative_to(source).as_posix(), path.read_bytes(), os.access(path, os.X_OK))
                   for path in collect(source) if path.relative_to(source).as_posix() != "VERSION"]
        members.append(("VERSION", f"{version}\n".encode(), False))
        for name, data, executable in sorted(members):
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    tar.addfile(_info(directory, tarfile.DIRTYPE, 0o755, mtime))
            info = _info(name, tarfile.REGTYPE, 0o755 if executable else 0o644, mtime)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{NAME}-{version}.tar.gz"
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    data = compressed.getvalue()
    _replace(target, data)
    # a signature belongs to the bytes it signed: drop one left from an earlier build
    target.with_name(target.name + ".sig").unlink(missing_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    _replace(target.with_name(target.name + ".sha256"), f"{digest}  {target.name}\n".encode())
    return target, digest


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all.

    Builds may run side by side (make test runs scenarios at once), so each writes its own
    temporary file: a reader never sees a half-written artifact.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _info(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def sign(artifact: Path, key: Path) -> Path:
    """Sign ``artifact`` with an SSH key (``ssh-keygen -Y sign``); return the ``.sig`` path."""
    signature = artifact.with_name(artifact.name + ".sig")
    # ssh-keygen keeps an existing .sig; a stale signature must never pass for a new one
    signature.unlink(missing_ok=True)
    res = subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(key), "-n", SIGNATURE_NAMESPACE, str(artifact)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ArtifactError(f"ssh-keygen could not sign {artifact} with {key}: {res.stderr.strip()}")
    return signature


def default_mtime() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not value.isdigit():
        raise ArtifactError(f"SOURCE_DATE_EPOCH={value!r} must be a number of seconds")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT / "dev" / "engine", help="engine tree (default engine/)")
    parser.add_argument("--version", help="release version (default: the VERSION file of the source tree)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default dist/)")
    parser.add_argument("--sign-key", type=Path, help="SSH private key: also write <artifact>.sig (ssh-keygen -Y)")
    args = parser.parse_args(argv)
    try:
        version = args.version
        if version is None:
            version_file = args.source / "VERSION"
            if not version_file.is_file():
                raise ArtifactError(f"no --version given and {version_file} does not exist")
            version = version_file.read_text().strip()
        target, digest = build(args.source, version, args.out, default_mtime())
        print(f"{target}\nsha256 {digest}")
        if args.sign_key:
            print(f"signature {sign(target, args.sign_key)}")
    except (ArtifactError, OSError) as exc:
        print(f"engine_artifact: ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
