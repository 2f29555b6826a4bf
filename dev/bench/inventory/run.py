"""Benchmark: nearzero's gce inventory plugin against google.cloud.gcp_compute, side by side.

For each size the GCP API emulator is started with ``--generate N`` and an added latency per
request; then ``ansible-inventory --graph`` and ``--list`` run once per plugin, from the
repository root so the project's ansible.cfg applies to both. Reported per run: wall time,
CPU time (user + system of the child), peak RSS (``wait4`` rusage of the child), API requests
and tokens issued (the emulator's own counters) and the number of hosts in the result.

gcp_compute runs in two configurations, each in every round: with the project's ansible.cfg (the
strict comparison: both plugins get the same ansible-core settings) and, unless
``--incumbent-configs project``, with ansible's defaults (``ANSIBLE_CONFIG`` pointing at an empty
file), which is how its users run it and how the issue's reference figures were taken.

google.cloud.gcp_compute comes from the pinned ``ansible==12.3.0`` wheel (``pip download``),
extracted into a bench-only collections directory. Its Compute URL is hard-coded to
https://www.googleapis.com; for that plugin only, a ``sitecustomize`` shim on PYTHONPATH
rewrites that prefix to the emulator in ``requests`` (nothing else is changed). Both plugins
authenticate with the same service-account key, whose token_uri points at the emulator.

Usage: python dev/bench/inventory/run.py --sizes 10000,50000 [--latency-ms 50] [--projects 3] [--zones 20]
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "dev" / "bench" / "results" / "cache"
WHEEL_SPEC = "ansible==12.3.0"
SHIM = '''\
"""Bench-only shim: send google.cloud.gcp_compute's hard-coded Google URL to the emulator."""
import os

import requests.sessions

_TARGET = os.environ["NZ_BENCH_EMULATOR_URL"].rstrip("/")
_original = requests.sessions.Session.request


def _request(self, method, url, *args, **kwargs):
    if isinstance(url, str) and url.startswith("https://www.googleapis.com"):
        url = _TARGET + url[len("https://www.googleapis.com"):]
    return _original(self, method, url, *args, **kwargs)


requests.sessions.Session.request = _request
'''


def incumbent_collections(work: Path) -> Path:
    """Extract ansible_collections/google/cloud/ from the pinned ansible wheel into work/collections."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(CACHE.glob("ansible-12.3.0-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE), WHEEL_SPEC],
                       check=True)
        wheels = sorted(CACHE.glob("ansible-12.3.0-*.whl"))
    dest = work / "collections"
    prefix = "ansible_collections/google/cloud/"
    with zipfile.ZipFile(wheels[0]) as wheel:
        for member in wheel.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                wheel.extract(member, dest)
    manifest = json.loads((dest / prefix / "MANIFEST.json").read_text())
    print(f"google.cloud {manifest['collection_info']['version']} from {wheels[0].name}", flush=True)
    return dest


def start_emulator(work: Path, size: int, projects: int, zones: int, latency: int):
    keys = work / f"keys-{size}"
    keys.mkdir(exist_ok=True)
    port_file = work / f"port-{size}"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--generate", str(size), "--projects", str(projects), "--zones",
         str(zones), "--latency-ms", str(latency), "--port", "0", "--port-file", str(port_file),
         "--keys-dir", str(keys)],
        cwd=ROOT / "dev", stdout=subprocess.DEVNULL, stderr=open(work / f"emulator-{size}.log", "w"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 300
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"emulator did not start, see {work}/emulator-{size}.log")
        time.sleep(0.2)
    url = f"http://127.0.0.1:{port_file.read_text().strip()}"
    return proc, url, keys / "service-account.json"


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=30) as resp:  # noqa: S310 (local emulator)
        return json.loads(resp.read())


def measure(cmd, env, out_path: Path) -> dict:
    started = time.monotonic()
    with open(out_path, "wb") as out, open(str(out_path) + ".err", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (rc {rc}); see {out_path}.err")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def count_hosts(out_path: Path, mode: str) -> int:
    if mode == "--list":
        return len(json.loads(out_path.read_text())["_meta"]["hostvars"])
    names = {line.strip().lstrip("|").lstrip("-") for line in out_path.read_text().splitlines()
             if not line.strip().lstrip("|-").startswith("@")}
    return len({n for n in names if n})


def write_configs(work: Path, url: str, key: Path, projects: list[str], strategies) -> tuple[dict, Path]:
    ours = {}
    for strategy in strategies:
        ours[strategy] = work / f"bench-{strategy}.gce.yml"
        # statuses: [] keeps every instance, as gcp_compute does, so both list the same hosts.
        ours[strategy].write_text(
            "plugin: nearzero.gcp.gce\n"
            f"projects: {json.dumps(projects)}\n"
            "auth_kind: serviceaccount\n"
            f"service_account_file: {key}\n"
            f"api_endpoint: {url}\n"
            "statuses: []\n"
            f"list_strategy: {strategy}\n"
        )
    theirs = work / "bench.gcp.yml"
    theirs.write_text(
        "plugin: google.cloud.gcp_compute\n"
        f"projects: {json.dumps(projects)}\n"
        "auth_kind: serviceaccount\n"
        f"service_account_file: {key}\n"
    )
    return ours, theirs


def _enabled_with(plugin: str) -> str:
    """The project's ``[inventory] enable_plugins`` (from ansible.cfg) plus ``plugin``."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "ansible.cfg")
    enabled = [p.strip() for p in config.get("inventory", "enable_plugins", fallback="").split(",") if p.strip()]
    return ",".join([*enabled, plugin])


def run_size(work: Path, collections: Path, shim_dir: Path, size: int, args) -> list[dict]:
    proc, url, key = start_emulator(work, size, args.projects, args.zones, args.latency_ms)
    try:
        projects = [f"nz-gen-0-{i:03d}" for i in range(args.projects)]
        ours, theirs = write_configs(work, url, key, projects, args.strategies)
        base_env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_WARNING="False", **dict(args.ansible_env))
        base_env.pop("PYTHONPATH", None)
        incumbent_env = dict(
            base_env,
            PYTHONPATH=str(shim_dir),
            NZ_BENCH_EMULATOR_URL=url,
            ANSIBLE_COLLECTIONS_PATH=f"{collections}:{ROOT / '.collections'}",
        )
        inventory_bin = str(Path(sys.executable).parent / "ansible-inventory")
        runs = []
        if "project" in args.incumbent_configs:
            # the project's ansible.cfg enables only the inventory plugins it uses (gce, ...): the
            # incumbent's own plugin is added, every other setting stays the project's
            runs.append((INCUMBENT_PROJECT, theirs, dict(incumbent_env, ANSIBLE_INVENTORY_ENABLED=_enabled_with(
                "google.cloud.gcp_compute"))))
        if "defaults" in args.incumbent_configs:
            empty_cfg = work / "ansible-defaults.cfg"
            empty_cfg.write_text("# ansible's defaults: no setting\n")
            runs.append((INCUMBENT_DEFAULTS, theirs, dict(incumbent_env, ANSIBLE_CONFIG=str(empty_cfg))))
        runs += [(gce_label(strategy, args), config, base_env) for strategy, config in ours.items()]
        if args.warmup:
            # The emulator builds each partial-response shape the first time a client asks for it
            # (real GCP has no such cost): one unmeasured run per plugin, so neither pays it.
            for _tool, config, env in runs:
                measure([inventory_bin, "-i", str(config), "--graph"], env, work / "warmup.out")
        rows = []
        for mode in ("--graph", "--list"):
            samples = {tool: [] for tool, _config, _env in runs}
            for _round in range(args.rounds):  # interleaved, so a noisy moment hits both plugins
                for tool, config, env in runs:
                    before = stats(url)
                    out = work / f"{tool.replace(' ', '_')}-{size}{mode}.out"
                    result = measure([inventory_bin, "-i", str(config), mode], env, out)
                    after = stats(url)
                    result.update(
                        tool=tool, mode=mode, size=size,
                        requests=after["requests_total"] - before["requests_total"],
                        tokens=after["tokens_issued"] - before["tokens_issued"],
                        hosts=count_hosts(out, mode),
                    )
                    samples[tool].append(result)
                    print(f"N={size} {tool:12} {mode:7} wall {result['wall']:6.2f}s cpu {result['cpu']:6.2f}s "
                          f"rss {result['rss_mb']:7.1f}MB requests {result['requests']:4} "
                          f"tokens {result['tokens']:3} hosts {result['hosts']}", flush=True)
            rows.extend(median_run(runs_of_tool) for runs_of_tool in samples.values())
        return rows
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


INCUMBENT_PROJECT = "gcp_compute"
INCUMBENT_DEFAULTS = "gcp_compute (ansible defaults)"
INCUMBENTS = (INCUMBENT_PROJECT, INCUMBENT_DEFAULTS)


def median_run(samples: list[dict]) -> dict:
    """The run with the median wall time (its own CPU, RSS and counters, not a mix of runs)."""
    return sorted(samples, key=lambda r: r["wall"])[len(samples) // 2]


def gce_label(strategy: str, args) -> str:
    return "nearzero gce" if len(args.strategies) == 1 else f"nearzero gce ({strategy})"


def markdown(rows: list[dict], args, command: str) -> str:
    lines = [
        "# Inventory benchmark: nearzero `gce` vs `google.cloud.gcp_compute`",
        "",
        f"Command (from the repository root): `{command}`",
        "",
        f"Setup: GCP API emulator with `--generate N --projects {args.projects} --zones {args.zones} "
        f"--latency-ms {args.latency_ms}` (every API and token request delayed), service-account auth for both, "
        "`ansible-inventory` run from the repository root so the project's `ansible.cfg` applies to both"
        + (f"; the row `{INCUMBENT_DEFAULTS}` is gcp_compute with `ANSIBLE_CONFIG` set to an empty file, as its "
           "users run it (the configuration of the issue's reference figures). "
           if "defaults" in args.incumbent_configs else ". ")
        + (f"{args.rounds} measured runs per plugin and command, interleaved; each row is the run with the median "
           "wall time. " if args.rounds > 1 else "One measured run per plugin and command. ")
        + ("Before measuring, one unmeasured `--graph` per plugin warms the emulator (it builds each "
           "partial-response shape once; real GCP has no such cost). " if args.warmup else "No warm-up run. ")
        + "gcp_compute is google.cloud 1.10.2 from the `ansible==12.3.0` wheel; its hard-coded "
        "`https://www.googleapis.com` is redirected to the emulator by a bench-only `sitecustomize` shim. The gce "
        "plugin runs with `statuses: []` so both list the same instances (and with the `list_strategy` shown, "
        "default `auto`). Requests and tokens are the emulator's "
        "counters. Peak RSS is the child's `ru_maxrss`.",
        "",
        ("Extra environment for both plugins: " + ", ".join(f"`{k}={v}`" for k, v in args.ansible_env) + "."
         if args.ansible_env else "No extra environment: the project's `ansible.cfg` as committed."),
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared with other work), Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| N | command | plugin | wall s | CPU s | peak RSS MB | API requests | tokens | hosts |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['size']:,} | `{r['mode']}` | {r['tool']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                     f"{r['rss_mb']:.0f} | {r['requests']} | {r['tokens']} | {r['hosts']:,} |")
    lines += ["", "Ratios (gcp_compute / gce; higher is better for gce):", "",
              "| N | command | plugins | wall | CPU | peak RSS | requests |", "|---|---|---|---:|---:|---:|---:|"]
    for size in sorted({r["size"] for r in rows}):
        for mode in ("--graph", "--list"):
            same = [r for r in rows if r["size"] == size and r["mode"] == mode]
            for a, b in ((a, b) for a in same if a["tool"] in INCUMBENTS for b in same if b["tool"] not in INCUMBENTS):
                lines.append(f"| {size:,} | `{mode}` | {b['tool']} vs {a['tool']} | {a['wall'] / b['wall']:.1f}x | "
                             f"{a['cpu'] / b['cpu']:.1f}x | {a['rss_mb'] / b['rss_mb']:.1f}x | "
                             f"{a['requests'] / max(1, b['requests']):.1f}x |")
    lines += [
        "",
        "Where the difference comes from: gce lists the projects concurrently (zone by zone, in parallel, for a "
        "project with more than one aggregated page), requests only the fields of the facts it stores or groups "
        "on (`fields=`), fetches one token per credential and reuses one HTTP session, stores one compact "
        "dictionary per host (the default `hostvar_keys`: about 8 values instead of every raw Instance key, "
        "nothing empty and nothing the host already has, such as its name or the zone's region; "
        "`hostvar_keys: [all]` stores all 27 facts), hands ansible-core the tagged values it "
        "already stored for repeated ones (zone, machine type, label values, MTU, GPU type), so each distinct "
        "value is tagged once, and keeps Python's cyclic collector from rescanning the inventory while it is "
        "built and afterwards (paused, then `gc.freeze`). Every value stays untrusted (`__ansible_unsafe` in "
        "`--list`), as ansible-core "
        "stores it. gce also makes about ten default groups per host (project, region, zone, status, family, GPU, "
        "labels), which gcp_compute, configured as here, does not.",
        "",
        "Most of what is left is ansible-core's own per-host and per-value work (tagging values in "
        "`set_variable`, `VariableManager.get_vars` per host, re-encoding every untrusted string in `--list`). "
        "`inject_facts_as_vars = False` in `ansible.cfg` removes `clean_facts`, which otherwise runs for every "
        "host in `--list`.",
    ]
    return "\n".join(lines) + "\n"


def incumbent_configs(text: str) -> list[str]:
    """--incumbent-configs: a comma-separated subset of project,defaults; anything else is an error."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in ("project", "defaults")]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: use project, defaults or project,defaults")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated instance counts (default 10000)")
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--zones", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "inventory.md"),
                        help="markdown file to write ('-' for stdout only)")
    parser.add_argument("--strategies", default="auto", type=lambda s: [x for x in s.split(",") if x],
                        help="gce list_strategy values to run, comma-separated (default auto)")
    parser.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measured runs per plugin and command; the table shows the median (default 1)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="skip the unmeasured --graph run per plugin that warms the emulator")
    parser.add_argument("--incumbent-configs", default="project,defaults", type=incumbent_configs,
                        help="gcp_compute's configurations, comma-separated: project (the project's ansible.cfg, "
                        "as gce gets) and defaults (ansible's defaults, as its users run it); default both")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (outputs, logs)")
    parser.add_argument("--ansible-env", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                        metavar="KEY=VALUE", help="extra environment for both plugins' runs, e.g. "
                        "ANSIBLE_INJECT_FACT_VARS=False to try an ansible.cfg setting (repeatable)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    command = "python dev/bench/inventory/run.py " + " ".join(sys.argv[1:])
    work = Path(tempfile.mkdtemp(prefix="nz-bench-inventory-"))
    try:
        collections = incumbent_collections(work)
        shim_dir = work / "shim"
        shim_dir.mkdir()
        (shim_dir / "sitecustomize.py").write_text(SHIM)
        rows = []
        for size in sizes:
            rows.extend(run_size(work, collections, shim_dir, size, args))
        text = markdown(rows, args, command)
        print(text)
        if args.out != "-":
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            if args.append and out.exists():
                text = out.read_text() + "\n" + text.replace("# Inventory benchmark", "## Inventory benchmark", 1)
            out.write_text(text)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
