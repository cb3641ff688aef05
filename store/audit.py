"""The audit log: one row per state change (logins, logouts, acknowledgements, closures,
users and tokens created or revoked): who (actor, role, via, address), what (action,
target, details) and when. Written by the accounts rules and the web; read by
``GET /api/audit``."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from ._raw import fetch_raw

__all__ = ["record", "entries_json"]


async def record(
    conn: psycopg.AsyncConnection,
    *,
    actor: str,
    via: str,
    action: str,
    role: str | None = None,
    target: str | None = None,
    ip: str | None = None,
    details: dict | None = None,
) -> None:
    """Append one row: who (actor, role, via, ip), what (action, target, details), when
    (now). Runs in the caller's transaction, so a change and its row commit together."""
    await conn.execute(
        "INSERT INTO audit_log (actor, role, via, action, target, ip, details) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (actor, role, via, action, target, ip, Jsonb(details or {})),
    )


async def entries_json(
    conn: psycopg.AsyncConnection,
    *,
    limit: int = 200,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> bytes:
    """The log newest first as a JSON array; ``action`` is a prefix (``alert.``)."""
    where, params = [], []
    if actor:
        where.append("actor = %s")
        params.append(actor)
    if action:
        where.append("action LIKE %s")
        params.append(action.replace("%", "\\%") + "%")
    if since is not None:
        where.append("time >= %s")
        params.append(since)
    params.append(limit)
    return await fetch_raw(
        conn,
        f"""
        SELECT coalesce(json_agg(row_to_json(q) ORDER BY q.time DESC, q.id DESC), '[]')::text
        FROM (SELECT id, time, actor, role, via, action, target, ip, details FROM audit_log
              {"WHERE " + " AND ".join(where) if where else ""}
              ORDER BY time DESC, id DESC LIMIT %s) q""",
        params,
    )
