"""Alert precision on real traffic: desk alerts and notices per observed vessel-day.

    python tests/bench/bench_precision.py [--data DIR] [--json]

Runs the real command, ``mda analyze``, on the public AIS recordings (by default
``../shared/data/ais`` beside the repository, else ``tests/data``; ``--data`` points elsewhere)
and prints, per data set, the observed vessel-days and, by kind, the desk alerts (severity
medium and above: what rings for an officer) and the notices (severity ``info``: data-quality
facts that never ring) per vessel-day.

An *observed vessel-day* is a day of one vessel seen by fixes at most an hour apart (two hours
for a feed whose vessels report hourly, such as the satellite sets): the time between two
consecutive fixes of a ship counts when the gap is at most that long. The Norwegian captures
are ordinary coastal traffic (ferries, fjords, rivers, harbours): nearly every alert on them is
a false alarm. The Global Fishing Watch pair is one real encounter (07:40-20:10 UTC on
2015-03-19): the script checks it is found as one episode. Target: at most 0.05 desk alerts per
observed vessel-day that an officer would dismiss.

The comparison in the same run is the data itself (alerts per vessel-day are a ratio);
``--json`` prints the figures as one JSON object for scripts.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

DESK = {"critical", "high", "medium", "low"}
GFW_START = datetime(2015, 3, 19, 7, 40, tzinfo=UTC).timestamp()
GFW_END = datetime(2015, 3, 19, 20, 10, tzinfo=UTC).timestamp()


def _data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    shared = REPO.parent / "shared" / "data" / "ais"
    return shared if shared.is_dir() else REPO / "tests" / "data"


def observed_vessel_days(paths: list[Path], max_gap_s: float) -> tuple[float, int]:
    """Vessel-days seen by fixes at most ``max_gap_s`` apart, and the number of ships, from
    the positions ingest decodes out of the files (ship MMSIs only, as the rules see them)."""
    from mda.ingest import Decoder

    fixes: dict[int, list[float]] = defaultdict(list)
    for path in paths:
        decoder = Decoder(keep_raw=False, max_clock_lead=None)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", errors="replace") as f:
            lines = f.read().splitlines()
        for i in range(0, len(lines), 10_000):
            for p in decoder.feed(lines[i : i + 10_000], 0.0, path.name).positions:
                if 201_000_000 <= p.mmsi <= 775_999_999:
                    fixes[p.mmsi].append(p.ts)
        for p in decoder.flush().positions:
            if 201_000_000 <= p.mmsi <= 775_999_999:
                fixes[p.mmsi].append(p.ts)
    seconds = 0.0
    for times in fixes.values():
        times.sort()
        seconds += sum(b - a for a, b in zip(times, times[1:]) if b - a <= max_gap_s)
    return seconds / 86400.0, len(fixes)


def gfw_to_nmea(csv_path: Path, out: Path) -> None:
    """The GFW pair as a feed would carry it: type 1 reports with tag-block times and the SOG
    and COG each vessel would report (its speed over the neighbouring fixes, to 0.1 kn)."""
    from pyais import encode_dict

    from mda.analytics.geo import bearing_deg, distance_nm
    from mda.simulator._nmea import nmea_checksum

    rows: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
    with csv_path.open(newline="") as f:
        for r in csv.DictReader(f):
            rows[int(r["mmsi"])].append(
                (float(r["timestamp_unix"]), float(r["lat"]), float(r["lon"]))
            )
    msgs = []
    for mmsi, fixes in rows.items():
        fixes.sort()
        for i, (ts, lat, lon) in enumerate(fixes):
            a = fixes[max(i - 1, 0)]
            b = fixes[min(i + 1, len(fixes) - 1)]
            dt = b[0] - a[0]
            sog = distance_nm(a[1], a[2], b[1], b[2]) / (dt / 3600.0) if dt > 0 else 0.0
            cog = bearing_deg(a[1], a[2], b[1], b[2]) if dt > 0 else 0.0
            msgs.append((ts, mmsi, lat, lon, min(round(sog, 1), 102.2), round(cog, 1)))
    msgs.sort()
    with out.open("w") as f:
        for ts, mmsi, lat, lon, sog, cog in msgs:
            for sentence in encode_dict(
                {
                    "msg_type": 1,
                    "mmsi": mmsi,
                    "lat": lat,
                    "lon": lon,
                    "speed": sog,
                    "course": cog,
                    "heading": 511,
                    "status": 0,
                },
                talker_id="AI",
            ):
                tag = f"s:gfw,c:{int(ts)}"
                f.write(f"\\{tag}*{nmea_checksum(tag):02X}\\{sentence}\n")


def analyze(paths: list[Path]) -> tuple[list[dict], float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "mda", "analyze", *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        return None, elapsed, r.stderr.strip()
    return [json.loads(x) for x in r.stdout.splitlines()], elapsed, r.stderr.strip()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data",
        help="folder with norway/, gfw/, dma/, amsa/ (default: the "
        "shared data set beside the repository, else tests/data)",
    )
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument(
        "--show",
        type=int,
        default=5,
        help="print this many example desk alerts per data set (default 5)",
    )
    args = ap.parse_args()
    data = _data_dir(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="mda-precision-"))

    sets: list[tuple[str, list[Path], float]] = []
    norway = sorted((data / "norway").glob("*.nmea.gz"))
    for p in norway:
        sets.append((f"norway {p.name.split('_')[1][:10]} (one capture)", [p], 3600.0))
    if len(norway) > 1:
        # The captures as one feed that falls silent for hours between them: what a desk sees.
        sets.append(("norway, all captures as one feed", norway, 3600.0))
    gfw_csv = data / "gfw" / "encounter_441910000_563418000.csv"
    if gfw_csv.exists():
        gfw_nmea = tmp / "gfw-pair.nmea"
        gfw_to_nmea(gfw_csv, gfw_nmea)
        sets.append(("gfw pair (sparse, satellite)", [gfw_nmea], 7200.0))
    for name, rel, gap in (
        ("dma stream (27 s)", "dma/stream_example.txt", 3600.0),
        ("amsa satellite", "amsa/exact-earth-with-tag-block.txt", 7200.0),
    ):
        if (data / rel).exists():
            sets.append((name, [data / rel], gap))
    if not sets:
        raise SystemExit(f"no data sets under {data}")

    report = {}
    total_days = 0.0
    total_desk: Counter = Counter()
    total_notices: Counter = Counter()
    for name, paths, gap in sets:
        days, ships = observed_vessel_days(paths, gap)
        alerts, elapsed, summary = analyze(paths)
        if alerts is None:
            report[name] = {"error": summary}
            if not args.json:
                print(f"\n{name}: mda analyze refused it: {summary}")
            continue
        desk = Counter(a["kind"] for a in alerts if a["severity"] in DESK)
        notices = Counter(a["kind"] for a in alerts if a["severity"] == "info")
        entry = {
            "vessel_days": round(days, 2),
            "ships": ships,
            "seconds": round(elapsed, 2),
            "desk": dict(desk),
            "notices": dict(notices),
            "desk_per_vessel_day": round(sum(desk.values()) / days, 3) if days else None,
            "notices_per_vessel_day": round(sum(notices.values()) / days, 3) if days else None,
        }
        if name.startswith("gfw"):
            enc = [a for a in alerts if a["kind"] == "encounter"]
            entry["gfw_encounters"] = [(a["start"], a["end"]) for a in enc]
            entry["gfw_found_as_one"] = bool(
                len(enc) == 1
                and abs(_ts(enc[0]["start"]) - GFW_START) <= 1800
                and (enc[0]["end"] is None or _ts(enc[0]["end"]) >= GFW_END - 1800)
            )
        elif "one capture" not in name:
            total_days += days
            total_desk.update(desk)
            total_notices.update(notices)
        report[name] = entry
        if not args.json:
            print(
                f"\n{name}: {ships:,} ships, {days:.1f} observed vessel-days, "
                f"analyzed in {elapsed:.1f} s"
            )
            print(
                f"  desk alerts {sum(desk.values())} = {entry['desk_per_vessel_day']} per "
                f"vessel-day {dict(desk) or ''}"
            )
            print(
                f"  notices     {sum(notices.values())} = {entry['notices_per_vessel_day']} "
                f"per vessel-day {dict(notices) or ''}"
            )
            if "gfw_encounters" in entry:
                print(
                    f"  encounters {entry['gfw_encounters']}; found as one episode within "
                    f"30 min of GFW's 07:40-20:10: {entry['gfw_found_as_one']}"
                )
            for a in [a for a in alerts if a["severity"] in DESK][: args.show]:
                print(
                    f"    {a['start']} {a['kind']:<15} {a['mmsi']} "
                    f"{a['details'].get('text', '')[:110]}"
                )
    # The single Norwegian captures repeat the combined run: the total counts that run only.
    report["_total"] = {
        "vessel_days": round(total_days, 2),
        "desk": dict(total_desk),
        "notices": dict(total_notices),
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(
            f"\nall sets but GFW (the Norwegian captures once, as one feed): "
            f"{sum(total_desk.values())} desk alerts over {total_days:.1f} vessel-days = "
            f"{sum(total_desk.values()) / max(total_days, 1e-9):.3f} per vessel-day "
            f"(target <= 0.05); notices {sum(total_notices.values())}"
        )
    return 0


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    sys.exit(main())
