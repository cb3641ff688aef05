"""``mda simulate``: realistic Indian Ocean AIS traffic with injected anomalies and their
ground truth, written as an NMEA log, a truth file and a zones file."""

from __future__ import annotations

import sys
import time

from ..errors import MdaError


def register(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="write simulated AIS traffic with injected anomalies (and their truth)",
        description="Simulate AIS traffic on the sea lanes of the Indian Ocean as two shore "
        "receivers would log it (NMEA 4.10 tag blocks, a little junk), with one "
        "injected anomaly of every kind per cycle. Writes FILE.nmea, "
        "FILE.truth.jsonl (one JSON object per injected anomaly) and "
        "FILE.zones.geojson (the restricted zone and the anchorages the traffic "
        "uses: give it to analyze/serve with --zones). The same seed and start "
        "always give the same files.",
    )
    p.add_argument("--hours", type=float, default=3.0, help="simulated hours (default 3)")
    p.add_argument(
        "--vessels",
        type=int,
        default=60,
        help="vessels: quiet traffic plus the first cycle's 11 anomaly actors (default 60)",
    )
    p.add_argument("--out", required=True, metavar="FILE.nmea", help="the NMEA log to write")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--start",
        metavar="ISO8601",
        help="UTC start time, e.g. 2025-01-15T06:00:00Z (default: a fixed date, "
        "so the seed alone decides the output)",
    )
    p.add_argument(
        "--cycle-hours",
        type=float,
        default=3.0,
        help="a new set of anomalies starts every this many hours (default 3; "
        "the AIS gap needs about 3 h to fit)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between class A position reports under way (default 10)",
    )
    p.set_defaults(run=run)


def run(args, settings) -> int:
    from mda.simulator import Cadence, simulate

    if args.hours <= 0 or args.hours > 24 * 14:
        raise MdaError("--hours must be more than 0 and at most 336")
    if args.vessels < 1:
        raise MdaError("--vessels must be at least 1")
    if args.cycle_hours < 0.5:
        raise MdaError("--cycle-hours must be at least 0.5")
    if not 1.0 <= args.interval <= 60.0:
        raise MdaError("--interval must be between 1 and 60 seconds")
    try:
        from mda.simulator.scenario import parse_time

        start = parse_time(args.start) if args.start else None
    except ValueError:
        raise MdaError(f"--start: not an ISO 8601 time: {args.start!r}") from None
    started = time.monotonic()
    try:
        summary = simulate(
            args.out,
            hours=args.hours,
            vessels=args.vessels,
            seed=args.seed,
            start=start,
            cycle_hours=args.cycle_hours,
            cadence=Cadence(underway_a=args.interval),
        )
    except OSError as e:
        raise MdaError(f"cannot write {args.out}: {e.strerror or e}") from None
    elapsed = time.monotonic() - started
    print(
        f"mda simulate: {summary['lines']:,} lines from {summary['vessels']} vessels "
        f"({summary['quiet_vessels']} quiet) over {args.hours:g} h, "
        f"{summary['anomalies']} injected anomalies, in {elapsed:.1f} s\n"
        f"  {summary['nmea']}\n  {summary['truth']}\n  {summary['zones']}  "
        f"(give it to analyze/serve with --zones)",
        file=sys.stderr,
    )
    return 0
