"""``mda analyze FILE...``: the detectors over NMEA logs, offline, one alert per line.

The files are read as one feed merged by event time, whatever their order on the command
line: each file has its own source and decoder (its multi-sentence messages, its
untimestamped lines and its de-duplication are its own, as when it is analysed alone), and
the decoded messages of all the files are merged by event time (a k-way merge over a small
buffer per file, never a whole file in memory) before the detectors see them. A copy of a
message that another file holds too (two receivers heard the same transmission) is dropped
after the merge, by its payload, as the decoder drops its own copies. So one file, the same
traffic as two receivers' files, or the files in any order give the same alerts.

Each file must be in time order, up to ``REORDER_S`` seconds of disorder that its buffer
puts right (receivers behind an aggregator deliver lines some seconds apart). A message
further back than that is *late*: it goes on with the next messages of its file, counted,
and the detectors skip it if its vessel already has a newer fix (as they always did); a
file where more than ``MAX_LATE_SHARE`` of the messages are late is not in time order at
all (two logs concatenated, a reversed file). A small one (``SORT_IN_MEMORY_BYTES``) is then
read whole and sorted in memory, and the analysis run again (``--sort-limit``); a larger one
is refused, naming the file and how far its times go back, before any alert is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from bisect import bisect_right
from operator import itemgetter

# Seconds of event-time disorder a file's buffer puts right. Real aggregated feeds deliver
# lines up to about a minute out of order (a Norwegian national feed: 50 s at most).
REORDER_S = 60.0
# More late messages (beyond REORDER_S) than this share of a file's messages and the
# file is not in time order: refused rather than analysed with its late fixes skipped.
MAX_LATE_SHARE = 0.01
# A file this small (MB, --sort-limit) that is not in time order (a sample cut from a
# satellite feed, a test log) is read whole and sorted in memory instead of refused.
SORT_LIMIT_MB = 32.0

INF = float("inf")
_ORDER = itemgetter(0, 1, 2)  # merge order: time, then mmsi and payload for a fixed order
_KEY = itemgetter(0)


def register(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="run the detectors over AIS log files (NMEA, JSON, CSV) and print the alerts",
        description="Offline analysis of AIS logs (the same inputs as ingest's file sources, "
        ".gz and .zip included: NMEA, AIS-catcher or gpsd JSON, decoded positions as JSON "
        "lines, CSV archives). Several files are one feed merged by event time, in any "
        "order (several receivers' logs of one period, or consecutive logs); a "
        "message found in two files counts once. Each file must be in time order "
        f"up to {REORDER_S:.0f} s of disorder. Prints every alert, still-open ones "
        "with end null; the same input always gives the same output. A summary "
        "goes to standard error. Lines without a timestamp take their file's "
        "modification time.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="AIS log file (plain, .gz or .zip): NMEA, AIS-catcher or gpsd JSON, decoded "
        "positions as JSON lines, or a CSV archive",
    )
    p.add_argument(
        "--input-format",
        metavar="FORMAT",
        help="what the files hold: nmea, aiscatcher, gpsd, json, csv (default: nmea, or what "
        "a file's name says: .csv/.zip csv, .json/.jsonl the JSON its first line shows)",
    )
    p.add_argument(
        "--columns",
        metavar="MAP",
        help="json and csv: which field is which, FIELD=NAME,... (as mda ingest --columns)",
    )
    p.add_argument("--time-format", metavar="FMT", help="json and csv: strptime format of times")
    p.add_argument("--timezone", metavar="ZONE", help="json and csv: zone of naive times (UTC)")
    p.add_argument(
        "--zones",
        action="append",
        default=[],
        metavar="FILE",
        help="GeoJSON zones file added to the built-in zones (repeatable)",
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "table"),
        default="jsonl",
        help="jsonl: one JSON object per alert (default); table: aligned columns",
    )
    p.add_argument(
        "--sort-limit",
        type=float,
        default=SORT_LIMIT_MB,
        metavar="MB",
        help="a file not in time order and at most this large is read whole and "
        f"sorted in memory; a larger one is refused (default {SORT_LIMIT_MB:g})",
    )
    p.add_argument(
        "--map",
        metavar="REPORT.html",
        help="also write an incident map: one self-contained HTML file (no network "
        "needed) with the alerts, their vessels' tracks, the zones and the inputs' "
        "SHA-256; the same input always gives the same file",
    )
    p.set_defaults(run=run)


# ------------------------------------------------------------------ one input file


class _Input:
    """One file: its source, its own decoder, and a buffer of decoded messages sorted by
    event time, from which the merge takes what no file can still precede.

    The buffered messages are the decoder's ``(ts, mmsi, payload, lines, position,
    static)``; an untimed one (its ``ts`` is the file's modification time) is replaced by
    ``(key, mmsi, payload, lines, position, static, ts)``, ``key`` being the time it is
    merged at. They are ordered by (time, mmsi, payload) rather than in reading order, so
    that the order the detectors see is the same however the traffic is split into files.
    """

    def __init__(
        self,
        path: str,
        decoder,
        whole: bool = False,
        sort_limit_mb: float = SORT_LIMIT_MB,
        options: dict | None = None,
    ) -> None:
        from mda.ingest import open_source

        self.path = path
        self.decoder = decoder
        self.whole = whole  # read the whole file before giving anything: sorted in memory
        self.sort_limit = sort_limit_mb * 2**20
        # Untimestamped lines get one fixed time, so a rerun gives the same output.
        self.fixed_ts = float(int(os.path.getmtime(path)))
        self.source = open_source(path, name=os.path.basename(path), **(options or {}))
        self.done = False
        self.pending: list[tuple] = []
        self.newest = -INF  # latest stated event time read so far
        self.untimed_first = False  # untimed messages came before any timed one
        self.messages = 0
        self.late = 0
        self.max_back = 0.0
        self._decoded = None

    async def __aenter__(self) -> _Input:
        from mda.ingest.decode_process import Decoding

        await self.source.__aenter__()
        # The decoder works ahead (in the decoding process) while the detectors run here.
        decoding = Decoding(self.source, self.decoder, recv_ts_of=lambda _: self.fixed_ts)
        self._decoded = aiter(decoding)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._decoded is not None:
            await self._decoded.aclose()
        await self.source.__aexit__(*exc)

    @property
    def watermark(self) -> float:
        """No message this file has still to give sorts before this time (late ones
        aside)."""
        if self.done:
            return INF
        if self.whole:
            return -INF  # nothing is given before the whole file is read
        if self.newest > -INF:
            return self.newest - REORDER_S
        # Only untimed messages so far: they stand at the file's modification time.
        return self.fixed_ts if self.untimed_first else -INF

    async def pull(self) -> None:
        """Read and decode one batch of lines; at the end, flush the decoder (what is
        still in flight is counted) and check the file was in time order."""
        try:
            _, decoded = await anext(self._decoded)
        except StopAsyncIteration:
            await self.decoder.flush()
            self.done = True
            self._check_order()
            return
        self._buffer(decoded.messages)

    def _buffer(self, messages: list[tuple]) -> None:
        if not messages:
            return
        fixed = self.fixed_ts
        newest = self.newest
        late = 0
        for i, m in enumerate(messages):  # the hot loop: locals only
            ts = m[0]
            if ts != fixed:
                if ts > newest:
                    newest = ts
                elif newest - ts > REORDER_S:
                    late += 1
                    if newest - ts > self.max_back:
                        self.max_back = newest - ts
            else:
                messages[i] = self._untimed(m, newest)
        self.newest = newest
        self.messages += len(messages)
        self.late += late
        messages.sort(key=_ORDER)
        self._insert(messages)

    def _untimed(self, m: tuple, newest: float) -> tuple:
        """A message without a time of its own goes on about where it was read: at the
        time the file's buffer has reached (so that a file whose lines lose their times
        half-way does not pile them up), or, before any timed message, at the modification
        time it was given."""
        if newest == -INF:
            self.untimed_first = True
            return (*m, m[0])
        return (newest - REORDER_S, *m[1:], m[0])

    def _insert(self, items: list[tuple]) -> None:
        """Merge sorted ``items`` into the sorted buffer, sorting only where they overlap
        (a few messages: the file is in order up to small disorder)."""
        pending = self.pending
        if not pending or _ORDER(items[0]) >= _ORDER(pending[-1]):
            pending += items
            return
        at = bisect_right(pending, _ORDER(items[0]), key=_ORDER)
        cut = bisect_right(items, _ORDER(pending[-1]), key=_ORDER)
        overlap = pending[at:] + items[:cut]
        overlap.sort(key=_ORDER)
        pending[at:] = overlap
        pending += items[cut:]

    def take(self, upto: float) -> list[tuple]:
        """The buffered messages at or before ``upto``, in order, out of the buffer."""
        pending = self.pending
        if not pending or pending[0][0] > upto:
            return []
        cut = len(pending) if upto == INF else bisect_right(pending, upto, key=_KEY)
        out = pending[:cut]
        del pending[:cut]
        return out

    def _check_order(self) -> None:
        from ..errors import MdaError

        if self.whole:
            return  # sorted in memory: every message is in its place
        if self.late and self.late > MAX_LATE_SHARE * self.messages:
            if os.path.getsize(self.path) <= self.sort_limit:
                raise _Unsorted(self.path)
            raise MdaError(
                f"{self.path}: not in time order: times go back by up to "
                f"{_duration(self.max_back)} in {self.late:,} places (more than "
                f"{REORDER_S:.0f} s each, {self.late / self.messages:.0%} of its messages); "
                "sort it by time first"
            )


def _duration(seconds: float) -> str:
    """'50 s', '1 min 5 s', '3 h 20 min', '95 d 16 h': the two largest units."""
    s = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if s >= size or (unit == "s" and not parts):
            parts.append(f"{s // size} {unit}")
            s %= size
        elif parts:
            break
    return " ".join(parts[:2])


class _Unsorted(Exception):
    """A small file out of time order: the analysis starts again with it sorted in memory."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


# ------------------------------------------------------------------ the merge


class _Copies:
    """Drops, after the merge, a message another file holds too: the same payload within
    the de-duplication window of event time, as the decoder does within one file (where it
    has already dropped the file's own copies). Counts what it drops, for the summary."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.seen: dict[bytes, tuple[float, float]] = {}  # payload -> (ts, key), merge order
        self.messages = self.lines = self.positions = self.statics = self.other = 0
        self.untimed = 0

    def drop(self, chunk: list[tuple]) -> list[tuple]:
        seen = self.seen
        window = self.window
        kept = []
        for m in chunk:
            ts = m[0] if len(m) == 6 else m[6]  # an untimed one carries its time last
            first = seen.get(m[2])
            if first is not None:
                if -window <= ts - first[0] <= window:
                    self._count(m)
                    continue
                del seen[m[2]]  # the same payload long ago: a new message, at the back
            seen[m[2]] = (ts, m[0])
            kept.append(m)
        if chunk:
            self._expire(chunk[-1][0] - window)
        return kept

    def _count(self, m: tuple) -> None:
        self.messages += 1
        self.lines += m[3]
        self.positions += m[4] is not None
        self.statics += m[5] is not None
        self.other += m[4] is None and m[5] is None
        self.untimed += len(m) > 6

    def _expire(self, before: float) -> None:
        # Entries are in merge order: only the front can be old enough.
        seen = self.seen
        while seen:
            payload = next(iter(seen))
            if seen[payload][1] >= before:
                break
            del seen[payload]


async def _merge(
    files,
    settings,
    sink,
    whole=frozenset(),
    sort_limit_mb: float = SORT_LIMIT_MB,
    options: dict | None = None,
    process=None,
) -> tuple[list[_Input], _Copies | None]:
    """Decode every file and hand ``sink`` the messages of all of them in event-time
    order, chunk by chunk; returns the inputs (their decoders' counts) and the copies
    dropped across files. Files in ``whole`` are read whole and sorted in memory."""
    from mda.ingest.decode_process import DecodeProcess

    async with contextlib.AsyncExitStack() as stack:
        # One decoding process for all the files, a decoder each (see the module's
        # docstring): the command's own, started with it, or one for this pass
        if process is not None:
            await process.start()
        elif settings.decode_process:
            process = await stack.enter_async_context(DecodeProcess())
        inputs = [
            _Input(path, _decoder(settings, process), path in whole, sort_limit_mb, options)
            for path in files
        ]
        copies = _Copies(settings.dedupe_window_s) if len(inputs) > 1 else None
        for inp in inputs:
            await stack.enter_async_context(inp)
        while True:
            live = [inp for inp in inputs if not inp.done]
            if live:
                # Read on in the file furthest behind: the others wait with one batch each.
                await min(live, key=lambda inp: inp.watermark).pull()
            upto = min((inp.watermark for inp in inputs), default=INF)
            chunk = []
            for inp in inputs:
                chunk += inp.take(upto)
            if copies is not None:
                chunk.sort(key=_ORDER)  # sorted runs, one per file; stable
                chunk = copies.drop(chunk)
            if chunk:
                sink(chunk)
            if not live:
                return inputs, copies


def _records(chunk: list[tuple]) -> list:
    """The records of merged messages, a static before the position of the same message."""
    out = []
    append = out.append
    for m in chunk:
        if m[5] is not None:
            append(m[5])
        if m[4] is not None:
            append(m[4])
    return out


def _positions(chunk: list[tuple]) -> list:
    return [m[4] for m in chunk if m[4] is not None]


def _feed_options(args) -> dict:
    return {
        "format": getattr(args, "input_format", None),
        "columns": getattr(args, "columns", None),
        "time_format": getattr(args, "time_format", None),
        "timezone": getattr(args, "timezone", None),
    }


def _check_formats(files, options: dict) -> None:
    """An unknown format or field, or a CSV file whose header names no known layout: one
    error before any alert is printed."""
    from mda.ingest import open_source

    async def check(path: str) -> None:
        src = open_source(path, **options)
        if src.reader is not None and src.reader.format == "csv":
            async with src:
                pass

    for path in files:
        asyncio.run(check(path))


def _check_inputs(files) -> None:
    from mda.ingest.errors import SourceError

    for path in files:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise SourceError(
                f"{path}: cannot read the file"
                + ("" if os.path.exists(path) else " (no such file)")
            )


class _Run:
    """What one analysis found: the final state of every alert by episode key, the time
    span of the positions (with ``span``: only the map needs it), the inputs and the
    copies across them."""

    def __init__(self, analyzer, span: bool) -> None:
        self.analyzer = analyzer
        self.final: dict = {}
        self.want_span = span
        self.span: tuple[float, float] | None = None
        self.inputs: list[_Input] = []
        self.copies: _Copies | None = None
        self.whole = frozenset()  # files sorted in memory

    def __call__(self, chunk: list[tuple]) -> None:
        for change in self.analyzer.process(_records(chunk)):
            self.final[change.alert.key] = change.alert
        if self.want_span:
            self._extend_span(chunk)

    def _extend_span(self, chunk: list[tuple]) -> None:
        times = [p.ts for p in _positions(chunk)]
        if times:
            t0, t1 = min(times), max(times)
            self.span = (
                (t0, t1) if self.span is None else (min(self.span[0], t0), max(self.span[1], t1))
            )

    def finish(self) -> None:
        for change in self.analyzer.finish():
            self.final[change.alert.key] = change.alert


async def _analyze(
    files,
    make_analyzer,
    settings,
    span: bool = False,
    whole=frozenset(),
    sort_limit_mb: float = SORT_LIMIT_MB,
    options: dict | None = None,
    process=None,
) -> _Run:
    """Run the detectors over the merged files; a small file found out of time order is
    sorted in memory and the analysis run again from the start (with a fresh analyzer)."""
    while True:
        result = _Run(make_analyzer(), span)
        try:
            result.inputs, result.copies = await _merge(
                files, settings, result, whole, sort_limit_mb, options, process
            )
        except _Unsorted as e:
            whole = whole | {e.path}
            continue
        result.whole = whole
        result.finish()
        return result


async def _tracks(files, alerts, settings, whole=frozenset(), options=None, process=None) -> dict:
    """A second pass over the files for the positions of the alerted vessels around their
    alerts (thinned): memory is bounded by the alerts, not by the log."""
    from mda.exchange.report import TrackCollector

    collector = TrackCollector(alerts)
    await _merge(
        files,
        settings,
        lambda chunk: collector.add_positions(_positions(chunk)),
        whole,
        options=options,
        process=process,
    )
    return collector.tracks()


def _write_map(args, alerts, zones, span, settings, whole=frozenset(), process=None) -> int:
    from mda.exchange.report import build_report, describe_file

    from ..errors import MdaError

    tracks = asyncio.run(_tracks(args.files, alerts, settings, whole, _feed_options(args), process))
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


def _decoder(settings, process=None):
    """A file's decoder: in the decoding process when there is one."""
    from mda.ingest import Decoder
    from mda.ingest.decode_process import LocalDecoder

    # A recording has no live clock to compare its times with: no future-time check.
    options = {
        "dedupe_window": settings.dedupe_window_s,
        "multipart_timeout": settings.multipart_timeout_s,
        "keep_raw": False,
        "max_clock_lead": None,
        "keep_messages": True,
    }
    if process is not None:
        return process.decoder(**options)
    return LocalDecoder(Decoder(**options))


# ------------------------------------------------------------------ output


def _row(alert) -> dict:
    d = alert.to_dict()
    return {
        k: d.get(k)
        for k in (
            "kind",
            "severity",
            "mmsi",
            "other_mmsi",
            "start",
            "end",
            "lat",
            "lon",
            "zone",
            "details",
        )
    }


def _totals(result: _Run):
    """The decoders' counts added up, a copy found across files moved from the messages
    to the duplicates: every line is still in exactly one place."""
    from mda.ingest import IngestStats

    total = IngestStats()
    for inp in result.inputs:
        s = inp.decoder.stats
        for name in (
            "lines",
            "messages",
            "positions",
            "statics",
            "other",
            "duplicates",
            "untimed",
            "message_lines",
            "duplicate_lines",
        ):
            setattr(total, name, getattr(total, name) + getattr(s, name))
        total.rejected.update(s.rejected)
    c = result.copies
    if c is not None:
        total.messages -= c.messages
        total.message_lines -= c.lines
        total.positions -= c.positions
        total.statics -= c.statics
        total.other -= c.other
        total.untimed -= c.untimed
        total.duplicates += c.messages
        total.duplicate_lines += c.lines
    return total


def _accounts(stats) -> str:
    """Where every input line went: lines = message lines + duplicate lines + rejected."""
    reasons = ", ".join(
        f"{r} {n:,}" for r, n in sorted(stats.rejected.items(), key=lambda rn: (-rn[1], rn[0])) if n
    )
    text = (
        f"{stats.message_lines:,} lines of {stats.messages:,} messages "
        f"({stats.positions:,} positions, {stats.statics:,} statics, {stats.other:,} other) "
        f"+ {stats.duplicate_lines:,} lines of {stats.duplicates:,} duplicates "
        f"+ {stats.rejected_lines:,} rejected lines" + (f" ({reasons})" if reasons else "")
    )
    pending = stats.lines - stats.accounted
    if pending:  # cannot happen after the flush; said rather than hidden if it does
        text += f" + {pending:,} unaccounted"
    return text


def summary(stats, analyzer_stats: dict, late: int, alerts: list, elapsed: float) -> str:
    """One line: where every input line went, which positions the detectors skipped (and
    how many messages came late in their file), and the alerts by kind."""
    by_kind: dict[str, int] = {}
    for a in alerts:
        by_kind[a.kind] = by_kind.get(a.kind, 0) + 1
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
    text = (
        f"mda analyze: {stats.lines:,} lines in {elapsed:.2f} s "
        f"({stats.lines / max(elapsed, 1e-9):,.0f} lines/s) = {_accounts(stats)}; "
        f"the detectors skipped {analyzer_stats.get('out_of_order', 0):,} positions out "
        f"of order and {analyzer_stats.get('duplicates', 0):,} repeated"
    )
    if late:
        text += f"; {late:,} messages came more than {REORDER_S:.0f} s late in their file"
    return text + f"; {len(alerts)} alerts" + (f" ({kinds})" if kinds else "")


def run(args, settings) -> int:

    if args.map:  # before the work, not after it
        from ..errors import MdaError

        folder = os.path.dirname(os.path.abspath(args.map))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise MdaError(
                f"{args.map}: cannot write the map there (no such folder, or not writable)"
            )
        if os.path.isdir(args.map):
            raise MdaError(f"{args.map}: is a folder; give the map's file name")
    _check_inputs(args.files)
    # The decoding process loads while this one reads the zones and the land mask.
    process = None
    if settings.decode_process:
        from mda.ingest.decode_process import DecodeProcess

        process = DecodeProcess()
        process.spawn()
    try:
        return _run(args, settings, process)
    finally:
        if process is not None:
            asyncio.run(process.close())


def _run(args, settings, process) -> int:
    from mda.analytics import Analyzer

    from ..service import analytics_config, load_zones

    options = _feed_options(args)
    _check_formats(args.files, options)
    zones = load_zones(args.zones)
    config = analytics_config(settings)
    started = time.monotonic()
    result = asyncio.run(
        _analyze(
            args.files,
            lambda: Analyzer(config, zones),
            settings,
            span=bool(args.map),
            sort_limit_mb=args.sort_limit,
            options=options,
            process=process,
        )
    )
    analyzer = result.analyzer
    elapsed = time.monotonic() - started
    alerts = sorted(result.final.values(), key=lambda a: (a.start, a.mmsi or 0, a.kind, a.key))
    out = sys.stdout
    if args.format == "jsonl":
        for a in alerts:
            out.write(json.dumps(_row(a), sort_keys=True) + "\n")
    else:
        out.write(
            f"{'start':<20} {'end':<20} {'kind':<16} {'sev':<8} {'mmsi':>9} {'other':>9}  details\n"
        )
        for a in alerts:
            r = _row(a)
            text = (r["details"] or {}).get("text", "")
            out.write(
                f"{r['start'][:19]:<20} {(r['end'] or 'open')[:19]:<20} {r['kind']:<16} "
                f"{r['severity']:<8} {r['mmsi'] or '':>9} {r['other_mmsi'] or '':>9}  {text}\n"
            )
    s = _totals(result)
    late = sum(inp.late for inp in result.inputs)
    print(summary(s, analyzer.stats, late, alerts, elapsed), file=sys.stderr)
    for path in sorted(result.whole):
        print(
            f"mda analyze: {path} was not in time order: read whole and sorted in memory",
            file=sys.stderr,
        )
    if s.untimed > 0:
        print(
            f"mda analyze: warning: {s.untimed:,} messages carried no timestamp: they were given "
            "the file's modification time, so time-based rules (loitering, encounters, gaps, "
            "speeds) cannot be trusted for them",
            file=sys.stderr,
        )
    if args.map:
        out.flush()
        size = _write_map(args, alerts, zones, result.span, settings, result.whole, process)
        print(f"mda analyze: map written to {args.map} ({size / 1024:,.0f} kB)", file=sys.stderr)
    return 0
