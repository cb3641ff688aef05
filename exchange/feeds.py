"""Alert feeds over MQTT as CloudEvents 1.0 (structured JSON; docs/asyncapi.yaml).

Each alert change is one event: ``specversion`` 1.0, ``id`` (the same for the same change
sent again: a receiver de-duplicates by it), ``type`` ``org.mda.alert.<kind>.v1``,
``source`` the installation's id, ``subject`` ``mmsi:<n>``, ``time`` (the change's, UTC),
``datacontenttype`` ``application/geo+json`` and ``data``, a GeoJSON Feature: the alert's
position and ``kind``, ``cise_anomaly_type``, ``severity``, ``status``, ``change``,
``start``, ``end``, ``text`` (the rule's), ``mmsi``, ... and, where one was shared, the
``extract``'s id and SHA-256. The event is built from ``store.alerts.AlertMessage``, the
one wire format of an alert.

Topics (QoS 1): our own feed ``mda/v1/alerts/<kind>/<mmsi>``; each partner's
``mda/v1/partners/<partner>/alerts/<kind>/<mmsi>``, only the alerts shared with it (the
share log, by an officer or its policy) and their later changes, while it is enabled;
``mda/v1/status``, retained: ``{"status": "online"}`` while the publisher is connected, and
``offline`` when it stops or, as its last will, when its connection dies.

Every event is signed by the installation's Ed25519 key (``exchange.signing``) in two
CloudEvents extension attributes: ``mdakeyid``, the key's fingerprint (``SHA256:<hex>``),
and ``mdasig``, the base64 Ed25519 signature of ``canonical_event``: the event without
``mdasig`` as JSON with sorted keys, no spaces, UTF-8. The payload is published in that
same canonical form, so the signed bytes are the payload with its ``,"mdasig":"..."``
member cut out (docs/partners.md shows the openssl commands)."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.rows import dict_row

from mda.analytics import KIND_TABLE
from mda.store.alerts import ALERT_COLUMNS, NOTICE, AlertMessage, alert_message

from .publish import MqttPublisher
from .signing import fingerprint, sign

__all__ = [
    "FEED_PREFIX",
    "STATUS_TOPIC",
    "SIGNATURE_ATTR",
    "KEYID_ATTR",
    "installation_source",
    "alert_cloudevent",
    "canonical_event",
    "sign_event",
    "event_payload",
    "alert_topic",
    "status_payload",
    "AlertFeed",
    "partner_acl",
]

log = logging.getLogger(__name__)

FEED_PREFIX = "mda/v1"
STATUS_TOPIC = f"{FEED_PREFIX}/status"
_CISE = {k.kind: k.cise for k in KIND_TABLE}
_NS = uuid.UUID("6f1c1d52-3c4e-4d0a-9a57-0c3f4b1e2a10")  # event ids: uuid5 in this namespace
SIGNATURE_ATTR = "mdasig"  # CloudEvents extension: base64 Ed25519 signature
KEYID_ATTR = "mdakeyid"  # CloudEvents extension: the signing key's fingerprint


def installation_source(organisation: str | None) -> str:
    """The CloudEvents ``source`` of this installation: ``urn:mda:`` and the organisation
    setting (else the host name), characters other than letters, digits and ``-._`` as
    ``-``."""
    import socket

    name = organisation or socket.gethostname()
    return "urn:mda:" + "".join(c if c.isalnum() or c in "-._" else "-" for c in name)


def canonical_event(event: Mapping[str, Any]) -> bytes:
    """The bytes an event's signature covers: the event without ``mdasig`` as JSON, keys
    sorted at every level, no spaces (``,`` and ``:``), non-ASCII as UTF-8 (not escaped)."""
    body = {k: v for k, v in event.items() if k != SIGNATURE_ATTR}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@functools.lru_cache(maxsize=8)
def _keyid(key: Ed25519PrivateKey) -> str:
    return fingerprint(key)


def sign_event(event: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The event with ``mdakeyid`` (the key's fingerprint) and ``mdasig`` (the base64
    Ed25519 signature of ``canonical_event`` of the event with its ``mdakeyid``)."""
    out = {k: v for k, v in event.items() if k != SIGNATURE_ATTR}
    out[KEYID_ATTR] = _keyid(key)
    out[SIGNATURE_ATTR] = base64.b64encode(sign(key, canonical_event(out))).decode("ascii")
    return out


def event_payload(event: Mapping[str, Any]) -> bytes:
    """An event as it is published: canonical JSON (sorted keys, no spaces, UTF-8), its
    signature included."""
    return json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _z(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_topic(message: AlertMessage, partner: str | None = None) -> str:
    """``mda/v1/alerts/<kind>/<mmsi>``, or the partner's ``mda/v1/partners/<p>/alerts/...``."""
    tail = f"alerts/{message.kind or 'unknown'}/{message.mmsi or 0}"
    return f"{FEED_PREFIX}/partners/{partner}/{tail}" if partner else f"{FEED_PREFIX}/{tail}"


def alert_cloudevent(
    message: AlertMessage,
    source: str,
    *,
    extract: Mapping[str, Any] | None = None,
    key: Ed25519PrivateKey | None = None,
) -> dict[str, Any]:
    """The CloudEvents 1.0 structured event of one alert change, signed with ``key``
    (``sign_event``) when one is given: the one wire format of an alert, on the MQTT feeds
    (``mda/v1/...`` and the internal ``<prefix>/alerts/<kind>``) and the live WebSocket
    alike."""
    when = message.updated_at or message.start or datetime.now(UTC)
    change = message.change or "updated"
    details = message.details or {}
    geometry = (
        {"type": "Point", "coordinates": [message.lon, message.lat]}
        if message.lat is not None and message.lon is not None
        else None
    )
    props = {
        "id": message.id,
        "kind": message.kind,
        "cise_anomaly_type": _CISE.get(message.kind or ""),
        "severity": message.severity,
        "status": message.status,
        "change": change,
        "start": _z(message.start),
        "end": _z(message.end),
        "text": details.get("text"),
        "mmsi": message.mmsi,
        "other_mmsi": message.other_mmsi,
        "vessel_name": message.vessel_name,
        "zone": message.zone,
        "extract": (
            {"id": extract["extract_id"], "sha256": extract["extract_sha256"]}
            if extract and extract.get("extract_id")
            else None
        ),
    }
    event = {
        "specversion": "1.0",
        "type": f"org.mda.alert.{message.kind or 'unknown'}.v1",
        "source": source,
        "subject": f"mmsi:{message.mmsi or 0}",
        "time": _z(when),
        "datacontenttype": "application/geo+json",
        "data": {"type": "Feature", "geometry": geometry, "properties": props},
    }
    # The id is a digest of the content: the same change sent again (a retry, a restart)
    # has the same id and a receiver drops the copy, while two different changes in the
    # same second (an update then an acknowledgement) never share one.
    event["id"] = str(uuid.uuid5(_NS, canonical_event(event).decode("utf-8")))
    return sign_event(event, key) if key is not None else event


def status_payload(status: str, source: str) -> bytes:
    return json.dumps(
        {"status": status, "source": source, "time": _z(datetime.now(UTC))}, sort_keys=True
    ).encode()


_SELECT = ", ".join(f'a."{c}"' for c in ALERT_COLUMNS)
_OVERLAP = timedelta(seconds=5)  # for transactions that commit after a poll began


class AlertFeed(MqttPublisher):
    """The CloudEvents feeds: our own (``publish_alert``, a sink of the service, like the
    internal publisher) and, with ``db_url``, each partner's, which a task follows from the
    share log and the alerts' changes every ``poll_s``. Ordered, spooled and reconnecting
    as ``MqttPublisher``; with a retained status topic and a last will. Every event is
    signed with ``signing_key``, the installation's (``signing.load_or_create_key``)."""

    def __init__(
        self,
        url: str,
        *,
        source: str,
        signing_key: Ed25519PrivateKey,
        db_url: str | None = None,
        poll_s: float = 1.0,
        spool_dir: Path | None = None,
        **kw,
    ):
        super().__init__(url, spool_dir=spool_dir, source=source, signing_key=signing_key, **kw)
        self.db_url = db_url
        self.poll_s = poll_s
        self.partner_events = 0
        self._poll_lock = asyncio.Lock()
        self._db: psycopg.AsyncConnection | None = None
        self._last_share: int | None = None
        self._started = datetime.now(UTC)  # shares from then on go to the partners' feeds
        self._since: datetime | None = None
        self._seen: dict[tuple[str, int, str | None], float] = {}

    async def publish_alert(self, row: Mapping[str, Any]) -> None:
        message = alert_message(row)
        if message.severity == NOTICE or not message.stored or (message.id or 0) <= 0:
            return  # notices are no partner's business; a provisional id is no event id
        event = alert_cloudevent(message, self.source, key=self.signing_key)
        self._enqueue((alert_topic(message), event_payload(event)))

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue another message on these feeds, in order with the alerts and spooled like
        them (the hazards' CloudEvents and CAP, ``exchange.hazard_feed``)."""
        self._enqueue((topic, payload))

    def _partner_event(self, row: Mapping[str, Any], partner: str, share=None) -> None:
        message = alert_message(row)
        event = alert_cloudevent(message, self.source, extract=share, key=self.signing_key)
        self._enqueue((alert_topic(message, partner), event_payload(event)))
        self.partner_events += 1

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._connected())
            if self.db_url:
                tg.create_task(self._follow_shares())

    async def _connected(self) -> None:
        """``MqttPublisher.run`` with the status topic and the last will."""
        backoff = self._backoff
        will = aiomqtt.Will(STATUS_TOPIC, status_payload("offline", self.source), 1, True)
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self.password,
                    will=will,
                ) as client:
                    await client.publish(
                        STATUS_TOPIC, status_payload("online", self.source), qos=1, retain=True
                    )
                    self.connected = True
                    backoff.reset()
                    try:
                        async with asyncio.TaskGroup() as tg:
                            tg.create_task(self._watch(client))
                            tg.create_task(self._send(client))
                    except asyncio.CancelledError:  # a stop: say so before leaving
                        await asyncio.shield(
                            client.publish(
                                STATUS_TOPIC,
                                status_payload("offline", self.source),
                                qos=1,
                                retain=True,
                                timeout=2,
                            )
                        )
                        raise
            except* aiomqtt.MqttError as eg:
                if self.connected:
                    log.warning("MQTT feed broker went away: %s", eg.exceptions[0])
            self.connected = False
            await asyncio.sleep(backoff.next_delay())

    async def _follow_shares(self) -> None:
        """New share log rows, and later changes of shared alerts, to each partner's feed
        (enabled partners only), every ``poll_s``. Starts from the shares made since the
        feed was made (the service's start): history is not replayed."""
        while True:
            await self.poll_shares()
            await asyncio.sleep(self.poll_s)

    async def poll_shares(self) -> int:
        """One look at the share log and the shared alerts' changes; how many partner
        events it queued. Also called by ``close``, so that the last shares go out."""
        from mda.store.db import connect

        async with self._poll_lock:
            before = self.partner_events
            try:
                if self._db is None or self._db.closed:
                    self._db = await connect(self.db_url, autocommit=True)
                if self._last_share is None:  # what was shared before this feed began
                    cur = await self._db.execute(
                        "SELECT coalesce(max(id), 0) FROM share_log WHERE time < %s",
                        (self._started,),
                    )
                    (self._last_share,) = await cur.fetchone()
                    self._since = self._started
                self._last_share, self._since = await self._poll(
                    self._db, self._last_share, self._since, self._seen
                )
            except (psycopg.Error, OSError) as e:
                log.warning("partner feeds: database: %s", e)
                if self._db is not None:
                    await self._db.close()
                self._db = None
            now = time.monotonic()
            for k in [k for k, t in self._seen.items() if now - t > 600]:
                del self._seen[k]
            return self.partner_events - before

    async def close(self, timeout: float = 3.0) -> None:
        if self.db_url:  # the last shares, before what waits is flushed or spooled
            await self.poll_shares()
        await super().close(timeout)
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _poll(self, conn, last_share: int, since: datetime, seen: dict):
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT now() AS now")
            now = (await cur.fetchone())["now"]
            await cur.execute(
                f"""
                SELECT s.id AS share_id, s.partner, s.extract_id, s.extract_sha256, {_SELECT},
                       v.name AS vessel_name
                FROM share_log s JOIN alerts a ON a.id = s.alert_id
                JOIN partners p ON p.name = s.partner AND NOT p.disabled
                LEFT JOIN vessels v ON v.mmsi = a.mmsi
                WHERE s.id > %s ORDER BY s.id""",
                (last_share,),
            )
            new = await cur.fetchall()
            # changes of shared alerts; 5 s of overlap for transactions that committed late
            await cur.execute(
                f"""
                SELECT DISTINCT ON (s.partner, a.id) s.partner, {_SELECT}, v.name AS vessel_name,
                       s.extract_id, s.extract_sha256
                FROM alerts a JOIN share_log s ON s.alert_id = a.id
                JOIN partners p ON p.name = s.partner AND NOT p.disabled
                LEFT JOIN vessels v ON v.mmsi = a.mmsi
                WHERE a.updated_at > %s AND s.id <= %s
                ORDER BY s.partner, a.id, s.id DESC""",
                (since - _OVERLAP, last_share),
            )
            changed = await cur.fetchall()
        mono = time.monotonic()
        for row in new:
            seen[(row["partner"], row["id"], _z(row["updated_at"]))] = mono
            self._partner_event({**row, "change": "shared"}, row["partner"], row)
            last_share = max(last_share, row["share_id"])
        for row in changed:
            key = (row["partner"], row["id"], _z(row["updated_at"]))
            if key in seen:
                continue
            seen[key] = mono
            self._partner_event({**row, "change": "updated"}, row["partner"], row)
        return last_share, now


def partner_acl(
    partners: list[Mapping[str, Any]], *, service_user: str = "mda", generated: str = ""
) -> str:
    """A Mosquitto ACL file for the feeds: the service's account publishes under ``mda/``,
    an operators' account reads our own feed, and each enabled partner's account
    (``partner-<name>``) reads its own feed and the status topic, and publishes nothing.
    A disabled partner has no block: its account reads nothing. Pure."""
    out = [
        f"# Mosquitto ACL for mda's alert feeds, generated by `mda partner acl`{generated}.",
        "# Install as /etc/mosquitto/mda.acl (acl_file); reload: systemctl reload mosquitto.",
        "# Everything not granted here is denied. read = subscribe and receive; write = publish.",
        "",
        "# The mda service: publishes every feed, and reads the partners' feeds that",
        "# deploy/mosquitto/partner-bridge.conf.template bridges in under partners/<partner>/.",
        f"user {service_user}",
        "topic readwrite mda/#",
        "topic read partners/#",
        "topic read $SYS/#",
        "",
        "# Operators' tools: the internal topics and our own feeds (alerts, hazards).",
        "user ops-dashboard",
        "topic read mda/internal/#",
        f"topic read {FEED_PREFIX}/alerts/#",
        f"topic read {FEED_PREFIX}/hazards/#",
        f"topic read {STATUS_TOPIC}",
    ]
    for p in sorted(partners, key=lambda p: p["name"]):
        out.append("")
        if p.get("disabled"):
            out.append(f"# partner {p['name']} ({p['country']}): disabled, no access")
            continue
        out += [
            f"# partner {p['name']} ({p['country']}): its own feed, read only",
            f"user partner-{p['name']}",
            f"topic read {FEED_PREFIX}/partners/{p['name']}/#",
            f"topic read {STATUS_TOPIC}",
        ]
    return "\n".join(out) + "\n"
