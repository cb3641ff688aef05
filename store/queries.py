"""The map's read model: what the web and ``mda status`` read about vessels, tracks,
alerts, zones and alert quality.

The hot read paths (vessels, tracks, alert lists, zones) build their JSON inside
PostgreSQL with ``json_build_object``/``json_agg`` and return it as one text value, so the
web tier streams it out without decoding and re-encoding tens of thousands of rows.
Times come out as ISO 8601 in UTC: connections used here must run with ``TimeZone=UTC``
(``configure_connection`` does that for the web's pool).

Accounts, sessions and the audit log have their own modules (``accounts``, ``sessions``,
``audit``). All functions take an open ``psycopg.AsyncConnection``; none commits or opens
a pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from ._raw import _BytesLoader
from ._raw import fetch_raw as _raw
from .alerts import NOTICE, OUTCOMES


class _BytesBinaryLoader(_BytesLoader):
    """Binary text columns as raw UTF-8 bytes (``_BytesLoader`` reads text-format ones)."""

    format = psycopg.pq.Format.BINARY


__all__ = [
    "configure_connection",
    "BBox",
    "ping",
    "vessels_geojson",
    "vessel_features",
    "vessel_detail",
    "vessel_last_fix",
    "vessel_track_geojson",
    "search_vessels",
    "alerts_json",
    "alert_detail",
    "alerts_open_by_kind",
    "zones_geojson",
    "NOTICE_WINDOW",
    "CLOSURE_WINDOW",
    "window_text",
    "data_quality_json",
    "notice_counts",
    "alerts_not_closed",
    "closure_counts",
    "false_alarm_shares",
]


async def configure_connection(conn: psycopg.AsyncConnection) -> None:
    """Session settings every web connection needs (the pool's ``configure`` hook)."""
    await conn.set_autocommit(True)
    await conn.execute("SET TIME ZONE 'UTC'")


@dataclass(frozen=True)
class BBox:
    """A lon/lat box; ``min_lon > max_lon`` means it crosses the antimeridian."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def sql(self, lon: str = "lon", lat: str = "lat") -> tuple[str, list[float]]:
        if self.min_lon <= self.max_lon:
            return (
                f"{lon} BETWEEN %s AND %s AND {lat} BETWEEN %s AND %s",
                [self.min_lon, self.max_lon, self.min_lat, self.max_lat],
            )
        return (
            f"({lon} >= %s OR {lon} <= %s) AND {lat} BETWEEN %s AND %s",
            [self.min_lon, self.max_lon, self.min_lat, self.max_lat],
        )


async def ping(conn: psycopg.AsyncConnection) -> dict:
    cur = await conn.execute(
        "SELECT current_setting('server_version'), "
        "(SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), "
        "(SELECT coalesce(max(version), 0) FROM schema_migrations)"
    )
    version, ts, schema = await cur.fetchone()
    return {"server_version": version, "timescaledb": ts, "schema_version": schema}


# ------------------------------------------------------------------------------ vessels

# One GeoJSON Feature per vessel row ``v``, built by string concatenation: on 50,000 rows
# it is about twice as fast as nested json_build_object calls. Every value goes through a
# JSON-safe text form (numbers as PostgreSQL prints them, text via to_json for escaping,
# NULL as null). Coordinates are rounded to 1e-5 deg (about 1 m), finer than AIS.
_VESSEL_FEATURE = """concat(
  '{"type":"Feature","id":', v.mmsi, ',"geometry":{"type":"Point","coordinates":[',
  round(v.lon * 1e5) / 1e5, ',', round(v.lat * 1e5) / 1e5,
  ']},"properties":{"mmsi":', v.mmsi,
  ',"name":', coalesce(to_json(v.name)::text, 'null'),
  ',"callsign":', coalesce(to_json(v.callsign)::text, 'null'),
  ',"ship_type":', coalesce(v.ship_type::text, 'null'),
  ',"sog":', coalesce(to_json(v.sog)::text, 'null'),
  ',"cog":', coalesce(to_json(v.cog)::text, 'null'),
  ',"heading":', coalesce(v.heading::text, 'null'),
  ',"nav_status":', coalesce(v.nav_status::text, 'null'),
  ',"last_seen":', to_json(v.time)::text, '}}')"""


async def vessels_geojson(
    conn: psycopg.AsyncConnection,
    *,
    bbox: BBox | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> bytes:
    """Latest position of every vessel (with a position) as a GeoJSON FeatureCollection,
    ordered by MMSI, as UTF-8 bytes ready to send."""
    where = ["v.time IS NOT NULL", "v.lat IS NOT NULL", "v.lon IS NOT NULL"]
    params: list[Any] = []
    if bbox is not None:
        clause, p = bbox.sql("v.lon", "v.lat")
        where.append(clause)
        params += p
    if since is not None:
        where.append("v.time >= %s")
        params.append(since)
    lim = ""
    if limit is not None:
        lim = "LIMIT %s"
        params.append(limit)
    sql = f"""
        SELECT concat('{{"type":"FeatureCollection","features":[',
                      string_agg(f, ',' ORDER BY mmsi), ']}}')
        FROM (SELECT v.mmsi, {_VESSEL_FEATURE} AS f FROM vessels v
              WHERE {" AND ".join(where)} ORDER BY v.mmsi {lim}) q"""
    return await _raw(conn, sql, params)


async def vessel_features(
    conn: psycopg.AsyncConnection,
) -> list[tuple[int, float, float, int, bytes]]:
    """Every vessel with a position as ``(mmsi, lon, lat, time in epoch microseconds,
    its GeoJSON Feature as UTF-8 bytes)``, ordered by MMSI: the rows ``vessels_geojson``
    joins, for a snapshot the web filters by box, time and count itself."""
    # One row (arrays and the Features joined by newlines, which JSON text never holds
    # raw): on 50,000 vessels several times faster to read than 50,000 rows.
    cur = conn.cursor(binary=True)  # the arrays: binary is faster to read
    cur.adapters.register_loader("text", _BytesBinaryLoader)
    await cur.execute(
        f"""SELECT array_agg(mmsi ORDER BY mmsi), array_agg(lon ORDER BY mmsi),
                   array_agg(lat ORDER BY mmsi), array_agg(t ORDER BY mmsi),
                   string_agg(f, E'\\n' ORDER BY mmsi)
            FROM (SELECT v.mmsi, v.lon, v.lat,
                         (extract(epoch FROM v.time) * 1000000)::bigint AS t,
                         {_VESSEL_FEATURE} AS f
                  FROM vessels v
                  WHERE v.time IS NOT NULL AND v.lat IS NOT NULL AND v.lon IS NOT NULL) q"""
    )
    mmsi, lon, lat, t, features = await cur.fetchone()
    if not mmsi:
        return []
    return list(zip(mmsi, lon, lat, t, features.split(b"\n"), strict=True))


async def vessel_detail(conn: psycopg.AsyncConnection, mmsi: int) -> str | None:
    """Static data and latest position of one vessel, or None."""
    sql = """
        SELECT json_build_object(
            'mmsi', v.mmsi, 'name', v.name, 'callsign', v.callsign, 'imo', v.imo,
            'ship_type', v.ship_type, 'to_bow', v.to_bow, 'to_stern', v.to_stern,
            'to_port', v.to_port, 'to_starboard', v.to_starboard,
            'length', CASE WHEN v.to_bow IS NOT NULL AND v.to_stern IS NOT NULL
                           THEN v.to_bow + v.to_stern END,
            'beam', CASE WHEN v.to_port IS NOT NULL AND v.to_starboard IS NOT NULL
                         THEN v.to_port + v.to_starboard END,
            'draught', v.draught, 'destination', v.destination, 'eta', v.eta,
            'static_time', v.static_time, 'first_seen', v.first_seen,
            'position', CASE WHEN v.lat IS NULL THEN NULL ELSE json_build_object(
                'time', v.time, 'lat', v.lat, 'lon', v.lon, 'sog', v.sog, 'cog', v.cog,
                'heading', v.heading, 'nav_status', v.nav_status, 'msg_type', v.msg_type,
                'source', v.source) END,
            -- desk alerts only: a notice about a garbled fix does not put a vessel in alert
            'open_alerts', (SELECT count(*) FROM alerts a
                            WHERE a.mmsi = v.mmsi AND a.status <> 'closed'
                              AND a.severity <> 'info'))::text
        FROM vessels v WHERE v.mmsi = %s"""
    cur = await conn.execute(sql, (mmsi,))
    row = await cur.fetchone()
    return row[0] if row else None


async def vessel_last_fix(conn: psycopg.AsyncConnection, mmsi: int) -> datetime | None:
    """The time of the vessel's latest fix, or None (unknown vessel, or no position yet)."""
    cur = await conn.execute("SELECT time FROM vessels WHERE mmsi = %s", (mmsi,))
    row = await cur.fetchone()
    return row[0] if row else None


async def vessel_track_geojson(
    conn: psycopg.AsyncConnection,
    mmsi: int,
    start: datetime,
    end: datetime,
    *,
    max_points: int = 50_000,
) -> bytes:
    """One vessel's fixes between ``start`` and ``end`` as a GeoJSON Feature: a LineString
    (``null`` geometry under two fixes) with per-vertex ``times``, ``sog`` and ``cog``
    arrays in its properties, oldest first."""
    # PostgreSQL formats every value (its float output is the contract: shortest exact
    # form, no trailing ".0") and joins each array in one string_agg; the web only glues
    # the pieces (10,000 points: about 0.1 ms here against 1 ms for a final concat() in
    # the server). date_part gives the epoch as float8 directly: extract() goes through
    # numeric (3 ms for 10,000 times), the same value. The rows come sorted once: the
    # aggregates' ORDER BY matches the subquery's, so none sorts again.
    sql = """
        WITH p AS (
            SELECT time, lat, lon, sog, cog FROM positions
            WHERE mmsi = %(mmsi)s AND time >= %(start)s AND time <= %(end)s
            ORDER BY time LIMIT %(max)s)
        SELECT count(*),
               string_agg(concat('[', round(lon * 1e5) / 1e5, ',', round(lat * 1e5) / 1e5, ']'),
                          ',' ORDER BY time),
               string_agg(date_part('epoch', time)::text, ',' ORDER BY time),
               string_agg(coalesce(sog::text, 'null'), ',' ORDER BY time),
               string_agg(coalesce(cog::text, 'null'), ',' ORDER BY time),
               to_json(%(start)s::timestamptz)::text, to_json(%(end)s::timestamptz)::text
        FROM p"""
    cur = conn.cursor()
    cur.adapters.register_loader("text", _BytesLoader)
    await cur.execute(sql, {"mmsi": mmsi, "start": start, "end": end, "max": max_points})
    n, coords, times, sog, cog, t_start, t_end = await cur.fetchone()
    geometry = b'{"type":"LineString","coordinates":[' + coords + b"]}" if n >= 2 else b"null"
    return b"".join(
        (
            b'{"type":"Feature","geometry":',
            geometry,
            b',"properties":{"mmsi":%d,"start":' % mmsi,
            t_start,
            b',"end":',
            t_end,
            b',"points":%d,"times":[' % n,
            times or b"",
            b'],"sog":[',
            sog or b"",
            b'],"cog":[',
            cog or b"",
            b'],"truncated":',
            b"true" if n >= max_points else b"false",
            b"}}",
        )
    )


async def search_vessels(conn: psycopg.AsyncConnection, q: str, limit: int = 20) -> bytes:
    """Vessels whose MMSI, IMO, name or call sign matches ``q``: exact matches first, then
    prefixes, then substrings. A JSON array."""
    q = q.strip()
    pattern = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    sql = """
        SELECT coalesce(json_agg(r ORDER BY rank, name NULLS LAST, mmsi), '[]')::text FROM (
            SELECT v.mmsi, v.name, v.callsign, v.imo, v.ship_type, v.lat, v.lon,
                   v.time AS last_seen,
                   CASE WHEN v.mmsi::text = %(q)s OR lower(v.name) = %(p)s
                             OR lower(v.callsign) = %(p)s OR v.imo::text = %(q)s THEN 0
                        WHEN v.mmsi::text LIKE %(p)s || '%%' OR lower(v.name) LIKE %(p)s || '%%'
                             OR lower(v.callsign) LIKE %(p)s || '%%' THEN 1
                        ELSE 2 END AS rank
            FROM vessels v
            WHERE v.mmsi::text LIKE %(p)s || '%%' OR v.imo::text = %(q)s
               OR lower(v.name) LIKE '%%' || %(p)s || '%%'
               OR lower(v.callsign) LIKE %(p)s || '%%'
            ORDER BY rank, v.name NULLS LAST, v.mmsi
            LIMIT %(limit)s) r"""
    return await _raw(conn, sql, {"q": q, "p": pattern, "limit": limit})


# ------------------------------------------------------------------------------ alerts

_ALERT_JSON = """json_build_object(
    'id', a.id, 'key', a.key, 'kind', a.kind, 'severity', a.severity, 'status', a.status,
    'mmsi', a.mmsi, 'other_mmsi', a.other_mmsi, 'start', a.start, 'end', a."end",
    'lat', a.lat, 'lon', a.lon, 'zone', a.zone, 'details', a.details,
    'created_at', a.created_at, 'updated_at', a.updated_at,
    'acknowledged_by', a.acknowledged_by, 'acknowledged_at', a.acknowledged_at,
    'closed_by', a.closed_by, 'closed_at', a.closed_at, 'note', a.note, 'outcome', a.outcome,
    'vessel_name', (SELECT name FROM vessels v WHERE v.mmsi = a.mmsi))"""


async def alerts_json(
    conn: psycopg.AsyncConnection,
    *,
    status: Sequence[str] = (),
    kind: Sequence[str] = (),
    severity: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: BBox | None = None,
    mmsi: int | None = None,
    limit: int = 500,
) -> bytes:
    """Alerts newest first (by start), as ``{"alerts": [...], "count": n}``.

    ``since``/``until`` select episodes that overlap the interval: an alert that started
    before ``since`` but is still going on (or ended after it) is included. Empty
    ``status``, ``kind`` or ``severity`` means any."""
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("a.status = ANY(%s)")
        params.append(list(status))
    if severity:
        where.append("a.severity = ANY(%s)")
        params.append(list(severity))
    if kind:
        where.append("a.kind = ANY(%s)")
        params.append(list(kind))
    if since is not None:
        where.append('coalesce(a."end", a.updated_at, a.start) >= %s')
        params.append(since)
    if until is not None:
        where.append("a.start <= %s")
        params.append(until)
    if bbox is not None:
        clause, p = bbox.sql("a.lon", "a.lat")
        where.append(clause)
        params += p
    if mmsi is not None:
        where.append("(a.mmsi = %s OR a.other_mmsi = %s)")
        params += [mmsi, mmsi]
    params.append(limit)
    sql = f"""
        SELECT json_build_object('alerts', coalesce(json_agg(j ORDER BY start DESC, id DESC), '[]'),
                                 'count', count(*))::text
        FROM (SELECT a.start, a.id, {_ALERT_JSON} AS j FROM alerts a
              {"WHERE " + " AND ".join(where) if where else ""}
              ORDER BY a.start DESC, a.id DESC LIMIT %s) q"""
    return await _raw(conn, sql, params)


async def alert_detail(conn: psycopg.AsyncConnection, alert_id: int) -> str | None:
    """One alert with its history (oldest first), or None."""
    sql = f"""
        SELECT ({_ALERT_JSON}::jsonb || jsonb_build_object('history', coalesce((
            SELECT jsonb_agg(jsonb_build_object('time', h.time, 'action', h.action,
                                                'actor', h.actor, 'note', h.note,
                                                'outcome', h.outcome,
                                                'details', h.details) ORDER BY h.time, h.id)
            FROM alert_history h WHERE h.alert_id = a.id), '[]'::jsonb)))::text
        FROM alerts a WHERE a.id = %s"""
    cur = await conn.execute(sql, (alert_id,))
    row = await cur.fetchone()
    return row[0] if row else None


async def alerts_open_by_kind(conn: psycopg.AsyncConnection) -> list[tuple[str, str, int]]:
    """(kind, status, count) for desk alerts not closed, for /metrics. Notices are left out:
    nobody acknowledges them, so they would pile up as 'open' for ever."""
    cur = await conn.execute(
        "SELECT kind, status, count(*) FROM alerts WHERE status <> 'closed' "
        "AND severity <> %s GROUP BY kind, status ORDER BY kind, status",
        (NOTICE,),
    )
    return [(k, s, n) for k, s, n in await cur.fetchall()]


# ------------------------------------------------------------------------------ alert quality
#
# Data-quality notices (severity info) by the source that delivered the bad data, and the
# outcomes officers record when they close desk alerts. /metrics, GET /api/data-quality and
# `mda status` all read them here, over the same windows.

NOTICE_WINDOW = timedelta(hours=24)  # notices counted over the last 24 h of event time
CLOSURE_WINDOW = timedelta(days=30)  # a rule's false-alarm share: closures of the last 30 days


def window_text(t: timedelta) -> str:
    """A window as people read it: '24 h', '30 days' (for help texts and summaries)."""
    h = t.total_seconds() / 3600
    return f"{h / 24:g} days" if h >= 48 else f"{h:g} h"


# The feed that delivered a notice's bad data; 'unknown' when the analytics did not say.
_SOURCE = "coalesce(nullif(a.details ->> 'source', ''), 'unknown')"


async def notice_counts(
    conn: psycopg.AsyncConnection, window: timedelta = NOTICE_WINDOW
) -> list[tuple[str, str, int, datetime]]:
    """(source, kind, count, latest start) of the notices whose episode started within
    ``window`` before now (event time), by source then kind."""
    cur = await conn.execute(
        f"""
        SELECT {_SOURCE} AS source, a.kind, count(*), max(a.start)
        FROM alerts a WHERE a.severity = %s AND a.start >= now() - %s::interval
        GROUP BY 1, 2 ORDER BY 1, 2""",
        (NOTICE, window),
    )
    return [(src, kind, n, latest) for src, kind, n, latest in await cur.fetchall()]


async def data_quality_json(
    conn: psycopg.AsyncConnection, since: datetime, examples: int = 5
) -> bytes:
    """Notices whose episode started at or after ``since`` (event time), counted by source
    and by kind, with the latest ``examples`` of each kind, as
    ``{"since", "total", "sources": [{"source", "count", "kinds": [{"kind", "count",
    "first", "latest", "examples": [...]}]}]}``, the busiest source first."""
    sql = f"""
        WITH n AS (
            SELECT a.id, a.kind, {_SOURCE} AS source, a.mmsi, a.start, a."end", a.lat, a.lon,
                   a.status, a.details ->> 'text' AS text,
                   row_number() OVER (PARTITION BY {_SOURCE}, a.kind
                                      ORDER BY a.start DESC, a.id DESC) AS rank
            FROM alerts a WHERE a.severity = %(notice)s AND a.start >= %(since)s),
        k AS (
            SELECT source, kind, count(*) AS count, min(start) AS first, max(start) AS latest,
                   coalesce(json_agg(json_build_object(
                       'id', id, 'mmsi', mmsi,
                       'vessel_name', (SELECT name FROM vessels v WHERE v.mmsi = n.mmsi),
                       'start', start, 'end', "end", 'lat', lat, 'lon', lon, 'status', status,
                       'text', text) ORDER BY start DESC, id DESC)
                       FILTER (WHERE rank <= %(examples)s), '[]') AS examples
            FROM n GROUP BY source, kind),
        s AS (
            SELECT source, sum(count) AS count,
                   json_agg(json_build_object('kind', kind, 'count', count, 'first', first,
                                              'latest', latest, 'examples', examples)
                            ORDER BY count DESC, kind) AS kinds
            FROM k GROUP BY source)
        SELECT json_build_object(
            'since', %(since)s::timestamptz, 'total', coalesce(sum(count), 0),
            'sources', coalesce(json_agg(json_build_object('source', source, 'count', count,
                                                           'kinds', kinds)
                                         ORDER BY count DESC, source), '[]'))::text
        FROM s"""
    return await _raw(conn, sql, {"notice": NOTICE, "since": since, "examples": examples})


async def alerts_not_closed(conn: psycopg.AsyncConnection) -> list[tuple[str, str, str, int]]:
    """(kind, severity, status, count) of the desk alerts not closed (open or
    acknowledged), for ``mda status``."""
    cur = await conn.execute(
        "SELECT kind, severity, status, count(*) FROM alerts "
        "WHERE status <> 'closed' AND severity <> %s "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        (NOTICE,),
    )
    return [tuple(r) for r in await cur.fetchall()]


async def closure_counts(
    conn: psycopg.AsyncConnection, window: timedelta = CLOSURE_WINDOW
) -> list[tuple[str, str, int, int]]:
    """(kind, outcome, closures ever, closures within ``window`` before now) of desk alerts
    closed by a person with an outcome, one closure per ``closed`` row of the history (an
    episode that came back and was closed again counts twice), by the closing time (wall
    clock). Closures recorded before outcomes existed, and of notices, are left out. The
    severity is the alert's present one."""
    cur = await conn.execute(
        """
        SELECT a.kind, h.outcome, count(*),
               count(*) FILTER (WHERE h.time >= now() - %s::interval)
        FROM alert_history h JOIN alerts a ON a.id = h.alert_id
        WHERE h.action = 'closed' AND h.outcome IS NOT NULL AND a.severity <> %s
        GROUP BY 1, 2 ORDER BY 1, 2""",
        (window, NOTICE),
    )
    return [tuple(r) for r in await cur.fetchall()]


def false_alarm_shares(closures: Sequence[tuple[str, str, int, int]]) -> dict[str, tuple[int, int]]:
    """kind -> (false alarms, closures with an outcome) within the window, from
    ``closure_counts`` rows; kinds without a closure in the window are left out (a share
    of nothing is no figure)."""
    out: dict[str, list[int]] = {}
    for kind, outcome, _ever, recent in closures:
        if recent and outcome in OUTCOMES:
            pair = out.setdefault(kind, [0, 0])
            pair[1] += recent
            if outcome == "false_alarm":
                pair[0] += recent
    return {k: (f, n) for k, (f, n) in sorted(out.items())}


# ------------------------------------------------------------------------------ zones


async def zones_geojson(conn: psycopg.AsyncConnection) -> tuple[str, int]:
    """The zones table as a GeoJSON FeatureCollection, and how many zones it holds."""
    sql = """
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
            json_build_object('type', 'Feature', 'id', z.id, 'geometry', z.geometry,
                'properties', z.properties::jsonb || jsonb_build_object(
                    'name', z.name, 'kind', z.kind, 'direction', z.direction,
                    'ship_types', z.ship_types, 'severity', z.severity, 'origin', z.origin))
            ORDER BY z.kind, z.name), '[]'))::text, count(*)
        FROM zones z"""
    cur = await conn.execute(sql)
    text, n = await cur.fetchone()
    return text, n
