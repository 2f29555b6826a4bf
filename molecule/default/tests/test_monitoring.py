"""What the monitoring roles promise, read on the lab's hosts after converge, idempotence and the side effect.

node_exporter listens on each host's private address only and runs on the housekeeping CPUs of the
engine host's plan; the host firewall admits the exporter from the monitoring host and refuses it
from another lab host; the engine's own /metrics carries the order path with real database round
trips; Prometheus has every target up, both Cloud SQL stand-ins connected over TLS (pg_up) and
RUNNABLE through the SQL Admin API; promtool's rule tests pass, and fail on a rule whose threshold
was changed (they can fail); the alert delays the side effect measured are within 60 s; monitoring.yml
in check mode changes nothing on the lab its faults left behind; no secret in a -vvv run of the plays
that handle them.
"""

import base64
import json
import urllib.parse
import urllib.request

import pytest
from scenario_lab import HOSTS, LAB, address, host, run_playbooks


def prometheus(query):
    url = f"http://{address('mon-us-1')}:9090/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())["data"]["result"]


def connects(src, dst, port):
    """Whether a TCP connection from host ``src`` to ``dst:port`` opens within 3 s."""
    code = (f"import socket; s = socket.socket(); s.settimeout(3); "
            f"print(s.connect_ex(({address(dst)!r}, {port})))")
    return host(src).check_output(f"python3 -c {code!r}") == "0"


@pytest.mark.parametrize("name", HOSTS)
def test_node_exporter_listens_on_the_private_address_only(name):
    listening = host(name).check_output("ss -Hltn 'sport = :9100'").splitlines()
    assert [line.split()[3] for line in listening] == [f"{address(name)}:9100"]


def test_exporters_run_on_the_housekeeping_cpus():
    engine = host("engine-us-1")
    plan = json.loads(engine.file("/etc/nearzero/low-latency.json").content_string)
    assert plan["isolated"] == "1"
    for unit in ("prometheus-node-exporter",):
        pid = engine.check_output(f"systemctl show -P MainPID {unit}")
        allowed = engine.check_output(f"awk '/^Cpus_allowed_list/ {{print $2}}' /proc/{pid}/status")
        assert allowed == plan["housekeeping"]
    assert f"CPUAffinity={plan['housekeeping']}" in engine.file(
        "/etc/systemd/system/nearzero-node-state.service").content_string


def test_firewall_admits_the_monitoring_host_only():
    assert connects("mon-us-1", "engine-us-1", 9100)
    assert connects("mon-us-1", "engine-us-1", 9105)
    assert not connects("db-us-1", "engine-us-1", 9100)
    assert not connects("db-us-1", "engine-us-1", 9105)


def test_engine_metrics_carry_the_order_path_with_database_round_trips():
    url = f"http://{address('engine-us-1')}:9105/metrics"
    text = host("mon-us-1").check_output(
        f"python3 -c \"import urllib.request; print(urllib.request.urlopen('{url}').read().decode())\"")
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert samples["nearzero_engine_ready"] == "1"
    assert float(samples["nearzero_engine_order_latency_seconds_count"]) > 0
    assert float(samples["nearzero_engine_database_roundtrip_seconds_count"]) > 0
    ok = samples['nearzero_engine_orders_total{result="ok"}']
    assert ok == samples["nearzero_engine_order_latency_seconds_count"]


def test_every_target_is_up_and_cloud_sql_is_read_over_tls_and_the_api():
    assert prometheus("up == 0") == []
    engines = [name for name in HOSTS if name.startswith("engine-")]
    # node_exporter on every host, each engine, Prometheus and Alertmanager, the two Cloud SQL exporters
    assert len(prometheus("up")) == len(HOSTS) + len(engines) + 2 + 2
    pg = {r["metric"]["cloudsql_instance"]: r["value"][1] for r in prometheus("pg_up")}
    assert pg == {"db-us-1": "1", "db-eu-1": "1"}
    state = {r["metric"]["cloudsql_instance"]: r["value"][1] for r in prometheus("nearzero_cloudsql_instance_runnable")}
    assert state == {"db-us-1": "1", "db-eu-1": "1"}
    recovery = {r["metric"]["cloudsql_instance"]: r["value"][1] for r in prometheus("nearzero_replica_in_recovery")}
    assert recovery == {"db-us-1": "0", "db-eu-1": "1"}


def test_exporter_settings_hold_no_password_and_the_password_file_is_private():
    mon = host("mon-us-1")
    password = mon.file("/etc/nearzero/monitoring/postgres/password")
    assert (password.user, password.mode) == ("prometheus", 0o600)
    for name in ("db-us-1", "db-eu-1"):
        env = mon.file(f"/etc/nearzero/monitoring/postgres/{name}.env")
        assert env.mode == 0o600
        assert "sslmode=verify-ca" in env.content_string and "DATA_SOURCE_PASS_FILE=" in env.content_string
        assert password.content_string not in env.content_string


def test_rule_tests_pass_and_can_fail():
    mon = host("mon-us-1")
    assert mon.run("promtool check config /etc/prometheus/prometheus.yml").rc == 0
    assert mon.run("promtool test rules /etc/prometheus/nearzero-rules.test.yml").rc == 0
    # the same tests against a copy of the rules whose firewall alert looks for the wrong value must fail
    tmp = mon.check_output("mktemp -d")
    rule = 'nearzero_host_firewall_in_sync{job="node"} == '
    rules = mon.file("/etc/prometheus/nearzero-rules.yml").content_string
    assert rules.count(rule + "0") == 1
    tests = mon.file("/etc/prometheus/nearzero-rules.test.yml").content_string
    for name, text in (("rules.yml", rules.replace(rule + "0", rule + "2")),
                       ("test.yml", tests.replace("/etc/prometheus/nearzero-rules.yml", f"{tmp}/rules.yml"))):
        mon.check_output(f"echo {base64.b64encode(text.encode()).decode()} | base64 -d > {tmp}/{name}")
    broken = mon.run(f"promtool test rules {tmp}/test.yml")
    mon.run(f"rm -rf {tmp}")
    assert broken.rc != 0 and "HostFirewallNotInSync" in broken.stdout + broken.stderr


def test_side_effect_saw_every_alert_fire_and_resolve_within_60_s():
    delays = json.loads((LAB / "alert-delays.json").read_text())
    assert len(delays["fired_a"]) == len(delays["resolved_a"]) == 8
    assert len(delays["fired_b"]) == len(delays["resolved_b"]) == 1
    for seconds in (*delays["fired_a"].values(), *delays["resolved_a"].values(), *delays["fired_b"].values(),
                    *delays["resolved_b"].values()):
        assert 0 <= seconds <= 60


def test_the_clock_alert_came_from_a_real_offset_chrony_measured():
    """The side effect shifted the lab's NTP stand-in by 250 ms: the engine host's published bound saw it."""
    delays = json.loads((LAB / "alert-delays.json").read_text())
    bound = delays["clock_bound_during_offset"]
    assert bound["synchronised"] is True
    assert 0.2 < bound["offset_s"] < 0.3
    assert bound["error_bound_s"] > delays["clock_budget_s"]
    # and once the stand-in serves the true time again, the bound is back within the budget
    now = json.loads(host("engine-us-1").check_output("cat /run/nearzero-clock/bound.json"))
    assert abs(now["offset_s"]) < 0.01 and now["error_bound_s"] < delays["clock_budget_s"]


def test_monitoring_in_check_mode_succeeds_and_changes_nothing_on_any_host(tmp_path):
    """playbooks/monitoring.yml --check after the side effect induced and fixed every fault: check mode
    runs through (no task fails for want of a file a real run would have written) and reports every
    host as it is, changed=0."""
    _out, recap = run_playbooks(tmp_path, ["playbooks/monitoring.yml"], "--check")
    assert set(HOSTS) <= set(recap), recap
    assert set(recap.values()) == {"0"}, recap


def test_no_secret_at_vvv_in_the_runs_that_handle_them(tmp_path):
    """The plays of site.yml that carry secrets (the database tier: the engines' database password; monitoring:
    the exporters' password) run again at -vvv, where every task's arguments and results are shown: no lab
    secret appears, and nothing changes."""
    out, recap = run_playbooks(tmp_path, ["playbooks/database_tier.yml", "playbooks/monitoring.yml"], "-vvv")
    assert '"module_args"' in out, "the run did not show each task's arguments (-vvv)"
    assert set(recap.values()) == {"0"}, recap
    secrets = [p.read_text().strip() for p in (LAB / "secrets").iterdir()]
    assert secrets
    for value in secrets:
        assert len(value) >= 16 and value not in out
