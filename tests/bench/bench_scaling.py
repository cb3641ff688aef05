"""Messages per second per core of each stage of mda, against bare pyais decoding in the
same run: the figures docs/scaling.md sizes deployments with.

    python tests/bench/bench_scaling.py [--lines 200000] [--vessels 10000] [--repeat 3]
                                        [--database URL]

Stages, each measured in CPU time so that the figure is "per core" (the stages are
single-threaded Python; the database's share is counted from its own processes):

- **bare pyais**: ``pyais.FileReaderStream`` decoding the generated mixed feed of
  ``feedgen.py`` (tag blocks, multipart type 5, type 24, a second receiver's copies,
  junk): the baseline, lines per CPU second, best of ``--repeat``.
- **ingest**: ``Decoder.feed`` (framing, checksums, multipart, decoding, normalising and
  de-duplication across receivers, raw sentences kept) on the same file in batches of
  about 1,000 lines, as a live feed gives them; best of ``--repeat``.
- **wire**: what the ingest role adds (``encode_batch``, MQTT payloads) and the core role
  pays to read them (``decode_batch``), for the same records.
- **store**: ``write_batch`` (binary COPY of positions and raw sentences, vessels upserted,
  batch ids recorded) of the same records in batches of ``batch_rows`` (20,000) positions,
  into a fresh TimescaleDB database; the CPU of this process plus that of the server's
  processes (read from /proc: the server must run on this machine, as the one
  ``deploy/timescaledb.sh`` starts does; with another ``--database`` only this process's
  CPU and the wall time are given). With and without the raw archive (``raw_archive``).
- **analytics**: ``Analyzer.process`` on a realistic fleet (``bench_analytics.py``'s:
  ``--vessels`` ships on the open Indian Ocean, 80 % under way) after 20 s of warm-up;
  positions per CPU second, best chunk.

"Messages" are the feed's lines for the decoders (one line is one sentence; 97 % of the
messages are single-sentence) and positions for the store and the analytics; the ratio
column divides each by the bare pyais rate of this run. Without ``--database`` (or
$MDA_BENCH_DATABASE_URL, an admin URL) a TimescaleDB is started with
``deploy/timescaledb.sh`` (root) and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import psycopg  # noqa: E402
import pyais  # noqa: E402
from bench_analytics import bench_analyzer  # noqa: E402
from bench_ingest import start_timescaledb  # noqa: E402
from feedgen import bare_pyais_decode, generate  # noqa: E402

from mda.ingest import Decoder  # noqa: E402
from mda.ingest.wire import WireBatch, decode_batch, encode_batch  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_best(fn, repeat: int):
    """(best CPU seconds, the result of that run) of ``repeat`` runs of ``fn()``."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        out = fn()
        elapsed = time.process_time() - t
        if elapsed < best:
            best, result = elapsed, out
    return best, result


def decode_all(path: Path, keep_raw: bool = True) -> tuple[Decoder, list]:
    """The ingest stage: ``Decoder.feed`` on ~1,000-line batches, one receive time a
    second (as a live feed); returns the decoder and what each call produced."""
    decoder = Decoder(keep_raw=keep_raw, max_clock_lead=None)
    out = []
    recv_ts = time.time()
    with open(path, encoding="latin-1") as f:
        while lines := f.readlines(65536):
            out.append(decoder.feed(lines, recv_ts, "bench"))
            recv_ts += 1.0
    out.append(decoder.flush())
    return decoder, out


def store_batches(batches: list, rows: int) -> list[tuple[list, list, list]]:
    """The decoder's output regrouped as the service's store stage writes it: up to
    ``rows`` positions a batch, with their statics and raw sentences."""
    out, pos, sta, raw = [], [], [], []
    for b in batches:
        pos += b.positions
        sta += b.statics
        raw += b.raw
        if len(pos) >= rows:
            out.append((pos, sta, raw))
            pos, sta, raw = [], [], []
    if pos or sta or raw:
        out.append((pos, sta, raw))
    return out


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def server_cpu(postmaster: int | None) -> dict[int, float] | None:
    """CPU seconds used so far by each process of the server: the postmaster and its
    living children (backends, WAL writer, checkpointer, TimescaleDB workers)."""
    if postmaster is None:
        return None
    out = {postmaster: _proc_cpu(postmaster)}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == postmaster:
                out[int(entry.name)] = _proc_cpu(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """The server's CPU between two readings: each process living at the second, less what
    it had used at the first (a process started in between counts whole)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _parent_postmaster(backend: int) -> int | None:
    """The postmaster of a backend, when the server runs on this machine."""
    try:
        with open(f"/proc/{backend}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{ppid}/comm") as f:
            return ppid if f.read().strip().startswith("postgres") else None
    except OSError:
        return None  # a server elsewhere


async def write_all(url: str, batches, raw_archive: bool) -> dict:
    """Write every batch on one connection; the server's CPU is read while that
    connection's backend lives (it would take its CPU time with it when it exits)."""
    from mda.store.db import connect
    from mda.store.writer import write_batch

    async with await connect(url) as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        postmaster = _parent_postmaster((await cur.fetchone())[0])
        await conn.commit()
        s0, c0, w0 = server_cpu(postmaster), time.process_time(), time.perf_counter()
        for pos, sta, raw in batches:
            await write_batch(conn, pos, sta, raw if raw_archive else [], batch_id=uuid.uuid4())
        wall, client = time.perf_counter() - w0, time.process_time() - c0
        s1 = server_cpu(postmaster)
    server = None if s0 is None or s1 is None else cpu_between(s0, s1)
    return {"wall": wall, "client": client, "server": server}


def bench_store(url: str, batches, raw_archive: bool, repeat: int) -> dict:
    """Best of ``repeat`` runs into emptied tables: wall, client CPU, server CPU."""
    from mda.store.db import connect_sync

    best = None
    for _ in range(repeat):
        with connect_sync(url) as conn:
            conn.execute("TRUNCATE positions, raw_chunks, vessels, write_batches")
            conn.commit()
            conn.execute("CHECKPOINT")
        gc.collect()
        run = asyncio.run(write_all(url, batches, raw_archive))
        total = run["client"] + (run["server"] or 0.0)
        if best is None or total < best["client"] + (best["server"] or 0.0):
            best = run
    with connect_sync(url) as conn:
        best["rows"] = conn.execute("SELECT count(*) FROM positions").fetchone()[0]
        hypertables = (
            {
                r[0]
                for r in conn.execute(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables"
                ).fetchall()
            }
            if _has_timescaledb(conn)
            else set()
        )
        for key, table in (("bytes", "positions"), ("raw_bytes", "raw_chunks")):
            sql = (
                "SELECT coalesce(sum(total_bytes), 0) FROM hypertable_detailed_size(%s::regclass)"
                if table in hypertables
                else "SELECT pg_total_relation_size(%s::regclass)"
            )
            best[key] = conn.execute(sql, (table,)).fetchone()[0]
    return best


def _has_timescaledb(conn) -> bool:
    return bool(conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone())


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def row(stage: str, rate: float, base: float, note: str = "") -> None:
    print(f"  {stage:<56} {rate:>10,.0f} {rate / base:>8.2f}x  {note}".rstrip())


def main(argv: list[str] | None = None) -> int:
    gc.set_threshold(50_000, 20, 100)  # as `mda` itself does (mda/cli.py)
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="See docs/scaling.md.",
    )
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--vessels", type=int, default=10_000, help="fleet of the analytics stage")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--database", default=os.environ.get("MDA_BENCH_DATABASE_URL"))
    args = ap.parse_args(argv)

    print(
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; Python {platform.python_version()}, "
        f"pyais {pyais.__version__}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="mda-bench-scaling-"))
    feed = generate(args.lines)
    path = tmp / "feed.nmea"
    path.write_text("\n".join(feed.lines) + "\n")
    n_lines = len(feed.lines)
    print(
        f"feed: {n_lines:,} lines, {feed.unique_positions:,} unique positions, "
        f"{feed.duplicate_lines:,} lines heard twice, {feed.junk_lines} junk"
    )

    # Baseline and ingest, interleaved so that load elsewhere hits both alike.
    t_pyais = t_ingest = float("inf")
    decoder = batches = None
    for _ in range(args.repeat):
        t, _n = cpu_best(lambda: bare_pyais_decode(str(path)), 1)
        t_pyais = min(t_pyais, t)
        t, (dec, out) = cpu_best(lambda: decode_all(path), 1)
        if t < t_ingest:
            t_ingest, decoder, batches = t, dec, out
    base = n_lines / t_pyais
    s = decoder.stats
    assert s.positions == feed.unique_positions, (s.positions, feed.unique_positions)

    # The wire between the roles: ingest encodes, core decodes.
    wire = [
        WireBatch(uuid.uuid4(), "bench", "bench", pos, sta, raw)
        for pos, sta, raw in store_batches(batches, 1000)
    ]
    t_enc, payloads = cpu_best(lambda: [encode_batch(b) for b in wire], args.repeat)
    t_dec, _ = cpu_best(lambda: [decode_batch(p) for p in payloads], args.repeat)
    wire_bytes = sum(len(p) for p in payloads)

    # The analytics, on a realistic fleet.
    analytics_rate, _stats = bench_analyzer(args.vessels, 200_000, random.Random(7))

    # The store.
    started_here = None
    admin = args.database
    if not admin:
        admin, started_here = start_timescaledb(tmp)
    dbname = f"bench_scaling_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{dbname}"')
        server_version = c.execute("SHOW server_version").fetchone()[0]
    url = psycopg.conninfo.make_conninfo(admin, dbname=dbname)
    try:
        from mda.store.db import connect_sync
        from mda.store.migrate import upgrade

        with connect_sync(url) as conn:
            upgrade(conn)
            ts = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
            ).fetchone()
        groups = store_batches(batches, 20_000)
        store_raw = bench_store(url, groups, True, args.repeat)
        store_pos = bench_store(url, groups, False, args.repeat)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if started_here:
            subprocess.run(
                [str(ROOT / "deploy" / "timescaledb.sh"), "stop", "--datadir", str(started_here)]
                + ["--remove"],
                capture_output=True,
            )
    print(
        f"database: PostgreSQL {server_version}, TimescaleDB {ts[0] if ts else 'absent'}"
        f"{' (started for this run: fsync off)' if started_here else ''}"
    )

    print(f"\n  {'stage':<56} {'msg/s/core':>10} {'vs pyais':>9}")
    row("bare pyais decode (lines)", base, base, "the baseline")
    row(
        "ingest: decode + de-duplicate (lines)",
        n_lines / t_ingest,
        base,
        f"{s.messages:,} messages, {s.duplicates:,} duplicates dropped",
    )
    row("ingest role: + wire encode (lines)", n_lines / (t_ingest + t_enc), base)
    row(
        "core role: wire decode (positions)",
        s.positions / t_dec,
        base,
        f"{wire_bytes / max(1, s.positions):.0f} bytes/position on the wire with raw",
    )
    for label, st in (("store, raw archive on", store_raw), ("store, raw archive off", store_pos)):
        rows = st["rows"]
        if st["server"] is not None:
            cpu = st["client"] + st["server"]
            row(
                f"{label} (positions, client+server CPU)",
                rows / cpu,
                base,
                f"client {rows / st['client']:,.0f}/s, server {rows / st['server']:,.0f}/s, "
                f"wall {rows / st['wall']:,.0f}/s",
            )
        else:
            row(
                f"{label} (positions, client CPU only)",
                rows / st["client"],
                base,
                f"wall {rows / st['wall']:,.0f}/s (server CPU not visible from here)",
            )
    print(
        f"  {'':<56} disk: positions {store_raw['bytes'] / store_raw['rows']:.0f} B/row, "
        f"raw archive {store_raw['raw_bytes'] / store_raw['rows']:.0f} B/position (uncompressed)"
    )
    row(f"analytics: Analyzer.process, {args.vessels:,} vessels (positions)", analytics_rate, base)
    # Every stage on one core, in lines of the feed: what one process of each role costs
    # per line heard (positions per line: this feed's share of position reports).
    per_line = (
        t_ingest + t_enc + t_dec + store_raw["client"] + (store_raw["server"] or 0.0)
    ) / n_lines + (s.positions / n_lines) / analytics_rate
    row(
        "all stages on one core (lines: ingest+wire+store+analytics)",
        1.0 / per_line,
        base,
        f"{s.positions / n_lines:.2f} positions per line",
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}; command: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
