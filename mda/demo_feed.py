"""The demo's feed: a local TCP server that plays the built-in scenario at accelerated time.

The demo goes through the real pipeline, TCP feed included: this server speaks NMEA over
TCP like a receiver or an aggregator does, pacing the scenario's lines by their tag-block
times divided by the speed, and starting the next segment of the scenario when one ends,
so the demo stays alive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from mda.ingest.nmea import line_event_time

__all__ = ["ScenarioServer"]

log = logging.getLogger(__name__)


class ScenarioServer:
    """``async with ScenarioServer(segments, speed) as srv:`` serves on ``srv.uri``.

    ``segments(i)`` returns the lines of segment i (they carry tag-block times)."""

    def __init__(self, segments: Callable[[int], Iterable[str]], speed: float = 60.0):
        self.segments = segments
        self.speed = speed
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self._player: asyncio.Task | None = None
        self.lines_sent = 0
        self.port = 0

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ScenarioServer:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._player = asyncio.create_task(self._play(), name="demo-scenario")
        return self

    async def __aexit__(self, *exc) -> None:
        if self._player:
            self._player.cancel()
        if self._server:
            self._server.close()
        for w in list(self._clients):
            w.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            await reader.read()  # until the client goes away
        finally:
            self._clients.discard(writer)

    async def _play(self) -> None:
        i = 0
        while True:
            await self._play_segment(self.segments(i))
            i += 1

    async def _play_segment(self, lines: Iterable[str]) -> None:
        first_event: float | None = None
        wall0 = time.monotonic()
        chunk: list[str] = []
        for line in lines:
            ts = line_event_time(line)
            if ts is not None:
                if first_event is None:
                    first_event = ts
                due = wall0 + (ts - first_event) / self.speed
                delay = due - time.monotonic()
                if delay > 0.05:
                    await self._send(chunk)
                    chunk = []
                    await asyncio.sleep(delay)
            chunk.append(line)
            if len(chunk) >= 500:
                await self._send(chunk)
                chunk = []
        await self._send(chunk)

    async def _send(self, lines: list[str]) -> None:
        if not lines:
            return
        # Nobody listening yet: hold the scenario, lose nothing (a demo, polled gently).
        while not self._clients:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        data = ("\r\n".join(lines) + "\r\n").encode()
        for w in list(self._clients):
            try:
                w.write(data)
                await w.drain()
            except (ConnectionError, OSError):
                self._clients.discard(w)
        self.lines_sent += len(lines)
