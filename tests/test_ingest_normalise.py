"""Normalisation: the bit-level path agrees with pyais, and "not available" is None."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from pyais.bit_vector import bit_vector
from pyais.encode import encode_dict
from pyais.messages import MSG_CLASS

from mda.ingest import Decoder
from mda.ingest.normalise import BIT_POSITION_TYPES, MIN_BITS, position_from_bits, to_position

DATA = Path(__file__).parent / "data"
T = 1_700_000_000.0


def corpus_sentences():
    """Every single-sentence AIS payload of the test corpora, with its fill bits."""
    texts = [
        gzip.open(DATA / "amsa/ais.txt.gz", "rt", encoding="latin-1").read(),
        (DATA / "dma/stream_example.txt").read_text(),
        (DATA / "gpsd/sample.aivdm").read_text(encoding="latin-1"),
        (DATA / "libais/typeexamples.nmea").read_text(),
        (DATA / "amsa/exact-earth-with-tag-block.txt").read_text(),
    ]
    for text in texts:
        for line in text.splitlines():
            line = line[line.find("!") :] if "!" in line else ""
            f = line.split("*")[0].split(",")
            if len(f) == 7 and f[1] == "1" and f[5] and f[6].isdigit() and int(f[6]) <= 5:
                yield f[5].encode(), int(f[6])


def test_bit_level_positions_equal_pyais_decoding_on_every_corpus_message():
    checked = 0
    for payload, fill in corpus_sentences():
        bv = bit_vector(payload, fill)
        if len(bv) < 38:
            continue
        msg_type = bv.get(0, 6)
        if msg_type not in BIT_POSITION_TYPES or len(bv) < MIN_BITS[msg_type]:
            continue
        ours = position_from_bits(bv._value, len(bv), msg_type, T, "x")
        theirs = to_position(MSG_CLASS[msg_type].from_vector(bv), msg_type, T, "x")
        assert ours == theirs, payload
        checked += 1
    assert checked > 25_000


def decode(data: dict, **kw):
    lines = encode_dict(data, talker_id="AI", radio_channel="A", seq_id=1, **kw)
    decoder = Decoder()
    batch = decoder.feed(lines, T, "rx")
    return decoder, batch


@pytest.mark.parametrize(
    "speed, course, heading, turn, expect",
    [
        (102.3, 360.0, 511, -128, (None, None, None, None)),
        (102.2, 359.9, 359, 0, (102.2, 359.9, 359, 0.0)),
        (0.0, 0.0, 0, 127, (0.0, 0.0, 0, None)),
        (5.0, 10.0, 10, -127, (5.0, 10.0, 10, None)),
    ],
)
def test_class_a_not_available_codes(speed, course, heading, turn, expect):
    data = {
        "type": 1,
        "mmsi": 419001234,
        "lat": -8.5,
        "lon": 73.25,
        "speed": speed,
        "course": course,
        "heading": heading,
        "turn": turn,
        "status": 15,
    }
    _, batch = decode(data)
    (p,) = batch.positions
    assert (p.sog, p.cog, p.heading, p.rot) == expect
    assert (p.lat, p.lon, p.nav_status) == (-8.5, 73.25, 15)


def test_type_27_long_range_units():
    data = {
        "type": 27,
        "mmsi": 419001234,
        "lat": -12.5,
        "lon": 80.1,
        "speed": 12,
        "course": 270,
        "status": 0,
    }
    (p,) = decode(data)[1].positions
    assert (p.lat, p.lon, p.sog, p.cog, p.heading) == (
        -12.5,
        pytest.approx(80.1, abs=2e-3),
        12.0,
        270.0,
        None,
    )
    data.update(speed=63, course=511)
    (p,) = decode(data)[1].positions
    assert (p.sog, p.cog) == (None, None)
    data.update(lat=91, lon=181)
    decoder, batch = decode(data)
    assert not batch.positions and decoder.stats.rejected["no_position"] == 1


def test_type_5_not_available_and_trimming():
    data = {
        "type": 5,
        "mmsi": 419001234,
        "imo": 0,
        "callsign": "VT@@@",
        "shipname": " NAME  ",
        "ship_type": 0,
        "to_bow": 0,
        "to_stern": 0,
        "to_port": 0,
        "to_starboard": 0,
        "month": 0,
        "day": 0,
        "hour": 24,
        "minute": 60,
        "draught": 0,
        "destination": "",
    }
    (s,) = decode(data)[1].statics
    assert (
        s.imo,
        s.callsign,
        s.name,
        s.ship_type,
        s.to_bow,
        s.to_starboard,
        s.eta,
        s.draught,
        s.destination,
    ) == (None, "VT", "NAME", None, None, None, None, None, None)
    data.update(imo=9876543, month=3, day=9, hour=6, minute=5, draught=7.5, to_bow=10)
    (s,) = decode(data)[1].statics
    assert (s.imo, s.eta, s.draught, s.to_bow, s.to_stern) == (9876543, "03-09 06:05", 7.5, 10, 0)


def test_type_24_parts_and_auxiliary_craft():
    (a,) = decode({"type": 24, "mmsi": 419001234, "partno": 0, "shipname": "DHOW"})[1].statics
    assert (a.name, a.callsign, a.ship_type) == ("DHOW", None, None)
    (b,) = decode(
        {
            "type": 24,
            "mmsi": 419001234,
            "partno": 1,
            "ship_type": 37,
            "callsign": "AT1",
            "to_bow": 3,
            "to_stern": 9,
            "to_port": 1,
            "to_starboard": 2,
        }
    )[1].statics
    assert (b.name, b.callsign, b.ship_type, b.to_bow, b.to_starboard) == (None, "AT1", 37, 3, 2)
    (aux,) = decode(
        {
            "type": 24,
            "mmsi": 984190001,
            "partno": 1,
            "ship_type": 50,
            "callsign": "AUX",
            "mothership_mmsi": 419001234,
        }
    )[1].statics
    assert (aux.callsign, aux.to_bow, aux.to_stern) == ("AUX", None, None)


def test_type_19_and_21_give_a_position_and_static_data():
    _, batch = decode(
        {
            "type": 19,
            "mmsi": 419001234,
            "lat": 6.9,
            "lon": 79.8,
            "speed": 4.5,
            "course": 90,
            "heading": 91,
            "shipname": "LANKA",
            "ship_type": 30,
            "to_bow": 5,
            "to_stern": 5,
            "to_port": 2,
            "to_starboard": 2,
        }
    )
    (p,), (s,) = batch.positions, batch.statics
    assert (p.msg_type, p.sog, p.heading, s.name, s.ship_type) == (19, 4.5, 91, "LANKA", 30)
    _, batch = decode(
        {
            "type": 21,
            "mmsi": 994190001,
            "lat": 6.9,
            "lon": 79.8,
            "name": "COLOMBO FAIRWAY BUOY",
            "name_ext": "NORTH",
        }
    )
    (p,), (s,) = batch.positions, batch.statics
    assert (p.msg_type, p.sog, s.name) == (21, None, "COLOMBO FAIRWAY BUOYNORTH")
    # No position, but the name still counts: static only, not rejected.
    decoder, batch = decode(
        {"type": 21, "mmsi": 994190001, "lat": 91, "lon": 181, "name": "OFF STATION"}
    )
    assert not batch.positions and batch.statics[0].name == "OFF STATION"
    assert not decoder.stats.rejected and decoder.stats.messages == 1


def test_latitude_out_of_range_is_rejected():
    # gpsd's first type 1 sample with its latitude bits (offset 89, 27 bits) set to 100.
    v = bit_vector(b"15RTgt0PAso;90TKcjM8h6g208CQ", 0)._value
    assert position_from_bits(v, 168, 1, T, "x").lat == pytest.approx(48.381633)
    v = (v & ~(0x7FFFFFF << 52)) | ((100 * 600_000) << 52)
    assert position_from_bits(v, 168, 1, T, "x") == "out_of_range"


def test_type_24_part_b_cut_short_is_a_decode_error():
    from functools import reduce
    from operator import xor

    (line,) = encode_dict(
        {
            "type": 24,
            "mmsi": 419001234,
            "partno": 1,
            "ship_type": 37,
            "callsign": "AT1",
            "to_bow": 3,
            "to_stern": 9,
            "to_port": 1,
            "to_starboard": 2,
        },
        talker_id="AI",
    )
    payload = line.split(",")[5]
    assert len(payload) == 28  # 168 bits
    body = f"AIVDM,1,1,,A,{payload[:27]},2"  # 160 bits: a whole part A, a cut part B
    decoder = Decoder()
    batch = decoder.feed([f"!{body}*{reduce(xor, body.encode(), 0):02X}"], T, "rx")
    assert not batch.statics and decoder.stats.rejected["decode_error"] == 1
