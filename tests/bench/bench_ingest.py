"""Ingest throughput into TimescaleDB, as a ratio to bare pyais decoding of the same file.

    python tests/bench/bench_ingest.py [--lines 300000] [--database URL] [--batch-rows N]
                                       [--in-process]

Without --database (or $MDA_BENCH_DATABASE_URL) it starts a TimescaleDB of its own with
deploy/timescaledb.sh. Prints lines/s of both, their ratio (target >= 1.0, issue 16), the
CPU seconds each took (ingest: in this process, which reads and writes, and in its decoding
process, which decodes; the database's own work runs in its server process), the rows in
`positions` against the unique position reports generated (must be equal), and resident
memory sampled during the run (flat: the second half grows by little).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

from feedgen import bare_pyais_decode, generate  # noqa: E402


def _rss_mb(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # ended meanwhile
        return 0.0


def _children() -> list[str]:
    out = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                out += f.read().split()
        except OSError:
            continue
    return out


def rss_mb() -> float:
    """Resident memory of this process and of its children (the decoding process)."""
    return _rss_mb("self") + sum(_rss_mb(pid) for pid in _children())


def children_cpu() -> float:
    """CPU seconds of the children that have ended and been waited for (the decoding
    process, once ``mda ingest`` has stopped it)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def server_pid(admin: str) -> int | None:
    """The database server's process id, when it runs on this machine and we may read its
    postmaster.pid (a superuser URL, as the benchmark's own server gives)."""
    try:
        with psycopg.connect(admin, autocommit=True) as c:
            pid = int(c.execute("SELECT pg_read_file('postmaster.pid')").fetchone()[0].split()[0])
    except (psycopg.Error, ValueError, IndexError):
        return None
    return pid if os.path.exists(f"/proc/{pid}/stat") else None


def server_cpu(pid: int) -> float:
    """CPU seconds of the server and its processes: the postmaster's own and those of the
    children it has reaped, and the children still running (their backends)."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / hz


class MemorySampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            self.samples.append((time.monotonic(), rss_mb()))


def start_timescaledb(tmp: Path) -> tuple[str, Path]:
    datadir = tmp / "tsdb"
    out = subprocess.run(
        [str(ROOT / "deploy" / "timescaledb.sh"), "start", "--datadir", str(datadir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1], datadir


def main() -> int:
    import gc

    gc.set_threshold(50_000, 20, 100)  # as `mda` itself does (mda/cli.py)
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--database", default=os.environ.get("MDA_BENCH_DATABASE_URL"))
    ap.add_argument(
        "--batch-rows",
        type=int,
        default=None,
        help="rows per write batch instead of mda ingest's own (to compare batch sizes)",
    )
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="decode in the ingest's own process (decode_process = false), as before issue 16",
    )
    args = ap.parse_args()

    import mda.commands.ingest as ingest_command
    from mda.commands.ingest import ingest

    if args.batch_rows:
        ingest_command.INGEST_BATCH_ROWS = args.batch_rows
    from mda.settings import load_settings
    from mda.store.db import connect_sync

    tmp = Path(tempfile.mkdtemp(prefix="mda-bench-"))
    started_here = None
    admin = args.database
    if not admin:
        admin, started_here = start_timescaledb(tmp)
    dbname = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{dbname}"')
    url = psycopg.conninfo.make_conninfo(admin, dbname=dbname)
    try:
        t = time.perf_counter()
        feed = generate(args.lines)
        path = tmp / "feed.nmea"
        path.write_text("\n".join(feed.lines) + "\n")
        print(
            f"feed: {len(feed.lines):,} lines, {feed.unique_positions:,} unique positions, "
            f"{feed.duplicate_lines:,} duplicate lines, {feed.junk_lines} junk "
            f"(generated in {time.perf_counter() - t:.1f} s)"
        )

        t = time.perf_counter()
        cpu = time.process_time()
        decoded = bare_pyais_decode(str(path))
        bare = time.perf_counter() - t
        bare_cpu = time.process_time() - cpu
        print(
            f"bare pyais stream decode: {decoded:,} messages in {bare:.2f} s = "
            f"{len(feed.lines) / bare:,.0f} lines/s (CPU {bare_cpu:.2f} s)"
        )

        settings = load_settings(environ={})
        if args.in_process:
            settings = settings.replace(decode_process=False)
        if args.batch_rows:
            settings = settings.replace(batch_rows=args.batch_rows)
        print(
            f"write batches: {max(settings.batch_rows, ingest_command.INGEST_BATCH_ROWS):,} rows; "
            + ("decoding in this process" if args.in_process else "decoding in a second process")
        )
        # The schema is created before the clock starts: this measures ingest, not migrations
        # (ingest runs them again, finding nothing to do, as on every start).
        from mda.store.migrate import upgrade

        with connect_sync(url) as conn:
            upgrade(conn)
        pg_pid = server_pid(admin)
        pg_before = server_cpu(pg_pid) if pg_pid else 0.0
        sampler = MemorySampler()
        sampler.start()
        t = time.perf_counter()
        cpu = time.process_time()
        child_cpu = children_cpu()
        from mda.settings import SourceSpec

        pipeline, _ = asyncio.run(
            ingest(settings, url, [SourceSpec(str(path), "bench", keep=True)], progress=False)
        )
        stats = pipeline.stats()
        ours = time.perf_counter() - t
        ours_cpu = time.process_time() - cpu
        decode_cpu = children_cpu() - child_cpu
        # Once the writer's backend has exited and been reaped, its CPU is the server's.
        if pg_pid:
            time.sleep(1.0)
        pg_cpu = server_cpu(pg_pid) - pg_before if pg_pid else None
        sampler.stop.set()
        sampler.join()
        with connect_sync(url) as conn:
            stored = conn.execute("SELECT count(*) FROM positions").fetchone()[0]
            hyper = conn.execute(
                "SELECT count(*) FROM timescaledb_information.hypertables "
                "WHERE hypertable_name = 'positions'"
            ).fetchone()[0]
        print(
            f"mda ingest -> TimescaleDB (positions hypertable: {bool(hyper)}): "
            f"{stats['lines']:,} lines in {ours:.2f} s = {len(feed.lines) / ours:,.0f} lines/s "
            f"(CPU {ours_cpu:.2f} s in this process, {decode_cpu:.2f} s in its decoding process"
            + (f", {pg_cpu:.2f} s in the database server)" if pg_cpu is not None else ")")
        )
        ratio = bare / ours
        print(
            f"ratio to bare pyais decode: {ratio:.2f}  (target >= 1.00)  "
            f"{'OK' if ratio >= 1.0 else 'BELOW TARGET'}"
        )
        print(
            f"positions stored: {stored:,}; unique generated: {feed.unique_positions:,}  "
            f"{'OK' if stored == feed.unique_positions else 'MISMATCH'}; duplicates counted: "
            f"{stats['duplicates']:,}; rejected: {dict(stats['rejected'])}"
        )
        s = sampler.samples
        if len(s) >= 4:
            half = s[len(s) // 2][1]
            peak = max(m for _, m in s)
            print(
                f"memory (RSS, with the decoding process): start {s[0][1]:.0f} MB, "
                f"half-way {half:.0f} MB, peak {peak:.0f} MB, "
                f"end {s[-1][1]:.0f} MB; second-half growth {s[-1][1] - half:+.0f} MB"
            )
        return 0 if ratio >= 1.0 and stored == feed.unique_positions else 1
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if started_here:
            subprocess.run(
                [
                    str(ROOT / "deploy" / "timescaledb.sh"),
                    "stop",
                    "--datadir",
                    str(started_here),
                    "--remove",
                ],
                capture_output=True,
            )


if __name__ == "__main__":
    sys.exit(main())
