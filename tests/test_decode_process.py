"""Decoding in a process of its own (``ingest.decode_process``): it gives what the decoder
gives in this process, record for record and count for count; the store writes its packed
records exactly as it writes record objects; a stop loses nothing handed over; a decoding
process that dies is counted and replaced without taking the feed down."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from mda.ingest.decode_process import DecodeProcess, DecodeProcessError, Decoding
from mda.ingest.decoder import Decoder
from mda.ingest.formats import make_reader
from mda.ingest.records import PositionReport, RawSentence, VesselInfo
from mda.ingest.sources import LineBatch
from mda.ingest.wire import Packed, WireBatch, encode_batch
from mda.store.migrate import upgrade
from mda.store.writer import write_batch

DATA = Path(__file__).parent / "data"
NO_ID = uuid.UUID(int=0)
POSITION_FIELDS = "ts mmsi lat lon sog cog heading nav_status msg_type source rot accuracy".split()


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="latin-1") as f:
        return f.read().splitlines()


def _recordings() -> list[str]:
    """Real recordings with tag blocks, $PGHP times, multipart messages and junk: each
    heard by two receivers, so that the de-duplication works across feeds."""
    lines = _lines(DATA / "dma" / "stream_example.txt")
    lines += _lines(DATA / "amsa" / "exact-earth-with-tag-block.txt")
    return lines


def _fields(records, names) -> list[tuple]:
    return [tuple(getattr(r, n) for n in names) for r in records]


class _Lines:
    """A source of batches of lines (what ``ingest.sources`` gives), of two receivers."""

    reader = None

    def __init__(self, lines: list[str], step: int = 100):
        self.lines, self.step = lines, step

    async def __aiter__(self):
        for i in range(0, len(self.lines), self.step):
            for rx in ("rx1", "rx2"):
                yield LineBatch(rx, self.lines[i : i + self.step], 1_900_000_000.0)
                await asyncio.sleep(0)


def _options(**more) -> dict:
    return {"keep_raw": True, "max_clock_lead": None, **more}


def test_the_decoding_process_gives_what_the_decoder_gives():
    lines = _recordings()

    async def run():
        async with DecodeProcess() as process:
            there = process.decoder(**_options())
            there.expect_feeds(2)
            got = [d async for _, d in Decoding(_Lines(lines), there)]
            got.append(await there.flush())
            return got, there.stats

    here = Decoder(**_options())
    here.expect_feeds(2)
    want = [here.feed(b.lines, b.recv_ts, b.source) for b in _collect(_Lines(lines))]
    want.append(here.flush())
    got, stats = asyncio.run(run())
    assert len(got) == len(want)
    flat = lambda batches, what: [r for b in batches for r in getattr(b, what)]  # noqa: E731
    positions = flat(want, "positions")
    assert len(positions) > 1000
    # value for value: a speed of 12.3 knots stays 12.3, not its float32 rounding
    assert _fields(flat(got, "positions"), POSITION_FIELDS) == _fields(positions, POSITION_FIELDS)
    assert _fields(flat(got, "raw"), ("ts", "source", "line", "mmsi", "msg_type")) == _fields(
        flat(want, "raw"), ("ts", "source", "line", "mmsi", "msg_type")
    )
    assert [vars_of(s) for s in flat(got, "statics")] == [vars_of(s) for s in flat(want, "statics")]
    assert [(b.duplicates, b.rejected) for b in got] == [(b.duplicates, b.rejected) for b in want]
    assert stats.as_dict() == here.stats.as_dict()
    assert stats.duplicates > 1000 and stats.rejected_lines > 0  # the copies, the junk
    assert stats.lines == stats.accounted


def vars_of(s: VesselInfo) -> tuple:
    return tuple(getattr(s, f) for f in s.__slots__)


def _collect(source) -> list[LineBatch]:
    async def run():
        return [b async for b in source]

    return asyncio.run(run())


def test_messages_for_mda_analyze_come_back_with_their_records():
    lines = _recordings()
    here = Decoder(**_options(keep_messages=True))
    want = [
        m for b in _collect(_Lines(lines)) for m in here.feed(b.lines, b.recv_ts, b.source).messages
    ]

    async def run():
        async with DecodeProcess() as process:
            there = process.decoder(**_options(keep_messages=True))
            return [m async for _, d in Decoding(_Lines(lines), there) for m in d.messages]

    got = asyncio.run(run())
    assert len(got) == len(want) > 1000
    for g, w in zip(got, want, strict=True):
        assert g[:4] == w[:4]
        assert (g[4] is None) == (w[4] is None) and (g[5] is None) == (w[5] is None)
        if w[4] is not None:
            assert _fields([g[4]], POSITION_FIELDS) == _fields([w[4]], POSITION_FIELDS)


def test_a_csv_reader_goes_to_the_decoding_process_with_its_header():
    rows = [
        "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,VesselType,Status",
        "367000001,2023-01-01T00:00:00,29.5,-94.8,10.2,90.1,91,ALPHA,70,0",
        "367000001,2023-01-01T00:01:00,29.5,-94.7,10.3,90.2,91,ALPHA,70,0",
        "367000002,2023-01-01T00:00:30,29.6,-94.9,,,,BRAVO,30,",
        "367000003,not a time,29.6,-94.9,1,1,1,CHARLIE,30,0",
    ]

    def reader():
        r = make_reader("csv")
        r.set_header(rows[0])
        return r

    here = Decoder(**_options())
    want = here.feed(rows[1:], time.time(), "csv", reader())

    async def run():
        async with DecodeProcess() as process:
            there = process.decoder(**_options())
            r = reader()
            first = await there.feed(rows[1:3], time.time(), "csv", r)
            second = await there.feed(rows[3:], time.time(), "csv", r)
            return [first, second], there.stats

    got, stats = asyncio.run(run())
    positions = [p for b in got for p in b.positions]
    assert _fields(positions, POSITION_FIELDS) == _fields(want.positions, POSITION_FIELDS)
    assert stats.rejected == here.stats.rejected == {"unreadable_time": 1}


def test_a_killed_decoding_process_is_counted_and_replaced():
    lines = _recordings()[:400]

    async def run():
        async with DecodeProcess() as process:
            d = process.decoder(**_options())
            first = await d.feed(lines[:200], 1_900_000_000.0, "rx1")
            child = process._proc.pid
            os.kill(child, signal.SIGKILL)
            with pytest.raises(DecodeProcessError, match="ended"):
                # what was in it when it died: counted, and the waiter told
                await d.feed(lines[200:300], 1_900_000_000.0, "rx1")
            # the next batch starts a new process; the counts go on from the old ones
            third = await d.feed(lines[300:], 1_900_000_000.0, "rx1")
            await d.flush()
            return first, third, d.stats, process

    first, third, stats, process = asyncio.run(run())
    assert first.positions and third.positions
    assert process.restarts == 1
    assert stats.lines == 400 == stats.accounted
    # the 100 lines in it, and any part of a message it held from the first 200
    assert 100 <= stats.rejected["internal_error"] <= 102


def test_stop_hands_on_every_batch_already_in_the_decoder():
    lines = _recordings() * 3

    async def run():
        async with DecodeProcess() as process:
            d = process.decoder(**_options())
            decoding = Decoding(_Lines(lines, step=50), d, depth=16)
            got = []
            async for batch, decoded in decoding:
                got.append((batch, decoded))
                if len(got) == 10:
                    decoding.stop()  # 15 more are in the decoder: they still come
            await d.flush()
            return got, d.stats

    got, stats = asyncio.run(run())
    assert 10 < len(got) < len(lines) // 50 * 2
    assert stats.lines == sum(len(b.lines) for b, _ in got) == stats.accounted


# ------------------------------------------------------------------------------ store


def _batch() -> tuple[list, list, list]:
    """Positions with every optional value absent somewhere, two receivers and one with a
    long name, times that round at the microsecond, a raw sentence without an MMSI."""
    t0 = 1_700_000_000.0
    positions = []
    for i in range(600):
        positions.append(
            PositionReport(
                ts=t0 + i * 0.1234565 + (i % 7) * 1e-7,
                mmsi=219_000_000 + i % 40,
                lat=55.0 + i * 1e-4,
                lon=12.0 - i * 1e-4,
                sog=None if i % 5 == 0 else 12.3 + i % 3,
                cog=None if i % 6 == 0 else 359.9 - i % 360,
                heading=None if i % 4 == 0 else i % 360,
                nav_status=None if i % 3 == 0 else i % 16,
                msg_type=(1, 2, 3, 18, 19, 27)[i % 6],
                source=("rxA", "rxB", "receiver/with a long ÆØÅ name")[i % 3],
                rot=None if i % 2 else -720.0 + i,
                accuracy=(None, True, False)[i % 3],
            )
        )
    positions.append(positions[10])  # the same fix twice: the newest per vessel is either
    statics = [
        VesselInfo(ts=t0 + 5, mmsi=219_000_001, msg_type=5, source="rxA", name="ALPHA", imo=9),
        VesselInfo(ts=t0 + 6, mmsi=219_000_002, msg_type=24, source="rxB", callsign="OXYZ"),
    ]
    raw = [
        RawSentence(
            t0 + i, ("rxA", "rxB")[i % 2], f"!AIVDM,1,1,,A,line{i},0*00", 219_000_000 + i, 1
        )
        for i in range(50)
    ]
    raw.append(RawSentence(t0 + 99, "rxC", "!AIVDM,2,1,3,A,part,0*00\n!AIVDM,2,2,3,A,x,2*00"))
    return positions, statics, raw


def _snapshot(url: str) -> dict:
    with psycopg.connect(url) as c:
        return {
            "positions": c.execute(
                "SELECT * FROM positions ORDER BY mmsi, time, source, lat"
            ).fetchall(),
            "vessels": c.execute(
                "SELECT mmsi, time, lat, lon, sog, cog, heading, nav_status, msg_type, source, "
                "static_time, name, callsign, imo FROM vessels ORDER BY mmsi"
            ).fetchall(),
            "raw": c.execute(
                "SELECT time, source, mmsi, msg_type, line FROM raw_sentences "
                "ORDER BY source, time, line"
            ).fetchall(),
        }


def _clear(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("TRUNCATE positions, vessels, raw_chunks")


async def _write(url: str, positions, statics, raw, packed=()) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await write_batch(conn, positions, statics, raw, packed=packed)


def test_packed_records_are_stored_exactly_as_record_objects_are(db_url):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    positions, statics, raw = _batch()
    asyncio.run(_write(db_url, positions, statics, raw))
    as_objects = _snapshot(db_url)
    _clear(db_url)
    # in two chunks, as a write batch gathers them from the decoding process, each with
    # its own table of receiver names
    chunks = [
        Packed(
            encode_batch(
                WireBatch(NO_ID, "", "", positions[:300], statics[:1], raw[:20]), wide=True
            )
        ),
        Packed(
            encode_batch(
                WireBatch(NO_ID, "", "", positions[300:], statics[1:], raw[20:]), wide=True
            )
        ),
    ]
    asyncio.run(_write(db_url, [], [], [], packed=chunks))
    as_packed = _snapshot(db_url)
    assert len(as_objects["positions"]) == 601 and len(as_objects["vessels"]) == 40
    assert len(as_objects["raw"]) == 51
    for table in ("positions", "vessels", "raw"):
        assert as_packed[table] == as_objects[table], table


# --------------------------------------------------------------------------- pipeline


@pytest.mark.parametrize("decode_process", [True, False], ids=["second process", "in process"])
async def test_a_stop_midway_stores_every_position_the_decoder_gave(
    db_url, tmp_path, decode_process
):
    """Ctrl-C during ``mda ingest``: the batches already in the decoding process are still
    decoded and stored; the summary's counts and the table agree."""
    from bench.feedgen import generate

    from mda.pipeline import Pipeline
    from mda.settings import SourceSpec, load_settings
    from mda.store.writer import StoreWriter

    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    feed = generate(120_000)
    path = tmp_path / "feed.nmea"
    path.write_text("\n".join(feed.lines) + "\n")
    settings = load_settings(environ={}).replace(decode_process=decode_process)
    async with StoreWriter(db_url) as writer:
        pipeline = Pipeline(settings, writer, [SourceSpec(str(path), "rx", keep=True)])
        run = asyncio.create_task(pipeline.run())
        while pipeline.decoder.stats.lines < 30_000 and not run.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        pipeline.stop()
        await asyncio.wait_for(run, 60)
    stats = pipeline.stats()
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT count(*) FROM positions").fetchone()[0]
    assert 30_000 <= stats["lines"] < len(feed.lines)  # it did stop midway
    assert pipeline.feeds["rx"].state == "stopped"
    assert stored == stats["positions_stored"] == stats["positions"] > 0
    assert stats["lines"] == pipeline.feeds["rx"].lines


def test_a_value_the_wire_form_cannot_carry_crosses_as_objects():
    """A JSON feed's message type of 300 (no room in the wire form's byte) and a CSV cell
    holding a NUL: the batch comes back as records, as one process would have made them,
    and the decoding process goes on."""
    objects = [
        '{"mmsi": 257000001, "time": 1700000000, "lat": 60.1, "lon": 5.1, "messageType": 300}',
        '{"mmsi": 257000002, "time": 1700000001, "lat": 60.2, "lon": 5.2, "sog": 3.5}',
    ]

    def reader():
        return make_reader("json")

    here = Decoder(**_options()).feed(objects, time.time(), "json", reader())

    async def run():
        async with DecodeProcess() as process:
            d = process.decoder(**_options(), objects=False)
            odd = await d.feed(objects, time.time(), "json", reader())
            after = await d.feed(
                [objects[1].replace("257000002", "257000003")], time.time(), "json", reader()
            )
            return odd, after, process.restarts

    odd, after, restarts = asyncio.run(run())
    assert restarts == 0
    assert odd.packed is None  # as objects: the store writes those as it always did
    assert _fields(odd.positions, POSITION_FIELDS) == _fields(here.positions, POSITION_FIELDS)
    assert [p.msg_type for p in odd.positions] == [300, 1]
    assert after.packed is not None and after.packed.counts() == (1, 1)
