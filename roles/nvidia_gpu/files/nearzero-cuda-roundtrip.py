"""A real CUDA round trip on every GPU, through the CUDA driver API; no toolkit or nvcc needed.

For each device: allocate device memory, copy random data in, run a hand-written PTX kernel
(``x = x * mul + add`` on 32-bit words, JIT-compiled by the driver), copy the result out and
compare it with the same computation done here. Then time host -> device -> host round trips
of a small buffer from pinned host memory (what a latency-sensitive engine would use) and report
p50/p99 in microseconds.

Prints one JSON document on stdout. Exit status: 0 passed, 1 a CUDA call failed or the result
was wrong, 2 the driver library (libcuda.so.1) could not be loaded. Shipped by the nearzero
nvidia_gpu role to /usr/local/libexec/nearzero/; Python standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import random
import sys
import time

# PTX ISA 7.0 (CUDA 11.0) for sm_70: the driver JIT-compiles it for whatever GPU it runs on
# (Volta through Blackwell). Kept in the file, not built, so the host needs no CUDA toolkit.
PTX = r"""
.version 7.0
.target sm_70
.address_size 64

.visible .entry nearzero_affine(
    .param .u64 nearzero_affine_buf,
    .param .u32 nearzero_affine_n,
    .param .u32 nearzero_affine_mul,
    .param .u32 nearzero_affine_add
)
{
    .reg .pred %p<2>;
    .reg .b32 %r<9>;
    .reg .b64 %rd<5>;

    ld.param.u64 %rd1, [nearzero_affine_buf];
    ld.param.u32 %r1, [nearzero_affine_n];
    ld.param.u32 %r2, [nearzero_affine_mul];
    ld.param.u32 %r3, [nearzero_affine_add];
    mov.u32 %r4, %ctaid.x;
    mov.u32 %r5, %ntid.x;
    mov.u32 %r6, %tid.x;
    mad.lo.s32 %r7, %r4, %r5, %r6;
    setp.ge.u32 %p1, %r7, %r1;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd2, %rd1;
    mul.wide.u32 %rd3, %r7, 4;
    add.s64 %rd4, %rd2, %rd3;
    ld.global.u32 %r8, [%rd4];
    mad.lo.s32 %r8, %r8, %r2, %r3;
    st.global.u32 [%rd4], %r8;
DONE:
    ret;
}
"""
KERNEL = b"nearzero_affine"
CU_JIT_ERROR_LOG_BUFFER = 5
CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
THREADS_PER_BLOCK = 256


class CudaError(Exception):
    """A CUDA driver call failed; the message names the call, the error and what to check."""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def expected_words(words: list[int], mul: int, add: int) -> list[int]:
    """What the kernel computes, on this side: 32-bit wrap-around multiply-add."""
    return [(w * mul + add) & 0xFFFFFFFF for w in words]


class Driver:
    """The few CUDA driver API entry points the round trip needs, with typed arguments."""

    def __init__(self, path: str) -> None:
        self.lib = ctypes.CDLL(path)
        u = ctypes.c_uint
        i = ctypes.c_int
        vp = ctypes.c_void_p
        u64 = ctypes.c_uint64
        sz = ctypes.c_size_t
        self._sig("cuInit", [u])
        self._sig("cuDriverGetVersion", [ctypes.POINTER(i)])
        self._sig("cuDeviceGetCount", [ctypes.POINTER(i)])
        self._sig("cuDeviceGet", [ctypes.POINTER(i), i])
        self._sig("cuDeviceGetName", [ctypes.c_char_p, i, i])
        self._sig("cuDeviceGetPCIBusId", [ctypes.c_char_p, i, i])
        self._sig("cuDevicePrimaryCtxRetain", [ctypes.POINTER(vp), i])
        self._sig("cuDevicePrimaryCtxRelease", [i])
        self._sig("cuCtxSetCurrent", [vp])
        self._sig("cuCtxSynchronize", [])
        self._sig("cuModuleLoadDataEx", [ctypes.POINTER(vp), ctypes.c_char_p, u,
                                         ctypes.POINTER(i), ctypes.POINTER(vp)])
        self._sig("cuModuleGetFunction", [ctypes.POINTER(vp), vp, ctypes.c_char_p])
        self._sig("cuModuleUnload", [vp])
        self._sig("cuMemAlloc_v2", [ctypes.POINTER(u64), sz])
        self._sig("cuMemFree_v2", [u64])
        self._sig("cuMemAllocHost_v2", [ctypes.POINTER(vp), sz])
        self._sig("cuMemFreeHost", [vp])
        self._sig("cuMemcpyHtoD_v2", [u64, vp, sz])
        self._sig("cuMemcpyDtoH_v2", [vp, u64, sz])
        self._sig("cuLaunchKernel", [vp, u, u, u, u, u, u, u, vp, ctypes.POINTER(vp), ctypes.POINTER(vp)])
        self.lib.cuGetErrorName.argtypes = [i, ctypes.POINTER(ctypes.c_char_p)]
        self.lib.cuGetErrorName.restype = i

    def _sig(self, name: str, argtypes: list) -> None:
        fn = getattr(self.lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int

    def error_name(self, code: int) -> str:
        name = ctypes.c_char_p()
        if self.lib.cuGetErrorName(code, ctypes.byref(name)) == 0 and name.value:
            return name.value.decode()
        return "CUDA_ERROR_UNKNOWN_CODE"

    def call(self, name: str, *args) -> None:
        rc = getattr(self.lib, name)(*args)
        if rc != 0:
            raise CudaError(f"{name} failed: {self.error_name(rc)} ({rc}){hint(rc)}")


def hint(rc: int) -> str:
    """What an operator should check for the errors a fresh GPU host shows."""
    hints = {
        100: ": no CUDA device is visible (driver loaded? MIG enabled without instances? CUDA_VISIBLE_DEVICES?)",
        101: ": invalid device ordinal",
        3: ": the driver was not initialised",
        35: ": the driver is older than this CUDA user-space library",
        222: ": the driver's PTX JIT does not support this PTX version (driver too old)",
        218: ": the PTX could not be compiled for this GPU",
        802: ": the system is not yet initialised; on NVSwitch machines start nvidia-fabricmanager",
        999: ": unknown error; check `dmesg | grep -i -e NVRM -e Xid`",
    }
    return hints.get(rc, "")


def run_device(drv: Driver, index: int, elements: int, iterations: int, size: int) -> dict:
    dev = ctypes.c_int()
    drv.call("cuDeviceGet", ctypes.byref(dev), index)
    name = ctypes.create_string_buffer(256)
    drv.call("cuDeviceGetName", name, 256, dev)
    bus = ctypes.create_string_buffer(32)
    drv.call("cuDeviceGetPCIBusId", bus, 32, dev)
    result = {"index": index, "name": name.value.decode(errors="replace"),
              "pci_bus_id": bus.value.decode(errors="replace").lower()}
    ctx = ctypes.c_void_p()
    drv.call("cuDevicePrimaryCtxRetain", ctypes.byref(ctx), dev)
    module = ctypes.c_void_p()
    dptr = ctypes.c_uint64()
    host = ctypes.c_void_p()
    try:
        drv.call("cuCtxSetCurrent", ctx)
        log = ctypes.create_string_buffer(4096)
        opts = (ctypes.c_int * 2)(CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
        vals = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p), ctypes.c_void_p(ctypes.sizeof(log)))
        try:
            drv.call("cuModuleLoadDataEx", ctypes.byref(module), PTX.encode() + b"\0", 2, opts, vals)
        except CudaError as exc:
            raise CudaError(f"{exc}; JIT log: {log.value.decode(errors='replace').strip()}") from None
        func = ctypes.c_void_p()
        drv.call("cuModuleGetFunction", ctypes.byref(func), module, KERNEL)

        # Round trip: random words in, kernel, words out, compared with the host's own result.
        rng = random.SystemRandom()
        words = [rng.getrandbits(32) for _i in range(elements)]
        mul, add = rng.getrandbits(32) | 1, rng.getrandbits(32)
        nbytes = 4 * elements
        data = (ctypes.c_uint32 * elements)(*words)
        drv.call("cuMemAlloc_v2", ctypes.byref(dptr), nbytes)
        drv.call("cuMemcpyHtoD_v2", dptr, ctypes.cast(data, ctypes.c_void_p), nbytes)
        arg_buf, arg_n = ctypes.c_uint64(dptr.value), ctypes.c_uint32(elements)
        arg_mul, arg_add = ctypes.c_uint32(mul), ctypes.c_uint32(add)
        params = (ctypes.c_void_p * 4)(*(ctypes.cast(ctypes.byref(a), ctypes.c_void_p)
                                         for a in (arg_buf, arg_n, arg_mul, arg_add)))
        blocks = (elements + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        drv.call("cuLaunchKernel", func, blocks, 1, 1, THREADS_PER_BLOCK, 1, 1, 0, None, params, None)
        drv.call("cuCtxSynchronize")
        out = (ctypes.c_uint32 * elements)()
        drv.call("cuMemcpyDtoH_v2", ctypes.cast(out, ctypes.c_void_p), dptr, nbytes)
        want = expected_words(words, mul, add)
        wrong = [i for i in range(elements) if out[i] != want[i]]
        if wrong:
            first = wrong[0]
            raise CudaError(f"round trip returned wrong data on GPU {index}: {len(wrong)} of {elements} words differ "
                            f"(first at {first}: got {out[first]:#010x}, expected {want[first]:#010x}); "
                            "the kernel did not run or memory is corrupt")
        result["roundtrip"] = {"elements": elements, "passed": True}

        # Latency: host -> device -> host copies of a small buffer from pinned host memory.
        drv.call("cuMemAllocHost_v2", ctypes.byref(host), size)
        ctypes.memset(host, 0x5A, size)
        samples = []
        for n in range(iterations + iterations // 10):
            start = time.perf_counter_ns()
            drv.call("cuMemcpyHtoD_v2", dptr, host, size)
            drv.call("cuMemcpyDtoH_v2", host, dptr, size)
            if n >= iterations // 10:  # the first tenth warms up caches and clocks
                samples.append((time.perf_counter_ns() - start) / 1000.0)
        result["latency_us"] = {
            "bytes": size, "iterations": len(samples), "p50": round(percentile(samples, 50), 2),
            "p99": round(percentile(samples, 99), 2), "min": round(min(samples), 2), "max": round(max(samples), 2),
        }
        return result
    finally:
        if host.value is not None:  # a null c_void_p reads as None
            drv.lib.cuMemFreeHost(host)
        if dptr.value:
            drv.lib.cuMemFree_v2(dptr)
        if module.value is not None:
            drv.lib.cuModuleUnload(module)
        drv.lib.cuDevicePrimaryCtxRelease(dev)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libcuda", default="libcuda.so.1",
                        help="driver library to load (default: libcuda.so.1 from the loader path)")
    parser.add_argument("--elements", type=int, default=1 << 20, help="32-bit words in the round trip")
    parser.add_argument("--iterations", type=int, default=2000, help="timed host-device-host round trips")
    parser.add_argument("--bytes", type=int, default=64, dest="size", help="size of the timed buffer")
    args = parser.parse_args(argv)
    if args.elements < 1 or args.iterations < 10 or args.size < 1:
        parser.error("--elements and --bytes must be positive and --iterations at least 10")
    report: dict = {"ok": False, "libcuda": args.libcuda, "devices": []}
    try:
        drv = Driver(args.libcuda)
    except (OSError, AttributeError) as exc:
        report["error"] = (f"cannot load the CUDA driver library {args.libcuda}: {exc}. The NVIDIA driver's "
                           "user-space part (libcuda1 / libnvidia-compute) is not installed, or not for this "
                           "architecture. Fix: run the nvidia_gpu role without nvidia_gpu_verify_only.")
        print(json.dumps(report))
        return 2
    try:
        drv.call("cuInit", 0)
        version = ctypes.c_int()
        drv.call("cuDriverGetVersion", ctypes.byref(version))
        report["driver_cuda_version"] = f"{version.value // 1000}.{version.value % 1000 // 10}"
        count = ctypes.c_int()
        drv.call("cuDeviceGetCount", ctypes.byref(count))
        report["device_count"] = count.value
        if count.value == 0:
            raise CudaError("cuDeviceGetCount found no device")
        for index in range(count.value):
            report["devices"].append(run_device(drv, index, args.elements, args.iterations, args.size))
    except CudaError as exc:
        report["error"] = str(exc)
        print(json.dumps(report))
        return 1
    report["ok"] = True
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
