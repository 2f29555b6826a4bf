"""The conformance suite's world: one project with instances, Cloud SQL, a secret, an object, and tokens.

Google's own clients judge the emulator here: each test drives it through googleapiclient (built from
the pinned discovery documents, ``static_discovery=True``) or a GAPIC library with its REST transport,
pointed at the emulator with ``client_options={"api_endpoint": ...}``, and checks what the client
makes of the answer (its result objects, or the exception class and status it raises).
"""

import pytest
from conformance_world import DEPLOYER, OBJECT, PROJECT, SECRET, SERVICE_PATHS, TOKENS, ZONES
from google.oauth2.credentials import Credentials
from googleapiclient import discovery


@pytest.fixture
def world(emulator):
    """The emulator holding everything the project's product code reads or changes."""
    emulator.generate(9, projects=[PROJECT], zones=ZONES, seed=11)
    emulator.set_network(PROJECT, "default", 1460)
    sql = emulator.services["sqladmin"]
    sql.operation_seconds = 0.05
    sql.add_instance(PROJECT, "db-us", region="us-east4", private_ip="10.20.0.5", dns_name="db-us.p.sql.goog")
    sql.add_instance(PROJECT, "db-eu", region="europe-west4", private_ip="10.30.0.5", master="db-us")
    emulator.services["secretmanager"].add_version(PROJECT, "db-password", SECRET)
    emulator.services["secretmanager"].add_version(PROJECT, "eu-password", SECRET, location="europe-west3")
    emulator.make_service_account(DEPLOYER, PROJECT)
    storage = emulator.services["storage"]
    storage.add_bucket("conf-artifacts")
    storage.put("conf-artifacts", "engine/v1.tar.gz", OBJECT, "application/gzip")
    for token, scopes in TOKENS.items():
        emulator.add_access_token(f"tok-{token}", scopes=scopes)
    return emulator


@pytest.fixture
def build(world):
    """``build(api, version, holder="cloud")``: a googleapiclient service aimed at the emulator.

    ``holder`` names one of ``TOKENS``: the service sends that token (and so has its scopes).
    """

    def _build(api, version, holder="cloud"):
        return discovery.build(
            api,
            version,
            credentials=Credentials(f"tok-{holder}"),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": world.url + SERVICE_PATHS[api]},
        )

    return _build
