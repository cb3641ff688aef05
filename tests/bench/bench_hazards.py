"""Vessels at risk for 50,000 vessels and 20 hazards, against the 10 s refresh it must fit in.

    python tests/bench/bench_hazards.py [--vessels 50000] [--hazards 20]

A synthetic Indian Ocean fleet (80 % under way at 8-20 kn, 20 % stopped) and hazard areas
(circles of 100-600 km, the size of cyclone warnings, spread over the ocean). Times one full
refresh (``vessels_at_risk`` for every hazard, 12 h horizon) as the best of three, and, as the
baseline in the same run, one vectorised pass computing every vessel's great-circle distance to
every hazard's centre (the least any method must do: look at each vessel once per hazard).
Prints the refresh time, its share of the 10 s budget (target < 0.1: a tenth of one core) and
its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mda.analytics.hazards import Fleet, Hazard, VesselState, circle, vessels_at_risk

NOW = 1_750_000_000.0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--vessels", type=int, default=50_000)
    ap.add_argument("--hazards", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(7)
    fleet = []
    for i in range(args.vessels):
        moving = rng.random() < 0.8
        fleet.append(
            VesselState(
                419_000_000 + i,
                NOW - rng.uniform(0, 600),
                rng.uniform(-35.0, 25.0),
                rng.uniform(40.0, 100.0),
                rng.uniform(8.0, 20.0) if moving else 0.0,
                rng.uniform(0, 360),
                rng.choice([70, 80, 60, 30, None]),
                0 if moving else 1,
            )
        )
    hazards = [
        Hazard(
            f"h{i}",
            f"hazard {i}",
            circle(rng.uniform(-30.0, 20.0), rng.uniform(45.0, 95.0), rng.uniform(100.0, 600.0)),
            "severe",
        )
        for i in range(args.hazards)
    ]

    def refresh():
        arrays = Fleet(fleet, NOW)  # once per refresh, shared by every hazard
        return sum(len(vessels_at_risk(h, arrays, NOW)) for h in hazards)

    def baseline():
        lat = np.radians([v.lat for v in fleet])
        lon = np.radians([v.lon for v in fleet])
        total = 0.0
        for h in hazards:
            c = h.geometry.centroid
            p, l2 = np.radians(c.y), np.radians(c.x)
            a = np.sin((lat - p) / 2) ** 2 + np.cos(lat) * np.cos(p) * np.sin((lon - l2) / 2) ** 2
            total += float(np.sum(2 * np.arcsin(np.sqrt(a))))
        return total

    def best(fn, runs=3):
        times = []
        for _ in range(runs):
            t = time.process_time()
            result = fn()
            times.append(time.process_time() - t)
        return min(times), result

    base_s, _ = best(baseline)
    ours_s, at_risk = best(refresh)
    print(
        f"{len(fleet):,} vessels, {len(hazards)} hazards: {at_risk:,} vessel-hazard pairs at "
        f"risk (inside now or entering within 12 h)"
    )
    print(f"baseline (every vessel's distance to every hazard, numpy): {base_s * 1000:.0f} ms")
    print(
        f"full refresh: {ours_s * 1000:.0f} ms = {ours_s / base_s:.1f}x the baseline; "
        f"{ours_s / 10.0:.3f} of the 10 s budget (target < 0.1)"
    )
    return 0 if ours_s < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
