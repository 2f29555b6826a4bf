#!/usr/bin/env python3
"""make demo: the hosts the gce inventory plugin finds are exactly those the architecture file describes.

Reads ``ansible-inventory --list`` on stdin and the architecture file named on the command line; fails
naming the hosts missing from the inventory and those the architecture does not create.
"""

import json
import sys
from pathlib import Path

import yaml


def expected(path: Path) -> set[str]:
    """Every instance name of the fleet (``name``, or ``name_prefix-1..count``) and the Cloud SQL hosts."""
    arch = yaml.safe_load(path.read_text())["nearzero_architecture"]
    names = set()
    for entry in arch.get("fleet") or []:
        if entry.get("name"):
            names.add(entry["name"])
        else:
            names.update(f"{entry['name_prefix']}-{i}" for i in range(1, int(entry.get("count", 1)) + 1))
    database = arch.get("database") or {}
    names.update(database[role]["name"] for role in ("primary", "replica") if database.get(role))
    return names


def main() -> int:
    found = set(json.load(sys.stdin).get("_meta", {}).get("hostvars", {}))
    wanted = expected(Path(sys.argv[1]))
    if found != wanted:
        print(f"demo: ERROR: the inventory lists {sorted(found)}, provision.yml created {sorted(wanted)} "
              f"(missing: {sorted(wanted - found)}, extra: {sorted(found - wanted)})", file=sys.stderr)
        return 1
    print(f"demo: the inventory lists the {len(found)} hosts provision.yml created: {', '.join(sorted(found))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
