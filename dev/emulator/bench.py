"""Measure the emulator itself: startup with N generated instances, then full aggregated walks.

``python -m emulator.bench --instances 50000 --projects 3 --zones 20`` starts
``python -m emulator --generate ...`` as its own process, authenticates with the key file it
writes (google-auth, as a client would), walks every page of every project with several
parameter sets and prints a Markdown table. The client only reads ``nextPageToken`` from each
page (no full JSON parse), so the times are dominated by the emulator and the transfer.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import google.auth.transport.requests as gtr
from google.oauth2 import service_account

FIELDS = "items/*/instances(name,zone,status,labels,networkInterfaces/networkIP),nextPageToken"
_TOKEN = re.compile(rb'"nextPageToken":\s*"([^"]+)"')
RUNS = [
    ("default (pretty JSON), cold", {}, None),
    ("default (pretty JSON), warm", {}, None),
    ("prettyPrint=false, cold", {"prettyPrint": "false"}, None),
    ("prettyPrint=false, warm", {"prettyPrint": "false"}, None),
    ("prettyPrint=false + fields, cold", {"prettyPrint": "false", "fields": FIELDS}, None),
    ("prettyPrint=false + fields", {"prettyPrint": "false", "fields": FIELDS}, None),
    ("prettyPrint=false + fields + gzip", {"prettyPrint": "false", "fields": FIELDS}, "nearzero-bench (gzip)"),
    ("prettyPrint=false + filter status = RUNNING", {"prettyPrint": "false", "filter": "status = RUNNING"}, None),
]


def _walk(session, url, projects, params, user_agent):
    pages = size = 0
    started = time.perf_counter()
    headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip"} if user_agent else {"Accept-Encoding": "identity"}
    for project in projects:
        token = None
        while True:
            query = dict(params, **({"pageToken": token} if token else {}))
            response = session.get(f"{url}/compute/v1/projects/{project}/aggregated/instances", params=query,
                                   headers=headers, stream=True, timeout=120)  # fmt: skip
            raw = response.raw.read(decode_content=False)
            response.raise_for_status()
            pages += 1
            size += len(raw)
            body = gzip.decompress(raw) if response.headers.get("Content-Encoding") == "gzip" else raw
            found = _TOKEN.search(body)
            token = found.group(1).decode() if found else None
            if not token:
                break
    return pages, size, time.perf_counter() - started


def main(argv=None) -> int:
    """Run the measurement and print the table."""
    parser = argparse.ArgumentParser(prog="python -m emulator.bench")
    parser.add_argument("--instances", type=int, default=10000)
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--zones", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as keys:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--generate", str(args.instances), "--projects", str(args.projects),
             "--zones", str(args.zones), "--seed", "1", "--keys-dir", keys],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
        try:
            info = json.loads(proc.stdout.readline())
            startup = time.perf_counter() - started
            creds = service_account.Credentials.from_service_account_file(
                info["service-account.json"], scopes=["https://www.googleapis.com/auth/compute.readonly"]
            )
            session = gtr.AuthorizedSession(creds)
            projects = [f"nz-gen-1-{i:03d}" for i in range(args.projects)]
            print(f"{args.instances} instances, {args.projects} projects, {args.zones} zones; ", end="")
            print(f"startup {startup:.2f} s\n")
            print("| request parameters | pages | bytes on the wire | wall s | ms/page |")
            print("|---|---:|---:|---:|---:|")
            for label, params, user_agent in RUNS:
                pages, size, wall = _walk(session, info["url"], projects, params, user_agent)
                print(f"| {label} | {pages} | {size:,} | {wall:.2f} | {1000 * wall / pages:.1f} |")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
