"""Throughput of the analytics against bare pyais decoding, measured in the same run.

    python tests/bench/bench_analytics.py [--messages N] [--fleets 1000,10000,50000]

Synthetic fleets move on the open Indian Ocean: 80 % under way (8-20 kn, a report every
10 s), 10 % drifting slowly (0.5-2.5 kn, every 10 s), 10 % at anchor (every 3 min). For each
fleet size the analyzer first sees 20 s of traffic (state created, caches warm, land mask
loaded), then the next N messages are timed through ``Analyzer.process``. The baseline is
``pyais.FileReaderStream`` decoding N synthetic position reports from a temporary file.
Both are CPU time (``time.process_time``), best of several runs or chunks, so other work
on a shared machine does not decide the figures.

The figures: messages/s, the ratio analyze/decode (above 1: the analytics outruns the decoder)
and decode+analyze against bare decode (the ``mda analyze`` budget is >= 0.3 of bare decode,
of which this is the decode and analyze part, without ingest's normalisation).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyais

from mda.analytics import Analyzer
from mda.analytics.landmask import shared_land_mask
from mda.ingest.records import PositionReport

T0 = 1_700_000_000.0


def fleet(n: int, rng: random.Random) -> list[tuple]:
    """(mmsi, lat, lon, sog kn, cog deg, interval s, nav status, phase s) per vessel."""
    out = []
    mmsi = 419_000_000
    land = shared_land_mask()
    while len(out) < n:
        lat, lon = rng.uniform(-30.0, 12.0), rng.uniform(55.0, 95.0)
        if land.is_land(lat, lon):
            continue
        mmsi += 1
        kind = rng.random()
        if kind < 0.8:
            sog, interval, status = rng.uniform(8.0, 20.0), 10.0, 0
        elif kind < 0.9:
            sog, interval, status = rng.uniform(0.5, 2.5), 10.0, 0
        else:
            sog, interval, status = rng.uniform(0.0, 0.3), 180.0, 1
        out.append(
            (mmsi, lat, lon, sog, rng.uniform(0, 360), interval, status, rng.uniform(0, interval))
        )
    return out


def messages(vessels: list[tuple], start: float, count: int) -> list[PositionReport]:
    """The first ``count`` reports at or after ``start`` (s), in time order, each vessel
    dead-reckoned along its course. Records are created in time order, as a decoder would
    create them, so their memory layout is that of a live feed."""
    rate = sum(1.0 / v[5] for v in vessels)
    end = start + count / rate * 1.05 + 200.0
    events = []
    for i, v in enumerate(vessels):
        interval, phase = v[5], v[7]
        k = math.ceil((start - phase) / interval) if start > phase else 0
        t = phase + k * interval
        while t < end:
            events.append((t, v[0], i))
            t += interval
    events.sort()
    out = []
    for t, mmsi, i in events[:count]:
        _, lat0, lon0, sog, cog, _, status, _ = vessels[i]
        dist = sog * t / 3600.0 / 60.0  # degrees of arc
        lat = lat0 + dist * math.cos(math.radians(cog))
        lon = lon0 + dist * math.sin(math.radians(cog)) / math.cos(math.radians(lat0))
        out.append(
            PositionReport(
                ts=T0 + t,
                mmsi=mmsi,
                lat=lat,
                lon=lon,
                sog=round(sog, 1),
                cog=round(cog, 1),
                heading=int(cog) % 360,
                nav_status=status,
                msg_type=1,
            )
        )
    return out


def bench_analyzer(
    n_vessels: int, n_messages: int, rng: random.Random, chunk: int = 25_000
) -> tuple[float, dict]:
    """Messages per second of CPU time through ``Analyzer.process``: the best of consecutive
    chunks of the same stream (other processes on the machine only ever slow a chunk down)."""
    vessels = fleet(n_vessels, rng)
    warm = messages(vessels, 0.0, int(sum(20.0 / v[5] for v in vessels)))
    timed = messages(vessels, 20.0, n_messages)
    analyzer = Analyzer()
    analyzer.process(warm)
    gc.collect()
    gc.disable()
    best = float("inf")
    try:
        for i in range(0, len(timed), chunk):
            part = timed[i : i + chunk]
            t = time.process_time()
            analyzer.process(part)
            best = min(best, (time.process_time() - t) / len(part))
    finally:
        gc.enable()
    return 1.0 / best, analyzer.stats


def bench_pyais(n_messages: int, rng: random.Random) -> float:
    lines = []
    for i in range(n_messages):
        lines.extend(
            pyais.encode_dict(
                {
                    "msg_type": 1,
                    "mmsi": 419_000_001 + i % 10_000,
                    "lat": rng.uniform(-30, 12),
                    "lon": rng.uniform(55, 95),
                    "speed": round(rng.uniform(0, 20), 1),
                    "course": round(rng.uniform(0, 359), 1),
                    "heading": rng.randrange(360),
                    "status": 0,
                },
                talker_id="AI",
                sentence_type="VDM",
            )
        )
    fd, path = tempfile.mkstemp(suffix=".nmea")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        best = 0.0
        for _ in range(3):
            t = time.process_time()
            n = 0
            for msg in pyais.FileReaderStream(path):
                msg.decode()
                n += 1
            best = max(best, n / (time.process_time() - t))
        return best
    finally:
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--fleets", default="1000,10000,50000")
    args = parser.parse_args(argv)
    rng = random.Random(7)
    fleets = [int(x) for x in args.fleets.split(",")]

    print(f"pyais baseline: encoding {args.messages} messages ...", flush=True)
    decode_rate = bench_pyais(args.messages, rng)
    print(f"bare pyais decode: {decode_rate:,.0f} msg/s\n")
    print(
        f"{'vessels':>8} {'analyze msg/s':>14} {'analyze/decode':>15} "
        f"{'decode+analyze vs decode':>25}"
    )
    rates = []
    for n in fleets:
        rate, _stats = bench_analyzer(n, args.messages, rng)
        rates.append(rate)
        combined = 1.0 / (1.0 / decode_rate + 1.0 / rate)
        print(
            f"{n:>8} {rate:>14,.0f} {rate / decode_rate:>14.2f}x {combined / decode_rate:>24.2f}x",
            flush=True,
        )
    print(f"\ncost flatness: slowest/fastest fleet throughput = {min(rates) / max(rates):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
