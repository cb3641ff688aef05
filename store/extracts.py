"""What an incident extract reads: the alert, the vessels' static data, their positions and
raw sentences in a time window (or every vessel in an area), and the extracts already made
(from the audit log). The extract itself is built by ``exchange.extract``.

Positions and raw sentences are *streamed* (``cursor.stream``: one row at a time from the
server), so an extract of a busy area is written to disk as it is read, never held whole;
``count_positions`` lets the caller refuse one that is too big before reading it.
All functions take an open ``psycopg.AsyncConnection`` with ``TimeZone=UTC``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .queries import alert_detail

__all__ = [
    "Area",
    "POSITION_COLUMNS",
    "alert_record",
    "vessels",
    "last_fix",
    "count_positions",
    "positions",
    "vessel_spans",
    "raw_lines",
    "extracts_of",
]

# The columns of a position row, in the order ``positions`` yields them.
POSITION_COLUMNS = (
    "time",
    "mmsi",
    "lat",
    "lon",
    "sog",
    "cog",
    "heading",
    "nav_status",
    "msg_type",
    "source",
)

_VESSEL_COLUMNS = (
    "mmsi, name, callsign, imo, ship_type, to_bow, to_stern, to_port, to_starboard, "
    "draught, destination, eta, static_time, first_seen, time AS last_seen"
)


@dataclass(frozen=True)
class Area:
    """A lat/lon box (south <= north, west <= east; not across the antimeridian)."""

    south: float
    west: float
    north: float
    east: float

    def sql(self) -> tuple[str, list[float]]:
        return "lat BETWEEN %s AND %s AND lon BETWEEN %s AND %s", [
            self.south,
            self.north,
            self.west,
            self.east,
        ]


def _where(
    mmsis: Sequence[int] | None, area: Area | None, start: datetime, end: datetime
) -> tuple[str, list[Any]]:
    where, params = ["time BETWEEN %s AND %s"], [start, end]
    if mmsis is not None:
        where.append("mmsi = ANY(%s)")
        params.append(list(mmsis))
    if area is not None:
        text, values = area.sql()
        where.append(text)
        params.extend(values)
    return " AND ".join(where), params


async def alert_record(conn: psycopg.AsyncConnection, alert_id: int) -> dict | None:
    """The alert as ``GET /api/alerts/{id}`` gives it (with its history), or None."""
    text = await alert_detail(conn, alert_id)
    return None if text is None else json.loads(text)


async def vessels(conn: psycopg.AsyncConnection, mmsis: Sequence[int]) -> dict[int, dict]:
    """Static data of the vessels as last reported (``vessels`` table), by MMSI."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_VESSEL_COLUMNS} FROM vessels WHERE mmsi = ANY(%s) ORDER BY mmsi",
        (list(mmsis),),
    )
    return {r["mmsi"]: r for r in await cur.fetchall()}


async def last_fix(conn: psycopg.AsyncConnection, mmsis: Sequence[int]) -> datetime | None:
    """The newest position time of any of these vessels."""
    cur = await conn.execute(
        "SELECT max(t) FROM (SELECT (SELECT time FROM positions p WHERE p.mmsi = m "
        "ORDER BY time DESC LIMIT 1) AS t FROM unnest(%s::integer[]) AS m) q",
        (list(mmsis),),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def count_positions(
    conn: psycopg.AsyncConnection,
    start: datetime,
    end: datetime,
    *,
    mmsis: Sequence[int] | None = None,
    area: Area | None = None,
) -> tuple[int, int]:
    """(positions, vessels) of these vessels or in this area between start and end."""
    where, params = _where(mmsis, area, start, end)
    cur = await conn.execute(
        f"SELECT count(*), count(DISTINCT mmsi) FROM positions WHERE {where}", params
    )
    n, v = await cur.fetchone()
    return n, v


async def positions(
    conn: psycopg.AsyncConnection,
    start: datetime,
    end: datetime,
    *,
    mmsis: Sequence[int] | None = None,
    area: Area | None = None,
) -> AsyncIterator[tuple]:
    """The positions as tuples of ``POSITION_COLUMNS``, by MMSI then time, streamed."""
    where, params = _where(mmsis, area, start, end)
    cur = conn.cursor()
    async for row in cur.stream(
        f"SELECT {', '.join(POSITION_COLUMNS)} FROM positions WHERE {where} "
        "ORDER BY mmsi, time, source, lat, lon",
        params,
    ):
        yield row


async def vessel_spans(
    conn: psycopg.AsyncConnection, area: Area, start: datetime, end: datetime
) -> list[tuple[int, datetime, datetime]]:
    """Per vessel seen in the area between start and end: its first and last fix there."""
    where, params = _where(None, area, start, end)
    cur = await conn.execute(
        f"SELECT mmsi, min(time), max(time) FROM positions WHERE {where} GROUP BY mmsi "
        "ORDER BY mmsi",
        params,
    )
    return [tuple(r) for r in await cur.fetchall()]


async def raw_lines(
    conn: psycopg.AsyncConnection, spans: Sequence[tuple[int, datetime, datetime]]
) -> AsyncIterator[str]:
    """The archived sentences (``raw_sentences``: tag blocks included, a multipart message
    or a ``$PGHP`` line with its sentence as one element) of each vessel within its
    ``(mmsi, start, end)`` span, in event time order, streamed. Chunks are pruned on their
    time range before they are unnested."""
    if not spans:
        return
    t0 = min(s[1] for s in spans)
    t1 = max(s[2] for s in spans)
    cur = conn.cursor()
    async for (line,) in cur.stream(
        """
        WITH span (mmsi, t0, t1) AS (
            SELECT * FROM unnest(%s::integer[], %s::timestamptz[], %s::timestamptz[]))
        SELECT u.line
        FROM raw_chunks AS c
        CROSS JOIN LATERAL unnest(c.ts, c.mmsis, c.lines) WITH ORDINALITY
            AS u (ts, mmsi, line, i)
        JOIN span s ON s.mmsi = u.mmsi
        WHERE c.time <= %s AND c.time_end >= %s
          AND to_timestamp(u.ts) BETWEEN s.t0 AND s.t1
        ORDER BY u.ts, c.time, c.source, u.i""",
        (
            [s[0] for s in spans],
            [s[1] for s in spans],
            [s[2] for s in spans],
            t1,
            t0,
        ),
    ):
        yield line


async def extracts_of(conn: psycopg.AsyncConnection, target: str, limit: int = 50) -> list[dict]:
    """The extracts made of ``target`` (``alert:42``), newest first, from the audit log."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, time, actor, role, via, details FROM audit_log "
        "WHERE target = %s AND action LIKE 'extract.%%' ORDER BY time DESC, id DESC LIMIT %s",
        (target, limit),
    )
    return await cur.fetchall()
