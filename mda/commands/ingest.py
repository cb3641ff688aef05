"""``mda ingest SOURCE...``: store AIS feeds in the database until the finite ones end."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from ..settings import SourceSpec


def _formats_epilog() -> str:
    from mda.ingest import FORMATS

    rows = "\n".join(f"  {name:<11} {text}" for name, text in FORMATS.items())
    return (
        "formats (--format; default nmea, or for a file what its name says: .csv, .zip -> csv, "
        ".json/.jsonl -> the JSON its first line shows):\n" + rows + "\n\n"
        "examples:\n"
        "  mda ingest aisdk-2024-03-01.zip --keep                  # a Danish yearly dump\n"
        "  mda ingest AIS_2023_01_01.csv.gz --format csv --keep    # a US MarineCadastre day\n"
        "  mda ingest log.csv --format csv --columns mmsi=ship,time=t,lat=y,lon=x\n"
        "  mda ingest udp://:10110 --format aiscatcher             # AIS-catcher -u ... JSON on\n"
        "  mda ingest gpsd://localhost                             # gpsd's AIS JSON (?WATCH)"
    )


def register(sub) -> None:
    import argparse

    p = sub.add_parser(
        "ingest",
        help="decode AIS feeds and store them (NMEA, AIS-catcher and gpsd JSON, decoded JSON, "
        "CSV archives; files, tcp://, udp://, mqtt://, gpsd://, -)",
        description="Decode AIS feeds and store every position once. Sources: a file path or "
        "file:PATH (.gz and .zip too), tcp://host:port, udp://:port, mqtt://host:port/topic, "
        "gpsd://host[:port], '-' for standard input. Runs until the finite sources end, then "
        "prints a summary: lines (or rows, JSON objects), messages, positions stored, "
        "duplicates, rejections by reason.",
        epilog=_formats_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="feed URI or file")
    p.add_argument(
        "--database", metavar="URL", help="database URL (default: settings, else embedded)"
    )
    p.add_argument("--name", help="receiver id stored in positions.source (default: the URI)")
    p.add_argument(
        "--speed",
        type=float,
        metavar="N",
        help="replay files at N times real time using event times (default: as fast as possible)",
    )
    p.add_argument("--no-raw", action="store_true", help="do not archive raw sentences")
    p.add_argument(
        "--format",
        metavar="FORMAT",
        help="what the sources carry: nmea, aiscatcher, gpsd, json, csv (see below)",
    )
    p.add_argument(
        "--columns",
        metavar="MAP",
        help="json and csv: which field is which, FIELD=NAME,... (mmsi=MMSI,time=BaseDateTime,"
        "lat=LAT,lon=LON,sog=SOG,cog=COG,heading=Heading,status=Status,name=VesselName,"
        "ship_type=VesselType ...); default: the layout the header shows, or the common names",
    )
    p.add_argument(
        "--time-format",
        metavar="FMT",
        help="json and csv: how times are written, as strptime (%%d.%%m.%%Y %%H:%%M:%%S); "
        "default: epoch seconds or ms, ISO 8601, dd/mm/yyyy HH:MM:SS",
    )
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="json and csv: the zone of times without an offset (Europe/Copenhagen); default UTC",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep these sources' data whatever its age (an archive): the retention job "
        "does not remove it; without it, records older than retention_days (or "
        "raw_retention_days) are refused",
    )
    p.add_argument(
        "--progress",
        action=argparse_bool(),
        default=None,
        help="show progress on standard error (default: when it is a terminal)",
    )
    p.set_defaults(run=run)


def argparse_bool():
    import argparse

    return argparse.BooleanOptionalAction


def _progress_line(pipeline, started: float, width: int = 30) -> str:
    s = pipeline.decoder.stats
    rate = s.lines / max(1e-9, time.monotonic() - started)
    done = total = 0
    for feed in pipeline.feeds.values():
        if feed.progress:
            done += feed.progress[0]
            total += feed.progress[1]
    bar = ""
    if total:  # file replays: a bar by bytes read
        frac = min(1.0, done / total)
        filled = int(frac * width)
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {frac:6.1%}  "
    return (
        f"\r{bar}{s.lines:>11,} lines  {pipeline.writer.stats.positions:>11,} positions stored"
        f"  {rate:>8,.0f} lines/s "
    )


async def _progress(pipeline, started: float) -> None:
    while True:
        await asyncio.sleep(0.5)
        sys.stderr.write(_progress_line(pipeline, started))
        sys.stderr.flush()


# Rows per COPY batch for this command at least: the server's cost per batch (the vessels'
# upsert, one row per vessel in the batch) makes small batches cost it up to three times
# the CPU (300k-line feed: 6.3 s of PostgreSQL CPU in 5,000-row batches, 3.5 s in 20,000,
# 2.0 s in 100,000; docs/benchmarks.md). A file has no latency to keep; a live feed's
# batches are bounded by batch_max_delay_s anyway. `mda serve` keeps batch_rows as set:
# its role "ingest" sends each batch as one MQTT message, which the broker bounds.
INGEST_BATCH_ROWS = 100_000


async def ingest(settings, url: str, specs: list[SourceSpec], progress: bool):
    """Run the feeds into the database; returns (pipeline, seconds taken)."""
    if settings.batch_rows < INGEST_BATCH_ROWS:
        settings = settings.replace(batch_rows=INGEST_BATCH_ROWS)
    from mda.ingest.decode_process import DecodeProcess
    from mda.store.db import connect_sync
    from mda.store.migrate import upgrade
    from mda.store.retention import hold_source

    from ..pipeline import Pipeline

    # The decoding process starts first: it loads while the schema is checked.
    decode_process = DecodeProcess() if settings.decode_process else None
    if decode_process is not None:
        await decode_process.start()
    try:
        with connect_sync(url) as conn:
            upgrade(conn, retention_days=settings.retention_days)
            for i, spec in enumerate(specs):
                if spec.keep:  # before anything is stored: the retention job spares it
                    hold_source(conn, Pipeline._name(spec, i), "mda ingest --keep")
        return await _run(settings, url, specs, progress, decode_process)
    finally:
        if decode_process is not None:
            await decode_process.close()


async def _run(settings, url, specs, progress, decode_process):
    from mda.store.writer import StoreWriter

    from ..pipeline import Pipeline

    started = time.monotonic()
    async with StoreWriter(url, raw_archive=settings.raw_archive) as writer:
        pipeline = Pipeline(settings, writer, specs, decode_process=decode_process)
        # Ctrl-C or SIGTERM ends the feeds; what they delivered is written and summed up.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, pipeline.stop)
        ticker = (
            asyncio.create_task(_progress(pipeline, started), name="progress") if progress else None
        )
        try:
            await pipeline.run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if ticker:
                ticker.cancel()
                sys.stderr.write("\n")
    return pipeline, time.monotonic() - started


def summary_lines(pipeline, elapsed: float) -> list[str]:
    """The decoder's own account of every line, then what the store did with it."""
    out = list(pipeline.decoder.stats.summary_lines())
    w = pipeline.writer.stats
    out.append(
        f"{'stored':<20}{w.positions:>12,}  (positions; {w.statics:,} static reports, "
        f"{w.raw:,} raw sentences)"
    )
    if w.refused_positions:
        out.append(
            f"{'refused':<20}{w.refused_positions:>12,}  (positions in "
            f"{sum(w.errors.values())} batches the database would not take; see the log)"
        )
    dropped = sum(f.dropped for f in pipeline.feeds.values())
    if dropped:
        out.append(f"{'dropped':<20}{dropped:>12,}  (by feeds under overload)")
    lines = pipeline.decoder.stats.lines
    out.append(f"{'elapsed':<20}{elapsed:>12.2f}  s ({lines / max(elapsed, 1e-9):,.0f} lines/s)")
    for name, f in pipeline.feeds.items():
        if f.state == "failed":
            out.append(f"feed {name} failed: {f.error}")
    return out


def _check_feeds(specs: list[SourceSpec]) -> None:
    """Before anything is stored: an unknown format or field, and a CSV file whose header
    names no known layout, are one error line (the CLI prints it), not a failed feed."""
    from mda.ingest import open_source

    async def check(spec: SourceSpec) -> None:
        src = open_source(spec.uri, name="check", **spec.feed_options())
        if src.reader is not None and src.reader.format == "csv" and hasattr(src, "path"):
            async with src:  # reads the header; SourceError when no layout fits
                pass

    for spec in specs:
        asyncio.run(check(spec))


def run(args, settings) -> int:
    from ..database import database_url

    if args.no_raw:
        settings = settings.replace(raw_archive=False)
    specs = [
        SourceSpec(
            uri,
            args.name,
            args.speed,
            args.keep,
            format=args.format,
            columns=args.columns,
            time_format=args.time_format,
            timezone=args.timezone,
        )
        for uri in args.sources
    ]
    _check_feeds(specs)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    with database_url(settings, args.database) as url:
        pipeline, elapsed = asyncio.run(ingest(settings, url, specs, progress))
    for line in summary_lines(pipeline, elapsed):
        print(line, file=sys.stderr)
    failed = [f for f in pipeline.feeds.values() if f.state == "failed"]
    return 1 if failed and len(failed) == len(specs) else 0
