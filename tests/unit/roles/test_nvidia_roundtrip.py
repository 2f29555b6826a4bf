"""The CUDA round-trip script the nvidia_gpu role ships (roles/nvidia_gpu/files/nearzero-cuda-roundtrip.py).

Without a GPU this checks what can be checked for real:
- the hand-written PTX assembles with NVIDIA's own ptxas for every GPU generation GCE offers
  (ptxas from the PyPI wheel nvidia-cuda-nvcc-cu12; found through $NEARZERO_PTXAS, PATH or the
  installed wheel);
- the script fails cleanly, with a message naming the fix, when libcuda.so.1 is absent;
- against a small C library that implements the same driver API entry points on host memory
  (built here with the C compiler; a test double for the hardware, not shipped): the ctypes
  signatures and the kernel-argument array are right (the double applies the documented kernel
  to the arguments it receives), a kernel that never runs is caught by the comparison, a CUDA
  error is reported by name, and the latency figures are computed.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "nvidia_gpu" / "files" / "nearzero-cuda-roundtrip.py"


def load_script():
    spec = importlib.util.spec_from_file_location("nearzero_cuda_roundtrip", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RT = load_script()

FAKE_LIBCUDA = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

static int init_rc(void) { const char *v = getenv("FAKE_CUDA_INIT_RC"); return v ? atoi(v) : 0; }
static int kernel_runs(void) { const char *v = getenv("FAKE_CUDA_KERNEL"); return !(v && strcmp(v, "noop") == 0); }
static int initialised;

int cuGetErrorName(int rc, const char **name) {
    switch (rc) {
    case 100: *name = "CUDA_ERROR_NO_DEVICE"; return 0;
    case 3: *name = "CUDA_ERROR_NOT_INITIALIZED"; return 0;
    default: return 1;
    }
}
int cuInit(unsigned flags) { if (flags) return 1; if (init_rc()) return init_rc(); initialised = 1; return 0; }
int cuDriverGetVersion(int *v) { *v = 13000; return 0; }
int cuDeviceGetCount(int *n) { if (!initialised) return 3; *n = 1; return 0; }
int cuDeviceGet(int *d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char *name, int len, int dev) { snprintf(name, len, "Host memory stand-in"); return 0; }
int cuDeviceGetPCIBusId(char *bus, int len, int dev) { snprintf(bus, len, "0000:00:06.0"); return 0; }
int cuDevicePrimaryCtxRetain(void **ctx, int dev) { *ctx = (void *)0x1; return 0; }
int cuDevicePrimaryCtxRelease(int dev) { return 0; }
int cuCtxSetCurrent(void *ctx) { return ctx == (void *)0x1 ? 0 : 201; }
int cuCtxSynchronize(void) { return 0; }
int cuModuleLoadDataEx(void **mod, const char *image, unsigned n, int *opts, void **vals) {
    /* must be the NUL-terminated PTX with the kernel the script launches */
    if (!strstr(image, ".visible .entry nearzero_affine(")) return 218;
    *mod = (void *)0x2; return 0;
}
int cuModuleGetFunction(void **fn, void *mod, const char *name) {
    if (mod != (void *)0x2 || strcmp(name, "nearzero_affine") != 0) return 500;
    *fn = (void *)0x3; return 0;
}
int cuModuleUnload(void *mod) { return 0; }
int cuMemAlloc_v2(uint64_t *p, size_t n) {
    void *m = malloc(n); if (!m) return 2; *p = (uint64_t)(uintptr_t)m; return 0;
}
int cuMemFree_v2(uint64_t p) { free((void *)(uintptr_t)p); return 0; }
int cuMemAllocHost_v2(void **p, size_t n) { *p = malloc(n); return *p ? 0 : 2; }
int cuMemFreeHost(void *p) { free(p); return 0; }
int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t n) { memcpy((void *)(uintptr_t)dst, src, n); return 0; }
int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t n) { memcpy(dst, (void *)(uintptr_t)src, n); return 0; }
int cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shared, void *stream, void **params, void **extra) {
    if (fn != (void *)0x3 || gy != 1 || gz != 1 || by != 1 || bz != 1 || extra) return 1;
    uint32_t *buf = (uint32_t *)(uintptr_t)*(uint64_t *)params[0];
    uint32_t n = *(uint32_t *)params[1], mul = *(uint32_t *)params[2], add = *(uint32_t *)params[3];
    if ((uint64_t)gx * bx < n) return 1;  /* the grid must cover every element */
    if (kernel_runs())
        for (uint32_t i = 0; i < n; i++) buf[i] = buf[i] * mul + add;
    return 0;
}
"""


@pytest.fixture(scope="module")
def fake_libcuda(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the libcuda test double (apt-get install gcc)")
    out = tmp_path_factory.mktemp("libcuda")
    src = out / "fake_libcuda.c"
    src.write_text(FAKE_LIBCUDA)
    lib = out / "libcuda.so.1"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(lib), str(src)], check=True)
    return lib


def run_script(*args: str, env: dict | None = None) -> tuple[int, dict]:
    res = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False,
                         env={**os.environ, **(env or {})}, timeout=60)
    return res.returncode, json.loads(res.stdout)


def find_ptxas() -> str | None:
    if os.environ.get("NEARZERO_PTXAS"):
        return os.environ["NEARZERO_PTXAS"]
    # The pinned wheel first: its ptxas still targets every generation GCE offers.
    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(base) / "cuda_nvcc" / "bin" / "ptxas"
        if candidate.exists():
            return str(candidate)
    return shutil.which("ptxas")


@pytest.mark.parametrize("arch", ["sm_70", "sm_75", "sm_80", "sm_89", "sm_90", "sm_100"])
def test_ptx_assembles_with_nvidia_ptxas(arch, tmp_path):
    # V100, T4, A100, L4, H100/H200, B200: what the driver's JIT will compile the PTX for.
    ptxas = find_ptxas()
    if ptxas is None:
        pytest.skip("ptxas not found: pip install nvidia-cuda-nvcc-cu12==12.9.86, or set NEARZERO_PTXAS")
    ptx = tmp_path / "roundtrip.ptx"
    ptx.write_text(RT.PTX)
    cubin = tmp_path / f"roundtrip-{arch}.cubin"
    res = subprocess.run([ptxas, f"-arch={arch}", "-v", str(ptx), "-o", str(cubin)],
                         capture_output=True, text=True, check=False)
    if "is not defined for option 'gpu-name'" in res.stderr:
        pytest.skip(f"this ptxas no longer targets {arch} (CUDA 13 dropped Volta offline; the driver JIT still does)")
    assert res.returncode == 0, res.stderr
    assert "nearzero_affine" in res.stderr + res.stdout  # ptxas -v reports the kernel it compiled
    assert cubin.stat().st_size > 0


def test_broken_ptx_is_refused_by_ptxas(tmp_path):
    # The check above can fail: a typo in the kernel is caught.
    ptxas = find_ptxas()
    if ptxas is None:
        pytest.skip("ptxas not found: pip install nvidia-cuda-nvcc-cu12==12.9.86, or set NEARZERO_PTXAS")
    ptx = tmp_path / "broken.ptx"
    ptx.write_text(RT.PTX.replace("mad.lo.s32 %r8", "mad.lo.s32 %r99"))
    res = subprocess.run([ptxas, "-arch=sm_90", str(ptx), "-o", str(tmp_path / "x.cubin")],
                         capture_output=True, text=True, check=False)
    assert res.returncode != 0


def test_without_libcuda_the_script_says_what_to_do(tmp_path):
    rc, report = run_script("--libcuda", str(tmp_path / "libcuda.so.1"))
    assert rc == 2
    assert report["ok"] is False
    assert "cannot load the CUDA driver library" in report["error"]
    assert "nvidia_gpu_verify_only" in report["error"]


def test_default_library_name_when_no_driver_is_installed():
    # On a machine without the NVIDIA driver the default lookup (libcuda.so.1) must fail the same way.
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        pass
    else:
        pytest.skip("this machine has libcuda.so.1; the GPU verification covers it")
    rc, report = run_script()
    assert rc == 2 and "libcuda.so.1" in report["error"]


def test_round_trip_passes_and_reports_latency(fake_libcuda):
    rc, report = run_script("--libcuda", str(fake_libcuda), "--elements", "1000", "--iterations", "200")
    assert rc == 0, report
    assert report["ok"] is True and report["driver_cuda_version"] == "13.0" and report["device_count"] == 1
    (dev,) = report["devices"]
    assert dev["pci_bus_id"] == "0000:00:06.0"
    assert dev["roundtrip"] == {"elements": 1000, "passed": True}
    lat = dev["latency_us"]
    assert lat["iterations"] == 200 and lat["bytes"] == 64
    assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"]


def test_a_kernel_that_does_not_run_is_caught(fake_libcuda):
    rc, report = run_script("--libcuda", str(fake_libcuda), "--elements", "513", "--iterations", "10",
                            env={"FAKE_CUDA_KERNEL": "noop"})
    assert rc == 1 and report["ok"] is False
    assert "round trip returned wrong data on GPU 0" in report["error"]
    assert "the kernel did not run" in report["error"]


def test_cuda_errors_are_named_with_a_hint(fake_libcuda):
    rc, report = run_script("--libcuda", str(fake_libcuda), env={"FAKE_CUDA_INIT_RC": "100"})
    assert rc == 1
    assert report["error"].startswith("cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA device is visible")


def test_unknown_error_codes_still_read_well(fake_libcuda):
    rc, report = run_script("--libcuda", str(fake_libcuda), env={"FAKE_CUDA_INIT_RC": "999"})
    assert rc == 1
    assert "cuInit failed: CUDA_ERROR_UNKNOWN_CODE (999): unknown error" in report["error"]


def test_bad_arguments_are_refused():
    res = subprocess.run([sys.executable, str(SCRIPT), "--iterations", "3"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 2 and "--iterations at least 10" in res.stderr


def test_percentile_and_expected_words():
    assert RT.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert RT.percentile(list(map(float, range(1, 101))), 99) == 99.0
    assert RT.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        RT.percentile([], 50)
    assert RT.expected_words([0xFFFFFFFF, 2], 3, 1) == [0xFFFFFFFE, 7]
