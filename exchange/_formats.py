"""The track files of an incident extract, each written as the positions stream by: one
vessel's fixes at a time (``Fix`` tuples in time order), never the whole set.

- ``tracks.csv``: every fix, one row each (what a spreadsheet or a script reads);
- ``tracks.mf.json``: OGC Moving Features JSON (19-045r3), the *Trajectory* encoding: a
  GeoJSON FeatureCollection, one Feature per vessel whose LineString carries one
  ``datetimes`` entry per coordinate (RFC 3339, increasing: a second fix at the same instant
  is left to the CSV), so any GIS opens it as plain GeoJSON;
- ``tracks.kml``: KML 2.2 with one ``gx:Track`` per vessel (time slider in Google Earth),
  speed and course as ``gx:SimpleArrayData``;
- ``incident.cise.xml``: the alert as an EU CISE 1.5.3 ``Anomaly`` whose involved vessels
  carry their tracks as ``LocationRel`` entries (``exchange/cise/`` has the schemas).

Every text is escaped, and characters XML cannot carry are dropped. Numbers are written as
they are stored; times in UTC with a Z.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any, NamedTuple
from xml.sax.saxutils import escape

__all__ = [
    "Fix",
    "rfc3339",
    "CsvTracks",
    "MfJsonTracks",
    "KmlTracks",
    "CiseAnomaly",
    "cise_vessel_type",
    "CISE_SCHEMA_FILES",
]


class Fix(NamedTuple):
    """One position row (``store.extracts.POSITION_COLUMNS``)."""

    time: datetime
    mmsi: int
    lat: float
    lon: float
    sog: float | None
    cog: float | None
    heading: int | None
    nav_status: int | None
    msg_type: int | None
    source: str | None


def rfc3339(t: datetime) -> str:
    """UTC with a Z; milliseconds only when the time has a fraction."""
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += f".{t.microsecond // 1000:03d}"
    return s + "Z"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(value: Any) -> str:
    """Text for XML content: escaped, without the characters XML 1.0 forbids."""
    return escape(_NOT_XML.sub("", str(value)))


def _num(v: float | None) -> str:
    return "" if v is None else repr(float(v)) if isinstance(v, float) else str(v)


# ------------------------------------------------------------------ CSV

CSV_HEADER = (
    "mmsi",
    "time",
    "lat",
    "lon",
    "sog_kn",
    "cog_deg",
    "heading_deg",
    "nav_status",
    "msg_type",
    "source",
)


class CsvTracks:
    """``tracks.csv``: a header, then every fix (RFC 4180, CRLF line ends)."""

    def __init__(self, f: IO[str]):
        self._w = csv.writer(f, lineterminator="\r\n")
        self._w.writerow(CSV_HEADER)
        self.rows = 0

    def write(self, fixes: Sequence[Fix]) -> None:
        for p in fixes:
            self._w.writerow(
                (
                    p.mmsi,
                    rfc3339(p.time),
                    repr(p.lat),
                    repr(p.lon),
                    _num(p.sog),
                    _num(p.cog),
                    _num(p.heading),
                    _num(p.nav_status),
                    _num(p.msg_type),
                    p.source or "",
                )
            )
        self.rows += len(fixes)


# ------------------------------------------------------------------ OGC Moving Features JSON


def _distinct_times(fixes: Sequence[Fix]) -> list[Fix]:
    out: list[Fix] = []
    for p in fixes:
        if not out or p.time > out[-1].time:
            out.append(p)
    return out


class MfJsonTracks:
    """``tracks.mf.json``: written feature by feature; ``close`` ends the collection."""

    def __init__(self, f: IO[str], properties: dict[str, Any]):
        self._f = f
        self._first = True
        head = json.dumps({"type": "FeatureCollection", "properties": properties}, indent=None)
        f.write(head[:-1] + ', "features": [\n')

    def write(self, fixes: Sequence[Fix], properties: dict[str, Any]) -> None:
        fixes = _distinct_times(fixes)
        if not fixes:
            return
        coords = [[p.lon, p.lat] for p in fixes]
        geometry = (
            {"type": "LineString", "coordinates": coords}
            if len(coords) > 1
            else {"type": "Point", "coordinates": coords[0]}
        )
        feature = {
            "type": "Feature",
            "id": str(fixes[0].mmsi),
            "geometry": geometry,
            "properties": {
                **properties,
                "datetimes": [rfc3339(p.time) for p in fixes],
                "sog_kn": [p.sog for p in fixes],
                "cog_deg": [p.cog for p in fixes],
            },
        }
        self._f.write(("" if self._first else ",\n") + json.dumps(feature, ensure_ascii=False))
        self._first = False

    def close(self) -> None:
        self._f.write("\n]}\n")


# ------------------------------------------------------------------ KML


class KmlTracks:
    """``tracks.kml``: the alert's place (when there is one), then a ``gx:Track`` per vessel."""

    def __init__(self, f: IO[str], name: str, description: str, place: dict | None = None):
        self._f = f
        f.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<kml xmlns="http://www.opengis.net/kml/2.2" '
            'xmlns:gx="http://www.google.com/kml/ext/2.2">\n<Document>\n'
            f"<name>{_x(name)}</name>\n<description>{_x(description)}</description>\n"
            '<Style id="track"><IconStyle><scale>0.6</scale></IconStyle>'
            "<LineStyle><color>ff2e291f</color><width>2</width></LineStyle></Style>\n"
            '<Style id="alert"><IconStyle><color>ff2a20e8</color><scale>1.3</scale>'
            "</IconStyle></Style>\n"
            '<Schema id="fix">'
            '<gx:SimpleArrayField name="sog" type="float"><displayName>SOG (kn)</displayName>'
            "</gx:SimpleArrayField>"
            '<gx:SimpleArrayField name="cog" type="float"><displayName>COG (deg)</displayName>'
            "</gx:SimpleArrayField></Schema>\n"
        )
        if place is not None:
            span = "<begin>{}</begin>".format(_x(place["begin"]))
            if place.get("end"):
                span += "<end>{}</end>".format(_x(place["end"]))
            f.write(
                f"<Placemark><name>{_x(place['name'])}</name>"
                f"<description>{_x(place['description'])}</description>"
                f"<TimeSpan>{span}</TimeSpan><styleUrl>#alert</styleUrl>"
                f"<Point><coordinates>{place['lon']!r},{place['lat']!r}</coordinates></Point>"
                "</Placemark>\n"
            )
        f.write("<Folder><name>Tracks</name>\n")

    def write(self, fixes: Sequence[Fix], name: str, description: str) -> None:
        if not fixes:
            return
        w = self._f.write
        w(
            f"<Placemark><name>{_x(name)}</name><description>{_x(description)}</description>"
            "<styleUrl>#track</styleUrl><gx:Track>\n"
        )
        w("".join(f"<when>{rfc3339(p.time)}</when>\n" for p in fixes))
        w("".join(f"<gx:coord>{p.lon!r} {p.lat!r} 0</gx:coord>\n" for p in fixes))
        w('<ExtendedData><SchemaData schemaUrl="#fix">')
        for field in ("sog", "cog"):
            values = "".join(f"<gx:value>{_num(getattr(p, field))}</gx:value>" for p in fixes)
            w(f'<gx:SimpleArrayData name="{field}">{values}</gx:SimpleArrayData>')
        w("</SchemaData></ExtendedData></gx:Track></Placemark>\n")

    def close(self) -> None:
        self._f.write("</Folder>\n</Document>\n</kml>\n")


# ------------------------------------------------------------------ CISE

# The shipped schemas (exchange/cise/data-model/) an incident.cise.xml validates against:
# the root element's, and those of the types it names with xsi:type (with their bases). A
# validator loads each namespace once, from its first file: given together, none is lost.
CISE_SCHEMA_FILES = (
    "Anomaly.xsd",
    "entity/object/Vehicle.xsd",
    "entity/vessel/Vessel.xsd",
    "entity/document/EventDocument.xsd",
)
VESSEL_NS = "http://www.cise.eu/datamodel/v1/entity/vessel/"
DOCUMENT_NS = "http://www.cise.eu/datamodel/v1/entity/document/"


def cise_vessel_type(ship_type: int | None) -> str | None:
    """The AIS ship type (ITU-R M.1371) as the nearest CISE VesselType, None if unknown."""
    if ship_type is None or ship_type <= 0:
        return None
    tens = ship_type // 10
    if ship_type == 30:
        return "FishingVessel"
    return {
        4: "HighSpeedCraft",
        5: "SpecialPurposeShip",
        6: "PassengerShip",
        7: "GeneralCargoShip",
        8: "OilTanker",
    }.get(tens, "Other")


def _period(start: datetime | None, end: datetime | None = None) -> str:
    """A CISE Period: its elements in the schema's (alphabetical) order."""
    out = ""
    if end is not None:
        out += f"<EndDate>{end:%Y-%m-%d}</EndDate><EndTime>{end:%H:%M:%S}Z</EndTime>"
    if start is not None:
        out += f"<StartDate>{start:%Y-%m-%d}</StartDate><StartTime>{start:%H:%M:%S}Z</StartTime>"
    return out


def _geometry(lat: float, lon: float) -> str:
    return (
        f"<Location><Geometry><Latitude>{lat!r}</Latitude><Longitude>{lon!r}</Longitude>"
        "</Geometry></Location>"
    )


class CiseAnomaly:
    """``incident.cise.xml``: the Anomaly's head is written first, each vessel (with its
    track) as it streams by, the evidence document and the anomaly type at ``close``."""

    def __init__(
        self,
        f: IO[str],
        *,
        identity: str,
        organisation: str,
        created: datetime,
        anomaly_type: str,
        description: str,
        caveat: str,
        start: datetime,
        end: datetime | None,
        lat: float | None,
        lon: float | None,
    ):
        self._f = f
        self._type = anomaly_type
        self._open_vessel = False
        uid = uuid.uuid5(uuid.NAMESPACE_URL, identity)
        f.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Anomaly xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:vessel="{VESSEL_NS}" xmlns:document="{DOCUMENT_NS}">\n'
            "<Identifier>"
            f"<GeneratedBy><LegalName>{_x(organisation)}</LegalName></GeneratedBy>"
            f"<GeneratedIn>{created:%Y-%m-%dT%H:%M:%S}Z</GeneratedIn>"
            f"<UUID>{uid}</UUID></Identifier>\n"
            f"<Metadata><Comments>{_x(caveat)}</Comments>"
            f"<Description>{_x(description)}</Description>"
            "<Language>en</Language></Metadata>\n"
            "<NatureType>Observed</NatureType>\n"
            f"<OccurrencePeriod>{_period(start, end)}</OccurrencePeriod>\n"
        )
        if lat is not None and lon is not None:
            f.write(
                f"<LocationRel>{_geometry(lat, lon)}<DateTime>{_period(start, end)}</DateTime>"
                "<LocationRole>StartPlace</LocationRole></LocationRel>\n"
            )

    def write(self, fixes: Sequence[Fix], vessel: dict, role_period: tuple) -> None:
        """One involved vessel: its name, its track, then its static data."""
        w = self._f.write
        w('<InvolvedObjectRel><Object xsi:type="vessel:Vessel">\n')
        if vessel.get("name"):
            w(f"<Name>{_x(vessel['name'])}</Name>\n")
        for p in fixes:
            w(
                f"<LocationRel>{_geometry(p.lat, p.lon)}"
                + (f"<COG>{float(p.cog)!r}</COG>" if p.cog is not None else "")
                + (f"<Heading>{float(p.heading)!r}</Heading>" if p.heading is not None else "")
                + f"<PeriodOfTime>{_period(p.time)}</PeriodOfTime>"
                "<SensorType>AutomaticIdentificationSystem</SensorType>"
                + (f"<SOG>{float(p.sog)!r}</SOG>" if p.sog is not None else "")
                + "</LocationRel>\n"
            )
        beam = _sum(vessel.get("to_port"), vessel.get("to_starboard"))
        loa = _sum(vessel.get("to_bow"), vessel.get("to_stern"))
        static = ""
        if beam:
            static += f"<Beam>{beam}</Beam>"
        if vessel.get("callsign"):
            static += f"<CallSign>{_x(vessel['callsign'])}</CallSign>"
        if vessel.get("draught"):
            static += f"<Draught>{float(vessel['draught'])!r}</Draught>"
        if vessel.get("imo"):
            static += f"<IMONumber>{int(vessel['imo'])}</IMONumber>"
        if loa:
            static += f"<LOA>{float(loa)!r}</LOA>"
        static += f"<MMSI>{int(vessel['mmsi'])}</MMSI>"
        kind = cise_vessel_type(vessel.get("ship_type"))
        if kind:
            static += f"<ShipType>{kind}</ShipType>"
        w(static + "\n</Object><ObjectRole>Participant</ObjectRole>")
        w(f"<InvolvementPeriod>{_period(*role_period)}</InvolvementPeriod></InvolvedObjectRel>\n")

    def close(self, documents: Sequence[dict]) -> None:
        """``documents``: the files the anomaly rests on (title, SHA-256, path in the bag)."""
        w = self._f.write
        for d in documents:
            w(
                '<DocumentRel><Document xsi:type="document:EventDocument">'
                f"<Metadata><Description>{_x(d['description'])}</Description>"
                f"<FileURI>{_x(d['path'])}</FileURI></Metadata>"
                f"<Title>{_x(d['title'])}</Title>"
                f"<Hash>{d['sha256']}</Hash><ReferenceURI>{_x(d['path'])}</ReferenceURI>"
                "<DocumentType>Other</DocumentType></Document></DocumentRel>\n"
            )
        w(f"<AnomalyType>{self._type}</AnomalyType>\n</Anomaly>\n")


def _sum(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return a + b
