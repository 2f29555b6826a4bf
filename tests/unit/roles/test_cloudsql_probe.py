"""cloudsql_client's probe, staged mode: the files it is handed live only in a private directory.

The TLS, login and plain-text checks themselves need a real PostgreSQL and run in the molecule
scenario (molecule/cloudsql); here the staging contract: private modes, libpq pointed at the staged
files, and nothing left behind, also when the probe fails.
"""

import importlib.util
import os
import stat
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[3] / "roles" / "cloudsql_client" / "files" / "cloudsql_probe.py"
DOCUMENT = {
    "service_file": "[nearzero]\nhost=db.example\nsslrootcert=/etc/nearzero/db/server-ca.pem",
    "pgpass": "db.example:5432:nearzero:trading:s3cr\\:et",
    "ca_bundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
}


@pytest.fixture
def probe(monkeypatch, tmp_path):
    monkeypatch.delenv("PGSERVICEFILE", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    spec = importlib.util.spec_from_file_location("cloudsql_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module.tempfile, "tempdir", str(tmp_path))  # restored after the test
    return module


def test_staged_files_are_private_and_libpq_is_pointed_at_them(probe, tmp_path):
    with probe.staged_files(DOCUMENT) as dsn:
        directory = Path(os.environ["PGSERVICEFILE"]).parent
        assert directory.parent == tmp_path
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        files = {p.name: p for p in directory.iterdir()}
        assert sorted(files) == ["pg_service.conf", "pgpass", "server-ca.pem"]
        for path in files.values():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert path.read_text().endswith("\n") and not path.read_text().endswith("\n\n")
        assert os.environ["PGPASSFILE"] == str(files["pgpass"])
        assert files["pgpass"].read_text() == DOCUMENT["pgpass"] + "\n"
        # the service file is staged as it will be installed; only the CA path is overridden
        assert files["pg_service.conf"].read_text() == DOCUMENT["service_file"] + "\n"
        assert dsn == f"sslrootcert='{files['server-ca.pem']}'"
    assert not directory.exists()


def test_staged_files_are_removed_when_the_probe_fails(probe, tmp_path):
    with pytest.raises(RuntimeError), probe.staged_files(DOCUMENT):
        raise RuntimeError("certificate verify failed")
    assert list(tmp_path.iterdir()) == []


def test_a_quote_in_the_staging_path_is_escaped_for_libpq(probe, tmp_path, monkeypatch):
    odd = tmp_path / "it's"
    odd.mkdir()
    monkeypatch.setattr(probe.tempfile, "tempdir", str(odd))
    with probe.staged_files(DOCUMENT) as dsn:
        assert dsn.startswith("sslrootcert='") and "it\\'s" in dsn
