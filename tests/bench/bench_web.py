"""Benchmark the web's two hot reads on TimescaleDB, through the ASGI app.

    python tests/bench/bench_web.py [--vessels 50000] [--points 10000] [--runs 15] [--explain]

Database: ``MDA_BENCH_DATABASE_URL`` (an admin URL of a TimescaleDB server; a scratch
database is created on it and dropped afterwards), else a private server started with
``deploy/timescaledb.sh`` and stopped at the end.

Targets (issue 16): ``GET /api/vessels`` with 50,000 vessels under 100 ms median; one
vessel's 7-day track of 10,000 points under 30 ms median (issue 5's were 300 and 100 ms).
Each figure is printed with its target (met or missed) and with ratios against baselines
measured in the same run: a bare round trip (``SELECT count(*) FROM vessels``) and the
same rows fetched as plain tuples without building JSON. ``GET /api/vessels`` is measured
three ways: as served (from the snapshot in memory, ``vessels_snapshot_s`` = 1 s, so a
request that finds it older takes a new one), a request that always takes a new snapshot
(the cost every ``vessels_snapshot_s`` seconds, or of the first map after a quiet spell),
and straight from the database (``vessels_snapshot_s = 0``, the JSON built by PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from asgi_lifespan import LifespanManager

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mda.ingest.records import PositionReport, VesselInfo  # noqa: E402
from mda.settings import load_settings  # noqa: E402
from mda.store.accounts import create_token  # noqa: E402
from mda.store.migrate import upgrade  # noqa: E402
from mda.store.writer import write_batch  # noqa: E402
from mda.web.app import create_app  # noqa: E402

TRACK_MMSI = 419_999_999


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _server() -> tuple[str, callable]:
    url = os.environ.get("MDA_BENCH_DATABASE_URL", "").strip()
    if url:
        return url, lambda: None
    datadir = Path(tempfile.mkdtemp(prefix="mda-bench-")) / "data"
    out = subprocess.run(
        ["bash", str(REPO / "deploy" / "timescaledb.sh"), "start", "--datadir", str(datadir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(
            f"cannot start TimescaleDB: {out.stderr.strip().splitlines()[-1:]}; "
            "set MDA_BENCH_DATABASE_URL"
        )
    url = out.stdout.strip().splitlines()[-1]

    def stop():
        subprocess.run(
            [
                "bash",
                str(REPO / "deploy" / "timescaledb.sh"),
                "stop",
                "--datadir",
                str(datadir),
                "--remove",
            ],
            capture_output=True,
            check=False,
        )

    return url, stop


async def seed(url: str, n_vessels: int, n_points: int) -> None:
    rnd = random.Random(1)
    now = time.time()
    positions, statics = [], []
    for i in range(n_vessels):
        mmsi = 200_000_000 + i * 7
        positions.append(
            PositionReport(
                ts=now - rnd.uniform(0, 3600),
                mmsi=mmsi,
                lat=rnd.uniform(-40, 25),
                lon=rnd.uniform(35, 110),
                sog=rnd.uniform(0, 20),
                cog=rnd.uniform(0, 360),
                heading=rnd.randrange(360),
                nav_status=0,
                msg_type=1,
                source="bench",
            )
        )
        statics.append(
            VesselInfo(
                ts=now - 7200,
                mmsi=mmsi,
                name=f"BENCH VESSEL {i}",
                callsign=f"B{i:06d}",
                ship_type=rnd.choice([30, 52, 60, 70, 80]),
                to_bow=100,
                to_stern=30,
                to_port=10,
                to_starboard=10,
            )
        )
    # one vessel with a 7-day track of n_points fixes (in 7 daily chunks of the hypertable)
    step = 7 * 86400 / n_points
    track = [
        PositionReport(
            ts=now - 7 * 86400 + k * step,
            mmsi=TRACK_MMSI,
            lat=5 + k * 1e-3,
            lon=60 + k * 1e-3,
            sog=12.0,
            cog=45.0,
            heading=45,
            nav_status=0,
            msg_type=1,
            source="bench",
        )
        for k in range(n_points)
    ]
    # and background traffic in the same days, so the track query has to find its rows
    background = [
        PositionReport(
            ts=now - rnd.uniform(0, 7 * 86400),
            mmsi=200_000_000 + rnd.randrange(n_vessels) * 7,
            lat=rnd.uniform(-40, 25),
            lon=rnd.uniform(35, 110),
            sog=10.0,
            cog=90.0,
            heading=90,
            msg_type=1,
            source="bench",
        )
        for _ in range(200_000)
    ]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for i in range(0, len(positions), 10_000):
            await write_batch(conn, positions[i : i + 10_000], statics[i : i + 10_000], [])
        for i in range(0, len(background), 20_000):
            await write_batch(conn, background[i : i + 20_000], [], [])
        await write_batch(conn, track, [VesselInfo(ts=now, mmsi=TRACK_MMSI, name="TRACKED")], [])
        await conn.execute("ANALYZE")


def _stats(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.9))]


async def measure(url: str, runs: int, explain: bool, tmp: Path) -> int:
    settings = load_settings(
        environ={"MDA_DATA_DIR": str(tmp), "MDA_SECRET_KEY": "bench-secret-0123456789"}
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        token = await create_token(conn, "bench", "viewer")
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    track_params = {
        "start": (now - timedelta(days=7, minutes=1)).isoformat(),
        "end": now.isoformat(),
    }

    app = create_app(settings, url)
    direct = create_app(
        load_settings(
            environ={
                "MDA_DATA_DIR": str(tmp),
                "MDA_SECRET_KEY": "bench-secret-0123456789",
                "MDA_VESSELS_SNAPSHOT_S": "0",
            }
        ),
        url,
    )
    async with (
        LifespanManager(app) as m,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=m.app), base_url="https://bench"
        ) as client,
        LifespanManager(direct) as md,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=md.app), base_url="https://bench"
        ) as client_db,
    ):

        async def timed(fn) -> list[float]:
            await fn()  # warm-up
            out = []
            for _ in range(runs):
                t0 = time.perf_counter()
                await fn()
                out.append((time.perf_counter() - t0) * 1000)
            return out

        state: dict = {}

        async def vessels():
            r = await client.get("/api/vessels", headers=headers)
            r.raise_for_status()
            state["vessels_bytes"] = len(r.content)
            state["vessels_n"] = r.content.count(b'"Feature"')

        async def vessels_cold():
            app.state.vessels._taken = None  # as if the snapshot had just expired
            r = await client.get("/api/vessels", headers=headers)
            r.raise_for_status()

        async def vessels_db():
            r = await client_db.get("/api/vessels", headers=headers)
            r.raise_for_status()
            state["vessels_db_bytes"] = len(r.content)

        async def track():
            r = await client.get(
                f"/api/vessels/{TRACK_MMSI}/track", params=track_params, headers=headers
            )
            r.raise_for_status()
            state["track_points"] = r.json()["properties"]["points"]
            state["track_bytes"] = len(r.content)

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:

            async def roundtrip():
                await (await conn.execute("SELECT count(*) FROM vessels")).fetchone()

            async def raw_vessels():
                await (
                    await conn.execute(
                        "SELECT mmsi, lon, lat, name, callsign, ship_type, sog, cog, heading, nav_status, "
                        "time FROM vessels WHERE time IS NOT NULL ORDER BY mmsi"
                    )
                ).fetchall()

            async def raw_track():
                await (
                    await conn.execute(
                        "SELECT time, lat, lon, sog, cog FROM positions WHERE mmsi = %s AND time >= %s "
                        "AND time <= %s ORDER BY time",
                        (TRACK_MMSI, track_params["start"], track_params["end"]),
                    )
                ).fetchall()

            base_rt = _stats(await timed(roundtrip))
            base_v = _stats(await timed(raw_vessels))
            base_t = _stats(await timed(raw_track))
            if explain:
                plan = await (
                    await conn.execute(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM positions WHERE mmsi = %s "
                        "AND time >= %s AND time <= %s ORDER BY time",
                        (TRACK_MMSI, track_params["start"], track_params["end"]),
                    )
                ).fetchall()
                print("\n".join(r[0] for r in plan))
        v = _stats(await timed(vessels))
        v_cold = _stats(await timed(vessels_cold))
        v_db = _stats(await timed(vessels_db))
        t = _stats(await timed(track))
    assert state["vessels_db_bytes"] == state["vessels_bytes"], "snapshot and database differ"

    ok = True
    print(f"\nbaseline: bare round trip (SELECT count(*) FROM vessels): median {base_rt[0]:.1f} ms")
    print(f"baseline: raw rows without JSON: vessels {base_v[0]:.1f} ms, track {base_t[0]:.1f} ms")
    vessels_label = (
        f"GET /api/vessels ({state['vessels_n']:,} vessels, {state['vessels_bytes'] / 1e6:.1f} MB)"
    )
    for label, (med, p90), target, raw in (
        (vessels_label + ", as served (snapshot <= 1 s old)", v, 100.0, base_v),
        (vessels_label + ", each request taking a new snapshot", v_cold, None, base_v),
        (vessels_label + ", from the database (vessels_snapshot_s = 0)", v_db, None, base_v),
        (
            f"GET /api/vessels/{{mmsi}}/track ({state['track_points']:,} points over 7 days, "
            f"{state['track_bytes'] / 1e3:.0f} kB)",
            t,
            30.0,
            base_t,
        ),
    ):
        if target is None:
            verdict = "no target"
        else:
            verdict = f"target < {target:.0f} ms: " + ("met" if med < target else "MISSED")
            ok &= med < target
        print(
            f"{label}\n    median {med:.1f} ms, p90 {p90:.1f} ms, {verdict}"
            f"\n    {med / base_rt[0]:.1f}x the bare round trip; {med / raw[0]:.2f}x the raw "
            f"rows without JSON ({raw[0]:.1f} ms)"
        )
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vessels", type=int, default=50_000)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--explain", action="store_true", help="print the track query's plan")
    args = ap.parse_args()
    admin, stop = _server()
    name = f"mda_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = _with_db(admin, name)
        with psycopg.connect(url) as conn:
            upgrade(conn)
        t0 = time.perf_counter()
        asyncio.run(seed(url, args.vessels, args.points))
        print(
            f"seeded {args.vessels:,} vessels, a {args.points:,}-point track and 200,000 other "
            f"fixes in {time.perf_counter() - t0:.1f} s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            return asyncio.run(measure(url, args.runs, args.explain, Path(tmp)))
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        stop()


if __name__ == "__main__":
    sys.exit(main())
