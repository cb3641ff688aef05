"""Benchmark track replay: 30 days of one vessel at one report a minute (43,200 fixes),
through the ASGI app, on TimescaleDB.

    python tests/bench/bench_replay.py [--days 30] [--others 200] [--runs 7]

Database: ``MDA_BENCH_DATABASE_URL`` (an admin URL of a TimescaleDB server; a scratch
database is created on it and dropped afterwards), else a private server started with
``deploy/timescaledb.sh`` and stopped at the end.

Target (issue 17): the month loads in under a second (``GET /api/vessels/{mmsi}/replay``,
time-bucketed). Printed with ratios against baselines measured in the same run: the
vessel's raw fixes fetched as plain tuples (no JSON), and the same period through
``GET /api/vessels/{mmsi}/track`` (every fix, as GeoJSON).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from asgi_lifespan import LifespanManager

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "bench"))

from bench_web import _server, _with_db  # noqa: E402

from mda.ingest.records import PositionReport  # noqa: E402
from mda.settings import load_settings  # noqa: E402
from mda.store.accounts import create_token  # noqa: E402
from mda.store.migrate import upgrade  # noqa: E402
from mda.store.writer import write_batch  # noqa: E402
from mda.web.app import create_app  # noqa: E402

MMSI = 419_777_777


async def seed(url: str, days: int, others: int) -> tuple[float, float]:
    end = time.time()
    start = end - days * 86400
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        batch = []
        n = days * 1440
        for k in range(n):
            batch.append(
                PositionReport(
                    ts=start + 60 * k,
                    mmsi=MMSI,
                    lat=-20 + 30 * k / n,
                    lon=50 + 40 * k / n,
                    sog=12.0,
                    cog=60.0,
                    heading=60,
                    msg_type=1,
                    source="bench",
                )
            )
            # other vessels' traffic in the same chunks, as a real archive has
            for j in range(others // 60):
                batch.append(
                    PositionReport(
                        ts=start + 60 * k + j,
                        mmsi=200_000_000 + (k * 7 + j) % others,
                        lat=0.0,
                        lon=60.0,
                        sog=10.0,
                        cog=0.0,
                        msg_type=1,
                        source="bench",
                    )
                )
            if len(batch) >= 20000:
                await write_batch(c, batch, [], [])
                batch = []
        if batch:
            await write_batch(c, batch, [], [])
        await c.execute("ANALYZE positions")
    return start, end


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--others", type=int, default=200)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    admin, stop = _server()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = _with_db(admin, name)
        with psycopg.connect(url) as c:
            upgrade(c)
        t = time.perf_counter()
        start, end = await seed(url, args.days, args.others)
        print(
            f"seeded {args.days} days of one vessel at 1/min (+ {args.others} others) "
            f"in {time.perf_counter() - t:.0f} s"
        )
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
            token = await create_token(c, "bench", "viewer")
        settings = load_settings(
            environ={"MDA_DATA_DIR": "/tmp/mda-bench-replay", "MDA_SECRET_KEY": "x" * 32}
        )
        app = create_app(settings, url)
        q = {"start": str(start), "end": str(end)}
        h = {"Authorization": f"Bearer {token}"}
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as client,
        ):

            async def timed(fn) -> tuple[float, object]:
                times, out = [], None
                for _ in range(args.runs):
                    t = time.perf_counter()
                    out = await fn()
                    times.append(time.perf_counter() - t)
                return statistics.median(times), out

            async def replay():
                r = await client.get(f"/api/vessels/{MMSI}/replay", params=q, headers=h)
                r.raise_for_status()
                return r.json()

            async def track():
                r = await client.get(f"/api/vessels/{MMSI}/track", params=q, headers=h)
                r.raise_for_status()
                return r.json()

            async def raw():
                async with await psycopg.AsyncConnection.connect(url) as c:
                    cur = await c.execute(
                        "SELECT time, lat, lon, sog, cog, heading FROM positions "
                        "WHERE mmsi = %s AND time >= to_timestamp(%s) AND time <= to_timestamp(%s) ORDER BY time",
                        (MMSI, start, end),
                    )
                    return await cur.fetchall()

            t_replay, body = await timed(replay)
            t_track, feature = await timed(track)
            t_raw, rows = await timed(raw)
        print(
            f"replay  {t_replay * 1000:7.1f} ms  {body['points']} points in {body['bucket_s']} s buckets "
            f"(target < 1000 ms: {'met' if t_replay < 1 else 'MISSED'})"
        )
        print(
            f"track   {t_track * 1000:7.1f} ms  {feature['properties']['points']} fixes as GeoJSON (baseline)"
        )
        print(f"raw     {t_raw * 1000:7.1f} ms  {len(rows)} rows as tuples, no JSON (baseline)")
        print(
            f"ratio replay / track {t_replay / t_track:.2f}, replay / raw rows {t_replay / t_raw:.2f}"
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        stop()


if __name__ == "__main__":
    asyncio.run(main())
