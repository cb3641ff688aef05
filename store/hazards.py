"""Hazard areas in the database (migration 0009), and the vessels' last fixes that the
hazard and search-and-rescue answers are computed from.

A hazard is stored as the analytics' ``Hazard`` describes it: a GeoJSON (Multi)Polygon in
lon/lat, a validity (``onset``, ``expires``), a severity, where it came from (``source``; a
CAP alert's identifier, sender and sent time) and who made it. One from a CAP alert carries
a ``ref`` (``cap:<sender>:<identifier>:<info n>``): the same warning delivered again updates
its row rather than adding one. ``status`` is ``active`` until an officer ends it; a hazard
past its ``expires`` is no longer in force whatever its status (``state`` in the rows says
``pending``, ``in_force``, ``awaiting_confirmation``, ``expired`` or ``ended``). A CAP
``Update`` (a new identifier, ``references`` naming the earlier message) updates the hazard
read from the message it references. ``unconfirmed`` (migration 0015): a hazard from the MQTT
feed larger than the limit, kept until a supervisor confirms it; not in force until then.

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
    "confirm_hazard",
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
    ended_at, confirmed_by, confirmed_at, cap_identifiers,
    CASE WHEN status = 'ended' THEN 'ended'
         WHEN expires IS NOT NULL AND expires <= now() THEN 'expired'
         WHEN status = 'unconfirmed' THEN 'awaiting_confirmation'
         WHEN onset IS NOT NULL AND onset > now() THEN 'pending'
         ELSE 'in_force' END AS state"""


class HazardNotFound(NotFound):
    """No hazard has this id (the web answers 404)."""


class InvalidHazard(Invalid):
    """A hazard the table refuses (a severity not known, an empty name)."""


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


async def save_hazard(
    conn: psycopg.AsyncConnection,
    hazard: Hazard,
    *,
    source: str,
    created_by: str,
    unconfirmed: bool = False,
) -> dict:
    """Store ``hazard``; one from a CAP message already stored is updated instead (same id):
    the same message delivered again (same sender, identifier and info block), or a CAP
    ``Update`` whose ``references`` name a message the hazard was read from (it then takes
    the Update's identifier, and keeps every earlier one for later references). An older
    message than the one stored changes nothing. ``unconfirmed``: a new hazard awaits a
    supervisor's confirmation (``confirm_hazard``) before it is in force. Returns the row,
    with ``created`` false for an update."""
    if hazard.severity not in SEVERITIES:
        raise InvalidHazard(f"severity: {hazard.severity!r} is not one of {', '.join(SEVERITIES)}")
    name = (hazard.name or "").strip()
    if not name:
        raise InvalidHazard("name: a hazard needs a name")
    d = hazard.details or {}
    ref = None
    info_n = hazard.id.rsplit(":", 1)[-1]
    if d.get("identifier"):
        ref = f"cap:{d.get('sender')}:{d['identifier']}:{info_n}"
    cap_sent = d.get("sent")
    sent = _ts(cap_sent) if isinstance(cap_sent, int | float) else None
    values = (
        name[:500],
        hazard.severity,
        _ts(hazard.onset),
        _ts(hazard.expires),
        Jsonb(mapping(hazard.geometry)),
        Jsonb(d),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        if d.get("identifier"):
            earlier = [d["identifier"]]
            if d.get("msg_type") == "Update":
                earlier += [i for s, i in _references(d.get("references")) if s == d.get("sender")]
            await cur.execute(
                f"""SELECT {_COLUMNS} FROM hazards
                    WHERE cap_sender = %s AND cap_identifiers && %s::text[]
                      AND ref LIKE %s
                    ORDER BY id LIMIT 1 FOR UPDATE""",
                (d.get("sender"), earlier, f"%:{info_n}"),
            )
            found = await cur.fetchone()
            if found is not None:
                if sent is not None and found["cap_sent"] is not None and sent < found["cap_sent"]:
                    # an older message (a retained Alert after its Update): the row stays
                    return {**found, "created": False, "unchanged": True}
                await cur.execute(
                    f"""
                    UPDATE hazards SET name = %s, severity = %s, onset = %s, expires = %s,
                        geometry = %s, details = %s, ref = %s, cap_identifier = %s,
                        cap_sent = %s, updated_at = now(),
                        cap_identifiers = CASE WHEN %s = ANY(cap_identifiers)
                            THEN cap_identifiers ELSE cap_identifiers || %s::text END
                    WHERE id = %s RETURNING {_COLUMNS}, false AS created""",
                    (
                        *values,
                        ref,
                        d["identifier"],
                        sent,
                        d["identifier"],
                        d["identifier"],
                        found["id"],
                    ),
                )
                return await cur.fetchone()
        await cur.execute(
            f"""
            INSERT INTO hazards (name, severity, onset, expires, geometry, details, ref, source,
                                 cap_identifier, cap_sender, cap_sent, created_by, status,
                                 cap_identifiers)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (ref) DO UPDATE SET name = EXCLUDED.name,
                severity = EXCLUDED.severity, onset = EXCLUDED.onset,
                expires = EXCLUDED.expires, geometry = EXCLUDED.geometry,
                cap_sent = EXCLUDED.cap_sent, details = EXCLUDED.details,
                updated_at = now()
            RETURNING {_COLUMNS}, (xmax = 0) AS created""",
            (
                *values,
                ref,
                source,
                d.get("identifier"),
                d.get("sender"),
                sent,
                created_by,
                "unconfirmed" if unconfirmed else "active",
                [d["identifier"]] if d.get("identifier") else [],
            ),
        )
        return await cur.fetchone()


def _references(text: str | None) -> list[tuple[str, str]]:
    """CAP's ``references`` (``sender,identifier,sent ...``) as (sender, identifier) pairs,
    those not of that form left out."""
    out = []
    for ref in (text or "").split():
        parts = ref.split(",")
        if len(parts) == 3 and parts[0] and parts[1]:
            out.append((parts[0], parts[1]))
    return out


async def confirm_hazard(conn: psycopg.AsyncConnection, hazard_id: int, user: str) -> dict:
    """A supervisor confirms a hazard awaiting confirmation: it is in force from now on
    (zone_entry alerts, the partners' feeds). Confirming one in force changes nothing; one
    ended cannot be confirmed (``InvalidHazard``)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            UPDATE hazards SET status = 'active', confirmed_by = %s, confirmed_at = now(),
                updated_at = now()
            WHERE id = %s AND status = 'unconfirmed' RETURNING {_COLUMNS}""",
            (user, hazard_id),
        )
        row = await cur.fetchone()
    if row is not None:
        return row
    row = await get_hazard(conn, hazard_id)  # 404 for none
    if row["status"] == "ended":
        raise InvalidHazard(f"hazard {hazard_id} is ended: there is nothing to confirm")
    return row


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
    a CAP "Cancel" withdraws; the Alert or any of its Updates) that are still active or
    awaiting confirmation; the rows ended."""
    if not refs:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            UPDATE hazards SET status = 'ended', ended_by = %s, ended_at = now(),
                updated_at = now()
            WHERE status IN ('active', 'unconfirmed') AND EXISTS
                (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS r(s, i)
                 WHERE r.s = cap_sender AND r.i = ANY(cap_identifiers))
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
    """Hazards not ended nor expired (those not yet in force, and those awaiting
    confirmation, too), newest first; ``all_``: every one."""
    where = (
        ""
        if all_
        else "WHERE status IN ('active', 'unconfirmed') AND (expires IS NULL OR expires > now())"
    )
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
        expires=epoch(row["ended_at"]) if row["status"] == "ended" else epoch(row["expires"]),
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
                       nav_status, name, to_bow + to_stern
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
            float(length) if length else None,
        )
        for m, ts, lat, lon, sog, cog, st, ns, name, length in rows
    ]
