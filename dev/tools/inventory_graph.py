#!/usr/bin/env python3
"""Draw an Ansible inventory's group tree with Graphviz (SVG, PNG or DOT).

Reads the JSON of ``ansible-inventory --list`` (a file, ``-`` for stdin, or ``-i SOURCE`` to run
ansible-inventory itself) and renders one box per group with its host count (hosts of the group
and of its descendants), edges from parent to child groups, and the host names themselves for
groups with at most ``--max-hosts`` hosts. Large inventories stay readable: 10,000 hosts become a
few dozen boxes.

Examples:
    ansible-inventory -i inventory/example.gce.yml --list > inv.json
    python dev/tools/inventory_graph.py inv.json -o inventory.svg
    python dev/tools/inventory_graph.py -i inventory/lab/lab.gce.yml -o lab.png --max-hosts 10

"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".pdf": "pdf"}


def load(args) -> dict:
    """Return the parsed ansible-inventory --list document."""
    if args.inventory:
        exe = shutil.which("ansible-inventory") or str(Path(sys.executable).parent / "ansible-inventory")
        proc = subprocess.run([exe, "-i", args.inventory, "--list"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"inventory_graph: ansible-inventory failed for {args.inventory}:\n{proc.stderr}")
        text = proc.stdout
    elif args.json in (None, "-"):
        text = sys.stdin.read()
    else:
        text = Path(args.json).read_text()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"inventory_graph: input is not ansible-inventory --list JSON ({exc})") from None
    if not isinstance(data, dict) or "all" not in data:
        raise SystemExit("inventory_graph: input has no 'all' group; pass the output of `ansible-inventory --list`")
    return data


def host_sets(data: dict) -> dict[str, set[str]]:
    """Hosts of every group, descendants included."""
    memo: dict[str, set[str]] = {}

    def walk(group: str, seen: frozenset) -> set[str]:
        if group in memo:
            return memo[group]
        entry = data.get(group) or {}
        hosts = set(entry.get("hosts") or ())
        for child in entry.get("children") or ():
            if child not in seen:  # inventories may not contain cycles, but never loop if one does
                hosts |= walk(child, seen | {child})
        memo[group] = hosts
        return hosts

    for group in data:
        if group != "_meta":
            walk(group, frozenset({group}))
    return memo


def quote(text: str) -> str:
    """A DOT double-quoted string (inventory names come from APIs: escape everything special)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(data: dict, max_hosts: int, only: str | None) -> str:
    """DOT source of the group tree."""
    hosts = host_sets(data)
    pattern = re.compile(only) if only else None
    lines = ["digraph inventory {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];',
             "  edge [color=gray50];"]
    shown = {g for g in hosts if (not hosts[g] and g == "all") or hosts[g]}
    if pattern:
        shown = {g for g in shown if g == "all" or pattern.search(g)}
    for group in sorted(shown):
        count = len(hosts[group])
        label = f"{group}\n{count} host{'s' if count != 1 else ''}"
        lines.append(f"  {quote('g:' + group)} [shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fe\", "
                     f"label={quote(label)}];")
    for group in sorted(shown):
        children = [c for c in (data.get(group) or {}).get("children") or () if c in shown]
        if pattern and group == "all":
            children = sorted(g for g in shown if g != "all")
        for child in children:
            lines.append(f"  {quote('g:' + group)} -> {quote('g:' + child)};")
        direct = sorted((data.get(group) or {}).get("hosts") or ())
        if direct and len(direct) <= max_hosts:
            for host in direct:
                lines.append(f"  {quote('h:' + host)} [shape=ellipse, label={quote(host)}];")
                lines.append(f"  {quote('g:' + group)} -> {quote('h:' + host)} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Render an Ansible inventory's groups with Graphviz.")
    parser.add_argument("json", nargs="?", help="ansible-inventory --list output ('-' or nothing: stdin)")
    parser.add_argument("-i", "--inventory", help="run ansible-inventory --list on this source instead")
    parser.add_argument("-o", "--output", required=True, help="file to write: .svg, .png, .pdf or .dot")
    parser.add_argument("--max-hosts", type=int, default=5, help="list host names for groups this small (5)")
    parser.add_argument("--groups", help="regular expression: only groups whose name matches")
    args = parser.parse_args(argv)
    out = Path(args.output)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise SystemExit(f"inventory_graph: unknown output type '{out.suffix}'; use one of {', '.join(FORMATS)}")
    dot_source = to_dot(load(args), args.max_hosts, args.groups)
    if fmt == "dot":
        out.write_text(dot_source)
        return 0
    dot = shutil.which("dot")
    if not dot:
        raise SystemExit("inventory_graph: Graphviz 'dot' is not installed (apt-get install graphviz), "
                         "or write .dot and render it elsewhere")
    proc = subprocess.run([dot, f"-T{fmt}", "-o", str(out)], input=dot_source, text=True, capture_output=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"inventory_graph: dot failed: {proc.stderr.strip()}")
    print(f"inventory_graph: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
