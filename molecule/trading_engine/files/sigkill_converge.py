#!/usr/bin/env python3
"""Kill deploys with SIGKILL, re-run them, and check the fleet converged (issue 22, "Done when").

Each round names a desired state (a release and a ``trading_engine_tick_ms``, so both the release
switch and a configuration change are exercised), starts ``playbooks/deploy.yml`` for it, and kills
the whole run (its process group: ansible-playbook, its workers, their ssh) with SIGKILL. Then it
re-runs the same deploy, which must succeed, runs it once more, which must report changed=0 on every
host, and reads every engine host directly: ready, the release it runs == ``readlink current``, the
configuration digest it loaded == sha256 of engine.json on disk, no candidate drop-in left.

Rounds:
- deterministic ones first, killed as soon as a given task reports (ansible.cfg hides skipped tasks,
  so a task's banner is printed with its first result): the deploy window of defect 2 (the candidate
  runs and is ready but is not current yet; then the engine crashes, then the host reboots: neither
  may start the ungated release), the moment ``current`` switched with the candidate drop-in still
  there, and the configuration written but not applied (defect 3);
- then ``--random N`` rounds, each killed at a point drawn with the seed: one of the tasks that
  reported in a deploy of the same kind (a new release, or only a new configuration) in the rounds
  above, all equally likely, plus a delay of 0-1.5 s after it reported, so the kill lands inside the
  next task as often as between two, whatever the machine's load. Each kill point is logged.

Usage: sigkill_converge.py --project DIR --inventory INV [--inventory INV2] --manifest manifest.json
       --limit HOST --seed 22 --random 10 --log FILE
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

TICKS = (100, 120, 140)
TASK = re.compile(r"^TASK \[(.*)\]")
# a task name that ends in a release ("..., 0.2.0-c3a01fa63e91") is drawn without it, so the kill
# point matches the same task in a deploy of the other release
RELEASE_SUFFIX = re.compile(r"[ ,]+\S*\d+\.\d+\.\d+-[0-9a-f]{12}\S*$")
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


class Chaos:
    def __init__(self, args):
        self.args = args
        self.project = Path(args.project)
        self.manifest = json.loads(Path(args.manifest).read_text())
        # the lab's own helpers: podman with the lab's containers.conf, the wait for a restarted container
        sys.path.insert(0, str(self.project / "dev" / "lab"))
        try:
            import labctl
        finally:
            sys.path.pop(0)
        self.lab = labctl
        self.log_file = open(args.log, "w")  # noqa: SIM115 - kept open for the whole run
        self.playbook = str(Path(sys.executable).parent / "ansible-playbook")
        self.env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_FORCE_COLOR"}
        self.env.update(ANSIBLE_CONFIG=str(self.project / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        PYTHONUNBUFFERED="1")
        self.inventory_args = [arg for inv in args.inventory for arg in ("-i", inv)]
        self.failures: list[str] = []
        # per kind of deploy ("release", "config"): the tasks that reported in a re-run that applied it,
        # in order; the kill points random rounds draw from
        self.change_tasks: dict[str, dict[str, None]] = {}

    def log(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def release(self, name: str) -> str:
        return f"{self.manifest[name]['version']}-{self.manifest[name]['sha256'][:12]}"

    def deploy_argv(self, state: tuple[str, int]) -> list[str]:
        name, tick = state
        art = self.manifest[name]
        return [self.playbook, *self.inventory_args, str(self.project / "playbooks" / "deploy.yml"),
                "--limit", self.args.limit, "-e", f"trading_engine_version={art['version']}",
                "-e", f"trading_engine_artifact={art['path']}", "-e", f"trading_engine_artifact_sha256={art['sha256']}",
                "-e", f"trading_engine_tick_ms={tick}", "-e", "trading_engine_soak_seconds=1"]

    def killed_run(self, state, at_task: str, delay: float = 0.0) -> tuple[float, str]:
        """Start the deploy and SIGKILL its process group ``delay`` s after a task named ``at_task`` reports."""
        proc = subprocess.Popen(self.deploy_argv(state), cwd=self.project, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        last_task = ["(before the first task)"]
        hit = threading.Event()

        def reader():
            for line in proc.stdout:
                match = TASK.match(line)
                if match:
                    last_task[0] = match.group(1)
                    if at_task and at_task in match.group(1):
                        hit.set()
            hit.set()  # the run ended on its own

        thread = threading.Thread(target=reader, daemon=True)
        started = time.monotonic()
        thread.start()
        hit.wait(self.args.run_timeout)
        if delay and proc.poll() is None:
            time.sleep(delay)
        elapsed = time.monotonic() - started
        ended_alone = proc.poll() is not None
        if not ended_alone:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        thread.join(5)
        where = (f"killed after TASK [{last_task[0]}] reported" if not ended_alone
                 else f"no kill: the run had ended (rc {proc.returncode})")
        return elapsed, where

    def full_run(self, state, kind: str = "") -> tuple[int, dict[str, int], str]:
        proc = subprocess.run(self.deploy_argv(state), cwd=self.project, env=self.env, capture_output=True, text=True,
                              timeout=self.args.run_timeout, check=False)
        out = proc.stdout + proc.stderr
        changed = {m.group(1): int(m.group(2)) for m in map(RECAP.match, out.splitlines()) if m}
        if kind and proc.returncode == 0 and any(changed.values()):
            seen = self.change_tasks.setdefault(kind, {})
            seen.update((RELEASE_SUFFIX.sub("", m.group(1)), None) for m in map(TASK.match, out.splitlines()) if m)
        return proc.returncode, changed, out

    def host_shell(self, host: str, cmd: str) -> str:
        """Run ``cmd`` as root inside the host's container (``podman exec``): read beside Ansible, not
        through it, and in a fraction of an ad-hoc run's time (this runs twice a round, 14 rounds)."""
        proc = subprocess.run(["podman", "exec", self.args.containers[host], "sh", "-c", cmd],
                              env=self.lab.podman_env(), capture_output=True, text=True,
                              timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{host}: {cmd}: rc {proc.returncode}: {proc.stdout[-800:]} {proc.stderr[-800:]}")
        return proc.stdout.strip()

    def engine_facts(self, host: str) -> dict:
        """Read the host directly (not through the role): readiness body, current, disk digest, drop-in, unit state."""
        out = self.host_shell(host, (
            "printf '%s\\n' \"$(curl -s -m 3 http://127.0.0.1:8095/healthz/ready | tr -d '\\n' || true)\" "
            "\"$(readlink /opt/nearzero/engine/current || true)\" "
            "\"$(sha256sum /etc/nearzero/engine/engine.json | cut -d' ' -f1)\" "
            "\"$(ls /run/systemd/system/nearzero-engine.service.d/ 2>/dev/null | tr '\\n' ' ')\" "
            "\"$(systemctl is-active nearzero-engine || true)\" | base64 -w0"))
        lines = base64.b64decode(out).decode().split("\n")
        try:
            body = json.loads(lines[0]) if lines[0] else {}
        except ValueError:
            body = {"unparsed": lines[0]}
        return {"body": body, "current": os.path.basename(lines[1]), "disk_digest": lines[2],
                "dropins": lines[3].strip(), "active": lines[4]}

    def check_converged(self, label: str, state) -> None:
        name = state[0]
        for host in self.args.check_hosts:
            facts = self.engine_facts(host)
            body = facts["body"]
            problems = []
            if not body.get("ready"):
                problems.append(f"not ready: {body.get('reasons') or body}")
            if body.get("release") != facts["current"]:
                problems.append(f"runs {body.get('release')}, current is {facts['current']}")
            if body.get("config_digest") != facts["disk_digest"]:
                problems.append(f"runs config {str(body.get('config_digest'))[:12]}, "
                                f"disk has {facts['disk_digest'][:12]}")
            if facts["dropins"]:
                problems.append(f"drop-in left: {facts['dropins']}")
            if host == self.args.limit and facts["current"] != self.release(name):
                problems.append(f"current is {facts['current']}, the round named {self.release(name)}")
            if problems:
                self.fail(f"{label}: {host}: " + "; ".join(problems))
            else:
                self.log(f"  {host}: ready, runs {body['release']} == current, config sha256 "
                         f"{body['config_digest'][:12]} == disk")

    def fail(self, message: str) -> None:
        self.failures.append(message)
        self.log("  FAILED " + message)

    def converge(self, label: str, state, kind: str = "") -> None:
        """Re-run (must succeed), re-run again (changed=0 everywhere), then read the hosts."""
        started = time.monotonic()
        rc, _changed, out = self.full_run(state, kind)
        if rc != 0:
            self.fail(f"{label}: the re-run failed (rc {rc}): {out[-2500:]}")
            return
        rc, changed, out = self.full_run(state)
        if rc != 0 or not changed or any(changed.values()):
            self.fail(f"{label}: the second re-run was not a no-op (rc {rc}, changed {changed}): {out[-2500:]}")
            return
        self.log(f"  re-run ok, second re-run changed=0 on {sorted(changed)} ({time.monotonic() - started:.0f} s)")
        self.check_converged(label, state)

    def deploy_window(self, previous, state) -> None:
        """Defect 2: killed while the new release runs on trial; a crash, then a reboot, must not make it serve."""
        label = "deploy window (candidate started and ready, not current yet)"
        elapsed, where = self.killed_run(state, at_task="Wait for readiness")
        self.log(f"round D1 {label}: SIGKILL at {elapsed:.1f} s: {where}")
        host = self.args.limit
        facts = self.engine_facts(host)
        old, new = self.release(previous[0]), self.release(state[0])
        if facts["current"] != old:
            self.fail(f"{label}: current is {facts['current']} while {new} was on trial, expected {old}")
        # the candidate crashes: Restart=no in its drop-in, so systemd must not start it again by itself
        self.host_shell(host, "systemctl kill -s SIGKILL nearzero-engine; sleep 4; "
                              "systemctl is-active nearzero-engine || true")
        facts = self.engine_facts(host)
        if facts["active"] == "active" and facts["body"].get("release") == new:
            self.fail(f"{label}: after a crash systemd restarted the ungated candidate {new}")
        else:
            self.log(f"  crash of the candidate: the engine is {facts['active']}, {new} was not restarted")
        # the host reboots (the container restarts; /run is empty again): it must come back on `current`
        self.reboot(host)
        facts = self.engine_facts(host)
        if facts["body"].get("release") != old or facts["dropins"]:
            self.fail(f"{label}: after a reboot the host runs {facts['body'].get('release')} "
                      f"(drop-ins: {facts['dropins'] or 'none'}), expected the gated release {old}")
        else:
            self.log(f"  reboot: the host came back on {old} (current, gated), no drop-in")
        self.converge(label, state, "release")

    def reboot(self, host: str) -> None:
        container = self.args.containers[host]
        subprocess.run(["podman", "restart", "-t", "10", container], env=self.lab.podman_env(),
                       check=True, capture_output=True, timeout=120)
        # A VM's boot applies /etc/sysctl.d to its own network stack; a restarted lab container comes back
        # with /proc/sys/net read-only: the lab makes it writable again (as at `labctl up`) and applies it.
        self.lab.wait_for(lambda: self.lab.container_booted(container), 90, f"systemd in {container} to boot again")
        self.lab.writable_net_sysctls(container)
        self.lab.podman("exec", container, "sh", "-c", "sysctl --system >/dev/null 2>&1 || true")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                facts = self.engine_facts(host)
                if facts["body"].get("ready"):
                    return
            except RuntimeError:
                pass
            time.sleep(2)
        self.fail(f"{host}: not ready within 90 s of its reboot")

    def run(self) -> int:
        rng = random.Random(self.args.seed)
        self.log(f"seed {self.args.seed}, {self.args.random} random rounds on {self.args.limit}; "
                 f"checked hosts {self.args.check_hosts}")
        # the scenario hands over a converged fleet on 0.2.0 with the default tick_ms (the first round checks it)
        state = ("v2", 100)
        started = time.monotonic()

        # defect 2, deterministic: the window between starting the new release and its becoming current
        previous, state = state, ("v1", 100)
        self.deploy_window(previous, state)
        # just after `current` switched, before the candidate drop-in is removed
        previous, state = state, ("v2", 100)
        elapsed, where = self.killed_run(state, at_task="Point current at the release that passed its gate")
        self.log(f"round D2 current switched, drop-in still there: SIGKILL at {elapsed:.1f} s: {where}")
        self.converge("current switched", state, "release")
        # defect 3, deterministic: engine.json written, the restart it needs not done
        state = ("v2", 120)
        elapsed, where = self.killed_run(state, at_task="Install the systemd unit")
        self.log(f"round D3 configuration written, not applied: SIGKILL at {elapsed:.1f} s: {where}")
        self.converge("configuration written", state, "config")

        # random rounds: a new release or a new tick_ms (or both), killed at a drawn task (+0-1.5 s)
        self.log("kill points drawn from " + ", ".join(f"{len(v)} tasks ({k})" for k, v in self.change_tasks.items()))
        # a round whose run ended before its kill point killed nothing: draw more, up to 5 extra rounds
        kills, i = 0, 0
        while kills < self.args.random and i < self.args.random + 5:
            i += 1
            while True:
                candidate = (rng.choice(("v1", "v2")), rng.choice(TICKS))
                if candidate != state:
                    break
            kind = "release" if candidate[0] != state[0] else "config"
            state = candidate
            # not the last two tasks: a kill after them would find the run over
            points = list(self.change_tasks.get(kind) or self.change_tasks.get("release") or ["Gather"])[:-2]
            task, delay = rng.choice(points or ["Gather"]), round(rng.uniform(0, 1.5), 2)
            elapsed, where = self.killed_run(state, at_task=task, delay=delay)
            kills += not where.startswith("no kill")
            self.log(f"round R{i} -> release {self.release(state[0])}, tick_ms {state[1]}: at {elapsed:.1f} s, "
                     f"drawn: {delay} s after TASK [{task}] reported; {where}")
            self.converge(f"round R{i}", state)
        if kills < self.args.random:
            self.fail(f"only {kills} of {i} random rounds killed a run (the runs ended before their kill points)")
        # leave the fleet as the scenario had it (0.2.0, default tick_ms) for the steps after this one
        self.converge("back to the scenario's state", ("v2", 100))
        total = time.monotonic() - started
        self.log(f"done in {total:.0f} s: {kills} random kills in {i} rounds, {len(self.failures)} failure(s)")
        return 1 if self.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--inventory", action="append", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--limit", required=True, help="the host the deploys run on")
    parser.add_argument("--check-hosts", nargs="+", required=True,
                        help="every engine host (all are read after each round)")
    parser.add_argument("--container", action="append", default=[], metavar="HOST=CONTAINER",
                        help="podman container of each checked host (read directly, and the reboot)")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--random", type=int, default=10)
    parser.add_argument("--run-timeout", type=int, default=300)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    args.containers = dict(item.split("=", 1) for item in args.container)
    missing = sorted(set(args.check_hosts) - set(args.containers))
    if missing:
        parser.error(f"--container HOST=CONTAINER is missing for {', '.join(missing)}")
    if args.random < 10:
        parser.error("--random must be at least 10 (issue 22)")
    return Chaos(args).run()


if __name__ == "__main__":
    sys.exit(main())
