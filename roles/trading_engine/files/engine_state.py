"""Compare the running trading engine with what is on disk; print the comparison as JSON.

Run by the trading_engine role on the host (as root, through ansible.builtin.script) with:
SERVICE ROOT CONFIG_PATH VERSION_URL CANDIDATE_DROPIN. It reports ``current`` (readlink), the sha256
of the configuration file, what the engine says it runs (``GET /version``: ``release`` and
``config_digest``), the unit's state from systemd, and ``restart_reasons``: every way in which the
running process differs from the files, whatever run changed them (a killed run leaves a restart
owed; this finds it). An empty list means the process runs exactly what is on disk.
"""

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone

PROPS = ("LoadState", "ActiveState", "SubState", "MainPID", "NRestarts", "NeedDaemonReload", "FragmentPath",
         "DropInPaths", "ExecMainStartTimestamp")


def unit_state(service):
    """The unit's properties from ``systemctl show``, timestamps in microseconds and UTC (systemd 247+)."""
    argv = ["systemctl", "show", "--timestamp=us+utc", service + ".service"]
    for prop in PROPS:
        argv += ["-p", prop]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def started_at(value):
    """``Sun 2026-12-06 03:51:14.123456 UTC`` -> seconds since the epoch; None when never started."""
    try:
        return datetime.strptime(value.strip(), "%a %Y-%m-%d %H:%M:%S.%f UTC").replace(
            tzinfo=timezone.utc).timestamp()  # noqa: UP017 - datetime.UTC needs 3.11; Ubuntu 22.04 has 3.10
    except ValueError:
        return None


def sha256(path):
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return ""


def running(url):
    """What the engine says it runs; ``{"error": ...}`` when it does not answer."""
    try:
        # the role builds the URL: http://127.0.0.1:<health port>/version
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return {"error": f"HTTP {exc.code} from {url}"}
    except (OSError, ValueError) as exc:
        return {"error": f"no answer from {url} ({exc})"}


def compare(state, current, config_path, config_sha, engine):
    """Every difference between the running process and the files, in words."""
    reasons = []
    active = state.get("ActiveState", "")
    if active != "active":
        reasons.append(f"the engine is {active or 'unknown'} ({state.get('SubState', '?')})")
        return reasons
    if "error" in engine:
        reasons.append("the engine does not report what it runs: " + engine["error"])
        return reasons
    if engine.get("release") != current:
        reasons.append(f"it runs release {engine.get('release')}, current is {current or 'not set'}")
    if not engine.get("config_digest"):
        reasons.append("it does not report config_digest (the engine contract in the role's README)")
    elif engine["config_digest"] != config_sha:
        reasons.append(f"it runs the configuration with sha256 {engine['config_digest'][:12]}, {config_path} "
                       f"on disk has {config_sha[:12] or 'nothing'}")
    if state.get("NeedDaemonReload") == "yes":
        reasons.append("its unit file changed since systemd loaded it (NeedDaemonReload)")
    start = started_at(state.get("ExecMainStartTimestamp", ""))
    files = [state.get("FragmentPath", ""), *state.get("DropInPaths", "").split()]
    for path in filter(None, files):
        try:
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            continue
        if start is not None and mtime > start:
            reasons.append(f"{path} changed after the engine started")
    return reasons


def main(argv):
    service, root, config_path, url, candidate = argv[1:6]
    state = unit_state(service)
    try:
        current = os.path.basename(os.readlink(os.path.join(root, "current")))
    except OSError:
        current = ""
    config_sha = sha256(config_path)
    engine = running(url) if state.get("ActiveState") == "active" else {"error": "not running"}
    print(json.dumps({
        "current": current,
        "config_sha256": config_sha,
        "unit": state,
        "running": engine,
        "candidate_dropin": os.path.exists(candidate),
        "restart_reasons": compare(state, current, config_path, config_sha, engine),
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
