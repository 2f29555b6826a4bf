"""nearzero.gcp.low_latency_files: whole files written atomically, removed, check mode, diff, idempotence."""

import os
import subprocess

import pytest


def files(*specs):
    return {"files": list(specs)}


def test_writes_files_with_their_modes_then_changes_nothing(tmp_path, run_module):
    unit = tmp_path / "etc" / "systemd" / "system" / "x.service"
    tool = tmp_path / "sbin" / "tool"
    args = files({"path": str(unit), "content": "[Unit]\n"},
                 {"path": str(tool), "content": "#!/bin/sh\n", "mode": "0755"})
    failed, out = run_module("low_latency_files", args)
    assert not failed and out["changed"] is True and out["changed_paths"] == [str(unit), str(tool)]
    assert unit.read_text() == "[Unit]\n" and unit.stat().st_mode & 0o7777 == 0o644
    assert tool.read_text() == "#!/bin/sh\n" and tool.stat().st_mode & 0o7777 == 0o755
    assert not [n for n in os.listdir(unit.parent) if n.startswith(".nearzero-")]  # no temporary file left
    failed, out = run_module("low_latency_files", args)
    assert not failed and out["changed"] is False and out["changed_paths"] == []


def test_only_the_file_that_differs_is_rewritten(tmp_path, run_module):
    same, other = tmp_path / "same.conf", tmp_path / "other.conf"
    same.write_text("a = 1\n")
    same.chmod(0o644)
    other.write_text("b = 1\n")
    other.chmod(0o600)  # same content, other mode: rewritten for the mode
    failed, out = run_module("low_latency_files", files({"path": str(same), "content": "a = 1\n"},
                                                        {"path": str(other), "content": "b = 1\n"}))
    assert not failed and out["changed_paths"] == [str(other)]
    assert other.stat().st_mode & 0o7777 == 0o644


def test_check_mode_and_diff_report_and_write_nothing(tmp_path, run_module):
    old, gone = tmp_path / "old.conf", tmp_path / "gone.conf"
    old.write_text("x = 1\n")
    old.chmod(0o644)
    gone.write_text("y = 1\n")
    new = tmp_path / "d" / "new.conf"
    args = files({"path": str(old), "content": "x = 2\n"}, {"path": str(gone), "state": "absent"},
                 {"path": str(new), "content": "z = 1\n"})
    failed, out = run_module("low_latency_files", args, check=True, diff=True)
    assert not failed and out["changed"] is True and out["changed_paths"] == [str(old), str(gone), str(new)]
    assert old.read_text() == "x = 1\n" and gone.exists() and not new.parent.exists()
    before_after = [(d["before"], d["after"]) for d in out["diff"]]
    assert before_after == [("x = 1\n", "x = 2\n"), ("y = 1\n", ""), ("", "z = 1\n")]
    assert out["diff"][0]["before_header"] == f"{old} (0644)"

    failed, out = run_module("low_latency_files", args)
    assert not failed and "diff" not in out  # only when asked for
    assert old.read_text() == "x = 2\n" and not gone.exists() and new.read_text() == "z = 1\n"
    failed, out = run_module("low_latency_files", args, check=True)
    assert not failed and out["changed"] is False


@pytest.mark.parametrize(("spec", "message"), [
    ({"path": "relative/file", "content": "x"}, "must be absolute"),
    ({"path": "/tmp/nearzero-never-written", "mode": "rw-r--r--"}, "is not an octal string like '0644'"),
    ({"path": "/tmp/nearzero-never-written", "mode": "17777"}, "is not an octal string like '0644'"),
])
def test_bad_input_is_refused_with_the_reason(spec, message, run_module):
    failed, out = run_module("low_latency_files", files(spec))
    assert failed and message in out["msg"]
    assert not os.path.exists("/tmp/nearzero-never-written")


@pytest.fixture
def immutable():
    """``immutable(path)``: set the immutable attribute (even root may not write it); cleared afterwards."""
    made = []

    def make(path):
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)


def test_a_refused_write_fails_with_its_cause(tmp_path, run_module, immutable):
    # The host refuses for real: an immutable directory takes no new file, not even from root.
    first, locked = tmp_path / "first.conf", tmp_path / "locked"
    locked.mkdir()
    immutable(locked)
    args = files({"path": str(first), "content": "a = 1\n"}, {"path": str(locked / "x.conf"), "content": "x = 1\n"})
    failed, out = run_module("low_latency_files", args)
    assert failed
    assert out["msg"].startswith(f"cannot write {locked / 'x.conf'}: EPERM (Operation not permitted")
    assert "immutable" in out["msg"]
    assert out["changed_paths"] == [str(first)] and first.read_text() == "a = 1\n"
    assert os.listdir(locked) == []  # no temporary file left behind


def test_a_refused_removal_fails_with_its_cause(tmp_path, run_module, immutable):
    gone = tmp_path / "gone.conf"
    gone.write_text("y = 1\n")
    immutable(gone)
    failed, out = run_module("low_latency_files", files({"path": str(gone), "state": "absent"}))
    assert failed and out["msg"].startswith(f"cannot remove {gone}: EPERM") and out["changed_paths"] == []
    assert gone.read_text() == "y = 1\n"
