"""Hazards to partners over MQTT (issue 14, item 3; docs/hazards.md, docs/asyncapi.yaml).

Each hazard that comes into force (or is announced, pending its onset), changes or stops
being in force goes out as two messages, QoS 1, in order with the alert feeds (the same
``AlertFeed`` connection, spool and status topic):

- ``mda/v1/hazards/<id>``: a **CloudEvents 1.0** structured JSON event, ``type``
  ``org.mda.hazard.v1``, ``source`` the installation, ``subject`` ``hazard:<id>``, ``data``
  a GeoJSON Feature: the hazard's area, ``name``, ``severity``, ``onset``, ``expires``,
  ``status``, ``change`` (``issued``, ``updated``, ``cancelled``; ``shared`` on a partner's
  topic), the CAP message it goes with and its ``vessels_at_risk``;
- ``mda/v1/hazards/<id>/cap``: the same message as an **OASIS CAP 1.2** alert for a
  warning system: ``msgType`` ``Alert`` the first time, ``Update`` referencing the earlier
  messages when the hazard changed, ``Cancel`` referencing them when it ended, was deleted
  or expired.

The CAP ``sender`` is the organisation made CAP-safe (``cap.cap_sender``: "MRCC Mumbai" as
"MRCC-Mumbai"; CAP forbids spaces and commas), so that the references of an Update or a
Cancel parse back. A hazard awaiting confirmation is not published until confirmed.

What was sent is kept in the database (``store.hazard_messages``), so that the Update and
the Cancel name what came before, also across a restart: a hazard that ended while the
service was stopped is cancelled at the first sync after it starts.

A hazard shared with a partner (``store.shares.share_hazard``, or the partner's policy
when it is automatic and names the kind ``hazard`` or every kind) goes to
``mda/v1/partners/<partner>/hazards/<id>`` and ``.../<id>/cap``: the hazard's current
message (``change`` ``shared``) when it is shared, then its Updates and its Cancel, while
the partner is enabled."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import mapping, shape

from mda.analytics.hazards import AtRisk, Fleet, Hazard, vessels_at_risk

from .cap import cap_reference, cap_sender, to_cap
from .feeds import FEED_PREFIX, event_payload, sign_event

__all__ = [
    "HAZARD_EVENT_TYPE",
    "HAZARD_CHANGES",
    "hazard_topic",
    "hazard_cap_identifier",
    "risk_item",
    "hazard_feature",
    "hazard_cloudevent",
    "HazardFeed",
]

log = logging.getLogger(__name__)

HAZARD_EVENT_TYPE = "org.mda.hazard.v1"
# CAP's msgType for each change of the CloudEvent
HAZARD_CHANGES = {"issued": "Alert", "updated": "Update", "cancelled": "Cancel"}
_NS = uuid.UUID("0d7f3c1e-6b0a-4b5e-9f37-2a8e51c4d6b2")  # event ids: uuid5 in this namespace


def _z(ts: float | datetime | None) -> str | None:
    if ts is None:
        return None
    t = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hazard_topic(hazard_id: int, partner: str | None = None, *, cap: bool = False) -> str:
    """``mda/v1/hazards/<id>`` (the CloudEvent), or the partner's
    ``mda/v1/partners/<p>/hazards/<id>``; ``cap``: the CAP 1.2 topic below it."""
    base = f"{FEED_PREFIX}/partners/{partner}" if partner else FEED_PREFIX
    return f"{base}/hazards/{hazard_id}" + ("/cap" if cap else "")


def hazard_cap_identifier(hazard_id: int, version: datetime) -> str:
    """The CAP identifier of a hazard's version (its ``updated_at``): the same in the feed's
    messages and in ``GET /api/hazards/{id}/cap``, so a partner who has both sees one."""
    return f"mda-hazard-{hazard_id}-{version.astimezone(UTC):%Y%m%dT%H%M%S%f}Z"


def risk_item(r: AtRisk) -> dict:
    """A vessel at risk as the API and the events give it."""
    v = r.vessel
    return {
        "mmsi": r.mmsi,
        "name": v.name,
        "ship_type": v.ship_type,
        "inside": r.inside,
        "entry_time": None if r.entry_ts is None else _z(float(round(r.entry_ts))),
        "distance_nm": round(r.distance_nm, 2),
        "speed_kn": round(r.speed_kn, 1),
        "cog": v.cog,
        "lat": v.lat,
        "lon": v.lon,
        "last_seen": _z(float(round(v.ts))),
    }


def hazard_feature(hazard: Hazard, hazard_id: int, *, status: str, origin: str | None) -> dict:
    """The hazard as a GeoJSON Feature (what a message carries, and what is kept of it):
    area, id, name, severity, onset, expires, status, origin, and the CAP fields
    (``event``, ``urgency``, ``certainty``) a Cancel repeats."""
    d = hazard.details or {}
    return {
        "type": "Feature",
        "geometry": mapping(hazard.geometry),
        "properties": {
            "id": hazard_id,
            "name": hazard.name,
            "severity": hazard.severity,
            "onset": _z(hazard.onset),
            "expires": _z(hazard.expires),
            "status": status,
            "origin": origin,
            "cap_info": {k: d.get(k) for k in ("event", "urgency", "certainty")},
        },
    }


def _from_feature(feature: Mapping[str, Any]) -> Hazard:
    p = feature["properties"]

    def epoch(text: str | None) -> float | None:
        return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    return Hazard(
        id=str(p["id"]),
        name=p["name"],
        geometry=shape(feature["geometry"]),
        severity=p["severity"],
        onset=epoch(p.get("onset")),
        expires=epoch(p.get("expires")),
        details={k: v for k, v in (p.get("cap_info") or {}).items() if v},
    )


def hazard_cloudevent(
    feature: Mapping[str, Any],
    source: str,
    *,
    change: str,
    cap: Mapping[str, Any],
    sent: float,
    at_risk: list[dict] | None,
    horizon_h: float,
    note: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """The CloudEvents 1.0 structured event of one hazard message (pure). ``cap``: the CAP
    message it goes with (``identifier``, ``sender``, ``sent``, ``msg_type``,
    ``references``); ``key`` makes the id (default the CAP identifier: the same message
    sent again has the same id)."""
    props = {k: v for k, v in feature["properties"].items() if k != "cap_info"}
    props.update(
        change=change,
        note=note,
        cap=dict(cap),
        vessels_at_risk=list(at_risk or []),
        vessels_at_risk_at=_z(sent),
        horizon_h=horizon_h,
    )
    event_id = uuid.uuid5(_NS, f"{source}|{key or cap['identifier']}")
    return {
        "specversion": "1.0",
        "id": str(event_id),
        "type": HAZARD_EVENT_TYPE,
        "source": source,
        "subject": f"hazard:{props['id']}",
        "time": _z(sent),
        "datacontenttype": "application/geo+json",
        "data": {"type": "Feature", "geometry": feature["geometry"], "properties": props},
    }


def _payload(event: Mapping, key) -> bytes:
    """The event as published: signed with the installation's key like the alert events
    (``mdakeyid``, ``mdasig``; docs/partners.md), in the canonical JSON form."""
    return event_payload(sign_event(event, key) if key is not None else event)


class HazardFeed:
    """Publishes the hazards on ``feed`` (an ``exchange.feeds.AlertFeed``: its ``publish``
    queues a message in order, spooled while the broker is away). ``sync`` does one round:
    call it every few seconds (the service's hazards-sync stage)."""

    def __init__(
        self,
        feed,
        db_url: str,
        *,
        source: str,
        sender: str,
        horizon_h: float = 12.0,
        exclude_prefixes: Sequence[str] = (),
        max_age_s: float = 86400.0,
    ):
        self.feed = feed
        self.db_url = db_url
        self.source = source
        self.sender = cap_sender(sender)  # CAP forbids spaces and commas: "MRCC-Mumbai"
        self.horizon_h = horizon_h
        self.exclude_prefixes = tuple(exclude_prefixes)
        self.max_age_s = max_age_s
        self.messages = 0  # CAP messages sent (own topic)
        self.partner_messages = 0
        self._started = datetime.now(UTC)  # shares from then on go to the partners' topics
        self._last_share: int | None = None

    async def sync(self) -> list[tuple[str, int]]:
        """One round: the hazards in force or pending are shared with the automatic
        partners their policy allows; each new one goes out as an Alert, each changed one as
        an Update, each open one no longer listed (ended, deleted, expired) as a Cancel; each
        new share to its partner. Returns what was sent, as (msgType or "Shared", id)."""
        from mda.store.db import connect

        async with await connect(self.db_url, autocommit=True) as conn:
            return await self._sync(conn)

    async def _sync(self, conn) -> list[tuple[str, int]]:
        from mda.store.hazard_messages import latest_message, open_messages
        from mda.store.hazards import list_hazards
        from mda.store.shares import (
            auto_share_hazards,
            hazard_partners,
            hazard_shares_after,
            last_share_id,
        )

        if self._last_share is None:  # what was shared before this feed began is not replayed
            self._last_share = await last_share_id(conn, self._started)
        rows = await list_hazards(conn)  # active and not expired: in force, or pending
        rows = [r for r in rows if r["status"] == "active"]  # not those awaiting confirmation
        await auto_share_hazards(conn, rows)
        opened = await open_messages(conn)
        listed = {r["id"] for r in rows}
        todo = []
        for r in rows:
            msgs = opened.get(r["id"])
            if not msgs:
                todo.append(("Alert", r, []))
            elif msgs[-1]["version"] != r["updated_at"]:
                todo.append(("Update", r, msgs))
        gone = sorted(hid for hid in opened if hid not in listed)
        shares = await hazard_shares_after(conn, self._last_share)
        if not (todo or gone or shares):
            return []
        partners = await hazard_partners(
            conn, [r["id"] for _, r, _ in todo] + gone, self._last_share
        )
        fleet_box: list = []
        done: list[tuple[str, int]] = []
        for msg_type, r, msgs in todo:
            await self._issue(conn, msg_type, r, msgs, partners.get(r["id"], []), fleet_box)
            done.append((msg_type, r["id"]))
        for hid in gone:
            await self._cancel(conn, hid, opened[hid], partners.get(hid, []))
            done.append(("Cancel", hid))
        for s in shares:
            self._last_share = max(self._last_share, s["id"])
            latest = await latest_message(conn, s["hazard_id"])
            if latest is None or latest["msg_type"] == "Cancel":
                continue  # it ended before it could go out: nothing to warn of
            await self._shared(conn, s, latest, fleet_box)
            done.append(("Shared", s["hazard_id"]))
        return done

    async def _fleet(self, conn, box: list) -> tuple[Fleet, float]:
        from mda.store.hazards import vessel_states

        if not box:
            states = await vessel_states(
                conn, max_age_s=self.max_age_s, exclude_prefixes=self.exclude_prefixes
            )
            now = time.time()
            box.append((Fleet(states, now), now))
        return box[0]

    async def _risk(self, conn, hazard: Hazard, box: list) -> list[AtRisk]:
        fleet, now = await self._fleet(conn, box)
        return await asyncio.to_thread(
            vessels_at_risk, hazard, fleet, now, horizon_h=self.horizon_h
        )

    def _send(self, hid: int, partners: Sequence[str], event: dict, cap_xml: str) -> None:
        body, xml = _payload(event, getattr(self.feed, "signing_key", None)), cap_xml.encode()
        for partner in (None, *partners):
            self.feed.publish(hazard_topic(hid, partner), body)
            self.feed.publish(hazard_topic(hid, partner, cap=True), xml)
        self.messages += 1
        self.partner_messages += len(partners)

    async def _record_and_send(
        self,
        conn,
        *,
        hid: int,
        version,
        msg_type: str,
        hazard: Hazard,
        feature: dict,
        msgs: list[dict],
        partners: Sequence[str],
        at_risk: list[AtRisk] | None,
        identifier: str,
        note: str | None = None,
    ) -> None:
        from mda.store.hazard_messages import record_message

        sent = float(int(time.time()))  # CAP's sent is to the second
        references = [
            cap_reference(m["sender"], m["identifier"], m["sent"].timestamp()) for m in msgs
        ]
        xml = to_cap(  # the vessels at risk in the description, as the API's CAP has them
            hazard,
            sender=self.sender,
            identifier=identifier,
            sent=sent,
            at_risk=at_risk,
            msg_type=msg_type,
            references=references or None,
            note=note,
        )
        cap = {
            "identifier": identifier,
            "sender": self.sender,
            "sent": _z(sent),
            "msg_type": msg_type,
            "references": references,
        }
        change = {v: k for k, v in HAZARD_CHANGES.items()}[msg_type]
        event = hazard_cloudevent(
            feature,
            self.source,
            change=change,
            cap=cap,
            sent=sent,
            at_risk=None if at_risk is None else [risk_item(r) for r in at_risk],
            horizon_h=self.horizon_h,
            note=note,
        )
        await record_message(
            conn,
            hazard_id=hid,
            version=version,
            msg_type=msg_type,
            identifier=identifier,
            sender=self.sender,
            sent=datetime.fromtimestamp(sent, UTC),
            event_id=event["id"],
            hazard=feature,
            cap=xml,
            event=event,
        )
        self._send(hid, partners, event, xml)

    async def _issue(self, conn, msg_type, row, msgs, partners, box) -> None:
        from mda.store.hazards import to_hazard

        hazard = to_hazard(row)
        feature = hazard_feature(hazard, row["id"], status=row["state"], origin=row["source"])
        version = row["updated_at"]
        await self._record_and_send(
            conn,
            hid=row["id"],
            version=version,
            msg_type=msg_type,
            hazard=hazard,
            feature=feature,
            msgs=msgs,
            partners=partners,
            at_risk=await self._risk(conn, hazard, box),
            identifier=hazard_cap_identifier(row["id"], version),
        )

    async def _cancel(self, conn, hid: int, msgs: list[dict], partners) -> None:
        from mda.store.hazards import HazardNotFound, get_hazard, to_hazard

        try:
            row = await get_hazard(conn, hid)
        except HazardNotFound:
            row = None
        if row is None:
            status, note = "withdrawn", "Hazard withdrawn (entered by mistake)"
            feature = dict(msgs[-1]["hazard"])
            feature["properties"] = {**feature["properties"], "status": status}
            hazard = _from_feature(feature)
        else:
            status = row["state"]
            if status == "ended":
                note = f"Hazard ended by {row['ended_by'] or 'an officer'}"
            elif status == "expired":
                note = "Hazard expired"
            else:
                note = "Hazard no longer in force"
            hazard = to_hazard(row)
            feature = hazard_feature(hazard, hid, status=status, origin=row["source"])
        await self._record_and_send(
            conn,
            hid=hid,
            version=None,
            msg_type="Cancel",
            hazard=hazard,
            feature=feature,
            msgs=msgs,
            partners=partners,
            at_risk=None,
            identifier=f"mda-hazard-{hid}-cancel-{int(time.time())}",
            note=note,
        )

    async def _shared(self, conn, share: Mapping, latest: Mapping, box: list) -> None:
        """A new share: the hazard's latest message to the partner (the CAP as it was
        sent; the event with ``change`` ``shared`` and the vessels at risk now)."""
        from mda.store.hazards import HazardNotFound, get_hazard, to_hazard

        hid = share["hazard_id"]
        try:
            row = await get_hazard(conn, hid)
        except HazardNotFound:
            return
        hazard = to_hazard(row)
        feature = hazard_feature(hazard, hid, status=row["state"], origin=row["source"])
        sent = time.time()
        event = hazard_cloudevent(
            feature,
            self.source,
            change="shared",
            cap=latest["event"]["data"]["properties"]["cap"],
            sent=sent,
            at_risk=[risk_item(r) for r in await self._risk(conn, hazard, box)],
            horizon_h=self.horizon_h,
            key=f"share|{share['id']}",
        )
        partner = share["partner"]
        self.feed.publish(
            hazard_topic(hid, partner), _payload(event, getattr(self.feed, "signing_key", None))
        )
        self.feed.publish(hazard_topic(hid, partner, cap=True), latest["cap"].encode())
        self.partner_messages += 1
