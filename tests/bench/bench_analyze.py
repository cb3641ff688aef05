"""`mda analyze` on a 12 h, 60-vessel simulated log, as a ratio to bare pyais decoding.

    python tests/bench/bench_analyze.py [--hours 12] [--vessels 60] [--receivers] [--in-process]

Simulates the log (cached in a temp dir by its parameters), times bare pyais stream decoding
of the file and the whole `mda analyze` command (a fresh process: start-up, land mask,
decoding, detectors, output) in the same run, and prints both rates and their ratio
(target >= 0.3). Also checks that the analysis finds every anomaly of the truth file.
With ``--receivers`` it also times the same traffic given as each receiver's own log (two
files merged by event time, the copies heard by both dropped) and checks the alerts are the
same as from the one file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from feedgen import bare_pyais_decode

STATION = re.compile(r"\\[^\\]*?\bs:([^,*\\]+)")  # the tag block's s: field


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hours", type=float, default=12)
    ap.add_argument("--vessels", type=int, default=60)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument(
        "--receivers",
        action="store_true",
        help="also analyse the log split into each receiver's own file",
    )
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="decode in the command's own process (decode_process = false), as before issue 16",
    )
    args = ap.parse_args()

    # The cache is keyed by the simulator's own code too: a changed simulator (new zones, new
    # actors) must not be judged on an old log.
    import hashlib

    import mda.simulator
    from mda.simulator import output_paths, simulate

    code = hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted(Path(mda.simulator.__file__).parent.glob("*.py")))
    ).hexdigest()[:10]
    cache = Path(tempfile.gettempdir()) / (
        f"mda-bench-sim-{args.hours}h-{args.vessels}v-{args.seed}-{code}"
    )
    out = cache / "traffic.nmea"
    nmea, truth_path, zones_path = output_paths(out)
    if not nmea.exists():
        t = time.perf_counter()
        simulate(out, hours=args.hours, vessels=args.vessels, seed=args.seed)
        print(f"simulated in {time.perf_counter() - t:.1f} s")
    lines = sum(1 for _ in nmea.open())
    print(f"log: {nmea} ({lines:,} lines, {nmea.stat().st_size / 2**20:.1f} MB)")

    t = time.perf_counter()
    decoded = bare_pyais_decode(str(nmea))
    bare = time.perf_counter() - t
    print(
        f"bare pyais stream decode: {decoded:,} messages in {bare:.2f} s = {lines / bare:,.0f} lines/s"
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    if args.in_process:
        env["MDA_DECODE_PROCESS"] = "false"
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "mda", "analyze", str(nmea), "--zones", str(zones_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    ours = time.perf_counter() - t
    if r.returncode != 0:
        print(r.stderr)
        return 1
    alerts = [json.loads(x) for x in r.stdout.splitlines()]
    print(
        f"mda analyze (whole command): {len(alerts)} alerts in {ours:.2f} s = {lines / ours:,.0f} lines/s"
    )
    print(f"  {r.stderr.strip()}")
    ratio = bare / ours
    print(
        f"ratio to bare pyais decode: {ratio:.2f}  (target >= 0.30)  {'OK' if ratio >= 0.3 else 'BELOW TARGET'}"
    )
    same = _receivers(nmea, zones_path, env, lines, bare, alerts) if args.receivers else True
    truth = [json.loads(x) for x in truth_path.read_text().splitlines()]
    found = 0
    for rec in truth:
        ids = {rec["mmsi"], rec["other_mmsi"]} - {None}
        if any(a["kind"] == rec["kind"] and a["mmsi"] in ids for a in alerts):
            found += 1
    print(f"truth anomalies found: {found}/{len(truth)}")
    return 0 if ratio >= 0.3 and found == len(truth) and same else 1


def _alert_keys(alerts: list[dict]) -> list[tuple]:
    return sorted((a["kind"], a["mmsi"], a["other_mmsi"], a["start"], a["end"]) for a in alerts)


def _receivers(
    nmea: Path, zones_path: Path, env: dict, lines: int, bare: float, alerts: list[dict]
) -> bool:
    """Time the log given as each receiver's own file; True when the alerts are the same."""
    parts: dict[str, list[str]] = {}
    for line in nmea.open():
        m = STATION.match(line)  # lines naming no receiver (junk) go to a file of their own
        parts.setdefault(m.group(1) if m else "none", []).append(line)
    files = []
    for station, part in sorted(parts.items()):
        path = nmea.with_name(f"receiver-{station}.nmea")
        if not path.exists():
            path.write_text("".join(part))
        files.append(str(path))
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "mda", "analyze", *files, "--zones", str(zones_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    took = time.perf_counter() - t
    if r.returncode != 0:
        print(r.stderr)
        return False
    split = [json.loads(x) for x in r.stdout.splitlines()]
    same = _alert_keys(split) == _alert_keys(alerts)
    print(
        f"mda analyze on {len(files)} receivers' files: {len(split)} alerts in {took:.2f} s = "
        f"{lines / took:,.0f} lines/s, ratio {bare / took:.2f}; the same alerts as from one "
        f"file: {'yes' if same else 'NO'}"
    )
    print(f"  {r.stderr.strip()}")
    return same


if __name__ == "__main__":
    sys.exit(main())
