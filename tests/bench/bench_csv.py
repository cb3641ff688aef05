"""CSV archive ingest into TimescaleDB: rows/s against NMEA ingest lines/s, same run.

    python tests/bench/bench_csv.py [--size-mb 1024] [--nmea-lines 300000] [--database URL]

Writes a CSV archive of ``--size-mb`` in the Danish Maritime Authority's layout (the rows
of tests/data/derived/norway.dma.csv, real traffic, repeated second after second: 233
vessels over hours, every row unique), ingests it with ``mda ingest``'s own code path
(raw archive on, as for NMEA), and an NMEA feed of ``--nmea-lines`` (tests/bench/feedgen)
the same way. Prints rows/s and lines/s, their ratio (target >= 1: CSV at least as fast
as NMEA), the rows stored against those written, and resident memory sampled during the
CSV run (flat: the second half grows by little, whatever the size). Without --database
(or $MDA_BENCH_DATABASE_URL) it starts a TimescaleDB of its own with deploy/timescaledb.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import MemorySampler, start_timescaledb  # noqa: E402
from feedgen import generate  # noqa: E402

SAMPLE = HERE.parent / "data" / "derived" / "norway.dma.csv"


def write_csv(path: Path, size: int) -> int:
    """The sample's rows, second after second, until the file holds ``size`` bytes."""
    header, *rows = SAMPLE.read_text().splitlines()
    tails = [r.split(",", 1)[1] for r in rows]
    t0 = datetime(2023, 4, 21, tzinfo=UTC)
    n = 0
    written = 0
    with open(path, "w") as f:
        f.write(header + "\n")
        k = 0
        while written < size:
            stamp = (t0 + timedelta(seconds=k)).strftime("%d/%m/%Y %H:%M:%S")
            block = "".join(f"{stamp},{tail}\n" for tail in tails)
            f.write(block)
            written += len(block)
            n += len(tails)
            k += 1
    return n


def run_ingest(url: str, path: Path, name: str, fmt: str | None):
    from mda.commands.ingest import ingest
    from mda.settings import SourceSpec, load_settings

    settings = load_settings(environ={})
    spec = SourceSpec(str(path), name, keep=True, format=fmt)
    t = time.perf_counter()
    pipeline, _ = asyncio.run(ingest(settings, url, [spec], progress=False))
    return pipeline.stats(), time.perf_counter() - t


def main() -> int:
    import gc

    gc.set_threshold(50_000, 20, 100)  # as `mda` itself does (mda/cli.py)
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size-mb", type=float, default=1024.0)
    ap.add_argument("--nmea-lines", type=int, default=300_000)
    ap.add_argument("--database", default=os.environ.get("MDA_BENCH_DATABASE_URL"))
    args = ap.parse_args()

    from mda.store.db import connect_sync
    from mda.store.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="mda-bench-csv-"))
    admin, started_here = args.database, None
    if not admin:
        admin, started_here = start_timescaledb(tmp)
    dbs = []

    def database() -> str:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        dbs.append(name)
        url = psycopg.conninfo.make_conninfo(admin, dbname=name)
        with connect_sync(url) as conn:
            upgrade(conn)
        return url

    try:
        feed = generate(args.nmea_lines)
        nmea = tmp / "feed.nmea"
        nmea.write_text("\n".join(feed.lines) + "\n")
        stats, secs = run_ingest(database(), nmea, "bench-nmea", None)
        nmea_rate = stats["lines"] / secs
        print(f"NMEA ingest: {stats['lines']:,} lines in {secs:.1f} s = {nmea_rate:,.0f} lines/s")

        csv = tmp / "archive.csv"
        t = time.perf_counter()
        rows = write_csv(csv, int(args.size_mb * 2**20))
        size = csv.stat().st_size
        print(
            f"CSV archive: {size / 2**20:,.0f} MB, {rows:,} rows (written in {time.perf_counter() - t:.0f} s)"
        )
        url = database()
        sampler = MemorySampler()
        sampler.start()
        stats, secs = run_ingest(url, csv, "bench-csv", "csv")
        sampler.stop.set()
        sampler.join()
        csv_rate = stats["lines"] / secs
        with connect_sync(url) as conn:
            stored = conn.execute("SELECT count(*) FROM positions").fetchone()[0]
        print(f"CSV ingest: {stats['lines']:,} rows in {secs:.1f} s = {csv_rate:,.0f} rows/s")
        ratio = csv_rate / nmea_rate
        print(
            f"ratio rows/s to NMEA lines/s: {ratio:.2f}  (target >= 1)  {'OK' if ratio >= 1 else 'BELOW TARGET'}"
        )
        print(
            f"positions stored: {stored:,} of {rows:,} rows  {'OK' if stored == rows else 'MISMATCH'}; "
            f"rejected: {dict(stats['rejected'])}"
        )
        s = sampler.samples
        if len(s) >= 4:
            half = s[len(s) // 2][1]
            print(
                f"memory (RSS): start {s[0][1]:.0f} MB, half-way {half:.0f} MB, peak "
                f"{max(m for _, m in s):.0f} MB, end {s[-1][1]:.0f} MB; second-half growth "
                f"{s[-1][1] - half:+.0f} MB"
            )
        return 0 if ratio >= 1 and stored == rows else 1
    finally:
        for name in dbs:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for p in tmp.glob("*"):
            if p.is_file():
                p.unlink()
        if started_here:
            import subprocess

            subprocess.run(
                [
                    str(HERE.parents[1] / "deploy" / "timescaledb.sh"),
                    "stop",
                    "--datadir",
                    str(started_here),
                    "--remove",
                ],
                capture_output=True,
            )


if __name__ == "__main__":
    sys.exit(main())
