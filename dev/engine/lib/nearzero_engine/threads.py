"""Thread placement: pin the trading loop and the service threads to their CPUs and set their scheduling.

A trading engine on isolated CPUs gets no load balancing there: unless each thread is pinned, the
kernel leaves them all on the CPU the process started on. The unit must let these calls through
its SystemCallFilter (``sched_setaffinity``, ``sched_setscheduler``, ``setpriority`` are in
systemd's ``@resources`` group); a refusal is reported with that fix, never ignored.
"""

from __future__ import annotations

import errno
import os

from .config import ConfigError, ThreadsConfig

_POLICIES = {os.SCHED_OTHER: "other", os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr", os.SCHED_BATCH: "batch",
             os.SCHED_IDLE: "idle"}


class PlacementError(Exception):
    """A placement call was refused; the message names the call, the cause and the fix."""


def cpu_list(cpus) -> str:
    """``{0, 1, 2, 5}`` -> ``0-2,5``."""
    out, run = [], []
    for cpu in sorted(cpus):
        if run and cpu == run[-1] + 1:
            run.append(cpu)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [cpu]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def check_cpus(threads: ThreadsConfig, allowed: set[int]) -> None:
    """Refuse a configured CPU the process may not run on (outside the unit's CPUAffinity)."""
    for key in ("trading_cpu", "service_cpu"):
        cpu = getattr(threads, key)
        if cpu is not None and cpu not in allowed:
            raise ConfigError(f"threads.{key}: CPU {cpu} is not one this engine may run on (allowed: "
                              f"{cpu_list(allowed)}, from the unit's CPUAffinity). Fix: name one of those CPUs, "
                              "or give the engine that CPU (trading_engine_cpu_affinity or the low_latency plan)")


def _call(what: str, func, *args) -> None:
    try:
        func(*args)
    except OSError as exc:
        if exc.errno == errno.EPERM:
            hint = ("the unit's SystemCallFilter refuses the call, or the limit it sets is too low. Fix: allow "
                    "sched_setaffinity/sched_setscheduler/setpriority in SystemCallFilter; for SCHED_FIFO set "
                    "LimitRTPRIO (trading_engine_sched_priority) at least as high and RestrictRealtime=no")
        else:
            hint = exc.strerror
        raise PlacementError(f"{what} refused ({errno.errorcode.get(exc.errno, exc.errno)}): {hint}") from None


def place(threads: ThreadsConfig, trading_tid: int, service_tids: list[int]) -> None:
    """Apply ``threads`` to the trading thread and to each service thread (by kernel thread id)."""
    if threads.trading_cpu is not None:
        _call(f"pinning the trading thread {trading_tid} to CPU {threads.trading_cpu}",
              os.sched_setaffinity, trading_tid, {threads.trading_cpu})
    if threads.trading_fifo_priority > 0:
        _call(f"SCHED_FIFO priority {threads.trading_fifo_priority} for the trading thread {trading_tid}",
              os.sched_setscheduler, trading_tid, os.SCHED_FIFO, os.sched_param(threads.trading_fifo_priority))
    for tid in service_tids:
        if threads.service_cpu is not None:
            _call(f"pinning the service thread {tid} to CPU {threads.service_cpu}",
                  os.sched_setaffinity, tid, {threads.service_cpu})
        if threads.service_nice > 0:
            nice = min(19, os.getpriority(os.PRIO_PROCESS, trading_tid) + threads.service_nice)
            _call(f"SCHED_BATCH for the service thread {tid}", os.sched_setscheduler, tid, os.SCHED_BATCH,
                  os.sched_param(0))
            _call(f"nice {nice} for the service thread {tid}", os.setpriority, os.PRIO_PROCESS, tid, nice)


def describe(named_tids: dict[str, int]) -> list[dict]:
    """What each thread really got, read back from the kernel (for the health body and the logs)."""
    out = []
    for name, tid in named_tids.items():
        try:
            policy = os.sched_getscheduler(tid)
            out.append({"name": name, "tid": tid, "cpus": cpu_list(os.sched_getaffinity(tid)),
                        "policy": _POLICIES.get(policy, str(policy)), "priority": os.sched_getparam(tid).sched_priority,
                        "nice": os.getpriority(os.PRIO_PROCESS, tid)})
        except OSError as exc:
            out.append({"name": name, "tid": tid, "error": exc.strerror})
    return out
