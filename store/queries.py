"""Read queries for the web tier, and the SQL of the web's own tables (users, tokens,
sessions, login attempts, audit log).

The hot read paths (vessels, tracks, alert lists, zones) build their JSON inside
PostgreSQL with ``json_build_object``/``json_agg`` and return it as one text value, so the
web tier streams it out without decoding and re-encoding tens of thousands of rows.
Times come out as ISO 8601 in UTC: connections used here must run with ``TimeZone=UTC``
(``configure_connection`` does that for the web's pool).

All functions take an open ``psycopg.AsyncConnection``; none commits or opens a pool.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import psycopg
from psycopg.adapt import Loader
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .alerts import NOTICE, OUTCOMES

__all__ = [
    "configure_connection", "BBox",
    "vessels_geojson", "vessel_detail", "vessel_track_geojson", "search_vessels",
    "alerts_json", "alert_detail", "alerts_open_by_kind", "zones_geojson", "ping",
    "NOTICE_WINDOW", "CLOSURE_WINDOW", "window_text", "data_quality_json", "notice_counts",
    "alerts_not_closed", "closure_counts", "false_alarm_shares",
    "insert_user", "user_by_name", "set_password_hash", "list_users",
    "insert_token", "upsert_token", "extend_token", "token_by_hash", "touch_token", "list_tokens",
    "revoke_token",
    "insert_session", "session_by_hash", "delete_session", "delete_expired_sessions",
    "record_login_attempt", "recent_login_failures", "reserve_login_attempt",
    "mark_login_success",
    "audit", "audit_json",
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
            return (f"{lon} BETWEEN %s AND %s AND {lat} BETWEEN %s AND %s",
                    [self.min_lon, self.max_lon, self.min_lat, self.max_lat])
        return (f"({lon} >= %s OR {lon} <= %s) AND {lat} BETWEEN %s AND %s",
                [self.min_lon, self.max_lon, self.min_lat, self.max_lat])


class _BytesLoader(Loader):
    """text columns as the raw UTF-8 bytes the server sent: no decode, no re-encode."""

    def load(self, data) -> bytes:
        return bytes(data)


async def _raw(conn: psycopg.AsyncConnection, sql: str, params: Sequence[Any] = ()) -> bytes:
    """The first column of the first row of a query returning text, as bytes."""
    cur = conn.cursor()
    cur.adapters.register_loader("text", _BytesLoader)
    await cur.execute(sql, params)
    row = await cur.fetchone()
    return row[0]


async def ping(conn: psycopg.AsyncConnection) -> dict:
    cur = await conn.execute(
        "SELECT current_setting('server_version'), "
        "(SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), "
        "(SELECT coalesce(max(version), 0) FROM schema_migrations)")
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


async def vessels_geojson(conn: psycopg.AsyncConnection, *, bbox: BBox | None = None,
                          since: datetime | None = None, limit: int | None = None) -> bytes:
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
              WHERE {' AND '.join(where)} ORDER BY v.mmsi {lim}) q"""
    return await _raw(conn, sql, params)


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


async def vessel_track_geojson(conn: psycopg.AsyncConnection, mmsi: int, start: datetime,
                               end: datetime, *, max_points: int = 50_000) -> bytes:
    """One vessel's fixes between ``start`` and ``end`` as a GeoJSON Feature: a LineString
    (``null`` geometry under two fixes) with per-vertex ``times``, ``sog`` and ``cog``
    arrays in its properties, oldest first."""
    sql = """
        WITH p AS (
            SELECT time, lat, lon, sog, cog FROM positions
            WHERE mmsi = %(mmsi)s AND time >= %(start)s AND time <= %(end)s
            ORDER BY time LIMIT %(max)s)
        SELECT json_build_object(
            'type', 'Feature',
            'geometry', CASE WHEN count(*) < 2 THEN NULL ELSE json_build_object(
                'type', 'LineString',
                'coordinates', json_agg(json_build_array(round(lon::numeric, 5),
                                                         round(lat::numeric, 5)) ORDER BY time)) END,
            'properties', json_build_object(
                'mmsi', %(mmsi)s::int, 'start', %(start)s::timestamptz, 'end', %(end)s::timestamptz,
                'points', count(*),
                'times', coalesce(json_agg(extract(epoch FROM time)::float8 ORDER BY time), '[]'),
                'sog', coalesce(json_agg(sog ORDER BY time), '[]'),
                'cog', coalesce(json_agg(cog ORDER BY time), '[]'),
                'truncated', count(*) >= %(max)s))::text
        FROM p"""
    return await _raw(conn, sql, {"mmsi": mmsi, "start": start, "end": end, "max": max_points})


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


async def alerts_json(conn: psycopg.AsyncConnection, *, status: Sequence[str] = (),
                      kind: Sequence[str] = (), severity: Sequence[str] = (),
                      since: datetime | None = None,
                      until: datetime | None = None, bbox: BBox | None = None,
                      mmsi: int | None = None, limit: int = 500) -> bytes:
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
              {'WHERE ' + ' AND '.join(where) if where else ''}
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
        "AND severity <> %s GROUP BY kind, status ORDER BY kind, status", (NOTICE,))
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


async def notice_counts(conn: psycopg.AsyncConnection, window: timedelta = NOTICE_WINDOW
                        ) -> list[tuple[str, str, int, datetime]]:
    """(source, kind, count, latest start) of the notices whose episode started within
    ``window`` before now (event time), by source then kind."""
    cur = await conn.execute(f"""
        SELECT {_SOURCE} AS source, a.kind, count(*), max(a.start)
        FROM alerts a WHERE a.severity = %s AND a.start >= now() - %s::interval
        GROUP BY 1, 2 ORDER BY 1, 2""", (NOTICE, window))
    return [(src, kind, n, latest) for src, kind, n, latest in await cur.fetchall()]


async def data_quality_json(conn: psycopg.AsyncConnection, since: datetime,
                            examples: int = 5) -> bytes:
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
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", (NOTICE,))
    return [tuple(r) for r in await cur.fetchall()]


async def closure_counts(conn: psycopg.AsyncConnection, window: timedelta = CLOSURE_WINDOW
                         ) -> list[tuple[str, str, int, int]]:
    """(kind, outcome, closures ever, closures within ``window`` before now) of desk alerts
    closed by a person with an outcome, one closure per ``closed`` row of the history (an
    episode that came back and was closed again counts twice), by the closing time (wall
    clock). Closures recorded before outcomes existed, and of notices, are left out. The
    severity is the alert's present one."""
    cur = await conn.execute("""
        SELECT a.kind, h.outcome, count(*),
               count(*) FILTER (WHERE h.time >= now() - %s::interval)
        FROM alert_history h JOIN alerts a ON a.id = h.alert_id
        WHERE h.action = 'closed' AND h.outcome IS NOT NULL AND a.severity <> %s
        GROUP BY 1, 2 ORDER BY 1, 2""", (window, NOTICE))
    return [tuple(r) for r in await cur.fetchall()]


def false_alarm_shares(closures: Sequence[tuple[str, str, int, int]]
                       ) -> dict[str, tuple[int, int]]:
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


# ------------------------------------------------------------------------------ users

async def insert_user(conn: psycopg.AsyncConnection, name: str, password_hash: str,
                      role: str) -> int:
    cur = await conn.execute(
        "INSERT INTO users (name, password_hash, role) VALUES (%s, %s, %s) RETURNING id",
        (name, password_hash, role))
    return (await cur.fetchone())[0]


async def user_by_name(conn: psycopg.AsyncConnection, name: str) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, name, password_hash, role, disabled FROM users "
                          "WHERE lower(name) = lower(%s)", (name,))
        return await cur.fetchone()


async def set_password_hash(conn: psycopg.AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                       (password_hash, user_id))


async def list_users(conn: psycopg.AsyncConnection) -> bytes:
    return await _raw(conn, """
        SELECT coalesce(json_agg(json_build_object('name', name, 'role', role,
            'disabled', disabled, 'created_at', created_at) ORDER BY name), '[]')::text
        FROM users""")


# ------------------------------------------------------------------------------ tokens

async def insert_token(conn: psycopg.AsyncConnection, token_sha256: bytes, owner: str, role: str,
                       expires_at: datetime | None, user_id: int | None = None) -> int:
    cur = await conn.execute(
        "INSERT INTO api_tokens (token_sha256, owner, role, expires_at, user_id) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (token_sha256, owner, role, expires_at, user_id))
    return (await cur.fetchone())[0]


async def upsert_token(conn: psycopg.AsyncConnection, token_sha256: bytes, owner: str,
                       role: str, ttl_s: float | None = None) -> tuple[int, bool]:
    """Make this token valid (again) for ``owner`` with ``role`` for ``ttl_s`` seconds from
    now (None: no expiry); (id, created)."""
    cur = await conn.execute(
        "INSERT INTO api_tokens (token_sha256, owner, role, expires_at) "
        "VALUES (%(h)s, %(o)s, %(r)s, now() + make_interval(secs => %(ttl)s)) "
        "ON CONFLICT (token_sha256) DO UPDATE SET owner = EXCLUDED.owner, role = EXCLUDED.role, "
        "revoked_at = NULL, expires_at = EXCLUDED.expires_at RETURNING id, (xmax = 0)",
        {"h": token_sha256, "o": owner, "r": role, "ttl": ttl_s})
    row = await cur.fetchone()
    return row[0], row[1]


async def extend_token(conn: psycopg.AsyncConnection, token_sha256: bytes, ttl_s: float) -> bool:
    """Push a still valid token's expiry to ``ttl_s`` seconds from now; never revives a
    revoked or expired token. True if it was extended."""
    cur = await conn.execute(
        "UPDATE api_tokens SET expires_at = now() + make_interval(secs => %s) "
        "WHERE token_sha256 = %s AND revoked_at IS NULL AND expires_at > now()",
        (ttl_s, token_sha256))
    return cur.rowcount == 1


_ROLE_ORDER = "ARRAY['viewer','officer','supervisor','admin']"


def _capped_role(role: str, user_role: str) -> str:
    """SQL: ``role``, but never more than ``user_role`` (when there is a user)."""
    return (f"CASE WHEN {user_role} IS NULL THEN {role} "
            f"WHEN array_position({_ROLE_ORDER}, {role}) > array_position({_ROLE_ORDER}, {user_role}) "
            f"THEN {user_role} ELSE {role} END")


async def token_by_hash(conn: psycopg.AsyncConnection, token_sha256: bytes) -> dict | None:
    """A usable token (not revoked, not expired, its user not disabled), or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"""
            SELECT t.id, t.owner, coalesce(u.name, t.owner) AS principal,
                   -- a user's token never carries more than the user's current role
                   {_capped_role("t.role", "u.role")} AS role,
                   t.user_id, t.last_used_at < now() - interval '1 minute'
                              OR t.last_used_at IS NULL AS stale
            FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
            WHERE t.token_sha256 = %s AND t.revoked_at IS NULL
              AND (t.expires_at IS NULL OR t.expires_at > now())
              AND (u.id IS NULL OR NOT u.disabled)""", (token_sha256,))
        return await cur.fetchone()


async def touch_token(conn: psycopg.AsyncConnection, token_id: int) -> None:
    await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s", (token_id,))


# ------------------------------------------------------------------------------ sessions

async def insert_session(conn: psycopg.AsyncConnection, id_sha256: bytes, principal: str,
                         role: str, hours: float, *, user_id: int | None = None,
                         token_id: int | None = None, ip: str | None = None,
                         user_agent: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO sessions (id_sha256, principal, role, user_id, token_id, expires_at, ip, "
        "user_agent) VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s), %s, %s)",
        (id_sha256, principal, role, user_id, token_id, hours * 3600.0, ip,
         (user_agent or "")[:300] or None))


async def session_by_hash(conn: psycopg.AsyncConnection, id_sha256: bytes) -> dict | None:
    """The live session, with the current role of its user or token, touching
    ``last_seen_at`` at most once a minute; or None.

    A password session lives while its user is enabled and takes the user's current role.
    A session made from a token lives while the token is unrevoked and unexpired and, for a
    user's token, while that user is enabled; its role is the token's, capped at the
    token user's current role (as for the token itself)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"""
            WITH s AS (
                SELECT s.id_sha256, s.principal,
                       CASE WHEN s.user_id IS NOT NULL THEN u.role
                            WHEN s.token_id IS NOT NULL THEN {_capped_role("t.role", "tu.role")}
                            ELSE s.role END AS role,
                       s.user_id, s.token_id, s.expires_at, s.last_seen_at
                FROM sessions s
                LEFT JOIN users u ON u.id = s.user_id
                LEFT JOIN api_tokens t ON t.id = s.token_id
                LEFT JOIN users tu ON tu.id = t.user_id
                WHERE s.id_sha256 = %(h)s AND s.expires_at > now()
                  AND (s.user_id IS NULL OR (u.id IS NOT NULL AND NOT u.disabled))
                  AND (s.token_id IS NULL OR (t.id IS NOT NULL AND t.revoked_at IS NULL
                       AND (t.expires_at IS NULL OR t.expires_at > now())
                       AND (t.user_id IS NULL OR (tu.id IS NOT NULL AND NOT tu.disabled))))),
            touched AS (
                UPDATE sessions x SET last_seen_at = now() FROM s
                WHERE x.id_sha256 = s.id_sha256 AND s.last_seen_at < now() - interval '1 minute')
            SELECT principal, role, user_id, token_id, expires_at FROM s""", {"h": id_sha256})
        return await cur.fetchone()


async def delete_session(conn: psycopg.AsyncConnection, id_sha256: bytes) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_sha256 = %s", (id_sha256,))


async def delete_expired_sessions(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
    return cur.rowcount


# ------------------------------------------------------------------------------ login attempts

def _attempt_name(username: str | None) -> str | None:
    return (username or "")[:64] or None


async def record_login_attempt(conn: psycopg.AsyncConnection, username: str | None, ip: str | None,
                               success: bool) -> None:
    await conn.execute("INSERT INTO login_attempts (username, ip, success) VALUES (%s, %s, %s)",
                       (_attempt_name(username), ip, success))


def _lock_key(kind: str, value: str) -> int:
    """A signed 64-bit advisory lock key for one rate-limit bucket."""
    digest = hashlib.sha256(f"mda-login:{kind}:{value}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def reserve_login_attempt(conn: psycopg.AsyncConnection, username: str | None,
                                ip: str | None, window_s: float, limit_user: int,
                                limit_ip: int) -> tuple[int | None, float]:
    """Check the rate limits and count this attempt in one step: (attempt id, 0) when the
    attempt may go ahead, recorded as a failure until ``mark_login_success``; (None,
    seconds to wait) when a limit is reached (nothing recorded).

    The check and the insert run under transaction-scoped advisory locks on the user
    name's and the address's buckets, so parallel attempts are counted one after the
    other: no more than the limit ever get through, however many arrive at once."""
    name = _attempt_name(username)
    keys = sorted({_lock_key("ip", ip or "")} |
                  ({_lock_key("user", name.lower())} if name else set()))
    async with conn.transaction():
        for key in keys:  # always in the same order: no deadlock between two attempts
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        per_user, per_ip, retry = await recent_login_failures(conn, name, ip, window_s)
        if (name and per_user >= limit_user) or per_ip >= limit_ip:
            return None, retry
        cur = await conn.execute(
            "INSERT INTO login_attempts (username, ip, success) VALUES (%s, %s, false) "
            "RETURNING id", (name, ip))
        return (await cur.fetchone())[0], 0.0


async def mark_login_success(conn: psycopg.AsyncConnection, attempt_id: int,
                             username: str | None = None) -> None:
    """A reserved attempt succeeded (which resets the per-user count)."""
    await conn.execute("UPDATE login_attempts SET success = true, "
                       "username = coalesce(%s, username) WHERE id = %s",
                       (_attempt_name(username), attempt_id))


async def recent_login_failures(conn: psycopg.AsyncConnection, username: str | None,
                                ip: str | None, window_s: float) -> tuple[int, int, float]:
    """(failures for this user name, failures from this address, seconds until the oldest
    of them leaves the window) within the last ``window_s`` seconds, counted since the
    last success for that user name."""
    cur = await conn.execute("""
        WITH w AS (SELECT now() - make_interval(secs => %(w)s) AS t0),
        last_ok AS (SELECT max(time) AS t FROM login_attempts, w
                    WHERE success AND lower(username) = lower(%(u)s) AND time > w.t0)
        SELECT
          (SELECT count(*) FROM login_attempts, w, last_ok
           WHERE NOT success AND lower(username) = lower(%(u)s) AND time > w.t0
             AND (last_ok.t IS NULL OR time > last_ok.t)),
          (SELECT count(*) FROM login_attempts, w WHERE NOT success AND ip = %(ip)s
             AND time > w.t0),
          (SELECT extract(epoch FROM min(time) + make_interval(secs => %(w)s) - now())
           FROM login_attempts, w WHERE NOT success AND time > w.t0
             AND (lower(username) = lower(%(u)s) OR ip = %(ip)s))""",
        {"w": window_s, "u": username or "", "ip": ip or ""})
    per_user, per_ip, retry = await cur.fetchone()
    return per_user, per_ip, float(retry or 0.0)


# ------------------------------------------------------------------------------ audit

async def audit(conn: psycopg.AsyncConnection, *, actor: str, via: str, action: str,
                role: str | None = None, target: str | None = None, ip: str | None = None,
                details: dict | None = None) -> None:
    """Append one row to the audit log: who (actor, role, via, ip), what (action, target,
    details), when (now)."""
    await conn.execute(
        "INSERT INTO audit_log (actor, role, via, action, target, ip, details) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (actor, role, via, action, target, ip, Jsonb(details or {})))


async def audit_json(conn: psycopg.AsyncConnection, *, limit: int = 200, actor: str | None = None,
                     action: str | None = None, since: datetime | None = None) -> bytes:
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
    return await _raw(conn, f"""
        SELECT coalesce(json_agg(row_to_json(q) ORDER BY q.time DESC, q.id DESC), '[]')::text
        FROM (SELECT id, time, actor, role, via, action, target, ip, details FROM audit_log
              {'WHERE ' + ' AND '.join(where) if where else ''}
              ORDER BY time DESC, id DESC LIMIT %s) q""", params)


async def list_tokens(conn: psycopg.AsyncConnection) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, owner, role, created_at, expires_at, revoked_at, last_used_at "
                          "FROM api_tokens ORDER BY id")
        return await cur.fetchall()


async def revoke_token(conn: psycopg.AsyncConnection, token_id: int) -> bool:
    cur = await conn.execute("UPDATE api_tokens SET revoked_at = now() "
                             "WHERE id = %s AND revoked_at IS NULL", (token_id,))
    return cur.rowcount == 1
