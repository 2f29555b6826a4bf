"""The ansible.cfg benchmark's delay relay adds the round-trip time it is asked for, and nothing else."""

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "dev" / "bench" / "ansible_cfg"))

from delay_proxy import DelayProxy


@pytest.fixture
def echo_server():
    """A TCP echo server on loopback; yields its (host, port)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()
    stop.set()
    thread.join(5)
    listener.close()


def round_trips(port, payloads):
    """Send each payload through the relay and wait for its echo; returns (echoes, seconds per trip)."""
    echoes, times = [], []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for payload in payloads:
            started = time.monotonic()
            sock.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += sock.recv(65536)
            times.append(time.monotonic() - started)
            echoes.append(got)
    return echoes, times


def test_adds_the_round_trip_time_and_keeps_the_bytes(echo_server):
    proxy = DelayProxy([echo_server], rtt_ms=80)
    port = proxy.start()[echo_server]
    try:
        payloads = [b"x", bytes(range(256)) * 400, b"last"]
        echoes, times = round_trips(port, payloads)
    finally:
        proxy.stop()
    assert echoes == payloads
    # each trip pays the full 80 ms (half each way), and not several times over
    assert all(0.08 <= t < 0.4 for t in times), times


def test_zero_delay_relay_and_stop_with_a_connection_open(echo_server):
    proxy = DelayProxy([echo_server], rtt_ms=0)
    port = proxy.start()[echo_server]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"ping")
    assert sock.recv(16) == b"ping"
    proxy.stop()  # must not hang on the open connection
    sock.settimeout(2)
    assert sock.recv(16) == b""  # the relay closed it
    sock.close()
