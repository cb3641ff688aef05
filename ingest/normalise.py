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

from collections.abc import Callable
from typing import Any

from pyais.messages import to_lat_lon, to_turn

from mda.ingest.records import PositionReport, VesselInfo

__all__ = [
    "BIT_POSITION_TYPES",
    "MIN_BITS",
    "MIN_BITS_24B",
    "POSITION_TYPES",
    "STATIC_TYPES",
    "position_from_bits",
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


# Types 1, 2, 3 (class A) and 18 (class B) are most of any feed. For them the record is
# read straight from the integer pyais's bit vector de-armoured the payload into,
# rather than through a pyais message object: building that object (an attrs class
# whose converters make enums of the status and manoeuvre fields) costs four times
# what the record itself does. The scaling is pyais's (to_lat_lon, to_turn), and
# tests/test_ingest_normalise.py checks every such message of the test corpora gives
# the same record both ways. Offsets are ITU-R M.1371 bit positions counted from the
# first bit; a message is viewed as 168 bits (shorter ones padded with zeros past the
# end, which MIN_BITS keeps clear of every field read).
BIT_POSITION_TYPES = frozenset({1, 2, 3, 18})


def position_from_bits(
    value: int, nbits: int, msg_type: int, ts: float, source: str
) -> PositionReport | str:
    """A PositionReport of type 1, 2, 3 or 18 from its de-armoured payload integer.

    Each shift is ``168 - offset - width`` of the field; Python folds the constants.
    """
    v = value << (168 - nbits) if nbits <= 168 else value >> (nbits - 168)
    if msg_type != 18:
        lon_raw = (v >> (168 - 61 - 28)) & 0xFFFFFFF
        lat_raw = (v >> (168 - 89 - 27)) & 0x7FFFFFF
    else:  # class B has 8 reserved bits where class A has status and rate of turn
        lon_raw = (v >> (168 - 57 - 28)) & 0xFFFFFFF
        lat_raw = (v >> (168 - 85 - 27)) & 0x7FFFFFF
    lon = to_lat_lon(lon_raw - 0x10000000 if lon_raw & 0x8000000 else lon_raw)
    lat = to_lat_lon(lat_raw - 0x8000000 if lat_raw & 0x4000000 else lat_raw)
    if lat == _NOT_AVAILABLE_LAT or lon == _NOT_AVAILABLE_LON:
        return "no_position"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return "out_of_range"
    if msg_type != 18:
        sog = (v >> (168 - 50 - 10)) & 0x3FF
        accuracy = (v >> (168 - 60 - 1)) & 1
        cog = (v >> (168 - 116 - 12)) & 0xFFF
        heading = (v >> (168 - 128 - 9)) & 0x1FF
        status = (v >> (168 - 38 - 4)) & 0xF
        rot_raw = (v >> (168 - 42 - 8)) & 0xFF
        # 128 (-128): no turn information; 127 / 129 (+-127): turning fast, no rate.
        rot = (
            None
            if rot_raw in (127, 128, 129)
            else to_turn(rot_raw - 256 if rot_raw & 0x80 else rot_raw)
        )
    else:
        sog = (v >> (168 - 46 - 10)) & 0x3FF
        accuracy = (v >> (168 - 56 - 1)) & 1
        cog = (v >> (168 - 112 - 12)) & 0xFFF
        heading = (v >> (168 - 124 - 9)) & 0x1FF
        status = rot = None
    return PositionReport(
        ts,
        (v >> (168 - 8 - 30)) & 0x3FFFFFFF,
        lat,
        lon,
        None if sog == 1023 else sog / 10.0,
        None if cog >= 3600 else cog / 10.0,
        None if heading > 359 else heading,
        status,
        msg_type,
        source,
        rot,
        accuracy == 1,
        (source,),
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
