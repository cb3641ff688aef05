"""Partners' alerts in (migration 0011): an alert received on a partner's CloudEvents feed
is stored as a row of ``alerts`` with its origin (``origin_partner``, ``origin_event_id``
and ``details["origin"]``: partner, country, source, event id, the partner's alert id), so
that the desk and the map show it marked as the partner's. Its key is
``partner:<name>:<the partner's alert id>``: later events of the same alert update that
row. Each event is kept in ``partner_events`` by its id, so one delivered twice is applied
once. Acknowledging or closing such an alert is refused (``alerts.PartnerAlertReadOnly``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .alerts import ALERT_COLUMNS
from .errors import StoreError

__all__ = ["store_partner_event", "PartnerKeyTaken"]


class PartnerKeyTaken(StoreError):
    """The event's alert key belongs to another origin: nothing is overwritten."""


_RETURNING = ", ".join(f'a."{c}"' for c in ALERT_COLUMNS)

_UPSERT = f"""
INSERT INTO alerts AS a (key, kind, severity, status, mmsi, other_mmsi, start, "end", lat, lon,
                         zone, details, origin_partner, origin_event_id)
VALUES (%(key)s, %(kind)s, %(severity)s, %(status)s, %(mmsi)s, %(other_mmsi)s, %(start)s,
        %(end)s, %(lat)s, %(lon)s, %(zone)s, %(details)s, %(partner)s, %(event_id)s)
ON CONFLICT (key) DO UPDATE SET
    kind = EXCLUDED.kind, severity = EXCLUDED.severity, status = EXCLUDED.status,
    mmsi = EXCLUDED.mmsi, other_mmsi = EXCLUDED.other_mmsi, start = EXCLUDED.start,
    "end" = EXCLUDED."end", lat = EXCLUDED.lat, lon = EXCLUDED.lon, zone = EXCLUDED.zone,
    details = EXCLUDED.details, origin_event_id = EXCLUDED.origin_event_id, updated_at = now()
WHERE a.origin_partner = EXCLUDED.origin_partner
RETURNING {_RETURNING}, a.origin_partner, (xmax = 0) AS inserted
"""


async def store_partner_event(
    conn: psycopg.AsyncConnection,
    partner: str,
    country: str | None,
    event: Mapping[str, Any],
    alert: Mapping[str, Any],
) -> dict | None:
    """Store one checked event (``alert``: its fields, as ``exchange.partner_feed`` reads
    them). Returns the alert row (with ``change``), or None when this event id was
    received before from this partner (nothing is changed)."""
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO partner_events (partner, event_id, source) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING event_id",
                (partner, event["id"], event["source"]),
            )
            if await cur.fetchone() is None:
                return None
            origin = {
                "partner": partner,
                "country": country,
                "source": event["source"],
                "event_id": event["id"],
                "alert_id": alert["remote_id"],
                "time": event.get("time"),
            }
            details = {"text": alert.get("text"), "origin": origin}
            await cur.execute(
                _UPSERT,
                {
                    "key": f"partner:{partner}:{alert['remote_id']}",
                    "kind": alert["kind"],
                    "severity": alert["severity"],
                    "status": alert["status"],
                    "mmsi": alert.get("mmsi"),
                    "other_mmsi": alert.get("other_mmsi"),
                    "start": alert["start"],
                    "end": alert.get("end"),
                    "lat": alert.get("lat"),
                    "lon": alert.get("lon"),
                    "zone": alert.get("zone"),
                    "details": Jsonb(details),
                    "partner": partner,
                    "event_id": event["id"],
                },
            )
            row = await cur.fetchone()
            if row is None:  # the key is one of ours or another partner's: never overwritten
                raise PartnerKeyTaken(f"alert key of {partner} taken by another origin")
            inserted = row.pop("inserted")
            row.pop("origin_partner", None)
            await cur.execute(
                "UPDATE partner_events SET alert_id = %s WHERE partner = %s AND event_id = %s",
                (row["id"], partner, event["id"]),
            )
            await cur.execute(
                "INSERT INTO alert_history (alert_id, action, actor, note, details) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    row["id"],
                    "opened" if inserted else "updated",
                    f"partner:{partner}",
                    f"{alert.get('change') or 'event'} on {partner}'s feed",
                    Jsonb(origin),
                ),
            )
            row["change"] = "opened" if inserted else "updated"
            return row
