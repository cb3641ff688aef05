"""From decoded AIS to the project's records, with "not available" as None.

Most types arrive as pyais message objects; class A and B positions (1, 2, 3, 18) as
the integer pyais de-armoured their payload into (see ``position_from_bits``).

AIS marks a missing value with a reserved code rather than leaving it out; downstream
stages must never mistake lat 91 or SOG 102.3 for a measurement, so every such code
becomes None here, once. The codes (ITU-R M.1371-5, gpsd's AIVDM notes):

    lat 91, lon 181 (types 27: the same degrees at 1/10' resolution)
    SOG 102.3 kn (type 27: 63 kn), COG 360 (type 27: 511), heading 511,
    ROT -128 (and +-127: "turning fast, no rate known" -> no rate either),
    IMO 0, ship type 0, draught 0, dimensions all 0, ETA month/day 0, hour 24, minute 60,
    text fields padded with '@' (the terminator) and spaces.

Each converter returns a record, or a reason string when the message cannot become
that record (no_position, out_of_range, decode_error); it never raises for odd values.
"""

from __future__ import annotations

from binascii import a2b_base64, b2a_base64
from collections.abc import Callable
from typing import Any

from pyais.messages import ShipType, to_turn

from mda.ingest.records import PositionReport, VesselInfo

__all__ = [
    "BIT_POSITION",
    "BIT_POSITION_TYPES",
    "MIN_BITS",
    "MIN_BITS_24B",
    "POSITION_TYPES",
    "STATIC_TYPES",
    "STATIC_BIT_TYPES",
    "position_from_bits",
    "static_from_bits",
    "type19_from_bits",
    "to_position",
    "to_vessel_info",
]

# Message types that carry a position we store (4 = base station and 21 = aid to
# navigation are kept because they help the map), and those that carry static data.
# 19 and 21 carry both.
POSITION_TYPES = frozenset({1, 2, 3, 4, 18, 19, 21, 27})
STATIC_TYPES = frozenset({5, 19, 21, 24})

# Fewest payload bits that still hold every field we read. pyais fills fields past the
# end with None but returns a *partial* value for a field the payload cuts in half, so
# a shorter message is rejected (decode_error) rather than trusted.
MIN_BITS: dict[int, int] = {
    1: 137,
    2: 137,
    3: 137,  # up to the true heading
    4: 134,  # up to the latitude
    5: 302,  # up to the draught; a cut destination is decoded as far as it goes
    18: 133,  # up to the true heading
    19: 301,  # up to the dimensions
    21: 249,  # up to the dimensions
    24: 160,  # part A: the name; part B needs MIN_BITS_24B
    27: 94,  # up to the course
}

MIN_BITS_24B = 162  # part B, up to the dimensions

_NOT_AVAILABLE_LAT = 91.0
_NOT_AVAILABLE_LON = 181.0


def _text(value: str | None) -> str | None:
    """An AIS text field: '@' ends it, surrounding spaces are padding, empty is None."""
    if not value:
        return None
    return value.partition("@")[0].strip() or None


def _rot(turn: Any) -> float | None:
    # pyais gives degrees per minute as a float, or a TurnRate enum member (a float
    # subclass) for the special codes +-127 and -128, which carry no rate.
    if turn is None or type(turn) is not float:
        return None
    return turn


def _dims(m: Any) -> tuple[int | None, int | None, int | None, int | None]:
    bow, stern, port, starboard = m.to_bow, m.to_stern, m.to_port, m.to_starboard
    if not (bow or stern or port or starboard):
        return None, None, None, None  # all zero: dimensions not available
    return bow, stern, port, starboard


def _eta(month: int | None, day: int | None, hour: int | None, minute: int | None) -> str | None:
    if (
        not (month and day)
        or month > 12
        or day > 31
        or hour is None
        or minute is None
        or hour > 23
        or minute > 59
    ):
        return None
    return f"{month:02d}-{day:02d} {hour:02d}:{minute:02d}"


def _check_position(lat: float | None, lon: float | None) -> str | None:
    """None when the coordinates are usable, else the reason they are not."""
    if lat is None or lon is None:
        return "decode_error"
    if lat == _NOT_AVAILABLE_LAT or lon == _NOT_AVAILABLE_LON:
        return "no_position"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return "out_of_range"
    return None


def _class_a(m: Any, ts: float, source: str) -> PositionReport | str:
    lat, lon = m.lat, m.lon
    bad = _check_position(lat, lon)
    if bad:
        return bad
    sog = m.speed
    cog = m.course
    heading = m.heading
    return PositionReport(
        ts,
        m.mmsi,
        lat,
        lon,
        None if sog == 102.3 else sog,
        None if cog >= 360.0 else cog,
        None if heading > 359 else heading,
        int(m.status),
        m.msg_type,
        source,
        _rot(m.turn),
        m.accuracy,
        (source,),
    )


def _class_b(m: Any, ts: float, source: str) -> PositionReport | str:
    lat, lon = m.lat, m.lon
    bad = _check_position(lat, lon)
    if bad:
        return bad
    sog = m.speed
    cog = m.course
    heading = m.heading
    return PositionReport(
        ts,
        m.mmsi,
        lat,
        lon,
        None if sog == 102.3 else sog,
        None if cog >= 360.0 else cog,
        None if heading > 359 else heading,
        None,
        m.msg_type,
        source,
        None,
        m.accuracy,
        (source,),
    )


def _fixed_station(m: Any, ts: float, source: str) -> PositionReport | str:
    # Base stations (4) and aids to navigation (21) report no motion.
    lat, lon = m.lat, m.lon
    bad = _check_position(lat, lon)
    if bad:
        return bad
    return PositionReport(
        ts,
        m.mmsi,
        lat,
        lon,
        None,
        None,
        None,
        None,
        m.msg_type,
        source,
        None,
        m.accuracy,
        (source,),
    )


def _long_range(m: Any, ts: float, source: str) -> PositionReport | str:
    # Type 27: pyais already scales lat/lon from 1/10 minute to degrees; speed is whole
    # knots (63 = not available) and course whole degrees (511 = not available).
    lat, lon = m.lat, m.lon
    bad = _check_position(lat, lon)
    if bad:
        return bad
    sog = m.speed
    cog = m.course
    return PositionReport(
        ts,
        m.mmsi,
        lat,
        lon,
        None if sog is None or sog >= 63 else float(sog),
        None if cog is None or cog >= 360 else float(cog),
        None,
        int(m.status),
        27,
        source,
        None,
        m.accuracy,
        (source,),
    )


_POSITION: dict[int, Callable[[Any, float, str], PositionReport | str]] = {
    1: _class_a,
    2: _class_a,
    3: _class_a,
    18: _class_b,
    19: _class_b,
    4: _fixed_station,
    21: _fixed_station,
    27: _long_range,
}


# The position reports (types 1, 2, 3, 18, 19 and 27) are most of any feed. They are read
# straight from the payload's bits (``dearmour``: the six-bit armour mapped onto the base64
# alphabet, so that ``binascii`` repacks it in C, then one ``int.from_bytes``) with shifts,
# masks and lookup tables, rather than through a pyais message object: building that
# object (an attrs class whose converters make enums of the status and manoeuvre fields)
# costs several times what the record itself does. The scaling is pyais's (``to_lat_lon``
# and ``to_lat_lon_600`` as integer arithmetic, ``to_turn``, tenths), and
# tests/test_ingest_fastpath.py checks that every such message of the test corpora and
# oracle files gives the same record both ways, field by field. Offsets are ITU-R M.1371
# bit positions counted from the first bit; a message is viewed as 168 bits (type 19: 312,
# type 27: 96), shorter ones padded with zeros past the end, which MIN_BITS keeps clear of
# every field read.
BIT_POSITION_TYPES = frozenset({1, 2, 3, 18, 27})  # type 19 (with static data): type19_from_bits

# armour character -> base64 character (every other byte -> "A": the decoder has checked
# the payload's characters before); base64 takes groups of four characters: pad with
# "A" (six zero bits) and shift the surplus back out.
_ARMOR_VALUE = [
    (c - 56 if c >= 96 else c - 48) if (48 <= c < 88 or 96 <= c < 120) else 0 for c in range(256)
]
_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ARMOR_TO_B64 = bytes(_B64_CHARS[v] for v in _ARMOR_VALUE)
B64_PAD = (b"", b"AAA", b"AA", b"A")
B64_PAD_SHIFT = (0, 18, 12, 6)
# base64 character -> AIS six-bit text character (pyais's table: 0-31 -> "@".."_", 32-63 as is)
_text_table = bytearray(range(256))
for _v, _c in enumerate(_B64_CHARS):
    _text_table[_c] = _v + 64 if _v < 32 else _v
B64_TO_TEXT = bytes(_text_table)
del _text_table, _v, _c


def dearmour(payload: bytes, fill: int) -> tuple[int, int]:
    """(value, bit count) of a six-bit armoured payload; the decoder inlines the same."""
    r = len(payload) & 3
    if r:
        value = (
            int.from_bytes(a2b_base64(payload.translate(ARMOR_TO_B64) + B64_PAD[r]), "big")
            >> B64_PAD_SHIFT[r]
        )
    else:
        value = int.from_bytes(a2b_base64(payload.translate(ARMOR_TO_B64)), "big")
    return value >> fill, 6 * len(payload) - fill


def text_from_bits(value: int, nchars: int) -> str | None:
    """An AIS text field of ``nchars`` six-bit characters (the low 6 * nchars bits of
    ``value``), trimmed as ``_text`` trims pyais's text: None when empty."""
    nbits = 6 * nchars
    pad = -nbits % 24  # whole base64 groups: zero bits after the text, cut off below
    raw = b2a_base64(
        ((value & ((1 << nbits) - 1)) << pad).to_bytes((nbits + pad) // 8, "big"), newline=False
    )
    text = raw[:nchars].translate(B64_TO_TEXT).decode("ascii")
    return text.partition("@")[0].strip() or None


# Field values by raw code, "not available" as None: one index instead of a test and a
# division per field.
_SOG = tuple(None if s == 1023 else s / 10.0 for s in range(1024))
_COG = tuple(None if c >= 3600 else c / 10.0 for c in range(4096))
_HEADING = tuple(None if h > 359 else h for h in range(512))
# 128 (-128): no turn information; 127 / 129 (+-127): turning fast, no rate.
_ROT = tuple(
    None if r in (127, 128, 129) else to_turn(r - 256 if r & 0x80 else r) for r in range(256)
)
# pyais makes codes its ShipType does not know (100-255 but a few) "not available" (0).
_SHIP_TYPE = tuple(int(ShipType.from_value(t)) or None for t in range(256))
_SOG_27 = tuple(None if s >= 63 else float(s) for s in range(64))
_COG_27 = tuple(None if c >= 360 else float(c) for c in range(512))


def _class_a_bits(value: int, nbits: int, msg_type: int, ts: float, source: str):
    v = value if nbits == 168 else value << (168 - nbits) if nbits < 168 else value >> (nbits - 168)
    # Each shift is 168 - offset - width of the field.
    lon = (v >> 79) & 0xFFFFFFF  # offset 61, 28 bits, signed
    lat = (v >> 52) & 0x7FFFFFF  # offset 89, 27 bits, signed
    # pyais's to_lat_lon for integers: round(raw / 600000, 6) as exact integer arithmetic.
    lon = ((10 * (lon - 0x10000000 if lon & 0x8000000 else lon) + 3) // 6) / 1e6
    lat = ((10 * (lat - 0x8000000 if lat & 0x4000000 else lat) + 3) // 6) / 1e6
    if lat == 91.0 or lon == 181.0:
        return "no_position"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return "out_of_range"
    return PositionReport(
        ts,
        (v >> 130) & 0x3FFFFFFF,  # mmsi: offset 8, 30 bits
        lat,
        lon,
        _SOG[(v >> 108) & 0x3FF],  # offset 50, 10 bits
        _COG[(v >> 40) & 0xFFF],  # offset 116, 12 bits
        _HEADING[(v >> 31) & 0x1FF],  # offset 128, 9 bits
        (v >> 126) & 0xF,  # status: offset 38, 4 bits
        msg_type,
        source,
        _ROT[(v >> 118) & 0xFF],  # offset 42, 8 bits, signed
        (v >> 107) & 1 == 1,  # accuracy: offset 60
        (source,),
    )


def _class_b_bits(value: int, nbits: int, msg_type: int, ts: float, source: str):
    # Class B (18, and 19's first 168 bits) has 8 reserved bits where class A has status
    # and rate of turn.
    v = value if nbits == 168 else value << (168 - nbits) if nbits < 168 else value >> (nbits - 168)
    lon = (v >> 83) & 0xFFFFFFF  # offset 57
    lat = (v >> 56) & 0x7FFFFFF  # offset 85
    lon = ((10 * (lon - 0x10000000 if lon & 0x8000000 else lon) + 3) // 6) / 1e6
    lat = ((10 * (lat - 0x8000000 if lat & 0x4000000 else lat) + 3) // 6) / 1e6
    if lat == 91.0 or lon == 181.0:
        return "no_position"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return "out_of_range"
    return PositionReport(
        ts,
        (v >> 130) & 0x3FFFFFFF,
        lat,
        lon,
        _SOG[(v >> 112) & 0x3FF],  # offset 46
        _COG[(v >> 44) & 0xFFF],  # offset 112
        _HEADING[(v >> 35) & 0x1FF],  # offset 124
        None,
        msg_type,
        source,
        None,
        (v >> 111) & 1 == 1,  # accuracy: offset 56
        (source,),
    )


def _long_range_bits(value: int, nbits: int, msg_type: int, ts: float, source: str):
    # Type 27: 96 bits; lat/lon in 1/10 minute (pyais's to_lat_lon_600), speed whole
    # knots (63 = not available), course whole degrees (511 = not available).
    v = value if nbits == 96 else value << (96 - nbits) if nbits < 96 else value >> (nbits - 96)
    lon = (v >> 34) & 0x3FFFF  # offset 44, 18 bits, signed
    lat = (v >> 17) & 0x1FFFF  # offset 62, 17 bits, signed
    lon = ((10000 * (lon - 0x40000 if lon & 0x20000 else lon) + 3) // 6) / 1e6
    lat = ((10000 * (lat - 0x20000 if lat & 0x10000 else lat) + 3) // 6) / 1e6
    if lat == 91.0 or lon == 181.0:
        return "no_position"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return "out_of_range"
    return PositionReport(
        ts,
        (v >> 58) & 0x3FFFFFFF,  # mmsi: offset 8
        lat,
        lon,
        _SOG_27[(v >> 11) & 0x3F],  # offset 79, 6 bits
        _COG_27[(v >> 2) & 0x1FF],  # offset 85, 9 bits
        None,
        (v >> 52) & 0xF,  # status: offset 40
        27,
        source,
        None,
        (v >> 57) & 1 == 1,  # accuracy: offset 38
        (source,),
    )


BIT_POSITION = {
    1: _class_a_bits,
    2: _class_a_bits,
    3: _class_a_bits,
    18: _class_b_bits,
    27: _long_range_bits,
}


def position_from_bits(
    value: int, nbits: int, msg_type: int, ts: float, source: str
) -> PositionReport | str:
    """A PositionReport of a type in BIT_POSITION_TYPES from its de-armoured payload
    integer of ``nbits`` bits (at least ``MIN_BITS[msg_type]``), or the reason it has none."""
    return BIT_POSITION[msg_type](value, nbits, msg_type, ts, source)


def type19_from_bits(
    value: int, nbits: int, ts: float, source: str
) -> tuple[PositionReport | str, VesselInfo]:
    """Type 19 (extended class B, at least ``MIN_BITS[19]`` bits): its position (or the
    reason it has none) and its static data, as ``to_position`` and ``to_vessel_info``
    make them from pyais's message."""
    position = _class_b_bits(
        value >> (nbits - 168) if nbits > 168 else value, min(nbits, 168), 19, ts, source
    )
    v = value << (312 - nbits) if nbits < 312 else value >> (nbits - 312)
    # Each shift is 312 - offset - width.
    bow = (v >> 32) & 0x1FF  # offset 271, 9 bits
    stern = (v >> 23) & 0x1FF  # offset 280, 9 bits
    port = (v >> 17) & 0x3F  # offset 289, 6 bits
    starboard = (v >> 11) & 0x3F  # offset 295, 6 bits
    if not (bow or stern or port or starboard):
        bow = stern = port = starboard = None
    static = VesselInfo(
        ts,
        (v >> 274) & 0x3FFFFFFF,
        19,
        source,
        text_from_bits(v >> 49, 20),  # name: offset 143, 20 characters
        None,
        None,
        _SHIP_TYPE[(v >> 41) & 0xFF],  # ship type: offset 263, 8 bits
        bow,
        stern,
        port,
        starboard,
    )
    return position, static


# Static data (types 5 and 24) the same way: pyais's generic decoding of these (an attrs
# object, a list of characters per text field) costs more than ten position reports.
_DRAUGHT = (None,) + tuple(d / 10.0 for d in range(1, 256))
STATIC_BIT_TYPES = frozenset({5, 24})


def static_from_bits(
    value: int, nbits: int, msg_type: int, ts: float, source: str
) -> VesselInfo | str | None:
    """A VesselInfo of type 5 or 24 from its de-armoured payload integer (at least
    ``MIN_BITS`` long; type 24 part B ``MIN_BITS_24B``), or the reason it has none, or None
    for what only pyais reads as the decoder wants it (a type 5 whose destination is cut
    short: pyais reads the partial last character right-aligned)."""
    if msg_type == 24:
        v = value << (168 - nbits) if nbits < 168 else value >> (nbits - 168)
        mmsi = (v >> 130) & 0x3FFFFFFF
        part = (v >> 128) & 3  # offset 38, 2 bits
        if part == 0:  # the name: offset 40, 20 characters
            return VesselInfo(ts, mmsi, 24, source, text_from_bits(v >> 8, 20))
        if part != 1:
            return "decode_error"  # pyais: UnknownPartNoException
        if 980_000_000 <= mmsi <= 989_999_999:
            # An auxiliary craft sends its mother ship's MMSI where the dimensions would be.
            bow = stern = port = starboard = None
        else:
            bow = (v >> 27) & 0x1FF  # offset 132, 9 bits
            stern = (v >> 18) & 0x1FF  # offset 141, 9 bits
            port = (v >> 12) & 0x3F  # offset 150, 6 bits
            starboard = (v >> 6) & 0x3F  # offset 156, 6 bits
            if not (bow or stern or port or starboard):
                bow = stern = port = starboard = None
        return VesselInfo(
            ts,
            mmsi,
            24,
            source,
            None,
            text_from_bits(v >> 36, 7),  # call sign: offset 90, 7 characters
            None,
            ((v >> 120) & 0xFF) or None,  # ship type: offset 40, a plain integer in part B
            bow,
            stern,
            port,
            starboard,
        )
    if nbits < 422:
        return None
    v = value >> (nbits - 424) if nbits >= 424 else value << (424 - nbits)
    # Each shift is 424 - offset - width.
    bow = (v >> 175) & 0x1FF  # offset 240, 9 bits
    stern = (v >> 166) & 0x1FF  # offset 249, 9 bits
    port = (v >> 160) & 0x3F  # offset 258, 6 bits
    starboard = (v >> 154) & 0x3F  # offset 264, 6 bits
    if not (bow or stern or port or starboard):
        bow = stern = port = starboard = None
    return VesselInfo(
        ts,
        (v >> 386) & 0x3FFFFFFF,  # offset 8
        5,
        source,
        text_from_bits(v >> 192, 20),  # name: offset 112, 20 characters
        text_from_bits(v >> 312, 7),  # call sign: offset 70, 7 characters
        ((v >> 354) & 0x3FFFFFFF) or None,  # IMO: offset 40, 30 bits
        _SHIP_TYPE[(v >> 184) & 0xFF],  # offset 232
        bow,
        stern,
        port,
        starboard,
        _DRAUGHT[(v >> 122) & 0xFF],  # offset 294, 8 bits, tenths of a metre
        text_from_bits(v >> 2, 20),  # destination: offset 302, 20 characters
        _eta(
            (v >> 146) & 0xF,  # month: offset 274, 4 bits
            (v >> 141) & 0x1F,  # day: offset 278, 5 bits
            (v >> 136) & 0x1F,  # hour: offset 283, 5 bits
            (v >> 130) & 0x3F,  # minute: offset 288, 6 bits
        ),
    )


def to_position(m: Any, msg_type: int, ts: float, source: str) -> PositionReport | str:
    """A PositionReport from a decoded pyais message of a type in POSITION_TYPES."""
    return _POSITION[msg_type](m, ts, source)


def _static_5(m: Any, ts: float, source: str) -> VesselInfo:
    bow, stern, port, starboard = _dims(m)
    return VesselInfo(
        ts,
        m.mmsi,
        5,
        source,
        _text(m.shipname),
        _text(m.callsign),
        m.imo or None,
        int(m.ship_type) or None,
        bow,
        stern,
        port,
        starboard,
        m.draught or None,
        _text(m.destination),
        _eta(m.month, m.day, m.hour, m.minute),
    )


def _static_19(m: Any, ts: float, source: str) -> VesselInfo:
    bow, stern, port, starboard = _dims(m)
    return VesselInfo(
        ts,
        m.mmsi,
        19,
        source,
        _text(m.shipname),
        None,
        None,
        int(m.ship_type) or None,
        bow,
        stern,
        port,
        starboard,
    )


def _static_21(m: Any, ts: float, source: str) -> VesselInfo:
    # An aid to navigation has a name (with its extension) and a size, no ship type.
    bow, stern, port, starboard = _dims(m)
    return VesselInfo(
        ts, m.mmsi, 21, source, _text(m.full_name), None, None, None, bow, stern, port, starboard
    )


def _static_24(m: Any, ts: float, source: str) -> VesselInfo | str:
    if m.partno == 0:
        return VesselInfo(ts, m.mmsi, 24, source, _text(m.shipname))
    if hasattr(m, "mothership_mmsi"):
        # An auxiliary craft (MMSI 98xxxyyyy) sends its mother ship's MMSI where the
        # dimensions would be.
        bow = stern = port = starboard = None
    else:
        bow, stern, port, starboard = _dims(m)
    return VesselInfo(
        ts,
        m.mmsi,
        24,
        source,
        None,
        _text(m.callsign),
        None,
        int(m.ship_type) or None,
        bow,
        stern,
        port,
        starboard,
    )


_STATIC: dict[int, Callable[[Any, float, str], VesselInfo | str]] = {
    5: _static_5,
    19: _static_19,
    21: _static_21,
    24: _static_24,
}


def to_vessel_info(m: Any, msg_type: int, ts: float, source: str) -> VesselInfo | str:
    """A VesselInfo from a decoded pyais message of a type in STATIC_TYPES."""
    return _STATIC[msg_type](m, ts, source)
