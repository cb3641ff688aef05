"""``mda ingest SOURCE...``: store AIS feeds in the database until the finite ones end."""

from __future__ import annotations

import asyncio
import sys
import time

from ..settings import SourceSpec


def register(sub) -> None:
    p = sub.add_parser(
        "ingest", help="decode AIS feeds and store them (files, tcp://, udp://, mqtt://, -)",
        description="Decode AIS feeds and store every position once. Sources: a file path or "
                    "file:PATH (.gz too), tcp://host:port, udp://:port, mqtt://host:port/topic, "
                    "'-' for standard input. Runs until the finite sources end, then prints a "
                    "summary: lines, messages, positions stored, duplicates, rejections by reason.")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="feed URI or file")
    p.add_argument("--database", metavar="URL", help="database URL (default: settings, else embedded)")
    p.add_argument("--name", help="receiver id stored in positions.source (default: the URI)")
    p.add_argument("--speed", type=float, metavar="N",
                   help="replay files at N times real time using event times (default: as fast as possible)")
    p.add_argument("--no-raw", action="store_true", help="do not archive raw sentences")
    p.add_argument("--progress", action=argparse_bool(), default=None,
                   help="show progress on standard error (default: when it is a terminal)")
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
    return (f"\r{bar}{s.lines:>11,} lines  {pipeline.writer.stats.positions:>11,} positions stored"
            f"  {rate:>8,.0f} lines/s ")


async def _progress(pipeline, started: float) -> None:
    while True:
        await asyncio.sleep(0.5)
        sys.stderr.write(_progress_line(pipeline, started))
        sys.stderr.flush()


async def ingest(settings, url: str, specs: list[SourceSpec], progress: bool) -> dict:
    from store.db import connect_sync
    from store.migrate import upgrade
    from store.writer import StoreWriter

    from ..pipeline import Pipeline

    with connect_sync(url) as conn:
        upgrade(conn, retention_days=settings.retention_days)
    started = time.monotonic()
    async with StoreWriter(url, raw_archive=settings.raw_archive) as writer:
        pipeline = Pipeline(settings, writer, specs)
        ticker = asyncio.create_task(_progress(pipeline, started), name="progress") if progress else None
        try:
            await pipeline.run()
        finally:
            if ticker:
                ticker.cancel()
                sys.stderr.write("\n")
    elapsed = time.monotonic() - started
    stats = pipeline.stats()
    stats["elapsed_s"] = elapsed
    stats["feeds"] = {name: f.as_dict() for name, f in pipeline.feeds.items()}
    return stats


def summary_lines(stats: dict) -> list[str]:
    rate = stats["lines"] / max(stats["elapsed_s"], 1e-9)
    out = [f"lines:       {stats['lines']:,}",
           f"messages:    {stats['messages']:,}",
           f"positions:   {stats['positions_stored']:,} stored",
           f"static:      {stats['statics_stored']:,} stored",
           f"other:       {stats.get('other', 0):,} (decoded, not positions or static data)",
           f"duplicates:  {stats['duplicates']:,}",
           f"rejected:    {sum(stats['rejected'].values()):,}"]
    for reason, n in sorted(stats["rejected"].items(), key=lambda kv: -kv[1]):
        out.append(f"  {reason:<22} {n:,}")
    if stats.get("positions_refused"):
        out.append(f"refused:     {stats['positions_refused']:,} positions in "
                   f"{stats['batches_refused']} batches the database would not take (see the log)")
    if stats.get("feed_dropped"):
        out.append(f"dropped:     {stats['feed_dropped']:,} by feeds under overload")
    out.append(f"elapsed:     {stats['elapsed_s']:.2f} s ({rate:,.0f} lines/s)")
    for name, f in stats.get("feeds", {}).items():
        if f["state"] == "failed":
            out.append(f"feed {name} failed: {f['error']}")
    return out


def run(args, settings) -> int:
    from ..database import database_url

    if args.no_raw:
        settings = settings.replace(raw_archive=False)
    specs = [SourceSpec(uri, args.name, args.speed) for uri in args.sources]
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    with database_url(settings, args.database) as url:
        stats = asyncio.run(ingest(settings, url, specs, progress))
    for line in summary_lines(stats):
        print(line, file=sys.stderr)
    failed = [f for f in stats["feeds"].values() if f["state"] == "failed"]
    return 1 if failed and len(failed) == len(specs) else 0
