"""Datasets: generator, dump loading, lab mode, and the command line."""

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import google.auth.transport.requests as gtr
import pytest
import requests
import yaml
from discovery_schema import check
from emulator import Emulator, EmulatorError, dataset
from google.oauth2 import service_account

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "dev" / "tests" / "fixtures" / "emulator" / "gce"
TOKEN = "ya29.data"


def _all(emulator, project):
    emulator.add_access_token(TOKEN)
    items, token = [], None
    while True:
        params = {"pageToken": token} if token else {}
        body = requests.get(
            f"{emulator.url}/compute/v1/projects/{project}/aggregated/instances",
            params=params,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=20,
        ).json()
        items += [i for s in body["items"].values() for i in s.get("instances", [])]
        token = body.get("nextPageToken")
        if not token:
            return items


def test_generator_is_deterministic_and_varied():
    first = dataset.generate(2000, 3, 5, seed=5)
    assert first == dataset.generate(2000, 3, 5, seed=5)
    assert first != dataset.generate(2000, 3, 5, seed=6)
    instances = [i for _, items in first.values() for i in items]
    assert len(instances) == 2000
    nics = [n for i in instances for n in i["networkInterfaces"]]
    assert {n["stackType"] for n in nics} == {"IPV4_ONLY", "IPV4_IPV6", "IPV6_ONLY"}
    assert {n["nicType"] for n in nics} == {"GVNIC", "VIRTIO_NET"}
    assert any("natIP" in a for n in nics for a in n.get("accessConfigs", []))
    assert any("ipv6Address" in n for n in nics)
    assert any("externalIpv6" in a for n in nics for a in n.get("ipv6AccessConfigs", []))
    assert all("networkIP" not in n for n in nics if n["stackType"] == "IPV6_ONLY")
    assert any(len(i["networkInterfaces"]) > 1 for i in instances)
    assert any(i.get("guestAccelerators") for i in instances)
    assert any(i["scheduling"]["provisioningModel"] == "SPOT" for i in instances)
    assert any(i.get("resourcePolicies") for i in instances)
    assert any(i.get("networkPerformanceConfig", {}).get("totalEgressBandwidthTier") == "TIER_1" for i in instances)
    assert any(i.get("hostname") for i in instances)
    assert any(m["key"] == "ssh-keys" for i in instances for m in i["metadata"].get("items", []))
    assert len({i["status"] for i in instances}) >= 6
    assert all(i["serviceAccounts"][0]["email"] for i in instances)
    internal = [n["networkIP"] for n in nics if "networkIP" in n]
    assert len(internal) == len(set(internal))
    assert len({i["name"] for i in instances}) == 2000


def test_generator_duplicates(emulator):
    projects = emulator.generate(300, projects=2, zones=3, seed=1, duplicates=25)
    instances = _all(emulator, projects[0]) + _all(emulator, projects[1])
    assert len(instances) == 300
    assert len({i["name"] for i in instances}) == 275
    placements = {(i["selfLink"]) for i in instances}
    assert len(placements) == 300  # same name, never the same project and zone
    for seed in range(10):  # a name reused several times never lands twice in one project/zone
        generated = dataset.generate(300, 2, 4, seed=seed, duplicates=40)
        links = [i["selfLink"] for _, items in generated.values() for i in items]
        assert len(set(links)) == 300
    with pytest.raises(ValueError, match="duplicates"):
        dataset.generate(5, 1, 1, duplicates=6)
    with pytest.raises(ValueError, match="more than one zone or project"):
        dataset.generate(5, 1, 1, duplicates=1)


def test_zonal_dump_pages_load_under_their_project(emulator):
    for page in ("gce1-compute-instances-europe-west1-b.json", "gce1-compute-instances-europe-west1-b-2.json"):
        assert emulator.load_fixture(FIXTURES / page) == ["gcpdiag-gce1-aaaa"]
    expected = sum(len(json.loads((FIXTURES / p).read_text())["items"]) for p in FIXTURES.glob("gce1-*west1-b*.json"))
    served = _all(emulator, "gcpdiag-gce1-aaaa")
    assert len(served) == expected
    assert all("/zones/europe-west1-b" in i["zone"] for i in served)


def test_project_dataset_format_in_yaml(emulator, tmp_path):
    document = {
        "projects": {
            "good": {"zones": ["us-east1-b"], "unreachable": ["us-east1-c"]},
            "off": {"zones": ["us-east1-b"], "error": "api_disabled"},
        }
    }
    path = tmp_path / "dataset.yml"
    path.write_text(yaml.safe_dump(document))
    assert sorted(emulator.load_fixture(path)) == ["good", "off"]
    emulator.add_access_token(TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    off = requests.get(f"{emulator.url}/compute/v1/projects/off/zones", headers=headers, timeout=10)
    assert off.json()["error"]["errors"][0]["reason"] == "accessNotConfigured"
    good = requests.get(f"{emulator.url}/compute/v1/projects/good/aggregated/instances", headers=headers, timeout=10)
    assert good.json()["unreachables"] == ["zones/us-east1-c"]
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "compute#disk"}))
    with pytest.raises(EmulatorError, match="unrecognised dataset"):
        emulator.load_fixture(tmp_path / "bad.json")


def _lab(tmp_path, entries):
    (tmp_path / "instances.json").write_text(json.dumps(entries))
    return tmp_path


LAB = [
    {
        "name": "engine-1",
        "project": "nz-lab",
        "zone": "us-east4-a",
        "ip": "10.89.7.11",
        "labels": {"role": "trading-engine"},
        "tags": ["ssh"],
        "machine_type": "a3-highgpu-8g",
        "gpus": [{"type": "nvidia-h100-80gb", "count": 8}],
        "status": "RUNNING",
        "nic_type": "GVNIC",
        "region": "us-east4",
    },
    {
        "name": "pg-eu",
        "project": "nz-lab",
        "zone": "europe-west4-a",
        "ip": "10.89.7.21",
        "labels": {"role": "database"},
    },
]


def test_lab_mode_serves_containers_as_instances(emulator, tmp_path):
    lab = _lab(tmp_path, LAB)
    assert emulator.load_lab(lab) == ["nz-lab"]
    served = {i["name"]: i for i in _all(emulator, "nz-lab")}
    engine = served["engine-1"]
    assert engine["networkInterfaces"][0]["networkIP"] == "10.89.7.11"
    assert engine["labels"] == {"role": "trading-engine"}
    assert engine["tags"]["items"] == ["ssh"]
    assert engine["machineType"].endswith("/zones/us-east4-a/machineTypes/a3-highgpu-8g")
    assert engine["guestAccelerators"] == [
        {
            "acceleratorType": "https://www.googleapis.com/compute/v1/projects/nz-lab/zones/us-east4-a/"
            "acceleratorTypes/nvidia-h100-80gb",
            "acceleratorCount": 8,
        }
    ]
    assert engine["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert engine["networkInterfaces"][0]["nicType"] == "GVNIC"
    assert served["pg-eu"]["status"] == "RUNNING"
    assert "guestAccelerators" not in served["pg-eu"]
    assert all(check(i, "Instance") == [] for i in served.values())
    assert emulator.metadata_project == "nz-lab"
    # labctl rewrites the file: the emulator picks the change up on the next request
    _lab(tmp_path, [*LAB, {**LAB[1], "name": "pg-us", "zone": "us-east4-b", "ip": "10.89.7.22"}])
    assert sorted(_all(emulator, "nz-lab"), key=lambda i: i["name"])[-1]["name"] == "pg-us"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"name": "x"}, "JSON list"),
        ([{"name": "x", "project": "p", "zone": "z"}], "lacks ip"),
        ([{**LAB[0], "gpus": [{"type": "nvidia-l4", "count": 0}]}], "count >= 1"),
        ([{**LAB[0], "status": "ON"}], "status 'ON' is not one of"),
        ([{**LAB[0], "nic_type": "e1000"}], "nic_type 'e1000' is not one of"),
    ],
)
def test_lab_file_errors_name_the_problem(emulator, tmp_path, entries, message):
    with pytest.raises(ValueError, match=message):
        emulator.load_lab(_lab(tmp_path, entries))


def test_lab_missing_file(emulator, tmp_path):
    with pytest.raises(ValueError, match="start the lab first"):
        emulator.load_lab(tmp_path / "nope")


def _start_cli(tmp_path, *args):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", *args, "--port-file", str(port_file), "--keys-dir", str(tmp_path / "keys")],
        cwd=ROOT / "dev",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return proc, json.loads(line), port_file


def test_cli_generate_keys_and_stats(tmp_path):
    proc, info, port_file = _start_cli(
        tmp_path, "--generate", "120", "--projects", "2", "--zones", "3", "--seed", "4", "--verbose"
    )
    try:
        url = info["url"]
        assert port_file.read_text().strip() == url.rsplit(":", 1)[1]
        key_file = tmp_path / "keys" / "service-account.json"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert json.loads(key_file.read_text())["token_uri"] == url + "/token"
        creds = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=["https://www.googleapis.com/auth/compute.readonly"]
        )
        session = gtr.AuthorizedSession(creds)
        body = session.get(f"{url}/compute/v1/projects/nz-gen-4-001/aggregated/instances", timeout=10).json()
        assert sum(len(s.get("instances", [])) for s in body["items"].values()) > 0
        # a token passed as a query parameter works, and is masked in the request log
        by_query = requests.get(
            f"{url}/compute/v1/projects/nz-gen-4-001/zones", params={"access_token": creds.token}, timeout=10
        )
        assert by_query.status_code == 200
        stats = requests.get(url + "/_emulator/stats", timeout=10).json()
        assert stats["tokens_issued"] == 1
        assert stats["requests"]["compute.instances.aggregatedList"] == 1
        assert stats["instances"] == 120
        # a second emulator on the same port fails clearly
        port = url.rsplit(":", 1)[1]
        clash = subprocess.run(
            [sys.executable, "-m", "emulator", "--port", port], cwd=ROOT / "dev", capture_output=True, text=True,
            timeout=30,
        )
        assert clash.returncode == 2
        assert f"port {port} on 127.0.0.1 is already in use" in clash.stderr
        assert "--port" in clash.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert not port_file.exists()
    # the request log shows up, the credentials never do
    assert "/compute/v1/projects/nz-gen-4-001/aggregated/instances -> 200" in err
    assert "/compute/v1/projects/nz-gen-4-001/zones?access_token=*** -> 200" in err
    private_key = json.loads(key_file.read_text())["private_key"]
    for secret in (creds.token, private_key.splitlines()[1], "PRIVATE KEY"):
        assert secret not in out
        assert secret not in err


def test_cli_lab_dataset_and_errors(tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    _lab(lab, LAB)
    proc, info, _ = _start_cli(tmp_path, "--lab", str(lab), "--latency-ms", "5")
    try:
        key = json.loads((tmp_path / "keys" / "service-account.json").read_text())
        assert key["project_id"] == "nz-lab"
        creds = service_account.Credentials.from_service_account_info(
            key, scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        body = gtr.AuthorizedSession(creds).get(f"{info['url']}/compute/v1/projects/nz-lab/zones", timeout=10).json()
        assert sorted(z["name"] for z in body["items"]) == ["europe-west4-a", "us-east4-a"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run(
        [sys.executable, "-m", "emulator", "--dataset", str(tmp_path / "missing.json")],
        cwd=ROOT / "dev",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2
    assert "missing.json" in bad.stderr
    bad_error = subprocess.run(
        [sys.executable, "-m", "emulator", "--project-error", "p=on_fire"],
        cwd=ROOT / "dev",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad_error.returncode == 2
    assert "unknown project error 'on_fire'" in bad_error.stderr


def test_port_in_use_error_from_python():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EmulatorError, match=f"port {port} on 127.0.0.1 is already in use"):
            Emulator(port=port).start()
