"""GCP API emulator for nearzero's tests, benchmarks and lab (see README.md)."""

from .server import SERVICES, Emulator, EmulatorError

__all__ = ["SERVICES", "Emulator", "EmulatorError"]
