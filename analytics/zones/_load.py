"""Reading and checking a zones file (GeoJSON FeatureCollection, format in events.md).

Every problem becomes a ``ZoneError`` whose message starts with the file's path and names the
feature and the property at fault, so a supervisor can fix the file without reading code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.validation import explain_validity

from ..config import SEVERITIES
from ..errors import ZoneError
from ._lane import LaneShape
from ._model import Zone

__all__ = ["load_zone_file", "parse_zone_bytes", "parse_zones"]


def load_zone_file(path: str | Path, origin: str | None = None) -> list[Zone]:
    """Read, parse and validate one zones file."""
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise ZoneError(f"{where}: cannot read zones file: is a directory") from None
    except OSError as e:
        raise ZoneError(f"{where}: cannot read zones file: {e.strerror or e}") from None
    return parse_zone_bytes(raw, origin or where)


def parse_zone_bytes(raw: bytes, where: str) -> list[Zone]:
    """Decode and validate the bytes of a zones file; ``where`` names it in errors."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ZoneError(f"{where}: zones file is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ZoneError(
            f"{where}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    return parse_zones(data, where)


def parse_zones(data: Any, where: str) -> list[Zone]:
    """Validate a decoded GeoJSON document; ``where`` names it in errors."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ZoneError(
            f"{where}: not a GeoJSON FeatureCollection "
            f'(expected {{"type": "FeatureCollection", "features": [...]}})'
        )
    features = data.get("features")
    if not isinstance(features, list):
        raise ZoneError(f"{where}: 'features' must be a list")
    zones: list[Zone] = []
    seen: set[str] = set()
    for i, feature in enumerate(features):
        zone = _parse_feature(feature, i, where)
        if zone.name in seen:
            raise ZoneError(f"{where}: feature {i}: zone name {zone.name!r} is used twice")
        seen.add(zone.name)
        zones.append(zone)
    return zones


def _parse_feature(feature: Any, i: int, where: str) -> Zone:
    label = f"feature {i}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ZoneError(f"{where}: {label}: not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise ZoneError(f"{where}: {label}: missing 'properties' (needs at least name and kind)")
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ZoneError(f"{where}: {label}: missing property 'name' (a non-empty text)")
    label = f"feature {i} ({name!r})"
    kind = props.get("kind")
    if not isinstance(kind, str) or not kind.strip():
        raise ZoneError(
            f"{where}: {label}: missing property 'kind' (port, anchorage, lane, "
            f"restricted, protected, coverage, ...)"
        )

    geometry = _parse_geometry(feature.get("geometry"), where, label)
    direction = _optional_direction(props, where, label)
    ship_types = _optional_ship_types(props, where, label)
    severity = props.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise ZoneError(
            f"{where}: {label}: 'severity' must be one of {', '.join(SEVERITIES)}, got {severity!r}"
        )
    approximate = props.get("approximate", False)
    if not isinstance(approximate, bool):
        raise ZoneError(f"{where}: {label}: 'approximate' must be true or false")

    lane = None
    if kind == "lane":
        if geometry.geom_type != "Polygon":
            raise ZoneError(
                f"{where}: {label}: a lane must be a single Polygon, got {geometry.geom_type}"
            )
        ring = list(geometry.exterior.coords)
        lane = LaneShape(ring, _optional_ends(props, len(ring) - 1, where, label))
    return Zone(
        name=name,
        kind=kind,
        geometry=geometry,
        origin=where,
        direction=direction,
        ship_types=ship_types,
        severity=severity,
        approximate=approximate,
        properties=dict(props),
        lane=lane,
    )


def _parse_geometry(geom: Any, where: str, label: str):
    if not isinstance(geom, dict):
        raise ZoneError(f"{where}: {label}: missing 'geometry'")
    gtype = geom.get("type")
    if gtype not in ("Polygon", "MultiPolygon"):
        raise ZoneError(
            f"{where}: {label}: geometry must be a Polygon or MultiPolygon, got {gtype!r}"
        )
    try:
        g = shape(geom)
    except (GEOSException, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        raise ZoneError(f"{where}: {label}: malformed {gtype} coordinates ({e})") from None
    if g.is_empty:
        raise ZoneError(f"{where}: {label}: empty {gtype}")
    minx, miny, maxx, maxy = g.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise ZoneError(f"{where}: {label}: coordinates must be finite numbers")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ZoneError(
            f"{where}: {label}: coordinates out of range (GeoJSON order is "
            f"[longitude, latitude]; bounds {minx}, {miny}, {maxx}, {maxy})"
        )
    if not g.is_valid:
        raise ZoneError(f"{where}: {label}: invalid polygon: {explain_validity(g)}")
    shapely.prepare(g)
    return g


def _optional_direction(props: dict, where: str, label: str) -> float | None:
    d = props.get("direction")
    if d is None:
        return None
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d <= 360:
        raise ZoneError(f"{where}: {label}: 'direction' must be degrees true, 0-360, got {d!r}")
    return float(d) % 360.0


def _optional_ship_types(props: dict, where: str, label: str) -> frozenset[int] | None:
    st = props.get("ship_types")
    if st is None:
        return None
    if (
        not isinstance(st, list)
        or not st
        or not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t <= 255 for t in st)
    ):
        raise ZoneError(
            f"{where}: {label}: 'ship_types' must be a non-empty list of AIS "
            f"ship type codes (integers 0-255), got {st!r}"
        )
    return frozenset(st)


def _optional_ends(props: dict, n_edges: int, where: str, label: str) -> tuple[int, int] | None:
    ends = props.get("ends")
    if ends is None:
        return None
    if (
        not isinstance(ends, list)
        or len(ends) != 2
        or not all(
            isinstance(e, int) and not isinstance(e, bool) and 0 <= e < n_edges for e in ends
        )
        or ends[0] == ends[1]
    ):
        raise ZoneError(
            f"{where}: {label}: 'ends' must list two different edge numbers of the "
            f"outer ring (0-{n_edges - 1}), got {ends!r}"
        )
    return (ends[0], ends[1])
