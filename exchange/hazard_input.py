"""Hazard areas as people and systems hand them in, the same for the CLI and the web: a CAP
1.2 alert (``cap.parse_cap``), a GeoJSON Feature (a Polygon or MultiPolygon; or a Point with
``radius_km``, a circle), or, on the command line, a polygon ("lat,lon lat,lon ...", CAP's
own notation) or a circle ("lat,lon,radius_km").

Every problem is a ``HazardInputError`` (a ``CapError``, so one ``except`` covers both)
naming the field at fault. Polygons are closed when open, repaired when they cross
themselves, refused when they cross the antimeridian (circles too), as for CAP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import shapely
from shapely.geometry import shape

from mda.analytics.hazards import Hazard

from .cap import SEVERITY_FROM_CAP, CapError, _polygon, checked_circle, parse_cap

__all__ = [
    "HazardInputError",
    "read_hazards",
    "hazard_from_feature",
    "hazard_from_text",
    "parse_when",
    "MAX_AREA_DEG2",
]

SEVERITIES = ("critical", "high", "medium", "low")
# A hazard larger than this (square degrees; about a third of the Indian Ocean) is refused
# unless confirmed: a typo in a coordinate makes half a hemisphere.
MAX_AREA_DEG2 = 2000.0


class HazardInputError(CapError):
    """A hazard that cannot be taken as given; the message names the field."""


def parse_when(text: str | float | None, field: str, now: float) -> float | None:
    """A time as epoch seconds: ISO 8601 with a zone (``Z`` allowed), or ``+12h``/``+30m``/
    ``+2d`` from ``now``; None for nothing."""
    if text is None or text == "":
        return None
    if isinstance(text, int | float):
        return float(text)
    t = text.strip()
    if t.startswith("+") and t[-1:] in ("m", "h", "d"):
        try:
            n = float(t[1:-1])
        except ValueError:
            raise HazardInputError(f"{field}: {text!r} is not like +12h") from None
        return now + n * {"m": 60, "h": 3600, "d": 86400}[t[-1]]
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise HazardInputError(
            f"{field}: {text!r} is not a time (2026-05-01T12:00Z, or +12h)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _check(h: Hazard, now: float, confirm_large: bool, max_area: float = MAX_AREA_DEG2) -> Hazard:
    if h.severity not in SEVERITIES:
        raise HazardInputError(f"severity: {h.severity!r} is not one of {', '.join(SEVERITIES)}")
    if not (h.name or "").strip():
        raise HazardInputError("name: a hazard needs a name")
    if h.expires is not None and h.expires <= now:
        raise HazardInputError("expires: lies in the past")
    if h.expires is not None and h.onset is not None and h.expires <= h.onset:
        raise HazardInputError("expires: must come after the onset")
    area = h.geometry.area
    if area > max_area and not confirm_large:
        raise HazardInputError(
            f"geometry: {area:,.0f} square degrees, more than the {max_area:,g} "
            "accepted without confirmation (confirm_large / --confirm-large)"
        )
    return h


def hazard_from_text(
    *,
    polygon: str | None = None,
    circle_text: str | None = None,
    name: str,
    severity: str = "high",
    onset: float | None = None,
    expires: float | None = None,
    now: float,
    confirm_large: bool = False,
    max_area: float = MAX_AREA_DEG2,
) -> Hazard:
    """A hazard from a polygon ("lat,lon lat,lon ...") or a circle ("lat,lon,radius_km")."""
    if (polygon is None) == (circle_text is None):
        raise HazardInputError("give a polygon or a circle (one of them)")
    details: dict = {"source": "cli"}
    if polygon is not None:
        geom, note = _polygon(polygon, "polygon")
        if note:
            details["repairs"] = [note]
    else:
        parts = circle_text.replace(",", " ").split()
        try:
            lat, lon, r = (float(x) for x in parts)
        except ValueError:
            raise HazardInputError(f"circle: {circle_text!r} is not 'lat,lon,radius_km'") from None
        geom = _circle(lat, lon, r, "circle")
    h = Hazard("new", name, geom, severity, onset=onset, expires=expires, details=details)
    return _check(h, now, confirm_large, max_area)


def _circle(lat: float, lon: float, radius_km: float, where: str):
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise HazardInputError(f"{where}: centre {lat},{lon} is out of range")
    if not 0.0 < radius_km <= 5000.0:
        raise HazardInputError(f"{where}: radius {radius_km:g} km is not between 0 and 5000")
    return checked_circle(lat, lon, radius_km, where, HazardInputError)


def hazard_from_feature(
    obj, *, now: float, confirm_large: bool = False, max_area: float = MAX_AREA_DEG2
) -> Hazard:
    """A hazard from a GeoJSON Feature: ``geometry`` a Polygon or MultiPolygon (lon, lat),
    or a Point with ``properties.radius_km``; ``properties``: ``name`` (required),
    ``severity`` (ours or CAP's), ``onset``, ``expires`` (ISO 8601 or +12h)."""
    if not isinstance(obj, dict) or obj.get("type") != "Feature":
        raise HazardInputError("body: not a GeoJSON Feature (type 'Feature')")
    props = obj.get("properties") or {}
    if not isinstance(props, dict):
        raise HazardInputError("properties: not an object")
    g = obj.get("geometry")
    if not isinstance(g, dict):
        raise HazardInputError("geometry: missing")
    kind = g.get("type")
    if kind == "Point":
        try:
            lon, lat = (float(x) for x in g["coordinates"][:2])
            r = float(props["radius_km"])
        except (KeyError, TypeError, ValueError):
            raise HazardInputError(
                "geometry: a Point needs coordinates [lon, lat] and properties.radius_km"
            ) from None
        geom = _circle(lat, lon, r, "geometry")
        repairs: list[str] = []
    elif kind in ("Polygon", "MultiPolygon"):
        polys = g.get("coordinates")
        if not isinstance(polys, list) or not polys:
            raise HazardInputError("geometry.coordinates: missing")
        if kind == "Polygon":
            polys = [polys]
        shapes, repairs = [], []
        for i, rings in enumerate(polys, 1):
            try:
                ring = rings[0]
                text = " ".join(f"{float(p[1])},{float(p[0])}" for p in ring)
            except (IndexError, TypeError, ValueError):
                raise HazardInputError(
                    f"geometry.coordinates[{i}]: not a ring of [lon, lat] positions"
                ) from None
            s, note = _polygon(text, f"geometry.coordinates[{i}]")
            shapes.append(s)
            repairs += [note] if note else []
        geom = shapely.union_all(shapes) if len(shapes) > 1 else shapes[0]
        try:
            shape(g)  # holes and all, as given, must at least be a geometry
        except Exception as e:
            raise HazardInputError(f"geometry: {e}") from None
    else:
        raise HazardInputError(
            f"geometry.type: {kind!r}; a hazard is a Polygon, a MultiPolygon or a Point "
            "with radius_km"
        )
    severity = str(props.get("severity") or "high")
    severity = SEVERITY_FROM_CAP.get(severity, severity)
    onset = parse_when(props.get("onset"), "onset", now)
    expires = parse_when(props.get("expires"), "expires", now)
    name = str(props.get("name") or "").strip()
    details = {"source": "geojson"}
    if repairs:
        details["repairs"] = repairs
    if props.get("description"):
        details["description"] = str(props["description"])[:2000]
    h = Hazard("new", name, geom, severity, onset=onset, expires=expires, details=details)
    return _check(h, now, confirm_large, max_area)


def read_hazards(
    data: bytes | str, *, now: float, confirm_large: bool = False, max_area: float = MAX_AREA_DEG2
) -> list[Hazard]:
    """Hazards from a document: a CAP alert (XML: one per ``info`` block; only a live
    warning, ``CapNotLive`` for an exercise, a test, a draft, an Ack or an Error) or GeoJSON
    (a Feature, or a FeatureCollection of them)."""
    raw = data.encode() if isinstance(data, str) else data
    head = raw.lstrip()[:1]
    if head == b"<":
        hazards = parse_cap(raw, live_only=True)
        for h in hazards:
            if h.geometry.area > max_area and not confirm_large:
                _check(h, now, confirm_large, max_area)
        return hazards
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise HazardInputError(f"body: neither CAP XML nor GeoJSON ({e})") from None
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        feats = obj.get("features") or []
        if not feats:
            raise HazardInputError("features: empty")
        out = []
        for i, f in enumerate(feats, 1):
            try:
                out.append(
                    hazard_from_feature(f, now=now, confirm_large=confirm_large, max_area=max_area)
                )
            except HazardInputError as e:
                raise HazardInputError(f"features[{i}]: {e.message}") from None
        return out
    return [hazard_from_feature(obj, now=now, confirm_large=confirm_large, max_area=max_area)]
