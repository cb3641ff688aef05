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
    """'14.48 N 52.10 E', as an officer reads it."""
    return f"{abs(lat):.2f} {'N' if lat >= 0 else 'S'} {abs(lon):.2f} {'E' if lon >= 0 else 'W'}"
