"""The route graph of the simulator: ports with their anchorages, open-water waypoints and the
legs between them, plus the zones the simulator relies on.

Coordinates are chosen by hand from charts' general knowledge of the region (port positions
rounded to 0.01 deg, anchorage points a few miles off each port in open water) and are all
checked against the 1 km land mask (``global_land_mask``) by :func:`check_graph`, which the
tests run. The IRTC lanes follow the published corridor in ``events.md`` exactly: each lane
is used one way only, along its centre line, entered and left through its ends.

Round Sri Lanka the traffic keeps well south of Dondra Head (eastbound on 5 20 N, westbound
on 5 32 N, keeping to starboard), clear of the Dondra Head traffic separation scheme, whose
lanes the built-in zones may only approximate.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import cache

from ._geo import circle, distance_nm, near_land, sample_line

__all__ = [
    "Port",
    "PORTS",
    "WAYPOINTS",
    "EDGES",
    "IRTC_WESTBOUND",
    "IRTC_EASTBOUND",
    "RESTRICTED_ZONE",
    "FISHING_GROUNDS",
    "node_pos",
    "shortest_path",
    "path_length",
    "check_graph",
    "zones_geojson",
    "in_polygon",
    "ANCHORAGE_RADIUS_NM",
]

ANCHORAGE_RADIUS_NM = 3.5  # radius of the anchorage zones written beside simulated files


@dataclass(frozen=True)
class Port:
    key: str  # node name
    name: str
    locode: str  # UN/LOCODE, used as the AIS destination
    lat: float  # centre of the anchorage (open water a few miles off the port)
    lon: float
    country_mid: int  # maritime identification digits of the port state


PORTS: dict[str, Port] = {
    p.key: p
    for p in (
        Port("DJIBOUTI", "Djibouti", "DJJIB", 11.637, 43.123, 621),
        Port("ADEN", "Aden", "YEADE", 12.753, 44.963, 473),
        Port("SALALAH", "Salalah", "OMSLL", 16.90, 54.03, 461),
        Port("DUQM", "Duqm", "OMDQM", 19.62, 57.78, 461),
        Port("FUJAIRAH", "Fujairah", "AEFJR", 25.163, 56.392, 470),
        Port("KARACHI", "Karachi", "PKKHI", 24.75, 66.90, 463),
        Port("MUNDRA", "Mundra", "INMUN", 22.716, 69.679, 419),
        Port("MUMBAI", "Mumbai", "INBOM", 18.876, 72.852, 419),
        Port("KOCHI", "Kochi", "INCOK", 9.970, 76.202, 419),
        Port("COLOMBO", "Colombo", "LKCMB", 6.974, 79.811, 417),
        Port("CHENNAI", "Chennai", "INMAA", 13.100, 80.339, 419),
        Port("VIZAG", "Visakhapatnam", "INVTZ", 17.65, 83.35, 419),
        Port("PARADIP", "Paradip", "INPRT", 20.241, 86.715, 419),
        Port("CHITTAGONG", "Chittagong", "BDCGP", 22.163, 91.754, 405),
        Port("PENANG", "Penang", "MYPEN", 5.45, 100.15, 533),
    )
}

# The IRTC (events.md): lane polygons as (lat, lon) corners, and their centre lines.
IRTC_WESTBOUND = ((12.0, 45.0), (14.5, 53.0), (14 + 25 / 60, 53.0), (11 + 55 / 60, 45.0))
IRTC_EASTBOUND = (
    (11 + 53 / 60, 45.0),
    (14 + 23 / 60, 53.0),
    (14 + 18 / 60, 53.0),
    (11 + 48 / 60, 45.0),
)
_WB_W = (11 + 57.5 / 60, 45.0)  # westbound centre line, west end
_WB_E = (14 + 27.5 / 60, 53.0)
_EB_W = (11 + 50.5 / 60, 45.0)
_EB_E = (14 + 20.5 / 60, 53.0)
IRTC_SLOPE = (_WB_E[0] - _WB_W[0]) / (_WB_E[1] - _WB_W[1])  # deg lat per deg lon, both lanes

# A fictional restricted area (a naval firing practice area) west of the Konkan coast, away
# from every leg of the graph. Written to FILE.zones.geojson; the zone_entry actor crosses it.
# Where the simulated receivers hear (rcvA and rcvB together): the simulated sea.
COVERAGE_RING = ((35.0, 30.0), (35.0, 110.0), (-40.0, 110.0), (-40.0, 30.0))

RESTRICTED_ZONE = {
    "name": "SIM firing practice area K-1 (fictional)",
    "ring": ((13.67, 72.83), (13.67, 72.97), (13.53, 72.97), (13.53, 72.83)),
}

WAYPOINTS: dict[str, tuple[float, float]] = {
    # Gulf of Aden and the IRTC
    "DJI_OFF": (11.75, 43.60),
    "ADEN_S": (12.25, 44.85),
    "EB_W_APP": (11.80, 44.70),
    "EB_W": _EB_W,
    "EB_E": _EB_E,
    "EB_E_EXIT": (_EB_E[0] + 0.077, 53.245),  # 15 nm on 072 past the lane's east end
    "WB_E_APP": (_WB_E[0] + 0.077, 53.245),  # 15 nm before the lane's east end
    "WB_E": _WB_E,
    "WB_W": _WB_W,
    "WB_W_EXIT": (_WB_W[0] - 0.079, 44.75),  # 15 nm on 252 past the lane's west end
    "SALALAH_APP": (16.55, 54.15),
    # Arabian Sea and Oman
    "SOC_E": (13.60, 56.00),  # north-east of Socotra
    "ARAB_NW": (15.50, 58.50),
    "DUQM_APP": (19.40, 58.10),
    "MASIRAH_E": (20.50, 59.30),
    "RAS_HADD": (22.70, 60.20),
    "GOM": (24.60, 57.40),  # Gulf of Oman
    "ARAB_C": (16.80, 65.00),
    "KHI_APP": (24.45, 66.70),
    "MUN_APP": (22.60, 68.70),
    "MUN_GULF": (22.66, 69.25),
    "GUJ": (20.50, 69.80),
    "ARAB_S": (10.50, 65.00),
    # West coast of India
    "MUMBAI_APP": (18.80, 72.30),
    "GOA_OFF": (15.40, 73.00),
    "MANG_OFF": (12.80, 74.00),
    "KOCHI_APP": (10.00, 75.80),
    "TVM_OFF": (8.20, 76.50),
    "CAPE": (7.40, 77.60),
    "EIGHT": (7.60, 73.20),  # Eight Degree Channel
    # Round Sri Lanka, south of Dondra Head
    "CMB_APP": (6.90, 79.55),
    "LK_SW": (5.90, 79.70),
    "LK_S_EB_W": (5.33, 80.20),
    "LK_S_EB_E": (5.33, 81.40),
    "LK_S_WB_E": (5.53, 81.40),
    "LK_S_WB_W": (5.53, 80.20),
    "LK_W_EB": (6.30, 77.00),
    "LK_W_WB": (6.60, 77.00),
    "LK_SE": (6.20, 82.30),
    # Bay of Bengal
    "TRINCO_OFF": (8.80, 82.20),
    "CHENNAI_APP": (12.90, 80.70),
    "KRISHNA_OFF": (15.50, 81.60),
    "GODAVARI_OFF": (16.50, 82.80),
    "VIZAG_APP": (17.50, 83.60),
    "GOPALPUR_OFF": (19.00, 85.50),
    "PARADIP_APP": (20.10, 87.00),
    "SANDHEADS": (20.90, 88.40),
    "CHITTA_APP": (21.50, 91.35),
    "BOB_S": (6.00, 88.00),
    "GREAT_CHANNEL": (6.20, 94.50),
    "ACEH_N": (6.00, 97.00),
    "PENANG_APP": (5.50, 99.60),
}

# Fishing grounds: (lat, lon, home port). Fishing vessels trawl small boxes around them.
FISHING_GROUNDS: dict[str, tuple[float, float, str]] = {
    "FG_MUMBAI": (18.65, 72.35, "MUMBAI"),
    "FG_KOCHI": (9.70, 75.75, "KOCHI"),
    "FG_COLOMBO": (7.30, 79.55, "COLOMBO"),
    "FG_CHENNAI": (12.85, 80.75, "CHENNAI"),
    "FG_VIZAG": (17.30, 83.75, "VIZAG"),
    "FG_KARACHI": (24.40, 66.45, "KARACHI"),
    "FG_SALALAH": (16.60, 54.40, "SALALAH"),
}

# Directed legs. Two-way legs are listed once in _TWO_WAY; one-way ones in _ONE_WAY.
_TWO_WAY = [
    ("DJIBOUTI", "DJI_OFF"),
    ("ADEN", "ADEN_S"),
    ("ADEN_S", "DJI_OFF"),
    ("SALALAH", "SALALAH_APP"),
    ("SOC_E", "ARAB_S"),
    ("SOC_E", "ARAB_NW"),
    ("ARAB_NW", "DUQM_APP"),
    ("DUQM_APP", "DUQM"),
    ("DUQM_APP", "MASIRAH_E"),
    ("MASIRAH_E", "RAS_HADD"),
    ("RAS_HADD", "GOM"),
    ("GOM", "FUJAIRAH"),
    ("ARAB_NW", "ARAB_C"),
    ("RAS_HADD", "KHI_APP"),
    ("KHI_APP", "KARACHI"),
    ("ARAB_C", "MUMBAI_APP"),
    ("ARAB_C", "GUJ"),
    ("GUJ", "MUN_APP"),
    ("MUN_APP", "MUN_GULF"),
    ("MUN_GULF", "MUNDRA"),
    ("MUN_APP", "KHI_APP"),
    ("GUJ", "MUMBAI_APP"),
    ("MUMBAI_APP", "MUMBAI"),
    ("MUMBAI_APP", "GOA_OFF"),
    ("GOA_OFF", "MANG_OFF"),
    ("MANG_OFF", "KOCHI_APP"),
    ("KOCHI_APP", "KOCHI"),
    ("KOCHI_APP", "TVM_OFF"),
    ("TVM_OFF", "CAPE"),
    ("CAPE", "CMB_APP"),
    ("CMB_APP", "COLOMBO"),
    ("CMB_APP", "LK_SW"),
    ("ARAB_S", "EIGHT"),
    ("EIGHT", "LK_W_EB"),
    ("EIGHT", "LK_W_WB"),
    ("ARAB_S", "ARAB_C"),
    ("TRINCO_OFF", "CHENNAI_APP"),
    ("CHENNAI_APP", "CHENNAI"),
    ("CHENNAI_APP", "KRISHNA_OFF"),
    ("KRISHNA_OFF", "GODAVARI_OFF"),
    ("GODAVARI_OFF", "VIZAG_APP"),
    ("VIZAG_APP", "VIZAG"),
    ("VIZAG_APP", "GOPALPUR_OFF"),
    ("GOPALPUR_OFF", "PARADIP_APP"),
    ("PARADIP_APP", "PARADIP"),
    ("PARADIP_APP", "SANDHEADS"),
    ("SANDHEADS", "CHITTA_APP"),
    ("CHITTA_APP", "CHITTAGONG"),
    ("BOB_S", "GREAT_CHANNEL"),
    ("GREAT_CHANNEL", "ACEH_N"),
    ("ACEH_N", "PENANG_APP"),
    ("PENANG_APP", "PENANG"),
    ("BOB_S", "TRINCO_OFF"),
    ("LK_SE", "TRINCO_OFF"),
    ("LK_SE", "BOB_S"),
]
_ONE_WAY = [
    # IRTC eastbound: enter at the west end, leave at the east end
    ("DJI_OFF", "EB_W_APP"),
    ("ADEN_S", "EB_W_APP"),
    ("EB_W_APP", "EB_W"),
    ("EB_W", "EB_E"),
    ("EB_E", "EB_E_EXIT"),
    ("EB_E_EXIT", "SALALAH_APP"),
    ("EB_E_EXIT", "SOC_E"),
    # IRTC westbound
    ("SALALAH_APP", "WB_E_APP"),
    ("SOC_E", "WB_E_APP"),
    ("WB_E_APP", "WB_E"),
    ("WB_E", "WB_W"),
    ("WB_W", "WB_W_EXIT"),
    ("WB_W_EXIT", "DJI_OFF"),
    ("WB_W_EXIT", "ADEN_S"),
    # South of Sri Lanka: eastbound on the southern track, westbound on the northern one
    ("LK_W_EB", "LK_S_EB_W"),
    ("LK_SW", "LK_S_EB_W"),
    ("LK_S_EB_W", "LK_S_EB_E"),
    ("LK_S_EB_E", "LK_SE"),
    ("LK_S_EB_E", "BOB_S"),
    ("LK_SE", "LK_S_WB_E"),
    ("BOB_S", "LK_S_WB_E"),
    ("LK_S_WB_E", "LK_S_WB_W"),
    ("LK_S_WB_W", "LK_SW"),
    ("LK_S_WB_W", "LK_W_WB"),
]


def node_pos(name: str) -> tuple[float, float]:
    if name in PORTS:
        p = PORTS[name]
        return p.lat, p.lon
    if name in WAYPOINTS:
        return WAYPOINTS[name]
    lat, lon, _ = FISHING_GROUNDS[name]
    return lat, lon


def _edges() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a, b in _TWO_WAY:
        out.setdefault(a, []).append(b)
        out.setdefault(b, []).append(a)
    for a, b in _ONE_WAY:
        out.setdefault(a, []).append(b)
    for g, (_, _, home) in FISHING_GROUNDS.items():
        out.setdefault(g, []).append(home)
        out.setdefault(home, []).append(g)
    return out


EDGES: dict[str, list[str]] = _edges()


def _leg_nm(a: str, b: str) -> float:
    return distance_nm(*node_pos(a), *node_pos(b))


@cache
def shortest_path(a: str, b: str, via_grounds: bool = False) -> tuple[str, ...] | None:
    """Dijkstra over the directed legs; fishing grounds are only passed through when they
    are an end of the path (or ``via_grounds``)."""
    dist = {a: 0.0}
    prev: dict[str, str] = {}
    heap = [(0.0, a)]
    while heap:
        d, n = heapq.heappop(heap)
        if n == b:
            break
        if d > dist.get(n, math.inf):
            continue
        for m in EDGES.get(n, ()):
            if m in FISHING_GROUNDS and m != b and not via_grounds:
                continue
            if m in PORTS and m != b:
                continue  # never route through a port
            nd = d + _leg_nm(n, m)
            if nd < dist.get(m, math.inf):
                dist[m] = nd
                prev[m] = n
                heapq.heappush(heap, (nd, m))
    if b not in dist:
        return None
    path = [b]
    while path[-1] != a:
        path.append(prev[path[-1]])
    return tuple(reversed(path))


def path_length(path: tuple[str, ...]) -> float:
    return sum(_leg_nm(a, b) for a, b in zip(path, path[1:]))


def in_polygon(lat: float, lon: float, ring) -> bool:
    """Point in polygon (ring of (lat, lon)), ray casting in lon/lat."""
    inside = False
    n = len(ring)
    for i in range(n):
        (y1, x1), (y2, x2) = ring[i], ring[(i + 1) % n]
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def check_graph(margin_nm: float = 0.5) -> list[str]:
    """Every problem with the graph: a node or a densely sampled leg on (or within
    ``margin_nm`` of) land, a leg through the restricted zone, a port that cannot be
    reached from or cannot reach the others. Empty when all is well."""
    problems = []
    names = list(PORTS) + list(WAYPOINTS) + list(FISHING_GROUNDS)
    for n in names:
        if near_land([node_pos(n)[0]], [node_pos(n)[1]], margin_nm)[0]:
            problems.append(f"node {n} is within {margin_nm} nm of land")
    seen = set()
    for a, outs in EDGES.items():
        for b in outs:
            if (b, a) in seen:
                continue
            seen.add((a, b))
            lats, lons = sample_line(*node_pos(a), *node_pos(b), step_nm=0.2)
            bad = near_land(lats, lons, margin_nm)
            if bad.any():
                i = int(bad.argmax())
                problems.append(f"leg {a}-{b} near land at {lats[i]:.3f},{lons[i]:.3f}")
            inside = [in_polygon(la, lo, RESTRICTED_ZONE["ring"]) for la, lo in zip(lats, lons)]
            if any(inside):
                problems.append(f"leg {a}-{b} crosses the restricted zone")
    for a in PORTS:
        for b in PORTS:
            if a != b and shortest_path(a, b) is None:
                problems.append(f"no path {a} -> {b}")
    return problems


def _ring_lonlat(ring) -> list[list[float]]:
    pts = [[lon, lat] for lat, lon in ring]
    return pts + [pts[0]]


def zones_geojson() -> dict:
    """The zones the simulated traffic relies on: an anchorage around each port's anchorage
    point (so ships waiting there are in a quiet zone), the restricted practice area, and the
    coverage of the simulated receivers (they hear the whole simulated sea, which real coastal
    receivers never do: declared, so that the gap rule need not learn it from sparse traffic)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [_ring_lonlat(COVERAGE_RING)]},
            "properties": {
                "name": "Simulated receivers' coverage",
                "kind": "coverage",
                "source": "mda simulator",
            },
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [_ring_lonlat(RESTRICTED_ZONE["ring"])]},
            "properties": {
                "name": RESTRICTED_ZONE["name"],
                "kind": "restricted",
                "severity": "high",
                "source": "mda simulator",
            },
        },
    ]
    for p in PORTS.values():
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [circle(p.lat, p.lon, ANCHORAGE_RADIUS_NM)],
                },
                "properties": {
                    "name": f"{p.name} anchorage (simulator)",
                    "kind": "anchorage",
                    "locode": p.locode,
                    "source": "mda simulator",
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
