#!/usr/bin/env python3
"""Serve the scenario's artifacts the two remote ways the role supports, until killed.

- Cloud Storage: the project's GCP API emulator, with ``gs://nearzero-releases/engine/<file>``
  for every artifact, and a service-account key it trusts;
- HTTPS: a static file server over TLS with a certificate from a throw-away CA.

Writes ``STATE/server.json`` (URLs, key and CA paths) once both listen, and ``STATE/server.pid``.
"""

import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "dev"))  # the emulator lives in the workbench, dev/emulator

from emulator import Emulator  # noqa: E402 - the path is set just above

BUCKET = "nearzero-releases"


def make_tls(state: Path) -> tuple[Path, Path, Path]:
    ca_key, ca, key, csr, cert = (state / n for n in ("ca.key", "ca.pem", "tls.key", "tls.csr", "tls.pem"))
    ext = state / "tls.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run = partial(subprocess.run, check=True, capture_output=True)
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=nearzero scenario CA"])
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"])
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
         "-out", str(cert), "-days", "2", "-extfile", str(ext)])
    return ca, cert, key


def main() -> int:
    artifacts, state = Path(sys.argv[1]), Path(sys.argv[2])
    emu = Emulator(host="127.0.0.1", port=0).start()
    for path in sorted(artifacts.glob("*.tar.gz")):
        emu.services["storage"].put(BUCKET, f"engine/{path.name}", path.read_bytes(), "application/gzip")
    key_file = state / "sa.json"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(emu.make_service_account("deployer@nearzero-lab.iam.gserviceaccount.com", "nearzero-lab"), handle)

    ca, cert, key = make_tls(state)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(artifacts))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    (state / "server.pid").write_text(str(os.getpid()))
    info = {"storage_endpoint": emu.url, "bucket": BUCKET, "service_account_file": str(key_file),
            "https_base": f"https://127.0.0.1:{httpd.server_address[1]}", "ca": str(ca)}
    tmp = state / "server.json.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.rename(state / "server.json")
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
