"""What was sent for each hazard (migration 0012): every CAP message (Alert, Update, Cancel)
and its CloudEvent that ``exchange.hazard_feed`` published, so that a changed hazard goes out
as an Update referencing the earlier messages and a hazard that ended, was deleted or
expired while the service was stopped still gets its Cancel at the next start.

A hazard is *open* while its last message is not a Cancel; its open messages are those
since its last Cancel (what a Cancel or an Update references)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = ["record_message", "open_messages", "latest_message", "messages_of"]

_LIGHT = "id, hazard_id, version, msg_type, identifier, sender, sent, event_id, hazard"


async def record_message(
    conn: psycopg.AsyncConnection,
    *,
    hazard_id: int,
    version: datetime | None,
    msg_type: str,
    identifier: str,
    sender: str,
    sent: datetime,
    event_id: str,
    hazard: dict[str, Any],
    cap: str,
    event: dict[str, Any],
) -> dict:
    """Keep one message sent (before it is handed to the broker's queue)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""INSERT INTO hazard_messages (hazard_id, version, msg_type, identifier, sender,
                    sent, event_id, hazard, cap, event)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_LIGHT}""",
            (
                hazard_id,
                version,
                msg_type,
                identifier,
                sender,
                sent,
                event_id,
                Jsonb(hazard),
                cap,
                Jsonb(event),
            ),
        )
        return await cur.fetchone()


async def open_messages(conn: psycopg.AsyncConnection) -> dict[int, list[dict]]:
    """For each hazard whose last message is not a Cancel, its messages since its last
    Cancel, oldest first (without the CAP text and the event)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            WITH last AS (
                SELECT DISTINCT ON (hazard_id) hazard_id, msg_type FROM hazard_messages
                ORDER BY hazard_id, id DESC),
            cancelled AS (
                SELECT hazard_id, max(id) AS id FROM hazard_messages
                WHERE msg_type = 'Cancel' GROUP BY hazard_id)
            SELECT {", ".join(f"m.{c}" for c in _LIGHT.split(", "))}
            FROM hazard_messages m JOIN last l USING (hazard_id)
            LEFT JOIN cancelled c USING (hazard_id)
            WHERE l.msg_type <> 'Cancel' AND m.id > coalesce(c.id, 0)
            ORDER BY m.hazard_id, m.id"""
        )
        rows = await cur.fetchall()
    out: dict[int, list[dict]] = {}
    for r in rows:
        out.setdefault(r["hazard_id"], []).append(r)
    return out


async def latest_message(conn: psycopg.AsyncConnection, hazard_id: int) -> dict | None:
    """The last message sent for ``hazard_id`` with its CAP text and event; None if none."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_LIGHT}, cap, event FROM hazard_messages WHERE hazard_id = %s "
            "ORDER BY id DESC LIMIT 1",
            (hazard_id,),
        )
        return await cur.fetchone()


async def messages_of(conn: psycopg.AsyncConnection, hazard_id: int) -> list[dict]:
    """Every message sent for ``hazard_id``, oldest first (without the CAP text and event)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_LIGHT} FROM hazard_messages WHERE hazard_id = %s ORDER BY id",
            (hazard_id,),
        )
        return await cur.fetchall()
