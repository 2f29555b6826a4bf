"""nearzero.gcp.engine_release: safe unpacking, atomic switch, history-based rollback, pruning, check and diff."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from ansible_collections.nearzero.gcp.plugins.modules import engine_release as er

ROOT = Path(__file__).resolve().parents[4]


def tarball(path, members):
    """Write a .tar.gz of (name, kind, data_or_linkname, mode) and return its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload, mode in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            if kind == tarfile.REGTYPE:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                info.linkname = payload if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
                tar.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


GOOD = [("bin/engine", tarfile.REGTYPE, b"#!/bin/sh\nexit 0\n", 0o4755),
        ("lib/x.py", tarfile.REGTYPE, b"print(1)\n", 0o666),
        ("lib/alias", tarfile.SYMTYPE, "x.py", 0o777)]


@pytest.fixture
def rel(tmp_path):
    root = tmp_path / "engine"
    (root / "releases").mkdir(parents=True)
    return er.Releases(str(root))


def unpack(rel, tmp_path, name, members, sha=None):
    archive = tmp_path / f"{name}.tar.gz"
    digest = tarball(archive, members)
    return er.unpack(rel, name, str(archive), sha or digest, "bin/engine", False), archive


def test_unpack_makes_a_complete_release_and_removes_the_archive(rel, tmp_path):
    changed, archive = unpack(rel, tmp_path, "1.0.0-aaaaaaaaaaaa", GOOD)
    assert changed and not archive.exists()
    path = Path(rel.path("1.0.0-aaaaaaaaaaaa"))
    assert (path / "bin" / "engine").stat().st_mode & 0o7777 == 0o755  # set-uid bit dropped
    assert (path / "lib" / "x.py").stat().st_mode & 0o7777 == 0o644  # world-writable dropped
    assert os.readlink(path / "lib" / "alias") == "x.py"
    assert rel.exists("1.0.0-aaaaaaaaaaaa")
    # the same release again: nothing to do
    changed, _archive = unpack(rel, tmp_path, "1.0.0-aaaaaaaaaaaa", GOOD)
    assert changed is False


@pytest.mark.parametrize(("members", "message"), [
    ([GOOD[0], ("../../etc/cron.d/x", tarfile.REGTYPE, b"x", 0o644)], r"contains '\.\.' \(path traversal\)"),
    ([GOOD[0], ("/etc/cron.d/x", tarfile.REGTYPE, b"x", 0o644)], "has an absolute path"),
    ([GOOD[0], ("lib", tarfile.SYMTYPE, "../../../../etc", 0o777)], "points outside the release"),
    ([GOOD[0], ("lib", tarfile.SYMTYPE, "/etc", 0o777)], "points to the absolute path"),
    ([GOOD[0], ("d", tarfile.SYMTYPE, "bin", 0o777), ("d/x", tarfile.REGTYPE, b"x", 0o644)],
     "goes through the symbolic link"),
    ([GOOD[0], ("hard", tarfile.LNKTYPE, "/etc/shadow", 0o644)], "is a hard link"),
    ([GOOD[0], ("dev", tarfile.CHRTYPE, "", 0o644)], "device, FIFO or other special file"),
    ([GOOD[0], GOOD[0]], "appears twice"),
    ([("lib/x.py", tarfile.REGTYPE, b"x", 0o644)], "has no executable bin/engine"),
    ([("bin/engine", tarfile.REGTYPE, b"x", 0o644)], "has no executable bin/engine"),
])
def test_bad_archives_are_refused_and_nothing_is_left(rel, tmp_path, members, message):
    with pytest.raises(er.ReleaseError, match=message):
        unpack(rel, tmp_path, "9.0.0-bbbbbbbbbbbb", members)
    assert os.listdir(rel.dir) == []  # no release, no partial directory
    assert not (tmp_path / "9.0.0-bbbbbbbbbbbb.tar.gz").exists()
    assert not (tmp_path.parent / "etc").exists()


def test_checksum_mismatch_on_the_host_is_refused(rel, tmp_path):
    with pytest.raises(er.ReleaseError, match="corrupted in transfer"):
        unpack(rel, tmp_path, "1.0.0-cccccccccccc", GOOD, sha="0" * 64)
    assert os.listdir(rel.dir) == []


def test_not_a_tarball_is_refused(rel, tmp_path):
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(b"not a tarball")
    with pytest.raises(er.ReleaseError, match="cannot be read as a tarball"):
        er.unpack(rel, "1.0.0-dddddddddddd", str(archive), hashlib.sha256(b"not a tarball").hexdigest(),
                  "bin/engine", False)
    assert os.listdir(rel.dir) == []


def test_a_release_name_reused_for_another_artifact_is_refused(rel, tmp_path):
    unpack(rel, tmp_path, "1.0.0-aaaaaaaaaaaa", GOOD)
    with pytest.raises(er.ReleaseError, match="give the new artifact a new version"):
        unpack(rel, tmp_path, "1.0.0-aaaaaaaaaaaa", GOOD[:1])


def activate(rel, name, action="deploy"):
    before = rel.current()
    rel.switch(name)
    rel.append_history({"action": action, "release": name, "from": before})


def test_switch_is_a_symlink_rename_and_previous_comes_from_history_not_mtimes(rel, tmp_path):
    for name in ("1.0.0-aaaaaaaaaaaa", "2.0.0-bbbbbbbbbbbb", "3.0.0-cccccccccccc"):
        unpack(rel, tmp_path, name, GOOD)
        activate(rel, name)
    assert os.readlink(rel.current_link) == "releases/3.0.0-cccccccccccc"
    # make the oldest release look newest on disk: mtimes must not matter
    os.utime(rel.path("1.0.0-aaaaaaaaaaaa"), (4_000_000_000, 4_000_000_000))
    assert rel.previous() == "2.0.0-bbbbbbbbbbbb"
    activate(rel, "2.0.0-bbbbbbbbbbbb", "rollback")
    # 3.0.0 was rolled back from: a second rollback goes further back, not to 3.0.0
    assert rel.previous() == "1.0.0-aaaaaaaaaaaa"
    activate(rel, "3.0.0-cccccccccccc")  # deployed again: a candidate again
    assert rel.previous() == "2.0.0-bbbbbbbbbbbb"
    assert [n for n in os.listdir(rel.root) if n.startswith(".current-")] == []


def test_prune_keeps_current_and_previous(rel, tmp_path):
    names = [f"{i}.0.0-{str(i) * 12}" for i in range(1, 6)]
    for name in names:
        unpack(rel, tmp_path, name, GOOD)
        activate(rel, name)
    activate(rel, names[0], "rollback")  # current is the oldest release now
    removed = er.prune(rel, 2, check_mode=False)
    assert rel.current() == names[0]
    kept = rel.names()
    assert names[0] in kept and rel.previous() in kept
    assert set(kept) | set(removed) == set(names)
    assert len(kept) == 3  # the two newest by history, plus current


def run_ansible(args, check=False):
    """Run the module through Ansible itself by its FQCN, as the role does."""
    cmd = [str(Path(sys.executable).parent / "ansible"), "localhost", "-m", "nearzero.gcp.engine_release",
           "-a", json.dumps(args), "-o"] + (["--check"] if check else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    payload = res.stdout.split("=>", 1)[1] if "=>" in res.stdout else "{}"
    return res.returncode, json.loads(payload)


def test_module_end_to_end_with_check_mode(tmp_path):
    root = tmp_path / "engine"
    archive = tmp_path / "a.tar.gz"
    digest = tarball(archive, GOOD)
    rc, out = run_ansible({"root": str(root), "state": "unpacked", "release": "1.0.0-aaaaaaaaaaaa",
                          "archive": str(archive), "sha256": digest})
    assert rc == 0 and out["changed"] is True and out["releases"] == ["1.0.0-aaaaaaaaaaaa"]
    rc, out = run_ansible({"root": str(root), "state": "active", "release": "1.0.0-aaaaaaaaaaaa"}, check=True)
    assert rc == 0 and out["changed"] is True and not (root / "current").exists()
    rc, out = run_ansible({"root": str(root), "state": "active", "release": "1.0.0-aaaaaaaaaaaa"})
    assert rc == 0 and out["changed"] is True and out["current"] == "1.0.0-aaaaaaaaaaaa"
    rc, out = run_ansible({"root": str(root), "state": "active", "release": "1.0.0-aaaaaaaaaaaa"})
    assert rc == 0 and out["changed"] is False
    rc, out = run_ansible({"root": str(root), "state": "active", "release": "bad name"})
    assert rc != 0 and "must be <version>-<hex sha>" in out["msg"]


def test_check_mode_and_diff_show_what_would_change_and_change_nothing(tmp_path, run_module):
    root = tmp_path / "engine"
    archive = tmp_path / "a.tar.gz"
    digest = tarball(archive, GOOD)
    unpacked = {"root": str(root), "state": "unpacked", "release": "1.0.0-aaaaaaaaaaaa", "archive": str(archive),
                "sha256": digest}
    failed, out = run_module("engine_release", unpacked, check=True, diff=True)
    assert not failed and out["changed"] is True
    assert out["diff"] == {"before": {"current": None, "releases": []},
                           "after": {"current": None, "releases": ["1.0.0-aaaaaaaaaaaa"]}}
    assert archive.exists() and not (root / "releases").exists()

    failed, out = run_module("engine_release", unpacked, diff=True)
    assert not failed and out["diff"]["after"]["releases"] == ["1.0.0-aaaaaaaaaaaa"]
    active = {"root": str(root), "state": "active", "release": "1.0.0-aaaaaaaaaaaa"}
    failed, out = run_module("engine_release", active, check=True, diff=True)
    assert not failed and out["changed"] is True
    assert out["diff"]["before"]["current"] is None and out["diff"]["after"]["current"] == "1.0.0-aaaaaaaaaaaa"
    assert not (root / "current").exists() and not (root / "history.jsonl").exists()

    failed, out = run_module("engine_release", active, diff=True)
    assert not failed and os.readlink(root / "current") == "releases/1.0.0-aaaaaaaaaaaa"
    assert out["diff"]["after"]["current"] == "1.0.0-aaaaaaaaaaaa"
    failed, out = run_module("engine_release", active, diff=True)
    assert not failed and out["changed"] is False and out["diff"]["before"] == out["diff"]["after"]

    unlinked = {"root": str(root), "state": "unlinked"}
    failed, out = run_module("engine_release", unlinked, check=True, diff=True)
    assert not failed and out["changed"] is True and out["diff"]["after"]["current"] is None
    assert (root / "current").is_symlink()
    failed, out = run_module("engine_release", unlinked)
    assert not failed and out["changed"] is True and "diff" not in out and not (root / "current").is_symlink()


def test_prune_in_check_mode_lists_what_it_would_remove(tmp_path, run_module):
    root = tmp_path / "engine"
    rel = er.Releases(str(root))
    names = [f"{i}.0.0-{str(i) * 12}" for i in range(1, 5)]
    for name in names:
        unpack(rel, tmp_path, name, GOOD)
        activate(rel, name)
    args = {"root": str(root), "state": "pruned", "keep": 1}
    failed, out = run_module("engine_release", args, check=True, diff=True)
    # kept: the newest (current) and the one before it (previous)
    assert not failed and out["changed"] is True and out["removed"] == names[:2]
    assert out["diff"]["after"]["releases"] == names[2:] and rel.names() == names
    failed, out = run_module("engine_release", args, diff=True)
    assert not failed and rel.names() == names[2:] and out["diff"]["after"]["releases"] == names[2:]
    failed, out = run_module("engine_release", {**args, "keep": 0})
    assert failed and "keep must be at least 1" in out["msg"]
