"""Emulator control endpoints under ``/_emulator/`` (no auth; the emulator only listens on 127.0.0.1)."""

from __future__ import annotations

from ..errors import ApiError
from ..server import Response


def register(router, emulator):
    """``GET /_emulator/stats``, ``POST /_emulator/reset``, ``POST|DELETE /_emulator/faults``, health."""

    def stats(call):
        return Response(body=call.emulator.stats())

    def reset(call):
        call.emulator.reset()
        return Response(body={"reset": True})

    def add_fault(call):
        try:
            spec = call.request.json()
            if not isinstance(spec, dict):
                raise TypeError("expected a JSON object")
            fault = call.emulator.faults.add(**spec)
        except (ValueError, TypeError) as exc:
            raise ApiError(
                400,
                f"Invalid fault: {exc}. Fields: path_regex, method, status, latency_ms, "
                "malformed, expire_token, times, nth, probability, seed.",
                "invalid",
            ) from None
        return Response(body=fault.describe())

    def clear_faults(call):
        call.emulator.faults.clear()
        return Response(body={"faults": []})

    def health(call):
        return Response(body={"status": "ok", "url": call.emulator.url})

    router.add("GET", r"/_emulator/stats", stats, kind="emulator.stats", auth=False, google=False)
    router.add("POST", r"/_emulator/reset", reset, kind="emulator.reset", auth=False, google=False)
    router.add("POST", r"/_emulator/faults", add_fault, kind="emulator.faults", auth=False, google=False)
    router.add("DELETE", r"/_emulator/faults", clear_faults, kind="emulator.faults", auth=False, google=False)
    router.add("GET", r"/_emulator/health", health, kind="emulator.health", auth=False, google=False)
