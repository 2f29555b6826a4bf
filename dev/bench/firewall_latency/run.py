#!/usr/bin/env python3
"""Round-trip latency between two lab hosts with and without the nearzero host firewall.

Three server states: no firewall, the nearzero ruleset with connection tracking, and the
ruleset plus ``notrack`` on the engine port; same hosts, same run, variants interleaved round
by round so drift on a shared machine hits all three.

Only the server's ruleset changes; the client keeps its own throughout. The server must run
the security scenario's converge (``host_firewall`` with the engine port marked ``notrack``) and
a TCP sockperf server on the port (the scenario's ``fake-engine`` unit). At the end the
confirmed ruleset is loaded again and checked to be in sync.

    molecule converge -s security   # or: molecule test -s security --destroy never
    python dev/bench/firewall_latency/run.py --lab mol-security
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VARIANTS = ("none", "conntrack", "notrack")
METRICS = (("avg", r"avg-latency=([\d.]+)"), ("p50", r"percentile 50\.000 =\s+([\d.]+)"),
           ("p99", r"percentile 99\.000 =\s+([\d.]+)"), ("p99.9", r"percentile 99\.900 =\s+([\d.]+)"))
CONFIRMED = "/etc/nearzero-firewall/confirmed.nft"
CONNTRACK = "/run/nearzero-bench-conntrack.nft"


def ssh(ssh_config: Path, host: str, command: str) -> str:
    res = subprocess.run(["ssh", "-F", str(ssh_config), host, command], capture_output=True, text=True,
                         timeout=300, check=False)
    if res.returncode != 0:
        sys.exit(f"firewall bench: `{command}` on {host} failed: {res.stderr.strip()[-500:]}")
    return res.stdout


def load(ssh_config: Path, server: str, variant: str) -> None:
    """Put the server in one of the three states (a whole-table replace, as the role does)."""
    cmd = {"none": "sudo nft delete table inet nearzero 2>/dev/null; true",
           "conntrack": f"sudo nft -f {CONNTRACK}",
           "notrack": f"sudo nft -f {CONFIRMED}"}[variant]
    ssh(ssh_config, server, cmd)


def measure(ssh_config: Path, client: str, ip: str, port: int, seconds: int) -> dict[str, float]:
    out = ssh(ssh_config, client, f"sockperf ping-pong --tcp -i {ip} -p {port} -t {seconds} 2>&1")
    values = {}
    for name, pattern in METRICS:
        match = re.search(pattern, out)
        if not match:
            sys.exit(f"firewall bench: no {name} in sockperf output:\n{out[-800:]}")
        values[name] = float(match.group(1))
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lab", default="mol-security")
    parser.add_argument("--server", default="sec-engine")
    parser.add_argument("--client", default="sec-peer")
    parser.add_argument("--server-ip", help="default: the server's internal address from the lab inventory")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="sockperf run per variant and round")
    args = parser.parse_args()

    state = ROOT / ".lab" / args.lab
    ssh_config = state / "ssh_config"
    if not ssh_config.exists():
        sys.exit(f"firewall bench: lab {args.lab} is not up ({ssh_config} missing). "
                 "Fix: molecule converge -s security (or molecule test -s security --destroy never).")
    ip = args.server_ip
    if not ip:
        import yaml  # the project's venv has it; only needed here
        hosts = yaml.safe_load((state / "inventory.yml").read_text())["all"]["hosts"]
        ip = hosts[args.server]["ansible_host"]

    ruleset = ssh(ssh_config, args.server, f"sudo cat {CONFIRMED}")
    if f"dport {args.port} notrack" not in ruleset:
        sys.exit(f"firewall bench: {CONFIRMED} on {args.server} has no notrack rule for port {args.port}. "
                 "Fix: converge the security scenario (host_firewall_services with notrack: true).")
    # The same ruleset without the notrack statements: the engine port goes through conntrack.
    ssh(ssh_config, args.server,
        f"sudo sh -c \"grep -v ' notrack$' {CONFIRMED} > {CONNTRACK} && nft -c -f {CONNTRACK}\"")

    results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    try:
        for rnd in range(args.rounds):
            for variant in VARIANTS:
                load(ssh_config, args.server, variant)
                results[variant].append(measure(ssh_config, args.client, ip, args.port, args.seconds))
            print(f"round {rnd + 1}/{args.rounds}: " + ", ".join(
                f"{v} avg {results[v][-1]['avg']:.2f} us" for v in VARIANTS), file=sys.stderr)
    finally:
        ssh(ssh_config, args.server, f"sudo nft -f {CONFIRMED}; sudo rm -f {CONNTRACK}")
        status = ssh(ssh_config, args.server, "sudo /usr/local/sbin/nearzero-firewall status").strip()
        print(f"server firewall restored: {status}", file=sys.stderr)

    print(f"TCP ping-pong {args.client} -> {args.server}:{args.port}, {args.rounds} rounds x "
          f"{args.seconds} s per variant, interleaved; median over rounds, microseconds (round trip)\n")
    print("| server firewall | " + " | ".join(name for name, _ in METRICS) + " |")
    print("|---|" + "---:|" * len(METRICS))
    labels = {"none": "none (no table loaded)", "conntrack": "nearzero ruleset, engine port tracked",
              "notrack": "nearzero ruleset, engine port `notrack`"}
    for variant in VARIANTS:
        cells = [f"{statistics.median(r[name] for r in results[variant]):.2f}" for name, _ in METRICS]
        print(f"| {labels[variant]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
