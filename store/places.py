"""Places learned from the traffic, in the database: what ``analytics.places.StopPlaces``
remembers (stops and passages of vessels per place cell), saved by ``mda serve`` so that a
restart does not forget the anchorages and fairways it has learned.

Rows are ``(kind, mmsi, ts, lat, lon)`` with ``kind`` ``'stop'`` or ``'pass'`` and ``ts`` in
UTC epoch seconds, as ``Analyzer.export_places()`` gives and ``load_places()`` takes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg

__all__ = ["save_places", "load_places", "forget_places_before"]

_CELL_DEG = 1.0 / 60.0  # as analytics.places: one minute of latitude


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return int((lat + 90.0) // _CELL_DEG), int((lon + 180.0) // _CELL_DEG)


async def save_places(
    conn: psycopg.AsyncConnection, rows: Iterable[tuple[str, int, float, float, float]]
) -> int:
    """Upsert rows; a place keeps the latest time and position of each vessel there."""
    params = []
    for kind, mmsi, ts, lat, lon in rows:
        row, col = _cell(lat, lon)
        params.append((kind, mmsi, row, col, datetime.fromtimestamp(ts, UTC), lat, lon))
    if not params:
        return 0
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO learned_places (kind, mmsi, cell_row, cell_col, time, lat, lon) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (kind, mmsi, cell_row, cell_col) DO UPDATE "
            "SET time = EXCLUDED.time, lat = EXCLUDED.lat, lon = EXCLUDED.lon "
            "WHERE learned_places.time < EXCLUDED.time",
            params,
        )
    await conn.commit()
    return len(params)


async def load_places(
    conn: psycopg.AsyncConnection, since: float
) -> list[tuple[str, int, float, float, float]]:
    """Every row at or after ``since`` (epoch seconds)."""
    cur = await conn.execute(
        "SELECT kind, mmsi, extract(epoch FROM time)::float8, lat, lon FROM learned_places "
        "WHERE time >= %s",
        (datetime.fromtimestamp(since, UTC),),
    )
    return [tuple(r) for r in await cur.fetchall()]


async def forget_places_before(conn: psycopg.AsyncConnection, ts: float) -> int:
    cur = await conn.execute(
        "DELETE FROM learned_places WHERE time < %s", (datetime.fromtimestamp(ts, UTC),)
    )
    await conn.commit()
    return cur.rowcount
