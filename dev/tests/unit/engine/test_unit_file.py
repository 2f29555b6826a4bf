"""The engine's systemd unit as the role renders it: systemd-analyze verify, exposure at most 3.0, variants."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[4] / "roles" / "trading_engine"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")


def trusted(value):
    """Role defaults and vars are trusted templates in a real run; mark them so here too."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


def render(tmp_path, groups=(), **overrides):
    """Render engine.service.j2 with the role's defaults, vars and ``overrides``; return the unit path."""
    loader = DataLoader()
    variables = {}
    for part in ("defaults", "vars"):
        variables.update(trusted(dict(loader.load_from_file(str(ROLE / part / "main.yml")))))
    root = tmp_path / "opt"
    variables.update(group_names=list(groups), ansible_managed="Managed by Ansible", trading_engine_version="1.0.0",
                     trading_engine_artifact="/x.tar.gz", trading_engine_artifact_sha256="a" * 64,
                     trading_engine_root=str(root), **overrides)
    text = Templar(loader=loader, variables=variables).template(
        trust_as_template((ROLE / "templates" / "engine.service.j2").read_text()))
    # systemd-analyze verify checks that ExecStart exists and is executable
    entry = root / "current" / "bin" / "engine"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text("#!/bin/sh\n")
    entry.chmod(0o755)
    unit = tmp_path / "nearzero-engine.service"
    unit.write_text(text)
    return unit


def settings(unit):
    out = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def exposure(unit):
    res = subprocess.run(["systemd-analyze", "security", "--no-pager", "--offline=true", "--threshold=30", str(unit)],
                         capture_output=True, text=True, check=False)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", res.stdout)
    return res.returncode, float(match.group(1))


VARIANTS = {
    "cpu host": ((), {}),
    "gpu host": (("gpu",), {}),
    "fifo and isolated cpus from low_latency": (("gpu",), {
        "trading_engine_sched_priority": 80, "low_latency_cpu_plan": {"isolated": "2-5,8", "housekeeping": "0-1"}}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_unit_verifies_and_exposure_is_at_most_3(tmp_path, variant):
    groups, overrides = VARIANTS[variant]
    unit = render(tmp_path, groups, **overrides)
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    rc, level = exposure(unit)
    assert rc == 0 and level <= 3.0


def test_exposure_check_fails_a_weakened_unit(tmp_path):
    """The threshold really bites: the same check rejects a unit stripped of its hardening."""
    unit = render(tmp_path)
    stripped = [ln for ln in unit.read_text().splitlines()
                if not ln.startswith(("Protect", "Private", "Restrict", "SystemCall", "CapabilityBoundingSet",
                                      "NoNewPrivileges", "MemoryDeny", "LockPersonality"))]
    unit.write_text("\n".join(stripped) + "\n")
    rc, level = exposure(unit)
    assert rc != 0 and level > 3.0


def test_cpu_host_settings(tmp_path):
    s = settings(render(tmp_path, trading_engine_cpu_affinity="1"))
    assert s["Type"] == ["notify"] and s["WatchdogSec"] == ["10"] and s["User"] == ["trading"]
    assert s["CPUAffinity"] == ["1"]
    assert s["LimitMEMLOCK"] == ["infinity"] and s["OOMScoreAdjust"] == ["-1000"]
    assert s["PrivateDevices"] == ["yes"] and "DeviceAllow" not in s
    assert s["MemoryDenyWriteExecute"] == ["yes"]
    assert s["RestrictRealtime"] == ["yes"] and "CPUSchedulingPolicy" not in s
    assert s["CapabilityBoundingSet"] == [""]
    assert s["ReadWritePaths"] == ["/var/lib/nearzero/engine"]
    assert "PGSERVICE=nearzero" in s["Environment"]


def test_gpu_host_uses_a_device_allow_list_not_private_devices(tmp_path):
    s = settings(render(tmp_path, groups=("gpu",)))
    assert s["DevicePolicy"] == ["closed"]
    assert s["DeviceAllow"] == ["char-nvidia* rw"]
    assert "PrivateDevices" not in s and "MemoryDenyWriteExecute" not in s


def test_fifo_and_the_low_latency_cpu_plan_win(tmp_path):
    s = settings(render(tmp_path, trading_engine_sched_priority=80, trading_engine_cpu_affinity="0",
                        low_latency_cpu_plan={"isolated": "2-5,8", "housekeeping": "0-1"}))
    assert s["CPUAffinity"] == ["2-5,8"]
    assert s["CPUSchedulingPolicy"] == ["fifo"] and s["CPUSchedulingPriority"] == ["80"]
    assert s["LimitRTPRIO"] == ["80"] and s["RestrictRealtime"] == ["no"]


def test_no_affinity_without_plan_or_variable(tmp_path):
    assert "CPUAffinity" not in settings(render(tmp_path))


def syscalls(spec: str) -> set[str]:
    """Expand a SystemCallFilter value (names and @groups, recursively) with systemd's own tables."""
    out = set()
    for name in spec.split():
        if not name.startswith("@"):
            out.add(name)
            continue
        listing = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name], capture_output=True,
                                 text=True, check=True).stdout
        members = [ln.strip() for ln in listing.splitlines()[1:] if ln.strip() and not ln.strip().startswith("#")]
        out |= syscalls(" ".join(members))
    return out


def allowed_syscalls(unit) -> set[str]:
    """The allow list the unit's SystemCallFilter= lines add up to, in order (the first line is an allow list)."""
    allowed: set[str] = set()
    for value in settings(unit)["SystemCallFilter"]:
        if value.startswith("~"):
            allowed -= syscalls(value[1:])
        else:
            allowed |= syscalls(value)
    return allowed


def test_syscall_filter_lets_the_engine_pin_and_schedule_its_threads(tmp_path):
    """Issue 17: pinning threads, SCHED_FIFO/nice, NUMA placement and mlock pass; the rest stays blocked."""
    allowed = allowed_syscalls(render(tmp_path))
    needed = {"sched_setaffinity", "sched_setscheduler", "sched_setattr", "setpriority", "mbind", "set_mempolicy",
              "mlock", "mlock2", "mlockall"}
    assert needed <= allowed, sorted(needed - allowed)
    still_blocked = (syscalls("@resources") | syscalls("@privileged")) - needed
    assert "setrlimit" in still_blocked and "setuid" in still_blocked and "migrate_pages" in still_blocked
    assert not still_blocked & allowed, sorted(still_blocked & allowed)
