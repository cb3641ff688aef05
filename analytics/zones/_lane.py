"""The shape of a traffic lane in a local plane, for lane_deviation.

A vessel leaving a lane through an *end* has simply finished the lane; leaving through a
*side* is a deviation. The ends are two edges of the polygon's outer ring: the ones listed in
the feature's ``ends`` property (0-based edge indices, edge i joining vertex i and i+1), or by
default the two shortest edges, which for the usual four-corner lane are its short sides.

Coordinates are projected on a plane tangent at the lane's centre, in nautical miles
(x = east, y = north). Over a few hundred miles at low latitude the error is about 1 %,
well inside the 3 nm the rule measures. Pure Python: called only when a vessel leaves a lane or
while it is away from one.
"""

from __future__ import annotations

from math import cos, hypot, radians

__all__ = ["LaneShape"]

Point = tuple[float, float]


class LaneShape:
    __slots__ = ("lat0", "lon0", "kx", "ring", "edges", "ends")

    def __init__(self, ring_lonlat: list[Point], ends: tuple[int, int] | None = None):
        if ring_lonlat[0] == ring_lonlat[-1]:
            ring_lonlat = ring_lonlat[:-1]
        lons = [p[0] for p in ring_lonlat]
        lats = [p[1] for p in ring_lonlat]
        self.lat0 = (min(lats) + max(lats)) / 2.0
        self.lon0 = (min(lons) + max(lons)) / 2.0
        self.kx = 60.0 * cos(radians(self.lat0))  # nm per degree of longitude here
        self.ring = [self.project(lat, lon) for lon, lat in ring_lonlat]
        n = len(self.ring)
        self.edges = [(self.ring[i], self.ring[(i + 1) % n]) for i in range(n)]
        if ends is None:
            by_length = sorted(range(n), key=lambda i: (_length(self.edges[i]), i))
            ends = (by_length[0], by_length[1])
        self.ends = frozenset(ends)

    def project(self, lat: float, lon: float) -> Point:
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * 60.0)

    def distance_nm(self, lat: float, lon: float) -> float:
        """Distance from a point outside the lane to its boundary."""
        p = self.project(lat, lon)
        return min(_point_segment(p, a, b) for a, b in self.edges)

    def exit_edge(self, lat_in: float, lon_in: float, lat_out: float, lon_out: float) -> int:
        """The edge a vessel crossed going from a fix inside to a fix outside: the crossing
        nearest the inside fix, else (fixes too sparse to cross cleanly) the edge nearest the
        outside fix."""
        p = self.project(lat_in, lon_in)
        q = self.project(lat_out, lon_out)
        best, best_t = -1, 2.0
        for i, (a, b) in enumerate(self.edges):
            t = _crossing(p, q, a, b)
            if t is not None and t < best_t:
                best, best_t = i, t
        if best >= 0:
            return best
        return min(range(len(self.edges)), key=lambda i: _point_segment(q, *self.edges[i]))

    def left_through_end(
        self, lat_in: float, lon_in: float, lat_out: float, lon_out: float
    ) -> bool:
        return self.exit_edge(lat_in, lon_in, lat_out, lon_out) in self.ends


def _length(edge: tuple[Point, Point]) -> float:
    (ax, ay), (bx, by) = edge
    return hypot(bx - ax, by - ay)


def _point_segment(p: Point, a: Point, b: Point) -> float:
    px, py = p
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = 0.0 if den == 0.0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / den))
    return hypot(px - (ax + t * dx), py - (ay + t * dy))


def _crossing(p: Point, q: Point, a: Point, b: Point) -> float | None:
    """Parameter t along p->q where it crosses segment a-b, or None."""
    rx, ry = q[0] - p[0], q[1] - p[1]
    sx, sy = b[0] - a[0], b[1] - a[1]
    den = rx * sy - ry * sx
    if den == 0.0:
        return None
    wx, wy = a[0] - p[0], a[1] - p[1]
    t = (wx * sy - wy * sx) / den
    u = (wx * ry - wy * rx) / den
    if 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0:
        return t
    return None
