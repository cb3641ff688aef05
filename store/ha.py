"""What the roles (``mda serve --role core``) need of the database to share one installation:
leadership, and the recent past a core that takes over rebuilds its state from.

- ``try_lead``: a PostgreSQL *session* advisory lock, held on a connection of its own for
  as long as the leader lives. Its process dying (SIGKILL) closes the connection and
  the server releases the lock at once; a machine lost without closing its socket (power,
  network) is found by the TCP probes ``guard_lock_session`` asks of the server, within
  about 10 s; a standby polling ``try_lead`` then gets it. The lock is the installation's
  (``LEADER_LOCK``), whichever database.
- ``recent_positions`` / ``recent_statics``: the positions since a time, in event-time
  order, and the vessels' static data, replayed through the analytics at a takeover.
- ``alerts_to_adopt``: the open episodes (and those ended within a cooldown) the analytics
  continue under the same keys.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.rows import dict_row

from mda.ingest.records import PositionReport, RawSentence, VesselInfo

__all__ = [
    "LEADER_LOCK",
    "try_lead",
    "guard_lock_session",
    "holds_lead",
    "recent_positions",
    "recent_statics",
    "latest_position_time",
    "alerts_to_adopt",
    "existing_keys",
    "recent_raw",
]

# pg_try_advisory_lock's key: "mdacore" in ASCII, one for every core of the installation.
LEADER_LOCK = 0x6D6461636F7265


# Without these, a leader whose machine dies without closing its socket keeps the lock
# until the kernel's default keepalive gives up (two hours): the server probes this
# session's peer after 3 s of silence, every second, and drops it after 3 unanswered
# probes, or when data it sent stays unacknowledged for 6 s (tcp_user_timeout, PostgreSQL
# 12 and later). Over a Unix socket they do nothing, and a dead peer is seen at once.
_LOCK_SESSION = {
    "tcp_keepalives_idle": "3",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "6000",
}


async def guard_lock_session(conn: psycopg.AsyncConnection) -> dict[str, str]:
    """Ask the server to notice quickly when the peer of ``conn`` (autocommit), the lock's
    connection, is gone; the settings it took, by name."""
    took = {}
    for name, value in _LOCK_SESSION.items():
        try:
            await conn.execute(f"SET {name} = {value}")
        except psycopg.errors.UndefinedObject:  # an older server without it
            continue
        took[name] = value
    return took


async def try_lead(conn: psycopg.AsyncConnection, key: int = LEADER_LOCK) -> bool:
    """Take the leader's lock on ``conn`` (autocommit) if nobody holds it; True when this
    session holds it (now or already)."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    return bool((await cur.fetchone())[0])


async def holds_lead(conn: psycopg.AsyncConnection, key: int = LEADER_LOCK) -> bool:
    """Does this session still hold the lock? (Raises when the connection is gone.)"""
    cur = await conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND pid = pg_backend_pid() AND ((classid::int8 << 32) | objid::int8) = %s",
        (key,),
    )
    return bool((await cur.fetchone())[0])


async def latest_position_time(conn: psycopg.AsyncConnection) -> float | None:
    cur = await conn.execute("SELECT extract(epoch FROM max(time))::float8 FROM positions")
    row = await cur.fetchone()
    return None if row is None or row[0] is None else float(row[0])


async def recent_positions(conn: psycopg.AsyncConnection, since: float, chunk: int = 20_000):
    """Positions with event time >= ``since``, oldest first, as PositionReports, in lists
    of up to ``chunk`` (a server-side cursor: the window may hold millions)."""
    async with conn.transaction():
        async with conn.cursor(name="mda_recent_positions") as cur:
            await cur.execute(
                "SELECT extract(epoch FROM time)::float8, mmsi, lat, lon, sog, cog, heading, "
                "nav_status, msg_type, source, rot, accuracy FROM positions "
                "WHERE time >= %s ORDER BY time",
                (datetime.fromtimestamp(since, UTC),),
            )
            while rows := await cur.fetchmany(chunk):
                yield [PositionReport(*r) for r in rows]


async def recent_raw(conn: psycopg.AsyncConnection, since: float) -> list[RawSentence]:
    """The raw archive's lines with event time >= ``since`` (the last seconds: what the
    core's de-duplication of a second ingest's copies is seeded with at a takeover)."""
    cur = await conn.execute(
        "SELECT c.source, l.ts, l.line FROM raw_chunks c, unnest(c.ts, c.lines) AS l(ts, line) "
        "WHERE c.time_end >= %s AND l.ts >= %s ORDER BY l.ts",
        (datetime.fromtimestamp(since, UTC), since),
    )
    return [RawSentence(ts, source, line) for source, ts, line in await cur.fetchall()]


async def recent_statics(conn: psycopg.AsyncConnection, since: float) -> list[VesselInfo]:
    """The static data of the vessels heard since ``since`` (as the vessels table merged
    it), as VesselInfo records at their static time."""
    cur = await conn.execute(
        "SELECT extract(epoch FROM static_time)::float8, mmsi, name, callsign, imo, ship_type, "
        "to_bow, to_stern, to_port, to_starboard, draught, destination, eta FROM vessels "
        "WHERE static_time IS NOT NULL AND time >= %s ORDER BY static_time",
        (datetime.fromtimestamp(since, UTC),),
    )
    out = []
    for r in await cur.fetchall():
        out.append(
            VesselInfo(
                r[0],
                r[1],
                5,
                "",
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
            )
        )
    return out


async def alerts_to_adopt(conn: psycopg.AsyncConnection, closed_since: float) -> list[dict]:
    """Our own alerts still open, and those ended at or after ``closed_since`` (within the
    cooldown they may still go on): key, kind, severity, mmsi, other_mmsi, zone, lat, lon,
    details, and start and end as epoch seconds."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT key, kind, severity, mmsi, other_mmsi, zone, lat, lon, details, "
            'extract(epoch FROM start)::float8 AS start, extract(epoch FROM "end")::float8 '
            'AS "end" FROM alerts WHERE origin_partner IS NULL '
            'AND ("end" IS NULL OR "end" >= %s) ORDER BY start',
            (datetime.fromtimestamp(closed_since, UTC),),
        )
        return await cur.fetchall()


async def existing_keys(conn: psycopg.AsyncConnection, keys: list[str]) -> set[str]:
    """Which of these alert keys the alerts table holds."""
    cur = await conn.execute("SELECT key FROM alerts WHERE key = ANY(%s)", (keys,))
    return {r[0] for r in await cur.fetchall()}
