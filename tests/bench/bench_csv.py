"""CSV archive ingest into TimescaleDB: rows/s against NMEA ingest lines/s, same run.

    python tests/bench/bench_csv.py [--size-mb 1024] [--nmea-lines N] [--database URL]

Writes a CSV archive of ``--size-mb`` in the Danish Maritime Authority's layout (the rows
of tests/data/derived/norway.dma.csv, real traffic, repeated second after second: 233
vessels over hours, every row unique), ingests it with ``mda ingest``'s own code path
(raw archive on, as for NMEA), and an NMEA feed the same way, each into a fresh database.
The NMEA feed has as many lines as the CSV has rows (or ``--nmea-lines``): a generated
mixed feed (tests/bench/feedgen: positions, multipart statics, a second receiver's
copies, a little junk) tiled with its tag-block times shifted past the de-duplication
window, so both runs fill tables of the same size. Prints rows/s and lines/s, their ratio
(target >= 1: CSV at least as fast as NMEA), the load average before each run (the
machine may be shared), the rows stored against those written, and resident memory
sampled during both runs: flat when the second half of the CSV run grows by at most
``--max-growth-mb``. The exit code is 0 only when the ratio, the stored rows and the
memory all pass. Without --database (or $MDA_BENCH_DATABASE_URL) it starts a TimescaleDB
of its own with deploy/timescaledb.sh.
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


BASE_LINES = 300_000  # generated once, then tiled (feedgen writes ~25k lines/s)


def write_nmea(path: Path, n_lines: int) -> int:
    """``n_lines`` of feedgen's feed: its first ``BASE_LINES`` lines again and again, each
    copy's tag-block times shifted by the span of the base plus a day (so no copy is a
    duplicate of another within the de-duplication window). Returns the lines written."""
    import re

    from feedgen import _checksum, generate

    base = generate(min(n_lines, BASE_LINES)).lines
    tag = re.compile(r"^\\s:([^,]*),c:(\d+)\*[0-9A-F]{2}\\(.*)$")
    parts = []
    for line in base:
        m = tag.match(line)
        parts.append((m.group(1), int(m.group(2)), m.group(3)) if m else (None, 0, line))
    times = [t for st, t, _ in parts if st is not None]
    span = max(times) - min(times) + 86_400
    written = 0
    with open(path, "w") as f:
        k = 0
        while written < n_lines:
            shift = k * span
            out = []
            tags: dict[tuple[str, int], str] = {}
            for station, t, rest in parts[: n_lines - written]:
                if station is None:
                    out.append(rest)
                    continue
                tag_text = tags.get((station, t))
                if tag_text is None:
                    body = f"s:{station},c:{t + shift}"
                    tag_text = tags[(station, t)] = f"\\{body}*{_checksum(body)}\\"
                out.append(tag_text + rest)
            f.write("\n".join(out) + "\n")
            written += len(out)
            k += 1
    return written


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
    ap.add_argument(
        "--nmea-lines", type=int, default=0, help="default: as many as the CSV has rows"
    )
    ap.add_argument("--max-growth-mb", type=float, default=32.0)
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
        csv = tmp / "archive.csv"
        t = time.perf_counter()
        rows = write_csv(csv, int(args.size_mb * 2**20))
        size = csv.stat().st_size
        print(
            f"CSV archive: {size / 2**20:,.0f} MB, {rows:,} rows "
            f"(written in {time.perf_counter() - t:.0f} s)"
        )
        nmea = tmp / "feed.nmea"
        t = time.perf_counter()
        n_lines = write_nmea(nmea, args.nmea_lines or rows)
        print(
            f"NMEA feed: {nmea.stat().st_size / 2**20:,.0f} MB, {n_lines:,} lines "
            f"(written in {time.perf_counter() - t:.0f} s)"
        )

        def measured(path: Path, name: str, fmt: str | None):
            url = database()
            load = os.getloadavg()[0]
            sampler = MemorySampler()
            sampler.start()
            stats, secs = run_ingest(url, path, name, fmt)
            sampler.stop.set()
            sampler.join()
            with connect_sync(url) as conn:
                stored = conn.execute("SELECT count(*) FROM positions").fetchone()[0]
            return stats, secs, stored, load, sampler.samples

        stats, secs, _, load, _ = measured(nmea, "bench-nmea", None)
        nmea_rate = stats["lines"] / secs
        print(
            f"NMEA ingest: {stats['lines']:,} lines in {secs:.1f} s = {nmea_rate:,.0f} lines/s "
            f"(load average before: {load:.2f})"
        )
        stats, secs, stored, load, s = measured(csv, "bench-csv", "csv")
        csv_rate = stats["lines"] / secs
        print(
            f"CSV ingest: {stats['lines']:,} rows in {secs:.1f} s = {csv_rate:,.0f} rows/s "
            f"(load average before: {load:.2f})"
        )
        ratio = csv_rate / nmea_rate
        print(
            f"ratio rows/s to NMEA lines/s: {ratio:.2f}  (target >= 1)  "
            f"{'OK' if ratio >= 1 else 'BELOW TARGET'}"
        )
        print(
            f"positions stored: {stored:,} of {rows:,} rows  "
            f"{'OK' if stored == rows else 'MISMATCH'}; rejected: {dict(stats['rejected'])}"
        )
        flat = False
        if len(s) >= 4:
            half = s[len(s) // 2][1]
            growth = s[-1][1] - half
            flat = growth <= args.max_growth_mb
            print(
                f"memory (RSS): start {s[0][1]:.0f} MB, half-way {half:.0f} MB, peak "
                f"{max(m for _, m in s):.0f} MB, end {s[-1][1]:.0f} MB; second-half growth "
                f"{growth:+.0f} MB (limit {args.max_growth_mb:g})  "
                f"{'FLAT' if flat else 'GROWING'}"
            )
        else:
            print("memory: too few samples (the run was too short to tell)")
        return 0 if ratio >= 1 and stored == rows and flat else 1
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
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
