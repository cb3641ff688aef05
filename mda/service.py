"""``mda serve`` and ``mda demo`` at run time: every stage as a named task in one TaskGroup.

feeds -> Pipeline -> StoreWriter
                  -> AlertStage (Analyzer -> alerts table -> live hub, MQTT)
                  -> live hub (latest positions)
web (uvicorn) reads the store and the hub; a retention job runs hourly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import psycopg

from mda.ingest.backoff import Backoff
from mda.store.alerts import end_open_episodes, save_changes
from mda.store.db import connect, connect_sync
from mda.store.errors import StoreError
from mda.store.migrate import upgrade
from mda.store.places import forget_places_before, load_places, save_places
from mda.store.retention import apply_retention
from mda.store.writer import StoreWriter

from .errors import MdaError, SettingsError
from .pipeline import Pipeline
from .settings import Settings, SourceSpec

__all__ = ["AlertStage", "Service", "load_zones", "mqtt_publisher"]

log = logging.getLogger(__name__)


def load_zones(files: Sequence[str | Path] = ()):
    """Built-in zones plus the given files (a clear error names a bad file)."""
    from mda.analytics import ZoneSet

    return ZoneSet.from_files([Path(f) for f in files])


def analytics_config(settings: Settings):
    """The ``[analytics]`` table, checked when the settings were loaded."""
    return settings.analytics


def mqtt_publisher(settings: Settings):
    """The MQTT publisher the settings ask for (``web.publish``), None without ``mqtt_url``;
    a bad URL is a SettingsError naming the setting."""
    if not settings.mqtt_url:
        return None
    from mda.exchange.publish import BrokerUrlError, MqttPublisher

    try:
        return MqttPublisher(
            settings.mqtt_url,
            spool_dir=settings.data_path / "spool-mqtt",
            notices=settings.mqtt_notices,
        )
    except BrokerUrlError as e:
        raise SettingsError(f"mqtt_url {e.message}") from None


class AlertStage:
    """Runs the detectors over decoded batches; stores what they raise and hands the stored
    rows to the sinks (live hub, MQTT).

    The detectors never wait for the database: while it is away the changes queue up (in
    order, bounded: past ``max_pending`` the oldest updates of still-open alerts are merged
    away, openings and endings are kept) and are stored when it returns, tried again with
    exponential backoff rather than on every batch."""

    def __init__(
        self,
        analyzer,
        url: str,
        sinks: Sequence[Callable[[dict], Awaitable[None]]] = (),
        *,
        max_pending: int = 10_000,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
    ):
        self.analyzer = analyzer
        self.url = url
        self.sinks = list(sinks)
        self.raised = 0
        self.refused = 0  # changes the database rejected as data (not an outage)
        self._conn: psycopg.AsyncConnection | None = None
        self._pending: list = []
        self._max_pending = max_pending
        self._backoff = Backoff(retry_initial, retry_max)
        self._next_try = 0.0

    async def __call__(self, positions: list, statics: list) -> None:
        changes = self.analyzer.process(chain(statics, positions))
        if changes or self._pending:
            await self._store(changes)

    async def finish(self) -> None:
        await self._store(self.analyzer.finish(), force=True)

    def _bound(self) -> None:
        if len(self._pending) <= self._max_pending:
            return
        # Keep the latest state of each alert and every opening and ending.
        latest: dict[str, int] = {}
        for i, ch in enumerate(self._pending):
            latest[ch.alert.key] = i
        self._pending = [
            ch
            for i, ch in enumerate(self._pending)
            if ch.change != "updated" or latest[ch.alert.key] == i
        ]

    async def _store(self, changes: list, force: bool = False) -> None:
        self._pending.extend(changes)
        self._bound()
        loop = asyncio.get_running_loop()
        if not self._pending or (not force and loop.time() < self._next_try):
            return
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await connect(self.url)
            rows = await save_changes(self._conn, self._pending)
        except (psycopg.OperationalError, StoreError) as e:  # an outage: back off, keep them
            self._next_try = loop.time() + self._backoff.next_delay()
            log.warning(
                "alerts: database unavailable (%s); %d changes wait, next try in %.0f s",
                e,
                len(self._pending),
                self._next_try - loop.time(),
            )
            await self._drop_connection()
            return
        except psycopg.Error as e:  # refused as data: retrying would block every later alert
            self.refused += len(self._pending)
            log.error(
                "alerts: database refused %d changes: %s",
                len(self._pending),
                e.diag.message_primary or e,
            )
            self._pending = []
            return
        self._backoff.reset()
        self._pending = []
        for row in rows:
            if row["change"] == "opened":
                self.raised += 1
            for sink in self.sinks:
                try:
                    await sink(row)
                except Exception:  # a sink's failure must not stop the analytics
                    log.exception("alert sink failed")

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # closing a dead connection may fail; nothing to do about it
                pass

    async def close(self) -> None:
        await self._drop_connection()


@dataclass
class Service:
    """Everything ``mda serve`` runs, given a database URL and sources."""

    settings: Settings
    url: str
    sources: list[SourceSpec]
    zone_files: list[str] = field(default_factory=list)
    web: bool = True
    on_ready: Callable[[Service], Any] | None = None  # may be async
    pipeline: Pipeline | None = None
    hub: Any = None
    alert_stage: AlertStage | None = None
    publisher: Any = None
    web_server: Any = None
    started: float = field(default_factory=time.time)

    def status(self) -> dict:
        """Counters and feed states for /metrics and the map's feed indicator."""
        out: dict[str, Any] = {"uptime_s": time.time() - self.started, "feeds": []}
        if self.pipeline:
            out.update(self.pipeline.stats())
            out["feeds"] = [f.as_dict() for f in self.pipeline.feeds.values()]
        if self.alert_stage:
            out["alerts_raised"] = self.alert_stage.raised
        if self.publisher:
            out["mqtt_sent"] = self.publisher.sent
            out["mqtt_connected"] = self.publisher.connected
            out["mqtt_notices_skipped"] = self.publisher.notices_skipped
        return out

    def prepare(self) -> None:
        with connect_sync(self.url) as conn:
            _applied, self.caps = upgrade(conn, retention_days=self.settings.retention_days)
            # The detectors start with no memory of earlier runs: episodes left open by the
            # last run are ended now, so none stays open for ever or rings twice.
            ended = end_open_episodes(conn)
        if ended:
            log.info("ended %d alert episodes left open by the previous run", ended)
        for line in self.caps.lines():
            log.info("database: %s", line)
        self.zones = load_zones(self.zone_files)
        self.zones_synced = False

    async def run(self) -> None:
        self.prepare()
        s = self.settings
        sinks: list = []
        if self.web:
            from mda.web.live import LiveHub

            self.hub = LiveHub()
            sinks.append(self.hub.publish_alert)
        self.publisher = mqtt_publisher(s)
        if self.publisher:
            sinks.append(self.publisher.publish_alert)
        from mda.analytics import Analyzer

        analyzer = Analyzer(analytics_config(s), self.zones)
        await self._load_places(analyzer)
        self.alert_stage = AlertStage(analyzer, self.url, sinks)
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        try:
            async with StoreWriter(
                self.url, spool_dir=s.data_path / "spool", raw_archive=s.raw_archive
            ) as writer:
                self.pipeline = Pipeline(
                    s,
                    writer,
                    self.sources,
                    analytics=self.alert_stage,
                    listeners=[self.hub] if self.hub else [],
                )
                try:
                    async with asyncio.TaskGroup() as tg:
                        if self.web:
                            tg.create_task(self._serve_web(), name="web")
                        if self.publisher:
                            tg.create_task(self.publisher.run(), name="mqtt-publisher")
                        tg.create_task(self._retention_job(), name="retention")
                        tg.create_task(self._sync_zones(), name="zones-sync")
                        places = tg.create_task(self._places_job(analyzer), name="places")
                        if not self._stopping.is_set():  # a stop may come during start-up
                            await self.pipeline.run()  # returns when feeds end or on stop()
                        await self.alert_stage.finish()
                        if self.web and not self._stopping.is_set():
                            # Finite feeds ended; keep serving the map until stopped.
                            await self._stopping.wait()
                        places.cancel()
                        await self._save_places(analyzer)  # what this run learned last
                        if self.publisher:
                            await self.publisher.close()
                        raise _Done
                except* _Done:
                    pass
                finally:
                    await self.alert_stage.close()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def stop(self) -> None:
        """Ctrl-C or SIGTERM: end the feeds, write what is queued, then stop. A second
        request stops at once."""
        if self._stopping.is_set():
            log.warning("stopping now")
            for task in asyncio.all_tasks():
                task.cancel()
            return
        log.info("stopping: ending feeds, writing what is queued")
        self._stopping.set()
        if self.pipeline:
            self.pipeline.stop()

    async def _serve_web(self) -> None:
        import uvicorn

        from mda.web.app import create_app

        app = create_app(self.settings, self.url, hub=self.hub, status=self.status)
        config = uvicorn.Config(
            app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            lifespan="on",
        )
        self.web_server = uvicorn.Server(config)
        # The service owns shutdown (stop()); uvicorn must not take SIGINT/SIGTERM for itself,
        # nor raise them again when it ends, or one signal would stop us twice.
        self.web_server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        host, port = self.settings.http_host, self.settings.http_port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # bound here, so a busy port is one clear line rather than uvicorn's exit
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise MdaError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        serve = asyncio.create_task(self.web_server.serve(sockets=[sock]), name="uvicorn")
        while not self.web_server.started:
            if serve.done():
                await serve
                raise MdaError(f"web server on {host}:{port} stopped before it started")
            await asyncio.sleep(0.05)
        if self.on_ready:
            ready = self.on_ready(self)
            if asyncio.iscoroutine(ready):
                await ready
        try:
            await asyncio.shield(serve)
        finally:
            # Let uvicorn close its connections and run the app's shutdown (the pool).
            self.web_server.should_exit = True
            try:
                await asyncio.wait_for(serve, 10)
            except (TimeoutError, asyncio.CancelledError, SystemExit):
                pass

    async def _sync_zones(self) -> None:
        """Copy the zones in use into the zones table, for the map's layers and for SQL."""
        from psycopg.types.json import Jsonb

        try:
            conn = await connect(self.url)
        except Exception as e:
            log.warning("zones not synced: %s", e)
            return
        from shapely.geometry import mapping

        async with conn:
            async with conn.transaction():
                for z in self.zones:
                    await conn.execute(
                        "INSERT INTO zones (name, kind, direction, ship_types, severity, origin, "
                        "geometry, properties) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (name, kind) DO UPDATE SET direction = EXCLUDED.direction, "
                        "ship_types = EXCLUDED.ship_types, severity = EXCLUDED.severity, "
                        "origin = EXCLUDED.origin, geometry = EXCLUDED.geometry, "
                        "properties = EXCLUDED.properties",
                        (
                            z.name,
                            z.kind,
                            z.direction,
                            sorted(z.ship_types) if z.ship_types else None,
                            z.severity,
                            z.origin,
                            Jsonb(mapping(z.geometry)),
                            Jsonb(z.properties),
                        ),
                    )
        self.zones_synced = True

    async def _load_places(self, analyzer) -> None:
        """Start the analytics from the places (anchorages, fairways) learned by earlier
        runs, as far back as they remember."""
        memory_s = analyzer.config.stop_place_memory_days * 86400.0
        try:
            async with await connect(self.url) as conn:
                rows = await load_places(conn, time.time() - memory_s)
        except (psycopg.Error, StoreError) as e:
            log.warning("learned places not loaded: %s", e)
            return
        analyzer.load_places(rows)
        self._places_saved = max((r[2] for r in rows), default=float("-inf"))
        if rows:
            log.info("analytics: %d stops and passages learned by earlier runs", len(rows))

    async def _save_places(self, analyzer) -> None:
        # An hour back: a feed running late may add stops older than the last one saved.
        since = getattr(self, "_places_saved", float("-inf")) - 3600.0
        rows = analyzer.export_places(since)
        if not rows:
            return
        try:
            async with await connect(self.url) as conn:
                await save_places(conn, rows)
                await forget_places_before(
                    conn, time.time() - analyzer.config.stop_place_memory_days * 86400.0
                )
        except (psycopg.Error, StoreError) as e:  # next time: nothing is lost in memory
            log.warning("learned places not saved: %s", e)
            return
        self._places_saved = max(r[2] for r in rows)

    async def _places_job(self, analyzer, every_s: float = 600.0) -> None:
        """Save what the analytics learned about places every few minutes."""
        while True:
            await asyncio.sleep(every_s)
            await self._save_places(analyzer)

    async def _retention_job(self) -> None:
        def run_once() -> dict:
            with connect_sync(self.url) as conn:
                return apply_retention(
                    conn,
                    self.caps,
                    retention_days=self.settings.retention_days,
                    raw_retention_days=self.settings.raw_retention_days,
                )

        while True:
            try:
                # In a thread: connecting and deleting must not stall the feeds.
                removed = await asyncio.to_thread(run_once)
                if any(removed.values()):
                    log.info("retention removed %s", removed)
            except Exception as e:
                log.warning("retention job: %s", e)
            await asyncio.sleep(3600)


class _Done(Exception):
    """Raised inside the TaskGroup to end a headless run once its finite feeds ended."""
