"""Check and measure the engine's database connection; print one JSON object.

``route IP [--public-interface IF ...]``: which interface and source address the kernel
would use to reach IP, and whether that path is public (a listed interface, or a source
address that is not private).

``probe [--queries N] [--connects N] [--staged]``: connect with the libpq service from the
environment (PGSERVICEFILE, PGPASSFILE, PGSERVICE), so the exact settings the engine uses are
tested. Reports the TLS session (pg_stat_ssl), whether the server accepts writes, connect time
and ``SELECT 1`` round trips (p50/p99 in microseconds), and tries the same service with
``sslmode=disable`` to prove the server refuses plain text (that attempt carries no password and no
password file: whatever answers gets nothing to steal). Never prints credentials.

With ``--staged`` the files are not on disk yet: stdin carries a JSON object with the service
file, the pgpass line and the CA bundle the role is about to install. They are written to a
private temporary directory (0700, removed afterwards) and the probe runs against them, with
``sslrootcert`` pointed at the staged bundle; everything else comes from the staged service file.
So a CA that does not verify the server, or a wrong password, is found before the real files
are replaced (stdin, not argv or the environment, keeps the password out of ``ps``).

``tls IP --dns-name NAME [--api-ca-mode MODE] [--port N] [--timeout S]``: choose libpq's sslmode
for the instance at IP. The CA bundle comes on stdin. It opens a TLS session the way libpq does
(PostgreSQL's SSLRequest, then the handshake), verifies the server certificate against the bundle
only (verify-ca) and reads the names in its subjectAltName. ``verify-full`` against NAME is chosen
only when the API does not say the instance uses a per-instance CA (GOOGLE_MANAGED_INTERNAL_CA,
whose certificates never carry the DNS name) and the certificate the server presents names NAME;
otherwise ``verify-ca`` against the private IP. When the handshake fails (unreachable, or a bundle
that does not verify the server) the API's word decides alone and ``confirmed`` is false: the
probe that follows finds the real error.
"""

import argparse
import contextlib
import ipaddress
import json
import math
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

# GOOGLE_MANAGED_INTERNAL_CA: one CA per instance, server certificates without the DNS name
PER_INSTANCE_CA = "GOOGLE_MANAGED_INTERNAL_CA"
# PostgreSQL's SSLRequest: length 8, then the code 1234.5679
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def percentile(samples, pct):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(pct / 100.0 * len(ordered))) - 1]


def route(args):
    out = json.loads(subprocess.check_output(["ip", "-j", "route", "get", args.ip]))[0]
    dev, src = out.get("dev", ""), out.get("prefsrc", "")
    reasons = []
    if dev in args.public_interface:
        reasons.append(f"interface {dev} is listed in cloudsql_client_public_interfaces")
    try:
        source = ipaddress.ip_address(src)
        if source.is_global:
            reasons.append(f"source address {src} on {dev} is a public address")
    except ValueError:
        reasons.append(f"the kernel chose no usable source address ({src!r})")
    return {"dev": dev, "src": src, "gateway": out.get("gateway"), "public": bool(reasons), "reasons": reasons}


def peer_names(ip, port, ca_bundle, timeout, server_name=None):
    """Open a TLS session to PostgreSQL at ip:port as libpq does, verify the chain only; return the SAN names.

    Returns ``(dns_names, ip_addresses)`` of the certificate's subjectAltName. Raises OSError or
    ssl.SSLError when the server cannot be reached, refuses TLS, or the bundle does not verify it.
    """
    context = ssl.create_default_context(cadata=ca_bundle)
    context.check_hostname = False  # the chain only, as verify-ca; the names are read below
    with socket.create_connection((ip, port), timeout=timeout) as raw:
        raw.sendall(SSL_REQUEST)
        answer = raw.recv(1)
        if answer != b"S":
            raise ssl.SSLError(f"the server at {ip}:{port} does not offer TLS (answered {answer!r})")
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            cert = tls.getpeercert()
    san = cert.get("subjectAltName", ())
    return [v for k, v in san if k == "DNS"], [v for k, v in san if k == "IP Address"]


def names_host(dns_names, name):
    """Whether one of the certificate's DNS names matches name (RFC 6125: a '*' only as the whole left label)."""
    want = name.rstrip(".").lower()
    for entry in dns_names:
        entry = entry.rstrip(".").lower()
        if entry == want:
            return True
        if entry.startswith("*.") and "." in want and want.split(".", 1)[1] == entry[2:]:
            return True
    return False


def tls_choice(args, ca_bundle):
    """Choose verify-full or verify-ca for the instance, from the API's CA mode and the presented certificate."""
    dns = args.dns_name.rstrip(".")
    api_allows_full = bool(dns) and args.api_ca_mode != PER_INSTANCE_CA
    out = {"ip": args.ip, "dns_name": dns, "api_ca_mode": args.api_ca_mode or "unknown"}
    try:
        dns_names, ips = peer_names(args.ip, args.port, ca_bundle, args.timeout, dns or None)
    except (OSError, ssl.SSLError, ValueError) as exc:
        full = api_allows_full and bool(args.api_ca_mode)
        decides = f"the API's CA mode {args.api_ca_mode} decides alone" if args.api_ca_mode else \
            "without a CA mode from the API nothing confirms the DNS name"
        out.update(confirmed=False, error=f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}",
                   reason=f"the certificate could not be read ({type(exc).__name__}); {decides}")
    else:
        carries = bool(dns) and names_host(dns_names, dns)
        full = api_allows_full and carries
        out.update(confirmed=True, san_dns=dns_names, san_ip=ips, carries_dns_name=carries)
        if full:
            out["reason"] = f"the server certificate names {dns} (CA mode {args.api_ca_mode or 'unknown'})"
        elif not dns:
            out["reason"] = "the instance has no DNS name"
        elif args.api_ca_mode == PER_INSTANCE_CA:
            out["reason"] = f"CA mode {PER_INSTANCE_CA} (per-instance CA): its certificates do not carry the DNS name"
        else:
            san = ", ".join(dns_names) or "none"
            out["reason"] = f"the server certificate does not name {dns} (SAN DNS: {san})" + (
                f", although the API says CA mode {args.api_ca_mode}" if args.api_ca_mode else "")
    out.update(sslmode="verify-full" if full else "verify-ca", host=dns if full else args.ip)
    return out


@contextlib.contextmanager
def staged_files(document):
    """Stage the service file, pgpass and CA bundle in a private directory, then remove it.

    Yields the conninfo override that points libpq at the staged CA bundle.
    """
    directory = tempfile.mkdtemp(prefix="nearzero-db-stage-")
    try:
        paths = {}
        for key, name in (("service_file", "pg_service.conf"), ("pgpass", "pgpass"), ("ca_bundle", "server-ca.pem")):
            paths[key] = os.path.join(directory, name)
            fd = os.open(paths[key], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(document[key].rstrip("\n") + "\n")
        os.environ["PGSERVICEFILE"] = paths["service_file"]
        os.environ["PGPASSFILE"] = paths["pgpass"]
        # conninfo values win over the service file's: only the CA path differs from the real file
        yield "sslrootcert='{}'".format(paths["ca_bundle"].replace("\\", "\\\\").replace("'", "\\'"))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def probe(args, dsn=""):
    import psycopg2

    result = {"connect_ms": [], "ok": False}
    conn = None
    for _connect in range(args.connects):
        start = time.perf_counter()
        if conn is not None:
            conn.close()
        conn = psycopg2.connect(dsn)
        result["connect_ms"].append((time.perf_counter() - start) * 1000.0)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(
        "select s.ssl, s.version, s.cipher, s.bits, pg_is_in_recovery(), "
        "current_setting('transaction_read_only'), inet_server_addr()::text "
        "from pg_stat_ssl s where s.pid = pg_backend_pid()"
    )
    ssl, version, cipher, bits, in_recovery, read_only, server_addr = cur.fetchone()
    result.update(
        ssl=bool(ssl), tls_version=version, cipher=cipher, bits=bits, server_addr=server_addr,
        sslmode=conn.get_dsn_parameters().get("sslmode"), host=conn.get_dsn_parameters().get("host"),
        accepts_writes=(not in_recovery and read_only == "off"),
    )
    rtts = []
    for _query in range(args.queries):
        start = time.perf_counter()
        cur.execute("select 1")
        cur.fetchone()
        rtts.append((time.perf_counter() - start) * 1e6)
    conn.close()
    connects = result.pop("connect_ms")
    result.update(
        queries=len(rtts),
        select1_p50_us=round(percentile(rtts, 50), 1),
        select1_p99_us=round(percentile(rtts, 99), 1),
        connect_p50_ms=round(percentile(connects, 50), 2),
        connect_max_ms=round(max(connects), 2),
    )
    result.update(plaintext_check(psycopg2, dsn))
    result["ok"] = result["ssl"] and result["plaintext"] == "refused"
    return result


def plaintext_check(psycopg2, dsn=""):
    """Try the service without TLS, carrying no credential.

    Whatever answers on the address gets this connection in clear text, so it carries no password: an
    empty one (which also stops libpq taking one from the service file), no password file, no
    PGPASSWORD. It keeps the service's user name, which every PostgreSQL startup sends in clear anyway,
    so a rule that admits plain text for that user alone is still found. The real server refuses before
    authentication, naming the missing encryption (its pg_hba.conf admits hostssl only). A server that
    asks for a password instead has admitted the unencrypted connection: that is "accepted", and it got
    nothing ("fe_sendauth: no password supplied").
    """
    # a password file that cannot exist (a path below /dev/null): libpq reads none, and warns about none
    conninfo = f"{dsn} sslmode=disable password='' passfile='{os.devnull}/none'"
    saved = os.environ.pop("PGPASSWORD", None)
    try:
        psycopg2.connect(conninfo).close()
        return {"plaintext": "accepted"}
    except psycopg2.OperationalError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "no encryption" in text:  # the server's own refusal
            return {"plaintext": "refused", "plaintext_error": text}
        if "no password supplied" in text:  # asked for a password over plain text: admitted
            return {"plaintext": "accepted", "plaintext_error": text}
        return {"plaintext": "failed", "plaintext_error": text}  # proves nothing either way
    finally:
        if saved is not None:
            os.environ["PGPASSWORD"] = saved


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("route")
    r.add_argument("ip")
    r.add_argument("--public-interface", action="append", default=[])
    p = sub.add_parser("probe")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--connects", type=int, default=20)
    p.add_argument("--staged", action="store_true", help="read the files to test as JSON on stdin")
    t = sub.add_parser("tls", help="choose verify-full or verify-ca; the CA bundle on stdin")
    t.add_argument("ip")
    t.add_argument("--dns-name", default="")
    t.add_argument("--api-ca-mode", default="")
    t.add_argument("--port", type=int, default=5432)
    t.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    try:
        if args.cmd == "route":
            out = route(args)
        elif args.cmd == "tls":
            out = tls_choice(args, sys.stdin.read())
        elif args.staged:
            with staged_files(json.load(sys.stdin)) as dsn:
                out = probe(args, dsn)
        else:
            out = probe(args)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {first}"}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
