"""The emulator's test control for a Cloud SQL instance's state, seen through the SQL Admin API and by
the monitoring host's state collector (roles/monitoring_server/files/nearzero-cloudsql-state)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from discovery_schema import check

ROOT = Path(__file__).resolve().parents[3]
COLLECTOR = ROOT / "roles" / "monitoring_server" / "files" / "nearzero-cloudsql-state"


@pytest.fixture
def sql(emulator):
    emulator.add_access_token("tok-sql")
    emulator.services["sqladmin"].add_instance("p1", "db-us", region="us-east4")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-sql"
    return emulator, session


def set_state(emulator, state, instance="db-us", project="p1"):
    return requests.post(f"{emulator.url}/_emulator/sqladmin/projects/{project}/instances/{instance}/state",
                         json={"state": state}, timeout=10)


def collect(emulator, tmp_path):
    """Run the collector against the emulator (API and metadata server); the states it wrote."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"api": emulator.url, "metadata_host": f"127.0.0.1:{emulator.port}",
                                    "project": "p1", "instances": ["db-us"], "textfile_dir": str(tmp_path)}))
    proc = subprocess.run([sys.executable, str(COLLECTOR), str(settings)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "nearzero_cloudsql.prom").read_text().splitlines()
    return {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in lines}


@pytest.mark.parametrize("state", ["MAINTENANCE", "SUSPENDED", "FAILED"])
def test_the_api_reports_the_state_set_and_runnable_again(sql, state):
    emulator, session = sql
    base = f"{emulator.url}/v1/projects/p1/instances/db-us"
    resp = set_state(emulator, state)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"project": "p1", "instance": "db-us", "state": state, "previous": "RUNNABLE"}
    instance = session.get(base).json()
    assert instance["state"] == state and check(instance, "DatabaseInstance", doc="sqladmin.v1") == []
    assert set_state(emulator, "RUNNABLE").json()["previous"] == state
    assert session.get(base).json()["state"] == "RUNNABLE"


def test_the_state_collector_sees_it_with_the_vms_token(sql, tmp_path):
    emulator, _ = sql
    assert collect(emulator, tmp_path)['nearzero_cloudsql_instance_runnable{cloudsql_instance="db-us"}'] == "1"
    assert set_state(emulator, "MAINTENANCE").status_code == 200
    metrics = collect(emulator, tmp_path)
    assert metrics['nearzero_cloudsql_instance_runnable{cloudsql_instance="db-us"}'] == "0"
    assert metrics['nearzero_cloudsql_instance_state{cloudsql_instance="db-us",state="MAINTENANCE"}'] == "1"
    assert metrics['nearzero_cloudsql_api_up{cloudsql_instance="db-us"}'] == "1"


@pytest.mark.parametrize("body", [{"state": "STOPPED"}, {"state": "ONLINE_MAINTENANCE"}, {"state": None}, ["FAILED"]])
def test_only_the_discovery_documents_current_states_are_taken(sql, body):
    emulator, session = sql
    resp = requests.post(f"{emulator.url}/_emulator/sqladmin/projects/p1/instances/db-us/state", json=body, timeout=10)
    assert resp.status_code == 400
    offered = resp.json()["error"]["message"].split("one of ", 1)[1].rstrip(".").split(", ")
    assert {"RUNNABLE", "MAINTENANCE", "SUSPENDED", "FAILED"} <= set(offered)
    assert "ONLINE_MAINTENANCE" not in offered  # deprecated in the discovery document
    assert session.get(f"{emulator.url}/v1/projects/p1/instances/db-us").json()["state"] == "RUNNABLE"


def test_an_unknown_instance_is_named(sql):
    emulator, _ = sql
    resp = set_state(emulator, "FAILED", instance="db-eu")
    assert resp.status_code == 404 and "db-eu" in resp.json()["error"]["message"]
