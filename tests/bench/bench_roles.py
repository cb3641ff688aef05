"""What splitting the roles costs per record (issue 15), measured in one run:

    python tests/bench/bench_roles.py [--database URL]

- the wire: 100,000 positions with their raw sentences encoded and decoded, JSON against
  the binary format of ``ingest/wire.py``;
- the core's de-duplication across ingest processes (``roles.CrossDedupe``): 100,000
  positions, then the same 100,000 again from a second ingest process;
- the idempotence of the store: 100,000 positions (and their raw sentences) written in
  batches of 5,000 by ``write_batch`` without a batch id, then with one (the
  ``write_batches`` row that makes a redelivered batch store nothing), best of three.

Without --database (or $MDA_BENCH_DATABASE_URL, an admin URL; a scratch database is made
on it and dropped) the store part is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg

from mda.ingest.records import PositionReport
from mda.ingest.wire import WireBatch, decode_batch, encode_batch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_wire import _json_batch, _json_decode, _sample

from mda.roles import CrossDedupe
from mda.store.db import connect
from mda.store.migrate import upgrade
from mda.store.writer import write_batch

N = 100_000


def best(fn, runs: int = 3) -> float:
    out = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def wire(batch: WireBatch) -> None:
    for name, enc, dec in (
        ("JSON", _json_batch, _json_decode),
        ("binary", encode_batch, decode_batch),
    ):
        data = enc(batch)
        te = best(lambda enc=enc: enc(batch))
        td = best(lambda dec=dec, data=data: dec(data))
        print(
            f"wire {name:6s}: {len(data) / 1e6:5.1f} MB, encode {te:.2f} s "
            f"({N / te:,.0f}/s), decode {td:.2f} s ({N / td:,.0f}/s)"
        )


def dedupe(batch: WireBatch) -> None:
    copies = [PositionReport(**{f: getattr(p, f) for f in p.__slots__}) for p in batch.positions]

    def run():
        d = CrossDedupe(10.0)
        for i in range(0, N, 500):  # 5 s of the sample's event time
            d.filter("a", batch.positions[i : i + 500])
            d.filter("b", copies[i : i + 500])
        assert d.dropped == N

    t = best(run)
    print(f"cross-ingest de-duplication: {2 * N:,} positions in {t:.2f} s ({2 * N / t:,.0f}/s)")


async def store(url: str, batch: WireBatch) -> None:
    chunks = [(batch.positions[i : i + 5000], batch.raw[i : i + 5000]) for i in range(0, N, 5000)]
    async with await connect(url) as conn:
        for with_id in (False, True, False, True, False, True):
            await conn.execute("TRUNCATE positions, raw_chunks, vessels, write_batches")
            await conn.commit()
            t = time.perf_counter()
            for p, r in chunks:
                await write_batch(conn, p, [], r, uuid.uuid4() if with_id else None)
            took = time.perf_counter() - t
            results.setdefault(with_id, []).append(took)
    a, b = min(results[False]), min(results[True])
    print(
        f"store, batches of 5,000: without id {N / a:,.0f} positions/s, with id "
        f"{N / b:,.0f}/s ({(b - a) / a * 100:+.1f} %)"
    )


results: dict[bool, list[float]] = {}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database", default=os.environ.get("MDA_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    batch = _sample(N)
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    wire(batch)
    dedupe(batch)
    if not args.database:
        print("store: skipped (no --database)")
        return 0
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(args.database)._replace(path=f"/{name}"))
    try:
        with psycopg.connect(url) as c:
            upgrade(c)
        asyncio.run(store(url, batch))
    finally:
        with psycopg.connect(args.database, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
