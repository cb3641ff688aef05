"""Installation A's signed extract, for the import tests: A has its own database (made and
dropped here) and its own data directory (its signing key); the existing exporter makes
the extract of an encounter between two vessels. B, the importing side, is the test's own
database."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
from conftest import _fresh_database

from mda.analytics import Alert, AlertChange
from mda.exchange import extract
from mda.exchange.signing import load_or_create_key, public_pem
from mda.ingest.records import PositionReport, VesselInfo
from mda.store import alerts as store_alerts
from mda.store.migrate import upgrade
from mda.store.writer import write_batch

__all__ = ["Exported", "export_from_a", "FIXES"]

FIXES = 40  # per vessel


@dataclass(frozen=True)
class Exported:
    zip: Path
    public_pem: str
    alert_id: int
    positions: int
    mmsis: tuple[int, int]


async def _seed_and_export(url: str, root: Path) -> Exported:
    now = time.time()
    a, b = 419000101, 419000202
    positions = []
    for i in range(FIXES):
        t = now - 3600 + i * 60
        for mmsi, lat0 in ((a, 12.0), (b, 12.02)):
            positions.append(
                PositionReport(
                    ts=t,
                    mmsi=mmsi,
                    lat=lat0 + i * 0.002,
                    lon=70.0 + i * 0.004,
                    sog=9.5,
                    cog=60.0,
                    heading=61,
                    nav_status=0,
                    msg_type=1,
                    source="test",
                )
            )
    statics = [
        VesselInfo(ts=now - 3600, mmsi=a, name="COLOMBO TRADER", ship_type=70),
        VesselInfo(ts=now - 3600, mmsi=b, name="NIGHT HERON", ship_type=30),
    ]
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, options="-c TimeZone=UTC"
    ) as conn:
        await write_batch(conn, positions, statics, [])
        alert = Alert(
            key=f"encounter:{a}:{b}:1",
            kind="encounter",
            severity="high",
            mmsi=a,
            other_mmsi=b,
            start=now - 2400,
            end=now - 1200,
            lat=12.04,
            lon=70.08,
            zone=None,
            details={"rule": "encounter", "text": "two vessels alongside for 20 min"},
        )
        [row] = await store_alerts.save_changes(conn, [AlertChange("opened", alert)])
        options = extract.ExtractOptions(
            organisation="MRCC Colombo (installation A)",
            caveat="RESTRICTED - coast guard partners only",
            window_s=1800.0,
            max_positions=1_000_000,
            data_path=root / "a-data",
        )
        made = await extract.alert_extract(
            conn,
            row["id"],
            options,
            extract.Maker("watch-a", "officer", "session"),
            root / f"mda-alert-{row['id']}.zip",
        )
    key = load_or_create_key(root / "a-data")
    return Exported(made.path, public_pem(key), row["id"], made.positions, (a, b))


def export_from_a(timescale_server: str, root: Path) -> Exported:
    """Make A's database, seed it, export one alert's extract, drop the database."""
    root.mkdir(parents=True, exist_ok=True)
    gen = _fresh_database(timescale_server, "mda_test_a")
    url = next(gen)
    try:
        with psycopg.connect(url) as conn:
            upgrade(conn)
        # a thread of its own: the caller may be inside an event loop (Playwright's)
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _seed_and_export(url, root)).result()
    finally:
        gen.close()
