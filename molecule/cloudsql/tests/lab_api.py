"""The lab's Cloud SQL instances as the emulated SQL Admin API serves them, read with the lab's key.

The verifier's view of the API (what an operator's gcloud would show): instances.get and
listServerCas, each a real authorised HTTP call to the emulator the scenario started.
"""

import json
from pathlib import Path

from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

SCOPES = ["https://www.googleapis.com/auth/sqlservice.admin"]


def _get(lab: Path, path: str) -> dict:
    url = json.loads((lab / "emulator.json").read_text())["url"]
    credentials = service_account.Credentials.from_service_account_file(str(lab / "service-account.json"),
                                                                        scopes=SCOPES)
    response = AuthorizedSession(credentials).get(f"{url}/v1/projects/nearzero-lab/{path}", timeout=30)
    response.raise_for_status()
    return response.json()


def instance(lab: Path, name: str) -> dict:
    """instances.get."""
    return _get(lab, f"instances/{name}")


def ca_bundle(lab: Path, name: str) -> str:
    """Every server CA of the instance (listServerCas), as one PEM bundle."""
    return "".join(c["cert"].strip() + "\n" for c in _get(lab, f"instances/{name}/listServerCas").get("certs", []))
