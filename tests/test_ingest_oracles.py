"""The decoder against other projects' expected output (tests/data, see its README).

- gpsd's ``sample.aivdm`` -> ``sample.aivdm.js.chk``: every field we store;
- libais ``tagblock.nmea`` (+ .json): tag-block times, stations and group assembly;
- libais ``typeexamples.nmea`` (+ .json): USCG metadata times and stations;
- DMA ``stream_example.txt``: ``$PGHP`` times, 2010-06-11;
- AMSA ``exact-earth-with-tag-block.txt``: satellite tag blocks, groups without ``s:``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mda.ingest import Decoder, PositionReport, RawSentence, VesselInfo

DATA = Path(__file__).parent / "data"
RECV_TS = 1_700_000_000.0  # an arrival time no test file states


def decode_lines(
    lines: list[str], source: str = "feed", **options
) -> tuple[Decoder, list[PositionReport], list[VesselInfo], list[RawSentence]]:
    decoder = Decoder(**options)
    batch = decoder.feed(lines, RECV_TS, source)
    decoder.flush()
    assert decoder.stats.lines == decoder.stats.accounted == len(lines)
    return decoder, batch.positions, batch.statics, batch.raw


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="latin-1").splitlines()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- gpsd


def _gpsd_expected() -> list[dict]:
    return [json.loads(line) for line in (DATA / "gpsd/sample.aivdm.js.chk").open()]


def _none_if(value, *codes):
    return None if value in codes else value


@pytest.fixture(scope="module")
def gpsd_decoded():
    # De-duplication off: the sample repeats two sentences on purpose and gpsd, a
    # decoder, reports both.
    _, positions, statics, _ = decode_lines(read_lines(DATA / "gpsd/sample.aivdm"), dedupe_window=0)
    by_key_pos: dict[tuple[int, int], list[PositionReport]] = defaultdict(list)
    for p in positions:
        by_key_pos[(p.msg_type, p.mmsi)].append(p)
    by_key_static: dict[tuple[int, int], list[VesselInfo]] = defaultdict(list)
    for s in statics:
        by_key_static[(s.msg_type, s.mmsi)].append(s)
    return by_key_pos, by_key_static


def test_gpsd_positions_match_every_stored_field(gpsd_decoded):
    by_key, _ = gpsd_decoded
    checked = 0
    for exp in _gpsd_expected():
        t = exp["type"]
        if t not in (1, 2, 3, 4, 18, 19, 21, 27):
            continue
        key = (t, exp["mmsi"])
        if (
            exp["lat"] == 91.0
            or exp["lon"] == 181.0
            or not (-90 <= exp["lat"] <= 90 and -180 <= exp["lon"] <= 180)
        ):
            # gpsd prints the "not available" codes and impossible values as they are;
            # we do not store such a message as a position at all.
            assert not by_key.get(key), f"{key}: no position expected"
            continue
        assert by_key.get(key), f"{key}: position missing"
        got = by_key[key].pop(0)
        where = f"type {t} mmsi {exp['mmsi']}"
        # gpsd prints degrees to 7 decimals (4 for type 27's 1/10' resolution),
        # pyais rounds to 6.
        tolerance = 6e-5 if t == 27 else 2e-6
        assert got.lat == pytest.approx(exp["lat"], abs=tolerance), where
        assert got.lon == pytest.approx(exp["lon"], abs=tolerance), where
        assert got.accuracy == exp["accuracy"], where
        if t in (1, 2, 3, 18, 19):
            assert got.sog == _none_if(exp["speed"], 102.3), where
            assert got.cog == _none_if(exp["course"], 360.0), where
            assert got.heading == _none_if(exp["heading"], 511), where
        elif t == 27:
            # Long range: whole knots and degrees, 63 and 511 mean "not available".
            assert got.sog == _none_if(exp["speed"], 63), where
            assert got.cog == _none_if(exp["course"], 511), where
            assert got.heading is None
        else:  # 4 base station, 21 aid to navigation: fixed, no motion
            assert (got.sog, got.cog, got.heading) == (None, None, None), where
        if t in (1, 2, 3, 27):
            assert got.nav_status == exp["status"], where
        else:
            assert got.nav_status is None, where
        if t in (1, 2, 3):
            turn = exp["turn"]
            if turn in ("nan", "n/a", "fastleft", "fastright"):
                assert got.rot is None, where
            else:
                assert got.rot == pytest.approx(float(turn), abs=0.5), where
        checked += 1
    assert checked == 16  # 18 position reports in the oracle, 2 without a usable position


def test_gpsd_static_data_match_every_stored_field(gpsd_decoded):
    _, by_key = gpsd_decoded
    checked = 0
    for exp in _gpsd_expected():
        t = exp["type"]
        if t not in (5, 19, 21, 24):
            continue
        where = f"type {t} mmsi {exp['mmsi']}"
        if t == 24:
            # gpsd merges parts A and B into one report; we emit each part as it comes
            # (consumers merge, never overwriting with None).
            parts = by_key[(24, exp["mmsi"])]
            name = next(p.name for p in parts if p.name)
            got = next(p for p in parts if p.callsign)
            assert name == exp["shipname"], where
        else:
            got = by_key[(t, exp["mmsi"])].pop(0)
            expected_name = exp["name"] if t == 21 else exp["shipname"]
            assert got.name == (expected_name or None), where
        if t in (5, 24):
            assert got.callsign == (exp["callsign"] or None), where
        if t in (5, 19, 24):
            assert got.ship_type == _none_if(exp["shiptype"], 0), where
        dims = (exp["to_bow"], exp["to_stern"], exp["to_port"], exp["to_starboard"])
        expected_dims = (None,) * 4 if dims == (0, 0, 0, 0) else dims
        assert (got.to_bow, got.to_stern, got.to_port, got.to_starboard) == expected_dims, where
        if t == 5:
            assert got.imo == _none_if(int(exp["imo"]), 0), where
            assert got.draught == _none_if(exp["draught"], 0.0), where
            assert got.destination == (exp["destination"] or None), where
            # gpsd writes ETA as "MM-DDTHH:MMZ"; "00-00T24:60Z" is "not available".
            m = re.fullmatch(r"(\d\d)-(\d\d)T(\d\d):(\d\d)Z", exp["eta"])
            month, day, hour, minute = (int(g) for g in m.groups())
            if month == 0 or day == 0 or hour > 23 or minute > 59:
                assert got.eta is None, where
            else:
                assert got.eta == f"{month:02d}-{day:02d} {hour:02d}:{minute:02d}", where
        checked += 1
    assert checked >= 8


def test_gpsd_sample_text_fields_are_trimmed():
    _, _, statics, _ = decode_lines(read_lines(DATA / "gpsd/sample.aivdm"), dedupe_window=0)
    for s in statics:
        for value in (s.name, s.callsign, s.destination):
            assert value is None or (value and value == value.strip() and "@" not in value)


# --------------------------------------------------------------------------- libais


def test_libais_tagblock_times_stations_and_groups():
    expected = [json.loads(line) for line in (DATA / "libais/tagblock.json").open()]
    _, positions, statics, raws = decode_lines(
        read_lines(DATA / "libais/tagblock.nmea"), source="orbcomm"
    )
    got = {(r.mmsi, r.msg_type, iso(r.ts), r.source) for r in raws}
    want = {
        (
            e["mmsi"],
            e["type"],
            e["tagblock_timestamp"].replace(".000000Z", ".000000Z"),
            f"orbcomm/{e['tagblock_station']}",
        )
        for e in expected
    }
    assert got == want
    # The type 5 spans two sentences interleaved with another station's sentence;
    # the second part carries only g:2-2-1604 and inherits station and time.
    (static,) = statics
    assert static.name == "ROSINANTE" and static.callsign == "XPD5019"
    assert static.source == "orbcomm/rORBCOMM008"
    assert static.ts == 1418169601.0
    assert len(positions) == 3


def test_libais_typeexamples_uscg_times_and_stations():
    lines = read_lines(DATA / "libais/typeexamples.nmea")
    expected = [json.loads(line) for line in (DATA / "libais/typeexamples.json").open()]
    decoder, _positions, statics, raws = decode_lines(lines, source="uscg")
    by_line = {r.line: r for r in raws}
    assert len(raws) >= 20
    for line, exp in zip(lines, expected):
        raw = by_line.get(line)
        if raw is None:  # position messages without a usable position: counted, not stored
            continue
        assert (raw.mmsi, raw.msg_type) == (exp["mmsi"], exp["type"])
        # The receive time is the first epoch after the metadata fields.
        epoch = int(re.search(r",r\w+,(\d{10})", line).group(1))
        assert raw.ts == epoch
        station = re.search(r",(r\w+),", line).group(1)
        assert raw.source == f"uscg/{station}"
    second = by_line[lines[1]]  # (the first line is a type 4 without a position)
    assert iso(second.ts) == "2012-01-01T05:01:00.000000Z"
    assert decoder.stats.rejected["no_position"] == 1  # the type 4 with lat 91 / lon 181
    ship = next(s for s in statics if s.mmsi == 249190000)
    assert (ship.name, ship.callsign, ship.imo, ship.destination) == (
        "RUTH THERESA",
        "9HMQ9",
        9383663,
        "BOSTON,USA",
    )
    assert ship.draught == pytest.approx(7.8)


# --------------------------------------------------------------------------- DMA $PGHP


def test_dma_gatehouse_times_are_2010_06_11():
    lines = read_lines(DATA / "dma/stream_example.txt")
    decoder, positions, _statics, raws = decode_lines(lines, source="dma")
    assert decoder.stats.messages + decoder.stats.rejected["no_position"] // 2 == 4051
    start = datetime(2010, 6, 11, 11, 46, tzinfo=UTC).timestamp()
    assert all(start <= r.ts < start + 60 for r in raws)
    assert all(start <= p.ts < start + 60 for p in positions)
    # The first line: $PGHP,1,2010,6,11,11,46,11,390,... then the sentence it times.
    assert raws[0].ts == pytest.approx(start + 11.390)
    assert raws[0].line.startswith("$PGHP,1,2010,6,11,11,46,11,390,")
    # A two-sentence type 5 with one $PGHP before it: three lines, one message.
    multi = next(r for r in raws if r.line.count("\n") == 2)
    assert multi.msg_type == 5
    assert decoder.stats.message_lines + decoder.stats.rejected_lines == len(lines)


# --------------------------------------------------------------------------- AMSA exactEarth


def test_exact_earth_satellite_tag_blocks():
    lines = read_lines(DATA / "amsa/exact-earth-with-tag-block.txt")
    decoder, positions, _statics, raws = decode_lines(lines, source="ee")
    s = decoder.stats
    assert s.messages == 200 and not s.rejected
    assert {p.source for p in positions} <= {"ee", "ee/rEV02"}
    assert sum(1 for p in positions if 55 < p.lon < 110 and -40 < p.lat < 25) >= 174
    # A group whose first part has s: and c: and whose second part has only g:.
    first_group = next(r for r in raws if r.line.startswith("\\g:1-2-3985"))
    assert first_group.source == "ee/rEV02" and first_group.ts == 1334337317.0
    # A group without s: at all stays with the feed.
    no_station = next(r for r in raws if r.line.startswith("\\g:1-2-3987"))
    assert no_station.source == "ee" and no_station.ts == 1333239510.0
