"""Upgrade lab instances to Enterprise Plus through the emulated SQL Admin API (the drill's stand-in for
`gcloud sql instances patch NAME --edition=ENTERPRISE_PLUS --tier=db-perf-optimized-N-4`: nearzero changes
no edition itself). Usage: lab_edition.py LAB_DIR INSTANCE...; waits for each Operation."""

import json
import sys
import time
from pathlib import Path

from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

lab = Path(sys.argv[1])
url = json.loads((lab / "emulator.json").read_text())["url"] + "/v1/projects/nearzero-lab"
credentials = service_account.Credentials.from_service_account_file(
    str(lab / "service-account.json"), scopes=["https://www.googleapis.com/auth/sqlservice.admin"])
session = AuthorizedSession(credentials)
for name in sys.argv[2:]:
    body = {"settings": {"edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-N-4"}}
    response = session.patch(f"{url}/instances/{name}", json=body, timeout=30)
    response.raise_for_status()
    operation = response.json()
    for _ in range(120):
        operation = session.get(f"{url}/operations/{operation['name']}", timeout=30).json()
        if operation["status"] == "DONE":
            break
        time.sleep(0.25)
    if operation["status"] != "DONE" or "error" in operation:
        sys.exit(f"{name}: {operation}")
    print(f"{name}: ENTERPRISE_PLUS")
