"""The wiring: feeds -> decode -> (store, analytics -> alert sinks), one asyncio process.

Each feed runs in its own named task. Its batches of lines are decoded by one Decoder
shared by all feeds (per-source state lives there, and it de-duplicates across feeds),
which runs in a process of its own (``ingest.decode_process``; setting ``decode_process``)
so that decoding, most of the work, takes a second core while this process reads, stores
and analyses; a feed keeps up to two batches in it at a time. Decoded batches go through
bounded queues to the store writer and to the analytics, so a slow database slows the
feeds instead of eating memory.

Every stage runs under a ``Supervisor``: one that fails (the analytics on a bad record, a
network feed on an unexpected error) is logged with its cause and started again after a
back-off, while the others go on. While the analytics are down, batches they cannot take
are counted (``analytics_batches_dropped``) instead of holding up the store.

Records older than the retention window (``retention_days``, ``raw_retention_days`` with
the raw archive) are refused up front unless their source is kept (``SourceSpec.keep``):
a file or standard input stops with a message saying so (nothing older than the window
is stored, so nothing is deleted silently later); a network feed drops them, counted in
``positions_too_old`` and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mda.ingest import Decoder, open_source
from mda.ingest.decode_process import DecodeProcess, Decoding, LocalDecoder
from mda.ingest.records import PositionReport, RawSentence, VesselInfo
from mda.ingest.wire import Packed

from .errors import MdaError
from .settings import Settings, SourceSpec
from .supervise import Supervisor

__all__ = ["Pipeline", "FeedStatus", "BatchListener", "RetentionRefused", "is_network"]

log = logging.getLogger(__name__)

_END = object()  # queue sentinel: no more batches
_NETWORK = ("tcp://", "udp://", "mqtt://", "mqtts://")


def is_network(uri: str) -> bool:
    """A feed that runs until stopped (and is started again if it fails)."""
    return uri.lower().startswith(_NETWORK)


class RetentionRefused(MdaError):
    """A finite feed holds records the retention job would delete: refused up front."""


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
    kernel_drops: int | None = None  # UDP: datagrams the kernel dropped (receive buffer full)
    too_old: int = 0  # records dropped as older than the retention window (network feeds)
    restarts: int = 0
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
            "kernel_drops": self.kernel_drops,
            "too_old": self.too_old,
            "restarts": self.restarts,
            "error": self.error,
        }


@dataclass
class _Pending:
    positions: list[PositionReport] = field(default_factory=list)
    statics: list[VesselInfo] = field(default_factory=list)
    raw: list[RawSentence] = field(default_factory=list)
    packed: list[Packed] = field(default_factory=list)  # records in the wire form
    packed_rows: int = 0

    def rows(self) -> int:
        return len(self.positions) + len(self.statics) + len(self.raw) + self.packed_rows

    def add(self, batch, packed_ok: bool) -> None:
        if batch.packed is not None and packed_ok:
            self.packed.append(batch.packed)  # its statics are in it too
            self.packed_rows += sum(batch.packed.counts()) + len(batch.statics)
            return
        self.positions += batch.positions
        self.statics += batch.statics
        self.raw += batch.raw


def _records(packed: Packed) -> tuple[list[PositionReport], list[RawSentence]]:
    wire = packed.records()
    return wire.positions, wire.raw


class Pipeline:
    """Run feeds into the store (and, when given an analytics stage, into it too).

    ``analytics`` is a callable taking (positions, statics) and returning nothing; the
    shell passes the alert stage here so this module stays free of its details.
    ``supervisor`` runs the stages (a private one when None).
    """

    def __init__(
        self,
        settings: Settings,
        writer,
        sources: Sequence[SourceSpec],
        *,
        analytics: Callable[[list, list], Any] | None = None,
        listeners: Sequence[BatchListener] = (),
        supervisor: Supervisor | None = None,
        decode_process: DecodeProcess | None = None,
    ):
        self.settings = settings
        self.writer = writer
        self.sources = list(sources)
        self.analytics = analytics
        self.listeners = list(listeners)
        self.supervisor = supervisor or Supervisor(restart_max=settings.stage_restart_max_s)
        options = {
            "dedupe_window": settings.dedupe_window_s,
            "multipart_timeout": settings.multipart_timeout_s,
            "keep_raw": settings.raw_archive,
            "max_clock_lead": settings.max_clock_lead_s or None,
        }
        # ``decode_process``: one started already (``mda ingest`` starts it first, so that
        # the child's start-up overlaps the migrations); else one of our own, or none.
        self._own_process = decode_process is None and settings.decode_process
        self.decode_process = DecodeProcess() if self._own_process else decode_process
        # A writer that takes records in the decoding process's wire form (the store)
        # writes them as they are; record objects are made only for whoever needs them
        # (the analytics, the live map, a writer that does not take that form).
        self._packed_ok = bool(getattr(writer, "takes_packed", False))
        objects = bool(analytics or self.listeners or not self._packed_ok)
        self.decoder = (
            self.decode_process.decoder(objects=objects, **options)
            if self.decode_process is not None
            else LocalDecoder(Decoder(**options))
        )
        self.decoder.expect_feeds(len(self.sources))
        self._decoding: dict[str, Decoding] = {}  # feed name -> its reading, while it runs
        self.feeds: dict[str, FeedStatus] = {}
        self.open_sources: dict[str, Any] = {}  # name -> ingest Source, while it runs
        self.started = time.time()
        self._store_q: asyncio.Queue = asyncio.Queue(maxsize=settings.queue_batches)
        self._leftover: list = []  # batches a stop interrupted on their way to the store
        self._analytics_q: asyncio.Queue = asyncio.Queue(maxsize=settings.queue_batches)
        self._pending = _Pending()  # the store stage's batch, kept across its restarts
        self._pending_since: float | None = None
        self._pending_failures = 0
        self.counters = {
            "analytics_batches_dropped": 0,  # not taken while the analytics were down
            "analytics_batches_failed": 0,  # the batch the analytics failed on
            "store_batches_dropped": 0,  # a batch the store stage failed on twice
            "positions_too_old": 0,  # dropped by network feeds: older than retention
        }
        self._too_old_logged = 0.0
        self._stopping = False
        # Lag: when each queued batch was handed over (monotonic, in queue order), and the
        # oldest one a stage holds but has not finished (``lag()``).
        self._store_enq: deque[float] = deque()
        self._analytics_enq: deque[float] = deque()
        self._store_oldest: float | None = None
        self._analytics_busy: float | None = None

    # -- public -------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until every finite feed ends, or until ``stop()``; then write everything still
        queued before returning (network feeds run until stopped)."""
        if self._own_process:
            await self.decode_process.start()
        try:
            await self._run()
        finally:
            if self._own_process:
                await self.decode_process.close()

    async def _run(self) -> None:
        sup = self.supervisor
        async with asyncio.TaskGroup() as tg:
            writer_task = tg.create_task(
                sup.run("store", self._store_stage, on_failure=self._store_failed),
                name="store-writer",
            )
            analytics_task = (
                tg.create_task(
                    sup.run("analytics", self._analytics_stage, on_failure=self._analytics_failed),
                    name="analytics",
                )
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
            if analytics_task:
                await analytics_task

    def stop(self) -> None:
        """End the feeds; ``run()`` then drains the queues and returns. A feed that is
        reading stops reading and hands on the batches it has in the decoder; one that is
        not (connecting, waiting to reconnect) is cancelled. A second stop cancels every
        feed at once (a decoding process that no longer answers cannot hold the stop)."""
        again = self._stopping
        self._stopping = True
        reading = set() if again else {f"feed:{name}" for name in self._decoding}
        for decoding in list(self._decoding.values()):
            decoding.stop()
        for task in getattr(self, "_feed_tasks", ()):
            if task.get_name() not in reading:
                task.cancel()

    def stats(self) -> dict[str, Any]:
        d = self.decoder.stats.as_dict()
        d.update(self.writer.stats.as_dict())
        d["feed_dropped"] = sum(f.dropped for f in self.feeds.values())
        kernel = [f.kernel_drops for f in self.feeds.values() if f.kernel_drops is not None]
        if kernel:
            d["udp_kernel_drops"] = sum(kernel)
        d.update(self.counters)
        return d

    def lag(self) -> dict[str, dict[str, float | int]]:
        """How far each stage is behind: ``seconds`` since the oldest batch it has not
        finished was decoded and handed over (0 when it has none; the store's includes the
        ``batch_max_delay_s`` a batch may wait to fill), and ``batches`` queued for it."""
        now = time.monotonic()

        def oldest(*ts: float | None) -> float:
            known = [t for t in ts if t is not None]
            return round(max(0.0, now - min(known)), 3) if known else 0.0

        return {
            "store": {
                "seconds": oldest(
                    self._store_oldest, self._store_enq[0] if self._store_enq else None
                ),
                "batches": self._store_q.qsize(),
            },
            "analytics": {
                "seconds": oldest(
                    self._analytics_busy, self._analytics_enq[0] if self._analytics_enq else None
                ),
                "batches": self._analytics_q.qsize(),
            },
        }

    def analytics_arrived(self) -> float | None:
        """When (``time.monotonic()``) the batch the analytics are working on was decoded
        and handed over, i.e. when its last sentence arrived; None between batches."""
        return self._analytics_busy

    def update_kernel_drops(self) -> None:
        """UDP feeds: the datagrams the kernel dropped because the socket's receive buffer
        was full (``RcvbufErrors``; per socket, the ``drops`` column of /proc/net/udp),
        which the feed itself never sees."""
        ports: dict[int, str] = {}
        for name, src in list(self.open_sources.items()):
            feed = self.feeds.get(name)
            if feed is None or not feed.uri.lower().startswith("udp://"):
                continue
            try:
                ports[int(src.local_address()[1])] = name
            except Exception:  # not bound yet, or gone meanwhile
                continue
        if not ports:
            return
        drops = _udp_socket_drops()
        for port, name in ports.items():
            if port in drops:
                self.feeds[name].kernel_drops = drops[port]

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
        if not is_network(spec.uri):
            await self._feed_once(spec, name, status)
            return

        def failed(e: BaseException) -> None:
            status.state = "restarting"
            status.error = str(e)
            status.restarts += 1

        # A network feed reconnects by itself; an unexpected failure starts it again.
        try:
            await self.supervisor.run(
                f"feed:{name}",
                lambda: self._feed_once(spec, name, status, raise_=True),
                on_failure=failed,
            )
        except asyncio.CancelledError:
            status.state = "stopped"
            raise

    async def _feed_once(
        self, spec: SourceSpec, name: str, status: FeedStatus, raise_: bool = False
    ) -> None:
        try:
            async with open_source(
                spec.uri,
                name=name,
                speed=spec.speed,
                quiet_after=self.settings.feed_quiet_s,
                **spec.feed_options(),
            ) as src:
                self.open_sources[name] = src
                status.state = "running"
                status.error = None
                decoding = Decoding(src, self.decoder)
                self._decoding[name] = decoding
                if self._stopping:
                    decoding.stop()
                # closed on the way out, whatever the way: its reading ends with it
                async with contextlib.aclosing(aiter(decoding)) as decoded_batches:
                    async for batch, decoded in decoded_batches:
                        status.lines += len(batch.lines)
                        status.batches += 1
                        status.last_line_at = time.time()
                        status.progress = src.progress
                        status.dropped = getattr(src, "dropped", 0)
                        if not spec.keep:
                            self._check_retention(spec, name, status, decoded)
                        if decoded.positions:
                            status.last_event_ts = decoded.positions[-1].ts
                        elif decoded.packed is not None:
                            status.last_event_ts = decoded.packed.last_position_ts()
                        await self._dispatch(decoded)
            if decoding.stopped:
                status.state = "stopped"
                return
            # Fragments and timestamp lines still waiting will never complete: count them.
            await self.decoder.flush(src.name)
            status.state = "ended"
        except asyncio.CancelledError:
            status.state = "stopped"
            raise
        except Exception as e:  # one bad feed must not take the others down
            status.state = "failed"
            status.error = str(e)
            if raise_:
                raise
            if isinstance(e, RetentionRefused):
                log.error("feed %s refused: %s", name, e)
            else:
                log.error("feed %s failed: %s", name, e)
        finally:
            self.open_sources.pop(name, None)
            self._decoding.pop(name, None)

    def _check_retention(self, spec: SourceSpec, name: str, status: FeedStatus, decoded) -> None:
        """Refuse records the retention job would delete (see the module's docstring)."""
        s = self.settings
        now = time.time()
        if decoded.packed is not None:
            oldest_position, oldest_raw = decoded.packed.oldest()
        else:
            oldest_position = min((p.ts for p in decoded.positions), default=None)
            oldest_raw = min((r.ts for r in decoded.raw), default=None)
        limits = []
        if s.retention_days > 0 and oldest_position is not None:
            limits.append(("positions", "retention_days", s.retention_days, oldest_position))
        if s.raw_archive and s.raw_retention_days > 0 and oldest_raw is not None:
            limits.append(("raw sentences", "raw_retention_days", s.raw_retention_days, oldest_raw))
        for what, setting, days, oldest in limits:
            cutoff = now - days * 86400.0
            if oldest >= cutoff:
                continue
            if not is_network(spec.uri):
                from datetime import UTC, datetime

                day = datetime.fromtimestamp(oldest, UTC).strftime("%Y-%m-%d")
                raise RetentionRefused(
                    f"{what} from {day} are older than the retention window "
                    f"({setting} = {days}): the retention job would delete them. To keep "
                    f"this source's data, ingest it with --keep (or keep = true in its "
                    f"[[sources]] table); or raise {setting}"
                    + (" (or ingest with --no-raw)" if what == "raw sentences" else "")
                )
            # A live feed: drop what is too old, keep the rest (as records: rare).
            if decoded.packed is not None:
                if not decoded.positions and not decoded.raw:
                    decoded.positions, decoded.raw = _records(decoded.packed)
                decoded.packed = None
            before = len(decoded.positions)
            decoded.positions = [p for p in decoded.positions if p.ts >= cutoff]
            decoded.statics = [v for v in decoded.statics if v.ts >= cutoff]
            decoded.raw = [r for r in decoded.raw if r.ts >= cutoff]
            dropped = before - len(decoded.positions)
            status.too_old += dropped
            self.counters["positions_too_old"] += dropped
            if now - self._too_old_logged > 60:
                self._too_old_logged = now
                log.warning(
                    "feed %s: dropped records older than %s (%d days): the retention job "
                    "would delete them (keep = true in its [[sources]] table keeps them)",
                    name,
                    setting,
                    days,
                )

    async def _dispatch(self, decoded) -> None:
        if not (decoded.positions or decoded.statics or decoded.raw or decoded.packed):
            return
        handed = time.monotonic()
        for listener in self.listeners:
            try:
                listener.on_batch(decoded.positions, decoded.statics)
            except Exception:  # the live map must never stop the store
                log.exception("batch listener failed")
        try:
            await self._store_q.put(decoded)
        except asyncio.CancelledError:  # stopped while the queue was full: keep the batch
            self._leftover.append(decoded)
            raise
        self._store_enq.append(handed)
        if self.analytics and (decoded.positions or decoded.statics):
            if self.supervisor.running("analytics"):
                await self._analytics_q.put(decoded)
                self._analytics_enq.append(handed)
            else:  # down, waiting to start again: the feed must not wait for it
                try:
                    self._analytics_q.put_nowait(decoded)
                    self._analytics_enq.append(handed)
                except asyncio.QueueFull:
                    self.counters["analytics_batches_dropped"] += 1

    async def _store_stage(self) -> None:
        """Group decoded batches into COPY-sized batches: write when one is full, or when
        the feeds pause and the oldest record has waited long enough."""
        max_rows = self.settings.batch_rows
        max_delay = self.settings.batch_max_delay_s
        loop = asyncio.get_running_loop()
        q = self._store_q
        done = False
        if self._pending.rows():  # what the stage held when it failed: write it first
            await self._write_pending()
        while not done:
            pending = self._pending
            if q.empty():
                if pending.rows() and loop.time() - self._pending_since >= max_delay:
                    await self._write_pending()
                    continue
                timeout = (
                    None
                    if self._pending_since is None
                    else self._pending_since + max_delay - loop.time()
                )
                try:
                    item = await asyncio.wait_for(q.get(), timeout)
                except TimeoutError:
                    continue
            else:
                item = q.get_nowait()
            if item is _END:
                done = True
                for left in self._leftover:
                    pending.add(left, self._packed_ok)
                self._leftover.clear()
            else:
                handed = self._store_enq.popleft() if self._store_enq else None
                if self._store_oldest is None:
                    self._store_oldest = handed
                pending.add(item, self._packed_ok)
                if self._pending_since is None:
                    self._pending_since = loop.time()
            if pending.rows() and (done or pending.rows() >= max_rows):
                await self._write_pending()

    async def _write_pending(self) -> None:
        await self._write(self._pending)
        self._pending = _Pending()
        self._pending_since = None
        self._store_oldest = None
        self._pending_failures = 0

    def _store_failed(self, e: BaseException) -> None:
        # Written again when the stage starts again; a batch it fails on twice is set aside.
        self._pending_failures += 1
        if self._pending_failures >= 2 and self._pending.rows():
            log.error(
                "store: setting aside a batch of %d rows it failed on twice", self._pending.rows()
            )
            self.counters["store_batches_dropped"] += 1
            self._pending = _Pending()
            self._pending_since = None
            self._store_oldest = None
            self._pending_failures = 0

    async def _write(self, pending: _Pending) -> None:
        if pending.packed:
            await self.writer.write(pending.positions, pending.statics, pending.raw, pending.packed)
        else:
            await self.writer.write(pending.positions, pending.statics, pending.raw)

    async def _analytics_stage(self) -> None:
        while (item := await self._analytics_q.get()) is not _END:
            self._analytics_busy = self._analytics_enq.popleft() if self._analytics_enq else None
            result = self.analytics(item.positions, item.statics)
            if asyncio.iscoroutine(result):
                await result
            self._analytics_busy = None

    def _analytics_failed(self, e: BaseException) -> None:
        self.counters["analytics_batches_failed"] += 1
        self._analytics_busy = None  # that batch is given up


def _udp_socket_drops() -> dict[int, int]:
    """Kernel drops per local UDP port, from /proc/net/udp and /proc/net/udp6 (Linux)."""
    out: dict[int, int] = {}
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path, encoding="ascii") as f:
                next(f, None)  # the header
                for line in f:
                    parts = line.split()
                    if len(parts) < 13:
                        continue
                    port = int(parts[1].rsplit(":", 1)[1], 16)
                    out[port] = out.get(port, 0) + int(parts[-1])
        except (OSError, ValueError):
            continue
    return out


def _without_credentials(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rsplit('@', 1)[-1]}{slash}{path}"
