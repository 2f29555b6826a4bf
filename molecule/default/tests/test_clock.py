"""The clock error bound (issue 20): published for the engine and node_exporter, and held to its budget.

Containers have no KVM PTP clock and chrony only measures there (the host owns the clock); the lab's
NTP stand-in announces about 1 ms of root delay and dispersion, so the lab checks a 5 ms budget
(inventory/lab/group_vars/all.yml) and the production budget of 100 us must fail here.
"""

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

testinfra_hosts = ["ansible://all"]

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LAB = ROOT / ".lab" / f"mol-{os.environ.get('MOLECULE_SCENARIO_NAME', 'default')}"
BOUND = "/run/nearzero-clock/bound.json"
PROM = "/var/lib/prometheus/node-exporter/nearzero_clock.prom"


def _bound(host):
    return json.loads(host.check_output(f"cat {BOUND}"))


def test_the_bound_is_fresh_and_is_offset_plus_dispersion_plus_half_the_delay(host):
    bound = _bound(host)
    now = float(host.check_output("date +%s.%N"))
    assert bound["synchronised"] is True and bound["source"] == "ntp"
    assert now - bound["measured_at"] < 5
    expected = abs(bound["offset_s"]) + bound["root_dispersion_s"] + bound["root_delay_s"] / 2
    assert math.isclose(bound["error_bound_s"], expected, rel_tol=1e-6)
    # It moves with chrony: read again after the writer's next round.
    time.sleep(1.5)
    assert _bound(host)["measured_at"] > bound["measured_at"]


def test_the_metrics_carry_the_same_bound(host):
    text = host.check_output(f"cat {PROM}")
    values = dict(re.findall(r"^(nearzero_clock_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M))
    assert float(values["nearzero_clock_error_bound_seconds"]) > 0
    assert values["nearzero_clock_synchronised"] == "1"
    assert any(k.startswith('nearzero_clock_source_info{source="ntp"') for k in values)
    assert host.file(PROM).mode == 0o644


def test_a_container_falls_back_to_ntp_and_loads_no_module(host):
    conf = host.file("/etc/chrony/chrony.conf").content_string
    assert "refclock" not in conf
    assert not host.file("/etc/modules-load.d/nearzero-ptp_kvm.conf").exists


def test_the_writer_runs_confined(host):
    show = host.check_output("systemctl show -p ProtectSystem -p NoNewPrivileges -p ActiveState nearzero-clock-bound")
    assert "ProtectSystem=strict" in show and "NoNewPrivileges=yes" in show and "ActiveState=active" in show


def test_the_production_budget_fails_in_the_lab_and_names_the_fix(tmp_path):
    """100 us is not met by NTP over the lab's stand-in: verification must say so, not pass (one host)."""
    name = next(iter(yaml.safe_load((LAB / "inventory.yml").read_text())["all"]["hosts"]))
    playbook = tmp_path / "verify_clock.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.setup: {gather_subset: [min, virtual]}\n"
        "    - ansible.builtin.include_role: {name: nearzero.gcp.base, tasks_from: verify}\n")
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_FORCE_COLOR"}  # molecule sets it
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(LAB / "inventory.yml"),
                           "-l", name, str(playbook), "-e", "base_time_max_error_bound_us=100",
                           "-e", "base_time_sync_wait_s=3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Time is not trustworthy" in proc.stdout and "base_time_max_error_bound_us=100" in proc.stdout
