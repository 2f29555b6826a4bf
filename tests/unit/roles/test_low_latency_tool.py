"""The runtime tool the low_latency role ships (roles/low_latency/files/nearzero-low-latency).

A write the kernel refuses must be an error with its cause, never "unsupported" with nothing
changed; a key the kernel does not have stays "unsupported"; verify must name the refusal instead
of calling it drift. The refusals here are real: the tool writes sysctl-style files under a
directory of the test's own (``PROC_SYS``), and the kernel refuses them because the file is
immutable (EPERM, even for root) or its file system is mounted read-only (EROFS, in a private
mount namespace). Nothing under the machine's own /proc/sys is touched.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "low_latency" / "files" / "nearzero-low-latency"


def load_tool():
    loader = importlib.machinery.SourceFileLoader("nearzero_low_latency", str(SCRIPT))
    spec = importlib.util.spec_from_loader("nearzero_low_latency", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


TOOL = load_tool()


@pytest.fixture
def proc_sys(tmp_path, monkeypatch):
    """A sysctl tree of the test's own: somaxconn (writable) and busy_poll (immutable)."""
    root = tmp_path / "sys"
    (root / "net" / "core").mkdir(parents=True)
    (root / "net" / "core" / "somaxconn").write_text("4096\n")
    locked = root / "net" / "core" / "busy_poll"
    locked.write_text("0\n")
    subprocess.run(["chattr", "+i", str(locked)], check=True, capture_output=True)
    monkeypatch.setattr(TOOL, "PROC_SYS", str(root))
    yield root
    subprocess.run(["chattr", "-i", str(locked)], check=False, capture_output=True)


CFG = {"sysctl_netns": {"net.core.somaxconn": 8192, "net.core.busy_poll": 50, "net.core.no_such_key": 1}}


def by_setting(run):
    return {item["setting"]: item for item in run.items}


def test_apply_reports_a_refused_write_as_refused_with_its_errno(proc_sys):
    run = TOOL.Run(CFG, "apply")
    run.sysctls()
    items = by_setting(run)
    assert items["sysctl net.core.somaxconn"]["state"] == "ok"
    assert (proc_sys / "net" / "core" / "somaxconn").read_text() == "8192"
    refused = items["sysctl net.core.busy_poll"]
    assert refused["state"] == "refused"
    assert "EPERM" in refused["note"] and "Operation not permitted" in refused["note"], refused
    assert str(proc_sys / "net" / "core" / "busy_poll") in refused["note"]
    # absent from the kernel: unsupported, as before
    assert items["sysctl net.core.no_such_key"]["state"] == "unsupported"
    # only what was written counts as changed
    assert run.changed == ["sysctl net.core.somaxconn"]


def test_verify_names_the_refusal_instead_of_drift(proc_sys):
    run = TOOL.Run(CFG, "verify")
    run.sysctls()
    items = by_setting(run)
    assert items["sysctl net.core.busy_poll"]["state"] == "refused"
    assert "EPERM" in items["sysctl net.core.busy_poll"]["note"]
    # a writable setting that does not hold is drift (mismatch), and verify does not write it
    assert items["sysctl net.core.somaxconn"]["state"] == "mismatch"
    assert (proc_sys / "net" / "core" / "somaxconn").read_text() == "4096\n"


def test_apply_exits_3_and_says_why_on_stderr(proc_sys, tmp_path, monkeypatch, capsys):
    config = tmp_path / "low-latency.json"
    config.write_text(json.dumps(CFG))
    monkeypatch.setattr(TOOL, "CONFIG", str(config))
    monkeypatch.setattr(sys, "argv", ["nearzero-low-latency", "apply"])
    assert TOOL.main() == TOOL.EXIT_REFUSED
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["summary"]["refused"] == 1 and report["changed"] == ["sysctl net.core.somaxconn"]
    assert "sysctl net.core.busy_poll: the write was refused (EPERM" in err
    # verify is a report: it exits 0 and leaves the verdict to the role
    monkeypatch.setattr(sys, "argv", ["nearzero-low-latency", "verify"])
    assert TOOL.main() == 0


def test_a_read_only_file_system_is_refused_as_erofs(tmp_path):
    # A private mount namespace with a tmpfs remounted read-only: the EROFS a container's /proc/sys gives.
    mnt = tmp_path / "ro"
    mnt.mkdir()
    code = (
        "import importlib.machinery, importlib.util, json, sys\n"
        f"loader = importlib.machinery.SourceFileLoader('t', {str(SCRIPT)!r})\n"
        "spec = importlib.util.spec_from_loader('t', loader); tool = importlib.util.module_from_spec(spec)\n"
        "loader.exec_module(tool)\n"
        f"tool.PROC_SYS = {str(mnt)!r}\n"
        "run = tool.Run({'sysctl_netns': {'net.core.somaxconn': 8192}}, 'apply'); run.sysctls()\n"
        "print(json.dumps(run.items))\n"
    )
    script = (
        f"mount -t tmpfs nearzero-test {mnt} && mkdir -p {mnt}/net/core && echo 4096 > {mnt}/net/core/somaxconn"
        f" && mount -o remount,ro {mnt} && {sys.executable} -c \"$0\""
    )
    res = subprocess.run(["unshare", "-m", "sh", "-c", script, code], capture_output=True, text=True, check=False)
    if res.returncode != 0 and "unshare failed" in res.stderr:
        pytest.skip(f"no private mount namespace here: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    (item,) = json.loads(res.stdout)
    assert item["state"] == "refused" and "EROFS" in item["note"] and "read-only" in item["note"], item
