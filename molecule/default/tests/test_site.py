"""What only the whole of site.yml proves: the pieces work together on the lab."""

import json

import pytest
import scenario_lab
from scenario_lab import members, run_playbooks

testinfra_hosts = ["ansible://all"]


def test_every_host_defends_itself(host):
    assert "table inet nearzero" in host.check_output("nft list tables")


@pytest.mark.parametrize("name", members("role_trading_engine"))
def test_engines_serve_the_release_over_a_verified_tls_connection(name):
    host = scenario_lab.host(name)
    assert host.service("nearzero-engine").is_running
    ready = json.loads(host.check_output("curl -s 127.0.0.1:8095/healthz/ready"))
    assert ready["ready"] is True
    assert ready["database"]["ok"] is True
    assert "sslmode=verify-full" in ready["database"]["detail"]
    current = host.file("/opt/nearzero/engine/current")
    assert current.is_symlink
    assert current.linked_to.endswith(ready["release"])


@pytest.mark.parametrize("name", members("cloudsql_primary"))
def test_the_primary_sees_only_encrypted_sessions(name):
    rows = scenario_lab.host(name).check_output(
        "sudo -u postgres psql -Atc \"select coalesce(host(a.client_addr), 'local'), s.ssl from pg_stat_ssl s "
        "join pg_stat_activity a using (pid) where a.client_addr is not null\"").splitlines()
    assert rows, "no network session to the primary"
    assert all(row.endswith("|t") for row in rows), rows


@pytest.mark.parametrize("name", members("cloudsql_replica"))
def test_the_replica_streams_from_the_primary(name):
    host = scenario_lab.host(name)
    assert host.check_output("sudo -u postgres psql -Atc 'select pg_is_in_recovery()'") == "t"
    assert host.check_output("sudo -u postgres psql -Atc 'select status from pg_stat_wal_receiver'") == "streaming"


def run_playbook(tmp_path, playbook, *args):
    """A product playbook on the lab, after the lab names its engines' release in the same command
    (dev/playbooks/lab_release.yml), as make demo does; the product playbook runs unchanged."""
    return run_playbooks(tmp_path, ["dev/playbooks/lab_release.yml", f"playbooks/{playbook}"], *args)


def test_the_engine_play_on_its_own_changes_nothing_and_keeps_the_pinning(tmp_path):
    """trading_engine.yml without site.yml's other plays must find the low_latency role's CPU plan on
    the host: nothing changes, no engine restarts, and its verify step checks the engine's affinity."""
    out, recap = run_playbook(tmp_path, "trading_engine.yml")
    assert set(recap.values()) == {"0"} and any(name.startswith("engine-") for name in recap), recap
    assert "Check the engine's user and CPU affinity" in out


def test_verify_only_runs_on_every_host_and_changes_nothing(tmp_path):
    """The README's `site.yml --tags verify`: every role's verify phase alone, nothing changed."""
    out, recap = run_playbook(tmp_path, "site.yml", "--tags", "verify")
    assert set(recap.values()) == {"0"}, recap
    assert "reboot required: False" in out  # low_latency's report, without its run phase
