"""Small spherical-earth helpers in nautical miles and degrees true.

Tracks are straight lines in latitude/longitude (plate carrée), cut into short pieces so
that speeds measured along the great circle stay right; that is also how the analytics'
zone polygons (shapely, lon/lat) see them, so a track along a lane's centre line stays on it.
"""

from __future__ import annotations

import math

import numpy as np

EARTH_NM = 3440.065  # mean earth radius in nautical miles
NM_M = 1852.0


def distance_nm(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_NM * math.asin(min(1.0, math.sqrt(a)))


def bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing, degrees true in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def offset(lat: float, lon: float, brg: float, dist_nm: float) -> tuple[float, float]:
    """The point ``dist_nm`` from (lat, lon) on bearing ``brg`` (flat-earth step, fine
    for the few tens of miles it is used for)."""
    r = math.radians(brg)
    dlat = dist_nm * math.cos(r) / 60.0
    dlon = dist_nm * math.sin(r) / (60.0 * math.cos(math.radians(lat + dlat / 2)))
    return lat + dlat, lon + dlon


def angle_diff(a: float, b: float) -> float:
    """Smallest absolute difference of two bearings, 0..180."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


def sample_line(
    lat1: float, lon1: float, lat2: float, lon2: float, step_nm: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """Points along the lat/lon straight line, at most ``step_nm`` apart, ends included."""
    n = max(2, int(math.ceil(distance_nm(lat1, lon1, lat2, lon2) / step_nm)) + 1)
    f = np.linspace(0.0, 1.0, n)
    return lat1 + (lat2 - lat1) * f, lon1 + (lon2 - lon1) * f


def _mask():
    """``global_land_mask.globe``, imported on first use: it loads a 0.9 GB array (~4 s)."""
    from global_land_mask import globe

    return globe


def near_land(lats, lons, margin_nm: float = 0.0) -> np.ndarray:
    """Per point: on land, or land within ``margin_nm`` (checked at 8 compass points)."""
    lats = np.asarray(lats, dtype=float)
    lons = np.asarray(lons, dtype=float)
    globe = _mask()
    hit = globe.is_land(lats, lons)
    if margin_nm > 0:
        coslat = np.cos(np.radians(lats))
        for k in range(8):
            a = math.radians(45.0 * k)
            hit |= globe.is_land(
                lats + margin_nm * math.cos(a) / 60.0,
                lons + margin_nm * math.sin(a) / (60.0 * coslat),
            )
    return hit


def is_land(lat: float, lon: float) -> bool:
    return bool(_mask().is_land(lat, lon))


def circle(lat: float, lon: float, radius_nm: float, n: int = 36) -> list[list[float]]:
    """A closed GeoJSON ring ([lon, lat] pairs) approximating a circle."""
    ring = []
    for k in range(n):
        la, lo = offset(lat, lon, 360.0 * k / n, radius_nm)
        ring.append([round(lo, 5), round(la, 5)])
    ring.append(ring[0])
    return ring
