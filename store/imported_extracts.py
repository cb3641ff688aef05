"""Partners' extracts imported (migration 0014): a partner's signed incident extract, once
``exchange.imports`` verified it with the partner's public key, kept with the partner, the
ZIP's SHA-256, who imported it and when, and its tracks and alerts as the extract has them.
Apart from our own ``positions`` and ``alerts``: the analytics never read these, the map
draws them as the partner's.

The same file (by SHA-256) is stored once: ``store_import`` of a file already there
changes nothing and answers the row that holds it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from . import audit
from .errors import StoreError

__all__ = [
    "POSITION_COLUMNS",
    "ALERT_COLUMNS",
    "TooManyPositions",
    "find_by_sha256",
    "store_import",
    "list_imports",
    "get_import",
    "import_tracks",
    "import_alerts",
    "vessel_count",
]

POSITION_COLUMNS = (
    "mmsi",
    "time",
    "lat",
    "lon",
    "sog",
    "cog",
    "heading",
    "nav_status",
    "msg_type",
    "source",
)
ALERT_COLUMNS = (
    "remote_id",
    "kind",
    "severity",
    "status",
    "mmsi",
    "other_mmsi",
    "start",
    "end",
    "lat",
    "lon",
    "zone",
    "text",
    "record",
)
_HEAD = (
    "id, sha256, size, file_name, partner, country, key_fingerprint, bag, kind, title, "
    "source_organisation, caveat, created, window_start, window_end, positions, vessels, "
    "bag_info, imported_by, imported_role, imported_via, imported_at"
)
_HEAD_COLUMNS = [c.strip() for c in _HEAD.split(",")][1:-1]  # written by store_import


class TooManyPositions(StoreError):
    """The extract holds more positions than the import takes."""


async def find_by_sha256(conn: psycopg.AsyncConnection, sha256: str) -> dict | None:
    """The import of the file with this SHA-256, or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_HEAD} FROM imported_extracts WHERE sha256 = %s", (sha256,))
        return await cur.fetchone()


async def store_import(
    conn: psycopg.AsyncConnection,
    head: Mapping[str, Any],
    positions: Iterable[tuple],
    alerts: Iterable[Mapping[str, Any]],
    *,
    max_positions: int,
    ip: str | None = None,
    audit_details: Mapping[str, Any] | None = None,
) -> tuple[dict, bool]:
    """Store one verified extract (``head``: the ``imported_extracts`` columns but ``id``
    and ``imported_at``; ``positions``: tuples in ``POSITION_COLUMNS`` order, streamed;
    ``alerts``: mappings of ``ALERT_COLUMNS``) and its audit row (``extract.import``), in
    one transaction. Returns (row, True), or (the row already there, False) when this
    file was imported before. ``TooManyPositions`` past ``max_positions``; an error raised
    by ``positions`` as it is read leaves nothing stored."""
    values = {c: head.get(c) for c in _HEAD_COLUMNS}
    for c in ("vessels", "bag_info"):
        values[c] = Jsonb(values[c] if values[c] is not None else ([] if c == "vessels" else {}))
    values["positions"] = 0
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            cols = ", ".join(_HEAD_COLUMNS)
            marks = ", ".join(f"%({c})s" for c in _HEAD_COLUMNS)
            await cur.execute(
                f"INSERT INTO imported_extracts ({cols}) VALUES ({marks}) "
                f"ON CONFLICT (sha256) DO NOTHING RETURNING {_HEAD}",
                values,
            )
            row = await cur.fetchone()
        if row is None:  # imported meanwhile by another request
            return await find_by_sha256(conn, values["sha256"]), False
        n = 0
        async with conn.cursor() as cur:
            async with cur.copy(
                f"COPY imported_extract_positions (extract_id, {', '.join(POSITION_COLUMNS)}) "
                "FROM STDIN"
            ) as copy:
                for p in positions:
                    n += 1
                    if n > max_positions:
                        raise TooManyPositions(
                            f"the extract holds more than {max_positions:,} positions, the "
                            "most an import takes (setting extract_max_positions)"
                        )
                    await copy.write_row((row["id"], *p))
            for a in alerts:
                await cur.execute(
                    f"INSERT INTO imported_extract_alerts (extract_id, "
                    f"{', '.join(_q(c) for c in ALERT_COLUMNS)}) VALUES (%s, "
                    f"{', '.join(['%s'] * len(ALERT_COLUMNS))})",
                    (
                        row["id"],
                        *(Jsonb(a.get(c)) if c == "record" else a.get(c) for c in ALERT_COLUMNS),
                    ),
                )
            await cur.execute(
                "UPDATE imported_extracts SET positions = %s WHERE id = %s", (n, row["id"])
            )
        row["positions"] = n
        await audit.record(
            conn,
            actor=head["imported_by"],
            role=head.get("imported_role"),
            via=head["imported_via"],
            action="extract.import",
            target=f"imported-extract:{row['id']}",
            ip=ip,
            details={
                "partner": row["partner"],
                "file": row["file_name"],
                "sha256": row["sha256"],
                "size": row["size"],
                "signing_key": row["key_fingerprint"],
                "bag": row["bag"],
                "positions": n,
                **(audit_details or {}),
            },
        )
    return row, True


def _q(column: str) -> str:
    return f'"{column}"' if column == "end" else column


async def list_imports(conn: psycopg.AsyncConnection, limit: int = 200) -> list[dict]:
    """The imports, newest first, each with how many vessels and alerts it holds."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {', '.join('e.' + c.strip() for c in _HEAD.split(','))}, "
            "(SELECT count(*) FROM imported_extract_alerts a WHERE a.extract_id = e.id) "
            "AS alerts FROM imported_extracts e ORDER BY e.imported_at DESC, e.id DESC LIMIT %s",
            (limit,),
        )
        return await cur.fetchall()


async def get_import(conn: psycopg.AsyncConnection, extract_id: int) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_HEAD} FROM imported_extracts WHERE id = %s", (extract_id,))
        return await cur.fetchone()


async def import_tracks(
    conn: psycopg.AsyncConnection, extract_id: int, max_points: int = 50_000
) -> dict[int, list[tuple[datetime, float, float, float | None, float | None]]]:
    """Each vessel's fixes (time, lat, lon, sog, cog) in time order, thinned to about
    ``max_points`` in all (every n-th fix, each vessel's last kept)."""
    cur = await conn.execute(
        "SELECT count(*) FROM imported_extract_positions WHERE extract_id = %s", (extract_id,)
    )
    total = (await cur.fetchone())[0]
    step = max(1, -(-total // max_points))
    cur = await conn.execute(
        """
        SELECT mmsi, time, lat, lon, sog, cog FROM (
            SELECT mmsi, time, lat, lon, sog, cog,
                   row_number() OVER w AS n, count(*) OVER (PARTITION BY mmsi) AS c
            FROM imported_extract_positions WHERE extract_id = %s
            WINDOW w AS (PARTITION BY mmsi ORDER BY time)
        ) p WHERE (n - 1) %% %s = 0 OR n = c ORDER BY mmsi, time""",
        (extract_id, step),
    )
    out: dict[int, list] = {}
    for mmsi, t, lat, lon, sog, cog in await cur.fetchall():
        out.setdefault(mmsi, []).append((t, lat, lon, sog, cog))
    return out


async def import_alerts(conn: psycopg.AsyncConnection, extract_id: int) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {', '.join(_q(c) for c in ALERT_COLUMNS)} FROM imported_extract_alerts "
            "WHERE extract_id = %s ORDER BY start NULLS LAST",
            (extract_id,),
        )
        return await cur.fetchall()


async def vessel_count(conn: psycopg.AsyncConnection, extract_id: int) -> int:
    cur = await conn.execute(
        "SELECT count(DISTINCT mmsi) FROM imported_extract_positions WHERE extract_id = %s",
        (extract_id,),
    )
    return (await cur.fetchone())[0]
