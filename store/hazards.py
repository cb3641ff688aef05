"""Hazard areas in the database (migration 0009), and the vessels' last fixes that the
hazard and search-and-rescue answers are computed from.

A hazard is stored as the analytics' ``Hazard`` describes it: a GeoJSON (Multi)Polygon in
lon/lat, a validity (``onset``, ``expires``), a severity, where it came from (``source``; a
CAP alert's identifier, sender and sent time) and who made it. One from a CAP alert carries
a ``ref`` (``cap:<sender>:<identifier>:<info n>``): the same warning delivered again updates
its row rather than adding one. ``status`` is ``active`` until an officer ends it; a hazard
past its ``expires`` is no longer in force whatever its status (``state`` in the rows says
``pending``, ``in_force``, ``expired`` or ``ended``).

Changes take the caller's connection and run in its transaction, so the web writes the audit
row of each change in the same one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from shapely.geometry import mapping, shape

from mda.analytics.hazards import Hazard, VesselState

from .desk import Invalid, NotFound

__all__ = [
    "HazardNotFound",
    "end_cap_hazards",
    "InvalidHazard",
    "SEVERITIES",
    "save_hazard",
    "end_hazard",
    "delete_hazard",
    "get_hazard",
    "list_hazards",
    "hazards_in_force",
    "to_hazard",
    "vessel_states",
]

SEVERITIES = ("critical", "high", "medium", "low")

_COLUMNS = """id, ref, name, kind, severity, onset, expires, geometry, source, cap_identifier,
    cap_sender, cap_sent, details, status, created_by, created_at, updated_at, ended_by,
    ended_at,
    CASE WHEN status = 'ended' THEN 'ended'
         WHEN expires IS NOT NULL AND expires <= now() THEN 'expired'
         WHEN onset IS NOT NULL AND onset > now() THEN 'pending'
         ELSE 'in_force' END AS state"""


class HazardNotFound(NotFound):
    """No hazard has this id (the web answers 404)."""


class InvalidHazard(Invalid):
    """A hazard the table refuses (a severity not known, an empty name)."""


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


async def save_hazard(
    conn: psycopg.AsyncConnection, hazard: Hazard, *, source: str, created_by: str
) -> dict:
    """Store ``hazard``; one from a CAP alert already stored (same ref) is updated instead.
    Returns the row, with ``created`` false for an update."""
    if hazard.severity not in SEVERITIES:
        raise InvalidHazard(f"severity: {hazard.severity!r} is not one of {', '.join(SEVERITIES)}")
    name = (hazard.name or "").strip()
    if not name:
        raise InvalidHazard("name: a hazard needs a name")
    d = hazard.details or {}
    ref = None
    if d.get("identifier"):
        ref = f"cap:{d.get('sender')}:{d['identifier']}:{hazard.id.rsplit(':', 1)[-1]}"
    cap_sent = d.get("sent")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            INSERT INTO hazards (ref, name, severity, onset, expires, geometry, source,
                                 cap_identifier, cap_sender, cap_sent, details, created_by)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (ref) DO UPDATE SET name = EXCLUDED.name,
                severity = EXCLUDED.severity, onset = EXCLUDED.onset,
                expires = EXCLUDED.expires, geometry = EXCLUDED.geometry,
                cap_sent = EXCLUDED.cap_sent, details = EXCLUDED.details,
                updated_at = now()
            RETURNING {_COLUMNS}, (xmax = 0) AS created""",
            (
                ref,
                name[:500],
                hazard.severity,
                _ts(hazard.onset),
                _ts(hazard.expires),
                Jsonb(mapping(hazard.geometry)),
                source,
                d.get("identifier"),
                d.get("sender"),
                _ts(cap_sent) if isinstance(cap_sent, int | float) else None,
                Jsonb(d),
                created_by,
            ),
        )
        return await cur.fetchone()


async def end_hazard(conn: psycopg.AsyncConnection, hazard_id: int, user: str) -> dict:
    """End a hazard before it expires (ending one already ended changes nothing)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            UPDATE hazards SET status = 'ended', ended_by = coalesce(ended_by, %s),
                ended_at = coalesce(ended_at, now()), updated_at = now()
            WHERE id = %s RETURNING {_COLUMNS}""",
            (user, hazard_id),
        )
        row = await cur.fetchone()
    if row is None:
        raise HazardNotFound(f"hazard {hazard_id}: not found")
    return row


async def end_cap_hazards(
    conn: psycopg.AsyncConnection, refs: list[tuple[str, str]], user: str
) -> list[dict]:
    """End the hazards read from the CAP messages ``refs`` ((sender, identifier) pairs: what
    a CAP "Cancel" withdraws) that are still active; the rows ended."""
    if not refs:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            UPDATE hazards SET status = 'ended', ended_by = %s, ended_at = now(),
                updated_at = now()
            WHERE status = 'active' AND (cap_sender, cap_identifier) IN
                (SELECT * FROM unnest(%s::text[], %s::text[]))
            RETURNING {_COLUMNS}""",
            (user, [s for s, _ in refs], [i for _, i in refs]),
        )
        return await cur.fetchall()


async def delete_hazard(conn: psycopg.AsyncConnection, hazard_id: int) -> dict:
    """Remove a hazard entered by mistake (a supervisor's act; ending is the usual way)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"DELETE FROM hazards WHERE id = %s RETURNING {_COLUMNS}", (hazard_id,))
        row = await cur.fetchone()
    if row is None:
        raise HazardNotFound(f"hazard {hazard_id}: not found")
    return row


async def get_hazard(conn: psycopg.AsyncConnection, hazard_id: int) -> dict:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM hazards WHERE id = %s", (hazard_id,))
        row = await cur.fetchone()
    if row is None:
        raise HazardNotFound(f"hazard {hazard_id}: not found")
    return row


async def list_hazards(conn: psycopg.AsyncConnection, *, all_: bool = False) -> list[dict]:
    """Hazards not ended nor expired (those not yet in force too), newest first; ``all_``:
    every one."""
    where = "" if all_ else "WHERE status = 'active' AND (expires IS NULL OR expires > now())"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM hazards {where} ORDER BY id DESC LIMIT 1000")
        return await cur.fetchall()


async def hazards_in_force(conn: psycopg.AsyncConnection) -> list[dict]:
    """The hazards in force now (active, begun, not expired), for the analytics' zones."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM hazards WHERE status = 'active'
                AND (expires IS NULL OR expires > now()) AND (onset IS NULL OR onset <= now())
                ORDER BY id"""
        )
        return await cur.fetchall()


def to_hazard(row: dict) -> Hazard:
    """A stored row as the analytics' ``Hazard`` (``id`` the row's id as text)."""

    def epoch(t: datetime | None) -> float | None:
        return None if t is None else t.timestamp()

    return Hazard(
        id=str(row["id"]),
        name=row["name"],
        geometry=shape(row["geometry"]),
        severity=row["severity"],
        onset=epoch(row["onset"]),
        expires=epoch(row["expires"]) if row["status"] == "active" else epoch(row["ended_at"]),
        details=dict(row["details"] or {}),
    )


async def vessel_states(
    conn: psycopg.AsyncConnection, *, max_age_s: float = 86400.0, exclude_prefixes=()
) -> list[VesselState]:
    """Every vessel's last fix no older than ``max_age_s``, with its type and name: what the
    projections and the rescue ranking start from. MMSIs starting with one of
    ``exclude_prefixes`` (distress beacons: they go nowhere) are left out."""
    params: list[Any] = [max_age_s]
    skip = ""
    for p in exclude_prefixes:
        skip += " AND mmsi::text NOT LIKE %s"
        params.append(f"{int(p)}%")
    async with conn.cursor() as cur:
        await cur.execute(
            f"""SELECT mmsi, extract(epoch FROM time), lat, lon, sog, cog, ship_type,
                       nav_status, name
                FROM vessels
                WHERE time > now() - make_interval(secs => %s) AND lat IS NOT NULL
                      AND lon IS NOT NULL {skip}""",
            params,
        )
        rows = await cur.fetchall()
    return [
        VesselState(
            int(m),
            float(ts),
            float(lat),
            float(lon),
            None if sog is None else float(sog),
            None if cog is None else float(cog),
            st,
            ns,
            name,
        )
        for m, ts, lat, lon, sog, cog, st, ns, name in rows
    ]
