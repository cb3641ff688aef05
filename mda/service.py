"""``mda serve`` and ``mda demo`` at run time: every stage as a named task in one TaskGroup,
each run by one ``Supervisor`` (a stage that fails is logged and started again after a
back-off; the others go on; ``/healthz`` and ``/metrics`` show it).

feeds -> Pipeline -> StoreWriter (spool while the database is away, written on a timer)
                  -> AlertStage (Analyzer -> live hub, MQTT at once; alerts table)
                  -> live hub (latest positions)
web (uvicorn) reads the store and the hub; a retention job runs hourly.

Outages end by themselves: the writer's spool and the alert stage's waiting changes are
tried again on a timer (at most ``outage_retry_max_s`` apart) while anything waits, not
only when new data arrives; at a stop each gets one more try, and what still cannot be
written is kept on disk and written at the next start before any new data.
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
from datetime import UTC, datetime
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
from mda.store.retention import apply_retention, hold_source
from mda.store.shares import auto_share
from mda.store.spool import Spool, SpoolFull
from mda.store.writer import StoreWriter

from .errors import MdaError, SettingsError
from .pipeline import Pipeline
from .settings import Settings, SourceSpec
from .supervise import Supervisor

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
    """The MQTT publisher the settings ask for (``exchange.publish``), None without
    ``mqtt_url``; its alerts are the signed CloudEvents of the feeds, under the
    installation's source and key (as ``alert_feed``). A bad URL is a SettingsError naming
    the setting."""
    if not settings.mqtt_url:
        return None
    from mda.exchange.feeds import installation_source
    from mda.exchange.publish import BrokerUrlError, MqttPublisher
    from mda.exchange.signing import load_or_create_key

    try:
        return MqttPublisher(
            settings.mqtt_url,
            spool_dir=settings.data_path / "spool-mqtt",
            notices=settings.mqtt_notices,
            source=installation_source(settings.organisation),
            signing_key=load_or_create_key(settings.data_path),
        )
    except BrokerUrlError as e:
        raise SettingsError(f"mqtt_url {e.message}") from None


def alert_feed(settings: Settings, db_url: str):
    """The CloudEvents alert feeds on ``mqtt_url``'s broker (``mda/v1/...``): ours and each
    partner's (docs/asyncapi.yaml); ``source`` names the installation."""
    from mda.exchange.feeds import AlertFeed, installation_source
    from mda.exchange.signing import load_or_create_key

    return AlertFeed(
        settings.mqtt_url,
        source=installation_source(settings.organisation),
        signing_key=load_or_create_key(settings.data_path),  # every event signed
        db_url=db_url,
        spool_dir=settings.data_path / "spool-mqtt-feeds",
    )


class _Waiting:
    """An alert change waiting to be stored; ``announced`` once the sinks have had it
    marked not yet stored; ``arrived``: when (monotonic) the sentence it rests on arrived."""

    __slots__ = ("change", "announced", "arrived")

    def __init__(self, change, arrived: float | None = None) -> None:
        self.change = change
        self.announced = False
        self.arrived = arrived


_WIRE_CHANGE = {"opened": "opened", "closed": "ended"}  # analytics' change -> wire change


class AlertStage:
    """Runs the detectors over decoded batches; stores what they raise and hands the alerts
    to the sinks (live hub, MQTT).

    The detectors never wait for the database: their changes queue up (in order, bounded:
    past ``max_pending`` the oldest updates of still-open alerts are merged away, openings
    and endings are kept) and ``run()``, a task of its own, stores them: at once while the
    database answers, else on a timer (``Backoff(retry_initial, retry_max)``) until it
    returns, new alerts or not. While it is away, a new alert goes to the sinks at once,
    marked ``stored: false`` with a provisional (negative) id, as do the later changes of
    that episode; once stored, the stored row follows (``stored: true``, its real id).
    ``finish()`` (at a stop) tries once more; what still waits is kept in ``spool_dir``
    and stored by ``store_leftovers()`` at the next start.

    ``alert_seconds`` (the service's histogram, anything with ``observe``) is given, for
    each new alert, the seconds from the arrival of the last sentence it rests on (the
    batch's, by ``arrived()``, a callable the shell sets; else when the batch reached the
    stage) to its hand-over to the sinks; ``last_alert_at`` is when (Unix time)."""

    def __init__(
        self,
        analyzer,
        url: str,
        sinks: Sequence[Callable[[dict], Awaitable[None]]] = (),
        *,
        max_pending: int = 10_000,
        retry_initial: float = 0.5,
        retry_max: float = 5.0,
        spool_dir: Path | None = None,
        alert_seconds=None,
    ):
        self.analyzer = analyzer
        self.alert_seconds = alert_seconds
        self.arrived: Callable[[], float | None] | None = None
        self.last_alert_at: float | None = None
        self.url = url
        self.sinks = list(sinks)
        self.raised = 0
        self.refused = 0  # changes the database rejected as data (not an outage)
        self.announced = 0  # alerts pushed to the sinks before they were stored
        self.database_away = False
        self._conn: psycopg.AsyncConnection | None = None
        self._pending: list[_Waiting] = []
        self._max_pending = max_pending
        self._backoff = Backoff(retry_initial, retry_max)
        self._next_try = 0.0
        self._wake = asyncio.Event()
        self._provisional: dict[str, int] = {}  # episode key -> provisional id, until stored
        self._spool = Spool(spool_dir) if spool_dir else None
        self._store_lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def __call__(self, positions: list, statics: list) -> None:
        arrived = self.arrived() if self.arrived else None
        if arrived is None:
            arrived = time.monotonic()
        changes = self.analyzer.process(chain(statics, positions))
        if changes:
            await self._add(changes, arrived)

    async def _add(self, changes: list, arrived: float | None = None) -> None:
        items = [_Waiting(ch, arrived) for ch in changes]
        self._pending.extend(items)
        self._bound()
        if self.database_away:  # the desk and MQTT must not wait for the database
            await self._announce(items)
        self._wake.set()

    async def run(self) -> None:
        """Store what waits: at once while the database answers, else at the next try of
        the back-off. Runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            delay = self._next_try - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._wake.clear()
            if self._pending and not await self._store():
                self._wake.set()  # try again at the next step of the back-off

    async def finish(self) -> None:
        """At a stop: the detectors' last changes, one more try, and what still cannot be
        stored into the spool for the next start."""
        changes = self.analyzer.finish()
        if changes:
            await self._add(changes)
        if self._pending and not await self._store() and self._pending:
            if self._spool is None:
                log.error("alerts: %d changes could not be stored", len(self._pending))
                return
            try:
                self._spool.put(("alert-changes", [w.change for w in self._pending]))
            except SpoolFull as e:
                log.error("alerts: %d changes could not be stored: %s", len(self._pending), e)
                return
            log.warning(
                "alerts: %d changes kept in %s; stored at the next start",
                len(self._pending),
                self._spool.dir,
            )
            self._pending = []

    async def store_leftovers(self) -> int:
        """Store what an earlier run left in the spool (before anything new); how many
        changes. Raises StoreError when the database does not answer."""
        if self._spool is None:
            return 0
        n = 0
        while (item := self._spool.oldest()) is not None:
            path, (_, changes) = item
            if self._conn is None or self._conn.closed:
                self._conn = await connect(self.url)
            try:
                await save_changes(self._conn, changes)
            except psycopg.OperationalError as e:
                await self._drop_connection()
                raise StoreError(f"alerts left by the last run not stored: {e}") from None
            except psycopg.Error as e:
                log.error("alerts left by the last run refused: %s", e.diag.message_primary or e)
                self.refused += len(changes)
            self._spool.done(path)
            n += len(changes)
        if n:
            log.info("stored %d alert changes left by the last run", n)
        return n

    def _bound(self) -> None:
        if len(self._pending) <= self._max_pending:
            return
        # Keep the latest state of each alert and every opening and ending.
        latest: dict[str, int] = {}
        for i, w in enumerate(self._pending):
            latest[w.change.alert.key] = i
        self._pending = [
            w
            for i, w in enumerate(self._pending)
            if w.change.change != "updated" or latest[w.change.alert.key] == i
        ]

    async def _store(self) -> bool:
        """Store every waiting change; False when the database is away. One call at a time:
        ``run()`` and ``finish()`` share the connection (and its transactions)."""
        async with self._store_lock:
            return await self._store_waiting()

    async def _store_waiting(self) -> bool:
        batch = list(self._pending)
        loop = asyncio.get_running_loop()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await connect(self.url)
            rows = await save_changes(self._conn, [w.change for w in batch])
        except (psycopg.OperationalError, StoreError) as e:  # an outage: back off, keep them
            self._next_try = loop.time() + self._backoff.next_delay()
            if not self.database_away:
                log.warning(
                    "alerts: database unavailable (%s); alerts go to the desk and MQTT "
                    "marked not yet stored, and are stored when it returns",
                    e,
                )
            self.database_away = True
            log.info(
                "alerts: %d changes wait, next try in %.1f s",
                len(self._pending),
                self._next_try - loop.time(),
            )
            await self._drop_connection()
            await self._announce([w for w in batch if not w.announced])
            return False
        except psycopg.Error as e:  # refused as data: retrying would block every later alert
            self.refused += len(batch)
            log.error(
                "alerts: database refused %d changes: %s",
                len(batch),
                e.diag.message_primary or e,
            )
            self._forget(batch)
            return True
        if self.database_away:
            log.info("alerts: database is back; %d changes stored", len(batch))
        self.database_away = False
        self._backoff.reset()
        self._next_try = 0.0
        try:  # partners whose policy shares automatically (store/shares.py)
            await auto_share(self._conn, rows)
        except Exception:  # sharing must not stop the alerts; a later change retries
            log.exception("alerts: automatic sharing with partners failed")
        self._forget(batch)
        for w, row in zip(batch, rows):
            self._provisional.pop(w.change.alert.key, None)
            if row["change"] == "opened":
                self.raised += 1
            row["stored"] = True
            await self._deliver(row)
            if row["change"] == "opened" and not w.announced:
                self._handed(w)
        return True

    def _handed(self, w: _Waiting) -> None:
        """A new alert has reached the sinks: its latency, and when."""
        self.last_alert_at = time.time()
        if self.alert_seconds is not None and w.arrived is not None:
            self.alert_seconds.observe(max(0.0, time.monotonic() - w.arrived))

    def _forget(self, batch: list[_Waiting]) -> None:
        done = {id(w) for w in batch}
        self._pending = [w for w in self._pending if id(w) not in done]

    async def _announce(self, items: list[_Waiting]) -> None:
        """New alerts (and the later changes of those) to the sinks, not yet stored."""
        now = datetime.now(UTC)
        for w in items:
            ch = w.change
            a = ch.alert
            pid = self._provisional.get(a.key)
            if pid is None:
                if ch.change != "opened":
                    continue  # an episode stored before: its stored card stands meanwhile
                pid = self._provisional[a.key] = -(len(self._provisional) + 1 + self.announced)
            w.announced = True
            self.announced += 1
            await self._deliver(
                {
                    "id": pid,
                    "key": a.key,
                    "kind": a.kind,
                    "severity": a.severity,
                    "status": "open",
                    "mmsi": a.mmsi,
                    "other_mmsi": a.other_mmsi,
                    "start": _dt(a.start),
                    "end": _dt(a.end),
                    "lat": a.lat,
                    "lon": a.lon,
                    "zone": a.zone,
                    "details": a.details,
                    "created_at": None,
                    "updated_at": now,
                    "change": _WIRE_CHANGE.get(ch.change, "updated"),
                    "stored": False,
                }
            )
            if ch.change == "opened":
                self._handed(w)

    async def _deliver(self, row: dict) -> None:
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


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _telemetry():
    from mda.web.metrics import Telemetry

    return Telemetry()


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
    feed: Any = None  # the CloudEvents feeds (exchange/feeds.py), with mqtt_url
    partner_feeds: list = field(default_factory=list)  # exchange/partner_feed.py, subscribed
    web_server: Any = None
    writer: StoreWriter | None = None
    supervisor: Supervisor | None = None
    started: float = field(default_factory=time.time)
    # ``all`` (everything in this process) or one of the roles of mda/roles.py
    role: str = "all"
    core: Any = None  # the core role's leadership and batch loop (mda/roles.py)
    # a web process: node -> (monotonic time, the feeds' state an ingest process reported)
    remote_feeds: dict = field(default_factory=dict)
    # its histograms (write and alert latency) for /metrics: its own, never global state
    telemetry: Any = field(default_factory=lambda: _telemetry())
    # the hazards to the feeds as CloudEvents and CAP (exchange/hazard_feed.py), with mqtt_url
    hazard_feed: Any = field(default=None, repr=False)

    def status(self) -> dict:
        """Counters, feed and stage states for /healthz, /metrics and the map's feeds."""
        out: dict[str, Any] = {"uptime_s": time.time() - self.started, "feeds": []}
        if self.role != "all":
            from .roles import status as role_status

            out.update(role_status(self))
        else:
            out.update(role="all", leader=True)
        if self.pipeline:
            out.update(self.pipeline.stats())
            self.pipeline.update_kernel_drops()
            out["feeds"] = [f.as_dict() for f in self.pipeline.feeds.values()]
            out["lag"] = self.pipeline.lag()  # /metrics and the map's feed chips
        if self.partner_feeds:  # partners' alerts in: a chip each on the map, stale or not
            out["feeds"] = list(out["feeds"]) + [f.as_dict() for f in self.partner_feeds]
            # /metrics: mda_pipeline_partner_events_rejected_total{reason="<partner>:<reason>"}
            out["partner_events_rejected"] = {
                f"{f.partner}:{r}": n for f in self.partner_feeds for r, n in f.rejected.items()
            }
            out["partner_alerts_stored"] = sum(f.stored for f in self.partner_feeds)
            out["partner_events_duplicate"] = sum(f.duplicates for f in self.partner_feeds)
            # kept while the database is away, stored when it is back (a gauge)
            out["partner_events_waiting"] = sum(f.kept for f in self.partner_feeds)
        if self.settings.cap_topics:  # warnings not taken (exercises, tests, acks), by reason
            from .cap_feed import IGNORED

            out["cap_warnings_ignored"] = dict(IGNORED)
        if self.writer:
            out["database_connected"] = self.writer.online
        if self.alert_stage:
            out["alerts_raised"] = self.alert_stage.raised
            out["alerts_waiting"] = self.alert_stage.pending
            out["alerts_announced_unstored"] = self.alert_stage.announced
            out["last_alert_at"] = self.alert_stage.last_alert_at  # /metrics, mda status
        if self.publisher:
            out["mqtt_sent"] = self.publisher.sent
            out["mqtt_connected"] = self.publisher.connected
            out["mqtt_notices_skipped"] = self.publisher.notices_skipped
        if self.supervisor:
            out["stages"] = self.supervisor.as_dict()
        return out

    def prepare(self) -> None:
        """Before anything runs: the schema, the kept sources, the zones and the land mask
        (loaded now, not on first use: a stage must not fail later for want of a file)."""
        with connect_sync(self.url) as conn:
            _applied, self.caps = upgrade(conn, retention_days=self.settings.retention_days)
            for i, spec in enumerate(self.sources):
                if spec.keep:
                    hold_source(conn, Pipeline._name(spec, i), "keep = true in [[sources]]")
        for line in self.caps.lines():
            log.info("database: %s", line)
        if self.settings.cap_topics and not self.settings.mqtt_url:
            raise SettingsError("cap_topics needs mqtt_url: the broker the warnings come from")
        self.zones = load_zones(self.zone_files)
        self.zones_synced = False
        from mda.analytics.landmask import shared_land_mask

        shared_land_mask().cell_is_land(0, 0)  # loads it

    def _end_open_episodes(self) -> None:
        # The detectors start with no memory of earlier runs: episodes left open by the
        # last run are ended now, so none stays open for ever or rings twice.
        with connect_sync(self.url) as conn:
            ended = end_open_episodes(conn)
        if ended:
            log.info("ended %d alert episodes left open by the previous run", ended)

    def migrate(self) -> None:
        """The schema only (a web process: the core prepares the rest)."""
        with connect_sync(self.url) as conn:
            _applied, self.caps = upgrade(conn, retention_days=self.settings.retention_days)

    async def run(self) -> None:
        if self.role != "all":  # one role of several processes (mda/roles.py)
            from .roles import run_role

            await run_role(self)
            return
        self.prepare()
        s = self.settings
        self.supervisor = sup = Supervisor(restart_max=s.stage_restart_max_s)
        sinks: list = []
        if self.web:
            from mda.web.live import LiveHub

            self.hub = LiveHub.from_settings(s)
            sinks.append(self.hub.publish_alert)
        self.publisher = mqtt_publisher(s)
        if self.publisher:
            sinks.append(self.publisher.publish_alert)
            self.feed = alert_feed(s, self.url)
            sinks.append(self.feed.publish_alert)
        if s.partner_feeds:
            from mda.exchange.partner_feed import PartnerFeed

            self.partner_feeds = [
                PartnerFeed(
                    pf.url,
                    db_url=self.url,
                    partner=pf.partner,
                    source=pf.source,
                    ca_file=pf.ca_file,
                    spool_root=s.data_path,  # events kept here while the database is away
                    on_alert=self.hub.publish_alert if self.hub else None,
                    retry_max=s.outage_retry_max_s,
                )
                for pf in s.partner_feeds
            ]
        from mda.analytics import Analyzer

        analyzer = Analyzer(analytics_config(s), self.zones)
        await self._load_places(analyzer)
        await self._load_desk_lists(analyzer)
        self.alert_stage = AlertStage(
            analyzer,
            self.url,
            sinks,
            retry_max=s.outage_retry_max_s,
            spool_dir=s.data_path / "spool-alerts",
            alert_seconds=self.telemetry.alert_seconds,
        )
        # What the last run could not store goes first, then its episodes are ended.
        await self.alert_stage.store_leftovers()
        await asyncio.to_thread(self._end_open_episodes)
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        try:
            async with StoreWriter(
                self.url,
                spool_dir=s.data_path / "spool",
                raw_archive=s.raw_archive,
                retry_max=s.outage_retry_max_s,
                write_seconds=self.telemetry.write_seconds,
            ) as writer:  # writes what the last run left in the spool first
                self.writer = writer
                self.pipeline = Pipeline(
                    s,
                    writer,
                    self.sources,
                    analytics=self.alert_stage,
                    listeners=[self.hub] if self.hub else [],
                    supervisor=sup,
                )
                self.alert_stage.arrived = self.pipeline.analytics_arrived
                try:
                    async with asyncio.TaskGroup() as tg:
                        if self.web:
                            tg.create_task(self._serve_web(), name="web")
                        if self.publisher:
                            tg.create_task(
                                sup.run("mqtt", self.publisher.run), name="mqtt-publisher"
                            )
                        if self.feed:
                            tg.create_task(sup.run("mqtt-feeds", self.feed.run), name="mqtt-feeds")
                        for pf in self.partner_feeds:
                            tg.create_task(
                                sup.run(f"partner-feed-{pf.partner}", pf.run),
                                name=f"partner-feed-{pf.partner}",
                            )
                        tg.create_task(sup.run("spool", writer.run), name="store-spool")
                        tg.create_task(sup.run("alerts", self.alert_stage.run), name="alert-store")
                        tg.create_task(sup.run("retention", self._retention_job), name="retention")
                        tg.create_task(sup.run("zones-sync", self._sync_zones), name="zones-sync")
                        places = tg.create_task(
                            sup.run("places", lambda: self._places_job(analyzer)), name="places"
                        )
                        tg.create_task(
                            sup.run("desk", lambda: self._desk_job(analyzer)), name="desk-lists"
                        )
                        tg.create_task(
                            sup.run("hazards", lambda: self._hazards_job(analyzer)),
                            name="hazards-sync",
                        )
                        if s.cap_topics:
                            tg.create_task(sup.run("cap-feed", self._cap_feed), name="cap-feed")
                        if not self._stopping.is_set():  # a stop may come during start-up
                            await self.pipeline.run()  # returns when feeds end or on stop()
                        await self.alert_stage.finish()
                        if self.web and not self._stopping.is_set():
                            # Finite feeds ended; keep serving the map until stopped.
                            await self._stopping.wait()
                        places.cancel()
                        await self._save_places(analyzer)  # what this run learned last
                        # One more try for what waits in the spool; the rest stays there.
                        if not await writer.flush_spool(force=True):
                            log.warning(
                                "%d batches stay in the spool; they are written at the "
                                "next start, before new data",
                                writer.spool_pending,
                            )
                        if self.publisher:
                            await self.publisher.close()
                        if self.feed:
                            await self.feed.close()
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

    def _listen(self) -> socket.socket:
        host, port = self.settings.http_host, self.settings.http_port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # bound here, so a busy port is one clear line rather than uvicorn's exit
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise MdaError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        return sock

    async def _serve_web(self) -> None:
        """The web server, started again if it fails once it has started (a busy port at
        the start is an error of the whole service)."""
        from mda.web.app import create_app

        app = create_app(
            self.settings, self.url, hub=self.hub, status=self.status, telemetry=self.telemetry
        )
        app.state.feeds = self.pipeline.open_sources if self.pipeline else {}  # POST /api/ingest
        sock = self._listen()
        first = True

        async def serve() -> None:
            nonlocal first, sock
            if not first:
                sock = self._listen()
            await self._serve_web_once(app, sock, first)
            first = False

        await self.supervisor.run("web", serve)

    async def _serve_web_once(self, app, sock: socket.socket, first: bool) -> None:
        import uvicorn

        from mda.web.server import quiet_accept_exhaustion, server_config

        config = server_config(app, self.settings, log_level="warning")
        quiet_accept_exhaustion(asyncio.get_running_loop(), app.state.connection_guard)
        self.web_server = server = uvicorn.Server(config)
        # The service owns shutdown (stop()); uvicorn must not take SIGINT/SIGTERM for itself,
        # nor raise them again when it ends, or one signal would stop us twice.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        host, port = self.settings.http_host, self.settings.http_port
        serve = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
        try:
            while not server.started:
                if serve.done():
                    await serve
                    raise MdaError(f"web server on {host}:{port} stopped before it started")
                await asyncio.sleep(0.05)
            if first and self.on_ready:
                ready = self.on_ready(self)
                if asyncio.iscoroutine(ready):
                    await ready
            await asyncio.shield(serve)
            if not self._stopping.is_set():
                raise MdaError("the web server stopped")
        finally:
            # Let uvicorn close its connections and run the app's shutdown (the pool).
            server.should_exit = True
            try:
                await asyncio.wait_for(serve, 10)
            except (TimeoutError, asyncio.CancelledError, SystemExit):
                pass
            except Exception as e:
                log.warning("web server: %s", e)

    async def _sync_zones(self) -> None:
        """Copy the zones in use into the zones table, for the map's layers and for SQL
        (tried again, with the stage's back-off, until the database takes them)."""
        from psycopg.types.json import Jsonb
        from shapely.geometry import mapping

        async with await connect(self.url) as conn:
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

    async def _load_desk_lists(self, analyzer) -> None:
        """Hand the analytics the watch lists and the rule suspensions in force now (the
        shell's clock decides what is in force: an expired one is simply not passed)."""
        from mda.store.desk import suspensions_in_force, watch_entries

        try:
            async with await connect(self.url) as conn:
                entries = await watch_entries(conn)
                suspensions = await suspensions_in_force(conn)
        except (psycopg.Error, StoreError) as e:  # next time: the last lists stay in force
            log.warning("watch lists and suspensions not loaded: %s", e)
            return
        analyzer.set_watchlist(entries)
        analyzer.set_suspensions(suspensions)

    async def _desk_job(self, analyzer, every_s: float = 10.0) -> None:
        """Keep the analytics' watch lists and suspensions current (changes made on the
        desk apply within ``every_s``; a suspension expires by itself the same way)."""
        while True:
            await self._load_desk_lists(analyzer)
            await asyncio.sleep(every_s)

    async def _load_hazards(self, analyzer) -> None:
        """Hand the analytics the hazard areas in force now as zones of kind ``hazard``
        (zone_entry alerts for vessels inside); only when they changed."""
        from mda.analytics.hazards import as_zones
        from mda.store.hazards import hazards_in_force, to_hazard

        try:
            async with await connect(self.url) as conn:
                rows = await hazards_in_force(conn)
        except (psycopg.Error, StoreError) as e:  # next time: the last ones stay in force
            log.warning("hazard areas not loaded: %s", e)
            return
        seen = tuple((r["id"], r["updated_at"]) for r in rows)
        if seen == getattr(self, "_hazards_seen", ()):
            return
        self._hazards_seen = seen
        analyzer.set_hazard_zones(as_zones([to_hazard(r) for r in rows], time.time()))
        log.info("analytics: %d hazard areas in force", len(rows))

    async def _publish_hazards(self) -> None:
        """The hazards to the feeds (``self.feed``'s broker), each new, changed or ended one
        as a CloudEvent on ``mda/v1/hazards/<id>`` and CAP 1.2 (Alert, Update, Cancel) on
        ``mda/v1/hazards/<id>/cap``, and to the partners they were shared with; what was
        sent is in the database, so one that ended while the service was stopped is
        cancelled now (``exchange.hazard_feed``)."""
        if self.feed is None:
            return
        if self.hazard_feed is None:
            from mda.analytics.hazards import beacon_prefixes
            from mda.exchange.hazard_feed import HazardFeed

            self.hazard_feed = HazardFeed(
                self.feed,
                self.url,
                source=self.feed.source,
                sender=self.settings.organisation or "mda",
                horizon_h=self.settings.hazard_horizon_h,
                exclude_prefixes=beacon_prefixes(self.settings),  # as the API and the CLI
            )
        try:
            sent = await self.hazard_feed.sync()
        except (psycopg.Error, StoreError, OSError) as e:  # next round: nothing was lost
            log.warning("hazards not published: %s", e)
            return
        if sent:
            log.info("hazards to the feeds: %s", ", ".join(f"{k} {i}" for k, i in sent))

    async def _hazards_job(self, analyzer, every_s: float = 10.0, feed_s: float = 2.0) -> None:
        """Keep the analytics' hazard zones current (one added, ended or expired applies
        within ``every_s``) and the hazard feeds (a change or a share goes out within
        ``feed_s``)."""
        loaded = -every_s
        while True:
            if time.monotonic() - loaded >= every_s:
                loaded = time.monotonic()
                await self._load_hazards(analyzer)
            await self._publish_hazards()
            await asyncio.sleep(feed_s)

    async def _cap_feed(self) -> None:
        """CAP warnings from the MQTT topics of ``cap_topics`` become hazard areas."""
        from .cap_feed import run_cap_feed

        if not self.settings.mqtt_url:
            raise SettingsError("cap_topics needs mqtt_url: the broker the warnings come from")
        topics = [t.strip() for t in self.settings.cap_topics.split(",") if t.strip()]
        await run_cap_feed(
            self.settings.mqtt_url, topics, self.url, max_area=self.settings.hazard_max_area_deg2
        )

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
