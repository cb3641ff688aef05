"""Alerts in the database: the analytics' changes upserted by episode key, and the
officers' lifecycle actions (acknowledge, close), each written to ``alert_history``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .errors import StoreError

__all__ = ["save_changes", "acknowledge", "close", "end_open_episodes", "AlertNotFound",
           "InvalidTransition", "ALERT_COLUMNS"]

ALERT_COLUMNS = ("id", "key", "kind", "severity", "status", "mmsi", "other_mmsi", "start", "end",
                 "lat", "lon", "zone", "details", "created_at", "updated_at", "acknowledged_by",
                 "acknowledged_at", "closed_by", "closed_at", "note")
_SELECT = ", ".join(f'"{c}"' for c in ALERT_COLUMNS)


class AlertNotFound(StoreError):
    pass


class InvalidTransition(StoreError):
    pass


def _ts(v: float | None) -> datetime | None:
    return None if v is None else datetime.fromtimestamp(v, timezone.utc)


# An episode that had ended and goes on again (the analytics' cooldown merges a new episode
# into the last one) is the situation coming back: it returns to the desk as open, even if
# an officer had acknowledged or closed it.
_UPSERT = f"""
WITH before AS (SELECT "end" IS NOT NULL AS ended FROM alerts WHERE key = %(key)s)
INSERT INTO alerts AS a (key, kind, severity, mmsi, other_mmsi, start, "end", lat, lon, zone,
                         details)
VALUES (%(key)s, %(kind)s, %(severity)s, %(mmsi)s, %(other_mmsi)s, %(start)s, %(end)s,
        %(lat)s, %(lon)s, %(zone)s, %(details)s)
ON CONFLICT (key) DO UPDATE SET
    severity = EXCLUDED.severity, "end" = EXCLUDED."end", lat = EXCLUDED.lat,
    lon = EXCLUDED.lon, zone = EXCLUDED.zone, details = EXCLUDED.details,
    other_mmsi = EXCLUDED.other_mmsi, updated_at = now(),
    status = CASE WHEN a."end" IS NOT NULL AND EXCLUDED."end" IS NULL THEN 'open'
                  ELSE a.status END
RETURNING {", ".join(f'a."{c}"' for c in ALERT_COLUMNS)}, (xmax = 0) AS inserted,
          coalesce((SELECT ended FROM before), false) AND "end" IS NULL AS reopened
"""


async def save_changes(conn: psycopg.AsyncConnection, changes: Iterable[Any]) -> list[dict]:
    """Store the analytics' AlertChanges; returns the stored rows (with ``id`` and
    ``status``) in the same order, for the live hub and the MQTT publisher."""
    rows: list[dict] = []
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            for ch in changes:
                a = ch.alert
                await cur.execute(_UPSERT, {
                    "key": a.key, "kind": a.kind, "severity": a.severity, "mmsi": a.mmsi,
                    "other_mmsi": a.other_mmsi, "start": _ts(a.start), "end": _ts(a.end),
                    "lat": a.lat, "lon": a.lon, "zone": a.zone, "details": Jsonb(a.details)})
                row = await cur.fetchone()
                reopened = row.pop("reopened")
                action = "opened" if row.pop("inserted") else (
                    "reopened" if reopened else "ended" if ch.change == "closed" else "updated")
                # Every opening and ending goes in the history; growth updates would flood
                # it, so only the first and last state of an episode are kept there.
                if action != "updated":
                    await cur.execute(
                        "INSERT INTO alert_history (alert_id, action, actor, details) "
                        "VALUES (%s, %s, 'analytics', %s)",
                        (row["id"], action, Jsonb(a.details)))
                row["change"] = action
                rows.append(row)
    return rows


async def _transition(conn: psycopg.AsyncConnection, alert_id: int, user: str, note: str | None,
                      action: str, allowed_from: tuple[str, ...], sets: str) -> dict:
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT status FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
            row = await cur.fetchone()
            if row is None:
                raise AlertNotFound(f"alert {alert_id} not found")
            if row["status"] not in allowed_from:
                raise InvalidTransition(f"alert {alert_id} is {row['status']}; cannot {action[:-2]} it")
            await cur.execute(
                f"UPDATE alerts SET {sets}, note = coalesce(%(note)s, note), updated_at = now() "
                f"WHERE id = %(id)s RETURNING {_SELECT}",
                {"id": alert_id, "user": user, "note": note})
            updated = await cur.fetchone()
            await cur.execute(
                "INSERT INTO alert_history (alert_id, action, actor, note) VALUES (%s, %s, %s, %s)",
                (alert_id, action, user, note))
    return updated


async def acknowledge(conn: psycopg.AsyncConnection, alert_id: int, user: str,
                      note: str | None = None) -> dict:
    return await _transition(conn, alert_id, user, note, "acknowledged", ("open",),
                             "status = 'acknowledged', acknowledged_by = %(user)s, "
                             "acknowledged_at = now()")


async def close(conn: psycopg.AsyncConnection, alert_id: int, user: str,
                note: str | None = None) -> dict:
    return await _transition(conn, alert_id, user, note, "closed", ("open", "acknowledged"),
                             "status = 'closed', closed_by = %(user)s, closed_at = now()")


def end_open_episodes(conn: psycopg.Connection) -> int:
    """At start-up: end the episodes a previous run left open (their detectors' memory is
    gone) at the last evidence they reported (start + duration, in event time, not the
    wall clock), noting why in the history. Returns how many."""
    with conn.transaction():
        rows = conn.execute("""
            UPDATE alerts SET
                "end" = start + coalesce((details ->> 'duration_min')::float8, 0)
                                * interval '1 minute',
                updated_at = now()
            WHERE "end" IS NULL RETURNING id""").fetchall()
        if rows:
            conn.cursor().executemany(
                "INSERT INTO alert_history (alert_id, action, actor, note) "
                "VALUES (%s, 'ended', 'system', 'service restarted; episode ended at its last update')",
                rows)
    return len(rows)
