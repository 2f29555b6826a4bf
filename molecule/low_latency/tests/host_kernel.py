"""Print this machine's values of every kernel-global setting the low_latency role tunes (JSON).

Used before converge (prepare.yml) and after it (test_low_latency.py): running the role in
containers must not change the kernel they share with this machine.
"""

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
FILES = [
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/mm/transparent_hugepage/defrag",
    "/sys/kernel/mm/ksm/run",
    "/proc/irq/default_smp_affinity",
    "/proc/1/status",
]


def read(path: str) -> str | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    if path.endswith("/status"):  # only the CPU affinity of this machine's PID 1
        return next((ln for ln in text.splitlines() if ln.startswith("Cpus_allowed_list")), None)
    return text


def snapshot() -> dict:
    defaults = yaml.safe_load((ROOT / "roles/low_latency/defaults/main.yml").read_text())
    keys = [*defaults["low_latency_sysctl_kernel"], *defaults["low_latency_sysctl_netns"]]
    values = {f"sysctl {k}": read("/proc/sys/" + k.replace(".", "/")) for k in keys}
    values.update({path: read(path) for path in FILES})
    values["cpufreq governors"] = sorted({read(str(p)) for p in Path("/sys/devices/system/cpu").glob(
        "cpu[0-9]*/cpufreq/scaling_governor")})
    return values


if __name__ == "__main__":
    json.dump(snapshot(), sys.stdout, sort_keys=True)
