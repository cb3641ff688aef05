"""``GET /api/vessels`` from the snapshot in memory (web/snapshot.py): the same body as
the database builds for every box, time and count, and never older than
``vessels_snapshot_s``."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from web_support import NOW, seed_vessels, vessel

from mda.store import queries
from mda.store.queries import BBox

pytestmark = pytest.mark.integration


async def _from_database(web, **kw) -> dict:
    async with await psycopg.AsyncConnection.connect(web.db_url) as c:
        await queries.configure_connection(c)
        return json.loads(await queries.vessels_geojson(c, **kw))


async def test_the_snapshot_answers_what_the_database_answers(web):
    await seed_vessels(web)
    # one across the antimeridian, one with no name, one exactly at a box's corner
    await web.write(
        [vessel(412000004, -16.0, 179.5)[0], vessel(412000005, -17.0, -179.5)[0]],
        [vessel(412000004, -16.0, 179.5, name="DATELINE")[1]],
    )
    await web.write([vessel(419000006, 0.0, 70.0, ts=NOW - 3600)[0]], [])
    h = await web.token("viewer")
    snapshot = web.app.state.vessels
    assert snapshot.enabled and snapshot.max_age_s == 1.0  # on by default
    snapshot.max_age_s = 60.0  # so every answer below comes from one snapshot
    cases = [
        ({}, {}),
        ({"bbox": "70,0,85,25"}, {"bbox": BBox(70, 0, 85, 25)}),
        ({"bbox": "179,-20,-179,-10"}, {"bbox": BBox(179, -20, -179, -10)}),
        ({"since": str(NOW - 3600)}, {"since": _t(NOW - 3600)}),
        ({"limit": "2"}, {"limit": 2}),
        (
            {"bbox": "40,-30,110,30", "since": str(NOW - 7200), "limit": "3"},
            {"bbox": BBox(40, -30, 110, 30), "since": _t(NOW - 7200), "limit": 3},
        ),
        ({"bbox": "0,0,1,1"}, {"bbox": BBox(0, 0, 1, 1)}),
    ]
    for params, kw in cases:
        r = await web.client.get("/api/vessels", params=params, headers=h)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        assert r.json() == await _from_database(web, **kw), params
    got = await web.client.get("/api/vessels", params={"bbox": "179,-20,-179,-10"}, headers=h)
    assert [f["id"] for f in got.json()["features"]] == [412000004, 412000005]
    assert snapshot.refreshes == 1  # every answer above from one snapshot


async def test_a_change_shows_once_the_snapshot_is_older_than_its_bound(web):
    await seed_vessels(web)
    h = await web.token("viewer")
    first = (await web.client.get("/api/vessels", headers=h)).json()["features"]
    assert len(first) == 3
    await web.write([vessel(419000001, 19.5, 72.0, ts=NOW + 60)[0]], [])
    await asyncio.sleep(web.app.state.settings.vessels_snapshot_s + 0.1)
    now = (await web.client.get("/api/vessels", headers=h)).json()["features"]
    moved = next(f for f in now if f["id"] == 419000001)
    assert moved["geometry"]["coordinates"] == [72.0, 19.5]
    assert web.app.state.vessels.refreshes == 2


def _t(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)
