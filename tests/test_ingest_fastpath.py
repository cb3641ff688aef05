"""The fast path (position reports of types 1, 2, 3, 18, 19, 27 and static data of types 5
and 24 read straight from their bits) gives exactly the records the pyais path gives: on
every line of the real recordings in tests/data, on the oracle files' sentences, on edge
cases and on random payloads."""

from __future__ import annotations

import gzip
import random
from dataclasses import astuple
from functools import reduce
from operator import xor
from pathlib import Path

import pytest
from pyais.bit_vector import bit_vector
from pyais.encode import encode_dict
from pyais.messages import MSG_CLASS

from mda.ingest import Decoder
from mda.ingest.nmea import ARMOR_CHARS
from mda.ingest.normalise import (
    BIT_POSITION_TYPES,
    MIN_BITS,
    MIN_BITS_24B,
    dearmour,
    position_from_bits,
    static_from_bits,
    text_from_bits,
    to_position,
    to_vessel_info,
    type19_from_bits,
)

DATA = Path(__file__).parent / "data"
T = 1_700_000_000.0
FAST_TYPES = (1, 2, 3, 18, 19, 27)
STATIC_FAST_TYPES = (5, 24)

# Every NMEA recording in tests/data, and the sentences the oracle files were made from.
RECORDINGS = [
    "amsa/ais.txt.gz",
    "amsa/exact-earth-with-tag-block.txt",
    "dma/stream_example.txt",
    "gpsd/sample.aivdm",
    "libais/tagblock.nmea",
    "libais/typeexamples.nmea",
    "pyais/mixed.txt",
    "pyais/nmea_data_sample.txt",
    "derived/norway.nmea",
    "norway/barentswatch_2023-04-20.nmea.gz",
    "norway/barentswatch_2023-04-21.nmea.gz",
    "norway/barentswatch_2023-04-22.nmea.gz",
    "norway/barentswatch_2023-04-23.nmea.gz",
]


def read_lines(name: str) -> list[str]:
    path = DATA / name
    raw = gzip.open(path, "rb").read() if name.endswith(".gz") else path.read_bytes()
    return raw.decode("latin-1").splitlines(True)


def run(lines: list[str], fast: bool, batch: int = 1000, **kw):
    """Everything a decoder gives for the lines, as plain tuples (every field)."""
    d = Decoder(fast_path=fast, max_clock_lead=None, **kw)
    positions, statics, raws = [], [], []
    recv = T
    for i in range(0, len(lines), batch):
        b = d.feed(lines[i : i + batch], recv, "rx")
        positions += b.positions
        statics += b.statics
        raws += b.raw
        recv += 1.0
    d.flush()
    return (
        [astuple(p) for p in positions],
        [astuple(s) for s in statics],
        [astuple(r) for r in raws],
        d.stats.as_dict(),
    )


def assert_same(lines: list[str], **kw) -> tuple[int, int]:
    fast = run(lines, True, **kw)
    slow = run(lines, False, **kw)
    for what, a, b in zip(("positions", "statics", "raw"), fast[:3], slow[:3], strict=True):
        assert len(a) == len(b), what
        for x, y in zip(a, b, strict=True):
            assert x == y, (what, x, y)
    assert fast[3] == slow[3]
    return len(fast[0]), len(fast[1])


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_line_of_the_recordings_gives_the_same_records(name):
    lines = read_lines(name)
    positions, _ = assert_same(lines)
    assert positions > 0 or name.startswith("libais/tagblock")


def test_the_recordings_hold_every_fast_type():
    """So that the test above checks each of them against pyais on real traffic."""
    seen: dict[int, int] = {}
    for name in RECORDINGS:
        d = Decoder(keep_messages=True, max_clock_lead=None)
        b = d.feed(read_lines(name), T, "rx")
        for m in b.messages:
            for record in m[4:6]:
                if record is not None:
                    seen[record.msg_type] = seen.get(record.msg_type, 0) + 1
    assert all(seen.get(t, 0) > 0 for t in FAST_TYPES + STATIC_FAST_TYPES), seen


def single_payloads():
    for name in RECORDINGS:
        for line in read_lines(name):
            line = line[line.find("!") :] if "!" in line else ""
            f = line.split("*")[0].split(",")
            if len(f) == 7 and f[1] == "1" and f[5] and f[6].isdigit() and int(f[6]) <= 5:
                yield f[5].encode(), int(f[6])


def compare_payload(payload: bytes, fill: int) -> bool:
    """The fast path against pyais's message class for one payload (True: it was checked)."""
    if payload.translate(None, ARMOR_CHARS):
        return False
    bv = bit_vector(payload, fill)
    value, nbits = dearmour(payload, fill)
    assert (value, nbits) == (bv._value, len(bv)), payload
    if nbits < 38:
        return False
    msg_type = value >> (nbits - 6)
    if msg_type in STATIC_FAST_TYPES:
        if nbits < MIN_BITS[msg_type]:
            return False
        ours = static_from_bits(value, nbits, msg_type, T, "x")
        if msg_type == 24 and ((value >> (nbits - 40)) & 3) > 1:
            assert ours == "decode_error"  # pyais raises for parts 2 and 3
            return True
        if msg_type == 24 and ((value >> (nbits - 40)) & 3) == 1 and nbits < MIN_BITS_24B:
            return False
        if ours is None:  # left to pyais: a type 5 with its destination cut short
            assert msg_type == 5 and nbits < 422
            return False
        theirs = to_vessel_info(MSG_CLASS[msg_type].from_vector(bv), msg_type, T, "x")
        assert ours == theirs, (payload, fill, ours, theirs)
        return True
    if msg_type not in FAST_TYPES or nbits < MIN_BITS[msg_type]:
        return False
    msg = MSG_CLASS[msg_type].from_vector(bv)
    theirs = to_position(msg, msg_type, T, "x")
    if msg_type == 19:
        ours, static = type19_from_bits(value, nbits, T, "x")
        assert static == to_vessel_info(msg, 19, T, "x"), payload
    else:
        assert msg_type in BIT_POSITION_TYPES
        ours = position_from_bits(value, nbits, msg_type, T, "x")
    assert ours == theirs, (payload, fill, ours, theirs)
    return True


def test_every_single_sentence_payload_field_by_field():
    checked = sum(compare_payload(p, f) for p, f in single_payloads())
    assert checked > 50_000


def test_every_assembled_static_payload_field_by_field():
    """Types 5 (two sentences) and 24 as the decoder assembles them from the recordings."""
    checked = 0
    for name in RECORDINGS:
        d = Decoder(keep_messages=True, max_clock_lead=None, dedupe_window=0)
        for m in d.feed(read_lines(name), T, "rx").messages:
            if m[5] is not None and m[5].msg_type in STATIC_FAST_TYPES:
                payload = m[2]
                for fill in range(6):  # the fill of the last part is not kept: try each
                    value, nbits = dearmour(payload, fill)
                    if static_from_bits(value, nbits, m[5].msg_type, T, "rx") is not None:
                        checked += compare_payload(payload, fill)
    assert checked > 1000


def encode(data: dict) -> list[str]:
    return encode_dict(data, talker_id="AI", radio_channel="A", seq_id=1)


def sentence(payload: str, fill: int) -> str:
    body = f"AIVDM,1,1,,A,{payload},{fill}"
    return f"!{body}*{reduce(xor, body.encode(), 0):02X}"


EDGES = [
    # lat / lon not available, negative coordinates, the edges of the world
    {"type": 1, "mmsi": 419001234, "lat": 91, "lon": 181},
    {"type": 1, "mmsi": 419001234, "lat": -33.8568, "lon": -151.2153, "turn": -720},
    {"type": 2, "mmsi": 1, "lat": -90, "lon": -180, "speed": 0, "course": 0},
    {"type": 3, "mmsi": 999999999, "lat": 90, "lon": 180, "turn": 127, "status": 15},
    # speed, course, heading and rate of turn not available, and just below
    {"type": 1, "mmsi": 419001234, "speed": 102.3, "course": 360, "heading": 511, "turn": -128},
    {"type": 1, "mmsi": 419001234, "speed": 102.2, "course": 359.9, "heading": 359, "turn": -127},
    {"type": 18, "mmsi": 419001234, "speed": 102.3, "course": 360, "heading": 511},
    {"type": 18, "mmsi": 419001234, "lat": -0.0001, "lon": -0.0001, "accuracy": 1},
    {"type": 18, "mmsi": 419001234, "lat": 91, "lon": 181},
    {"type": 27, "mmsi": 419001234, "lat": -12.5, "lon": -80.1, "speed": 63, "course": 511},
    {"type": 27, "mmsi": 419001234, "lat": 91, "lon": 181, "accuracy": 1, "status": 5},
    {"type": 27, "mmsi": 419001234, "lat": 45.5, "lon": 179.9, "speed": 62, "course": 359},
    {"type": 19, "mmsi": 419001234, "lat": -6.9, "lon": -79.8, "shipname": "A@B", "ship_type": 0},
    {"type": 19, "mmsi": 419001234, "lat": 91, "lon": 181, "shipname": "  LANKA  "},
    {"type": 19, "mmsi": 419001234, "speed": 102.3, "heading": 511, "to_bow": 511, "to_port": 63},
]


@pytest.mark.parametrize("data", EDGES)
def test_edge_cases_give_the_same_records(data):
    lines = encode(data)
    positions, statics = assert_same(lines)
    assert positions + statics >= (0 if data.get("lat") == 91 and data["type"] != 19 else 1)
    payload = lines[0].split(",")[5]
    assert compare_payload(payload.encode(), int(lines[0].split(",")[6][0]))


def test_fill_bits_short_long_and_invalid_payloads():
    (line,) = encode({"type": 1, "mmsi": 419001234, "lat": 12.5, "lon": -45.25, "speed": 3})
    payload = line.split(",")[5]  # 28 characters, 168 bits
    lines = []
    for cut in range(0, 8):  # 168 bits down to 126: below MIN_BITS[1] (137) a decode error
        for fill in range(6):
            lines.append(sentence(payload[: len(payload) - cut], fill))
    for extra in ("0", "00", "w", "0w0w"):  # longer than the standard 168 bits
        for fill in range(6):
            lines.append(sentence(payload + extra, fill))
    lines.append(sentence(payload[:5] + "x" + payload[6:], 0))  # 'x' is not armour
    lines.append(sentence(payload[:5] + "X" + payload[6:], 0))  # nor is 'X'
    lines.append(sentence("", 0))
    lines.append(sentence("1", 0))  # too short for a type and an MMSI
    assert_same(lines)
    positions, _ = assert_same(lines, dedupe_window=0)  # the cuts and fills are not copies
    d = Decoder(dedupe_window=0)
    d.feed(lines, T, "rx")
    assert positions > 20
    assert d.stats.rejected["decode_error"] > 5 and d.stats.rejected["malformed"] == 2


def armour(value: int, nbits: int) -> tuple[str, int]:
    """The payload and fill bits that carry ``nbits`` bits of ``value``."""
    nchars = -(-nbits // 6)
    fill = 6 * nchars - nbits
    v = value << fill
    chars = ARMOR_CHARS.decode()
    return "".join(chars[(v >> (6 * i)) & 63] for i in reversed(range(nchars))), fill


# (offset, width, scale) of the coordinates: random values set there are mostly valid, so
# that the other fields are compared too, not only the reason "out_of_range".
COORDINATES = {
    1: ((61, 28, 600_000), (89, 27, 600_000)),
    18: ((57, 28, 600_000), (85, 27, 600_000)),
    27: ((44, 18, 600), (62, 17, 600)),
    5: (),
    24: (),
}


def test_random_payloads_of_every_fast_type():
    """Random bits behind each type's code, of every length from a little below the
    fewest bits read to a little above the standard length."""
    rnd = random.Random(16)
    checked = 0
    lines = []
    for msg_type in FAST_TYPES + STATIC_FAST_TYPES:
        standard = {27: 96, 19: 312, 5: 424}.get(msg_type, 168)
        coordinates = COORDINATES[{2: 1, 3: 1, 19: 18}.get(msg_type, msg_type)]
        for nbits in range(MIN_BITS[msg_type] - 7, standard + 14):
            for k in range(6):
                value = rnd.getrandbits(nbits - 6) | (msg_type << (nbits - 6))
                if msg_type == 24 and k < 5:  # parts A and B mostly
                    value &= ~(2 << (nbits - 40))
                if k < 5 and coordinates:  # k == 5: random coordinates, mostly out of range
                    (lon_at, lon_w, scale), (lat_at, lat_w, _) = coordinates
                    for at, width, limit in ((lon_at, lon_w, 181), (lat_at, lat_w, 91)):
                        if at + width > nbits:
                            continue
                        raw = round(rnd.uniform(-limit, limit) * scale) % (1 << width)
                        shift = nbits - at - width
                        value = (value & ~(((1 << width) - 1) << shift)) | (raw << shift)
                payload, fill = armour(value, nbits)
                checked += compare_payload(payload.encode(), fill)
                lines.append(sentence(payload, fill))
    assert checked > 1000
    positions, statics = assert_same(lines, dedupe_window=0)
    assert positions > 500 and statics > 50


def test_text_from_bits_trims_as_pyais_text():
    for name in ("LANKA", "  A B  ", "", "@@@@", "AB@CD", "X" * 20, "  @ Y"):
        bv = bit_vector(
            encode({"type": 24, "mmsi": 1, "partno": 0, "shipname": name})[0]
            .split(",")[5]
            .encode(),
            0,
        )
        value = bv._value >> (len(bv) - 160)  # type 24 A: the name is bits 40-159
        theirs = MSG_CLASS[24].from_vector(bv).shipname
        theirs = theirs.partition("@")[0].strip() or None if theirs else None
        assert text_from_bits(value, 20) == theirs, name
