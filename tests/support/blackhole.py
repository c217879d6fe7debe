"""A TCP forwarder that can turn into a black hole: a server or proxy that accepts and never answers."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class BlackHole:
    """Forwards every connection to `target_port` on loopback, in a thread and event loop of its own
    (so a test's own loop, or a child process, can be its client); once `swallow` is set, it keeps
    every connection open and passes nothing on, either way."""

    def __init__(self, target_port: int) -> None:
        self.swallow = threading.Event()
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self.port = 0

        async def serve() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            async with server:
                with contextlib.suppress(asyncio.CancelledError):  # close()
                    await server.serve_forever()

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(serve(),), daemon=True)
        self._thread.start()
        assert started.wait(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if not self.swallow.is_set():
                    writer.write(data)
                    await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target)
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    def close(self) -> None:
        """Stops listening and drops every connection."""
        for task in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(10)
