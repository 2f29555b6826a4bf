"""nearzero.gcp.service_config_applied: a restart or reload owed is found from file times, whichever run wrote them.

systemd is not PID 1 on the test machine, so ``systemctl show`` is answered by a stand-in that prints
what systemd prints (same property names and timestamp format); the molecule scenario trading_engine
runs the module against real chrony and sshd units (state_roles.yml).
"""

import os
import time
from datetime import UTC, datetime

import pytest


@pytest.fixture
def unit(tmp_path, monkeypatch):
    """Write the stand-in ``systemctl``'s answer: ``unit(active=..., started=..., need_reload=...)``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = tmp_path / "show.txt"
    tool = bin_dir / "systemctl"
    tool.write_text(f'#!/bin/sh\n[ "$1" = show ] || exit 9\ncat "{answer}"\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    fragment = tmp_path / "x.service"
    fragment.write_text("[Service]\n")

    def write(active=True, started=None, need_reload=False):
        stamp = datetime.fromtimestamp(started, UTC).strftime("%a %Y-%m-%d %H:%M:%S.%f UTC") if started else ""
        answer.write_text(
            f"ActiveState={'active' if active else 'inactive'}\nExecMainStartTimestamp={stamp}\n"
            f"NeedDaemonReload={'yes' if need_reload else 'no'}\nFragmentPath={fragment}\nDropInPaths=\n")
        return fragment

    return write


def _age(path, seconds_ago):
    when = time.time() - seconds_ago
    os.utime(path, (when, when))


def test_a_file_newer_than_the_service_is_owed(tmp_path, unit, run_module):
    conf, other = tmp_path / "a.conf", tmp_path / "b.conf"
    conf.write_text("x\n")
    other.write_text("y\n")
    _age(unit(started=time.time() - 100), 200)
    _age(other, 200)  # older than the start: applied
    failed, out = run_module("service_config_applied", {"unit": "x.service", "files": [str(conf), str(other)]})
    assert not failed and out["changed"] is False and out["active"] is True
    assert out["owed"] == [str(conf)]


def test_nothing_owed_after_a_restart_and_a_reload_stamp_counts(tmp_path, unit, run_module):
    conf, stamp = tmp_path / "a.conf", tmp_path / "reloaded"
    conf.write_text("x\n")
    _age(conf, 50)
    _age(unit(started=time.time() - 10), 200)
    failed, out = run_module("service_config_applied", {"unit": "x.service", "files": [str(conf)]})
    assert not failed and out["owed"] == []
    # started before the change, reloaded after it (sshd keeps its start time across reloads)
    unit(started=time.time() - 100)
    failed, out = run_module("service_config_applied", {"unit": "x.service", "files": [str(conf)]})
    assert out["owed"] == [str(conf)]
    stamp.write_text("")
    failed, out = run_module("service_config_applied",
                             {"unit": "x.service", "files": [str(conf)], "stamp": str(stamp)})
    assert not failed and out["owed"] == []


def test_unit_file_changes_and_a_pending_daemon_reload_are_owed(tmp_path, unit, run_module):
    fragment = unit(started=time.time() - 100, need_reload=True)  # written just now: newer than the start
    failed, out = run_module("service_config_applied", {"unit": "x.service"})
    assert not failed and out["owed"] == [str(fragment), "daemon-reload"]


def test_an_inactive_service_owes_nothing_and_check_mode_reads_the_same(tmp_path, unit, run_module):
    conf = tmp_path / "a.conf"
    conf.write_text("x\n")
    unit(active=False)
    failed, out = run_module("service_config_applied", {"unit": "x.service", "files": [str(conf)]}, check=True)
    assert not failed and out == {**out, "owed": [], "active": False, "changed": False}
    _age(unit(started=time.time() - 100), 200)
    failed, out = run_module("service_config_applied", {"unit": "x.service", "files": [str(conf)]}, check=True)
    assert not failed and out["owed"] == [str(conf)]
