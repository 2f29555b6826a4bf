"""A TCP relay that adds a fixed round-trip time, so the lab can stand in for distant hosts.

The lab's hosts are containers on the controller's own bridge: a round trip costs microseconds,
while a real controller reaches GCE hosts over a region boundary or IAP TCP forwarding (tens of
milliseconds). Settings that save round trips (pipelining, ControlPersist) can only show their
worth with a realistic round-trip time, and this relay provides one without touching the
kernel (no netem, no qdisc): it runs in user space, on loopback ports of the controller.

Each direction is delayed by half the round-trip time. Bytes keep their order and are never
held back longer than the delay: a chunk read at time t is written at t + delay. Bandwidth is
not limited (SSH traffic in a no-op run is small).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader to writer, each chunk ``delay`` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()


class DelayProxy:
    """Relays 127.0.0.1:<port> to each target (host, port), adding ``rtt_ms`` per round trip.

    Runs its own event loop in a daemon thread; ``start()`` returns {target: local port}.
    """

    def __init__(self, targets: list[tuple[str, int]], rtt_ms: float) -> None:
        self.targets = targets
        self.delay = rtt_ms / 2000.0
        self.loop = asyncio.new_event_loop()
        self.ports: dict[tuple[str, int], int] = {}
        self._servers: list[asyncio.base_events.Server] = []

    async def _serve(self, target: tuple[str, int]) -> int:
        async def handle(client_reader, client_writer):
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*target)
            except OSError:
                client_writer.close()
                return
            try:
                await asyncio.gather(_pump(client_reader, upstream_writer, self.delay),
                                     _pump(upstream_reader, client_writer, self.delay))
            except asyncio.CancelledError:
                pass  # stop(): the relay is going away
            finally:
                for w in (client_writer, upstream_writer):
                    w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    def start(self) -> dict[tuple[str, int], int]:
        threading.Thread(target=self.loop.run_forever, daemon=True, name="delay-proxy").start()
        for target in self.targets:
            self.ports[target] = asyncio.run_coroutine_threadsafe(self._serve(target), self.loop).result(10)
        return self.ports

    def stop(self) -> None:
        """Close the listeners and every relayed connection, then end the loop."""

        async def close():
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
