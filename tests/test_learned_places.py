"""Places learned from the traffic survive a restart: what one analyzer learned about an
anchorage, saved to the database and loaded into the next, keeps the next quiet there."""

from __future__ import annotations

import psycopg

from mda.analytics import Analyzer, analyze_records
from mda.analytics.geo import destination
from mda.analytics.testing import T0, Track, merge
from mda.store.db import connect
from mda.store.migrate import upgrade
from mda.store.places import forget_places_before, load_places, save_places

ANCHORAGE = (-15.0, 75.0)  # open sea: no zone, no coast


def _queue(first_mmsi: int, start: float, n: int = 4) -> list:
    """n ships waiting together (not saying they are at anchor) for three hours."""
    return merge(
        *[
            Track(
                first_mmsi + i, *destination(*ANCHORAGE, 90.0 * i, 0.3), start=start, interval_s=180
            ).stop(3 * 60, nav_status=0)
            for i in range(n)
        ]
    )


async def test_stops_saved_by_one_run_explain_a_lone_waiting_ship_in_the_next(db_url):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    first = Analyzer()
    first.process(_queue(419000500, T0))
    first.finish()
    rows = first.export_places()
    assert {r[0] for r in rows} == {"stop"} and len(rows) == 4

    async with await connect(db_url) as conn:
        assert await save_places(conn, rows) == 4
        assert await save_places(conn, rows) == 4  # idempotent: an upsert per vessel and place
        loaded = await load_places(conn, T0 - 86400)
    assert sorted(loaded) == sorted(rows)

    # A week later one ship waits there alone. Without the learned place it loiters ...
    alone = Track(419000600, *ANCHORAGE, start=T0 + 7 * 86400, interval_s=180).stop(
        2 * 60, nav_status=0
    )
    assert [a.kind for a in analyze_records(alone.records)] == ["loitering"]
    # ... with it, it waits where four others waited: an anchorage.
    second = Analyzer()
    second.load_places(loaded)
    changes = second.process(alone.records) + second.finish()
    assert changes == [] and second.stats["explained_loitering"] == 1

    async with await connect(db_url) as conn:
        assert await forget_places_before(conn, T0 + 86400) == 4
        assert await load_places(conn, T0 - 86400) == []
