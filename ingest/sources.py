"""AIS feeds as async iterators of line batches, each stamped with its receive time.

    async with open_source("tcp://10.0.0.5:5631", name="north") as src:
        async for batch in src:          # LineBatch(source, lines, recv_ts)
            decoder.feed(batch.lines, batch.recv_ts, batch.source)

URIs:

- ``file:PATH``, ``file:///abs/path`` or a plain path, plain text or gzip (told by its
  magic bytes). As fast as possible in batches of ``batch_lines``, or with ``speed=N``
  at N times real time, paced by the times the lines state (tag block ``c:``, USCG
  epoch, ``$PGHP``). Ends at the end of the file.
- ``-``: standard input. Ends at end of input.
- ``tcp://host:port``: a client of a receiver or aggregator serving NMEA over TCP.
  Reconnects with exponential backoff and jitter; runs until cancelled.
- ``udp://:port`` or ``udp://host:port``: binds and receives datagrams (AIS-catcher and
  most receivers push UDP); a datagram may hold several lines. Runs until cancelled.
- ``mqtt://[user:password@]host[:port]/topic/#`` (``mqtts://`` for TLS): subscribes with
  aiomqtt; a payload holds one or more lines. Reconnects with backoff; runs until
  cancelled.
- ``gpsd://host[:2947]``: a TCP client of gpsd that asks for AIS as JSON (``?WATCH``)
  after each connect; the ``gpsd`` format.
- ``http:``: lines that receivers push to ``POST /api/ingest`` (``PushSource``); runs
  until cancelled.

What the lines are is the source's ``reader`` (``ingest.formats``): NMEA by default, or
AIS-catcher's JSON, gpsd's JSON, decoded positions as JSON, CSV rows (``format=``).

Every network source logs when it has been quiet for ``quiet_after`` seconds (and
again while it stays quiet); a TCP connection quiet for five times that is presumed
dead and reconnected. Bytes are decoded as Latin-1, which cannot fail: a line of junk
reaches the decoder and is counted there, it never stops a feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
import os
import socket
import ssl
import sys
import threading
import time
import zipfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mda.ingest.backoff import Backoff
from mda.ingest.errors import SourceError
from mda.ingest.formats import JsonReader, Reader, make_reader
from mda.ingest.nmea import line_event_time

__all__ = ["LineBatch", "PushSource", "Source", "open_source", "format_for_path"]

log = logging.getLogger(__name__)

# Bytes per file read: about one batch of lines. Small enough that a truncated .gz
# still yields everything before the cut (GzipFile raises on the read that hits it).
READ_SIZE = 1 << 16
# A peer that never sends a newline must not make us buffer without end: past this
# many bytes the partial line is handed on as it is (and rejected as too long).
MAX_PARTIAL_LINE = 1 << 16
# Replays at speed N skip gaps in event time longer than this instead of sleeping
# through them (a satellite feed can jump by hours; a replay should not).
MAX_REPLAY_GAP = 600.0
# What a network feed that cannot push back (UDP, MQTT) holds for a pipeline that has
# fallen behind; past this the newest are dropped and counted in ``Source.dropped``.
UDP_QUEUE_DATAGRAMS = 10_000
MQTT_QUEUE_MESSAGES = 100_000
# Drops are logged at the first one, then at most this often while they go on.
DROP_LOG_INTERVAL = 10.0


@dataclass(slots=True)
class LineBatch:
    """Lines one feed delivered at one moment (``recv_ts``, UTC epoch seconds)."""

    source: str
    lines: list[str]
    recv_ts: float


class LineSplitter:
    """Bytes chunks in, complete lines out; the unfinished tail waits for the next chunk."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[str]:
        parts = (self._tail + chunk).split(b"\n") if self._tail else chunk.split(b"\n")
        tail = parts.pop()
        if len(tail) > MAX_PARTIAL_LINE:
            parts.append(tail)
            tail = b""
        self._tail = tail
        return [p.decode("latin-1") for p in parts]

    def flush(self) -> list[str]:
        """What is left when the stream ends: a last line without newline, if any."""
        tail, self._tail = self._tail, b""
        return [tail.decode("latin-1")] if tail.strip() else []


def _datagram_lines(data: bytes) -> list[str]:
    # A datagram (or MQTT payload) is self-contained: the text after the last newline
    # is a line too, and a trailing newline does not make an empty line.
    parts = data.split(b"\n")
    if parts and not parts[-1].strip():
        parts.pop()
    return [p.decode("latin-1") for p in parts]


def _zip_member(raw: BinaryIO, path: Path) -> BinaryIO:
    """The one data file inside a .zip (national archives ship one CSV per zip), read
    as a stream: constant memory whatever its size."""
    try:
        archive = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"cannot open {path}: {exc}") from None
    members = [
        i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")
    ]
    if not members:
        raise SourceError(f"{path}: the zip file holds no file")
    if len(members) > 1:
        names = ", ".join(i.filename for i in members[:5])
        raise SourceError(
            f"{path}: the zip file holds {len(members)} files ({names}); unzip it and give them one by one"
        )
    return io.BufferedReader(archive.open(members[0]), READ_SIZE)  # type: ignore[arg-type]


def _no_peek(n: int) -> bytes:
    return b""


def _sniff_json(first: str) -> str:
    """Which JSON a file holds, from its first object: AIS-catcher's (an nmea array),
    gpsd's (class AIS), or decoded positions."""
    if '"nmea"' in first or '"msgs"' in first:
        return "aiscatcher"
    if '"class":"AIS"' in first.replace(" ", ""):
        return "gpsd"
    return "json"


def format_for_path(path: str) -> str | None:
    """The format a file's name says: ``.csv`` (also ``.csv.gz``, ``.zip``) is csv,
    ``.json``/``.jsonl``/``.ndjson`` (also ``.gz``) a JSON format told by its first line
    (``"json?"``); anything else None (NMEA)."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".csv", ".zip")):
        return "csv"
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return "json?"
    return None


class Source(ABC):
    """A feed: ``async with src: async for batch in src: ...``.

    The context manager owns the resources (file, socket, broker connection); leaving
    it closes them, also when iteration stopped early.

    ``dropped`` counts what the feed received but threw away because the pipeline fell
    behind (UDP datagrams, MQTT messages); it stays 0 for feeds that can push back.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.dropped = 0
        # What the lines are (``ingest.formats``): None for NMEA; give it to the decoder.
        self.reader: Reader | None = None
        self._iterator: AsyncIterator[LineBatch] | None = None
        self._drop_what = "messages"
        self._drops_logged = 0
        self._drop_logged_at: float | None = None

    def _drop(self) -> None:
        """Count one item thrown away; log at the first, then at most every
        ``DROP_LOG_INTERVAL`` seconds while drops go on."""
        self.dropped += 1
        now = time.monotonic()
        if self._drop_logged_at is None or now - self._drop_logged_at >= DROP_LOG_INTERVAL:
            self._log_drops()
            self._drop_logged_at = now

    def _log_drops(self) -> None:
        new = self.dropped - self._drops_logged
        if new:
            log.warning(
                "feed %s: pipeline behind, dropped %d %s (%d in all)",
                self.name,
                new,
                self._drop_what,
                self.dropped,
            )
            self._drops_logged = self.dropped

    async def __aenter__(self) -> Source:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._iterator is not None:
            with contextlib.suppress(Exception):
                await self._iterator.aclose()  # type: ignore[attr-defined]
            self._iterator = None
        await self._close()
        self._log_drops()  # those since the last report

    def __aiter__(self) -> AsyncIterator[LineBatch]:
        if self._iterator is None:
            self._iterator = self._batches()
        return self._iterator

    @property
    def progress(self) -> tuple[int, int] | None:
        """(bytes read, bytes in all) for a file, for a progress bar; None for streams."""
        return None

    async def _open(self) -> None:  # noqa: B027 (a hook: most sources need nothing)
        """Acquire what must exist before iterating (a file, a bound socket)."""

    async def _close(self) -> None:  # noqa: B027 (a hook: most sources need nothing)
        """Release what ``_open`` acquired."""

    @abstractmethod
    def _batches(self) -> AsyncIterator[LineBatch]:
        """The batches, as an async generator."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# --------------------------------------------------------------------------- finite sources


class FileSource(Source):
    """A recorded feed: plain or gzip, as fast as possible or paced at ``speed`` x."""

    def __init__(
        self, path: Path, name: str, *, speed: float | None = None, batch_lines: int = 1000
    ) -> None:
        super().__init__(name)
        self.path = path
        self.speed = speed
        self.batch_lines = batch_lines
        self._file: BinaryIO | None = None
        self._raw: BinaryIO | None = None
        self._size = 0
        self.sniff_json = False  # a .json/.jsonl file of no stated format: look at its first line

    @property
    def progress(self) -> tuple[int, int] | None:
        # Position in the file on disk (compressed bytes for .gz): what a bar can show.
        if self._raw is None or self._raw.closed:
            return (self._size, self._size) if self._size else None
        return self._raw.tell(), self._size

    async def _open(self) -> None:
        try:
            raw = open(self.path, "rb")  # noqa: ASYNC230 (a local file opens at once)
            self._size = os.fstat(raw.fileno()).st_size
        except OSError as exc:
            raise SourceError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        self._raw = raw
        magic = raw.read(4)
        raw.seek(0)
        if magic[:2] == b"\x1f\x8b":
            self._file = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
        elif magic == b"PK\x03\x04":
            self._file = _zip_member(raw, self.path)  # type: ignore[assignment]
        else:
            self._file = raw
        await self._first_line()

    async def _first_line(self) -> None:
        """A CSV file's header is checked before any row is read (an unknown layout is one
        error naming its columns); a JSON file without a format says which JSON it is."""
        reader = self.reader
        if self.sniff_json or (reader is not None and reader.format == "csv"):
            assert self._file is not None
            head = await asyncio.to_thread(
                self._file.peek if hasattr(self._file, "peek") else _no_peek, READ_SIZE
            )
            first = next((ln for ln in head.split(b"\n") if ln.strip()), b"").decode("latin-1")
            if self.sniff_json:
                self.reader = reader = make_reader(_sniff_json(first))
            if reader is not None and reader.format == "csv":
                try:
                    reader.set_header(first)  # type: ignore[attr-defined]
                except SourceError as exc:
                    raise SourceError(f"{self.path}: {exc}") from None

    async def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._raw is not None:
            self._raw.close()

    async def _blocks(self) -> AsyncIterator[list[str]]:
        assert self._file is not None, "use 'async with' to open the source"
        splitter = LineSplitter()
        while True:
            try:
                # In a thread: decompression and slow disks must not stall the loop.
                chunk = await asyncio.to_thread(self._file.read, READ_SIZE)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                # A truncated .gz (a recording cut off mid-write) ends the feed with
                # what could be read, rather than raising into the pipeline.
                log.warning("feed %s: read stopped: %s", self.name, exc)
                chunk = b""
            if not chunk:
                rest = splitter.flush()
                if rest:
                    yield rest
                return
            yield splitter.feed(chunk)

    async def _batches(self) -> AsyncIterator[LineBatch]:
        if self.speed:
            async for batch in self._paced():
                yield batch
            return
        step = self.batch_lines
        async for lines in self._blocks():
            recv_ts = time.time()
            for i in range(0, len(lines), step):
                yield LineBatch(self.name, lines[i : i + step], recv_ts)

    async def _paced(self) -> AsyncIterator[LineBatch]:
        speed = float(self.speed or 1.0)
        first_event: float | None = None
        first_wall = 0.0
        pending: list[str] = []
        for_timing = False
        async for lines in self._blocks():
            for line in lines:
                event = line_event_time(line)
                if event is not None:
                    for_timing = True
                    now = time.monotonic()
                    if first_event is None:
                        first_event, first_wall = event, now
                    due = first_wall + (event - first_event) / speed
                    delay = due - now
                    if delay * speed > MAX_REPLAY_GAP:
                        first_event, first_wall, delay = event, now, 0.0
                    if delay > 0.002:
                        if pending:
                            yield LineBatch(self.name, pending, time.time())
                            pending = []
                        await asyncio.sleep(delay)
                pending.append(line)
                if len(pending) >= self.batch_lines:
                    yield LineBatch(self.name, pending, time.time())
                    pending = []
        if pending:
            yield LineBatch(self.name, pending, time.time())
        if not for_timing:
            log.info("feed %s: no line states its time; replayed as fast as possible", self.name)


class StdinSource(Source):
    """Standard input (or any binary stream), read by a daemon thread.

    A thread rather than the loop's executor: a read blocked on a terminal must not
    hold up interpreter exit after the pipeline was cancelled.
    """

    def __init__(
        self, name: str, *, stream: BinaryIO | None = None, batch_lines: int = 1000
    ) -> None:
        super().__init__(name)
        self._stream = stream
        self.batch_lines = batch_lines

    def _reader(
        self, stream: BinaryIO, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]
    ) -> None:
        read = getattr(stream, "read1", stream.read)
        try:
            while True:
                chunk = read(65536)
                asyncio.run_coroutine_threadsafe(queue.put(chunk or None), loop).result()
                if not chunk:
                    return
        except Exception as exc:
            log.debug("feed %s: stdin reader stopped: %s", self.name, exc)
            with contextlib.suppress(Exception):
                loop.call_soon_threadsafe(queue.put_nowait, None)

    async def _batches(self) -> AsyncIterator[LineBatch]:
        stream = self._stream if self._stream is not None else sys.stdin.buffer
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)
        threading.Thread(
            target=self._reader,
            args=(stream, asyncio.get_running_loop(), queue),
            name=f"ingest-stdin-{self.name}",
            daemon=True,
        ).start()
        splitter = LineSplitter()
        step = self.batch_lines
        while True:
            chunk = await queue.get()
            lines = splitter.feed(chunk) if chunk is not None else splitter.flush()
            recv_ts = time.time()
            for i in range(0, len(lines), step):
                yield LineBatch(self.name, lines[i : i + step], recv_ts)
            if chunk is None:
                return


# --------------------------------------------------------------------------- network sources


class _QuietWatch:
    """Logs a feed that has gone quiet; optionally acts when it stays quiet too long.

    Runs as a named task beside the receive loop, so the receive loop never has to
    time out a read (cancelling a read can lose a message that just arrived).
    """

    def __init__(
        self,
        name: str,
        quiet_after: float,
        on_stall: Callable[[], None] | None = None,
        stall_after: float | None = None,
    ) -> None:
        self.name = name
        self.quiet_after = quiet_after
        self.on_stall = on_stall
        self.stall_after = stall_after
        self.last_data = time.monotonic()
        self._warned = 0
        self._task: asyncio.Task[None] | None = None

    def data(self) -> None:
        self.last_data = time.monotonic()
        if self._warned:
            log.info("feed %s: data again after a quiet spell", self.name)
            self._warned = 0

    async def __aenter__(self) -> _QuietWatch:
        self.last_data = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"ingest-quiet-watch-{self.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            # Not ``await self._task`` under suppress(CancelledError): that would also
            # swallow a cancellation of the feed itself arriving meanwhile (a stop).
            await asyncio.wait([self._task])

    async def _run(self) -> None:
        step = min(1.0, self.quiet_after / 4)
        while True:
            await asyncio.sleep(step)
            quiet = time.monotonic() - self.last_data
            if quiet >= self.quiet_after * (self._warned + 1):
                self._warned += 1
                log.warning("feed %s: quiet for %.0f s", self.name, quiet)
            if (
                self.on_stall is not None
                and self.stall_after is not None
                and quiet >= self.stall_after
            ):
                log.warning("feed %s: quiet for %.0f s, reconnecting", self.name, quiet)
                self.last_data = time.monotonic()
                self.on_stall()


class TcpSource(Source):
    """A TCP client that reconnects with backoff until cancelled."""

    def __init__(
        self,
        host: str,
        port: int,
        name: str,
        *,
        quiet_after: float = 60.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        connect_timeout: float = 10.0,
        hello: bytes | None = None,
    ) -> None:
        super().__init__(name)
        self.host = host
        self.port = port
        self.quiet_after = quiet_after
        self.backoff = Backoff(reconnect_min, reconnect_max)
        self.connect_timeout = connect_timeout
        self.hello = hello  # sent after each connect (gpsd's ?WATCH)
        self.connections = 0  # successful connects, for tests and metrics

    async def _batches(self) -> AsyncIterator[LineBatch]:
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.connect_timeout
                )
            except (TimeoutError, OSError) as exc:
                delay = self.backoff.next_delay()
                log.warning(
                    "feed %s: cannot connect to %s:%s (%s); retry in %.1f s",
                    self.name,
                    self.host,
                    self.port,
                    exc or "timeout",
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.connections += 1
            log.info("feed %s: connected to %s:%s", self.name, self.host, self.port)
            if self.hello:
                writer.write(self.hello)
            splitter = LineSplitter()
            watch = _QuietWatch(
                self.name,
                self.quiet_after,
                on_stall=writer.transport.abort,
                stall_after=5 * self.quiet_after,
            )
            try:
                async with watch:
                    while True:
                        try:
                            chunk = await reader.read(65536)
                        except OSError as exc:
                            log.warning("feed %s: connection lost: %s", self.name, exc)
                            chunk = b""
                        if not chunk:
                            break
                        watch.data()
                        lines = splitter.feed(chunk)
                        if lines:
                            self.backoff.reset()
                            yield LineBatch(self.name, lines, time.time())
                # A line cut off by the disconnect still reaches the decoder (to be
                # counted there), rather than vanishing.
                rest = splitter.flush()
                if rest:
                    yield LineBatch(self.name, rest, time.time())
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            delay = self.backoff.next_delay()
            log.warning(
                "feed %s: disconnected from %s:%s; reconnect in %.1f s",
                self.name,
                self.host,
                self.port,
                delay,
            )
            await asyncio.sleep(delay)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, source: UdpSource) -> None:
        self.source = source

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            self.source._queue.put_nowait((time.time(), data))
        except asyncio.QueueFull:
            self.source._drop()

    def error_received(self, exc: Exception) -> None:
        log.warning("feed %s: %s", self.source.name, exc)


class UdpSource(Source):
    """Binds ``host:port`` and turns datagrams into batches until cancelled.

    UDP cannot push back: when the pipeline falls behind by more than ``max_queued``
    datagrams the newest are dropped, counted in ``dropped`` and logged.
    """

    def __init__(
        self,
        host: str,
        port: int,
        name: str,
        *,
        quiet_after: float = 60.0,
        batch_lines: int = 1000,
        max_queued: int = UDP_QUEUE_DATAGRAMS,
    ) -> None:
        super().__init__(name)
        self.host = host
        self.port = port
        self.quiet_after = quiet_after
        self.batch_lines = batch_lines
        self._drop_what = "datagrams"
        self._queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(max_queued)
        self._transport: asyncio.DatagramTransport | None = None
        self._watch: _QuietWatch | None = None

    @property
    def local_address(self) -> tuple[str, int]:
        """(host, port) actually bound; useful with port 0."""
        assert self._transport is not None, "use 'async with' to bind the socket"
        return self._transport.get_extra_info("sockname")[:2]

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, self.port)
            )
        except OSError as exc:
            raise SourceError(
                f"cannot bind udp://{self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        # The kernel's default receive buffer (about 200 kB) overflows in a burst before the
        # loop gets to read it, and those losses are invisible to us: ask for 8 MB (the
        # kernel caps it at net.core.rmem_max).
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
            except OSError:
                pass
        self._watch = _QuietWatch(self.name, self.quiet_after)
        await self._watch.__aenter__()

    async def _close(self) -> None:
        if self._watch is not None:
            await self._watch.__aexit__(None, None, None)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def _batches(self) -> AsyncIterator[LineBatch]:
        queue = self._queue
        while True:
            recv_ts, data = await queue.get()
            if self._watch is not None:
                self._watch.data()
            lines = _datagram_lines(data)
            # Drain what is already waiting into the same batch: fewer, larger batches.
            while not queue.empty() and len(lines) < self.batch_lines:
                lines.extend(_datagram_lines(queue.get_nowait()[1]))
            if lines:
                yield LineBatch(self.name, lines, recv_ts)


def _dropping_queue(on_drop: Callable[[], None]) -> type[asyncio.Queue]:
    """A queue class for aiomqtt's ``queue_type``: when full, ``put_nowait`` calls
    ``on_drop`` and discards the item (instead of raising, which aiomqtt would log once
    for every message)."""

    class DroppingQueue(asyncio.Queue):
        def put_nowait(self, item: object) -> None:
            if self.full():
                on_drop()
                return
            super().put_nowait(item)

    return DroppingQueue


class MqttSource(Source):
    """Subscribes to a topic filter with aiomqtt and reconnects with backoff.

    A subscription cannot push back (messages are acknowledged on receipt): when the pipeline falls behind by more than
    ``max_queued`` messages the newest are dropped, counted in ``dropped`` and logged.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topic: str,
        name: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        quiet_after: float = 60.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        batch_lines: int = 1000,
        max_queued: int = MQTT_QUEUE_MESSAGES,
    ) -> None:
        super().__init__(name)
        self.max_queued = max_queued
        self.host = host
        self.port = port
        self.topic = topic
        self.username = username
        self.password = password
        self.tls = tls
        self.quiet_after = quiet_after
        self.backoff = Backoff(reconnect_min, reconnect_max)
        self.batch_lines = batch_lines
        self.connections = 0
        self.subscribed = asyncio.Event()  # set while subscribed; lets tests publish after

    async def _batches(self) -> AsyncIterator[LineBatch]:
        import aiomqtt  # only this source needs it

        while True:
            try:
                async with (
                    aiomqtt.Client(
                        self.host,
                        self.port,
                        username=self.username,
                        password=self.password,
                        tls_context=ssl.create_default_context() if self.tls else None,
                        # Bounded, so a stalled pipeline cannot eat memory; what does not
                        # fit is counted in ``dropped`` and logged (rate-limited).
                        max_queued_incoming_messages=self.max_queued,
                        queue_type=_dropping_queue(self._drop),
                    ) as client,
                    _QuietWatch(self.name, self.quiet_after) as watch,
                ):
                    await client.subscribe(self.topic)
                    self.connections += 1
                    self.backoff.reset()
                    self.subscribed.set()
                    log.info(
                        "feed %s: subscribed to %s on %s:%s",
                        self.name,
                        self.topic,
                        self.host,
                        self.port,
                    )
                    messages = client.messages
                    lines_of = self._lines
                    async for message in messages:
                        watch.data()
                        recv_ts = time.time()
                        lines = lines_of(message)
                        while len(messages) and len(lines) < self.batch_lines:
                            lines.extend(lines_of(await anext(messages)))
                        if lines:
                            yield LineBatch(self.name, lines, recv_ts)
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                delay = self.backoff.next_delay()
                log.warning(
                    "feed %s: broker %s:%s: %s; reconnect in %.1f s",
                    self.name,
                    self.host,
                    self.port,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    def _lines(self, message) -> list[str]:
        lines = _payload_lines(message.payload)
        if isinstance(self.reader, JsonReader):
            # Decoded JSON: the topic goes with each object (``TOPIC {...}``), for a
            # mapping that reads a field from it (Digitraffic: vessels-v2/<mmsi>/location).
            topic = str(message.topic)
            return [f"{topic} {ln.strip()}" if ln.lstrip()[:1] == "{" else ln for ln in lines]
        return lines


class PushSource(Source):
    """Lines pushed in by someone else (``POST /api/ingest``: receivers that push over
    HTTP), handed on as batches; runs until cancelled. ``push`` answers False when the
    pipeline has fallen ``max_queued`` pushes behind: the caller says "try again later"
    (HTTP 503) instead of the data being dropped unseen."""

    def __init__(self, name: str, *, max_queued: int = 1000) -> None:
        super().__init__(name)
        self._queue: asyncio.Queue[LineBatch] = asyncio.Queue(max_queued)

    def push(self, lines: list[str], sender: str | None = None) -> bool:
        """Queue ``lines`` from ``sender`` (the pushing receiver: its records' source is
        ``<feed>/<sender>``); False when the queue is full."""
        source = self.name if not sender else f"{self.name}/{sender}"
        try:
            self._queue.put_nowait(LineBatch(source, lines, time.time()))
        except asyncio.QueueFull:
            self._drop()
            return False
        return True

    async def _batches(self) -> AsyncIterator[LineBatch]:
        while True:
            yield await self._queue.get()


def _payload_lines(payload: object) -> list[str]:
    if isinstance(payload, (bytes, bytearray)):
        return _datagram_lines(bytes(payload))
    if isinstance(payload, str):
        return _datagram_lines(payload.encode("latin-1", "replace"))
    return []  # an empty payload or a number: nothing to decode


# --------------------------------------------------------------------------- opening by URI


def _host_port(netloc: str, uri: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port_text = netloc.rpartition(":")
    if not sep:
        host, port_text = netloc, ""
    host = host.strip("[]")  # IPv6 literal
    if not port_text:
        if default_port is None:
            raise SourceError(f"{uri}: a port is required")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise SourceError(f"{uri}: bad port {port_text!r}")
    return host, int(port_text)


def _split_userinfo(netloc: str) -> tuple[str | None, str | None, str]:
    if "@" not in netloc:
        return None, None, netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return user or None, password or None, hostport


def open_source(
    uri: str,
    *,
    name: str | None = None,
    speed: float | None = None,
    batch_lines: int = 1000,
    quiet_after: float = 60.0,
    reconnect_min: float = 0.5,
    reconnect_max: float = 30.0,
    format: str | None = None,
    columns: str | dict[str, str] | None = None,
    time_format: str | None = None,
    timezone: str | None = None,
) -> Source:
    """A feed for ``uri``; see the module docstring for the forms.

    ``name`` is the receiver id records carry (default: the URI without credentials).
    ``speed`` paces a file replay at that many times real time (files only).
    ``format`` says what the lines are (``ingest.formats.FORMATS``; default NMEA, or for a
    file what its name says: ``.csv``, ``.zip`` csv, ``.json``/``.jsonl`` the JSON its
    first line shows); ``columns``, ``time_format`` and ``timezone`` read json and csv.
    The source's ``reader`` goes to ``Decoder.feed`` with every batch.
    Raises SourceError for an unknown scheme, format or a malformed address; a missing
    file raises SourceError when the source is entered.
    """
    src = _open_source(
        uri,
        name=name,
        speed=speed,
        batch_lines=batch_lines,
        quiet_after=quiet_after,
        reconnect_min=reconnect_min,
        reconnect_max=reconnect_max,
        format=format,
    )
    fmt = format
    if fmt is None and isinstance(src, FileSource):
        fmt = format_for_path(str(src.path))
        if fmt == "json?":
            src.sniff_json = True
            fmt = None
    if fmt is None and uri.lower().startswith("gpsd://"):
        fmt = "gpsd"
    src.reader = make_reader(fmt, columns=columns, time_format=time_format, timezone=timezone)
    if getattr(src, "sniff_json", False) and (columns or time_format or timezone):
        src.sniff_json = False
        src.reader = make_reader(
            "json", columns=columns, time_format=time_format, timezone=timezone
        )
    return src


# gpsd's default port, and what a client sends to get AIS as JSON objects.
GPSD_PORT = 2947
GPSD_WATCH = b'?WATCH={"enable":true,"json":true,"scaled":true};\n'


def _open_source(
    uri: str,
    *,
    name: str | None,
    speed: float | None,
    batch_lines: int,
    quiet_after: float,
    reconnect_min: float,
    reconnect_max: float,
    format: str | None,
) -> Source:
    if speed is not None and speed <= 0:
        raise SourceError(f"speed must be positive, not {speed}")
    if uri == "-":
        return StdinSource(name or "stdin", batch_lines=batch_lines)
    scheme, sep, rest = uri.partition("://")
    if not sep and uri.lower() == "http:":
        return PushSource(name or "http")
    network = {"tcp", "udp", "mqtt", "mqtts", "gpsd"}
    if sep and scheme.lower() in network:
        scheme = scheme.lower()
        if speed is not None:
            raise SourceError(f"{uri}: speed applies to file replays only")
        if scheme in ("tcp", "udp", "gpsd"):
            netloc = rest.split("/", 1)[0]
            host, port = _host_port(netloc, uri, GPSD_PORT if scheme == "gpsd" else None)
            label = name or f"{scheme}://{netloc}"
            if scheme in ("tcp", "gpsd"):
                if not host:
                    raise SourceError(f"{uri}: a host is required")
                if scheme == "gpsd" and format not in (None, "gpsd"):
                    raise SourceError(f"{uri}: gpsd:// feeds are in the gpsd format")
                return TcpSource(
                    host,
                    port,
                    label,
                    quiet_after=quiet_after,
                    reconnect_min=reconnect_min,
                    reconnect_max=reconnect_max,
                    hello=GPSD_WATCH if scheme == "gpsd" else None,
                )
            return UdpSource(
                host or "0.0.0.0", port, label, quiet_after=quiet_after, batch_lines=batch_lines
            )
        netloc, _, topic = rest.partition("/")
        user, password, hostport = _split_userinfo(netloc)
        tls = scheme == "mqtts"
        host, port = _host_port(hostport, uri, 8883 if tls else 1883)
        if not host:
            raise SourceError(f"{uri}: a host is required")
        topic = topic or "#"
        label = name or f"{scheme}://{hostport}/{topic}"
        return MqttSource(
            host,
            port,
            topic,
            label,
            username=user,
            password=password,
            tls=tls,
            quiet_after=quiet_after,
            reconnect_min=reconnect_min,
            reconnect_max=reconnect_max,
            batch_lines=batch_lines,
        )
    if sep and scheme.lower() != "file":
        raise SourceError(
            f"{uri}: unknown source scheme {scheme!r} "
            "(file:, tcp://, udp://, mqtt://, mqtts://, gpsd://, http: or -)"
        )
    if uri.startswith("file://"):
        path = uri[len("file://") :]
    elif uri.startswith("file:"):
        path = uri[len("file:") :]
    else:
        path = uri
    if not path:
        raise SourceError(f"{uri}: a file path is required")
    return FileSource(Path(path), name or f"file:{path}", speed=speed, batch_lines=batch_lines)
