"""CSV archives: one decoded position a row, the column layout told by the header.

Built-in layouts, recognised from the header line:

- ``dma`` (Danish Maritime Authority): ``# Timestamp,Type of mobile,MMSI,Latitude,
  Longitude,Navigational status,ROT,SOG,COG,Heading,IMO,Callsign,Name,Ship type,...,A,B,C,D``;
  times ``dd/mm/yyyy HH:MM:SS``, UTC;
- ``marinecadastre`` (US MarineCadastre / NOAA): ``MMSI,BaseDateTime,LAT,LON,SOG,COG,
  Heading,VesselName,IMO,CallSign,VesselType,Status,Length,Width,Draft,Cargo,
  TransceiverClass``; times ``yyyy-mm-ddTHH:MM:SS``, UTC;
- ``columns``: any other header whose columns ``--columns`` names, or that go by common
  names (``mmsi``, ``time``/``timestamp``, ``lat``/``latitude``, ``lon``/``longitude`` ...);
  times as ``values.TimeParser`` reads them.

A header that gives no MMSI, time, latitude and longitude is refused with one message
naming the columns found and the ``--columns`` option. Rows are split on commas (a row
with quotes through the ``csv`` module); a row with fewer cells than the layout needs is
``short_row``, a header line (the first, or a repeated one where files were joined) is
``header``; the other reasons are the decoded records' (``no_mmsi``, ``unreadable_time``,
``no_position``, ``out_of_range``, ``bad_value``). Static columns (name, type, size ...)
repeat on every row: a static record is emitted only when they change for the vessel.
"""

from __future__ import annotations

import csv
from operator import itemgetter

from mda.ingest.errors import SourceError
from mda.ingest.formats import (
    CLASS_TYPES,
    JSON_NAMES,
    Reader,
    _Statics,
    position_record,
    static_record,
)
from mda.ingest.values import (
    FIELDS,
    NAV_STATUS,
    TimeParser,
    eta_text,
    imo_number,
    ship_type,
    to_float,
    to_int,
    to_text,
)

__all__ = ["CsvReader", "LAYOUTS", "detect_layout"]

# Field -> column name of each built-in layout.
LAYOUTS: dict[str, dict[str, str]] = {
    "dma": {
        "time": "# Timestamp",
        "class": "Type of mobile",
        "mmsi": "MMSI",
        "lat": "Latitude",
        "lon": "Longitude",
        "status": "Navigational status",
        "rot": "ROT",
        "sog": "SOG",
        "cog": "COG",
        "heading": "Heading",
        "imo": "IMO",
        "callsign": "Callsign",
        "name": "Name",
        "ship_type": "Ship type",
        "draught": "Draught",
        "destination": "Destination",
        "eta": "ETA",
        "to_bow": "A",
        "to_stern": "B",
        "to_port": "C",
        "to_starboard": "D",
    },
    "marinecadastre": {
        "mmsi": "MMSI",
        "time": "BaseDateTime",
        "lat": "LAT",
        "lon": "LON",
        "sog": "SOG",
        "cog": "COG",
        "heading": "Heading",
        "name": "VesselName",
        "imo": "IMO",
        "callsign": "CallSign",
        "ship_type": "VesselType",
        "status": "Status",
        "draught": "Draft",
        "class": "TransceiverClass",
    },
}
# Older MarineCadastre years spell it so.
_ALIASES = {"TranscieverClass": "TransceiverClass"}

REQUIRED = ("mmsi", "time", "lat", "lon")
_STATIC_FIELDS = (
    "name",
    "callsign",
    "imo",
    "ship_type",
    "to_bow",
    "to_stern",
    "to_port",
    "to_starboard",
    "draught",
    "destination",
    "eta",
)
# More names a CSV column goes by (lower case), beside the JSON ones.
_CSV_NAMES = {
    "time": (
        "# timestamp",
        "timestamp",
        "unix time",
        "unix_time",
        "epoch",
        "date_time",
        "datetime",
    ),
    "class": ("type of mobile", "transceiverclass", "class"),
}


_NUMBER_CACHE = 1 << 14


def _num(text: str) -> float | None:
    """A number from a cell; None when empty or not a number."""
    if not text:
        return None
    try:
        f = float(text)
    except ValueError:
        return None
    return f if f == f else None


def _split(line: str) -> list[str]:
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return []


def detect_layout(header: str, columns: dict[str, str] | None = None) -> tuple[str, dict[str, int]]:
    """(layout name, field -> column index) for a header line; SourceError naming the
    columns found when it gives no MMSI, time, latitude and longitude."""
    cells = [_ALIASES.get(c.strip(), c.strip()) for c in _split(header.strip().lstrip("\ufeff"))]
    index = {c: i for i, c in enumerate(cells)}
    lower = {c.lower(): i for i, c in enumerate(cells)}
    found = ", ".join(repr(c) for c in cells) or "none"
    if columns:
        missing = [
            f"{f}={name}"
            for f, name in columns.items()
            if name not in index and name.lower() not in lower
        ]
        if missing:
            raise SourceError(
                f"CSV columns not in the header: {', '.join(missing)} (found: {found})"
            )
        fields = {f: index.get(name, lower.get(name.lower())) for f, name in columns.items()}
        name = "columns"
    else:
        name = "columns"
        fields = {}
        for layout, names in LAYOUTS.items():
            if all(names[f] in index for f in REQUIRED):
                name = layout
                fields = {f: index[c] for f, c in names.items() if c in index}
                break
        if not fields:
            for f in FIELDS:
                for cand in _CSV_NAMES.get(f, ()) + tuple(n.lower() for n in JSON_NAMES[f]):
                    if cand in lower:
                        fields[f] = lower[cand]
                        break
    missing = [f for f in REQUIRED if fields.get(f) is None]
    if missing:
        raise SourceError(
            f"unknown CSV columns: found {found}; no {', '.join(missing)} among them. Name "
            "them with --columns (or columns in the source's settings), e.g. "
            "--columns mmsi=MMSI,time=Timestamp,lat=Latitude,lon=Longitude"
        )
    return name, {f: i for f, i in fields.items() if i is not None}


class CsvReader(Reader):
    """Rows of a CSV archive; the first line (or ``set_header``) fixes the layout.

    The hot path (``read``): a row is split once (``str.split``, the ``csv`` module only
    for a row with quotes), its cells picked by the column indexes fixed at the header
    (``operator.itemgetter``: one C call for the kinematic cells, one for the static
    ones), times and numbers cached by their text, static cells compared as text and
    decoded only when they change for the vessel. No dict is built per row."""

    format = "csv"
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
        self.layout: str | None = None
        self.fields: dict[str, int] = {}
        self.header_line: str | None = None
        self._need = self._width = self._i_mmsi = self._i_time = 0
        self._status: dict[str, int | None] = {}
        self._class: dict[str, int] = {}
        self._numbers: dict[str, float | None] = {}

    @property
    def label(self) -> str:
        return f"csv-{self.layout}" if self.layout else "csv"

    def set_header(self, line: str) -> None:
        self.layout, self.fields = detect_layout(line, self.columns)
        self.header_line = line.strip()
        self._need = max(self.fields[f] for f in REQUIRED) + 1
        index = self._index
        self._i_mmsi, self._i_time = self.fields["mmsi"], self.fields["time"]
        self._i_lat, self._i_lon = self.fields["lat"], self.fields["lon"]
        self._i_class, self._i_type, self._i_status = (
            index("class"),
            index("msg_type"),
            index("status"),
        )
        # Cells read on every row: one itemgetter each for the kinematic and the static
        # cells. ``read`` pads every row with "" up to the widest column read and one more
        # "" at the end: a column the layout lacks reads that last cell (index -1).
        kin = tuple(index(f) for f in ("sog", "cog", "heading", "rot"))
        static = tuple(index(f) for f in _STATIC_FIELDS)
        used = [i for i in (*kin, *static, self._i_class, self._i_type, self._i_status) if i >= 0]
        self._width = max([self._need - 1, *used]) + 1
        self._kin = itemgetter(*kin)
        self._static_cells = itemgetter(*static)

    def _number(self, text: str) -> float | None:
        """A cell as a number (None when empty or not one), cached by its text: speeds,
        courses and headings repeat."""
        numbers = self._numbers
        if len(numbers) >= _NUMBER_CACHE:
            numbers.clear()
        out = numbers[text] = _num(text)
        return out

    def read(self, lines: list[str]) -> list:
        out = []
        append = out.append
        parse_time = self.times.parse
        row = self._row
        header = self.header_line
        need, width = self._need, self._width
        i_mmsi, i_time = self._i_mmsi, self._i_time
        for line in lines:
            text = line.rstrip("\r\n")
            if not text.strip():
                append("empty")
                continue
            if header is None or text == header:
                if header is None:
                    self.set_header(text)  # SourceError when no layout fits: the feed stops
                    header = self.header_line
                    need, width = self._need, self._width
                    i_mmsi, i_time = self._i_mmsi, self._i_time
                append("header")
                continue
            cells = text.split(",") if '"' not in text else _split(text)
            n = len(cells)
            if n < need:
                append("short_row")
                continue
            m = cells[i_mmsi]
            if not m.isdigit():
                m = m.strip()
            if not m.isdigit():
                if "mmsi" in text.lower():  # a header again, where files were joined
                    try:
                        self.set_header(text)
                    except SourceError:
                        pass
                    else:
                        header = self.header_line
                        need, width = self._need, self._width
                        i_mmsi, i_time = self._i_mmsi, self._i_time
                        append("header")
                        continue
                append("no_mmsi")
                continue
            mmsi = int(m)
            if not 0 < mmsi < 1_000_000_000:
                append("no_mmsi")
                continue
            ts = parse_time(cells[i_time])
            if ts is None or ts.__class__ is str:
                append("unreadable_time")
                continue
            if n < width:  # a row shorter than the columns read: pad it
                cells.extend([""] * (width - n + 1))
            else:
                cells.append("")
            append(row(ts, mmsi, cells, text))
        return out

    def _index(self, field: str) -> int:
        i = self.fields.get(field)
        return -1 if i is None else i

    def _row(self, ts: float, mmsi: int, cells: list[str], text: str):
        # ``cells`` ends with the padding cell "" (see set_header).
        cls = cells[self._i_class]
        msg_type = self._class.get(cls) if cls else None
        if msg_type is None:
            c = cls.strip()
            if not c:
                msg_type = to_int(cells[self._i_type]) or 1
            else:
                msg_type = self._class[cls] = CLASS_TYPES.get(c.lower(), 1)
        try:
            lat = float(cells[self._i_lat] or "nan")
            lon = float(cells[self._i_lon] or "nan")
        except ValueError:
            return "bad_value"
        status = None
        if msg_type != 18:
            raw = cells[self._i_status]
            if raw:
                status = self._status.get(raw, -1)
                if status == -1:
                    code = to_int(raw)
                    key = raw.strip()
                    status = self._status[raw] = (
                        None
                        if not key
                        else code
                        if code is not None and 0 <= code <= 15
                        else NAV_STATUS.get(key.lower())
                    )
        numbers = self._numbers
        sog, cog, heading, rot = self._kin(cells)
        sog = numbers[sog] if sog in numbers else self._number(sog)
        cog = numbers[cog] if cog in numbers else self._number(cog)
        heading = numbers[heading] if heading in numbers else self._number(heading)
        rot = numbers[rot] if rot in numbers else self._number(rot)
        position = position_record(
            mmsi,
            msg_type,
            None if lat != lat else lat,
            None if lon != lon else lon,
            sog,
            cog,
            heading,
            status,
            rot,
        )
        static = None
        raw_static = self._static_cells(cells)
        if self.statics.changed(mmsi, raw_static):
            name, callsign, imo, stype, bow, stern, port, star, draught, dest, eta = raw_static
            static = static_record(
                mmsi,
                24 if msg_type == 18 else 21 if msg_type == 21 else 5,
                (
                    to_text(name),
                    to_text(callsign),
                    imo_number(imo),
                    ship_type(stype.strip() or None),
                    to_int(bow),
                    to_int(stern),
                    to_int(port),
                    to_int(star),
                    to_float(draught),
                    to_text(dest),
                    eta_text(eta),
                ),
            )
        if position.__class__ is str:
            if static is None:
                return position
            position = None
        elif msg_type == 9:
            position = None  # a SAR aircraft: counted as other, as its NMEA would be
        return (ts, mmsi, msg_type, None, position, static, text.encode("utf-8", "replace"), text)
