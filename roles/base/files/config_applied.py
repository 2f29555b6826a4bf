"""Which configuration files are newer than what a running service applied; prints a JSON list.

Usage (through ansible.builtin.script, as root): config_applied.py UNIT STAMP FILE...

A service applied its configuration when its main process started (systemd's
ExecMainStartTimestamp) or, for a reload, when the role last reloaded it (the mtime of STAMP, a file
under /run that the reload handler touches; "" when the service is only ever restarted). Every FILE,
the unit file and its drop-ins changed after that moment is listed, and "daemon-reload" when systemd
has not loaded the unit file yet: each is a restart or reload still owed, whichever run wrote the
file (a run killed before its handler ran leaves one). An inactive service prints [] (starting it
applies everything).
"""

import json
import os
import subprocess
import sys
from datetime import datetime, timezone


def main(argv):
    unit, stamp, files = argv[1], argv[2], argv[3:]
    out = subprocess.run(["systemctl", "show", "--timestamp=us+utc", unit, "-p", "ActiveState", "-p",
                          "ExecMainStartTimestamp", "-p", "NeedDaemonReload", "-p", "FragmentPath", "-p",
                          "DropInPaths"], capture_output=True, text=True, check=True).stdout
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if props.get("ActiveState") != "active":
        print("[]")
        return 0
    try:
        applied = datetime.strptime(props.get("ExecMainStartTimestamp", "").strip(),
                                    "%a %Y-%m-%d %H:%M:%S.%f UTC").replace(
            tzinfo=timezone.utc).timestamp()  # noqa: UP017 - datetime.UTC needs 3.11; Ubuntu 22.04 has 3.10
    except ValueError:
        applied = 0.0
    if stamp and os.path.exists(stamp):
        applied = max(applied, os.stat(stamp).st_mtime)
    owed = []
    for path in [*files, props.get("FragmentPath", ""), *props.get("DropInPaths", "").split()]:
        if path and os.path.exists(path) and os.stat(path).st_mtime > applied and path not in owed:
            owed.append(path)
    if props.get("NeedDaemonReload") == "yes":
        owed.append("daemon-reload")
    print(json.dumps(owed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
