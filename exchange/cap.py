"""OASIS CAP 1.2 (Common Alerting Protocol), both ways: warnings in as hazard areas, hazard
areas out as warnings a partner's warning system ingests.

In: ``parse_cap(xml)`` reads an ``alert`` with one or more ``info`` blocks, each with one or
more ``area``s of ``polygon`` ("lat,lon lat,lon ...", closed) and ``circle`` ("lat,lon
radius_km") elements, and returns one ``Hazard`` per ``info`` (its areas united), named by
its ``headline`` (else ``event``), valid from ``onset`` (else ``effective``, else ``sent``) to
``expires``, with CAP's severity mapped to ours. XML is parsed with ``defusedxml`` with DTDs
refused: no external entities, no entity expansion (billion laughs). Every problem raises
``CapError`` naming the element at fault (``alert/info[2]/area[1]/polygon[1]: ...``). A
polygon that is not closed is closed; one that crosses itself is repaired (``make_valid``);
either is noted in the hazard's details. One that crosses the antimeridian is refused, and so
is a circle reaching across it. An alert in several languages (the same areas in one ``info``
per ``language``) is one hazard per area set, in English when there is an English ``info``.
With ``live_only`` an exercise, test or draft (``status``) or an Ack or Error (``msgType``)
raises ``CapNotLive``.

Out: ``to_cap(hazard, ...)`` writes one CAP 1.2 alert for a hazard, its polygon as
``polygon`` elements and the vessels at risk, when given, in the ``description``.
``cap_sender`` makes a name CAP-safe for ``sender`` (no spaces or commas, which CAP forbids and
which would break ``references``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import shapely
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from mda.analytics.hazards import Hazard, circle, crosses_antimeridian

from .errors import ExchangeError

__all__ = [
    "CapError",
    "CapNotLive",
    "cap_sender",
    "cap_references",
    "LIVE_STATUS",
    "parse_cap",
    "cap_cancels",
    "to_cap",
    "cap_reference",
    "CAP_NS",
    "SEVERITY_FROM_CAP",
]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
_NS = {"cap": CAP_NS}
# CAP's severity to ours: Extreme, Severe, Moderate, Minor, Unknown.
SEVERITY_FROM_CAP = {
    "Extreme": "critical",
    "Severe": "high",
    "Moderate": "medium",
    "Minor": "low",
    "Unknown": "medium",
}
SEVERITY_TO_CAP = {"critical": "Extreme", "high": "Severe", "medium": "Moderate", "low": "Minor"}
MAX_BYTES = 1 << 20  # a CAP alert is a few kB; a megabyte is already generous


class CapError(ExchangeError):
    """A CAP document that cannot be taken as it is; the message names the element."""


class CapNotLive(CapError):
    """A well-formed CAP message that is not a live warning: an exercise, a test, a draft
    (``status``), or an acknowledgement or error report (``msgType`` Ack, Error). Refused
    (the API: 422; the CLI: one line) or, on the MQTT feed, counted and logged; ``reason``
    is short ("status Exercise", "msgType Ack")."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


LIVE_STATUS = "Actual"


def cap_sender(name: str | None) -> str:
    """A CAP-safe ``sender`` (or identifier) from a name such as the organisation setting:
    CAP 1.2 forbids spaces and commas in both (``references`` are comma- and
    space-separated), so every character other than a letter, a digit or ``-._@:`` becomes
    ``-`` ("MRCC Mumbai" -> "MRCC-Mumbai"); nothing gives "mda"."""
    safe = "".join(c if c.isalnum() or c in "-._@:" else "-" for c in (name or "").strip())
    return safe or "mda"


def _safe_root(data: bytes | str, max_bytes: int):
    """The document's root element, parsed with DTDs, entities and external references
    refused (no billion laughs, no file or network reads), within a size bound."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise CapError(f"alert: {len(raw):,} bytes, more than the {max_bytes:,} accepted")
    try:
        return SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise CapError(
            f"alert: refused ({type(e).__name__}: DTDs and entities are not accepted)"
        ) from None
    except ET.ParseError as e:
        raise CapError(f"alert: not well-formed XML ({e})") from None


def parse_cap(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, live_only: bool = False
) -> list[Hazard]:
    """Hazards from a CAP 1.2 alert, one per ``info`` block; an alert sent in several
    languages (the same area in several ``info`` blocks, each with its ``language``) is one
    hazard per area: its English ``info`` (``en``, ``en-IN``...), else the first.
    ``live_only``: a message that is not a live warning (``status`` other than Actual;
    ``msgType`` Ack or Error) raises ``CapNotLive`` saying why."""
    root = _safe_root(data, max_bytes)
    if root.tag != f"{{{CAP_NS}}}alert":
        raise CapError(
            f"{_local(root.tag)}: not a CAP 1.2 alert (expected the element "
            f"'alert' in namespace {CAP_NS})"
        )
    identifier = _text(root, "identifier", "alert", required=True)
    sender = _text(root, "sender", "alert", required=True)
    sent = _time(root, "sent", "alert", required=True)
    status = _text(root, "status", "alert", required=True)
    msg_type = _text(root, "msgType", "alert", required=True)
    if live_only and status != LIVE_STATUS:
        raise CapNotLive(
            f"alert/status: {status!r}: {_STATUS_WHY.get(status, 'not a live warning')}; "
            "only status Actual becomes a hazard",
            f"status {status}",
        )
    if live_only and msg_type in ("Ack", "Error"):
        raise CapNotLive(
            f"alert/msgType: {msg_type!r}: "
            + ("acknowledges" if msg_type == "Ack" else "reports an error in")
            + " an earlier message and warns of nothing; ignored",
            f"msgType {msg_type}",
        )
    infos = root.findall("cap:info", _NS)
    if not infos:
        raise CapError(
            "alert/info: missing (a CAP alert needs at least one info block with an area)"
        )
    parsed = []
    for i, info in enumerate(infos, 1):
        where = f"alert/info[{i}]"
        event = _text(info, "event", where, required=True)
        headline = _text(info, "headline", where)
        severity = _text(info, "severity", where, required=True)
        if severity not in SEVERITY_FROM_CAP:
            raise CapError(
                f"{where}/severity: {severity!r} is not one of {', '.join(SEVERITY_FROM_CAP)}"
            )
        onset = _time(info, "onset", where) or _time(info, "effective", where) or sent
        expires = _time(info, "expires", where)
        if expires is not None and expires <= onset:
            raise CapError(f"{where}/expires: {_iso(expires)} is not after the onset {_iso(onset)}")
        areas = info.findall("cap:area", _NS)
        if not areas:
            raise CapError(f"{where}/area: missing (no place is named)")
        shapes, notes, names = [], [], []
        for j, area in enumerate(areas, 1):
            at = f"{where}/area[{j}]"
            names.append(_text(area, "areaDesc", at, required=True))
            found = 0
            for k, el in enumerate(area.findall("cap:polygon", _NS), 1):
                shape, note = _polygon(el.text or "", f"{at}/polygon[{k}]")
                shapes.append(shape)
                notes += [note] if note else []
                found += 1
            for k, el in enumerate(area.findall("cap:circle", _NS), 1):
                shapes.append(_circle(el.text or "", f"{at}/circle[{k}]"))
                found += 1
            if not found:
                raise CapError(
                    f"{at}: no polygon or circle (an area named only by "
                    f"'{names[-1]}' cannot be drawn)"
                )
        geometry = shapely.union_all(shapes)
        # the area set, to know translations of one warning (the same areas) apart
        key = tuple(
            sorted(
                " ".join((el.text or "").split())
                for el in info.iterfind(".//cap:area/*", _NS)
                if _local(el.tag) in ("polygon", "circle")
            )
        )
        parsed.append(
            {
                "n": i,
                "info": info,
                "where": where,
                "key": key,
                "language": _text(info, "language", where) or "en-US",  # CAP's default
                "event": event,
                "headline": headline,
                "severity": severity,
                "onset": onset,
                "expires": expires,
                "geometry": geometry,
                "names": names,
                "notes": notes,
            }
        )
    # one hazard per area set: of its translations, the English one (else the first one's
    # language); several info blocks in that language (two events), one each
    chosen = []
    for key in dict.fromkeys(p["key"] for p in parsed):
        same = [p for p in parsed if p["key"] == key]
        english = [p for p in same if p["language"].lower().split("-")[0] == "en"]
        lang = (english or same)[0]["language"]
        chosen += [p for p in same if p["language"] == lang]
    chosen.sort(key=lambda p: p["n"])
    hazards = []
    for n, p in enumerate(chosen, 1):
        info, where, severity = p["info"], p["where"], p["severity"]
        hazards.append(
            Hazard(
                id=f"cap:{identifier}:{n}",
                name=p["headline"] or p["event"],
                geometry=p["geometry"],
                severity=SEVERITY_FROM_CAP[severity],
                onset=p["onset"],
                expires=p["expires"],
                details={
                    "source": "cap",
                    "identifier": identifier,
                    "sender": sender,
                    "sent": sent,
                    "status": status,
                    "msg_type": msg_type,
                    "references": _text(root, "references", "alert"),
                    "note": _text(root, "note", "alert"),
                    "event": p["event"],
                    "headline": p["headline"],
                    "language": p["language"],
                    "info": p["n"],
                    "cap_severity": severity,
                    "urgency": _text(info, "urgency", where),
                    "certainty": _text(info, "certainty", where),
                    "areas": p["names"],
                    "repairs": p["notes"],
                },
            )
        )
    return hazards


_STATUS_WHY = {
    "Exercise": "an exercise",
    "Test": "a technical test",
    "Draft": "a draft, not issued",
    "System": "a message between systems",
}


def cap_references(text: str | None, where: str = "alert/references") -> list[tuple[str, str]]:
    """CAP's ``references`` (``sender,identifier,sent`` separated by spaces) as (sender,
    identifier) pairs; one not of that form raises ``CapError``."""
    out = []
    for ref in (text or "").split():
        parts = ref.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise CapError(f"{where}: {ref!r} is not 'sender,identifier,sent'")
        out.append((parts[0], parts[1]))
    return out


def cap_cancels(data: bytes | str, *, max_bytes: int = MAX_BYTES) -> list[tuple[str, str]] | None:
    """For a CAP 1.2 alert of msgType "Cancel", the earlier messages it withdraws as
    (sender, identifier) pairs, from its ``references`` (``sender,identifier,sent ...``);
    None for any other message. Parsed as safely as ``parse_cap``; a Cancel naming no
    earlier message raises ``CapError``."""
    root = _safe_root(data, max_bytes)
    if root.tag != f"{{{CAP_NS}}}alert" or _text(root, "msgType", "alert") != "Cancel":
        return None
    return cap_references(_text(root, "references", "alert", required=True))


def _polygon(text: str, where: str) -> tuple[BaseGeometry, str | None]:
    points = []
    for pair in text.split():
        try:
            lat, lon = (float(x) for x in pair.split(","))
        except ValueError:
            raise CapError(f"{where}: {pair!r} is not 'lat,lon'") from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise CapError(f"{where}: {pair!r} is out of range")
        points.append((lon, lat))
    note = None
    if len(points) >= 3 and points[0] != points[-1]:
        points.append(points[0])
        note = f"{where}: not closed; closed by repeating its first point"
    if len(points) < 4:
        raise CapError(
            f"{where}: a polygon needs at least 4 points (the first repeated "
            f"last); got {len(points)}"
        )
    lons = [p[0] for p in points]
    if max(lons) - min(lons) > 180.0:
        raise CapError(
            f"{where}: crosses the antimeridian (180 deg), which is not supported; "
            "split it into two polygons"
        )
    poly = Polygon(points)
    if not poly.is_valid:
        reason = shapely.is_valid_reason(poly)
        fixed = shapely.make_valid(poly)
        fixed = shapely.union_all(
            [
                g
                for g in getattr(fixed, "geoms", [fixed])
                if g.geom_type in ("Polygon", "MultiPolygon")
            ]
        )
        if fixed.is_empty or fixed.area == 0.0:
            raise CapError(f"{where}: not a valid polygon ({reason}) and cannot be repaired")
        return fixed, f"{where}: {reason}; repaired"
    return poly, note


def _circle(text: str, where: str) -> BaseGeometry:
    try:
        centre, radius = text.split()
        lat, lon = (float(x) for x in centre.split(","))
        radius_km = float(radius)
    except ValueError:
        raise CapError(f"{where}: {text.strip()!r} is not 'lat,lon radius_km'") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise CapError(f"{where}: centre {lat},{lon} is out of range")
    if not 0.0 < radius_km <= 5000.0:
        raise CapError(f"{where}: radius {radius_km:g} km is not between 0 and 5000")
    return checked_circle(lat, lon, radius_km, where, CapError)


def checked_circle(lat: float, lon: float, radius_km: float, where: str, error=CapError):
    """The circle as a polygon; one reaching across the antimeridian (180 deg) is refused,
    as polygons crossing it are: a planar polygon would span the whole globe instead."""
    shape = circle(lat, lon, radius_km)
    if crosses_antimeridian(shape):
        raise error(
            f"{where}: the circle of {radius_km:g} km around {lat:g},{lon:g} crosses the "
            "antimeridian (180 deg), which is not supported; give it as two polygons, one "
            "on each side"
        )
    return shape


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el, name: str, where: str, required: bool = False) -> str | None:
    child = el.find(f"cap:{name}", _NS)
    value = None if child is None or child.text is None else child.text.strip()
    if required and not value:
        raise CapError(f"{where}/{name}: missing")
    return value or None


def _time(el, name: str, where: str, required: bool = False) -> float | None:
    text = _text(el, name, where, required)
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CapError(
            f"{where}/{name}: {text!r} is not a CAP date-time (YYYY-MM-DDThh:mm:ss+hh:mm)"
        ) from None
    if t.tzinfo is None:
        raise CapError(f"{where}/{name}: {text!r} has no time zone")
    return t.timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cap_reference(sender: str, identifier: str, sent: float) -> str:
    """An earlier message as CAP's ``references`` names it: ``sender,identifier,sent`` (the
    ``sent`` written exactly as ``to_cap`` wrote it); the sender made CAP-safe as
    ``to_cap`` requires it (``cap_sender``), so that the reference parses back."""
    return f"{cap_sender(sender)},{identifier},{_iso(sent)}"


def to_cap(
    hazard: Hazard,
    *,
    sender: str,
    identifier: str,
    sent: float,
    at_risk: list | None = None,
    status: str = "Actual",
    msg_type: str = "Alert",
    references: list[str] | None = None,
    note: str | None = None,
) -> str:
    """One CAP 1.2 alert for ``hazard``: its polygon(s), validity, severity; the vessels at
    risk (``AtRisk`` items), when given, listed in the description. ``msg_type`` "Cancel"
    (or "Update") with ``references``, the earlier messages as ``cap_reference`` gives them,
    withdraws (or replaces) them; ``note`` says why."""
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise ValueError(f"msgType {msg_type!r}: not Alert, Update or Cancel")
    if msg_type != "Alert" and not references:
        raise ValueError(f"msgType {msg_type}: needs the references of the earlier messages")
    for field, value in (("sender", sender), ("identifier", identifier)):
        if not value or any(c.isspace() or c in ",<&" for c in value):
            raise ValueError(
                f"{field} {value!r}: CAP forbids spaces and commas in it (see cap_sender)"
            )
    ET.register_namespace("", CAP_NS)
    q = f"{{{CAP_NS}}}"
    alert = ET.Element(f"{q}alert")

    def add(parent, name, text):
        el = ET.SubElement(parent, f"{q}{name}")
        el.text = text
        return el

    add(alert, "identifier", identifier)
    add(alert, "sender", sender)
    add(alert, "sent", _iso(sent))
    add(alert, "status", status)
    add(alert, "msgType", msg_type)
    add(alert, "scope", "Restricted")
    add(alert, "restriction", "Partner agencies under the information-exchange arrangement")
    if note:
        add(alert, "note", note)
    if references:
        add(alert, "references", " ".join(references))
    info = ET.SubElement(alert, f"{q}info")
    add(info, "category", "Safety")
    add(info, "event", hazard.details.get("event") or hazard.name)
    add(info, "urgency", hazard.details.get("urgency") or "Expected")
    add(info, "severity", SEVERITY_TO_CAP.get(hazard.severity, "Unknown"))
    add(info, "certainty", hazard.details.get("certainty") or "Likely")
    if hazard.onset is not None:
        add(info, "onset", _iso(hazard.onset))
    if hazard.expires is not None:
        add(info, "expires", _iso(hazard.expires))
    add(info, "headline", hazard.name)
    if at_risk:
        lines = [f"{len(at_risk)} vessel(s) at risk:"]
        for r in at_risk:
            when = "inside" if r.inside else f"enters {_iso(r.entry_ts)}"
            name = f" {r.vessel.name}" if r.vessel.name else ""
            lines.append(f"MMSI {r.mmsi}{name}: {when}, {r.distance_nm:.0f} nm")
        add(info, "description", "\n".join(lines))
    area = ET.SubElement(info, f"{q}area")
    add(area, "areaDesc", hazard.name)
    for part in getattr(hazard.geometry, "geoms", [hazard.geometry]):
        ring = list(part.exterior.coords)
        add(area, "polygon", " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in ring))
    return ET.tostring(alert, encoding="unicode", xml_declaration=True)
