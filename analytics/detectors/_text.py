"""Small formatting helpers shared by the rules' alert texts."""

from __future__ import annotations

from ..alerts import iso_utc

__all__ = ["minutes", "hours", "position", "iso_utc", "r1"]


def minutes(seconds: float) -> int:
    return int(round(seconds / 60.0))


def hours(seconds: float) -> float:
    return round(seconds / 3600.0, 1)


def r1(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def position(lat: float, lon: float) -> str:
    """'14°28.8′N 052°06.0′E': degrees and minutes as on a chart and in the map's panels."""
    return f"{_dm(lat, 'N', 'S', 2)} {_dm(lon, 'E', 'W', 3)}"


def _dm(v: float, pos: str, neg: str, width: int) -> str:
    hemisphere = pos if v >= 0 else neg
    tenths = int(round(abs(v) * 600))  # tenths of a minute, carried into the degrees
    d, m = divmod(tenths, 600)
    return f"{d:0{width}d}°{m // 10:02d}.{m % 10}′{hemisphere}"
