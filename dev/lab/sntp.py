#!/usr/bin/env python3
"""A minimal SNTP server (RFC 4330) for the lab: the stand-in for the GCE metadata server's NTP.

On GCE, chrony's only source is the metadata server (169.254.169.254). The lab has no such
server, so ``labctl.py up`` runs this on each lab network's gateway address and the lab's
group_vars point chrony at the gateway. It answers client requests (mode 3) with this
machine's clock at stratum 2; it never sets any clock itself.

A test can make it serve a wrong time, so that chrony on the lab's hosts measures a real offset
from its reference (this machine's clock is never touched):

    sntp.py --bind GATEWAY --set-offset 0.25    # serve the time 250 ms ahead
    sntp.py --bind GATEWAY --set-offset 0       # serve the true time again

``--set-offset`` writes the offset into the server's control file (one number, seconds; by default
``<tmp>/nearzero-lab-sntp/<address>-<port>.offset``: only one process can serve an address and port,
so the file is that server's alone), then asks the server and prints the offset it measured in its
answer; it fails when the server does not serve the offset asked. The server reads the file when
it changes and forgets a file left from before it started.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
REFERENCE_ID = b"LAB\x00"
# The set offset must be served within this (the answer's own network and scheduling delay).
SERVED_TOLERANCE_S = 0.05


def ntp_timestamp(unix: float) -> int:
    """Return a 64-bit NTP timestamp (32.32 fixed point since 1900)."""
    secs = int(unix) + NTP_EPOCH_OFFSET
    frac = int((unix % 1) * (1 << 32))
    return (secs << 32) | frac


def unix_time(timestamp: int) -> float:
    """The Unix time of a 64-bit NTP timestamp."""
    return (timestamp >> 32) - NTP_EPOCH_OFFSET + (timestamp & 0xFFFFFFFF) / (1 << 32)


def reply(request: bytes, received: float, offset: float = 0.0) -> bytes | None:
    """Build the server reply to one client request, or None for anything that is not one.

    ``offset`` (seconds) is added to every time the reply carries: the client sees a server whose
    clock is that far ahead (behind, when negative) of this machine's.
    """
    if len(request) < 48:
        return None
    version = (request[0] >> 3) & 0x7
    mode = request[0] & 0x7
    if mode != 3 or version not in (3, 4):
        return None
    first = (0 << 6) | (version << 3) | 4  # leap indicator 0, same version, mode 4 (server)
    origin = request[40:48]  # the client's transmit timestamp, echoed
    header = struct.pack("!BBbb", first, 2, 4, -20)  # stratum 2, poll 2^4 s, precision ~1 us
    root = struct.pack("!II", 1 << 6, 1 << 6)  # root delay and dispersion, about 1 ms each
    ref = ntp_timestamp(received + offset - 1)
    body = struct.pack("!Q", ref) + origin + struct.pack(
        "!QQ", ntp_timestamp(received + offset), ntp_timestamp(time.time() + offset))
    return header + root + REFERENCE_ID + body


def default_control(bind: str, port: int) -> Path:
    """The control file of the server on ``bind:port``."""
    return Path(tempfile.gettempdir()) / "nearzero-lab-sntp" / f"{bind}-{port}.offset"


class Offset:
    """The offset the server adds, read from its control file whenever the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self.value = 0.0
        self._seen = None

    def current(self) -> float:
        try:
            stat = self.path.stat()
            seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            self._seen = seen
            try:
                self.value = float(self.path.read_text()) if seen else 0.0
            except (OSError, ValueError) as exc:
                print(f"sntp: ignoring {self.path} ({exc}); serving offset {self.value} s", file=sys.stderr, flush=True)
            else:
                print(f"sntp: serving offset {self.value} s", file=sys.stderr, flush=True)
        return self.value


def serve(bind: str, port: int, control: Path) -> None:
    """Serve forever on ``bind:port``, shifted by the offset in ``control``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    control.unlink(missing_ok=True)  # an offset left by an earlier server on this address is not ours
    offset = Offset(control)
    while True:
        data, peer = sock.recvfrom(512)
        answer = reply(data, time.time(), offset.current())
        if answer:
            sock.sendto(answer, peer)


def measure(server: str, port: int, timeout: float = 2.0) -> float:
    """The offset of ``server``'s clock from this machine's, from one request (NTP's on-wire formula)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        request = bytearray(48)
        request[0] = (4 << 3) | 3  # version 4, mode 3 (client)
        sent = time.time()
        request[40:48] = struct.pack("!Q", ntp_timestamp(sent))
        sock.sendto(bytes(request), (server, port))
        answer, _ = sock.recvfrom(512)
        back = time.time()
    received, transmitted = (unix_time(value) for value in struct.unpack("!QQ", answer[32:48]))
    return ((received - sent) + (transmitted - back)) / 2


def set_offset(bind: str, port: int, control: Path, offset: float) -> dict:
    """Have the server on ``bind:port`` serve ``offset``; return what it then serves, or raise SystemExit."""
    control.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = control.with_name(f"{control.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{offset!r}\n")
    os.replace(tmp, control)
    try:
        served = measure(bind, port)
    except OSError as exc:
        raise SystemExit(f"sntp: no answer from the time server on {bind}:{port}/udp ({exc}). "
                         "Fix: start the lab (labctl.py up), which runs it on each network's gateway.") from None
    if abs(served - offset) > SERVED_TOLERANCE_S:
        raise SystemExit(f"sntp: the server on {bind}:{port} serves an offset of {served:.6f} s, not {offset} s: "
                         f"it does not read {control}. Fix: pass the --control it was started with.")
    return {"server": f"{bind}:{port}", "offset_s": offset, "served_offset_s": round(served, 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=123)
    parser.add_argument("--control", type=Path,
                        help="the offset control file (default: <tmp>/nearzero-lab-sntp/<bind>-<port>.offset)")
    parser.add_argument("--set-offset", type=float, metavar="SECONDS",
                        help="do not serve: make the running server serve its time shifted by SECONDS (0: true time)")
    args = parser.parse_args()
    control = args.control or default_control(args.bind, args.port)
    if args.set_offset is not None:
        if not math.isfinite(args.set_offset):
            parser.error(f"--set-offset {args.set_offset}: give a number of seconds, e.g. 0.25")
        print(json.dumps(set_offset(args.bind, args.port, control, args.set_offset)))
        return
    serve(args.bind, args.port, control)


if __name__ == "__main__":
    main()
