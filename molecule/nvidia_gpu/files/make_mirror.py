#!/usr/bin/env python3
"""Build a local stand-in for NVIDIA's CUDA apt repository (flat layout: <out>/<dist>/<arch>/).

Runs on the lab host (dpkg-deb, gpg, Python standard library). It makes a signing key, a
cuda-keyring_1.1-1_all.deb that carries that key (and, like the real one, a sources list pointing
at NVIDIA, which the role must not use), empty packages with the real names on two driver
branches (580 and 590, with the same ``>=`` dependencies that make a held metapackage drift),
a CUDA toolkit on two versions, a package outside the driver's version scheme, and a signed
InRelease. The packages contain nothing but a stand-in nvidia-persistenced that refuses to run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

B580, B590 = "580.95.05", "590.44.01"


def refusing(what: str) -> str:
    """A stand-in executable: exists (so units verify) but refuses to run."""
    return f"#!/bin/sh\necho 'nearzero test mirror: not a real {what}' >&2\nexit 1\n"


def driver_packages(ver: str) -> list[dict]:
    dep = f"(>= {ver})"
    return [
        {"Package": "nvidia-driver-cuda", "Version": f"{ver}-1",
         "Depends": f"nvidia-kernel-open-dkms {dep} | nvidia-kernel-dkms {dep}, libcuda1 {dep}, nvidia-smi {dep}"},
        {"Package": "nvidia-kernel-open-dkms", "Version": f"{ver}-1", "Depends": f"nvidia-kernel-support {dep}"},
        {"Package": "nvidia-kernel-dkms", "Version": f"{ver}-1", "Depends": f"nvidia-kernel-support {dep}"},
        {"Package": "nvidia-kernel-support", "Version": f"{ver}-1"},
        {"Package": "libcuda1", "Version": f"{ver}-1"},
        {"Package": "nvidia-smi", "Version": f"{ver}-1", "Depends": f"libnvidia-ml1 {dep}",
         "files": {"usr/bin/nvidia-smi": refusing("nvidia-smi")}},
        {"Package": "libnvidia-ml1", "Version": f"{ver}-1"},
        {"Package": "nvidia-persistenced", "Version": f"{ver}-1", "files": {
            "usr/bin/nvidia-persistenced": refusing("nvidia-persistenced")}},
        {"Package": "nvidia-fabricmanager", "Version": f"{ver}-1", "Depends": f"libnvidia-nscq {dep}", "files": {
            "usr/bin/nv-fabricmanager": refusing("fabric manager"),
            "lib/systemd/system/nvidia-fabricmanager.service":
                "[Unit]\nDescription=stand-in for NVIDIA fabric manager\n[Service]\nType=simple\n"
                "ExecStart=/usr/bin/nv-fabricmanager\n[Install]\nWantedBy=multi-user.target\n"}},
        {"Package": "libnvidia-nscq", "Version": f"{ver}-1"},
        {"Package": "cuda-drivers", "Version": f"{ver}-1", "Depends": f"nvidia-driver-cuda {dep}"},
    ]


PACKAGES = [
    *driver_packages(B580),
    *driver_packages(B590),
    {"Package": "cuda-toolkit-13-0", "Version": "13.0.2-1", "Depends": "cuda-nvcc-13-0 (>= 13.0.88)"},
    {"Package": "cuda-nvcc-13-0", "Version": "13.0.88-1"},
    {"Package": "cuda-toolkit-13-1", "Version": "13.1.0-1", "Depends": "cuda-nvcc-13-1 (>= 13.1.80)"},
    {"Package": "cuda-nvcc-13-1", "Version": "13.1.80-1"},
    {"Package": "cuda-toolkit", "Version": "13.1.0-1", "Depends": "cuda-toolkit-13-1"},
    {"Package": "libnvidia-container1", "Version": "1.17.8-1"},
    {"Package": "linux-headers-nearzero-test", "Version": "6.1.0-1"},
]


def run(*cmd: str, env: dict | None = None) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def build_deb(work: Path, out: Path, spec: dict) -> Path:
    root = work / f"{spec['Package']}_{spec['Version']}"
    (root / "DEBIAN").mkdir(parents=True)
    for rel, content in spec.get("files", {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        path.chmod(0o755 if rel.startswith("usr/bin/") else 0o644)
    arch = spec.get("Architecture", "amd64")
    control = [f"Package: {spec['Package']}", f"Version: {spec['Version']}", f"Architecture: {arch}",
               "Maintainer: nearzero test mirror <nobody@invalid>", "Section: non-free/misc", "Priority: optional"]
    if spec.get("Depends"):
        control.append(f"Depends: {spec['Depends']}")
    control.append(f"Description: nearzero test stand-in for {spec['Package']}\n Empty package for role tests.")
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    deb = out / f"{spec['Package']}_{spec['Version']}_{arch}.deb"
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    run("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb), env=env)
    return deb


def index_entry(deb: Path, repo: Path) -> str:
    control = run("dpkg-deb", "-f", str(deb)).strip()
    data = deb.read_bytes()
    return (f"{control}\nFilename: ./{deb.relative_to(repo)}\nSize: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {hashlib.sha256(data).hexdigest()}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--dist", default="debian12")
    parser.add_argument("--arch", default="x86_64")
    args = parser.parse_args()
    repo = Path(args.out) / args.dist / args.arch
    repo.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gnupg = work / "gnupg"
        gnupg.mkdir(mode=0o700)
        env = {**os.environ, "GNUPGHOME": str(gnupg)}
        run("gpg", "--batch", "--passphrase", "", "--quick-gen-key", "nearzero test mirror <nobody@invalid>",
            "ed25519", "sign", "never", env=env)
        key = subprocess.run(["gpg", "--export"], check=True, capture_output=True, env=env).stdout
        keyring = build_deb(work, repo, {
            "Package": "cuda-keyring", "Version": "1.1-1", "Architecture": "all",
            "files": {"usr/share/keyrings/cuda-archive-keyring.gpg": key,
                      f"etc/apt/sources.list.d/cuda-{args.dist}-{args.arch}.list":
                          "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] "
                          f"https://developer.download.nvidia.com/compute/cuda/repos/{args.dist}/{args.arch}/ /\n"}})
        debs = [keyring, *(build_deb(work, repo, spec) for spec in PACKAGES)]
        packages = "\n".join(index_entry(deb, repo) for deb in debs)
        (repo / "Packages").write_text(packages)
        (repo / "Packages.gz").write_bytes(gzip.compress(packages.encode(), mtime=0))
        lines = ["Origin: nearzero-test", "Label: nearzero-test", "Architectures: amd64 all",
                 "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()), "SHA256:"]
        for name in ("Packages", "Packages.gz"):
            data = (repo / name).read_bytes()
            lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
        (repo / "Release").write_text("\n".join(lines) + "\n")
        run("gpg", "--batch", "--yes", "--clearsign", "-o", str(repo / "InRelease"), str(repo / "Release"), env=env)
        (Path(args.out) / "cuda-keyring.sha256").write_text(hashlib.sha256(keyring.read_bytes()).hexdigest() + "\n")
    for path in Path(args.out).rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    Path(args.out).chmod(0o755)


if __name__ == "__main__":
    main()
