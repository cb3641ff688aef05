"""``mda analyze FILE...``: the detectors over NMEA logs, offline, one alert per line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


def register(sub) -> None:
    p = sub.add_parser(
        "analyze", help="run the detectors over NMEA log files and print the alerts",
        description="Offline analysis of NMEA logs (the same inputs as ingest's file sources, "
                    ".gz included). Prints every alert, still-open ones with end null; the same "
                    "input always gives the same output. A summary goes to standard error. "
                    "Lines without a timestamp take the file's modification time.")
    p.add_argument("files", nargs="+", metavar="FILE", help="NMEA log file (plain or .gz)")
    p.add_argument("--zones", action="append", default=[], metavar="FILE",
                   help="GeoJSON zones file added to the built-in zones (repeatable)")
    p.add_argument("--format", choices=("jsonl", "table"), default="jsonl",
                   help="jsonl: one JSON object per alert (default); table: aligned columns")
    p.set_defaults(run=run)


async def _analyze(files, analyzer, decoder) -> dict:
    """Feed every file through ingest and the detectors; returns the final state of every
    alert by episode key."""
    from ingest import open_source
    from ingest.errors import SourceError

    final: dict = {}
    for path in files:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise SourceError(f"{path}: cannot read the file"
                              + ("" if os.path.exists(path) else " (no such file)"))
        # Untimestamped lines get one fixed time, so a rerun gives the same output.
        fixed_ts = float(int(os.path.getmtime(path)))
        async with open_source(path, name=os.path.basename(path)) as src:
            async for batch in src:
                decoded = decoder.feed(batch.lines, fixed_ts, batch.source)
                for change in analyzer.process(decoded.statics + decoded.positions):
                    final[change.alert.key] = change.alert
    for change in analyzer.finish():
        final[change.alert.key] = change.alert
    return final


def _row(alert) -> dict:
    d = alert.to_dict()
    return {k: d.get(k) for k in ("kind", "severity", "mmsi", "other_mmsi", "start", "end",
                                   "lat", "lon", "zone", "details")}


def run(args, settings) -> int:
    from analytics import Analyzer
    from ingest import Decoder

    from ..service import analytics_config, load_zones

    zones = load_zones(args.zones)
    analyzer = Analyzer(analytics_config(settings), zones)
    decoder = Decoder(dedupe_window=settings.dedupe_window_s,
                      multipart_timeout=settings.multipart_timeout_s, keep_raw=False)
    started = time.monotonic()
    final = asyncio.run(_analyze(args.files, analyzer, decoder))
    elapsed = time.monotonic() - started
    alerts = sorted(final.values(), key=lambda a: (a.start, a.mmsi or 0, a.kind, a.key))
    out = sys.stdout
    if args.format == "jsonl":
        for a in alerts:
            out.write(json.dumps(_row(a), sort_keys=True) + "\n")
    else:
        out.write(f"{'start':<20} {'end':<20} {'kind':<16} {'sev':<8} {'mmsi':>9} {'other':>9}  details\n")
        for a in alerts:
            r = _row(a)
            text = (r["details"] or {}).get("text", "")
            out.write(f"{r['start'][:19]:<20} {(r['end'] or 'open')[:19]:<20} {r['kind']:<16} "
                      f"{r['severity']:<8} {r['mmsi'] or '':>9} {r['other_mmsi'] or '':>9}  {text}\n")
    s = decoder.stats
    by_kind: dict[str, int] = {}
    for a in alerts:
        by_kind[a.kind] = by_kind.get(a.kind, 0) + 1
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
    print(f"mda analyze: {s.lines:,} lines, {s.positions:,} positions, {s.duplicates:,} duplicates, "
          f"{sum(s.rejected.values()):,} rejected in {elapsed:.2f} s "
          f"({s.lines / max(elapsed, 1e-9):,.0f} lines/s); {len(alerts)} alerts"
          + (f" ({kinds})" if kinds else ""), file=sys.stderr)
    return 0
