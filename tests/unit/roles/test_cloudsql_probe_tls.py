"""cloudsql_client's probe, ``tls``: verify-full only when the certificate the server presents names the instance.

A real TLS server on 127.0.0.1 answers PostgreSQL's SSLRequest with 'S' and then the handshake, with a
certificate signed by a CA made here: one with the instance's DNS name in its SAN (a CAS CA), one
without (a per-instance CA). The probe reads the certificate over a real socket, as it does against
Cloud SQL; the TLS, login and plain-text checks against a real PostgreSQL run in molecule/cloudsql.
"""

import datetime
import importlib.util
import ipaddress
import socket
import ssl
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PROBE = Path(__file__).resolve().parents[3] / "roles" / "cloudsql_client" / "files" / "cloudsql_probe.py"
DNS = "1a2b3c4d.abcdef.us-east4.sql.goog"


def load_probe():
    spec = importlib.util.spec_from_file_location("cloudsql_probe_tls", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def certificate(subject, issuer, key, signer, *, ca=False, dns=(), ips=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pki():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("test server CA", "test server CA", ca_key, ca_key, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = certificate("another CA", "another CA", other_key, other_key, ca=True)
    return SimpleNamespace(ca_key=ca_key, ca=pem(ca), other=pem(other))


def serve(tmp_path, pki, *, dns=(), ips=(), tls=True):
    """A one-shot PostgreSQL-like TLS endpoint; returns its port."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("nearzero-lab:db", "test server CA", key, pki.ca_key, dns=dns, ips=ips)
    (tmp_path / "server.pem").write_text(pem(cert))
    (tmp_path / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        conn, _addr = listener.accept()
        with conn:
            assert conn.recv(8) == load_probe().SSL_REQUEST
            if not tls:
                conn.sendall(b"N")
                return
            conn.sendall(b"S")
            try:
                with context.wrap_socket(conn, server_side=True) as wrapped:
                    wrapped.recv(1)
            except (ssl.SSLError, OSError):
                pass
        listener.close()

    threading.Thread(target=answer, daemon=True).start()
    return listener.getsockname()[1]


def choose(port, ca, dns=DNS, mode=""):
    args = SimpleNamespace(ip="127.0.0.1", port=port, timeout=5.0, dns_name=dns, api_ca_mode=mode)
    return load_probe().tls_choice(args, ca)


def test_a_cas_certificate_naming_the_instance_gets_verify_full(tmp_path, pki):
    out = choose(serve(tmp_path, pki, dns=[DNS], ips=["127.0.0.1"]), pki.ca, DNS + ".", "GOOGLE_MANAGED_CAS_CA")
    assert out["confirmed"] and out["carries_dns_name"]
    assert (out["sslmode"], out["host"]) == ("verify-full", DNS)
    assert out["san_dns"] == [DNS] and out["san_ip"] == ["127.0.0.1"]


def test_a_per_instance_ca_certificate_gets_verify_ca_against_the_ip(tmp_path, pki):
    out = choose(serve(tmp_path, pki), pki.ca, DNS, "GOOGLE_MANAGED_INTERNAL_CA")
    assert out["confirmed"] and not out["carries_dns_name"] and out["san_dns"] == []
    assert (out["sslmode"], out["host"]) == ("verify-ca", "127.0.0.1")
    assert "per-instance CA" in out["reason"]


def test_the_api_saying_cas_is_not_enough_when_the_certificate_lacks_the_name(tmp_path, pki):
    out = choose(serve(tmp_path, pki, dns=["other.sql.goog"]), pki.ca, DNS, "GOOGLE_MANAGED_CAS_CA")
    assert (out["sslmode"], out["host"]) == ("verify-ca", "127.0.0.1")
    assert f"does not name {DNS}" in out["reason"] and "other.sql.goog" in out["reason"]


def test_per_instance_ca_mode_keeps_verify_ca_even_if_the_certificate_names_the_host(tmp_path, pki):
    out = choose(serve(tmp_path, pki, dns=[DNS]), pki.ca, DNS, "GOOGLE_MANAGED_INTERNAL_CA")
    assert out["carries_dns_name"] and out["sslmode"] == "verify-ca"


def test_without_the_api_mode_the_certificate_decides(tmp_path, pki):
    assert choose(serve(tmp_path, pki, dns=["*.abcdef.us-east4.sql.goog"]), pki.ca)["sslmode"] == "verify-full"


def test_a_wildcard_covers_one_label_only(tmp_path, pki):
    out = choose(serve(tmp_path, pki, dns=["*.us-east4.sql.goog"]), pki.ca)
    assert out["sslmode"] == "verify-ca" and not out["carries_dns_name"]


def test_a_bundle_that_does_not_verify_the_server_leaves_the_api_to_decide(tmp_path, pki):
    out = choose(serve(tmp_path, pki, dns=[DNS]), pki.other, DNS, "GOOGLE_MANAGED_CAS_CA")
    assert not out["confirmed"] and "certificate verify failed" in out["error"]
    assert out["sslmode"] == "verify-full"  # the API's word; the libpq probe that follows fails on the CA
    out = choose(serve(tmp_path, pki, dns=[DNS]), pki.other, DNS, "")
    assert not out["confirmed"] and out["sslmode"] == "verify-ca"  # nothing says the name is there


def test_a_server_that_refuses_tls_is_not_confirmed(tmp_path, pki):
    out = choose(serve(tmp_path, pki, tls=False), pki.ca, DNS, "GOOGLE_MANAGED_CAS_CA")
    assert not out["confirmed"] and "does not offer TLS" in out["error"]


def test_an_unreachable_server_is_not_confirmed(pki):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    out = choose(port, pki.ca, DNS, "GOOGLE_MANAGED_INTERNAL_CA")
    assert not out["confirmed"] and out["sslmode"] == "verify-ca"
