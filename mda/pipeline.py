"""The wiring: feeds -> decode -> (store, analytics -> alert sinks), one asyncio process.

Each feed runs in its own named task and decodes its batches inline (decoding is fast and
per-source state lives in one shared Decoder, which also de-duplicates across feeds).
Decoded batches go through bounded queues to the store writer and to the analytics, so a
slow database slows the feeds instead of eating memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mda.ingest import Decoder, open_source
from mda.ingest.records import PositionReport, RawSentence, VesselInfo

from .settings import Settings, SourceSpec

__all__ = ["Pipeline", "FeedStatus", "BatchListener"]

log = logging.getLogger(__name__)

_END = object()  # queue sentinel: no more batches


class BatchListener(Protocol):
    """Anything that wants decoded batches as they arrive (the live hub)."""

    def on_batch(
        self, positions: Sequence[PositionReport], statics: Sequence[VesselInfo]
    ) -> None: ...


@dataclass
class FeedStatus:
    """What the map's feed indicator and /metrics show for one feed."""

    name: str
    uri: str
    lines: int = 0
    batches: int = 0
    last_line_at: float | None = None  # wall clock, for "age of the last message"
    last_event_ts: float | None = None  # newest event time seen in the feed
    state: str = "starting"  # starting, running, quiet, ended, failed
    error: str | None = None
    progress: tuple[int, int] | None = None  # (bytes read, bytes in all) for files
    dropped: int = 0  # lines or datagrams the feed had to drop under overload
    quiet_after: float = 300.0  # a running feed silent this long shows as "quiet"

    def as_dict(self) -> dict[str, Any]:
        age = None if self.last_line_at is None else max(0.0, time.time() - self.last_line_at)
        state = self.state
        if state == "running" and age is not None and age > self.quiet_after:
            state = "quiet"
        return {
            "name": self.name,
            "uri": self.uri,
            "lines": self.lines,
            "state": state,
            "last_message_age_s": age,
            "last_event_ts": self.last_event_ts,
            "dropped": self.dropped,
            "error": self.error,
        }


@dataclass
class _Pending:
    positions: list[PositionReport] = field(default_factory=list)
    statics: list[VesselInfo] = field(default_factory=list)
    raw: list[RawSentence] = field(default_factory=list)

    def rows(self) -> int:
        return len(self.positions) + len(self.statics) + len(self.raw)


class Pipeline:
    """Run feeds into the store (and, when given an analytics stage, into it too).

    ``analytics`` is a callable taking (positions, statics) and returning nothing; the
    shell passes the alert stage here so this module stays free of its details.
    """

    def __init__(
        self,
        settings: Settings,
        writer,
        sources: Sequence[SourceSpec],
        *,
        analytics: Callable[[list, list], Any] | None = None,
        listeners: Sequence[BatchListener] = (),
    ):
        self.settings = settings
        self.writer = writer
        self.sources = list(sources)
        self.analytics = analytics
        self.listeners = list(listeners)
        self.decoder = Decoder(
            dedupe_window=settings.dedupe_window_s,
            multipart_timeout=settings.multipart_timeout_s,
            keep_raw=settings.raw_archive,
            max_clock_lead=settings.max_clock_lead_s or None,
        )
        self.decoder.expect_feeds(len(self.sources))
        self.feeds: dict[str, FeedStatus] = {}
        self.open_sources: dict[str, Any] = {}  # name -> ingest Source, while it runs
        self.started = time.time()
        self._store_q: asyncio.Queue = asyncio.Queue(maxsize=settings.queue_batches)
        self._leftover: list = []  # batches a stop interrupted on their way to the store
        self._analytics_q: asyncio.Queue = asyncio.Queue(maxsize=settings.queue_batches)

    # -- public -------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until every finite feed ends, or until ``stop()``; then write everything still
        queued before returning (network feeds run until stopped)."""
        async with asyncio.TaskGroup() as tg:
            writer_task = tg.create_task(self._store_stage(), name="store-writer")
            analytics_task = (
                tg.create_task(self._analytics_stage(), name="analytics")
                if self.analytics
                else None
            )
            self._feed_tasks = [
                tg.create_task(self._feed(spec, i), name=f"feed:{self._name(spec, i)}")
                for i, spec in enumerate(self.sources)
            ]
            if self._feed_tasks:
                # A stopped feed is not an error: what it delivered is still written below.
                await asyncio.gather(*self._feed_tasks, return_exceptions=True)
            await self._store_q.put(_END)
            if analytics_task:
                await self._analytics_q.put(_END)
            await writer_task

    def stop(self) -> None:
        """End the feeds; ``run()`` then drains the queues and returns."""
        for task in getattr(self, "_feed_tasks", ()):
            task.cancel()

    def stats(self) -> dict[str, Any]:
        d = self.decoder.stats.as_dict()
        d.update(self.writer.stats.as_dict())
        d["feed_dropped"] = sum(f.dropped for f in self.feeds.values())
        return d

    # -- stages -------------------------------------------------------------------------
    @staticmethod
    def _name(spec: SourceSpec, i: int) -> str:
        """The receiver id stored with every record: the given name, else the URI without
        credentials (a password must never reach the database, the metrics or a browser)."""
        if spec.name:
            return spec.name
        uri = _without_credentials(spec.uri)
        return uri if len(uri) < 40 else f"feed{i + 1}"

    async def _feed(self, spec: SourceSpec, i: int) -> None:
        name = self._name(spec, i)
        status = self.feeds[name] = FeedStatus(
            name=name, uri=_without_credentials(spec.uri), quiet_after=self.settings.feed_quiet_s
        )
        try:
            async with open_source(
                spec.uri, name=name, speed=spec.speed, quiet_after=self.settings.feed_quiet_s
            ) as src:
                self.open_sources[name] = src
                status.state = "running"
                async for batch in src:
                    status.lines += len(batch.lines)
                    status.batches += 1
                    status.last_line_at = time.time()
                    status.progress = src.progress
                    status.dropped = getattr(src, "dropped", 0)
                    decoded = self.decoder.feed(batch.lines, batch.recv_ts, batch.source)
                    if decoded.positions:
                        status.last_event_ts = decoded.positions[-1].ts
                    await self._dispatch(decoded)
            # Fragments and timestamp lines still waiting will never complete: count them.
            self.decoder.flush(src.name)
            status.state = "ended"
        except asyncio.CancelledError:
            status.state = "stopped"
            raise
        except Exception as e:  # one bad feed must not take the others down
            status.state = "failed"
            status.error = str(e)
            log.error("feed %s failed: %s", name, e)

    async def _dispatch(self, decoded) -> None:
        if not (decoded.positions or decoded.statics or decoded.raw):
            return
        for listener in self.listeners:
            listener.on_batch(decoded.positions, decoded.statics)
        try:
            await self._store_q.put(decoded)
        except asyncio.CancelledError:  # stopped while the queue was full: keep the batch
            self._leftover.append(decoded)
            raise
        if self.analytics:
            await self._analytics_q.put(decoded)

    async def _store_stage(self) -> None:
        """Group decoded batches into COPY-sized batches: write when one is full, or when
        the feeds pause and the oldest record has waited long enough."""
        pending = _Pending()
        oldest: float | None = None
        max_rows = self.settings.batch_rows
        max_delay = self.settings.batch_max_delay_s
        loop = asyncio.get_running_loop()
        q = self._store_q
        done = False
        while not done:
            if q.empty():
                if pending.rows() and loop.time() - oldest >= max_delay:
                    await self._write(pending)
                    pending, oldest = _Pending(), None
                    continue
                timeout = None if oldest is None else oldest + max_delay - loop.time()
                try:
                    item = await asyncio.wait_for(q.get(), timeout)
                except TimeoutError:
                    continue
            else:
                item = q.get_nowait()
            if item is _END:
                done = True
                for left in self._leftover:
                    pending.positions += left.positions
                    pending.statics += left.statics
                    pending.raw += left.raw
                self._leftover.clear()
            else:
                pending.positions += item.positions
                pending.statics += item.statics
                pending.raw += item.raw
                if oldest is None:
                    oldest = loop.time()
            if pending.rows() and (done or pending.rows() >= max_rows):
                await self._write(pending)
                pending, oldest = _Pending(), None

    async def _write(self, pending: _Pending) -> None:
        await self.writer.write(pending.positions, pending.statics, pending.raw)

    async def _analytics_stage(self) -> None:
        while (item := await self._analytics_q.get()) is not _END:
            result = self.analytics(item.positions, item.statics)
            if asyncio.iscoroutine(result):
                await result


def _without_credentials(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rsplit('@', 1)[-1]}{slash}{path}"
