"""Multi-sentence messages: assembled per (source, channel, sequence id), with expiry."""

from __future__ import annotations

from functools import reduce
from operator import xor

from pyais.encode import encode_dict

from mda.ingest import Decoder

T = 1_700_000_000.0


def type5(mmsi: int, name: str, seq: int, channel: str = "A") -> list[str]:
    parts = encode_dict(
        {
            "type": 5,
            "mmsi": mmsi,
            "shipname": name,
            "callsign": f"C{mmsi % 1000}",
            "imo": 9_100_000 + mmsi % 1000,
            "ship_type": 70,
            "destination": "MALE",
        },
        talker_id="AI",
        radio_channel=channel,
        seq_id=seq,
    )
    assert len(parts) == 2
    return parts


def tag(body: str) -> str:
    return f"\\{body}*{reduce(xor, body.encode(), 0):02X}\\"


def names(statics) -> dict[int, str]:
    return {s.mmsi: s.name for s in statics}


def test_two_parts_make_one_static_record():
    decoder = Decoder()
    batch = decoder.feed(type5(419000001, "SAGAR KANYA", 3), T, "rx")
    (info,) = batch.statics
    assert (info.mmsi, info.name, info.callsign, info.imo, info.ship_type, info.destination) == (
        419000001,
        "SAGAR KANYA",
        "C1",
        9_100_001,
        70,
        "MALE",
    )
    assert batch.raw[0].line.count("\n") == 1
    assert decoder.stats.message_lines == 2 and decoder.pending_lines == 0


def test_interleaved_parts_from_two_feeds_never_merge():
    # Same sequence id and channel on two receivers, parts interleaved in time.
    a1, a2 = type5(419000001, "ALPHA", 5)
    b1, b2 = type5(419000002, "BRAVO", 5)
    decoder = Decoder()
    statics = []
    for line, source in ((a1, "rx1"), (b1, "rx2"), (a2, "rx1"), (b2, "rx2")):
        statics += decoder.feed([line], T, source).statics
    assert names(statics) == {419000001: "ALPHA", 419000002: "BRAVO"}
    assert not decoder.stats.rejected


def test_interleaved_parts_from_two_stations_of_one_feed_never_merge():
    a1, a2 = type5(419000001, "ALPHA", 5)
    b1, b2 = type5(419000002, "BRAVO", 5)
    lines = [
        tag("s:north,c:1700000000") + a1,
        tag("s:south,c:1700000000") + b1,
        tag("s:north,c:1700000000") + a2,
        tag("s:south,c:1700000001") + b2,
    ]
    decoder = Decoder()
    batch = decoder.feed(lines, T, "agg")
    assert names(batch.statics) == {419000001: "ALPHA", 419000002: "BRAVO"}
    assert {s.source for s in batch.statics} == {"agg/north", "agg/south"}


def test_interleaved_sequence_ids_and_channels_of_one_source():
    a1, a2 = type5(419000001, "ALPHA", 1)
    b1, b2 = type5(419000002, "BRAVO", 2)
    c1, c2 = type5(419000003, "CHARLIE", 1, channel="B")
    decoder = Decoder()
    batch = decoder.feed([a1, b1, c1, b2, c2, a2], T, "rx")
    assert names(batch.statics) == {419000001: "ALPHA", 419000002: "BRAVO", 419000003: "CHARLIE"}


def test_orphans_are_counted_by_reason():
    a1, a2 = type5(419000001, "ALPHA", 1)
    b1, b2 = type5(419000002, "BRAVO", 1)
    decoder = Decoder()
    decoder.feed([a2], T, "rx")  # a second part with no first part
    assert decoder.stats.rejected["orphan_fragment"] == 1
    decoder.feed([a1, b1, b2], T, "rx")  # b1 replaces a1 under the same key
    assert decoder.stats.rejected["orphan_fragment"] == 2
    assert decoder.stats.statics == 1
    decoder.feed([a2], T, "other")  # a part from another feed does not find a1
    assert decoder.stats.rejected["orphan_fragment"] == 3
    decoder.flush()
    assert decoder.stats.lines == decoder.stats.accounted == 5


def test_a_late_second_part_expires_the_first_by_arrival_time():
    a1, a2 = type5(419000001, "ALPHA", 1)
    decoder = Decoder(multipart_timeout=10.0)
    decoder.feed([a1], T, "rx")
    batch = decoder.feed([a2], T + 20, "rx")
    assert not batch.statics
    assert decoder.stats.rejected["expired_fragment"] == 1
    assert decoder.stats.rejected["orphan_fragment"] == 1
    # Within the timeout it still joins.
    decoder.feed([a1], T + 30, "rx")
    assert len(decoder.feed([a2], T + 39, "rx").statics) == 1


def test_a_late_second_part_expires_the_first_by_event_time():
    # A replayed file arrives all at once; the tag-block times say 20 s apart.
    a1, a2 = type5(419000001, "ALPHA", 1)
    lines = [tag("s:x,c:1600000000") + a1, tag("s:x,c:1600000020") + a2]
    decoder = Decoder(multipart_timeout=10.0)
    assert not decoder.feed(lines, T, "file").statics
    assert decoder.stats.rejected["expired_fragment"] == 1
    lines = [tag("s:x,c:1600000000") + a1, tag("s:x,c:1600000005") + a2]
    (info,) = decoder.feed(lines, T, "file").statics
    assert info.ts == 1600000000  # the time of the first part


def test_pending_first_parts_expire_when_time_moves_on():
    a1, _ = type5(419000001, "ALPHA", 1)
    decoder = Decoder(multipart_timeout=10.0)
    decoder.feed([a1], T, "rx")
    assert decoder.pending_lines == 1
    decoder.feed(["$GPGGA,1*00"], T + 5, "other")
    assert decoder.pending_lines == 1
    decoder.feed(["$GPGGA,1*00"], T + 11, "other")  # any feed's batch sweeps
    assert decoder.pending_lines == 0
    assert decoder.stats.rejected["expired_fragment"] == 1
    assert decoder.stats.lines == decoder.stats.accounted


def test_flush_gives_up_on_everything_in_flight():
    a1, _ = type5(419000001, "ALPHA", 1)
    b1, _ = type5(419000002, "BRAVO", 2)
    decoder = Decoder()
    decoder.feed([a1, b1], T, "rx")
    batch = decoder.flush()
    assert batch.rejected == 2 and decoder.stats.rejected["expired_fragment"] == 2
    assert decoder.stats.lines == decoder.stats.accounted == 2


def test_flush_of_one_finished_feed_leaves_the_others_in_flight():
    a1, _ = type5(419000001, "ALPHA", 1)
    b1, _ = type5(419000002, "BRAVO", 2)
    pghp = "$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B"
    decoder = Decoder()
    decoder.feed([a1, pghp], T, "file")
    decoder.feed([tag("s:north,c:1700000000") + b1], T, "tcp")
    assert decoder.pending_lines == 3
    batch = decoder.flush("file")
    assert batch.rejected == 2 and decoder.pending_lines == 1
    assert decoder.stats.rejected["orphan_timestamp"] == 1
    decoder.flush()
    assert decoder.pending_lines == 0
    assert decoder.stats.lines == decoder.stats.accounted == 3


# Real feeds (an aggregator relaying several receivers) often put the tag block on the
# first part only: "\s:rx1,c:1682041231*hh\!AIVDM,2,1,3,A,...*hh" then "!AIVDM,2,2,3,A,...*hh".


def test_a_later_part_without_tag_block_joins_its_stations_first_part():
    p1, p2 = type5(419000001, "ALPHA", 3)
    decoder = Decoder()
    batch = decoder.feed([tag("s:rx1,c:1682041231") + p1, p2], T, "agg")
    (info,) = batch.statics
    assert (info.mmsi, info.name, info.ts, info.source) == (
        419000001,
        "ALPHA",
        1682041231,
        "agg/rx1",
    )
    assert not decoder.stats.rejected and decoder.pending_lines == 0
    assert decoder.stats.message_lines == 2


def test_untagged_later_parts_join_across_batches_and_other_traffic():
    a1, a2 = type5(419000001, "ALPHA", 3)
    b1, b2 = type5(419000002, "BRAVO", 4, channel="B")
    decoder = Decoder()
    statics = decoder.feed(
        [tag("s:rx1,c:1682041231") + a1, tag("s:rx2,c:1682041231") + b1], T, "agg"
    ).statics
    statics += decoder.feed([b2, a2], T + 1, "agg").statics
    assert names(statics) == {419000001: "ALPHA", 419000002: "BRAVO"}
    assert {s.source for s in statics} == {"agg/rx1", "agg/rx2"}
    assert not decoder.stats.rejected


def test_an_untagged_later_part_never_guesses_between_two_stations():
    # Two receivers have a first part pending under the same channel and sequence id: the
    # part that names no station could belong to either, so it joins neither.
    a1, a2 = type5(419000001, "ALPHA", 3)
    b1, _ = type5(419000002, "BRAVO", 3)
    decoder = Decoder()
    batch = decoder.feed(
        [tag("s:rx1,c:1682041231") + a1, tag("s:rx2,c:1682041231") + b1, a2], T, "agg"
    )
    assert not batch.statics
    assert decoder.stats.rejected["orphan_fragment"] == 1
    decoder.flush()
    assert decoder.stats.rejected["expired_fragment"] == 2
    assert decoder.stats.lines == decoder.stats.accounted == 3


def test_an_untagged_later_part_prefers_an_untagged_first_part():
    # Its own key first: a receiver without tag blocks on the same feed keeps its messages.
    a1, a2 = type5(419000001, "ALPHA", 3)
    b1, b2 = type5(419000002, "BRAVO", 3)
    decoder = Decoder()
    batch = decoder.feed([tag("s:rx1,c:1682041231") + a1, b1, b2], T, "agg")
    (info,) = batch.statics
    assert (info.name, info.source) == ("BRAVO", "agg")
    assert decoder.pending_lines == 1  # rx1's first part still waits for its own part
    (info,) = decoder.feed([a2], T, "agg").statics
    assert (info.name, info.source) == ("ALPHA", "agg/rx1")


def test_untagged_parts_join_nothing_of_another_feed_or_channel():
    a1, a2 = type5(419000001, "ALPHA", 3)
    _, a2_on_b = type5(419000001, "ALPHA", 3, channel="B")
    decoder = Decoder()
    decoder.feed([tag("s:rx1,c:1682041231") + a1], T, "agg")
    decoder.feed([a2], T, "other")  # another feed
    decoder.feed([a2_on_b], T, "agg")  # another channel
    assert decoder.stats.rejected["orphan_fragment"] == 2
    (info,) = decoder.feed([a2], T, "agg").statics
    assert info.source == "agg/rx1"


def test_a_completed_message_leaves_nothing_for_a_stray_part_to_join():
    a1, a2 = type5(419000001, "ALPHA", 3)
    decoder = Decoder()
    lines = [tag("s:rx1,c:1682041231") + a1, tag("s:rx1,c:1682041231") + a2]
    assert len(decoder.feed(lines, T, "agg").statics) == 1
    decoder.feed([a2], T, "agg")  # a repeated second part: nothing pending to join
    assert decoder.stats.rejected["orphan_fragment"] == 1
    assert decoder.stats.lines == decoder.stats.accounted == 3


def test_pending_first_parts_of_named_stations_expire_and_flush_by_feed():
    a1, a2 = type5(419000001, "ALPHA", 3)
    decoder = Decoder(multipart_timeout=10.0)
    decoder.feed([tag("s:rx1,c:1682041231") + a1], T, "agg")
    decoder.feed(["$GPGGA,1*00"], T + 11, "agg")  # time moves on: the first part expires
    assert decoder.stats.rejected["expired_fragment"] == 1
    assert not decoder.feed([a2], T + 12, "agg").statics  # nothing left to join
    assert decoder.stats.rejected["orphan_fragment"] == 1
    decoder.feed([tag("s:rx1,c:1682041250") + a1], T + 20, "agg")
    decoder.flush("agg")
    assert decoder.stats.rejected["expired_fragment"] == 2
    assert not decoder.feed([a2], T + 21, "agg").statics
    assert decoder.stats.lines == decoder.stats.accounted == 5
