"""Great-circle arithmetic on the sphere, in nautical miles and degrees true.

The mean Earth radius (6371.0088 km) keeps errors under 0.5 % against the ellipsoid, far below
the thresholds the rules use. Plain ``math``: one call costs about a microsecond.
"""

from __future__ import annotations

from math import asin, atan2, cos, degrees, radians, sin, sqrt

__all__ = [
    "EARTH_RADIUS_M",
    "NM_M",
    "EARTH_RADIUS_NM",
    "distance_nm",
    "bearing_deg",
    "angle_between",
    "destination",
]

EARTH_RADIUS_M = 6_371_008.8
NM_M = 1852.0
EARTH_RADIUS_NM = EARTH_RADIUS_M / NM_M


def distance_nm(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in nautical miles."""
    p1 = radians(lat1)
    p2 = radians(lat2)
    h = sin((p2 - p1) * 0.5) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_NM * asin(sqrt(h if h < 1.0 else 1.0))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing from the first point to the second, 0-360 deg true."""
    p1 = radians(lat1)
    p2 = radians(lat2)
    dl = radians(lon2 - lon1)
    y = sin(dl) * cos(p2)
    x = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl)
    return degrees(atan2(y, x)) % 360.0


def angle_between(a: float, b: float) -> float:
    """Smallest difference between two directions, 0-180 deg."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


def destination(lat: float, lon: float, bearing: float, dist_nm: float) -> tuple[float, float]:
    """The point ``dist_nm`` away along ``bearing`` from (lat, lon): (lat, lon), lon in
    [-180, 180)."""
    d = dist_nm / EARTH_RADIUS_NM
    p1 = radians(lat)
    t = radians(bearing)
    p2 = asin(sin(p1) * cos(d) + cos(p1) * sin(d) * cos(t))
    l2 = radians(lon) + atan2(sin(t) * sin(d) * cos(p1), cos(d) - sin(p1) * sin(p2))
    return degrees(p2), (degrees(l2) + 540.0) % 360.0 - 180.0
