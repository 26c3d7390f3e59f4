"""A TCP proxy that adds latency to every byte, and can cut the link (a partition) and heal it.

It knows nothing of gRPC: each chunk read from one side is written to the other `delay` seconds
later, in order, so throughput is unchanged and only latency grows (a round trip by twice the
delay). `cut()` stops forwarding in both directions while the connections stay open, as a
network partition does (the peers' bytes wait, as TCP keeps retransmitting them); `heal()` lets
what waited through, as TCP delivers its retransmissions once the path is back.

Example:
    ```python
    async with DelayProxy(plugin_host_target, delay=0.2) as proxy:
        ...  # advertise proxy.target instead of the plugin host's own address
        proxy.cut(); ...; proxy.heal()
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

CHUNK = 65536


class DelayProxy:
    """Listens on a free port of `host` and forwards to `upstream` (`host:port`); see the module doc."""

    def __init__(self, upstream: str, delay: float = 0.0, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.delay = delay  # seconds added to each direction; may be changed while running
        self.host = host
        self.port = 0
        self.connections = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def target(self) -> str:
        """Where clients connect instead of the upstream."""
        return f"{self.host}:{self.port}"

    @property
    def is_cut(self) -> bool:
        return not self._open.is_set()

    def cut(self) -> None:
        """Forward nothing from now on, in either direction; the connections stay open."""
        self._open.clear()

    def heal(self) -> None:
        """Forward again, what waited first."""
        self._open.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            await self._open.wait()  # a connection made during a cut gets no answer until it heals
            host, port = self.upstream.rsplit(":", 1)
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            self._writers.add(upstream_writer)
            pumps = [asyncio.create_task(self._pump(reader, upstream_writer)),
                     asyncio.create_task(self._pump(upstream_reader, writer))]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except OSError:
            pass
        finally:
            for side in (writer, upstream_writer):
                if side is not None:
                    side.close()
                    self._writers.discard(side)
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read as fast as the peer sends; write each chunk once its delay is over and the link is up."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    writer.write_eof()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self._open.wait()
                writer.write(chunk)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(CHUNK)
                queue.put_nowait((time.monotonic() + self.delay, chunk))
                if not chunk:
                    break
            await delivering
        finally:
            delivering.cancel()
            await asyncio.gather(delivering, return_exceptions=True)

    async def __aenter__(self) -> DelayProxy:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()
