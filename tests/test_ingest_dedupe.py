"""The same message heard by several receivers is emitted once."""

from __future__ import annotations

from collections import Counter
from functools import reduce
from operator import xor
from pathlib import Path

from mda.ingest import Decoder

DATA = Path(__file__).parent / "data"
T = 1_700_000_000.0
TYPE1 = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"


def tag(body: str) -> str:
    return f"\\{body}*{reduce(xor, body.encode(), 0):02X}\\"


def test_two_receivers_hearing_the_same_traffic_yield_each_position_once():
    # The DMA recording (timed by $PGHP) through two receivers, batches interleaved and
    # the second receiver's copies a little late, as real feeds deliver them.
    lines = (DATA / "dma/stream_example.txt").read_text().splitlines()
    alone = Decoder()
    expected = alone.feed(lines, T, "rx1").positions

    chunks = [lines[i : i + 500] for i in range(0, len(lines), 500)]
    decoder = Decoder()
    positions = []
    for i, chunk in enumerate(chunks):
        positions += decoder.feed(chunk, T + i, "rx1").positions
        if i:
            positions += decoder.feed(chunks[i - 1], T + i + 0.5, "rx2").positions
    positions += decoder.feed(chunks[-1], T + len(chunks), "rx2").positions
    decoder.flush()

    key = lambda p: (p.mmsi, p.ts, p.lat, p.lon)  # noqa: E731
    assert Counter(map(key, positions)) == Counter(map(key, expected))
    s = decoder.stats
    assert s.duplicates == alone.stats.messages
    assert s.lines == s.accounted == 2 * len(lines)
    # The kept records name both receivers.
    assert all(p.receivers == ("rx1", "rx2") for p in positions)


def test_stations_behind_one_aggregator_are_receivers_too():
    lines = [tag("s:north,c:1700000000") + TYPE1, tag("s:south,c:1700000002") + TYPE1]
    decoder = Decoder()
    batch = decoder.feed(lines, T, "agg")
    (p,) = batch.positions
    assert p.receivers == ("agg/north", "agg/south")
    assert batch.duplicates == 1 and len(batch.raw) == 1


def test_copies_outside_the_window_are_new_messages():
    lines = [
        tag("s:a,c:1700000000") + TYPE1,
        tag("s:b,c:1700000011") + TYPE1,
        tag("s:c,c:1700000015") + TYPE1,
    ]
    decoder = Decoder(dedupe_window=10.0)
    batch = decoder.feed(lines, T, "agg")
    assert [p.source for p in batch.positions] == ["agg/a", "agg/b"]
    assert batch.duplicates == 1  # c is 4 s after b
    assert batch.positions[1].receivers == ("agg/b", "agg/c")


def test_window_is_configurable_and_zero_turns_it_off():
    lines = [tag("s:a,c:1700000000") + TYPE1, tag("s:b,c:1700000003") + TYPE1]
    assert len(Decoder(dedupe_window=2.0).feed(lines, T, "agg").positions) == 2
    assert len(Decoder(dedupe_window=5.0).feed(lines, T, "agg").positions) == 1
    assert len(Decoder(dedupe_window=0).feed(lines, T, "agg").positions) == 2


def test_duplicates_of_multipart_and_other_types_count_too():
    lines = (DATA / "libais/typeexamples.nmea").read_text().splitlines()
    alone = Decoder()
    alone.feed(lines, T, "rx1")
    decoder = Decoder()
    for line in lines:  # the same sentences from a second receiver, one by one
        decoder.feed([line], T, "rx1")
        decoder.feed([line.replace("r003669946", "r999")], T, "rx2")
    assert decoder.stats.messages == alone.stats.messages
    assert decoder.stats.duplicates == alone.stats.messages


def test_memory_is_bounded_by_time():
    decoder = Decoder(dedupe_window=10.0)
    base = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g2{:02d}CQ,0"
    for second in range(0, 600):
        body = base.format(second % 40)[1:]
        line = f"!{body}*{reduce(xor, body.encode(), 0):02X}"
        decoder.feed([line], T + second, "rx")
    assert len(decoder._dedupe.seen) <= 11


def test_each_feed_keeps_its_own_clock():
    # A satellite feed hours behind a terrestrial one: the terrestrial feed's clock must
    # not expire the satellite copies still to come from a second satellite.
    decoder = Decoder(dedupe_window=10.0)
    sat = tag("s:sat1,c:1699990000") + TYPE1
    decoder.feed([sat], T, "sat")
    land = "!AIVDM,1,1,,B,16SteH0P00Jt63hHaa6SagvJ087r,0*41"
    for i in range(5):
        decoder.feed([tag(f"s:x,c:{int(T) + 100 * i}") + land], T + i, "land")
    batch = decoder.feed([tag("s:sat2,c:1699990001") + TYPE1], T + 5, "sat")
    assert batch.duplicates == 1


def test_a_quiet_feed_does_not_hold_memory():
    decoder = Decoder(dedupe_window=10.0)
    decoder.feed([TYPE1], T, "quiet")
    assert len(decoder._dedupe.seen) == 1
    decoder.feed(["$GPGGA,1*00"], T + 61, "other")
    assert len(decoder._dedupe.seen) == 0


def test_receivers_are_added_in_one_place_only():
    # The decoder names further receivers on the kept record itself (before any
    # decoding); the Deduplicator had an unused copy of that logic.
    from mda.ingest.dedupe import Deduplicator

    assert not hasattr(Deduplicator, "add_receiver")
    decoder = Decoder()
    (p,) = decoder.feed([TYPE1], T, "rx1").positions
    decoder.feed([TYPE1], T, "rx2")
    decoder.feed([TYPE1], T, "rx2")
    decoder.feed([TYPE1], T, "rx1")
    assert p.receivers == ("rx1", "rx2")
