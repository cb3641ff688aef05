"""Feeds that are not NMEA text: receivers' JSON, gpsd's JSON, decoded positions, CSV.

A source reads lines whatever it carries; its *reader* (one per source, from
``make_reader``) says what a line is. Two kinds:

- **Receivers' JSON** (``aiscatcher``): each object carries the NMEA sentences it was
  decoded from. ``expand`` turns it into those sentences, each behind a tag block with the
  receive time (``toa``, else ``rxuxtime``, else ``rxtime``) as ``c:`` and the station (``station_id``,
  ``stationid``) as ``s:``, and the decoder takes them as NMEA: framing, assembly,
  de-duplication and the raw archive work as for any NMEA feed.
- **Decoded records** (``gpsd``, ``json``, ``csv``): no sentence to decode. ``read`` turns
  each line into a row ``(ts, mmsi, msg_type, station, position, static, key, text)``, or
  the reason it gives nothing; the decoder times, de-duplicates (``key``: the line itself),
  counts and archives them (raw line ``decoded:<format> <the line>``).

Every line ends in one place: a row, or a reason counted by the decoder (``not_json``,
``not_ais``, ``no_mmsi``, ``no_position``, ``unreadable_time`` ...; see ``ingest.stats``).
Nothing here raises for bad input; a CSV whose header names no known layout raises
``SourceError`` once, before any row (``ingest.csvfile``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mda.ingest.errors import SourceError
from mda.ingest.nmea import checksum
from mda.ingest.records import PositionReport, VesselInfo
from mda.ingest.values import (
    FIELDS,
    TimeParser,
    eta_text,
    imo_number,
    nav_status,
    parse_columns,
    ship_type,
    to_float,
    to_int,
    to_text,
)

__all__ = [
    "FORMATS",
    "Reader",
    "AisCatcherReader",
    "GpsdReader",
    "JsonReader",
    "DECODED_PREFIX",
    "decoded_format",
    "make_reader",
]

# Every format a source can have, with what it is (``mda ingest --help`` lists them).
FORMATS: dict[str, str] = {
    "nmea": "NMEA 0183 AIS sentences, with or without tag blocks (the default)",
    "aiscatcher": "AIS-catcher's JSON: objects with an nmea array, rxtime/rxuxtime and "
    "station_id (its UDP, TCP, MQTT and HTTP outputs); decoded as NMEA with the receive "
    "time and station as a tag block",
    "gpsd": "gpsd's AIS JSON (class AIS objects, as ?WATCH or gpsdecode give them)",
    "json": "decoded positions, one JSON object a line or message (MMSI, time, lat, lon, "
    "SOG, COG, heading, status, name, ship type); field names by --columns",
    "csv": "CSV archives, one decoded position a row; the layout from the header (Danish "
    "'# Timestamp,...', US 'BaseDateTime,...', or --columns)",
}

# A raw-archive line of a decoded record: ``decoded:<format> <the line as received>``.
DECODED_PREFIX = "decoded:"


def decoded_format(line: str) -> str | None:
    """The format of a raw-archive line that holds a decoded record (``json``, ``gpsd``,
    ``csv-dma`` ...), or None for an NMEA sentence."""
    if not line.startswith(DECODED_PREFIX):
        return None
    return line[len(DECODED_PREFIX) :].split(" ", 1)[0]


class Reader:
    """What a source's lines are. ``decoded`` False: ``expand`` gives NMEA lines; True:
    ``read`` gives rows (see the module docstring)."""

    format = "nmea"
    decoded = False

    @property
    def label(self) -> str:
        """The format as the raw archive names it (``decoded:<label>``)."""
        return self.format

    def expand(self, lines: list[str], rejected) -> tuple[list[str], int]:
        """NMEA lines for ``lines``; objects that give none are counted in ``rejected``
        (returned: how many)."""
        return lines, 0

    def read(self, lines: list[str]) -> list:
        raise NotImplementedError


# ---------------------------------------------------------------------------- shared


def _loads(line: str) -> tuple[dict | None, str | None]:
    """(object, topic) of a JSON line; a line ``TOPIC {...}`` (mosquitto_sub -v, or an MQTT
    source of a decoded feed) gives the topic too. (None, None) if not an object."""
    text = line.strip()
    topic = None
    if text[:1] != "{":
        head, sep, rest = text.partition(" {")
        if not sep or " " in head:
            return None, None
        topic, text = head, "{" + rest
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None, None
    return (obj, topic) if isinstance(obj, dict) else (None, None)


class _Statics:
    """The last static data emitted per vessel: a row repeats its vessel's name, type and
    size on every position (CSV archives), so static records are emitted only when they
    change. Bounded: forgotten wholesale past ``limit`` vessels (a repeat costs little)."""

    __slots__ = ("last", "limit")

    def __init__(self, limit: int = 200_000) -> None:
        self.last: dict[int, tuple] = {}
        self.limit = limit

    def changed(self, mmsi: int, values: tuple) -> bool:
        last = self.last
        if last.get(mmsi) == values:
            return False
        if len(last) >= self.limit:
            last.clear()
        last[mmsi] = values
        return True


def static_record(mmsi: int, msg_type: int, values: tuple) -> VesselInfo | None:
    """A VesselInfo from (name, callsign, imo, ship_type, to_bow, to_stern, to_port,
    to_starboard, draught, destination, eta); None when every value is None."""
    for v in values:
        if v is not None:
            break
    else:
        return None
    name, callsign, imo, stype, bow, stern, port, starboard, draught, dest, eta = values
    if bow == stern == port == starboard == 0:
        bow = stern = port = starboard = None
    return VesselInfo(
        0.0,
        mmsi,
        msg_type,
        "",
        name,
        callsign,
        imo,
        stype,
        bow,
        stern,
        port,
        starboard,
        draught or None,
        dest,
        eta,
    )


def position_record(
    mmsi: int,
    msg_type: int,
    lat: float | None,
    lon: float | None,
    sog: float | None,
    cog: float | None,
    heading: float | None,
    status: int | None,
    rot: float | None,
    accuracy: bool | None = None,
) -> PositionReport | str:
    """A PositionReport (time and source filled in by the decoder) or the reason there is
    none: ``no_position`` (missing, or 91/181), ``out_of_range``."""
    if lat is None or lon is None or lat == 91.0 or lon == 181.0:
        return "no_position"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return "out_of_range"
    if sog is not None and not 0.0 <= sog < 102.25:
        sog = None
    if cog is not None and not 0.0 <= cog < 360.0:
        cog = None
    h = None if heading is None or not 0 <= heading <= 359 else int(heading)
    if rot is not None and not -720.0 <= rot <= 720.0:  # beyond AIS's +-708 deg/min
        rot = None
    return PositionReport(0.0, mmsi, lat, lon, sog, cog, h, status, msg_type, "", rot, accuracy, ())


def row_of(
    ts: float | None,
    mmsi: int,
    msg_type: int,
    station: str | None,
    position: PositionReport | str | None,
    static: VesselInfo | None,
    text: str,
):
    """The row for the decoder, or the reason: a position that failed is the reason
    unless the line still gives static data."""
    if position.__class__ is str:
        if static is None:
            return position
        position = None
    return (ts, mmsi, msg_type, station, position, static, text.encode("utf-8", "replace"), text)


def valid_mmsi(value: object) -> int | None:
    m = to_int(value)
    return m if m is not None and 0 < m < 1_000_000_000 else None


# ---------------------------------------------------------------------------- AIS-catcher


def _tag_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_./:" else "_" for c in text)[:64]


class AisCatcherReader(Reader):
    """AIS-catcher's JSON: each object's ``nmea`` sentences with a tag block of its receive
    time and station. An HTTP envelope (``{"msgs": [...], "stationid": ...}``) gives its
    messages, its ``stationid`` standing for the station of those that name none."""

    format = "aiscatcher"

    def expand(self, lines: list[str], rejected) -> tuple[list[str], int]:
        out: list[str] = []
        bad = 0
        for line in lines:
            if not line.strip():
                rejected["empty"] += 1
                bad += 1
                continue
            obj, _topic = _loads(line)
            if obj is None:
                rejected["not_json"] += 1
                bad += 1
                continue
            msgs = obj.get("msgs")
            if isinstance(msgs, list):
                station = obj.get("stationid") or obj.get("station_id")
                if not msgs:
                    rejected["no_nmea"] += 1
                    bad += 1
                for m in msgs:
                    bad += self._one(m, station, out, rejected)
            else:
                bad += self._one(obj, None, out, rejected)
        return out, bad

    @staticmethod
    def _one(obj: object, station: object, out: list[str], rejected) -> int:
        if not isinstance(obj, dict):
            rejected["not_json"] += 1
            return 1
        nmea = obj.get("nmea")
        if isinstance(nmea, str):
            nmea = [nmea]
        if not isinstance(nmea, list) or not nmea:
            rejected["no_nmea"] += 1
            return 1
        # ``toa``: the time of arrival an upstream tag block stated (AIS-catcher relaying
        # a network feed); else its own receive time.
        ts = to_float(obj.get("toa"))
        if ts is None or ts < 1e8:
            ts = to_float(obj.get("rxuxtime"))
        if ts is None:
            rx = obj.get("rxtime")
            if rx is not None:
                try:
                    ts = datetime.strptime(str(rx), "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
                except ValueError:
                    rejected["unreadable_time"] += len(nmea)
                    return len(nmea)
        st = obj.get("station_id") or obj.get("stationid") or station
        fields = []
        if st is not None and str(st).strip():
            fields.append(f"s:{_tag_safe(str(st).strip())}")
        if ts is not None:
            fields.append(f"c:{ts:.3f}".rstrip("0").rstrip("."))
        if fields:
            tb = ",".join(fields)
            head = f"\\{tb}*{checksum(tb.encode()):02X}\\"
            out.extend(head + str(s).strip() for s in nmea)
        else:
            out.extend(str(s).strip() for s in nmea)
        return 0


# ---------------------------------------------------------------------------- gpsd


def _scaled(obj: dict, key: str, factor: float) -> float | None:
    v = to_float(obj.get(key))
    return v if v is None or obj.get("scaled", True) else v / factor


def _turn(value: object) -> float | None:
    # gpsd: a number or numeric text in deg/min when scaled; "nan", "n/a", "fastleft",
    # "fastright" (no rate) otherwise.
    return to_float(value)


class GpsdReader(Reader):
    """gpsd's AIS JSON (``class: AIS``), scaled (degrees, knots) or not (raw AIS units).
    Objects of other classes (VERSION, DEVICES, WATCH, TPV ...) are ``not_ais``; AIS types
    that carry no position or static data are counted as ``other``, as for NMEA. gpsd's
    objects carry no receive time: their arrival is their time (``untimed``)."""

    format = "gpsd"
    decoded = True

    def read(self, lines: list[str]) -> list:
        out = []
        append = out.append
        for line in lines:
            if not line.strip():
                append("empty")
                continue
            obj, _topic = _loads(line)
            if obj is None:
                append("not_json")
            elif obj.get("class") != "AIS":
                append("not_ais")
            else:
                append(self._row(obj, line.strip()))
        return out

    def _row(self, obj: dict, text: str):
        mmsi = valid_mmsi(obj.get("mmsi"))
        if mmsi is None:
            return "no_mmsi"
        t = to_int(obj.get("type"))
        if t is None or not 1 <= t <= 27:
            return "unknown_type"
        position = None
        static = None
        scaled = obj.get("scaled", True)
        if t in (1, 2, 3, 18, 19, 27, 4, 21):
            if t == 27:
                lat = _scaled(obj, "lat", 600.0)
                lon = _scaled(obj, "lon", 600.0)
                sog = to_float(obj.get("speed"))
                cog = to_float(obj.get("course"))
                sog = None if sog is None or sog >= 63 else sog
                cog = None if cog is None or cog >= 360 else cog
            else:
                lat = _scaled(obj, "lat", 600000.0)
                lon = _scaled(obj, "lon", 600000.0)
                sog = _scaled(obj, "speed", 10.0)
                cog = _scaled(obj, "course", 10.0)
            moving = t not in (4, 21)
            status = to_int(obj.get("status")) if t in (1, 2, 3, 27) else None
            rot = _turn(obj.get("turn")) if t in (1, 2, 3) and scaled else None
            acc = obj.get("accuracy")
            position = position_record(
                mmsi,
                t,
                lat,
                lon,
                sog if moving else None,
                cog if moving else None,
                to_float(obj.get("heading")) if moving and t != 27 else None,
                status,
                rot,
                acc if isinstance(acc, bool) else None,
            )
        if t in (5, 19, 21, 24):
            draught = to_float(obj.get("draught"))
            if draught is not None and not scaled:
                draught /= 10.0
            name = obj.get("shipname") if t != 21 else obj.get("name")
            if t == 21 and obj.get("name_ext"):
                name = f"{name or ''}{obj.get('name_ext')}"
            dims = tuple(
                to_int(obj.get(k)) for k in ("to_bow", "to_stern", "to_port", "to_starboard")
            )
            if t == 24 and obj.get("mothership_mmsi") is not None:
                dims = (None, None, None, None)
            static = static_record(
                mmsi,
                t,
                (
                    to_text(name),
                    to_text(obj.get("callsign")),
                    imo_number(obj.get("imo")) if t == 5 else None,
                    ship_type(obj.get("shiptype")) if t != 21 else None,
                    *dims,
                    draught if t == 5 else None,
                    to_text(obj.get("destination")) if t == 5 else None,
                    eta_text(obj.get("eta")) if t == 5 else None,
                ),
            )
        return row_of(None, mmsi, t, None, position, static, text)


# ---------------------------------------------------------------------------- decoded JSON

# The names a field goes by in common feeds, tried in order when ``--columns`` does not
# name it (BarentsWatch/Kystverket, Digitraffic, AISHub, aisstream.io, MarineCadastre ...).
JSON_NAMES: dict[str, tuple[str, ...]] = {
    "mmsi": ("mmsi", "MMSI", "UserID", "userid", "Mmsi"),
    "time": (
        "time",
        "timestamp",
        "msgtime",
        "ts",
        "TIME",
        "BaseDateTime",
        "datetime",
        "time_utc",
        "rxuxtime",
        "Timestamp",
    ),
    "lat": ("lat", "latitude", "LAT", "Latitude", "LATITUDE"),
    "lon": ("lon", "lng", "longitude", "LON", "LONGITUDE", "Longitude"),
    "sog": ("sog", "speed", "speedOverGround", "SOG", "Sog", "speed_over_ground"),
    "cog": ("cog", "course", "courseOverGround", "COG", "Cog", "course_over_ground"),
    "heading": ("heading", "trueHeading", "HEADING", "Heading", "TrueHeading", "true_heading"),
    "status": ("status", "navStat", "navigationalStatus", "NAVSTAT", "nav_status", "Status"),
    "rot": ("rot", "rateOfTurn", "ROT", "RateOfTurn", "turn"),
    "name": ("name", "shipname", "NAME", "ShipName", "VesselName", "vessel_name", "shipName"),
    "callsign": ("callsign", "callSign", "CALLSIGN", "CallSign", "call_sign"),
    "imo": ("imo", "IMO", "imoNumber", "ImoNumber"),
    "ship_type": ("ship_type", "shipType", "shiptype", "TYPE", "VesselType", "vessel_type"),
    "destination": ("destination", "DEST", "Destination"),
    "draught": ("draught", "draft", "DRAUGHT", "Draught", "Draft"),
    "class": ("class_", "transceiverClass", "TransceiverClass"),
    "msg_type": ("msg_type", "messageType", "MessageID"),
    "station": ("station", "station_id", "receiver", "source"),
    "to_bow": ("to_bow", "dimA"),
    "to_stern": ("to_stern", "dimB"),
    "to_port": ("to_port", "dimC"),
    "to_starboard": ("to_starboard", "dimD"),
    "eta": ("eta", "ETA"),
}

# Transceiver class or type of mobile (lower case) -> the AIS message type it reports with.
CLASS_TYPES: dict[str, int] = {
    "a": 1,
    "class a": 1,
    "b": 18,
    "class b": 18,
    "base station": 4,
    "aton": 21,
    "sar airborne": 9,
    "search and rescue transponder": 1,
    "man overboard device": 1,
}


def _path(obj: dict, path: str, topic: str | None) -> object:
    """A value by name, a dotted path (``MetaData.MMSI``), or ``topic[N]`` (the N-th level
    of the MQTT topic it came on: Digitraffic puts the MMSI there)."""
    if path.startswith("topic[") and path.endswith("]"):
        if topic is None:
            return None
        try:
            return topic.split("/")[int(path[6:-1])]
        except (ValueError, IndexError):
            return None
    if path in obj:
        return obj[path]
    if "." not in path:
        return None
    value: object = obj
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


class JsonReader(Reader):
    """Decoded positions as JSON objects, one a line (a JSON-lines file, an MQTT message, a
    datagram, an HTTP body). Field names from ``columns`` (``mmsi=MMSI,time=msgtime``),
    else the common names (``JSON_NAMES``)."""

    format = "json"
    decoded = True

    def __init__(
        self,
        columns: dict[str, str] | None = None,
        time_format: str | None = None,
        timezone: str | None = None,
    ) -> None:
        self.columns = dict(columns or {})
        self.times = TimeParser(time_format, timezone)
        self.statics = _Statics()
        self.names = {
            f: ((self.columns[f],) if f in self.columns else JSON_NAMES[f]) for f in FIELDS
        }

    def _get(self, obj: dict, field: str, topic: str | None) -> object:
        for name in self.names[field]:
            value = _path(obj, name, topic)
            if value is not None:
                return value
        return None

    def read(self, lines: list[str]) -> list:
        out = []
        append = out.append
        for line in lines:
            if not line.strip():
                append("empty")
                continue
            obj, topic = _loads(line)
            append("not_json" if obj is None else self._row(obj, topic, line.strip()))
        return out

    def _row(self, obj: dict, topic: str | None, text: str):
        get = self._get
        mmsi = valid_mmsi(get(obj, "mmsi", topic))
        if mmsi is None:
            return "no_mmsi"
        ts = self.times.parse(get(obj, "time", topic))
        if ts.__class__ is str:
            return "unreadable_time"
        msg_type = to_int(get(obj, "msg_type", topic))
        if msg_type is None:
            cls = get(obj, "class", topic)
            msg_type = CLASS_TYPES.get(str(cls).strip().lower(), 1) if cls is not None else 1
        position = position_record(
            mmsi,
            msg_type,
            to_float(get(obj, "lat", topic)),
            to_float(get(obj, "lon", topic)),
            to_float(get(obj, "sog", topic)),
            to_float(get(obj, "cog", topic)),
            to_float(get(obj, "heading", topic)),
            nav_status(get(obj, "status", topic)) if msg_type != 18 else None,
            to_float(get(obj, "rot", topic)),
        )
        values = (
            to_text(get(obj, "name", topic)),
            to_text(get(obj, "callsign", topic)),
            imo_number(get(obj, "imo", topic)),
            ship_type(get(obj, "ship_type", topic)),
            to_int(get(obj, "to_bow", topic)),
            to_int(get(obj, "to_stern", topic)),
            to_int(get(obj, "to_port", topic)),
            to_int(get(obj, "to_starboard", topic)),
            to_float(get(obj, "draught", topic)),
            to_text(get(obj, "destination", topic)),
            eta_text(get(obj, "eta", topic)),
        )
        static = None
        if self.statics.changed(mmsi, values):
            static = static_record(mmsi, 24 if msg_type == 18 else 5, values)
        if msg_type == 9 and position.__class__ is not str:
            position = None  # a SAR aircraft: counted as other, as its NMEA would be
        station = get(obj, "station", topic)
        return row_of(
            ts,  # type: ignore[arg-type]
            mmsi,
            msg_type,
            None if station is None else _tag_safe(str(station)),
            position,
            static,
            text,
        )


# ---------------------------------------------------------------------------- factory


def make_reader(
    format: str | None = None,
    *,
    columns: str | dict[str, str] | None = None,
    time_format: str | None = None,
    timezone: str | None = None,
) -> Reader | None:
    """The reader for a source's ``format`` (None or ``nmea``: None, the decoder's own
    NMEA path). ``columns`` maps fields to names (``mmsi=MMSI,time=BaseDateTime``) for
    ``json`` and ``csv``; ``time_format`` and ``timezone`` say how their times are written.
    SourceError for an unknown format, field or time zone."""
    fmt = (format or "nmea").lower()
    cols = parse_columns(columns) if isinstance(columns, str) or columns is None else dict(columns)
    if fmt not in FORMATS:
        raise SourceError(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    if cols and fmt not in ("json", "csv"):
        raise SourceError(f"columns apply to the json and csv formats, not {fmt}")
    if fmt == "nmea":
        return None
    if fmt == "aiscatcher":
        return AisCatcherReader()
    if fmt == "gpsd":
        return GpsdReader()
    if fmt == "json":
        return JsonReader(cols, time_format, timezone)
    from mda.ingest.csvfile import CsvReader

    return CsvReader(cols, time_format, timezone)
