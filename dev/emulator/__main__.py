"""Command line: ``python -m emulator [--lab DIR | --dataset FILE | --generate N ...] --port-file PATH``."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .server import Emulator, EmulatorError
from .store import PROJECT_ERRORS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="GCP API emulator (127.0.0.1 only).")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--lab", metavar="DIR", help="serve DIR/instances.json (written by dev/lab/labctl.py)")
    source.add_argument(
        "--dataset",
        metavar="FILE",
        action="append",
        help="load a dataset (real API dump, list of instances, or {projects: ...}); repeatable",
    )
    source.add_argument("--generate", metavar="N", type=int, help="generate N instances")
    parser.add_argument("--projects", type=int, default=1, help="projects for --generate (default 1)")
    parser.add_argument("--zones", type=int, default=3, help="zones per project for --generate (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --generate (default 0)")
    parser.add_argument("--duplicates", type=int, default=0, help="instances reusing another's name (--generate)")
    parser.add_argument(
        "--project-error",
        metavar="PROJECT=KIND",
        action="append",
        default=[],
        help=f"fail a project's Compute calls; KIND in {', '.join(PROJECT_ERRORS)}",
    )
    parser.add_argument(
        "--unreachable",
        metavar="PROJECT=ZONE[,ZONE]",
        action="append",
        default=[],
        help="report zones of a project as unreachable",
    )
    parser.add_argument(
        "--quota",
        metavar="PROJECT=N",
        action="append",
        default=[],
        help="allow N Compute reads per minute for PROJECT, then 403 rateLimitExceeded",
    )
    parser.add_argument("--faults", metavar="FILE", help="YAML/JSON list of fault rules (see README)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every API request")
    parser.add_argument("--token-ttl", type=int, default=3600, help="lifetime of issued tokens in seconds")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("--port-file", metavar="PATH", help="write the port number here once listening")
    parser.add_argument("--keys-dir", metavar="DIR",
                        help="write service-account.json, authorized-user.json, emulator.json here "
                             "(default: the --lab directory)")  # fmt: skip
    parser.add_argument(
        "--warm", action="store_true", help="encode every instance before serving (first listing as fast as later ones)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def _pairs(values, flag):
    for value in values:
        project, sep, rest = value.partition("=")
        if not sep or not project or not rest:
            raise EmulatorError(f"{flag} {value!r}: expected PROJECT=VALUE")
        yield project, rest


def _configure(emu: Emulator, args) -> None:
    if args.lab:
        emu.load_lab(args.lab)
    for path in args.dataset or ():
        emu.load_fixture(path)
    if args.generate is not None:
        emu.generate(args.generate, args.projects, args.zones, seed=args.seed, duplicates=args.duplicates)
    for project, kind in _pairs(args.project_error, "--project-error"):
        emu.set_project_error(project, kind)
    for project, limit in _pairs(args.quota, "--quota"):
        if not limit.isdigit():
            raise EmulatorError(f"--quota {project}={limit}: N must be a whole number of requests per minute")
        emu.set_quota(project, int(limit))
    for project, zones in _pairs(args.unreachable, "--unreachable"):
        emu.set_unreachable(project, zones.split(","))
    if args.faults:
        import yaml

        rules = yaml.safe_load(Path(args.faults).read_text()) or []
        if not isinstance(rules, list):
            raise EmulatorError(f"{args.faults}: expected a list of fault rules")
        for rule in rules:
            emu.faults.add(**rule)


def main(argv=None) -> int:
    """Start the emulator and serve until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    emu = Emulator(args.host, args.port, latency_ms=args.latency_ms)
    emu.token_ttl = args.token_ttl
    emu.log_requests = args.verbose
    try:
        _configure(emu, args)
        # the dataset lives as long as the process: keep the cyclic GC from rescanning
        # millions of instance objects on every collection while serving
        if args.warm:
            emu.compute.warm()
        gc.freeze()
        emu.start()
    except (EmulatorError, ValueError, TypeError, OSError) as exc:
        print(f"emulator: error: {exc}", file=sys.stderr)
        return 2
    keys_dir = args.keys_dir or args.lab
    written = emu.write_key_files(keys_dir) if keys_dir else {}
    if args.port_file:
        tmp = Path(args.port_file + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(f"{emu.port}\n")
        os.replace(tmp, args.port_file)
    print(json.dumps({"url": emu.url, "pid": os.getpid(), **written}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    emu.stop()
    if args.port_file:
        Path(args.port_file).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
