"""Framing: tag blocks, checksums, talkers, USCG metadata, $PGHP, and what is rejected why."""

from __future__ import annotations

import random
from functools import reduce
from operator import xor
from pathlib import Path

import pytest

from mda.ingest import REASONS, Decoder
from mda.ingest.nmea import (
    checksum,
    line_event_time,
    parse_pghp,
    parse_tag_block,
    parse_uscg_trailer,
    tag_epoch,
)

DATA = Path(__file__).parent / "data"
T = 1_700_000_000.0

TYPE1 = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"  # gpsd sample, mmsi 371798000


def nmea(body: str, start: str = "!") -> str:
    """A sentence with a correct checksum."""
    return f"{start}{body}*{reduce(xor, body.encode(), 0):02X}"


def tag(body: str) -> str:
    return f"\\{body}*{reduce(xor, body.encode(), 0):02X}\\"


def one(line: str, **kw):
    decoder = Decoder(**kw)
    batch = decoder.feed([line], T, "feed")
    return decoder, batch


def reasons(decoder: Decoder) -> dict[str, int]:
    return {k: v for k, v in decoder.stats.rejected.items() if v}


def test_checksum_matches_a_plain_xor_for_every_length():
    rnd = random.Random(1)
    for n in range(0, 300):
        data = bytes(rnd.randrange(256) for _ in range(n))
        assert checksum(data) == reduce(xor, data, 0)


def test_tag_epoch_tells_seconds_from_milliseconds():
    assert tag_epoch(1418169601) == 1418169601
    assert tag_epoch(1418169601123) == pytest.approx(1418169601.123)
    assert tag_epoch(12) is None  # not a believable receive time


def test_tag_block_fields_and_checksum():
    tb = parse_tag_block(b"g:1-2-1604,s:rORBCOMM008,c:1418169601,T:2014-12-10 00.00.01*37")
    assert (tb.station, tb.ts, tb.group) == ("rORBCOMM008", 1418169601.0, (1, 2, b"1604"))
    assert parse_tag_block(b"s:rORBCOMM008,c:1418169601*00") == "bad_tag_block"
    assert parse_tag_block(b"s:x,c:1418169601") == "bad_tag_block"  # no checksum
    ms = tag("s:r1,c:1418169601500")[1:-1].encode()
    assert parse_tag_block(ms).ts == pytest.approx(1418169601.5)


def test_uscg_trailer_station_and_first_epoch():
    assert parse_uscg_trailer(
        b"d-080,S2118,t050056.00,T56.48,r003669946,1325394060,1325394001"
    ) == ("r003669946", 1325394060.0)
    assert parse_uscg_trailer(b"r08ACERDC,1429287223") == ("r08ACERDC", 1429287223.0)
    assert parse_uscg_trailer(b"s22,d-080") == (None, None)


def test_pghp_gives_the_time_of_the_next_sentence():
    assert parse_pghp(b"$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B") == pytest.approx(
        1276256771.39
    )
    assert parse_pghp(b"$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*00") == "bad_checksum"
    assert parse_pghp(nmea("PGHP,1,2010,2,31,11,46,11,390,,,,1,2B", "$").encode()) == "malformed"
    assert line_event_time(
        "$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B"
    ) == pytest.approx(1276256771.39)


@pytest.mark.parametrize("talker", ["AI", "AB", "BS", "SA", "=I", "AN", "ZZ"])
@pytest.mark.parametrize("kind", ["VDM", "VDO"])
def test_any_talker_vdm_and_vdo(talker, kind):
    line = nmea(f"{talker}{kind},1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0")
    _decoder, batch = one(line)
    (p,) = batch.positions
    assert p.mmsi == 371798000 and p.ts == T and p.source == "feed"
    assert batch.raw[0].line == line


def test_tag_block_time_and_station_make_event_time_and_source():
    line = tag("s:rx7,c:1418169601") + TYPE1
    _, batch = one(line)
    (p,) = batch.positions
    assert (p.ts, p.source, p.receivers) == (1418169601.0, "feed/rx7", ("feed/rx7",))


def test_uscg_metadata_gives_time_and_station():
    _, batch = one(TYPE1 + ",s22,d-080,T12.5,r003669946,1325394060")
    (p,) = batch.positions
    assert (p.ts, p.source) == (1325394060.0, "feed/r003669946")


def test_pghp_times_the_next_sentence_of_its_source_only():
    pghp = "$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,4A*0C"
    pghp = nmea(pghp[1 : pghp.index("*")], "$")
    decoder = Decoder()
    other = decoder.feed([TYPE1.replace("A,15R", "B,15R").replace("*4A", "*49")], T + 1, "other")
    batch = decoder.feed([pghp], T, "dma")
    assert not batch.positions and decoder.pending_lines == 1
    batch = decoder.feed([TYPE1], T, "dma")  # the next line of that feed, in a later batch
    (p,) = batch.positions
    assert p.ts == pytest.approx(1276256771.39)
    assert batch.raw[0].line == pghp + "\n" + TYPE1
    assert other.positions[0].ts == T + 1
    assert decoder.stats.message_lines == 3 and decoder.pending_lines == 0


def test_pghp_without_a_sentence_is_an_orphan_timestamp():
    pghp = nmea("PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,4A", "$")
    decoder = Decoder()
    decoder.feed([pghp, pghp, "$GPGGA,1*00"], T, "dma")
    assert decoder.stats.rejected["orphan_timestamp"] == 1
    decoder.flush()
    assert decoder.stats.rejected["orphan_timestamp"] == 2
    assert decoder.stats.accounted == decoder.stats.lines == 3


@pytest.mark.parametrize(
    "line, reason",
    [
        ("", "empty"),
        ("   \r", "empty"),
        ("x" * 600, "too_long"),
        ("!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\u00e9", "binary"),
        ("hello world", "not_nmea"),
        ("# a comment", "not_nmea"),
        ("$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*76", "not_ais"),
        ("!AIPWR,1,2*00", "not_ais"),
        ("$BSALR,,006,V,V,general failure*62", "not_ais"),
        ("!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4B", "bad_checksum"),
        ("!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0", "malformed"),
        ("!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*ZZ", "malformed"),
        (nmea("AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ"), "malformed"),  # 6 fields
        (nmea("AIVDM,1,2,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0"), "malformed"),  # part 2 of 1
        (nmea("AIVDM,0,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0"), "malformed"),
        (nmea("AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,7"), "malformed"),  # fill bits
        (nmea("AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g2!8CQ,0"), "malformed"),  # not armour
        (nmea("AIVDM,1,1,,B,,0"), "empty_payload"),
        ("\\s:rx,c:1418169601*00\\" + TYPE1, "bad_tag_block"),
        ("\\s:rx,c:1418169601" + TYPE1, "bad_tag_block"),
        (tag("s:rx,c:soon") + TYPE1, "bad_tag_block"),
        (nmea("AIVDM,1,1,,A,0000000000000000000000000000,0"), "unknown_type"),  # id 0
        (nmea("AIVDM,1,1,,A,t000000000000000000000000000,0"), "unknown_type"),  # id 60
        (nmea("AIVDM,1,1,,A,1000,0"), "decode_error"),  # 24 bits
        (nmea("AIVDM,1,1,,A,15RTgt0PAso;90TKcj,0"), "decode_error"),  # type 1 cut at 108 bits
        ("!AIVDM,1,1,,A,402Fha0000Htt<tSF0l4Q@000d20,0*65", "no_position"),  # gpsd: 91/181
        ("!AIVDM,1,1,,B,4>O7m7Iu@<9qUfbtm`vSnwvH20S8,0*46", "out_of_range"),  # gpsd: 109 N 205 E
    ],
)
def test_rejections_name_their_reason(line, reason):
    decoder, batch = one(line)
    assert reasons(decoder) == {reason: 1}
    assert batch.rejected == 1
    assert reason in REASONS
    assert not batch.positions and not batch.raw


def test_junk_after_the_checksum_that_is_not_uscg_metadata_is_ignored():
    _, batch = one(TYPE1 + "\\x0d\\x0a")
    assert len(batch.positions) == 1


def test_not_available_codes_become_none():
    # Type 1 from gpsd's sample: heading 511, turn -128 ("n/a").
    _, batch = one("!AIVDM,1,1,,A,16SteH0P00Jt63hHaa6SagvJ087r,0*42")
    (p,) = batch.positions
    assert p.heading is None and p.rot is None and p.sog == 0.0 and p.cog == 93.4
    # Type 18, heading 511.
    _, batch = one("!AIVDM,1,1,,A,B52K>;h00Fc>jpUlNV@ikwpUoP06,0*4C")
    (p,) = batch.positions
    assert p.heading is None and p.nav_status is None and p.msg_type == 18


def test_pyais_mixed_file_counts_every_line():
    lines = (DATA / "pyais/mixed.txt").read_text().splitlines()
    decoder = Decoder()
    batch = decoder.feed(lines, T, "mixed")
    decoder.flush()
    s = decoder.stats
    assert s.lines == s.accounted == len(lines)
    assert s.messages == len(batch.raw) == 10
    assert s.rejected["not_ais"] >= 1 and s.rejected["not_nmea"] >= 1


def test_sentences_glued_by_a_bare_carriage_return_are_not_silently_halved():
    decoder, batch = one(TYPE1 + "\r" + "!AIVDM,1,1,,B,16SteH0P00Jt63hHaa6SagvJ087r,0*41")
    assert reasons(decoder) == {"malformed": 1} and not batch.positions


def test_line_event_time_for_replay_pacing():
    assert line_event_time(tag("s:r,c:1418169601") + TYPE1) == 1418169601.0
    assert line_event_time(TYPE1 + ",d-080,r003669946,1325394060") == 1325394060.0
    assert line_event_time(TYPE1) is None
    assert line_event_time("garbage \xff") is None


# --------------------------------------------------------------------------- control characters
# A NUL in an archived line makes PostgreSQL refuse the whole COPY batch; ESC, tab and
# the like have no place in NMEA either. Whitespace around the line is stripped.


@pytest.mark.parametrize(
    "line",
    [
        TYPE1 + "\x00",  # after the checksum: was ignored
        TYPE1 + "\x00,s22,d-080,r003669946,1325394060",  # inside USCG metadata
        TYPE1 + ",s22,d-080,r0036\x1b69946,1325394060",  # ESC in the station
        tag("s:rx\x007,c:1418169601") + TYPE1,  # NUL in the tag-block station
        "\x00" + TYPE1,
        TYPE1.replace(",,A,", ",\x00,A,"),  # in the (unchecked) sequence id
        TYPE1 + "\tjunk",
        TYPE1 + "\x7f",
        nmea("PGHP,1,2010,6,11,11,46,11,390,231,45,992\x00,1,4A", "$"),
    ],
)
def test_control_characters_are_binary_and_never_reach_a_record(line):
    decoder = Decoder()
    batch = decoder.feed([line, TYPE1.replace("*4A", "*4A  ")], T, "feed")
    assert reasons(decoder) == {"binary": 1}
    (p,) = batch.positions  # the clean line after it is untouched
    assert p.source == "feed" and [r.line for r in batch.raw] == [TYPE1]
    assert decoder.stats.accounted == decoder.stats.lines == 2


def test_surrounding_whitespace_is_not_a_control_character():
    _, batch = one(" \t" + tag("s:rx7,c:1418169601") + TYPE1 + " \r\n")
    (p,) = batch.positions
    assert p.source == "feed/rx7" and batch.raw[0].line == tag("s:rx7,c:1418169601") + TYPE1
