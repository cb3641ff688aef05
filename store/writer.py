"""The write path: binary COPY of positions and raw sentences, upsert of vessel state.

A batch is written in one transaction, so it is stored whole or not at all, and carries an
id recorded in ``write_batches`` in that transaction: a batch written again (its commit
reached the database, but the connection died before the answer) is skipped, so every
position is stored exactly once. When the database is away, ``StoreWriter`` keeps the
batches it cannot write in a spool on disk (``data_dir/spool``) instead of in memory.
``run()`` (a task of the service) tries again on a timer while the spool holds anything,
so the spool is written within seconds of the database's return even when no new data
arrives; a new ``StoreWriter`` writes what an earlier run left there before new data.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from pathlib import Path

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper

from mda.ingest.backoff import Backoff
from mda.ingest.records import PositionReport, RawSentence, VesselInfo
from mda.ingest.wire import Packed

from .db import connect, describe_connect_error
from .packed import (
    ARRAY_HEAD,
    FLOAT8,
    INT2,
    INT4,
    BinaryArray,
    PackedRecords,
    latest_copy,
    position_copy,
    raw_rows,
    text_array,
)
from .spool import Spool, SpoolFull

__all__ = ["StoreWriter", "WriterStats", "write_batch"]

log = logging.getLogger(__name__)

_fromts = datetime.fromtimestamp
UTC = UTC

POSITION_COLUMNS = (
    "time",
    "mmsi",
    "lat",
    "lon",
    "sog",
    "cog",
    "heading",
    "nav_status",
    "rot",
    "accuracy",
    "msg_type",
    "source",
)
POSITION_TYPES = (
    "timestamptz",
    "int4",
    "float8",
    "float8",
    "float4",
    "float4",
    "int2",
    "int2",
    "float4",
    "bool",
    "int2",
    "text",
)
RAW_COLUMNS = ("time", "time_end", "source", "n", "ts", "mmsis", "msg_types", "lines")
RAW_TYPES = ("timestamptz", "timestamptz", "text", "int4", "float8[]", "int4[]", "int2[]", "text[]")

# The COPY names its columns with the time last: a row is then the record's attributes,
# read in one C call (``_POSITION_FIELDS``), and its converted time.
_COPY_POSITIONS = (
    f"COPY positions ({', '.join(POSITION_COLUMNS[1:])}, time) FROM STDIN (FORMAT BINARY)"
)
_COPY_POSITION_TYPES = (*POSITION_TYPES[1:], POSITION_TYPES[0])
_POSITION_FIELDS = attrgetter(
    "mmsi",
    "lat",
    "lon",
    "sog",
    "cog",
    "heading",
    "nav_status",
    "rot",
    "accuracy",
    "msg_type",
    "source",
)
_COPY_RAW = f"COPY raw_chunks ({', '.join(RAW_COLUMNS)}) FROM STDIN (FORMAT BINARY)"

# Vessel state is upserted from a temporary table filled by binary COPY: dumping Python
# lists into unnest() arrays costs more than the whole COPY of positions.
_TEMP_TABLES = """
CREATE TEMPORARY TABLE IF NOT EXISTS _latest_positions (
    mmsi int4, time timestamptz, lat float8, lon float8, sog float4, cog float4,
    heading int2, nav_status int2, msg_type int2, source text) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE IF NOT EXISTS _latest_statics (
    mmsi int4, static_time timestamptz, name text, callsign text, imo int4, ship_type int2,
    to_bow int2, to_stern int2, to_port int2, to_starboard int2, draught float4,
    destination text, eta text) ON COMMIT DELETE ROWS;
"""
_COPY_LATEST = "COPY _latest_positions FROM STDIN (FORMAT BINARY)"
_LATEST_TYPES = (
    "int4",
    "timestamptz",
    "float8",
    "float8",
    "float4",
    "float4",
    "int2",
    "int2",
    "int2",
    "text",
)
_COPY_STATICS = "COPY _latest_statics FROM STDIN (FORMAT BINARY)"
_STATIC_TYPES = (
    "int4",
    "timestamptz",
    "text",
    "text",
    "int4",
    "int2",
    "int2",
    "int2",
    "int2",
    "int2",
    "float4",
    "text",
    "text",
)

# Latest position per vessel: only a newer fix moves a vessel (feeds arrive out of order).
_UPSERT_POSITIONS = """
INSERT INTO vessels AS v (mmsi, time, lat, lon, sog, cog, heading, nav_status, msg_type, source)
SELECT * FROM _latest_positions
ON CONFLICT (mmsi) DO UPDATE SET
    time = EXCLUDED.time, lat = EXCLUDED.lat, lon = EXCLUDED.lon, sog = EXCLUDED.sog,
    cog = EXCLUDED.cog, heading = EXCLUDED.heading, nav_status = EXCLUDED.nav_status,
    msg_type = EXCLUDED.msg_type, source = EXCLUDED.source
WHERE v.time IS NULL OR EXCLUDED.time >= v.time
"""

# Static data merges: a type 24 part A carries only the name, part B the rest, so a value
# the message does not carry (NULL) never erases what we knew.
_UPSERT_STATICS = """
INSERT INTO vessels AS v (mmsi, static_time, name, callsign, imo, ship_type, to_bow, to_stern,
                          to_port, to_starboard, draught, destination, eta)
SELECT * FROM _latest_statics
ON CONFLICT (mmsi) DO UPDATE SET
    static_time = greatest(v.static_time, EXCLUDED.static_time),
    name = coalesce(EXCLUDED.name, v.name),
    callsign = coalesce(EXCLUDED.callsign, v.callsign),
    imo = coalesce(EXCLUDED.imo, v.imo),
    ship_type = coalesce(EXCLUDED.ship_type, v.ship_type),
    to_bow = coalesce(EXCLUDED.to_bow, v.to_bow),
    to_stern = coalesce(EXCLUDED.to_stern, v.to_stern),
    to_port = coalesce(EXCLUDED.to_port, v.to_port),
    to_starboard = coalesce(EXCLUDED.to_starboard, v.to_starboard),
    draught = coalesce(EXCLUDED.draught, v.draught),
    destination = coalesce(EXCLUDED.destination, v.destination),
    eta = coalesce(EXCLUDED.eta, v.eta)
WHERE v.static_time IS NULL OR EXCLUDED.static_time >= v.static_time
"""


def _clip_smallint(v: int | None) -> int | None:
    if v is None or -32768 <= v <= 32767:
        return v
    return None


_RAW_FIELDS = attrgetter("source", "ts", "mmsi", "msg_type", "line")


def _raw_chunks(raw: Sequence[RawSentence], binary: bool = False) -> list[tuple]:
    """One row per receiver: the sentences in arrival order, their values in parallel arrays.
    A row per chunk instead of per sentence keeps the archive off the ingest's hot path.
    ``binary``: the arrays built here in PostgreSQL's binary format where they can be."""
    records = list(map(_RAW_FIELDS, raw))  # (source, ts, mmsi, msg_type, line), in C
    sources = set(map(itemgetter(0), records))
    if len(sources) == 1:
        by_source = {sources.pop(): records}
    else:
        by_source = {}
        for r in records:
            group = by_source.get(r[0])
            if group is None:
                by_source[r[0]] = group = []
            group.append(r)
    rows = []
    for source, group in by_source.items():
        # One element per record: a multipart message or a $PGHP line with its sentence
        # stays one element (they hold newlines), so the arrays stay aligned.
        _, ts, mmsis, types, lines = zip(*group)
        arrays = _raw_arrays(ts, mmsis, types, lines) if binary else None
        if arrays is None:
            arrays = (list(ts), list(mmsis), list(types), list(lines))
        rows.append((_fromts(min(ts), UTC), _fromts(max(ts), UTC), source, len(group), *arrays))
    return rows


# The raw archive's arrays in PostgreSQL's binary array format (``store.packed``), built
# here in a few C-level passes (struct over map/zip/chain) instead of psycopg's
# element-by-element Python dumping, which cost more than the whole COPY of positions.
_LEN_F8 = struct.Struct(">id").pack
_LEN_I4 = struct.Struct(">ii").pack
_LEN_I2 = struct.Struct(">ih").pack
_BinaryArray = BinaryArray  # its name here (tests/test_store_raw_arrays.py)


def _prebuilt_dumper(oid: int) -> type[Dumper]:
    class _Prebuilt(Dumper):
        format = pq.Format.BINARY

        def dump(self, obj):
            return obj

    _Prebuilt.oid = oid
    return _Prebuilt


# By the array types' oids (float8[], int4[], int2[], text[]): what COPY ... set_types uses.
_PREBUILT = [_prebuilt_dumper(oid) for oid in (1022, 1007, 1005, 1009)]


def _raw_arrays(ts: Sequence, mmsis: Sequence, types: Sequence, lines: Sequence) -> tuple | None:
    """(ts, mmsis, msg_types, lines) as binary arrays; None when an MMSI or type is missing
    (a NULL element: psycopg dumps those)."""
    n = len(ts)
    if None in mmsis or None in types:
        return None
    lines = list(map(str.encode, lines))
    return (
        _BinaryArray(ARRAY_HEAD(1, 0, FLOAT8, n, 1) + b"".join(map(_LEN_F8, repeat(8, n), ts))),
        _BinaryArray(ARRAY_HEAD(1, 0, INT4, n, 1) + b"".join(map(_LEN_I4, repeat(4, n), mmsis))),
        _BinaryArray(ARRAY_HEAD(1, 0, INT2, n, 1) + b"".join(map(_LEN_I2, repeat(2, n), types))),
        text_array(lines),
    )


def _latest_per_vessel(positions: Iterable[PositionReport]) -> list[PositionReport]:
    """Each vessel's newest fix; of fixes with the same time, the last. In C: a stable sort
    by time, then a dict that keeps the last fix it is given per MMSI."""
    ordered = sorted(positions, key=_TS)
    return list(dict(zip(map(_MMSI, ordered), ordered)).values())


_TS = attrgetter("ts")
_MMSI = attrgetter("mmsi")


def _merge_statics(statics: Iterable[VesselInfo]) -> list[VesselInfo]:
    """One row per vessel (an upsert may not touch a row twice), newest values winning."""
    merged: dict[int, VesselInfo] = {}
    for s in sorted(statics, key=lambda s: s.ts):
        cur = merged.get(s.mmsi)
        if cur is None:
            merged[s.mmsi] = VesselInfo(**{f: getattr(s, f) for f in s.__slots__})
            continue
        for f in s.__slots__:
            v = getattr(s, f)
            if v is not None:
                setattr(cur, f, v)
    return list(merged.values())


async def write_batch(
    conn: psycopg.AsyncConnection,
    positions: Sequence[PositionReport],
    statics: Sequence[VesselInfo],
    raw: Sequence[RawSentence],
    batch_id: uuid.UUID | None = None,
    packed: Sequence[Packed] = (),
    raw_archive: bool = True,
) -> bool:
    """Write one batch in one transaction. With ``batch_id``, a batch already committed
    under that id is skipped (False): writing it again stores nothing twice. ``packed``:
    more records, in the decoding process's wire form (``store.packed``: written without
    a record object each); their raw sentences only with ``raw_archive``."""
    if packed and positions:
        # Both kinds in one write (not seen in practice): the newest fix per vessel must
        # be chosen over all of them, so the packed ones become records too.
        more = [c.records() for c in packed]
        positions = [*positions, *chain.from_iterable(b.positions for b in more)]
        raw = [*raw, *chain.from_iterable(b.raw for b in more)] if raw_archive else raw
        statics = [*statics, *chain.from_iterable(b.statics for b in more)]
        packed = ()
    records = PackedRecords(packed) if packed else None
    if records is not None:
        statics = [*statics, *chain.from_iterable(c.statics() for c in packed)]
    has_positions = bool(positions) or (records is not None and records.n_positions > 0)
    make_temp = (has_positions or bool(statics)) and not getattr(conn, "_mda_temp_tables", False)
    async with conn.transaction():
        async with conn.cursor() as cur:
            if batch_id is not None:
                await cur.execute(
                    "INSERT INTO write_batches (id) VALUES (%s) ON CONFLICT DO NOTHING", (batch_id,)
                )
                if cur.rowcount == 0:  # committed before: nothing to do
                    return False
            if positions:
                async with cur.copy(_COPY_POSITIONS) as copy:
                    copy.set_types(_COPY_POSITION_TYPES)
                    # The formatter encodes rows in C and hands back a full buffer now and
                    # then; calling it directly saves an await per row on the hot path.
                    encode = copy.formatter.write_row
                    fields = _POSITION_FIELDS
                    times: dict[float, tuple] = {}  # fixes share seconds: convert once
                    for p in positions:
                        t = times.get(p.ts)
                        if t is None:
                            t = times[p.ts] = (_fromts(p.ts, UTC),)
                        data = encode(fields(p) + t)
                        if data:
                            await copy.write(data)
            if records is not None and records.n_positions:
                async with cur.copy(_COPY_POSITIONS) as copy:
                    await copy.write(position_copy(records))
            rows = _raw_chunks(raw, binary=True) if raw else []
            if records is not None and raw_archive:
                rows += raw_rows(records)
            if rows:
                prebuilt = [r for r in rows if r[4].__class__ is _BinaryArray]
                if prebuilt:
                    # The arrays are built already (_raw_arrays): dumped as they are.
                    for dumper in _PREBUILT:
                        cur.adapters.register_dumper(_BinaryArray, dumper)
                    async with cur.copy(_COPY_RAW) as copy:
                        copy.set_types(RAW_TYPES)
                        for row in prebuilt:
                            await copy.write_row(row)
                if len(prebuilt) < len(rows):
                    async with conn.cursor() as plain, plain.copy(_COPY_RAW) as copy:
                        copy.set_types(RAW_TYPES)
                        for row in rows:
                            if row[4].__class__ is not _BinaryArray:
                                await copy.write_row(row)
            if make_temp:
                # Once per connection; ON COMMIT DELETE ROWS empties them after each batch.
                await cur.execute(_TEMP_TABLES)
            if positions:
                async with cur.copy(_COPY_LATEST) as copy:
                    copy.set_types(_LATEST_TYPES)
                    for p in _latest_per_vessel(positions):
                        await copy.write_row(
                            (
                                p.mmsi,
                                _fromts(p.ts, UTC),
                                p.lat,
                                p.lon,
                                p.sog,
                                p.cog,
                                _clip_smallint(p.heading),
                                _clip_smallint(p.nav_status),
                                p.msg_type,
                                p.source,
                            )
                        )
                await cur.execute(_UPSERT_POSITIONS)
            elif records is not None and records.n_positions:
                async with cur.copy(_COPY_LATEST) as copy:
                    await copy.write(latest_copy(records))
                await cur.execute(_UPSERT_POSITIONS)
            if statics:
                async with cur.copy(_COPY_STATICS) as copy:
                    copy.set_types(_STATIC_TYPES)
                    for s in _merge_statics(statics):
                        await copy.write_row(
                            (
                                s.mmsi,
                                _fromts(s.ts, UTC),
                                s.name,
                                s.callsign,
                                s.imo if s.imo is None or 0 < s.imo < 2**31 else None,
                                _clip_smallint(s.ship_type),
                                _clip_smallint(s.to_bow),
                                _clip_smallint(s.to_stern),
                                _clip_smallint(s.to_port),
                                _clip_smallint(s.to_starboard),
                                s.draught,
                                s.destination,
                                s.eta,
                            )
                        )
                await cur.execute(_UPSERT_STATICS)
    if make_temp:  # only once the transaction that created them has committed
        conn._mda_temp_tables = True  # type: ignore[attr-defined]
    return True


@dataclass
class WriterStats:
    batches: int = 0
    positions: int = 0
    statics: int = 0
    raw: int = 0
    spooled_batches: int = 0
    spool_pending: int = 0  # batches in the spool now
    spool_written: int = 0  # batches written from the spool
    repeated_batches: int = 0  # batches found already committed when written again
    retries: int = 0
    outages: int = 0
    refused_positions: int = 0  # in batches the database refused as data (not an outage)
    errors: dict[str, int] = field(default_factory=dict)  # refused batches by error class

    def as_dict(self) -> dict:
        return {
            "batches": self.batches,
            "positions_stored": self.positions,
            "statics_stored": self.statics,
            "raw_stored": self.raw,
            "spooled_batches": self.spooled_batches,
            "spool_pending_batches": self.spool_pending,
            "spool_written_batches": self.spool_written,
            "batches_repeated": self.repeated_batches,
            "retries": self.retries,
            "outages": self.outages,
            "positions_refused": self.refused_positions,
            "batches_refused": sum(self.errors.values()),
        }


# What the spool holds: (positions, statics, raw, batch id); spools of earlier versions
# hold the first three only.
_Batch = tuple


class StoreWriter:
    """Owns the writer's connection; ``await write(...)`` stores a batch or spools it.

    Use as ``async with StoreWriter(url, spool_dir=...) as w: await w.write(p, s, r)``, with
    ``w.run()`` as a task beside it when the spool must be written without new data (the
    service). Entering writes what the spool holds first when the database answers.
    ``retry_max`` bounds the wait between two tries while the database is away: the
    spool is written at most that long after it returns. ``write_seconds``, anything with
    ``observe(seconds)`` (the service's histogram), is given the time of each batch
    written (or found written before).
    """

    takes_packed = True  # ``write`` takes records in the wire form too (``store.packed``)

    def __init__(
        self,
        url: str,
        *,
        spool_dir: Path | None = None,
        raw_archive: bool = True,
        retry_initial: float = 0.5,
        retry_max: float = 5.0,
        write_seconds=None,
    ):
        self.url = url
        self.raw_archive = raw_archive
        self._write_seconds = write_seconds
        self.stats = WriterStats()
        self._spool = Spool(spool_dir) if spool_dir else None
        self.stats.spool_pending = self._spool.pending if self._spool else 0
        self._conn: psycopg.AsyncConnection | None = None
        self._backoff = Backoff(retry_initial, retry_max)
        self._next_attempt = 0.0
        self._lock = asyncio.Lock()  # one user of the connection at a time
        self._spooled = asyncio.Event()  # set while the spool may hold something
        if self.stats.spool_pending:
            self._spooled.set()
        self._ids = False  # write_batches exists (migration 0007): batches carry ids
        self.last_error: str | None = None

    async def __aenter__(self) -> StoreWriter:
        self._conn = await connect(self.url)
        await self._check_ids()
        if self._spool is not None and self._spool.pending:
            # Left by an earlier run: written before any new data.
            log.info("writing %d batches an earlier run left in the spool", self._spool.pending)
            async with self._lock:
                await self._drain_spool()
        return self

    async def __aexit__(self, *exc) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await _close_quietly(conn)

    @property
    def online(self) -> bool:
        return self._conn is not None and not self._conn.closed

    @property
    def spool_pending(self) -> int:
        return self._spool.pending if self._spool is not None else 0

    async def write(
        self,
        positions: Sequence[PositionReport],
        statics: Sequence[VesselInfo],
        raw: Sequence[RawSentence],
        packed: Sequence[Packed] = (),
    ) -> bool:
        """Store the batch (True), or spool it while the database is away (False).
        Without a spool directory, wait for the database instead. ``packed``: more
        records, as the decoding process hands them over (``write_batch``)."""
        if not self.raw_archive:
            raw = ()
        batch = (list(positions), list(statics), list(raw), uuid.uuid4(), list(packed))
        while True:
            async with self._lock:
                if await self._ensure_connected():
                    # What waits in the spool is older: it goes first.
                    if self._spool is None or await self._drain_spool():
                        try:
                            await self._write(batch)
                            return True
                        except psycopg.OperationalError as e:
                            self._went_away(e)
                if self._spool is not None:
                    try:
                        self._spool.put(batch)
                        self.stats.spooled_batches += 1
                        self.stats.spool_pending = self._spool.pending
                        self._spooled.set()
                        return False
                    except SpoolFull as e:  # no room on disk either: hold the feed instead
                        log.error("%s; holding the feed until the database returns", e)
            # Until the next attempt at connecting (at least a moment: the database may
            # take a connection and still fail the write).
            await asyncio.sleep(self._until_next_attempt())

    async def flush_spool(self, *, force: bool = False) -> bool:
        """Write what the spool holds if the database is reachable; True when it is empty.
        ``force`` tries to connect now even if the back-off says to wait (a stop's last
        try)."""
        async with self._lock:
            if force:
                self._next_attempt = 0.0
            ok = await self._ensure_connected()
            return ok and (self._spool is None or await self._drain_spool())

    async def run(self) -> None:
        """While the spool holds anything, try again on a timer (the back-off, at most
        ``retry_max`` apart) until it is written; then wait for the next outage. Runs until
        cancelled."""
        while True:
            await self._spooled.wait()
            if await self.flush_spool():
                if self.spool_pending == 0:  # nothing spooled meanwhile (no await since)
                    self._spooled.clear()
                continue
            await asyncio.sleep(self._until_next_attempt())

    def _until_next_attempt(self) -> float:
        loop = asyncio.get_running_loop()
        return max(self._next_attempt - loop.time(), self._backoff.initial)

    async def _check_ids(self) -> None:
        assert self._conn is not None
        await _prefer_lz4(self._conn)
        try:
            cur = await self._conn.execute("SELECT to_regclass('write_batches') IS NOT NULL")
            self._ids = bool((await cur.fetchone())[0])
            await self._conn.rollback()
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            self._ids = False

    async def _write(self, batch: _Batch) -> None:
        assert self._conn is not None
        positions, statics, raw = batch[:3]
        batch_id = batch[3] if len(batch) > 3 and self._ids else None
        packed = batch[4] if len(batch) > 4 else ()  # (spooled by an earlier version: none)
        npos, nraw = len(positions), len(raw)
        for chunk in packed:
            n, r = chunk.counts()
            npos += n
            nraw += r if self.raw_archive else 0
        t0 = time.perf_counter()
        try:
            written = await write_batch(
                self._conn, positions, statics, raw, batch_id, packed, self.raw_archive
            )
        except psycopg.OperationalError:
            raise
        except psycopg.Error as e:
            # Data the database refuses (not an outage) must not block the feed forever:
            # count it with its reason and move on.
            reason = type(e).__name__
            self.stats.errors[reason] = self.stats.errors.get(reason, 0) + 1
            self.stats.refused_positions += npos
            log.error(
                "database refused a batch of %d positions: %s",
                npos,
                e.diag.message_primary or e,
            )
            return
        if self._write_seconds is not None:
            self._write_seconds.observe(time.perf_counter() - t0)
        if not written:
            self.stats.repeated_batches += 1
            return
        self.stats.batches += 1
        self.stats.positions += npos
        self.stats.statics += len(statics) + sum(c.static_count() for c in packed)
        self.stats.raw += nraw

    async def _drain_spool(self) -> bool:
        assert self._spool is not None
        while (item := self._spool.oldest()) is not None:
            path, batch = item
            try:
                await self._write(batch)
            except psycopg.OperationalError as e:
                self._went_away(e)
                return False
            self._spool.done(path)
            self.stats.spool_written += 1
            self.stats.spool_pending = self._spool.pending
        self.stats.spool_pending = 0
        return True

    def _went_away(self, e: Exception) -> None:
        self.stats.outages += 1
        self.last_error = describe_connect_error(self.url, e)
        log.warning("database went away: %s; spooling until it returns", self.last_error)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            asyncio.get_running_loop().create_task(_close_quietly(conn), name="writer-close")
        self._next_attempt = 0.0

    async def _ensure_connected(self) -> bool:
        if self.online:
            return True
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_attempt:
            return False
        try:
            self._conn = await connect(self.url)
            await self._check_ids()
        except Exception as e:  # DatabaseUnavailable and friends
            self._conn = None
            self.stats.retries += 1
            self.last_error = str(e)
            # Backoff with jitter, so a fleet of writers does not stampede.
            self._next_attempt = loop.time() + self._backoff.next_delay()
            return False
        self._backoff.reset()
        log.info("database is back")
        return True


async def _prefer_lz4(conn: psycopg.AsyncConnection) -> None:
    """The server compresses the raw archive's large arrays (TOAST): lz4 costs it about a
    tenth of the CPU of the default pglz (100,000 sentences: 0.02-0.03 s against 0.15-0.34 s)
    for 9 % more bytes. A setting of this session only, for columns that name no method;
    a server built without lz4 keeps pglz."""
    try:
        await conn.execute("SET default_toast_compression = 'lz4'")
        await conn.commit()
    except psycopg.OperationalError:
        raise
    except psycopg.Error:
        await conn.rollback()


async def _close_quietly(conn: psycopg.AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:  # closing a dead connection may fail; nothing to do about it
        pass
