"""The lab's NTP stand-in (dev/lab/sntp.py) over real UDP: true time, then a time shifted at run time."""

import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SNTP = ROOT / "dev" / "lab" / "sntp.py"
sys.path.insert(0, str(SNTP.parent))
import sntp  # noqa: E402


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args):
    return subprocess.run([sys.executable, str(SNTP), *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def server(tmp_path):
    """A server on a free loopback port, with its control file under tmp_path; yields (port, control)."""
    port = free_udp_port()
    control = tmp_path / "sntp.offset"
    control.write_text("7.5\n")  # left over from an earlier server: must not be served
    proc = subprocess.Popen([sys.executable, str(SNTP), "--bind", "127.0.0.1", "--port", str(port),
                             "--control", str(control)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            sntp.measure("127.0.0.1", port, timeout=0.2)
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the time server did not start"
    yield port, control
    proc.terminate()
    proc.wait(timeout=5)


def test_the_reply_carries_the_offset_in_every_time():
    request = bytearray(48)
    request[0] = (4 << 3) | 3
    request[40:48] = struct.pack("!Q", sntp.ntp_timestamp(1000.0))
    plain = sntp.reply(bytes(request), 2000.0)
    shifted = sntp.reply(bytes(request), 2000.0, offset=0.25)
    ref, origin, received, transmitted = struct.unpack("!QQQQ", shifted[16:48])
    assert origin == struct.unpack("!Q", plain[24:32])[0]  # the client's time is echoed, never shifted
    assert sntp.unix_time(received) == pytest.approx(2000.25, abs=1e-6)
    assert sntp.unix_time(ref) == pytest.approx(sntp.unix_time(struct.unpack("!Q", plain[16:24])[0]) + 0.25, abs=1e-6)
    assert sntp.unix_time(transmitted) - time.time() == pytest.approx(0.25, abs=0.05)
    assert sntp.reply(b"\x1b" + bytes(47), 0.0) is not None and sntp.reply(b"\x1c" + bytes(47), 0.0) is None


def test_serves_true_time_then_the_offset_set_at_run_time_then_true_time_again(server):
    port, control = server
    assert abs(sntp.measure("127.0.0.1", port)) < 0.02  # the leftover 7.5 s was forgotten at start

    proc = run("--bind", "127.0.0.1", "--port", str(port), "--control", str(control), "--set-offset", "0.25")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["served_offset_s"] == pytest.approx(0.25, abs=0.02)
    assert sntp.measure("127.0.0.1", port) == pytest.approx(0.25, abs=0.02)

    proc = run("--bind", "127.0.0.1", "--port", str(port), "--control", str(control), "--set-offset", "-0.1")
    assert proc.returncode == 0, proc.stderr
    assert sntp.measure("127.0.0.1", port) == pytest.approx(-0.1, abs=0.02)

    proc = run("--bind", "127.0.0.1", "--port", str(port), "--control", str(control), "--set-offset", "0")
    assert proc.returncode == 0, proc.stderr
    assert abs(sntp.measure("127.0.0.1", port)) < 0.02


def test_a_garbled_control_file_keeps_the_offset_served(server):
    port, control = server
    proc = run("--bind", "127.0.0.1", "--port", str(port), "--control", str(control), "--set-offset", "0.5")
    assert proc.returncode == 0, proc.stderr
    control.write_text("half a second\n")
    assert sntp.measure("127.0.0.1", port) == pytest.approx(0.5, abs=0.02)


def test_set_offset_fails_when_the_server_does_not_serve_it(server, tmp_path):
    port, _ = server
    proc = run("--bind", "127.0.0.1", "--port", str(port), "--control", str(tmp_path / "other.offset"),
               "--set-offset", "0.3")
    assert proc.returncode != 0
    assert "does not read" in proc.stderr and "Fix: pass the --control it was started with" in proc.stderr


def test_set_offset_names_the_fix_when_no_server_answers(tmp_path):
    proc = run("--bind", "127.0.0.1", "--port", str(free_udp_port()), "--control", str(tmp_path / "x.offset"),
               "--set-offset", "0.3")
    assert proc.returncode != 0 and "no answer from the time server" in proc.stderr and "Fix:" in proc.stderr


def test_set_offset_refuses_what_is_no_number_of_seconds(tmp_path):
    proc = run("--bind", "127.0.0.1", "--control", str(tmp_path / "x.offset"), "--set-offset", "nan")
    assert proc.returncode == 2 and "give a number of seconds" in proc.stderr


def test_the_default_control_file_is_the_servers_own():
    assert sntp.default_control("10.89.7.1", 123).name == "10.89.7.1-123.offset"
    assert sntp.default_control("10.89.7.1", 123) != sntp.default_control("10.89.8.1", 123)
