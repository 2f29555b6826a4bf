"""dev/tools/engine_artifact.py: reproducible tarballs that follow the artifact contract, and signatures."""

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
TOOL = ROOT / "dev" / "tools" / "engine_artifact.py"


def build(out, *args):
    return subprocess.run([sys.executable, str(TOOL), "--out", str(out), *args], capture_output=True, text=True,
                          check=False)


def test_artifact_is_reproducible_and_follows_the_contract(tmp_path):
    first = build(tmp_path / "a", "--version", "1.2.3")
    second = build(tmp_path / "b", "--version", "1.2.3")
    assert first.returncode == second.returncode == 0, first.stderr
    a = tmp_path / "a" / "nearzero-engine-1.2.3.tar.gz"
    b = tmp_path / "b" / "nearzero-engine-1.2.3.tar.gz"
    assert a.read_bytes() == b.read_bytes()
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    assert (tmp_path / "a" / "nearzero-engine-1.2.3.tar.gz.sha256").read_text() == f"{digest}  {a.name}\n"
    assert f"sha256 {digest}" in first.stdout
    with tarfile.open(a) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("VERSION").read() == b"1.2.3\n"
    assert members["bin/engine"].mode == 0o755 and members["bin/engine"].isfile()
    assert "lib/nearzero_engine/service.py" in members
    for name, member in members.items():
        assert not name.startswith(("/", "..")) and ".." not in name.split("/")
        assert member.isfile() or member.isdir()
        assert (member.uid, member.gid) == (0, 0)
        assert "__pycache__" not in name


def test_a_different_version_is_a_different_artifact(tmp_path):
    assert build(tmp_path, "--version", "1.0.0").returncode == 0
    assert build(tmp_path, "--version", "1.0.1").returncode == 0
    one = (tmp_path / "nearzero-engine-1.0.0.tar.gz").read_bytes()
    two = (tmp_path / "nearzero-engine-1.0.1.tar.gz").read_bytes()
    assert one != two


def test_default_version_comes_from_the_source_tree(tmp_path):
    version = (ROOT / "dev" / "engine" / "VERSION").read_text().strip()
    assert build(tmp_path).returncode == 0
    assert (tmp_path / f"nearzero-engine-{version}.tar.gz").is_file()


@pytest.mark.parametrize("version", ["../1", "1.0 beta", "", "-1"])
def test_bad_version_is_refused(tmp_path, version):
    res = build(tmp_path, "--version", version)
    assert res.returncode != 0
    assert not list(tmp_path.glob("*.tar.gz"))


def test_symlink_in_the_source_is_refused(tmp_path):
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "engine").write_text("#!/bin/sh\n")
    (src / "bin" / "engine").chmod(0o755)
    (src / "etc").symlink_to("/etc")
    res = build(tmp_path / "out", "--source", str(src), "--version", "1.0.0")
    assert res.returncode == 1
    assert "symbolic link" in res.stderr


def test_signature_verifies_with_ssh_keygen(tmp_path):
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rel", "-f", str(key)], check=True)
    res = build(tmp_path, "--version", "2.0.0", "--sign-key", str(key))
    assert res.returncode == 0, res.stderr
    artifact = tmp_path / "nearzero-engine-2.0.0.tar.gz"
    signers = tmp_path / "allowed"
    signers.write_text("release@nearzero " + " ".join((tmp_path / "key.pub").read_text().split()[:2]) + "\n")

    def verify(data):
        return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "release@nearzero",
                               "-n", "nearzero-engine", "-s", str(artifact) + ".sig"], input=data,
                              capture_output=True, check=False)

    assert verify(artifact.read_bytes()).returncode == 0
    assert verify(artifact.read_bytes() + b"x").returncode != 0


def test_resigning_or_rebuilding_never_leaves_a_stale_signature(tmp_path):
    keys = {}
    for name in ("old", "new"):
        keys[name] = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys[name])], check=True)
    assert build(tmp_path, "--version", "3.0.0", "--sign-key", str(keys["old"])).returncode == 0
    assert build(tmp_path, "--version", "3.0.0", "--sign-key", str(keys["new"])).returncode == 0
    artifact = tmp_path / "nearzero-engine-3.0.0.tar.gz"
    signers = tmp_path / "allowed"
    signers.write_text("release@nearzero " + " ".join((tmp_path / "old.pub").read_text().split()[:2]) + "\n")
    res = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "release@nearzero", "-n",
                          "nearzero-engine", "-s", str(artifact) + ".sig"], input=artifact.read_bytes(),
                         capture_output=True, check=False)
    assert res.returncode != 0  # the .sig is the new key's, not the old one left behind
    assert build(tmp_path, "--version", "3.0.0").returncode == 0
    assert not (tmp_path / "nearzero-engine-3.0.0.tar.gz.sig").exists()


def test_builds_side_by_side_into_one_folder_all_succeed(tmp_path):
    """Scenarios run at once (make test) and each builds into dist/: none may fail or see half a file."""
    builds = [subprocess.Popen([sys.executable, str(TOOL), "--out", str(tmp_path), "--version", "1.2.3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [(b.wait(timeout=120), b.stderr.read()) for b in builds]
    assert [rc for rc, _err in results] == [0] * 6, results
    artifact = tmp_path / "nearzero-engine-1.2.3.tar.gz"
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert (tmp_path / "nearzero-engine-1.2.3.tar.gz.sha256").read_text() == f"{digest}  {artifact.name}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [artifact.name, f"{artifact.name}.sha256"]
