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
    p.add_argument("--map", metavar="REPORT.html",
                   help="also write an incident map: one self-contained HTML file (no network "
                        "needed) with the alerts, their vessels' tracks, the zones and the inputs' "
                        "SHA-256; the same input always gives the same file")
    p.set_defaults(run=run)


async def _decode(files, decoder, handle) -> None:
    """Feed every file through ingest's decoder, handing each decoded batch to ``handle``."""
    from ingest import open_source
    from ingest.errors import SourceError

    for path in files:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise SourceError(f"{path}: cannot read the file"
                              + ("" if os.path.exists(path) else " (no such file)"))
        # Untimestamped lines get one fixed time, so a rerun gives the same output.
        fixed_ts = float(int(os.path.getmtime(path)))
        async with open_source(path, name=os.path.basename(path)) as src:
            async for batch in src:
                handle(decoder.feed(batch.lines, fixed_ts, batch.source))


async def _analyze(files, analyzer, decoder) -> tuple[dict, tuple[float, float] | None]:
    """Run the detectors over every file; returns the final state of every alert by episode
    key, and the time span of the positions (None without any)."""
    final: dict = {}
    span = [None, None]

    def handle(decoded) -> None:
        if decoded.positions:
            t0 = min(p.ts for p in decoded.positions)
            t1 = max(p.ts for p in decoded.positions)
            span[0] = t0 if span[0] is None else min(span[0], t0)
            span[1] = t1 if span[1] is None else max(span[1], t1)
        for change in analyzer.process(decoded.statics + decoded.positions):
            final[change.alert.key] = change.alert

    await _decode(files, decoder, handle)
    for change in analyzer.finish():
        final[change.alert.key] = change.alert
    return final, (None if span[0] is None else (span[0], span[1]))


async def _tracks(files, alerts, decoder) -> dict:
    """A second pass over the files for the positions of the alerted vessels around their
    alerts (thinned): memory is bounded by the alerts, not by the log."""
    from ..report import TrackCollector

    collector = TrackCollector(alerts)
    await _decode(files, decoder, lambda decoded: collector.add_positions(decoded.positions))
    return collector.tracks()


def _write_map(args, alerts, zones, span, settings) -> int:
    from ..errors import MdaError
    from ..report import build_report, describe_file

    tracks = asyncio.run(_tracks(args.files, alerts, _decoder(settings)))
    inputs = [describe_file(f) for f in args.files]
    inputs += [describe_file(f, "zones") for f in args.zones]
    page = build_report(alerts, tracks, zones, inputs, span=span).encode("utf-8")
    target = os.path.abspath(args.map)
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(page)
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise MdaError(f"{args.map}: cannot write the map ({e.strerror or e})") from None
    return len(page)


def _decoder(settings):
    from ingest import Decoder

    # A recording has no live clock to compare its times with: no future-time check.
    return Decoder(dedupe_window=settings.dedupe_window_s,
                   multipart_timeout=settings.multipart_timeout_s, keep_raw=False,
                   max_clock_lead=None)


def _row(alert) -> dict:
    d = alert.to_dict()
    return {k: d.get(k) for k in ("kind", "severity", "mmsi", "other_mmsi", "start", "end",
                                   "lat", "lon", "zone", "details")}


def run(args, settings) -> int:
    from analytics import Analyzer

    from ..service import analytics_config, load_zones

    if args.map:  # before the work, not after it
        from ..errors import MdaError

        folder = os.path.dirname(os.path.abspath(args.map))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise MdaError(f"{args.map}: cannot write the map there (no such folder, "
                           "or not writable)")
        if os.path.isdir(args.map):
            raise MdaError(f"{args.map}: is a folder; give the map's file name")
    zones = load_zones(args.zones)
    analyzer = Analyzer(analytics_config(settings), zones)
    decoder = _decoder(settings)
    started = time.monotonic()
    final, span = asyncio.run(_analyze(args.files, analyzer, decoder))
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
    untimed = getattr(s, "untimed", 0)
    if untimed > 0:
        print(f"mda analyze: warning: {untimed:,} messages carried no timestamp: they were given "
              "the file's modification time, so time-based rules (loitering, encounters, gaps, "
              "speeds) cannot be trusted for them", file=sys.stderr)
    if args.map:
        out.flush()
        size = _write_map(args, alerts, zones, span, settings)
        print(f"mda analyze: map written to {args.map} ({size / 1024:,.0f} kB)", file=sys.stderr)
    return 0
