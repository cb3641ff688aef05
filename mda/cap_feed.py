"""CAP 1.2 warnings from MQTT (``cap_topics``): a warning centre publishes its alerts on a
topic of the broker of ``mqtt_url``; each message is read as a CAP alert
(``exchange.hazard_input.read_hazards``) and stored as hazard areas, audited (actor
``mqtt``, the topic in the details). The same alert delivered again (a retained message
after a reconnect) updates its hazards; a "Cancel" ends the hazards of the alerts it
references (as mda's own partner messages withdraw a hazard that ended); an "Update" (a new
identifier, ``references`` naming the earlier message) updates the hazard read from it. A
malformed one is logged with the element at fault and stores nothing; one that is not a live
warning (status Exercise, Test, Draft; msgType Ack, Error) is counted (``IGNORED``, by
reason) and logged. One larger than ``hazard_max_area_deg2`` (a basin-wide tsunami warning)
is kept awaiting a supervisor's confirmation (no zone_entry alert until then), audited
``hazard.create`` with ``awaiting_confirmation``. Runs as the service's ``cap-feed`` stage: a
lost broker ends the run, and the supervisor starts it again after a back-off."""

from __future__ import annotations

import logging
import time
from collections import Counter
from urllib.parse import urlsplit

from mda.exchange.cap import CapError, CapNotLive, cap_cancels
from mda.exchange.hazard_input import MAX_AREA_DEG2, read_hazards
from mda.store import audit
from mda.store.db import connect
from mda.store.hazards import end_cap_hazards, save_hazard

from .errors import SettingsError

__all__ = ["run_cap_feed", "take_cap", "IGNORED"]

log = logging.getLogger(__name__)
# CAP messages received that are not live warnings, by reason ("status Exercise", "msgType
# Ack", ...), since the service started
IGNORED: Counter[str] = Counter()


async def take_cap(
    db_url: str, topic: str, payload: bytes, max_area: float | None = None
) -> list[dict]:
    """Store the hazards of one CAP message; [] when it is refused (logged) or not a live
    warning (counted in ``IGNORED`` and logged). An area over ``max_area`` square degrees is
    stored awaiting a supervisor's confirmation: nobody is there to confirm it now, and a
    basin-wide tsunami warning must not be lost."""
    limit = MAX_AREA_DEG2 if max_area is None else max_area
    try:
        cancels = cap_cancels(payload)
        if cancels is not None:
            return await _cancel(db_url, topic, cancels)
        hazards = read_hazards(payload, now=time.time(), confirm_large=True)
    except CapNotLive as e:
        IGNORED[e.reason] += 1
        log.info("CAP on %s ignored: %s", topic, e.message)
        return []
    except CapError as e:
        log.warning("CAP on %s refused: %s", topic, e.message)
        return []
    rows = []
    async with await connect(db_url) as conn:
        async with conn.transaction():
            for h in hazards:
                large = h.geometry.area > limit
                row = await save_hazard(conn, h, source="cap", created_by="mqtt", unconfirmed=large)
                if row.get("unchanged"):
                    log.info("CAP on %s: older than hazard %s, ignored", topic, row["id"])
                    continue
                details = {"name": row["name"], "source": "cap", "topic": topic}
                if row["status"] == "unconfirmed":
                    details["awaiting_confirmation"] = (
                        f"{h.geometry.area:,.0f} square degrees, more than the {limit:,g} "
                        "accepted without confirmation"
                    )
                await audit.record(
                    conn,
                    actor="mqtt",
                    via="mqtt",
                    action="hazard.create" if row["created"] else "hazard.update",
                    target=f"hazard:{row['id']}",
                    details=details,
                )
                rows.append(row)
    for r in rows:
        if r["status"] == "unconfirmed":
            log.warning(
                "hazard %s from CAP on %s awaits a supervisor's confirmation (larger than "
                "%g square degrees): %s",
                r["id"],
                topic,
                limit,
                r["name"],
            )
        else:
            log.info("hazard %s from CAP on %s: %s", r["id"], topic, r["name"])
    return rows


async def _cancel(db_url: str, topic: str, refs: list[tuple[str, str]]) -> list[dict]:
    """A CAP "Cancel": the hazards of the alerts it references end (audited)."""
    async with await connect(db_url) as conn:
        async with conn.transaction():
            rows = await end_cap_hazards(conn, refs, "mqtt")
            for row in rows:
                await audit.record(
                    conn,
                    actor="mqtt",
                    via="mqtt",
                    action="hazard.end",
                    target=f"hazard:{row['id']}",
                    details={"name": row["name"], "source": "cap", "topic": topic},
                )
    for r in rows:
        log.info("hazard %s ended by a CAP Cancel on %s: %s", r["id"], topic, r["name"])
    if not rows:
        log.info("CAP Cancel on %s: no hazard in force from %s", topic, refs)
    return rows


async def run_cap_feed(
    mqtt_url: str,
    topics: list[str],
    db_url: str,
    subscribed=None,
    max_area: float | None = None,
) -> None:
    """Subscribe to ``topics`` and store what arrives, until cancelled; ``subscribed`` (an
    asyncio.Event) is set once subscribed."""
    import aiomqtt

    parts = urlsplit(mqtt_url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise SettingsError("mqtt_url: expected mqtt://[user:pass@]host[:port] for cap_topics")
    async with aiomqtt.Client(
        parts.hostname, parts.port or 1883, username=parts.username, password=parts.password
    ) as client:
        for t in topics:
            await client.subscribe(t, qos=1)
        log.info("CAP feed: subscribed to %s", ", ".join(topics))
        if subscribed is not None:
            subscribed.set()
        async for message in client.messages:
            await take_cap(db_url, str(message.topic), bytes(message.payload), max_area)
