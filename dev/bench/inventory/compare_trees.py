"""Old tree against new tree: ansible-inventory --graph and --list, interleaved, against one emulator.

Why: a refactor of the gce plugin must keep its speed and its output; comparing two trees on one
emulator, alternating which goes first, cancels most of a shared machine's noise. Usage:
``python dev/bench/inventory/compare_trees.py OLD_TREE NEW_TREE INSTANCES ROUNDS`` (each tree a checkout
with its .collections links, as `make setup` makes them).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".venv" / "bin"  # this checkout's venv, used for both trees


def start_emulator(work: Path, size: int) -> tuple[subprocess.Popen, str, Path]:
    port_file, keys = work / "port", work / "keys"
    keys.mkdir()
    with open(work / "emu.log", "w") as log:
        emu = subprocess.Popen([str(BIN / "python"), "-m", "emulator", "--generate", str(size), "--projects", "3",
                                "--zones", "20", "--latency-ms", "50", "--port", "0", "--port-file", str(port_file),
                                "--keys-dir", str(keys)], cwd=ROOT / "dev", stdout=subprocess.DEVNULL, stderr=log)
    while not (port_file.exists() and port_file.read_text().strip()):
        if emu.poll() is not None:
            sys.exit(f"the emulator did not start, see {work / 'emu.log'}")
        time.sleep(0.2)
    return emu, f"http://127.0.0.1:{port_file.read_text().strip()}", keys / "service-account.json"


def measure(tree: Path, mode: str, cfg: Path, env: dict[str, str], work: Path) -> tuple[float, float, bytes]:
    """Wall seconds, CPU seconds and the output of one ansible-inventory run from ``tree``."""
    out = work / f"{tree.name}{mode}.out"
    start = time.monotonic()
    with open(out, "wb") as fo, open(f"{out}.err", "wb") as fe:
        proc = subprocess.Popen([str(BIN / "ansible-inventory"), "-i", str(cfg), mode], cwd=tree, env=env,
                                stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"ansible-inventory {mode} failed in {tree}, see {out}.err")
    return time.monotonic() - start, usage.ru_utime + usage.ru_stime, out.read_bytes()


def main() -> None:
    old, new = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    size, rounds = int(sys.argv[3]), int(sys.argv[4])
    if old == new:
        sys.exit("old and new are the same tree: name two checkouts (e.g. a `git worktree` of the old commit)")
    work = Path(tempfile.mkdtemp(prefix="nz-compare-trees-"))
    emu, url, key = start_emulator(work, size)
    try:
        projects = [f"nz-gen-0-{i:03d}" for i in range(3)]
        cfg = work / "bench.gce.yml"
        cfg.write_text(f"plugin: nearzero.gcp.gce\nprojects: {json.dumps(projects)}\nauth_kind: serviceaccount\n"
                       f"service_account_file: {key}\napi_endpoint: {url}\nstatuses: []\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHONPATH"))}
        env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "False"
        for tree in (old, new):  # warm-up
            measure(tree, "--graph", cfg, env, work)
        for mode in ("--graph", "--list"):
            walls: dict[Path, list[float]] = {old: [], new: []}
            cpus: dict[Path, list[float]] = {old: [], new: []}
            for r in range(rounds):
                outs = {}
                for tree in (old, new) if r % 2 == 0 else (new, old):
                    wall, cpu, output = measure(tree, mode, cfg, env, work)
                    walls[tree].append(wall)
                    cpus[tree].append(cpu)
                    outs[tree] = output
                print(f"{mode} round {r}: old {walls[old][-1]:.2f}s new {walls[new][-1]:.2f}s  "
                      f"identical output: {outs[old] == outs[new]}", flush=True)
            mo, mn = statistics.median(walls[old]), statistics.median(walls[new])
            co, cn = statistics.median(cpus[old]), statistics.median(cpus[new])
            per_round = ", ".join(f"{n / o:.2f}" for o, n in zip(walls[old], walls[new], strict=True))
            print(f"{mode}: median wall old {mo:.2f}s new {mn:.2f}s new/old {mn / mo:.3f}; median CPU old "
                  f"{co:.2f}s new {cn:.2f}s new/old {cn / co:.3f}; per-round new/old {per_round}", flush=True)
    finally:
        emu.send_signal(signal.SIGTERM)
        emu.wait(timeout=30)


if __name__ == "__main__":
    main()
