"""pytest fixtures that start the GCP API emulator (see README.md); loaded by the root conftest.py."""

import json

import pytest

from emulator import Emulator


@pytest.fixture
def emulator():
    """A started emulator on 127.0.0.1 with a free port; stopped after the test."""
    emu = Emulator(host="127.0.0.1", port=0).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def sa_key_file(emulator, tmp_path):
    """Path of a service-account key file the emulator trusts (token_uri points at it)."""
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(emulator.make_service_account()))
    path.chmod(0o600)
    return path


@pytest.fixture
def metadata_env(emulator, monkeypatch):
    """Point google-auth's metadata-server lookups at the emulator; yields the emulator.

    google-auth reads GCE_METADATA_HOST when it is imported, so its module-level copy is
    patched too.
    """
    host = f"127.0.0.1:{emulator.port}"
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    try:
        from google.auth.compute_engine import _metadata
    except ImportError:  # pragma: no cover - google-auth is a project requirement
        _metadata = None
    if _metadata is not None:
        monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)
    return emulator
