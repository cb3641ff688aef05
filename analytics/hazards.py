"""Disaster and search-and-rescue support: who is in a hazard area, who will be and when,
and who can reach a distress first. Pure: positions and hazards in, lists out; no clock (the
caller passes ``now``), no I/O.

*Hazard areas.* A ``Hazard`` is a polygon (or a circle made polygon) with a validity period
(``onset``, ``expires``) and a severity: a cyclone's forecast cone, a tsunami warning's coast,
an oil spill. ``vessels_at_risk`` lists the vessels inside it now and those whose
dead-reckoned track enters it within the horizon: a great circle on the last SOG and COG, the
SOG capped by a plausible maximum for the vessel's type (a garbled 102 kn does not bring a
tanker into a cyclone), stopped or anchored vessels staying where they are. The track is
tested as segments of ``step_min`` minutes against the area (a strip narrower than a segment is
not stepped over), and the entry time is where the first segment crosses the area's boundary;
only entries while the hazard is in force count (a pending hazard lists those inside at its
onset, entering then).

Cost: a hazard's reach (its bounds grown by the fastest plausible speed over the horizon) is
checked first with plain comparisons on arrays, so the thousands of vessels far away cost a few
microseconds each; the tracks of the rest are tested against the prepared polygon as line
strings in one vectorised call, and only those that meet it are intersected with its
boundary. ``tests/bench/bench_hazards.py`` measures 50,000 vessels and 20 hazards.

*Search and rescue.* ``nearest_responders`` ranks vessels by the time they need to reach a
position: great-circle distance over their current speed, or a typical speed for their type
when they are slower (a ship drifting at 1 kn can still go at 12); stopped or anchored
vessels come last, nearest first; positions older than ``STALE_AFTER_S`` are flagged stale
and listed after the fresh ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from .geo import EARTH_RADIUS_NM, destination, distance_nm

__all__ = [
    "Hazard",
    "VesselState",
    "Fleet",
    "AtRisk",
    "Responder",
    "circle",
    "max_speed_kn",
    "typical_speed_kn",
    "vessels_at_risk",
    "nearest_responders",
    "as_zones",
    "beacon_prefixes",
    "crosses_antimeridian",
    "STALE_AFTER_S",
]

_STOPPED_KN = 0.5  # slower than this, or reporting at anchor or moored: does not move
_AT_REST = frozenset((1, 5))  # at anchor, moored
STALE_AFTER_S = 1800.0  # a rescue ranking's position older than this is flagged stale


def max_speed_kn(ship_type: int | None) -> float:
    """A plausible top speed for an AIS ship type (ITU-R M.1371 table 53): what a dead
    reckoning may assume at most, whatever the vessel reports."""
    if ship_type is None:
        return 30.0
    first = ship_type // 10
    if first == 4:  # high-speed craft
        return 45.0
    if first == 2:  # wing in ground
        return 60.0
    if first == 6:  # passenger (fast ferries among them)
        return 40.0
    if ship_type in (36, 37):  # sailing, pleasure
        return 35.0
    if ship_type in (31, 32, 33, 52):  # towing, dredging, tugs
        return 14.0
    if ship_type == 30:  # fishing
        return 18.0
    if first in (7, 8):  # cargo, tanker
        return 25.0
    return 30.0


def typical_speed_kn(ship_type: int | None) -> float:
    """The speed a vessel of this type would make towards a distress if asked to."""
    if ship_type is None:
        return 10.0
    first = ship_type // 10
    if first == 4:
        return 30.0
    if first == 6:
        return 18.0
    if first in (7, 8):
        return 13.0
    if ship_type in (50, 51, 55):  # pilot, SAR, law enforcement
        return 20.0
    if ship_type in (31, 32, 52):
        return 10.0
    if ship_type in (36, 37):
        return 7.0
    if ship_type == 30:
        return 9.0
    return 10.0


def circle(lat: float, lon: float, radius_km: float, points: int = 72) -> Polygon:
    """A circle on the sphere as a polygon of ``points`` vertices (lon, lat)."""
    r_nm = radius_km / 1.852
    ring = [destination(lat, lon, 360.0 * i / points, r_nm)[::-1] for i in range(points)]
    return Polygon(ring)


@dataclass(frozen=True)
class Hazard:
    """An area of danger: ``geometry`` in (lon, lat), valid from ``onset`` to ``expires`` (UTC
    epoch seconds; None: from always, until withdrawn)."""

    id: str
    name: str
    geometry: BaseGeometry
    severity: str = "high"
    onset: float | None = None
    expires: float | None = None
    details: dict = field(default_factory=dict, compare=False)

    def active(self, now: float) -> bool:
        return (self.onset is None or self.onset <= now) and (
            self.expires is None or now < self.expires
        )


@dataclass(frozen=True)
class VesselState:
    """The latest known fix of a vessel, with what the projections need."""

    mmsi: int
    ts: float
    lat: float
    lon: float
    sog: float | None = None
    cog: float | None = None
    ship_type: int | None = None
    nav_status: int | None = None
    name: str | None = None
    length_m: float | None = None  # to_bow + to_stern, when the vessel reports them


@dataclass(frozen=True)
class AtRisk:
    """A vessel inside a hazard (``inside``) or whose track enters it at ``entry_ts`` (UTC),
    ``distance_nm`` from it now (0 inside), at ``speed_kn`` (capped) on its course."""

    mmsi: int
    inside: bool
    entry_ts: float | None
    distance_nm: float
    speed_kn: float
    vessel: VesselState


@dataclass(frozen=True)
class Responder:
    """A vessel that could go to a distress: ``eta_h`` at ``speed_kn`` over ``distance_nm``;
    ``at_rest`` when stopped or anchored (listed last)."""

    mmsi: int
    distance_nm: float
    speed_kn: float
    eta_h: float
    bearing_to: float
    at_rest: bool
    vessel: VesselState
    stale: bool = False  # last heard longer ago than ``fresh_s``: listed after the fresh


def _moving(v: VesselState) -> bool:
    return (
        v.sog is not None
        and v.cog is not None
        and v.sog >= _STOPPED_KN
        and v.nav_status not in _AT_REST
    )


class Fleet:
    """The vessels' last fixes as arrays, built once per refresh and shared by every hazard:
    position, speed (0 when stopped or at rest; capped by type), course, and the age of the
    fix at ``now`` in hours."""

    def __init__(self, vessels: list[VesselState], now: float):
        n = len(vessels)
        self.vessels = vessels
        self.now = now
        self.lat = np.fromiter((v.lat for v in vessels), float, n)
        self.lon = np.fromiter((v.lon for v in vessels), float, n)
        self.sog = np.fromiter(
            (min(v.sog, max_speed_kn(v.ship_type)) if _moving(v) else 0.0 for v in vessels),
            float,
            n,
        )
        self.cog = np.fromiter((v.cog if _moving(v) else 0.0 for v in vessels), float, n)
        self.age_h = np.fromiter((max(now - v.ts, 0.0) / 3600.0 for v in vessels), float, n)
        self.coslat = np.maximum(np.cos(np.radians(np.clip(self.lat, -89.0, 89.0))), 0.05)


def vessels_at_risk(
    hazard: Hazard,
    vessels: list[VesselState] | Fleet,
    now: float,
    horizon_h: float = 12.0,
    step_min: float = 10.0,
) -> list[AtRisk]:
    """The vessels inside ``hazard`` at ``now`` (their last fix projected to now inside) and
    those whose dead-reckoned track enters it within ``horizon_h`` while it is in force,
    sorted: inside first, then by time of entry. A hazard not yet in force (its onset
    ahead) lists the vessels inside at its onset (entering at the onset) or entering after
    it; an entry after the hazard expires does not count. For many hazards, pass a
    ``Fleet`` built once.

    The track is tested as segments (``step_min`` each, straight in longitude and latitude:
    a few nautical miles, where that differs from the great circle by metres) against the
    area, so a strip narrower than a segment is not stepped over; the time of entry is where
    the first segment meets the area."""
    fleet = vessels if isinstance(vessels, Fleet) else Fleet(vessels, now)
    if not fleet.vessels:
        return []
    start_h = 0.0 if hazard.onset is None else max(0.0, (hazard.onset - now) / 3600.0)
    end_h = horizon_h
    if hazard.expires is not None:
        end_h = min(end_h, (hazard.expires - now) / 3600.0)
    if end_h <= start_h or (hazard.expires is not None and hazard.expires <= now):
        return []
    geom = hazard.geometry
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    lat, lon, sog, cog, age_h = fleet.lat, fleet.lon, fleet.sog, fleet.cog, fleet.age_h
    coslat = fleet.coslat
    vessels = fleet.vessels
    # Reach, in degrees: how far each vessel can get from its last fix by the window's end.
    reach = sog * (age_h + end_h) / 60.0
    east, west = lon + reach / coslat, lon - reach / coslat
    near = (
        (lat + reach >= miny)
        & (lat - reach <= maxy)
        & (
            ((east >= minx) & (west <= maxx))
            | (east - 360.0 >= minx)  # reaching across the antimeridian
            | (west + 360.0 <= maxx)
        )
    )
    idx = np.flatnonzero(near)
    if idx.size == 0:
        return []
    inside_now, entry_h = _entries(
        geom, lat[idx], lon[idx], sog[idx], cog[idx], age_h[idx], start_h, end_h, step_min
    )
    hit = inside_now | ~np.isnan(entry_h)
    idx, inside_now, entry_h = idx[hit], inside_now[hit], entry_h[hit]
    dist = np.zeros(idx.size)
    outside = ~inside_now
    if outside.any():
        k = idx[outside]
        d = _distances_to(geom, lat[k], lon[k])
        # (a pending hazard: a vessel already where it will be lies 0 nm from it)
        d[shapely.contains_xy(geom, lon[k], lat[k])] = 0.0
        dist[outside] = d
    out = [
        AtRisk(
            vessels[int(k)].mmsi,
            bool(ins),
            None if ins else now + float(eh) * 3600.0,
            float(d),
            float(sog[k]),
            vessels[int(k)],
        )
        for k, ins, eh, d in zip(idx, inside_now, entry_h, dist)
    ]
    out.sort(key=lambda r: (not r.inside, r.entry_ts or 0.0, r.distance_nm, r.mmsi))
    return out


def _project(lat, lon, sog, cog, hours, wrap: bool = True):
    """Great-circle dead reckoning, vectorised: positions of vessels (arrays of n) at hours
    (an array of n, or n x k) from their last fix. ``wrap`` False: longitudes run on past
    180 (continuous along a track) instead of being brought into -180..180."""
    d = sog * hours / EARTH_RADIUS_NM
    p1, l1, t = np.radians(lat), np.radians(lon), np.radians(cog)
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(t))
    l2 = l1 + np.arctan2(np.sin(t) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    if not wrap:
        return np.degrees(p2), np.degrees(l2)
    return np.degrees(p2), (np.degrees(l2) + 540.0) % 360.0 - 180.0


def _entries(geom, lat, lon, sog, cog, age_h, start_h, end_h, step_min):
    """For each vessel: inside now (its position projected to now; only when the window
    starts now), and the hours from now to its entry within the window ``start_h`` ..
    ``end_h`` (at ``start_h`` when inside then; NaN when none), all vessels at once: the
    position at the window's start in one point-in-polygon call, the track's segments in
    one line-polygon call, and, for the few that meet the area, where they first do."""
    step = step_min / 60.0
    offsets = np.arange(start_h, end_h, step)
    offsets = np.append(offsets, end_h) if offsets[-1] < end_h else offsets
    hours = age_h[:, None] + offsets[None, :]
    plat, plon = _project(lat[:, None], lon[:, None], sog[:, None], cog[:, None], hours, False)
    # the track's longitudes continue past 180; brought back so that it starts in -180..180
    shift = np.round((plon[:, :1]) / 360.0) * 360.0
    plon = plon - shift
    at_start = shapely.contains_xy(geom, plon[:, 0], plat[:, 0])
    entry = np.full(lat.size, np.nan)
    entry[at_start] = start_h
    inside_now = at_start if start_h == 0.0 else np.zeros(lat.size, bool)
    moving = np.flatnonzero(~at_start & (sog > 0.0))
    if moving.size == 0 or offsets.size < 2:
        return inside_now, entry
    coords = np.stack([plon[moving], plat[moving]], axis=-1)  # m x k x 2
    lines = shapely.linestrings(coords)
    met = shapely.intersects(lines, geom)
    # a track that runs on past the antimeridian: the same track 360 degrees over, for an
    # area beyond it (its segments and their lengths the same)
    over = np.flatnonzero((np.abs(plon[moving]) > 180.0).any(axis=1) & ~met)
    if over.size:
        turn = np.where(plon[moving[over], -1] > 0.0, -360.0, 360.0)[:, None, None]
        other = shapely.linestrings(coords[over] + turn * np.array([1.0, 0.0]))
        also = shapely.intersects(other, geom)
        lines[over[also]] = other[also]
        met[over[also]] = True
    k = np.flatnonzero(met)
    if k.size == 0:
        return inside_now, entry
    ls = lines[k]
    # the track starts outside: it enters where it first crosses the boundary (a point or
    # two per track, not the whole of its part inside)
    edge = geom.boundary
    shapely.prepare(edge)
    inter = shapely.intersection(ls, edge)
    pts, which = shapely.get_coordinates(inter, return_index=True)
    along = shapely.line_locate_point(ls[which], shapely.points(pts))
    first = np.full(k.size, np.inf)
    np.minimum.at(first, which, along)
    # from the distance along the track (degrees, as shapely measures it) to the time
    c = coords[k]
    seg = np.hypot(np.diff(c[..., 0], axis=1), np.diff(c[..., 1], axis=1))  # k x (s-1)
    cum = np.concatenate([np.zeros((k.size, 1)), np.cumsum(seg, axis=1)], axis=1)
    j = np.clip((cum <= first[:, None]).sum(axis=1) - 1, 0, seg.shape[1] - 1)
    rows = np.arange(k.size)
    length = seg[rows, j]
    frac = np.where(length > 0, (first - cum[rows, j]) / np.where(length > 0, length, 1.0), 0.0)
    t = offsets[j] + np.clip(frac, 0.0, 1.0) * (offsets[j + 1] - offsets[j])
    ok = np.isfinite(first)
    entry[moving[k[ok]]] = t[ok]
    return inside_now, entry


def _distances_to(geom, lat, lon) -> np.ndarray:
    """Great-circle distances (nm) from points to the nearest point of the geometry's
    boundary (found in degrees, measured on the sphere), vectorised."""
    points = shapely.points(lon, lat)
    lines = shapely.shortest_line(geom.boundary, points)
    near = shapely.get_coordinates(shapely.get_point(lines, 0))
    p1, p2 = np.radians(lat), np.radians(near[:, 1])
    dl = np.radians(near[:, 0] - lon)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_NM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def nearest_responders(
    lat: float,
    lon: float,
    vessels: list[VesselState],
    limit: int = 20,
    exclude=(),
    now: float | None = None,
    fresh_s: float = STALE_AFTER_S,
) -> list[Responder]:
    """Vessels ranked by the time they need to reach (lat, lon): moving vessels by distance
    over the larger of their speed and their type's typical speed, then vessels at rest
    (stopped, at anchor, moored) by distance; with ``now``, vessels last heard more than
    ``fresh_s`` before it are ``stale`` (where they are now is a guess) and come after all
    the fresh ones, in the same order among themselves."""
    out = []
    from .geo import bearing_deg

    for v in vessels:
        if v.mmsi in exclude:
            continue
        d = distance_nm(v.lat, v.lon, lat, lon)
        at_rest = not _moving(v)
        speed = max(v.sog or 0.0, typical_speed_kn(v.ship_type))
        speed = min(speed, max_speed_kn(v.ship_type))
        out.append(
            Responder(
                v.mmsi,
                d,
                speed,
                d / speed if speed > 0 else float("inf"),
                bearing_deg(v.lat, v.lon, lat, lon) if d > 0 else 0.0,
                at_rest,
                v,
                stale=now is not None and now - v.ts > fresh_s,
            )
        )
    out.sort(key=lambda r: (r.stale, r.at_rest, r.distance_nm if r.at_rest else r.eta_h, r.mmsi))
    return out[:limit]


def beacon_prefixes(settings) -> tuple[str, ...]:
    """The MMSI prefixes of distress beacons (AIS-SART, MOB, EPIRB-AIS: they go nowhere and
    rescue nobody), from the settings' ``analytics.distress_mmsi_prefixes``: what the vessels
    at risk and the rescue ranking leave out, on the API and on the command line alike."""
    cfg = getattr(settings, "analytics", None)
    text = getattr(cfg, "distress_mmsi_prefixes", None) or "970,972,974"
    return tuple(p.strip() for p in str(text).split(",") if p.strip().isdigit())


def crosses_antimeridian(geom: BaseGeometry) -> bool:
    """Whether an area (in lon, lat from -180 to 180) wraps across 180 degrees: its parts
    spread over more than half the globe's longitudes, which a planar polygon cannot say."""
    minx, _, maxx, _ = geom.bounds
    return maxx - minx > 180.0


def as_zones(hazards: list[Hazard], now: float) -> list:
    """The hazards active at ``now`` as zones of kind ``hazard`` (named ``<name> (hazard
    <id>)``, with their severity), for ``Analyzer.set_hazard_zones``: zone_entry then raises
    an alert for a vessel inside one."""
    from .zones import Zone

    return [
        Zone(
            name=f"{h.name} (hazard {h.id})",
            kind="hazard",
            geometry=h.geometry,
            origin="hazards",
            severity=h.severity,
            properties={"hazard_id": h.id},
        )
        for h in hazards
        if h.active(now)
    ]
