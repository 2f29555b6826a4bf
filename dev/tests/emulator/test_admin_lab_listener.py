"""In lab mode the emulator is reachable from the lab's hosts: it also listens on each lab network's
gateway (bound before the address exists), serves Google's APIs there, and keeps its /_emulator/
test controls for the controller's loopback."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from emulator import Emulator, EmulatorError

ROOT = Path(__file__).resolve().parents[3]
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
GOOGLE = {"Metadata-Flavor": "Google"}


def lab_dir(tmp_path, gateways):
    """A lab directory as labctl.py writes it: lab.json with the networks, instances.json."""
    networks = {f"net{i}": {"podman": f"nz-t-net{i}", "subnet": gw.rsplit(".", 1)[0] + ".0/24", "gateway": gw}
                for i, gw in enumerate(gateways)}
    (tmp_path / "lab.json").write_text(json.dumps({"lab": "t", "project": "p-lab", "networks": networks}))
    (tmp_path / "instances.json").write_text(json.dumps([{
        "name": "h1", "project": "p-lab", "zone": "us-east4-a", "machine_type": "c3-standard-8", "labels": {},
        "tags": [], "gpus": [], "nic_type": "GVNIC", "ip": gateways[0].rsplit(".", 1)[0] + ".10",
        "status": "RUNNING", "network_mtu": 1500}]))
    return tmp_path


def test_serves_the_api_on_the_gateway_and_the_controls_on_loopback_only(tmp_path):
    # 127.0.0.2 stands for a gateway this machine has (the whole of 127/8 is local); 10.255.254.1 for one
    # whose network has no container yet: without IP_FREEBIND that bind fails (EADDRNOTAVAIL)
    emu = Emulator("127.0.0.1", 0)
    emu.load_lab(lab_dir(tmp_path, ["127.0.0.2", "10.255.254.1"]))
    with emu:
        assert emu.lab_urls == [f"http://10.255.254.1:{emu.port}", f"http://127.0.0.2:{emu.port}"]
        lab_url = f"http://127.0.0.2:{emu.port}"
        token = requests.get(lab_url + METADATA_TOKEN_PATH, headers={"Metadata-Flavor": "Google"}, timeout=10)
        assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
        assert requests.get(lab_url + "/_emulator/stats", timeout=10).status_code == 404
        assert requests.post(lab_url + "/_emulator/reset", timeout=10).status_code == 404
        assert requests.get(emu.url + "/_emulator/stats", timeout=10).json()["requests"]["metadata.token"] == 1
        emu.write_key_files(tmp_path / "keys")
        assert json.loads((tmp_path / "keys" / "emulator.json").read_text())["lab_urls"] == emu.lab_urls
    with pytest.raises(requests.ConnectionError):  # stopped: every listener released
        requests.get(lab_url + METADATA_TOKEN_PATH, headers={"Metadata-Flavor": "Google"}, timeout=2)


def test_never_on_all_interfaces_and_not_outside_lab_mode(tmp_path):
    with Emulator("127.0.0.1", 0) as emu:
        assert emu.lab_urls == []
    emu = Emulator("127.0.0.1", 0)
    emu.load_lab(lab_dir(tmp_path, ["127.0.0.3"]))
    with emu:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{emu.port}"], capture_output=True, text=True, check=True).stdout
        listening = sorted(line.split()[3] for line in out.splitlines())
        assert listening == [f"127.0.0.1:{emu.port}", f"127.0.0.3:{emu.port}"]


def test_a_taken_port_on_a_gateway_is_named(tmp_path):
    with Emulator("127.0.0.4", 0) as other:
        emu = Emulator("127.0.0.1", other.port)
        emu.load_lab(lab_dir(tmp_path, ["127.0.0.4"]))
        with pytest.raises(EmulatorError, match=rf"port {other.port} on 127.0.0.4 is already in use"):
            emu.start()
        with pytest.raises(requests.ConnectionError):  # the loopback listener was released too
            requests.get(f"http://127.0.0.1:{other.port}/_emulator/health", timeout=2)


def test_the_command_line_emulator_serves_the_lab_on_its_gateway(tmp_path):
    lab = lab_dir(tmp_path, ["127.0.0.5"])
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "--lab", str(lab), "--port-file", str(lab / "port")],
                            cwd=ROOT / "dev", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (lab / "port").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
            time.sleep(0.1)
        info = json.loads((lab / "emulator.json").read_text())
        port = (lab / "port").read_text().strip()
        assert info["lab_urls"] == [f"http://127.0.0.5:{port}"]
        answer = requests.get(info["lab_urls"][0] + METADATA_TOKEN_PATH, headers=GOOGLE, timeout=10)
        assert answer.ok
    finally:
        proc.terminate()
        proc.wait(timeout=10)
