"""cloudsql_client's plain-text refusal check carries no credential (issue 19, attack 3).

The attack: anything that answers on the instance's private IP and asks for a clear-text password got
the engine's password (or IAM token) on every run, because the check reconnected with
``sslmode=disable`` while the staged pgpass was in effect. Here a fake PostgreSQL server asks every
client for a clear-text password and records what it is sent; the probe's check runs with a password
file, PGPASSWORD and a service user all in place, through the same libpq (psycopg2) the hosts use.
"""

import importlib.util
import os
import socket
import struct
import threading
from pathlib import Path

import psycopg2  # the hosts' libpq binding (python3-psycopg2); psycopg2-binary here, requirements.txt
import pytest

PROBE = Path(__file__).resolve().parents[3] / "roles" / "cloudsql_client" / "files" / "cloudsql_probe.py"
PASSWORD = "pw-" + "x7" * 12  # built at run time: no credential-looking literal in the repository


class CleartextServer:
    """Accepts connections, asks each for a clear-text password, records the startup user and any password."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.users, self.passwords, self.received = [], [], b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read(self, conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        self.received += data
        return data

    def _serve(self):
        while True:
            try:
                conn, _peer = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    (length,) = struct.unpack("!i", self._read(conn, 4))
                    body = self._read(conn, length - 4)
                    params = body[4:].split(b"\0")
                    self.users.append(dict(zip(params[::2], params[1::2], strict=False)).get(b"user", b"").decode())
                    conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
                    kind = self._read(conn, 1)
                    (length,) = struct.unpack("!i", self._read(conn, 4))
                    message = self._read(conn, length - 4)
                    if kind == b"p":
                        self.passwords.append(message.rstrip(b"\0").decode())
                except (EOFError, OSError):
                    pass

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    fake = CleartextServer()
    yield fake
    fake.close()


@pytest.fixture
def credentials(monkeypatch, tmp_path, server):
    """Everything the engine's connection has in place: a password file, PGPASSWORD, a service with its user."""
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{server.port}:*:*:{PASSWORD}\n")
    pgpass.chmod(0o600)
    service = tmp_path / "pg_service.conf"
    service.write_text(f"[nearzero]\nhost=127.0.0.1\nport={server.port}\ndbname=nearzero\nuser=trading\n")
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    monkeypatch.setenv("PGSERVICE", "nearzero")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")


@pytest.fixture
def probe():
    spec = importlib.util.spec_from_file_location("cloudsql_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fake_server_does_capture_a_password_sent_the_old_way(server, credentials):
    """The attack is real: libpq hands the password to a server that asks for it in clear text."""
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect("sslmode=disable").close()
    assert server.passwords == [PASSWORD]


def test_the_plaintext_check_sends_no_credential(server, credentials, probe):
    result = probe.plaintext_check(psycopg2)
    # the server asked for a password over plain text: it admits plain text (the role fails), and got none
    assert result["plaintext"] == "accepted"
    assert "no password supplied" in result["plaintext_error"]
    assert server.users == ["trading"]  # the user name, sent in clear by every startup; no credential
    assert server.passwords == []
    assert PASSWORD.encode() not in server.received
    assert os.environ["PGPASSWORD"] == PASSWORD  # put back for the engine's own checks


def test_a_staged_dsn_and_a_service_password_still_carry_none(server, credentials, probe, tmp_path, monkeypatch):
    service = tmp_path / "with-password.conf"
    service.write_text(
        f"[nearzero]\nhost=127.0.0.1\nport={server.port}\ndbname=nearzero\nuser=trading\npassword={PASSWORD}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    result = probe.plaintext_check(psycopg2, f"sslrootcert='{tmp_path / 'ca.pem'}'")
    assert result["plaintext"] == "accepted"
    assert server.passwords == [] and PASSWORD.encode() not in server.received


def test_a_server_that_answers_nothing_proves_nothing(probe, credentials):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = probe.plaintext_check(psycopg2, f"port={port}")  # nothing listens: neither refused nor accepted
    assert result["plaintext"] == "failed" and "refused" in result["plaintext_error"]
