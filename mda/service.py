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
import time
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

import psycopg

from store.alerts import save_changes
from store.db import connect, connect_sync
from store.migrate import upgrade
from store.retention import apply_retention
from store.writer import StoreWriter

from .pipeline import Pipeline
from .settings import Settings, SourceSpec

__all__ = ["AlertStage", "Service", "load_zones"]

log = logging.getLogger(__name__)


def load_zones(files: Sequence[str | Path] = ()):
    """Built-in zones plus the given files (a clear error names a bad file)."""
    from analytics import ZoneSet

    return ZoneSet.from_files([Path(f) for f in files])


def analytics_config(settings: Settings):
    from analytics import AnalyticsConfig

    return AnalyticsConfig(**settings.analytics)


class AlertStage:
    """Runs the detectors over decoded batches; stores what they raise and hands the stored
    rows to the sinks (live hub, MQTT). Survives database outages by keeping the changes
    it could not store and retrying them with the next batch."""

    def __init__(self, analyzer, url: str,
                 sinks: Sequence[Callable[[dict], Awaitable[None]]] = ()):
        self.analyzer = analyzer
        self.url = url
        self.sinks = list(sinks)
        self.raised = 0
        self._conn: psycopg.AsyncConnection | None = None
        self._pending: list = []

    async def __call__(self, positions: list, statics: list) -> None:
        changes = self.analyzer.process(chain(statics, positions))
        if changes or self._pending:
            await self._store(changes)

    async def finish(self) -> None:
        await self._store(self.analyzer.finish())

    async def _store(self, changes: list) -> None:
        self._pending.extend(changes)
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await connect(self.url)
            rows = await save_changes(self._conn, self._pending)
        except Exception as e:  # an outage: keep them for the next try
            log.warning("could not store %d alert changes yet: %s", len(self._pending), e)
            self._conn = None
            return
        self._pending = []
        for row in rows:
            if row["change"] == "opened":
                self.raised += 1
            for sink in self.sinks:
                try:
                    await sink(row)
                except Exception:  # a sink's failure must not stop the analytics
                    log.exception("alert sink failed")

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


@dataclass
class Service:
    """Everything ``mda serve`` runs, given a database URL and sources."""

    settings: Settings
    url: str
    sources: list[SourceSpec]
    zone_files: list[str] = field(default_factory=list)
    web: bool = True
    on_ready: Callable[["Service"], Any] | None = None  # may be async
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
        return out

    def prepare(self) -> None:
        with connect_sync(self.url) as conn:
            applied, self.caps = upgrade(conn, retention_days=self.settings.retention_days)
        for line in self.caps.lines():
            log.info("database: %s", line)
        self.zones = load_zones(self.zone_files)
        self.zones_synced = False

    async def run(self) -> None:
        self.prepare()
        s = self.settings
        sinks: list = []
        if self.web:
            from web.live import LiveHub

            self.hub = LiveHub()
            sinks.append(self.hub.publish_alert)
        if s.mqtt_url:
            from .publisher import MqttPublisher

            self.publisher = MqttPublisher(s.mqtt_url, spool_dir=s.data_path / "spool-mqtt")
            sinks.append(self.publisher.publish_alert)
        from analytics import Analyzer

        analyzer = Analyzer(analytics_config(s), self.zones)
        self.alert_stage = AlertStage(analyzer, self.url, sinks)
        async with StoreWriter(self.url, spool_dir=s.data_path / "spool",
                               raw_archive=s.raw_archive) as writer:
            self.pipeline = Pipeline(s, writer, self.sources, analytics=self.alert_stage,
                                     listeners=[self.hub] if self.hub else [])
            try:
                async with asyncio.TaskGroup() as tg:
                    if self.web:
                        tg.create_task(self._serve_web(), name="web")
                    if self.publisher:
                        tg.create_task(self.publisher.run(), name="mqtt-publisher")
                    tg.create_task(self._retention_job(), name="retention")
                    tg.create_task(self._sync_zones(), name="zones-sync")
                    await self.pipeline.run()
                    await self.alert_stage.finish()
                    if not self.web:
                        raise _Done
                    # Finite feeds ended; keep serving the map until stopped.
            except* _Done:
                pass
            finally:
                await self.alert_stage.close()

    async def _serve_web(self) -> None:
        import uvicorn

        from web.app import create_app

        app = create_app(self.settings, self.url, hub=self.hub, status=self.status)
        config = uvicorn.Config(app, host=self.settings.http_host, port=self.settings.http_port,
                                log_level="warning", lifespan="on")
        self.web_server = uvicorn.Server(config)
        # The TaskGroup owns shutdown; uvicorn must not install its own signal handlers.
        self.web_server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        serve = asyncio.create_task(self.web_server.serve(), name="uvicorn")
        while not self.web_server.started:
            if serve.done():
                await serve  # raises why it could not start
                raise RuntimeError("web server stopped before it started")
            await asyncio.sleep(0.05)
        if self.on_ready:
            ready = self.on_ready(self)
            if asyncio.iscoroutine(ready):
                await ready
        try:
            await serve
        finally:
            self.web_server.should_exit = True

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
                        (z.name, z.kind, z.direction,
                         sorted(z.ship_types) if z.ship_types else None, z.severity, z.origin,
                         Jsonb(mapping(z.geometry)), Jsonb(z.properties)))
        self.zones_synced = True

    async def _retention_job(self) -> None:
        while True:
            try:
                with connect_sync(self.url) as conn:
                    removed = await asyncio.to_thread(
                        apply_retention, conn, self.caps,
                        retention_days=self.settings.retention_days,
                        raw_retention_days=self.settings.raw_retention_days)
                if any(removed.values()):
                    log.info("retention removed %s", removed)
            except Exception as e:
                log.warning("retention job: %s", e)
            await asyncio.sleep(3600)


class _Done(Exception):
    """Raised inside the TaskGroup to end a headless run once its finite feeds ended."""
