"""The set of zones in force and the fast "which zones is this point in?" used on every fix.

A point lookup must cost about as much as a dict lookup, because it runs for every position
report. The index is a two-level grid cache over the zones' STRtree:

* coarse cells of 0.25 deg: most of the ocean touches no zone, so one dict lookup answers;
  a cell lying wholly inside the same zones answers the same way;
* cells crossed by a zone boundary are split into fine cells of 1/60 deg (1 nm of latitude),
  classified the same way; only a point in a fine cell still crossed by a boundary pays for an
  exact point-in-polygon test, and only against the zones whose boundary crosses it.

Cells are classified lazily on first use; their number is bounded by the area the zones
cover, not by the traffic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

import shapely
from shapely import STRtree
from shapely.geometry import Point, box
from shapely.ops import nearest_points

from ..errors import ZoneError
from ..geo import distance_nm
from ._load import load_zone_file, parse_zone_bytes
from ._model import Zone

__all__ = ["ZoneSet", "ZoneHit", "EMPTY_HIT", "builtin_zones", "builtin_geojson"]

_COARSE = 4  # cells per degree
_FINE = 60


class ZoneHit:
    """The zones containing one point, grouped the way the rules ask for them."""

    __slots__ = ("zones", "quiet", "lanes", "exact_lanes", "others", "coverage", "names")

    def __init__(self, zones: tuple[Zone, ...]):
        self.zones = zones
        self.quiet = any(z.quiet for z in zones)
        self.lanes = tuple(z for z in zones if z.lane is not None)
        self.exact_lanes = tuple(z for z in self.lanes if not z.approximate)
        self.others = tuple(z for z in zones if z.lane is None and not z.quiet)
        self.coverage = any(z.kind == "coverage" for z in zones)
        self.names = tuple(z.name for z in zones)

    def __bool__(self) -> bool:
        return bool(self.zones)

    def __repr__(self) -> str:
        return f"ZoneHit({list(self.names)})"


EMPTY_HIT = ZoneHit(())


class _Split:
    """A cell crossed by zone boundaries: zones wholly containing it, and those crossing it."""

    __slots__ = ("full", "partial")

    def __init__(self, full: tuple[Zone, ...], partial: tuple[Zone, ...]):
        self.full = full
        self.partial = partial


class ZoneSet:
    """An immutable set of zones with a point index. Build it with ``ZoneSet.builtin()``,
    ``ZoneSet.from_files(paths)`` (built-in zones plus files) or ``ZoneSet(zones)``."""

    def __init__(self, zones: Iterable[Zone] = ()):
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._by_name = {z.name: z for z in self.zones}
        if len(self._by_name) != len(self.zones):
            dup = sorted(
                {z.name for z in self.zones if sum(1 for y in self.zones if y.name == z.name) > 1}
            )
            raise ZoneError(f"zone names must be unique; used twice: {', '.join(dup)}")
        self._order = {id(z): i for i, z in enumerate(self.zones)}
        self._tree = STRtree([z.geometry for z in self.zones])
        self._quiet = [z for z in self.zones if z.quiet]
        self._quiet_tree = STRtree([z.geometry for z in self._quiet])
        self.has_coverage = any(z.kind == "coverage" for z in self.zones)
        self._coarse: dict[int, ZoneHit | _Split] = {}
        self._fine: dict[int, ZoneHit | _Split] = {}
        self._hits: dict[tuple[Zone, ...], ZoneHit] = {(): EMPTY_HIT}

    # ----- construction
    @classmethod
    def builtin(cls) -> ZoneSet:
        return cls(builtin_zones())

    @classmethod
    def from_files(cls, paths: Iterable[str | Path] = (), builtin: bool = True) -> ZoneSet:
        """Built-in zones (unless ``builtin`` is false) plus the zones of each file. A file's
        zone named like a built-in one replaces it (to correct an approximate lane, say);
        the same name in two files is an error naming both."""
        zones: dict[str, Zone] = {z.name: z for z in builtin_zones()} if builtin else {}
        from_file: dict[str, str] = {}
        for path in paths:
            for z in load_zone_file(path):
                if z.name in from_file:
                    raise ZoneError(
                        f"{path}: zone {z.name!r} is already defined in {from_file[z.name]}"
                    )
                from_file[z.name] = str(path)
                zones.pop(z.name, None)  # replaced zones go to the end, in file order
                zones[z.name] = z
        return cls(zones.values())

    # ----- queries
    def __len__(self) -> int:
        return len(self.zones)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self.zones)

    def get(self, name: str) -> Zone | None:
        return self._by_name.get(name)

    def lookup(self, lat: float, lon: float) -> ZoneHit:
        """The zones containing (lat, lon). Hot path: a dict lookup for most points."""
        key = int((lat + 90.0) * _COARSE) * 1441 + int((lon + 180.0) * _COARSE)
        cell = self._coarse.get(key)
        if cell is None:
            cell = self._classify_coarse(key, lat, lon)
        if cell.__class__ is ZoneHit:
            return cell
        fkey = int((lat + 90.0) * _FINE) * 21601 + int((lon + 180.0) * _FINE)
        fine = self._fine.get(fkey)
        if fine is None:
            fine = self._classify_fine(fkey, cell, lat, lon)
        if fine.__class__ is ZoneHit:
            return fine
        inside = [z for z in fine.partial if shapely.contains_xy(z.geometry, lon, lat)]
        return self._hit(fine.full + tuple(inside)) if inside else self._hit(fine.full)

    def nearest(self, lat: float, lon: float) -> tuple[Zone, float] | None:
        """The nearest port or anchorage zone and its great-circle distance in nm (0 inside).
        The candidate is chosen in lon/lat degrees, which is close enough at the latitudes of
        shipping; called when an alert is described, not per fix."""
        if not self._quiet:
            return None
        pt = Point(lon, lat)
        idx = min(int(i) for i in self._quiet_tree.query_nearest(pt))
        zone = self._quiet[idx]
        if zone.geometry.contains(pt):
            return zone, 0.0
        near, _ = nearest_points(zone.geometry, pt)
        return zone, distance_nm(lat, lon, near.y, near.x)

    # ----- cell classification
    def _classify_coarse(self, key: int, lat: float, lon: float) -> ZoneHit | _Split:
        lat0 = int((lat + 90.0) * _COARSE) / _COARSE - 90.0
        lon0 = int((lon + 180.0) * _COARSE) / _COARSE - 180.0
        cell_box = box(lon0, lat0, lon0 + 1.0 / _COARSE, lat0 + 1.0 / _COARSE)
        candidates = [self.zones[int(i)] for i in sorted(self._tree.query(cell_box))]
        result = self._classify(cell_box, (), candidates)
        self._coarse[key] = result
        return result

    def _classify_fine(self, fkey: int, coarse: _Split, lat: float, lon: float):
        lat0 = int((lat + 90.0) * _FINE) / _FINE - 90.0
        lon0 = int((lon + 180.0) * _FINE) / _FINE - 180.0
        cell_box = box(lon0, lat0, lon0 + 1.0 / _FINE, lat0 + 1.0 / _FINE)
        result = self._classify(cell_box, coarse.full, coarse.partial)
        self._fine[fkey] = result
        return result

    def _classify(self, cell_box, full: tuple[Zone, ...], candidates) -> ZoneHit | _Split:
        full_l = list(full)
        partial: list[Zone] = []
        for z in candidates:
            if z.geometry.contains(cell_box):
                full_l.append(z)
            elif z.geometry.intersects(cell_box):
                partial.append(z)
        full_t = self._sorted(full_l)
        if not partial:
            return self._hit(full_t)
        return _Split(full_t, tuple(partial))

    def _sorted(self, zones) -> tuple[Zone, ...]:
        order = self._order
        return tuple(sorted(zones, key=lambda z: order[id(z)]))

    def _hit(self, zones: tuple[Zone, ...]) -> ZoneHit:
        key = self._sorted(zones)
        hit = self._hits.get(key)
        if hit is None:
            hit = self._hits[key] = ZoneHit(key)
        return hit


def _builtin_files():
    folder = resources.files(__package__)
    return [
        e for e in sorted(folder.iterdir(), key=lambda e: e.name) if e.name.endswith(".geojson")
    ]


def builtin_geojson() -> dict:
    """All built-in zones as one GeoJSON FeatureCollection (for the map's zone layer)."""
    features = []
    for entry in _builtin_files():
        features.extend(json.loads(entry.read_bytes())["features"])
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=1)
def builtin_zones() -> tuple[Zone, ...]:
    """The zones shipped with the package (``analytics/zones/*.geojson``), in file order.
    Parsed once per process; zones are immutable in use."""
    zones: list[Zone] = []
    for entry in _builtin_files():
        zones.extend(parse_zone_bytes(entry.read_bytes(), f"built-in:{entry.name}"))
    return tuple(zones)
