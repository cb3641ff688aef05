"""NMEA framing: one received line in, its parts (or a reason to reject it) out.

What a line can look like on real AIS feeds:

    !AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C              plain sentence
    \\s:rORBCOMM104,c:1418172113*55\\!AIVDM,1,1,,B,...,0*78        NMEA 4.10 tag block
    \\g:2-2-1604*34\\!AIVDM,2,2,6,A,00000000008,2*2A               tag-block group, 2nd part
    !AIVDM,1,1,,A,15N1u<...,0*30,d-080,S2118,...,r003669946,1325394060   USCG metadata
    $PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B      Gatehouse: time of next
    !=IVDM / !ABVDM / !BSVDO ...                                 any two-character talker

Everything here works on ``bytes`` (ASCII): the decoder encodes each line once and
slices bytes, which is cheaper than working on ``str`` and is what pyais's bit vector
wants anyway. Functions return a reason string instead of raising, so a hot loop over
millions of lines never pays for an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce
from operator import xor

__all__ = [
    "ARMOR_CHARS",
    "MIN_EVENT_TIME",
    "TagBlock",
    "checksum",
    "hex_byte",
    "line_event_time",
    "parse_pghp",
    "parse_tag_block",
    "parse_uscg_trailer",
    "tag_epoch",
]

# Two hex digits -> value; a dict lookup is faster than int(x, 16) and cannot raise.
hex_byte: dict[bytes, int] = {
    (hi + lo).encode(): v
    for v in range(256)
    for hi in {f"{v:02X}"[0], f"{v:02x}"[0]}
    for lo in {f"{v:02X}"[1], f"{v:02x}"[1]}
}

# The 64 characters of the AIS six-bit payload armour ('0'..'W' and '`'..'w').
# bytes.translate(None, ARMOR_CHARS) deletes them, so anything left over is not armour.
ARMOR_CHARS = bytes(range(48, 88)) + bytes(range(96, 120))


def checksum(data: bytes) -> int:
    """The NMEA checksum: XOR of all bytes between the start delimiter and ``*``.

    Folding one big integer onto itself does the XOR in a handful of C-level
    operations instead of a Python loop over every byte (about 3x faster for the
    40-80 byte sentences AIS carries). Only the low bits are read after each fold, so
    the high bits never need masking.
    """
    n = len(data)
    v = int.from_bytes(data, "little")
    if n > 64:
        if n > 128:
            return reduce(xor, data, 0)
        v ^= v >> 512
    v ^= v >> 256
    v ^= v >> 128
    v ^= v >> 64
    v ^= v >> 32
    v ^= v >> 16
    v ^= v >> 8
    return v & 0xFF


# 1990-01-01 UTC. AIS began in the 2000s: an earlier stated time is a receiver clock that
# was never set (the decoder rejects it as ``bad_time``).
MIN_EVENT_TIME = 631_152_000.0


def tag_epoch(value: float) -> float | None:
    """A receiver epoch in seconds, from seconds or milliseconds (told apart by size).

    1e11 seconds is the year 5138 and 1e11 milliseconds is 1973, so the two ranges
    cannot be confused for any plausible receive time. Values before 1973 are not
    believable receive times and are ignored.
    """
    if value >= 1e11:
        value /= 1000.0
    if value < 1e8 or value >= 1e11:
        return None
    return value


class TagBlock:
    """The parts of an NMEA 4.10 tag block that ingest uses.

    ``station`` is the ``s:`` source (receiver) id, ``ts`` the ``c:`` receive time in
    epoch seconds, and ``group`` the ``g:`` (sentence number, total, group id) that
    ties the parts of a multi-sentence message together when only the first part
    carries ``s:`` and ``c:``.
    """

    __slots__ = ("station", "ts", "group")

    def __init__(
        self, station: str | None, ts: float | None, group: tuple[int, int, bytes] | None
    ) -> None:
        self.station = station
        self.ts = ts
        self.group = group

    def __repr__(self) -> str:
        return f"TagBlock(station={self.station!r}, ts={self.ts!r}, group={self.group!r})"


def _parse_group(value: bytes) -> tuple[int, int, bytes] | None:
    parts = value.split(b"-")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2]:
        return None
    num, total = int(parts[0]), int(parts[1])
    if not 1 <= num <= total:
        return None
    return num, total, parts[2]


def _parse_number(value: bytes) -> float | None:
    if value.isdigit():
        return float(value)
    head, dot, tail = value.partition(b".")
    if dot and head.isdigit() and (not tail or tail.isdigit()):
        return float(value)
    return None


def parse_tag_block(text: bytes) -> TagBlock | str:
    """Parse the inside of ``\\...\\`` (without the backslashes); checksum enforced."""
    star = text.rfind(b"*")
    if star < 0:
        return "bad_tag_block"
    want = hex_byte.get(text[star + 1 :])
    if want is None or checksum(text[:star]) != want:
        return "bad_tag_block"
    station: str | None = None
    ts: float | None = None
    group: tuple[int, int, bytes] | None = None
    for field in text[:star].split(b","):
        key, sep, value = field.partition(b":")
        if not sep:
            return "bad_tag_block"
        if key == b"c":
            number = _parse_number(value)
            ts = tag_epoch(number) if number is not None else None
            if ts is None:
                return "bad_tag_block"
        elif key == b"s":
            station = value.decode("ascii") or None
        elif key == b"g" or key == b"G":
            group = _parse_group(value)
            if group is None:
                return "bad_tag_block"
        # d: destination, n: line count, r: relative time, t:/T: text, q: quality ...
        # carry nothing ingest stores.
    return TagBlock(station, ts, group)


# Station fields in USCG metadata start with one of these letters (r = receiver,
# b = base station); d/s/S/t/T/x are signal, slot and time fields.
_USCG_STATION_START = frozenset(b"rRbB")


def parse_uscg_trailer(trailer: bytes) -> tuple[str | None, float | None]:
    """(station, receive epoch) from USCG metadata after the checksum.

    ``,d-109,S2105,t050056.00,T56.13718694,r003669946,1325394060,1325394001``: the
    station is the ``r...`` field and the receive time the first epoch-sized number
    after the letter-coded fields (some loggers append a second one, about a minute
    off; libais's reader takes the first, and so do we).
    """
    station: str | None = None
    ts: float | None = None
    for field in trailer.split(b","):
        if not field:
            continue
        if field[0] in _USCG_STATION_START:
            if station is None:
                station = field.decode("ascii")
        elif ts is None and 48 <= field[0] <= 57:
            number = _parse_number(field)
            if number is not None:
                ts = tag_epoch(number)
    return station, ts


def parse_pghp(line: bytes) -> float | str:
    """The epoch a Gatehouse ``$PGHP,1,...`` line gives for the sentence that follows.

    ``$PGHP,1,yyyy,mm,dd,hh,mm,ss,ms,country,region,pss,online,cks*hh``
    """
    star = line.find(b"*")
    if star < 0:
        return "malformed"
    want = hex_byte.get(line[star + 1 : star + 3])
    if want is None or len(line) != star + 3:
        return "malformed"
    if checksum(line[1:star]) != want:
        return "bad_checksum"
    fields = line[1:star].split(b",")
    if len(fields) < 9 or fields[1] != b"1":
        return "not_ais"  # other Gatehouse sentence kinds carry no timestamp
    if not all(f.isdigit() for f in fields[2:9]):
        return "malformed"
    y, mo, d, h, mi, s, ms = (int(f) for f in fields[2:9])
    if not (
        1970 <= y <= 2200
        and 1 <= mo <= 12
        and 1 <= d <= 31
        and h < 24
        and mi < 60
        and s < 61
        and ms < 1000
    ):
        return "malformed"
    try:
        moment = datetime(y, mo, d, h, mi, min(s, 59), tzinfo=UTC)
    except ValueError:  # 31 February and the like
        return "malformed"
    return moment.timestamp() + (s - min(s, 59)) + ms / 1000.0


def line_event_time(line: str) -> float | None:
    """The receive time a line itself states (tag block ``c:``, USCG epoch, ``$PGHP``).

    For pacing file replays; not on the decoder's hot path. None when the line has no
    time of its own or is not valid enough to trust.
    """
    raw = line.strip().encode("latin-1", "replace")
    if raw[:1] == b"\\":
        end = raw.find(b"\\", 1)
        if end > 0:
            tb = parse_tag_block(raw[1:end])
            if isinstance(tb, TagBlock) and tb.ts is not None:
                return tb.ts
            raw = raw[end + 1 :]
    if raw[:6] == b"$PGHP,":
        ts = parse_pghp(raw)
        return ts if isinstance(ts, float) else None
    if raw[:1] == b"!":
        star = raw.find(b"*")
        if star > 0 and raw[star + 3 : star + 4] == b",":
            return parse_uscg_trailer(raw[star + 4 :])[1]
    return None
