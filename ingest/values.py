"""Reading decoded AIS values from text: times, numbers, codes, and the field mapping.

Shared by the JSON and CSV readers (``ingest.formats``, ``ingest.csvfile``). Every
function returns None for "not available" and never raises for odd input; what cannot be
read at all is told apart from what is missing where it matters (times, positions).

"Not available" follows the AIS codes (``ingest.normalise``): latitude 91 / longitude 181
(the row is rejected as ``no_position``), SOG 102.3 or more, COG 360 or more, heading 511
(anything above 359), IMO 0, ship type 0, draught 0; negative speeds and courses (seen in
national archives) are not available either.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mda.ingest.errors import SourceError
from mda.ingest.nmea import tag_epoch

__all__ = [
    "FIELDS",
    "NAV_STATUS",
    "SHIP_TYPES",
    "TimeParser",
    "parse_columns",
    "to_float",
    "to_int",
    "to_text",
    "nav_status",
    "ship_type",
    "imo_number",
]

# The fields a decoded record can carry, with what each means (``--columns`` names them).
FIELDS: dict[str, str] = {
    "mmsi": "the vessel's MMSI (required)",
    "time": "event time: epoch seconds or milliseconds, ISO 8601, or dd/mm/yyyy HH:MM:SS "
    "(or the source's time_format); naive times are in the source's timezone (UTC)",
    "lat": "latitude, decimal degrees",
    "lon": "longitude, decimal degrees",
    "sog": "speed over ground, knots",
    "cog": "course over ground, degrees",
    "heading": "true heading, degrees",
    "status": "navigational status: the AIS code, or its text (Moored, At anchor ...)",
    "rot": "rate of turn, degrees per minute",
    "name": "vessel name",
    "callsign": "call sign",
    "imo": "IMO number (IMO1234567 or 1234567)",
    "ship_type": "AIS ship type: the code, or its text (Cargo, Tanker ...)",
    "destination": "destination",
    "draught": "draught, metres",
    "class": "transceiver class: A or B (or a type of mobile: Class A, Base Station, AtoN ...)",
    "msg_type": "AIS message type the record came from (1, 18, 4, 21 ...)",
    "station": "the receiver or station that heard it (stored as <feed>/<station>)",
    "to_bow": "metres from the position reference to the bow (dimension A)",
    "to_stern": "metres to the stern (dimension B)",
    "to_port": "metres to port (dimension C)",
    "to_starboard": "metres to starboard (dimension D)",
    "eta": "estimated time of arrival",
}

# Navigational status as national archives write it (Danish Maritime Authority, with the
# spelling variants seen), lower case -> AIS code.
NAV_STATUS: dict[str, int] = {
    "under way using engine": 0,
    "at anchor": 1,
    "not under command": 2,
    "restricted manoeuverability": 3,
    "restricted maneuverability": 3,
    "restricted manoeuvrability": 3,
    "constrained by her draught": 4,
    "moored": 5,
    "aground": 6,
    "engaged in fishing": 7,
    "under way sailing": 8,
    "reserved for future amendment [hsc]": 9,
    "reserved for future amendment [wig]": 10,
    "power-driven vessel towing astern": 11,
    "power-driven vessel pushing ahead or towing alongside": 12,
    "reserved for future use": 13,
    "ais-sart is active": 14,
    "unknown value": 15,
    "not defined": 15,
    "undefined": 15,
}

# Ship types as national archives write them in words -> the AIS code of the group (the
# first code of its range: 70 for cargo, 80 for tankers ...).
SHIP_TYPES: dict[str, int] = {
    "wig": 20,
    "fishing": 30,
    "towing": 31,
    "towing long/wide": 32,
    "dredging": 33,
    "diving": 34,
    "military": 35,
    "sailing": 36,
    "pleasure": 37,
    "hsc": 40,
    "pilot": 50,
    "sar": 51,
    "tug": 52,
    "port tender": 53,
    "anti-pollution": 54,
    "law enforcement": 55,
    "medical": 58,
    "not party to conflict": 59,
    "passenger": 60,
    "cargo": 70,
    "tanker": 80,
    "other": 90,
}

# Texts that mean "not known" in archives.
_UNKNOWN = frozenset({"", "unknown", "undefined", "unknown value", "n/a", "na", "nan", "null", "-"})


def to_float(value: object) -> float | None:
    """A number from JSON or a CSV cell; None when empty or not a number."""
    if value is None or value.__class__ is bool:
        return None
    if value.__class__ is float or value.__class__ is int:
        return float(value)  # type: ignore[arg-type]
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if f == f else None  # NaN is not a value


def to_int(value: object) -> int | None:
    f = to_float(value)
    if f is None or not -(2**31) < f < 2**31:
        return None
    return int(f)


def to_text(value: object) -> str | None:
    """Text with AIS padding ('@', spaces) removed; 'Unknown' and the like are None."""
    if value is None:
        return None
    text = str(value).partition("@")[0].strip()
    if text.lower() in _UNKNOWN:
        return None
    return text


def nav_status(value: object) -> int | None:
    """The AIS navigational status from its code or its words."""
    code = to_int(value)
    if code is not None:
        return code if 0 <= code <= 15 else None
    if value is None:
        return None
    return NAV_STATUS.get(str(value).strip().lower())


def ship_type(value: object) -> int | None:
    """The AIS ship type from its code or its words (0, 'Undefined': None)."""
    code = to_int(value)
    if code is not None:
        return code if 0 < code < 256 else None
    if value is None:
        return None
    return SHIP_TYPES.get(str(value).strip().lower())


def imo_number(value: object) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if text[:3].upper() == "IMO":
        text = text[3:]
    code = to_int(text)
    return code if code and 0 < code < 1_000_000_000 else None


def parse_columns(text: str | None) -> dict[str, str]:
    """``mmsi=MMSI,time=BaseDateTime,lat=LAT`` -> {field: column}; unknown fields refused."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise SourceError(f"columns: {part.strip()!r} is not FIELD=NAME (e.g. mmsi=MMSI)")
        if key not in FIELDS:
            raise SourceError(f"columns: unknown field {key!r}; fields: {', '.join(FIELDS)}")
        out[key] = value.strip()
    return out


def zone(name: str | None) -> tzinfo:
    """The time zone naive times are in: UTC unless the source names one (IANA name)."""
    if not name or name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SourceError(f"unknown time zone {name!r} (an IANA name: Europe/Copenhagen)") from None


_CACHE_LIMIT = 1 << 16


class TimeParser:
    """Event times from text or numbers, cached by their text (an archive repeats each
    second many times over, so most rows cost one dict lookup).

    ``parse(value)`` -> epoch seconds, None when the value is empty, or ``"unreadable"``.
    Numbers are epoch seconds or milliseconds (told apart by size); text is read with
    ``time_format`` (``strptime``) when given, else as ``dd/mm/yyyy HH:MM:SS`` (the Danish
    archives) or ISO 8601 (``2020-01-01T00:00:00``, a space instead of the T, fractions
    of any length, ``Z`` or an offset). Times without an offset are in ``timezone``."""

    __slots__ = ("fmt", "tz", "_cache", "_days")

    def __init__(self, time_format: str | None = None, timezone: str | None = None) -> None:
        self.fmt = time_format or None
        self.tz = zone(timezone)
        self._cache: dict[object, float | str | None] = {}
        self._days: dict[str, float] = {}  # a date's text -> its UTC midnight, epoch s

    def parse(self, value: object) -> float | str | None:
        cache = self._cache
        hit = cache.get(value)
        if hit is not None:
            return hit
        if value is None or value == "":
            return None
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        out = cache[value] = self._parse(value)
        return out

    def _parse(self, value: object) -> float | str:
        if value.__class__ is bool:
            return "unreadable"
        if value.__class__ is int or value.__class__ is float:
            ts = tag_epoch(float(value))  # type: ignore[arg-type]
            return "unreadable" if ts is None else ts
        text = str(value).strip()
        if len(text) == 19 and not self.fmt and self.tz is UTC:
            fast = self._fast(text)
            if fast is not None:
                return fast
        try:
            if self.fmt:
                dt = datetime.strptime(text, self.fmt)
            elif len(text) >= 19 and text[2] == "/" and text[5] == "/":
                # dd/mm/yyyy HH:MM:SS, day first
                dt = datetime(
                    int(text[6:10]),
                    int(text[3:5]),
                    int(text[0:2]),
                    int(text[11:13]),
                    int(text[14:16]),
                    int(text[17:19]),
                )
            elif text.replace(".", "", 1).isdigit():
                ts = tag_epoch(float(text))
                return "unreadable" if ts is None else ts
            else:
                dt = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            return "unreadable"
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return dt.timestamp()

    def _fast(self, text: str) -> float | None:
        """``dd/mm/yyyy HH:MM:SS`` or ``yyyy-mm-ddTHH:MM:SS`` in UTC without a datetime:
        the date part's midnight cached (an archive holds few dates), the time added. None
        when the text is not exactly so (``_parse`` reads it the general way)."""
        if text[13] != ":" or text[16] != ":":
            return None
        if text[2] == "/" and text[5] == "/" and text[10] == " ":
            date, ymd = text[:10], (text[6:10], text[3:5], text[0:2])
        elif text[4] == "-" and text[7] == "-" and text[10] in "T ":
            date, ymd = text[:10], (text[0:4], text[5:7], text[8:10])
        else:
            return None
        hms = text[11:13] + text[14:16] + text[17:19]
        if not (hms.isdigit() and hms.isascii()):
            return None
        h, mi, se = int(hms[0:2]), int(hms[2:4]), int(hms[4:6])
        if h > 23 or mi > 59 or se > 59:
            return None
        day = self._days.get(date)
        if day is None:
            digits = "".join(ymd)
            if not (digits.isdigit() and digits.isascii()):
                return None
            try:
                day = datetime(int(ymd[0]), int(ymd[1]), int(ymd[2]), tzinfo=UTC).timestamp()
            except (ValueError, OverflowError):
                return None
            if len(self._days) >= 4096:
                self._days.clear()
            self._days[date] = day
        return day + (h * 3600 + mi * 60 + se)


def eta_text(value: object) -> str | None:
    """An ETA as the records keep it (``MM-DD HH:MM``), from ``dd/mm/yyyy HH:MM:SS``, ISO
    ``yyyy-mm-ddTHH:MM`` or gpsd's ``MM-DDTHH:MMZ``; None when not given or not readable."""
    text = to_text(value)
    if not text:
        return None
    try:
        if len(text) >= 16 and text[2] == "/" and text[5] == "/":
            month, day, hm = text[3:5], text[0:2], text[11:16]
        elif len(text) >= 11 and text[2] == "-" and text[5] == "T":  # gpsd: 05-21T12:00Z
            month, day, hm = text[0:2], text[3:5], text[6:11]
        elif len(text) >= 16 and text[4] == "-" and text[10] in "T ":
            month, day, hm = text[5:7], text[8:10], text[11:16]
        else:
            return None
        if not (month.isdigit() and day.isdigit() and hm[:2].isdigit() and hm[3:5].isdigit()):
            return None
        m, d, h, mi = int(month), int(day), int(hm[:2]), int(hm[3:5])
        if not (1 <= m <= 12 and 1 <= d <= 31 and h < 24 and mi < 60):
            return None
        return f"{m:02d}-{d:02d} {h:02d}:{mi:02d}"
    except (ValueError, IndexError):
        return None
