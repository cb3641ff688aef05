"""Partners' alerts in: a subscriber to a partner's CloudEvents feed (the events
``exchange/feeds.py`` publishes, docs/asyncapi.yaml), received on the partner's broker with
the account it gave us (aiomqtt, QoS 1), usually ``mda/v1/partners/<our name>/#``.

Each event is checked (``check_event``, pure) before anything is stored: at most
``max_bytes``, JSON, CloudEvents 1.0 with an ``id``, ``type`` ``org.mda.alert.<kind>.v1``,
``source`` the one expected of this partner (``urn:mda:<partner>`` unless configured) and
``data`` a GeoJSON Feature with the alert's kind, a desk severity, a status and a start.
A rejected event is counted by reason (``rejected``) and logged with its origin (partner,
broker, topic, the event's id and source when it has them), never stored; nothing a
partner sends stops the subscriber. The events of a partner that is not in our partners
table, or is disabled, are rejected too (``unknown_partner``).

Every event must be signed by the partner (``verify_event``; the signature is made by
``exchange.feeds.sign_event``): ``mdasig``, an Ed25519 signature of the canonical event,
by the key whose fingerprint is ``mdakeyid``, which must be the partner's public key on
file here (``mda partner key``). Refused: an event without a signature (``unsigned``),
signed by another key (``unknown-key``), or whose signature does not verify
(``bad-signature``); and every event of a partner with no key on file (``no-key``: secure
by default, said once in the log).

``mqtts://`` connects with TLS, the broker's certificate checked against ``ca_file`` (or
the system's CAs) and its name. While our database is away, the events received are kept
in order (``spool_root``: on disk, in ``spool-partner-<partner>-<id>``; else in memory; at
most ``max_kept``) and stored when it returns; only past that bound is one lost
(``database``).

An accepted event is stored (``store.partner_alerts``), once per event id, as an alert
marked with the partner's name and country, read-only on our desk; ``on_alert`` (the live
hub) gets the stored row. A broker that goes away is retried with back-off; the feed is
``stale`` while it is away, and while the partner's retained status topic
(``mda/v1/status`` next to the feed) says ``offline``: ``as_dict`` is the map's feed chip."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
import socket
import ssl
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import aiomqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mda.ingest.backoff import Backoff
from mda.store.alerts import DESK_SEVERITIES
from mda.store.spool import Spool, SpoolFull

from .errors import ExchangeError
from .feeds import KEYID_ATTR, SIGNATURE_ATTR, canonical_event
from .publish import BrokerUrlError
from .signing import parse_public_key, verify_signature

__all__ = [
    "BadEvent",
    "check_event",
    "verify_event",
    "parse_feed_url",
    "PartnerFeed",
    "MAX_EVENT_BYTES",
    "MAX_KEPT",
]

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 64 * 1024
MAX_KEPT = 10_000  # events kept while the database is away (at most 64 KiB each)
_TYPE_RE = re.compile(r"^org\.mda\.alert\.([a-z0-9_]{1,64})\.v1$")
_STATUSES = ("open", "acknowledged", "closed")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class BadEvent(ValueError):
    """An event that is not stored; ``reason`` is its counter's name."""

    def __init__(self, reason: str, detail: str, event: Mapping[str, Any] | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event = event or {}


def _time(v: Any, what: str, event: Mapping) -> datetime | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise BadEvent("malformed", f"{what}: not a time", event)
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise BadEvent("malformed", f"{what}: not an ISO 8601 time: {v[:40]!r}", event) from None
    if t.tzinfo is None:
        raise BadEvent("malformed", f"{what}: no time zone", event)
    return t


def _int(v: Any, what: str, event: Mapping, hi: int = 999_999_999) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
        raise BadEvent("malformed", f"{what}: not a number in 0..{hi}", event)
    return v


def check_event(
    payload: bytes, *, source: str, max_bytes: int = MAX_EVENT_BYTES
) -> tuple[dict, dict]:
    """The event and the alert it carries, or ``BadEvent`` (pure). ``source``: the only
    CloudEvents ``source`` accepted on this feed."""
    if len(payload) > max_bytes:
        raise BadEvent("oversized", f"{len(payload)} bytes, at most {max_bytes}")
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadEvent("malformed", f"not JSON: {e}") from None
    except RecursionError:  # nested deeper than the parser goes, under the size limit
        raise BadEvent("malformed", "not JSON: nested too deeply") from None
    if not isinstance(event, dict):
        raise BadEvent("malformed", "not a JSON object")
    if event.get("specversion") != "1.0":
        raise BadEvent("malformed", "specversion: not CloudEvents 1.0", event)
    eid = event.get("id")
    if not isinstance(eid, str) or not 0 < len(eid) <= 200:
        raise BadEvent("malformed", "id: missing", event)
    if event.get("source") != source:
        raise BadEvent(
            "unknown_source", f"source {str(event.get('source'))[:100]!r}, not {source!r}", event
        )
    m = _TYPE_RE.match(str(event.get("type", "")))
    if not m:
        raise BadEvent("malformed", f"type {str(event.get('type'))[:80]!r}: not an alert", event)
    data = event.get("data")
    props = data.get("properties") if isinstance(data, dict) else None
    if not isinstance(props, dict) or data.get("type") != "Feature":
        raise BadEvent("malformed", "data: not a GeoJSON Feature with properties", event)
    kind = props.get("kind")
    if kind != m.group(1):
        raise BadEvent("malformed", "data.properties.kind: not the type's kind", event)
    if props.get("severity") not in DESK_SEVERITIES:
        raise BadEvent("malformed", "data.properties.severity: not a desk severity", event)
    if props.get("status") not in _STATUSES:
        raise BadEvent("malformed", "data.properties.status: unknown", event)
    remote_id = _int(props.get("id"), "data.properties.id", event, 2**62)
    if remote_id is None:
        raise BadEvent("malformed", "data.properties.id: missing", event)
    start = _time(props.get("start"), "data.properties.start", event)
    if start is None:
        raise BadEvent("malformed", "data.properties.start: missing", event)
    lat = lon = None
    geometry = data.get("geometry")
    if geometry is not None:
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if (
            not isinstance(geometry, dict)
            or geometry.get("type") != "Point"
            or not isinstance(coords, list)
            or len(coords) < 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords[:2])
            or not (-180 <= coords[0] <= 180 and -90 <= coords[1] <= 90)
        ):
            raise BadEvent("malformed", "data.geometry: not a Point in lon/lat", event)
        lon, lat = float(coords[0]), float(coords[1])
    text = props.get("text")
    zone = props.get("zone")
    alert = {
        "remote_id": remote_id,
        "kind": kind,
        "severity": props["severity"],
        "status": props["status"],
        "change": str(props.get("change") or "")[:20] or None,
        "mmsi": _int(props.get("mmsi"), "data.properties.mmsi", event),
        "other_mmsi": _int(props.get("other_mmsi"), "data.properties.other_mmsi", event),
        "start": start,
        "end": _time(props.get("end"), "data.properties.end", event),
        "lat": lat,
        "lon": lon,
        "text": text[:2000] if isinstance(text, str) else None,
        "zone": zone[:200] if isinstance(zone, str) else None,
    }
    return event, alert


def verify_event(
    payload: bytes,
    event: Mapping[str, Any],
    public_key: Ed25519PublicKey | None,
    key_fingerprint: str | None,
) -> None:
    """``BadEvent`` unless ``event`` (parsed from ``payload``) is signed by ``public_key``,
    the partner's, whose fingerprint is ``key_fingerprint`` (pure). The signed bytes are
    the canonical event (``feeds.canonical_event``); the payload itself, its ``mdasig``
    member cut out, is taken too (a sender whose numbers read back differently)."""
    if public_key is None:
        raise BadEvent("no-key", "no public key of this partner on file here", event)
    sig, keyid = event.get(SIGNATURE_ATTR), event.get(KEYID_ATTR)
    if sig is None:
        raise BadEvent("unsigned", "no signature (mdasig)", event)
    if keyid != key_fingerprint:
        raise BadEvent(
            "unknown-key",
            f"signed by key {str(keyid)[:80]!r}, not the partner's {key_fingerprint}",
            event,
        )
    try:
        raw = base64.b64decode(sig, validate=True) if isinstance(sig, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise BadEvent("bad-signature", "mdasig: not a base64 Ed25519 signature", event)
    try:
        signed = canonical_event(event)
    except ValueError as e:  # NaN or Infinity somewhere: JSON has no canonical form for it
        raise BadEvent("malformed", f"no canonical form: {e}", event) from None
    if verify_signature(public_key, raw, signed):
        return
    cut = f',"{SIGNATURE_ATTR}":"{sig}"'.encode("ascii")
    if payload.count(cut) == 1 and verify_signature(public_key, raw, payload.replace(cut, b"")):
        return
    raise BadEvent("bad-signature", "the signature does not verify with the partner's key", event)


def parse_feed_url(url: str) -> dict[str, Any]:
    """``mqtt[s]://[user:pass@]host[:port]/TOPIC[?partner=NAME&source=URN&ca_file=PEM]``:
    the topic is the whole path, ``#`` included (not a URL fragment here). Returns host,
    port (1883, or 8883 with TLS), username, password, topic, partner (None when not
    given), source, tls and ca_file."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
        raise BrokerUrlError(
            f"partner feed {_masked(url)}: expected mqtt://host/topic or mqtts://host/topic"
        )
    tls = scheme in ("mqtts", "ssl")
    rest, _, query = rest.partition("?")
    netloc, _, topic = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    user = password = None
    if at:
        u, colon, p = userinfo.partition(":")
        user, password = unquote(u), (unquote(p) if colon else None)
    host, colon, port = hostport.partition(":")
    if not host or not topic or (colon and not port.isdigit()):
        raise BrokerUrlError(
            f"partner feed {_masked(url)}: expected mqtt[s]://[user:pass@]host[:port]/topic"
        )
    q = {k: v[-1] for k, v in parse_qs(query).items()}
    partner = q.get("partner")
    if partner is not None and not _NAME_RE.match(partner):
        raise BrokerUrlError(f"partner feed {_masked(url)}: partner {partner!r}: not a name")
    return {
        "host": host,
        "port": int(port) if colon else (8883 if tls else 1883),
        "username": user,
        "password": password,
        "topic": topic,
        "partner": partner,
        "source": q.get("source"),
        "tls": tls,
        "ca_file": q.get("ca_file"),
    }


def _masked(url: str) -> str:
    """The URL with its password replaced by ***, for logs and the feed chip."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}{slash}{path}"
    return url


class PartnerFeed:
    """Subscribes to one partner's feed and stores its alerts (see the module's text)."""

    def __init__(
        self,
        url: str,
        *,
        db_url: str,
        partner: str | None = None,
        source: str | None = None,
        ca_file: str | None = None,
        spool_root: Path | None = None,
        on_alert: Callable[[dict], Awaitable[None]] | None = None,
        max_bytes: int = MAX_EVENT_BYTES,
        max_kept: int = MAX_KEPT,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ):
        spec = parse_feed_url(url)
        self.partner = partner or spec["partner"]
        if not self.partner:
            raise BrokerUrlError(
                f"partner feed {_masked(url)}: which partner? add ?partner=NAME "
                "(or partner = in [[partner_feeds]])"
            )
        self.url = _masked(url)
        self.host, self.port = spec["host"], spec["port"]
        self.username, self.password = spec["username"], spec["password"]
        self.topic = spec["topic"]
        self.source = source or spec["source"] or f"urn:mda:{self.partner}"
        head = self.topic.split("/partners/", 1)[0]
        self.status_topic = f"{head}/status" if "/partners/" in self.topic else None
        # one persistent session per installation, partner and feed
        digest = hashlib.sha256(f"{socket.gethostname()}|{db_url}|{self.topic}".encode())
        self.client_id = f"mda-partner-{self.partner[:30]}-{digest.hexdigest()[:16]}"
        self.tls_context = _tls_context(url, spec["tls"], ca_file or spec["ca_file"])
        self.db_url = db_url
        self.on_alert = on_alert
        self.max_bytes = max_bytes
        self._backoff = Backoff(retry_initial, retry_max)
        self.connected = False
        self.partner_status: str | None = None  # its retained status topic: online, offline
        self.received = 0
        self.stored = 0
        self.duplicates = 0
        self.rejected: Counter[str] = Counter()
        self.reconnects = 0
        self.error: str | None = None
        self.last_message_at: float | None = None
        self.last_event_ts: float | None = None
        self._db: psycopg.AsyncConnection | None = None
        self._db_lock = asyncio.Lock()  # one event at a time on the connection
        self._key: tuple[str, Ed25519PublicKey] | None = None  # (PEM, parsed), as on file
        self._said_no_key = False
        # events received while the database is away, in order, stored when it is back
        self.kept_max = max_kept
        self._kept = _Kept(
            spool_root / f"spool-partner-{self.client_id.removeprefix('mda-partner-')}"
            if spool_root is not None
            else None
        )
        self._kept_wake = asyncio.Event()
        self._db_backoff = Backoff(retry_initial, retry_max)

    @property
    def stale(self) -> bool:
        return not self.connected or self.partner_status == "offline"

    def as_dict(self) -> dict[str, Any]:
        """As the pipeline's feeds, for the map's feed chips, /healthz and /metrics."""
        age = None if self.last_message_at is None else max(0.0, time.time() - self.last_message_at)
        return {
            "name": f"partner {self.partner}",
            "uri": self.url,
            "partner": self.partner,
            "lines": self.received,
            "state": "stale" if self.stale else "running",
            "last_message_age_s": 0.0 if not self.stale else age,
            "last_event_ts": self.last_event_ts,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected),
            "dropped": sum(self.rejected.values()),
            "restarts": self.reconnects,
            "partner_status": self.partner_status,
            "kept": self.kept,
            "error": self.error,
        }

    @property
    def kept(self) -> int:
        """Events waiting for the database."""
        return self._kept.pending

    async def run(self) -> None:
        """Subscribe, and again after every loss of the broker, with back-off; never
        returns (cancel it to stop). Events kept while the database was away are stored
        once it returns, by a task of their own."""
        drain = asyncio.create_task(self._drain_kept(), name=f"partner-feed-{self.partner}-kept")
        try:
            while True:
                try:
                    async with aiomqtt.Client(
                        self.host,
                        self.port,
                        username=self.username,
                        password=self.password,
                        identifier=self.client_id,
                        clean_session=False,  # QoS 1 events sent while we were away: kept
                        tls_context=self.tls_context,
                    ) as client:
                        await client.subscribe(self.topic, qos=1)
                        if self.status_topic:
                            await client.subscribe(self.status_topic, qos=1)
                        self.connected, self.error = True, None
                        self.last_message_at = time.time()
                        self._backoff.reset()
                        log.info("partner feed %s: subscribed to %s", self.partner, self.url)
                        async for message in client.messages:
                            await self.handle(bytes(message.payload), str(message.topic))
                except aiomqtt.MqttError as e:
                    if self.connected:
                        log.warning("partner feed %s (%s) went away: %s", self.partner, self.url, e)
                    self.error = f"broker: {e}"
                self.connected = False
                self.reconnects += 1
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            self.connected = False
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)
            if self._db is not None:
                await self._db.close()
                self._db = None

    async def handle(self, payload: bytes, topic: str) -> str:
        """One message: ``stored``, ``duplicate``, ``status``, ``kept`` (the database is
        away: stored when it is back) or the reason it was rejected. Never raises for what
        the partner sent."""
        self.last_message_at = time.time()
        if self.status_topic and topic == self.status_topic:
            try:
                said = json.loads(payload)
                status, source = said.get("status"), said.get("source")
            except (ValueError, AttributeError):  # cleared (empty) or not ours to read
                status, source = None, self.source
            if source == self.source:  # another publisher's status is not the partner's
                self.partner_status = status if status in ("online", "offline") else None
            return "status"
        self.received += 1
        if self._kept.pending:  # older events wait for the database: this one after them
            return self._keep(payload, topic)
        try:
            return await self._process(payload, topic)
        except _DatabaseAway:
            return self._keep(payload, topic)

    async def _process(self, payload: bytes, topic: str) -> str:
        """Check, verify and store one event: ``stored``, ``duplicate`` or the reason it
        was rejected; ``_DatabaseAway`` when the database cannot be reached."""
        try:
            event, alert = check_event(payload, source=self.source, max_bytes=self.max_bytes)
            return await self._store(payload, event, alert)
        except BadEvent as e:
            return self._reject(e.reason, e.detail, topic, e.event)
        except _DatabaseAway:
            raise
        except Exception as e:  # what no check foresaw must not stop the feed
            detail = f"could not be read: {type(e).__name__}: {str(e)[:200]}"
            return self._reject("malformed", detail, topic, _peek(payload))

    def _keep(self, payload: bytes, topic: str) -> str:
        """Keep an event for when the database is back: ``kept``, or ``database`` when no
        more can be kept (then it is lost, counted and logged)."""
        if self._kept.pending >= self.kept_max:
            detail = f"the database is away and {self.kept_max} events wait already: lost"
            return self._reject("database", detail, topic, _peek(payload))
        try:
            self._kept.put((topic, payload))
        except SpoolFull as e:
            return self._reject("database", f"cannot keep it: {e}", topic, _peek(payload))
        self._kept_wake.set()
        return "kept"

    async def _drain_kept(self) -> None:
        """Store the kept events, oldest first, as soon as the database answers again
        (tried with back-off); runs until cancelled."""
        while True:
            if not self._kept.pending:
                self._kept_wake.clear()
                await self._kept_wake.wait()
                continue
            if await self.store_kept():
                self._db_backoff.reset()
            else:
                await asyncio.sleep(self._db_backoff.next_delay())

    async def store_kept(self) -> bool:
        """Store what was kept, in order; False when the database is still away."""
        stored = 0
        while True:
            pending = self._kept.oldest()
            if pending is None:
                if stored:
                    log.info(
                        "partner feed %s: %d events kept during the database outage stored",
                        self.partner,
                        stored,
                    )
                return True
            handle, (topic, payload) = pending
            try:
                await self._process(payload, topic)
            except _DatabaseAway:
                return False
            except Exception as e:  # never stuck on one event
                log.exception("partner feed %s: a kept event failed", self.partner)
                self._reject("refused", f"{type(e).__name__}: {e}", topic, _peek(payload))
            self._kept.done(handle)
            stored += 1

    def _reject(self, reason: str, detail: str, topic: str, event: Mapping) -> str:
        self.rejected[reason] += 1
        if reason == "no-key":
            if self._said_no_key:
                return reason
            self._said_no_key = True
            detail += (
                f"; every event of {self.partner} is refused until its key is put: "
                f"mda partner key {self.partner} FILE.pem (said once)"
            )
        log.warning(
            "partner feed %s: event rejected (%s): %s; broker %s, topic %s, event id %s, source %s",
            self.partner,
            reason,
            detail,
            self.url,
            topic[:200],
            str(event.get("id"))[:100] if event.get("id") is not None else "-",
            str(event.get("source"))[:100] if event.get("source") is not None else "-",
        )
        return reason

    def _public_key(self, pem: str | None) -> Ed25519PublicKey | None:
        if pem is None:
            return None
        if self._key is None or self._key[0] != pem:
            try:
                self._key = (pem, parse_public_key(pem))
            except ExchangeError:
                return None
        return self._key[1]

    async def _store(self, payload: bytes, event: dict, alert: dict) -> str:
        async with self._db_lock:
            return await self._store_locked(payload, event, alert)

    async def _store_locked(self, payload: bytes, event: dict, alert: dict) -> str:
        from mda.store.db import DatabaseUnavailable, connect
        from mda.store.partner_alerts import PartnerKeyTaken, store_partner_event
        from mda.store.partners import PartnerNotFound, get_partner

        for attempt in (1, 2):  # a database connection lost since the last event: once more
            try:
                if self._db is None or self._db.closed:
                    self._db = await connect(self.db_url, autocommit=True)
                try:
                    partner = await get_partner(self._db, self.partner)
                except PartnerNotFound:
                    partner = None
                if partner is None or partner["disabled"]:
                    raise BadEvent(
                        "unknown_partner",
                        f"{self.partner} is {'disabled' if partner else 'not a partner'} here",
                        event,
                    )
                verify_event(
                    payload,
                    event,
                    self._public_key(partner.get("public_key")),
                    partner.get("key_fingerprint"),
                )
                row = await store_partner_event(
                    self._db, self.partner, partner["country"], event, alert
                )
                break
            except PartnerKeyTaken as e:
                raise BadEvent("conflict", str(e), event) from None
            except (psycopg.OperationalError, OSError, DatabaseUnavailable) as e:
                if self._db is not None:
                    await self._db.close()
                self._db = None
                if attempt == 2:
                    if not (self.error or "").startswith("database"):
                        log.warning(
                            "partner feed %s: database away (%s); its events are kept until "
                            "it is back",
                            self.partner,
                            e,
                        )
                    self.error = f"database: {e}"
                    raise _DatabaseAway(str(e)) from None
            except psycopg.Error as e:  # a value the database refuses: this event only
                raise BadEvent("refused", f"database: {e}", event) from None
        self.error = None
        if row is None:
            self.duplicates += 1
            return "duplicate"
        self.stored += 1
        self.last_event_ts = alert["start"].timestamp()
        if self.on_alert is not None:
            try:
                await self.on_alert(row)
            except Exception:  # the live hub's trouble is not the feed's
                log.exception("partner feed %s: live push failed", self.partner)
        return "stored"


class _DatabaseAway(Exception):
    """The database cannot be reached: the event is kept for later, not rejected."""


def _peek(payload: bytes) -> dict:
    """The event's id and source for a log line, if it has them."""
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return event if isinstance(event, dict) else {}


def _tls_context(url: str, tls: bool, ca_file: str | None) -> ssl.SSLContext | None:
    """TLS for ``mqtts://``: the broker's certificate checked against ``ca_file`` (else
    the system's CAs) and its host name. ``BrokerUrlError`` for a CA file that cannot be
    read, or one given without mqtts."""
    if not tls:
        if ca_file:
            raise BrokerUrlError(f"partner feed {_masked(url)}: ca_file needs mqtts://")
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        why = getattr(e, "strerror", None) or getattr(e, "reason", None) or e
        raise BrokerUrlError(f"partner feed {_masked(url)}: ca_file {ca_file}: {why}") from None


class _Kept:
    """Events waiting for the database, oldest first: on disk (a ``Spool``, which a
    restart keeps) or, without a directory, in memory."""

    def __init__(self, directory: Path | None):
        self._spool = Spool(directory) if directory is not None else None
        self._memory: deque[tuple[str, bytes]] = deque()

    @property
    def pending(self) -> int:
        return self._spool.pending if self._spool is not None else len(self._memory)

    def put(self, item: tuple[str, bytes]) -> None:
        if self._spool is not None:
            self._spool.put(item)
        else:
            self._memory.append(item)

    def oldest(self) -> tuple[Any, tuple[str, bytes]] | None:
        if self._spool is not None:
            return self._spool.oldest()
        return (None, self._memory[0]) if self._memory else None

    def done(self, handle: Any) -> None:
        if self._spool is not None:
            self._spool.done(handle)
        else:
            self._memory.popleft()
