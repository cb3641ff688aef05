"""Event times a line states: believable ones are used, impossible ones rejected, and
messages timed by their arrival are counted (``untimed``)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce
from operator import xor

import pytest
from pyais.encode import encode_dict

from mda.ingest import REASONS, Decoder
from mda.ingest.dedupe import MAX_CLOCK_LEAD

T = 1_700_000_000.0  # arrival time of every batch below (2023-11-14)
Y1990 = 631_152_000.0
TYPE1 = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"  # mmsi 371798000
TYPE1B = "!AIVDM,1,1,,B,16SteH0P00Jt63hHaa6SagvJ087r,0*41"  # another vessel


def nmea(body: str, start: str = "!") -> str:
    return f"{start}{body}*{reduce(xor, body.encode(), 0):02X}"


def tag(body: str) -> str:
    return f"\\{body}*{reduce(xor, body.encode(), 0):02X}\\"


def pghp(moment: datetime) -> str:
    m = moment
    return nmea(
        f"PGHP,1,{m.year},{m.month},{m.day},{m.hour},{m.minute},{m.second},0,231,45,992190934,1,4A",
        "$",
    )


def type5(mmsi: int, seq: int) -> list[str]:
    parts = encode_dict(
        {"type": 5, "mmsi": mmsi, "shipname": "TEST", "ship_type": 70},
        talker_id="AI",
        radio_channel="A",
        seq_id=seq,
    )
    assert len(parts) == 2
    return parts


def reasons(decoder: Decoder) -> dict[str, int]:
    return {k: v for k, v in decoder.stats.rejected.items() if v}


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_the_limits_are_shared_and_documented():
    from mda.ingest.nmea import MIN_EVENT_TIME

    assert MAX_CLOCK_LEAD == 60.0
    assert MIN_EVENT_TIME == Y1990 and utc(Y1990) == datetime(1990, 1, 1, tzinfo=UTC)
    assert {"future_time", "bad_time"} <= set(REASONS)


@pytest.mark.parametrize(
    "line, reason",
    [
        (tag(f"s:rx,c:{int(T) + 61}") + TYPE1, "future_time"),
        (tag(f"s:rx,c:{int(T) * 1000 + 3_600_000}") + TYPE1, "future_time"),  # milliseconds
        (tag("s:rx,c:99999999999") + TYPE1, "future_time"),  # the year 5138
        (TYPE1 + f",s22,d-080,r003669946,{int(T) + 86_400}", "future_time"),  # USCG epoch
        (tag("s:rx,c:500000000") + TYPE1, "bad_time"),  # 1985
        (TYPE1 + ",s22,d-080,r003669946,500000000", "bad_time"),
    ],
)
def test_impossible_event_times_are_rejected(line, reason):
    decoder = Decoder()
    batch = decoder.feed([line], T, "feed")
    assert reasons(decoder) == {reason: 1} and batch.rejected == 1
    assert not batch.positions and not batch.raw


def test_times_within_the_clock_lead_are_kept():
    decoder = Decoder()
    lines = [tag(f"s:rx,c:{int(T) + 60}") + TYPE1, tag("s:rx,c:631152000") + TYPE1B]
    batch = decoder.feed(lines, T, "feed")
    assert [p.ts for p in batch.positions] == [T + 60, Y1990]
    assert not reasons(decoder)


def test_pghp_times_are_checked_and_the_pghp_line_shares_the_fate():
    decoder = Decoder()
    lines = [
        pghp(utc(T + 7200)),
        TYPE1,
        pghp(datetime(1989, 12, 31, 23, 59, 59)),
        TYPE1B,
        pghp(utc(T - 5)),
        TYPE1,
    ]
    batch = decoder.feed(lines, T, "dma")
    assert reasons(decoder) == {"future_time": 2, "bad_time": 2}
    (p,) = batch.positions
    assert p.ts == T - 5
    assert decoder.stats.lines == decoder.stats.accounted == 6


def test_a_far_future_line_does_not_move_time_for_the_others():
    # The stored records are what time-driven consumers see: none of them is ahead.
    decoder = Decoder()
    lines = [
        tag(f"s:a,c:{int(T) - 10}") + TYPE1,
        tag("s:b,c:99999999999") + TYPE1B,
        tag(f"s:a,c:{int(T) - 5}") + TYPE1B,
    ]
    batch = decoder.feed(lines, T, "feed")
    assert max(p.ts for p in batch.positions) == T - 5
    assert max(r.ts for r in batch.raw) == T - 5
    assert reasons(decoder) == {"future_time": 1}


def test_a_future_multipart_message_is_rejected_whole():
    # Tag-block group: the later part inherits its first part's time, and goes with it.
    a1, a2 = type5(419000001, 3)
    body1, body2 = f"g:1-2-77,s:rx,c:{int(T) + 3600}", "g:2-2-77"
    decoder = Decoder()
    batch = decoder.feed([tag(body1) + a1, tag(body2) + a2], T, "feed")
    assert not batch.statics
    assert reasons(decoder) == {"future_time": 2}
    assert decoder.pending_lines == 0


def test_the_check_can_be_turned_off_for_accelerated_feeds():
    decoder = Decoder(max_clock_lead=None)
    batch = decoder.feed([tag(f"s:rx,c:{int(T) + 7200}") + TYPE1], T, "demo")
    (p,) = batch.positions
    assert p.ts == T + 7200
    # The floor stays.
    decoder.feed([tag("s:rx,c:500000000") + TYPE1B], T, "demo")
    assert reasons(decoder) == {"bad_time": 1}


def test_a_larger_lead_is_allowed_when_configured():
    decoder = Decoder(max_clock_lead=3600.0)
    line = tag(f"s:rx,c:{int(T) + 1800}") + TYPE1
    assert len(decoder.feed([line], T, "rx").positions) == 1


# --------------------------------------------------------------------------- untimed


def test_messages_timed_by_arrival_are_counted_untimed():
    a1, a2 = type5(419000001, 3)  # no time on either part
    b1, b2 = type5(419000002, 4)
    lines = [
        TYPE1,  # untimed
        tag(f"s:rx,c:{int(T) - 1}") + TYPE1B,  # tag block
        TYPE1B + f",r003669946,{int(T) - 2}",  # USCG
        pghp(utc(T - 30)),
        TYPE1,  # $PGHP (a new message: 30 s)
        a1,
        a2,  # untimed, two lines
        tag(f"s:rx,c:{int(T) - 3}") + b1,
        tag("s:rx") + b2,  # first part states the time
        "$GPGGA,1*00",  # rejected: not a message
    ]
    decoder = Decoder(dedupe_window=0)
    batch = decoder.feed(lines, T, "feed")
    s = decoder.stats
    assert s.messages == 6 and reasons(decoder) == {"not_ais": 1}
    assert s.untimed == 2
    untimed = [r for r in batch.raw if r.ts == T]
    assert len(untimed) == 2
    assert s.as_dict()["untimed"] == 2
    assert any(line.split()[:2] == ["untimed", "2"] for line in s.summary_lines())


def test_untimed_copies_are_duplicates_not_untimed():
    decoder = Decoder()
    decoder.feed([TYPE1], T, "rx1")
    decoder.feed([TYPE1], T + 1, "rx2")
    s = decoder.stats
    assert (s.messages, s.duplicates, s.untimed) == (1, 1, 1)


def test_a_log_without_timestamps_is_all_untimed():
    decoder = Decoder()
    decoder.feed([TYPE1, TYPE1B], T, "file")
    s = decoder.stats
    assert s.untimed == s.messages == 2
