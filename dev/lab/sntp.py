#!/usr/bin/env python3
"""A minimal SNTP server (RFC 4330) for the lab: the stand-in for the GCE metadata server's NTP.

On GCE, chrony's only source is the metadata server (169.254.169.254). The lab has no such
server, so ``labctl.py up`` runs this on each lab network's gateway address and the lab's
group_vars point chrony at the gateway. It answers client requests (mode 3) with this
machine's clock at stratum 2; it never sets any clock itself.
"""

from __future__ import annotations

import argparse
import socket
import struct
import time

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
REFERENCE_ID = b"LAB\x00"


def ntp_timestamp(unix: float) -> int:
    """Return a 64-bit NTP timestamp (32.32 fixed point since 1900)."""
    secs = int(unix) + NTP_EPOCH_OFFSET
    frac = int((unix % 1) * (1 << 32))
    return (secs << 32) | frac


def reply(request: bytes, received: float) -> bytes | None:
    """Build the server reply to one client request, or None for anything that is not one."""
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
    ref = ntp_timestamp(received - 1)
    body = struct.pack("!Q", ref) + origin + struct.pack("!QQ", ntp_timestamp(received), ntp_timestamp(time.time()))
    return header + root + REFERENCE_ID + body


def serve(bind: str, port: int) -> None:
    """Serve forever on ``bind:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    while True:
        data, peer = sock.recvfrom(512)
        answer = reply(data, time.time())
        if answer:
            sock.sendto(answer, peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=123)
    args = parser.parse_args()
    serve(args.bind, args.port)


if __name__ == "__main__":
    main()
