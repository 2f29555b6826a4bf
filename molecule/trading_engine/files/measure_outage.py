#!/usr/bin/env python3
"""Poll the engine's readiness inside one lab host and report how long it was out of service.

Run inside the container (``podman exec``): polls http://127.0.0.1:PORT/healthz/ready every
INTERVAL seconds for DURATION seconds (or until STOP_FILE exists) and prints one JSON line: the number of probes, every
window in which readiness was not 200 (start, end, length in seconds, from this host's clock),
and the longest one. Used by docs/benchmarks/deploy.md.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    port, duration, interval = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    stop_file = sys.argv[4] if len(sys.argv) > 4 else None
    url = f"http://127.0.0.1:{port}/healthz/ready"
    windows, down_since, probes = [], None, 0
    end = time.time() + duration
    while time.time() < end and not (stop_file and os.path.exists(stop_file)):
        now = time.time()
        probes += 1
        if ready(url):
            if down_since is not None:
                windows.append((down_since, now))
                down_since = None
        elif down_since is None:
            down_since = now
        time.sleep(interval)
    if down_since is not None:
        windows.append((down_since, time.time()))
    out = [{"start": round(a, 3), "end": round(b, 3), "seconds": round(b - a, 3)} for a, b in windows]
    print(json.dumps({"probes": probes, "outages": out, "longest_s": max((w["seconds"] for w in out), default=0.0)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
