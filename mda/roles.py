"""``mda serve --role ingest|core|web``: the service split into processes joined by the MQTT
broker and PostgreSQL (``--role all``, the default, is ``service.py``'s single process).

- **ingest** (any number): feeds -> decoder (``Pipeline``) -> each batch the store stage
  would write goes instead to ``<prefix>/records/<node>`` (QoS 1) in the binary format of
  ``ingest/wire.py``, with a batch id; spooled on disk while the broker is away. Nothing
  is sent before a core's persistent session exists (before it, the broker would drop the
  records: no one to queue them for): the batches wait in the same queue (``memory``
  batches in memory, the rest in the spool on disk; ``ingest_batches_waiting`` in the
  status) until the broker shows the retained ``<prefix>/live/core`` that a core publishes
  once subscribed under its session, on every connection (``IngestPublisher``). Every
  2 s its feeds' state goes to ``<prefix>/live/status/<node>`` for the web's feed chips
  (at once, past the queue, and only while connected).
- **core** (one leader, any number on standby): leadership is a PostgreSQL session advisory
  lock (``store/ha.py``) held on a connection of its own for the leader's lifetime; the
  standbys try for it every second. A leader that dies (SIGKILL) closes its connection and
  the server frees the lock: a standby takes it, rebuilds the analytics from the recent
  positions in the database (``takeover_replay_min``, replayed through the ``Analyzer``
  with the open alerts adopted, so an episode going on continues under its key and nothing
  already stored is raised again), seeds the cross-ingest de-duplication with the last
  seconds of positions, then connects to the broker under the installation's one client id
  (``mda-core-...``, persistent session: ``clean_session`` false) and so receives what
  the dead leader had not acknowledged, and what came meanwhile; once subscribed it
  publishes the retained ``<prefix>/live/core`` (its client id, node and time) that lets
  the ingest processes send. A batch is acknowledged (manual PUBACK) only once stored:
  redelivered, ``write_batch(batch_id=...)`` stores nothing twice and the analytics skip
  it (the replay saw it). The singleton jobs
  (retention, places, desk lists, hazards, zones, CAP feed, partner feeds) run on the
  leader only. Alerts go to the usual sinks (MQTT, the CloudEvents feeds) and, with the
  positions stored, to ``<prefix>/live/...`` for the web processes.
- **web** (any number): the API, the map and the WebSocket, fed live from
  ``<prefix>/live/#``: ``positions`` (QoS 1, the wire format), ``alerts`` (the core's),
  ``desk`` (an officer's acknowledgement or closing made on any web process, which
  publishes it; every other web process applies it to its hub) and ``status/<node>``
  (the ingest processes' feeds, shown while they report).

``live/alerts`` and ``live/desk`` are plumbing between our own processes, not an alert
feed: they carry the alert row (``{"origin", "alert": AlertMessage.to_dict() with stored
and change}``) from which the web process's hub makes its WebSocket frames, signed
CloudEvent and desk fields (``web/live.py``). The alert feeds, whose one wire format is
the signed CloudEvent (``exchange.feeds.alert_cloudevent``), are ``<prefix>/alerts/<kind>``
(``exchange/publish.py``) and ``mda/v1/...`` (``exchange/feeds.py``), published by the
leading core.

Why MQTT rather than PostgreSQL ``LISTEN/NOTIFY`` for the web's live updates: the broker
already carries ingest -> core and is built for fan-out to many subscribers; NOTIFY would
put the whole position stream through the database's single notification queue (8 GB at
most, shared by every database of the server, payloads under 8 kB, and a listener that
falls behind holds up its truncation), on the engine the writes depend on; and a web
process would need a database connection held per LISTEN.

What the idempotence and the de-duplication cost (``tests/bench/bench_roles.py``, 2 cores
shared, load average 4): the batch id is one ``write_batches`` row per batch, no
difference beyond the run-to-run noise in the store's rate (100,000 positions with their
raw sentences in batches of 5,000: 31,800/s without, 33,800/s with); the cross-ingest
de-duplication takes about 1 µs a position (940,000/s).

Broker settings this needs (``deploy/mosquitto``): ``max_queued_messages`` large enough for
the batches that arrive while no core is connected (a takeover takes a few seconds), and
persistence on, if the core's session must survive a restart of the broker itself (the
retained ``live/core`` goes with it: without persistence both are lost together, and the
ingest processes hold their records again until a core subscribes again). No
``persistent_client_expiration`` shorter than a core can be away: the retained
``live/core`` would outlive the session it stands for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import aiomqtt
import psycopg

from mda.exchange.publish import BrokerUrlError, MqttPublisher
from mda.ingest.backoff import Backoff
from mda.ingest.records import PositionReport
from mda.ingest.wire import WireBatch, WireError, decode_batch, encode_batch
from mda.store.alerts import alert_message
from mda.store.db import connect
from mda.store.errors import StoreError
from mda.store.writer import write_batch

from .errors import SettingsError

__all__ = ["ROLES", "run_role", "CrossDedupe", "IngestPublisher", "RecordSender", "node_name"]

log = logging.getLogger(__name__)

ROLES = ("all", "ingest", "core", "web")
CORE_TOPIC = "live/core"  # retained, under the prefix: a core's persistent session exists


def node_name() -> str:
    """This process in topics and logs: host and pid (characters MQTT topics allow)."""
    return _topic_safe(f"{socket.gethostname()}-{os.getpid()}")


def _topic_safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in s) or "-"


def _publisher(service, spool: str, memory: int = 1000, *, alerts: bool = False, cls=None):
    """The role's MQTT publisher; ``alerts``: it publishes the alerts (the core), as the
    installation's signed CloudEvents (``service.mqtt_publisher``)."""
    s = service.settings
    if not s.mqtt_url:
        raise SettingsError(
            f"--role {service.role} needs mqtt_url: the broker that joins the roles"
        )
    signing: dict[str, Any] = {}
    if alerts:
        from mda.exchange.feeds import installation_source
        from mda.exchange.signing import load_or_create_key

        signing = {
            "source": installation_source(s.organisation),
            "signing_key": load_or_create_key(s.data_path),
        }
    try:
        return (cls or MqttPublisher)(
            s.mqtt_url,
            spool_dir=s.data_path / spool,
            notices=s.mqtt_notices,
            memory=memory,
            **signing,
        )
    except BrokerUrlError as e:
        raise SettingsError(f"mqtt_url {e.message}") from None


def _mqtt_client(pub, **kw) -> aiomqtt.Client:
    return aiomqtt.Client(pub.host, pub.port, username=pub.username, password=pub.password, **kw)


# ------------------------------------------------------------------------------ ingest


class IngestPublisher(MqttPublisher):
    """The ingest role's publisher: what it queues is sent only once the broker has shown
    it, on this connection, the retained ``<prefix>/live/core`` a core publishes once it
    is subscribed under the installation's persistent session. Until then the records
    wait in the queue (memory, then the spool on disk; ``waiting``): published before any
    core's session exists, the broker would drop them. Checked again on every
    connection: a broker restarted without persistence has lost both the session and the
    retained message, and the core publishes it again when it subscribes again."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.core_seen = asyncio.Event()
        self.core: dict | None = None  # what the last core said of itself

    @property
    def core_topic(self) -> str:
        return f"{self.prefix}/{CORE_TOPIC}"

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        self.core_seen.clear()
        await client.subscribe(self.core_topic, qos=1)

    def _on_message(self, message: aiomqtt.Message) -> None:
        if str(message.topic) != self.core_topic or not message.payload:
            return  # an empty payload clears a retained message: no core then
        try:
            core = json.loads(bytes(message.payload))
        except ValueError:
            log.warning("ingest: %s is not JSON; ignored", self.core_topic)
            return
        self.core = core if isinstance(core, dict) else {}
        if not self.core_seen.is_set():
            log.info(
                "ingest: a core's session is there (%s); sending records",
                self.core.get("client_id"),
            )
        self.core_seen.set()

    async def _send(self, client: aiomqtt.Client) -> None:
        if not self.core_seen.is_set():
            log.info("ingest: records wait until a core has subscribed (%s)", self.core_topic)
            await self.core_seen.wait()
        await super()._send(client)


class _SenderStats:
    def __init__(self) -> None:
        self.batches = 0
        self.positions = 0
        self.statics = 0
        self.raw = 0

    def as_dict(self) -> dict:
        return {
            "batches_sent": self.batches,
            "positions_sent": self.positions,
            "statics_sent": self.statics,
            "raw_sent": self.raw,
        }


class RecordSender:
    """The ingest role's stand-in for the store writer: ``write`` turns a batch into one
    MQTT message on ``<prefix>/records/<node>`` with a new batch id, in order, spooled on
    disk while the broker is away (``MqttPublisher``)."""

    def __init__(self, publisher, node: str, *, raw_archive: bool = True):
        self.publisher = publisher
        self.node = node
        self.instance = f"{node}-{uuid.uuid4().hex[:8]}"
        self.raw_archive = raw_archive
        self.stats = _SenderStats()

    @property
    def online(self) -> bool:
        return bool(self.publisher.connected)

    async def write(self, positions, statics, raw) -> bool:
        if not self.raw_archive:
            raw = ()
        batch = WireBatch(
            uuid.uuid4(), self.instance, self.node, list(positions), list(statics), list(raw)
        )
        await self.publisher.publish_message(f"records/{self.node}", encode_batch(batch))
        st = self.stats
        st.batches += 1
        st.positions += len(batch.positions)
        st.statics += len(batch.statics)
        st.raw += len(batch.raw)
        return True


# ------------------------------------------------------------------------------ core


class CrossDedupe:
    """The same position delivered by two ingest processes (two receivers of one feed, or
    two readers of the same feed) is stored once: a position whose values (MMSI, type,
    position, speed, course, heading, status) were seen from *another* ingest process
    within ``window`` seconds of event time is a copy. Bounded: entries leave ``2 x
    window`` behind the newest event time, or oldest first past ``max_entries``. After a
    takeover it is seeded from the database's last records (as from an ingest called
    ``db``), so a copy straddling the takeover is not stored twice.

    ``key`` says what makes two records the same (by default a position's values); the
    raw archive's lines use ``raw_key``: the receiver and the line as received (two
    readers of one feed archive it once; two receivers that heard the same ship each keep
    their line, as in one process)."""

    def __init__(self, window: float = 10.0, max_entries: int = 500_000, key=None):
        self.window = window
        self._key = key or self._position_key
        self.max_entries = max_entries
        self.seen: OrderedDict[tuple, tuple[float, str]] = OrderedDict()
        self.newest = float("-inf")
        self.dropped = 0

    @staticmethod
    def _position_key(p: PositionReport) -> tuple:
        return (p.mmsi, p.msg_type, p.lat, p.lon, p.sog, p.cog, p.heading, p.nav_status)

    @staticmethod
    def raw_key(r) -> tuple:
        return (r.source, r.line)

    def filter(self, instance: str, positions: Sequence) -> list:
        if self.window <= 0:
            return list(positions)
        seen, window, key = self.seen, self.window, self._key
        out = []
        for p in positions:
            k = key(p)
            e = seen.get(k)
            if e is not None and e[1] != instance and abs(p.ts - e[0]) <= window:
                self.dropped += 1
                continue
            seen[k] = (p.ts, instance)
            seen.move_to_end(k)
            if p.ts > self.newest:
                self.newest = p.ts
            out.append(p)
        self._prune()
        return out

    def seed(self, positions: Sequence[PositionReport]) -> None:
        self.filter("db", positions)

    def _prune(self) -> None:
        seen = self.seen
        limit = self.newest - 2 * self.window
        while seen:
            k, (ts, _) = next(iter(seen.items()))
            if ts >= limit and len(seen) <= self.max_entries:
                break
            del seen[k]


class Core:
    """The core role's leadership, takeover and batch loop (see the module docstring)."""

    def __init__(self, service, poll_s: float = 1.0):
        self.service = service
        s = service.settings
        self.poll_s = poll_s
        self.leader = False
        self.state = "starting"  # standby, rebuilding (leader, not yet receiving), leading
        self.took_over_at: float | None = None
        self.dedupe = CrossDedupe(s.dedupe_window_s)
        self.dedupe_raw = CrossDedupe(s.dedupe_window_s, key=CrossDedupe.raw_key)
        self.counters = {
            "core_batches_stored": 0,
            "core_batches_repeated": 0,  # redelivered: already stored, stored nothing
            "core_batches_refused": 0,  # damaged, or refused by the database as data
            "core_positions_stored": 0,
            "core_positions_duplicate": 0,  # copies from another ingest process
            "core_takeovers": 0,
            "core_replayed_positions": 0,
            "core_replay_alerts_stored": 0,  # changes the replay found not stored before
        }
        self.replay_seconds: float | None = None
        self._conn: psycopg.AsyncConnection | None = None

    def status(self) -> dict:
        out = dict(self.counters)
        out["core_state"] = self.state
        out["core_positions_duplicate"] = self.dedupe.dropped
        out["core_raw_duplicate"] = self.dedupe_raw.dropped
        if self.replay_seconds is not None:
            out["core_replay_seconds"] = round(self.replay_seconds, 3)
        return out

    # -- leadership ---------------------------------------------------------------------
    async def run(self) -> None:
        """Stand by until the lock is ours, lead until it is lost or we stop; again."""
        from mda.store.ha import guard_lock_session, try_lead

        svc = self.service
        while not svc._stopping.is_set():
            try:
                lock = await connect(svc.url, autocommit=True)
                await guard_lock_session(lock)  # a machine lost, not only a process
            except StoreError as e:
                log.warning("core: database unavailable (%s); trying again", e)
                await _sleep_or_stop(svc._stopping, 2.0)
                continue
            try:
                announced = False
                while not svc._stopping.is_set():
                    if await try_lead(lock):
                        break
                    self.state = "standby"
                    if not announced:
                        log.info("core: standing by (another core leads)")
                        announced = True
                    await _sleep_or_stop(svc._stopping, self.poll_s)
                else:
                    return
                self.leader = True
                self.state = "rebuilding"
                self.counters["core_takeovers"] += 1
                self.took_over_at = time.time()
                log.info("core: leading")
                try:
                    await self._lead(lock)
                except* (psycopg.OperationalError, StoreError, _LeadLost) as eg:
                    log.error("core: leadership lost (%s); standing by again", eg.exceptions[0])
                finally:
                    self.leader = False
                    self.state = "standby"
            except psycopg.OperationalError as e:
                log.error("core: database connection lost (%s); standing by again", e)
            finally:
                try:
                    await lock.close()
                except Exception:  # a dead connection; nothing to close
                    pass

    async def _watch_lock(self, lock) -> None:
        from mda.store.ha import holds_lead

        while True:
            await asyncio.sleep(self.poll_s)
            try:
                held = await asyncio.wait_for(holds_lead(lock), 5)
            except (psycopg.Error, TimeoutError) as e:
                raise _LeadLost(f"lock connection failed: {e}") from None
            if not held:
                raise _LeadLost("the lock is no longer held")

    async def _lead(self, lock) -> None:
        from mda.analytics import Analyzer

        from .service import AlertStage, alert_feed

        svc = self.service
        s = svc.settings
        sup = svc.supervisor
        svc.publisher = pub = _publisher(svc, "spool-mqtt-core", alerts=True)
        sinks = [pub.publish_alert, self._live_alert]
        svc.feed = alert_feed(s, svc.url)
        sinks.append(svc.feed.publish_alert)
        analyzer = Analyzer(s.analytics, svc.zones)
        await svc._load_places(analyzer)
        await svc._load_desk_lists(analyzer)
        await svc._load_hazards(analyzer)
        svc.alert_stage = stage = AlertStage(
            analyzer,
            svc.url,
            sinks,
            retry_max=s.outage_retry_max_s,
            spool_dir=s.data_path / "spool-alerts",
            alert_seconds=svc.telemetry.alert_seconds,  # from the batch's arrival here
        )
        await stage.store_leftovers()
        await self._rebuild(analyzer, stage)  # not end_open_episodes: they go on
        partner_feeds = []
        if s.partner_feeds:
            from mda.exchange.partner_feed import PartnerFeed

            partner_feeds = [
                PartnerFeed(
                    pf.url,
                    db_url=svc.url,
                    partner=pf.partner,
                    source=pf.source,
                    ca_file=pf.ca_file,
                    spool_root=s.data_path,  # events kept here while the database is away
                    on_alert=self._live_alert,
                    retry_max=s.outage_retry_max_s,
                )
                for pf in s.partner_feeds
            ]
            svc.partner_feeds = partner_feeds
        self.state = "leading"
        stop = asyncio.create_task(svc._stopping.wait(), name="core-stop")
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._watch_lock(lock), name="core-lock"),
                    tg.create_task(sup.run("mqtt", pub.run), name="mqtt-publisher"),
                    tg.create_task(sup.run("mqtt-feeds", svc.feed.run), name="mqtt-feeds"),
                    tg.create_task(sup.run("alerts", stage.run), name="alert-store"),
                    tg.create_task(sup.run("records", self._consume), name="core-records"),
                    tg.create_task(sup.run("retention", svc._retention_job), name="retention"),
                    tg.create_task(sup.run("zones-sync", svc._sync_zones), name="zones-sync"),
                    tg.create_task(
                        sup.run("places", lambda: svc._places_job(analyzer)), name="places"
                    ),
                    tg.create_task(
                        sup.run("desk", lambda: svc._desk_job(analyzer)), name="desk-lists"
                    ),
                    tg.create_task(
                        sup.run("hazards", lambda: svc._hazards_job(analyzer)),
                        name="hazards-sync",
                    ),
                ]
                if s.cap_topics:
                    tasks.append(
                        tg.create_task(sup.run("cap-feed", svc._cap_feed), name="cap-feed")
                    )
                for pf in partner_feeds:
                    tasks.append(
                        tg.create_task(
                            sup.run(f"partner-feed-{pf.partner}", pf.run),
                            name=f"partner-feed-{pf.partner}",
                        )
                    )
                await stop
                # An orderly stop: what the consumer holds is not acknowledged (the next
                # leader gets it again); the alerts' last changes are stored or spooled.
                for t in tasks:
                    if t.get_name() not in ("mqtt-publisher", "mqtt-feeds", "alert-store"):
                        t.cancel()
                await stage.finish()
                await svc._save_places(analyzer)
                await pub.close()
                await svc.feed.close()
                for t in tasks:
                    t.cancel()
        except* asyncio.CancelledError:
            if not svc._stopping.is_set():
                raise
        finally:
            stop.cancel()
            await stage.close()
            if self._conn is not None:
                conn, self._conn = self._conn, None
                try:
                    await conn.close()
                except Exception:  # closing a dead connection may fail
                    pass

    # -- takeover -----------------------------------------------------------------------
    async def _rebuild(self, analyzer, stage) -> None:
        """The analytics' state from the recent positions (see the module docstring)."""
        from mda.analytics.alerts import Alert
        from mda.store.ha import (
            alerts_to_adopt,
            existing_keys,
            latest_position_time,
            recent_positions,
            recent_raw,
            recent_statics,
        )

        s = self.service.settings
        t0 = time.perf_counter()
        async with await connect(self.service.url) as conn:
            latest = await latest_position_time(conn)
            if latest is None:
                self.replay_seconds = time.perf_counter() - t0
                return
            since = latest - s.takeover_replay_min * 60.0
            rows = await alerts_to_adopt(conn, since - analyzer.config.cooldown_min * 60.0)
            await conn.rollback()
            analyzer.adopt_alerts(
                [
                    Alert(
                        key=r["key"],
                        kind=r["kind"],
                        severity=r["severity"],
                        mmsi=r["mmsi"],
                        other_mmsi=r["other_mmsi"],
                        start=r["start"],
                        end=r["end"],
                        lat=r["lat"],
                        lon=r["lon"],
                        zone=r["zone"],
                        details=r["details"] or {},
                    )
                    for r in rows
                ]
            )
            changes = analyzer.process(await recent_statics(conn, since))
            await conn.rollback()
            n = 0
            seed_from = latest - 2 * s.dedupe_window_s
            async for chunk in recent_positions(conn, since):
                n += len(chunk)
                changes += await asyncio.to_thread(analyzer.process, chunk)
                if chunk[-1].ts >= seed_from:
                    self.dedupe.seed([p for p in chunk if p.ts >= seed_from])
            if s.raw_archive:
                self.dedupe_raw.seed(await recent_raw(conn, seed_from))
            keys = list({c.alert.key for c in changes})
            known = await existing_keys(conn, keys) if keys else set()
        # What the replay raised that the store does not have: the dead leader stored the
        # positions but not yet the alert. The rest is already stored (same keys), except
        # an ending (or a reopening) the dead leader had not stored yet: the latest state
        # of such an alert is stored too.
        new = [c for c in changes if c.alert.key not in known]
        stored_end = {r["key"]: r["end"] for r in rows}
        last = {c.alert.key: c for c in changes if c.alert.key in stored_end}
        new += [c for k, c in last.items() if (c.alert.end is None) != (stored_end[k] is None)]
        if new:
            await stage._add(new)
        self.counters["core_replayed_positions"] += n
        self.counters["core_replay_alerts_stored"] += len(new)
        self.replay_seconds = time.perf_counter() - t0
        log.info(
            "core: took over: %d positions of the last %g min replayed in %.1f s, %d open "
            "alerts adopted (%d not seen again yet), %d alert changes the last leader had "
            "not stored",
            n,
            s.takeover_replay_min,
            self.replay_seconds,
            len(rows),
            analyzer.book.adopted_waiting,
            len(new),
        )

    # -- batches --------------------------------------------------------------------------
    async def _consume(self) -> None:
        """The records from the ingest processes, under the installation's persistent
        session; each acknowledged once stored (then analysed and sent to the web)."""
        svc = self.service
        pub = svc.publisher
        client = _mqtt_client(
            pub,
            identifier=core_client_id(svc.settings, pub.prefix),
            clean_session=False,
            max_queued_incoming_messages=1000,
        )
        # PUBACK once stored, not on receipt (paho's manual acknowledgement: aiomqtt 2
        # does not expose it, its paho client does).
        client._client.manual_ack_set(True)
        async with client:
            await client.subscribe(f"{pub.prefix}/records/#", qos=1)
            # Our session exists now: the ingest processes may send (IngestPublisher).
            here = {"client_id": client.identifier, "node": node_name(), "time": time.time()}
            await client.publish(
                f"{pub.prefix}/{CORE_TOPIC}", json.dumps(here).encode(), qos=1, retain=True
            )
            log.info("core: receiving records on %s/records/#", pub.prefix)
            async for message in client.messages:
                await self._handle(message.payload)
                client._client.ack(message.mid, message.qos)

    async def _handle(self, payload) -> None:
        svc = self.service
        try:
            batch = decode_batch(bytes(payload))
        except WireError as e:
            self.counters["core_batches_refused"] += 1
            log.error("core: a batch of records refused: %s", e)
            return
        positions = self.dedupe.filter(batch.instance, batch.positions)
        raw = self.dedupe_raw.filter(batch.instance, batch.raw) if svc.settings.raw_archive else []
        backoff = Backoff(0.5, svc.settings.outage_retry_max_s)
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await connect(svc.url)
                began = time.perf_counter()
                stored = await write_batch(self._conn, positions, batch.statics, raw, batch.id)
                svc.telemetry.write_seconds.observe(time.perf_counter() - began)
                break
            except (psycopg.OperationalError, StoreError) as e:
                # The database is away: this batch waits (unacknowledged; the broker keeps
                # the rest) and is written when it returns.
                log.warning("core: database unavailable (%s); batch waits", e)
                self._conn = None
                await asyncio.sleep(backoff.next_delay())
            except psycopg.Error as e:
                self.counters["core_batches_refused"] += 1
                log.error("core: database refused a batch: %s", e.diag.message_primary or e)
                return
        if not stored:
            self.counters["core_batches_repeated"] += 1
            return
        self.counters["core_batches_stored"] += 1
        self.counters["core_positions_stored"] += len(positions)
        if positions or batch.statics:
            await svc.alert_stage(positions, batch.statics)
            live = WireBatch(batch.id, batch.instance, batch.source, positions, batch.statics)
            await svc.publisher.publish_message("live/positions", encode_batch(live))

    async def _live_alert(self, row) -> None:
        """An alert change to the web processes (``<prefix>/live/alerts``)."""
        await self.service.publisher.publish_message("live/alerts", _alert_payload(row))


def core_client_id(settings, prefix: str) -> str:
    """The one MQTT client id of every core of an installation: the standby that takes
    over resumes the leader's session (what it had not acknowledged, what came since)."""
    org = settings.organisation or "mda"
    return _topic_safe(f"mda-core-{org}-{prefix}")[:200]


def _alert_payload(row, origin: str = "") -> bytes:
    message = alert_message(row)
    return json.dumps(
        {
            "origin": origin,
            "alert": {**message.to_dict(), "stored": message.stored, "change": message.change},
        },
        separators=(",", ":"),
    ).encode()


_TIMES = ("start", "end", "created_at", "updated_at", "acknowledged_at", "closed_at")


def _row_of(alert: dict) -> dict:
    """An alert row again from ``_alert_payload``'s JSON: its times as datetimes."""
    from datetime import datetime

    for k in _TIMES:
        v = alert.get(k)
        if isinstance(v, str):
            alert[k] = datetime.fromisoformat(v)
    return alert


class _LeadLost(Exception):
    pass


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        pass


# ------------------------------------------------------------------------------ web


def _relay_hub(settings, publish):
    """A LiveHub whose ``publish_alert`` (what the routes call after an acknowledgement
    or a closing) also tells the other web processes; ``apply`` pushes one that came
    from elsewhere to this process's browsers only."""
    from mda.web.live import LiveHub

    class RelayHub(LiveHub):
        async def publish_alert(self, row) -> None:
            await super().publish_alert(row)
            await publish(row)

        async def apply(self, row) -> None:
            await LiveHub.publish_alert(self, row)

    return RelayHub.from_settings(settings)


async def _web_live(service, node: str) -> None:
    """Apply what the core and the other web processes publish on ``<prefix>/live/#``."""
    pub = service.publisher
    hub = service.hub
    prefix = pub.prefix
    async with _mqtt_client(pub, identifier=f"mda-web-{node}", clean_session=True) as client:
        await client.subscribe(f"{prefix}/live/#", qos=1)
        log.info("web: live updates from %s/live/#", prefix)
        async for message in client.messages:
            topic = str(message.topic)
            try:
                if topic.endswith("/live/positions"):
                    batch = decode_batch(bytes(message.payload))
                    hub.on_batch(batch.positions, batch.statics)
                elif topic.endswith(f"/{CORE_TOPIC}"):
                    continue  # for the ingest processes
                elif "/live/status/" in topic:
                    msg = json.loads(bytes(message.payload))
                    service.remote_feeds[str(msg["node"])] = (time.monotonic(), msg)
                else:
                    msg = json.loads(bytes(message.payload))
                    if topic.endswith("/live/desk") and msg.get("origin") == node:
                        continue  # ours: already pushed here
                    await hub.apply(_row_of(msg["alert"]))
            except (WireError, ValueError, KeyError, TypeError) as e:
                log.warning("web: live update on %s refused: %s", topic, e)


# ------------------------------------------------------------------------------ running


async def run_role(service) -> None:
    """``Service.run`` for a role other than ``all``."""
    s = service.settings
    role = service.role
    if role not in ROLES:
        raise SettingsError(f"role: unknown {role!r}; one of {', '.join(ROLES)}")
    from .supervise import Supervisor

    service.supervisor = sup = Supervisor(restart_max=s.stage_restart_max_s)
    service._stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, service.stop)
    node = node_name()
    try:
        if role == "ingest":
            await _run_ingest(service, sup, node)
        elif role == "core":
            await asyncio.to_thread(service.prepare)
            service.core = core = Core(service)
            async with asyncio.TaskGroup() as tg:
                web = tg.create_task(service._serve_web(), name="web") if service.web else None
                await core.run()
                if web:
                    web.cancel()
        else:
            await asyncio.to_thread(service.migrate)
            service.publisher = pub = _publisher(service, "spool-mqtt-web")

            async def desk(row) -> None:
                await pub.publish_message("live/desk", _alert_payload(row, node))

            service.hub = _relay_hub(s, desk)
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(service._serve_web(), name="web"),
                    tg.create_task(sup.run("mqtt", pub.run), name="mqtt-publisher"),
                    tg.create_task(
                        sup.run("live", lambda: _web_live(service, node)), name="web-live"
                    ),
                ]
                await service._stopping.wait()
                await pub.close()
                for t in tasks:
                    t.cancel()
    except* asyncio.CancelledError:
        if not service._stopping.is_set():
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _ingest_status(service, node: str, every_s: float = 2.0) -> None:
    """The feeds' state to the web processes (their map's feed chips), every ``every_s``
    while the broker is there (a status is worth nothing later: never spooled)."""
    pub, pipeline = service.publisher, service.pipeline
    while True:
        await asyncio.sleep(every_s)
        if not pub.connected:
            continue
        payload = {
            "node": node,
            "feeds": [f.as_dict() for f in pipeline.feeds.values()],
            "lag": pipeline.lag(),
        }
        # Past the queue: records held for a core must not hold the feeds' chips back.
        await pub.publish_now(f"live/status/{node}", json.dumps(payload).encode())


async def _run_ingest(service, sup, node: str) -> None:
    from .pipeline import Pipeline

    s = service.settings
    service.publisher = pub = _publisher(service, "spool-ingest", memory=200, cls=IngestPublisher)
    sender = RecordSender(pub, node, raw_archive=s.raw_archive)
    service.pipeline = Pipeline(s, sender, service.sources, supervisor=sup)
    async with asyncio.TaskGroup() as tg:
        web = tg.create_task(service._serve_web(), name="web") if service.web else None
        mqtt = tg.create_task(sup.run("mqtt", pub.run), name="mqtt-publisher")
        relay = tg.create_task(
            sup.run("status-relay", lambda: _ingest_status(service, node)), name="status-relay"
        )
        if not service._stopping.is_set():
            await service.pipeline.run()  # until the feeds end or stop()
        await pub.close(timeout=10.0)  # what the broker has not taken waits in the spool
        if service.web and not service._stopping.is_set():
            await service._stopping.wait()
        mqtt.cancel()
        relay.cancel()
        if web:
            web.cancel()


def status(service) -> dict[str, Any]:
    """The role's own part of ``Service.status()``."""
    out: dict[str, Any] = {"role": service.role}
    core = getattr(service, "core", None)
    if service.role == "core":
        out["leader"] = bool(core and core.leader)
        if core is not None:
            out.update(core.status())
    else:
        out["leader"] = service.role == "all"
    pub = getattr(service, "publisher", None)
    if service.role == "ingest" and isinstance(pub, IngestPublisher):
        # Batches not yet taken by the broker (memory and spool): held while no core's
        # session is known, or while the broker is away.
        out["ingest_batches_waiting"] = pub.waiting
        out["ingest_core_seen"] = pub.core_seen.is_set()
    if service.role == "web":
        # The ingest processes' feeds, as they last reported them (within 10 s).
        now = time.monotonic()
        fresh = [m for t, m in getattr(service, "remote_feeds", {}).values() if now - t < 10]
        out["feeds"] = [dict(f, node=m["node"]) for m in fresh for f in m["feeds"]]
        out["lag"] = {
            f"{m['node']}:{stage}": v for m in fresh for stage, v in (m.get("lag") or {}).items()
        }
    return out
