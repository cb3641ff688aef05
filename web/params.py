"""What the API's query strings and paths take, and how its JSON leaves.

Times: ISO 8601 (naive means UTC), epoch seconds, ``now``, or relative ``-6h``/``-30m``/
``-7d``. Boxes: ``minlon,minlat,maxlon,maxlat`` (minlon > maxlon crosses the
antimeridian). A value that does not parse is a 422 naming the parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi import Path as PathParam
from starlette.responses import Response

from mda.store.queries import BBox

from .errors import WebError

__all__ = [
    "parse_time",
    "parse_bbox",
    "csv",
    "json_response",
    "json_dumps",
    "GEOJSON",
    "MMSI",
    "ALERT_ID",
]

GEOJSON = "application/geo+json"
MMSI = PathParam(..., ge=0, le=999_999_999, description="the vessel's MMSI")
ALERT_ID = PathParam(..., ge=1, le=2**63 - 1)

_REL = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO 8601 (naive means UTC), epoch seconds, ``now``, or relative ``-6h``/``-30m``."""
    if value is None or value == "":
        return None
    v = value.strip()
    now = datetime.now(UTC)
    if v == "now":
        return now
    m = _REL.match(v)
    if m:
        try:
            return _in_range(now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)]), name)
        except OverflowError:  # -99999999999d
            raise _out_of_range(name) from None
    try:
        return _in_range(datetime.fromtimestamp(float(v), UTC), name)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        t = datetime.fromisoformat(v.replace(" ", "T") if "T" not in v and " " in v else v)
    except ValueError:
        raise WebError(
            422,
            "invalid",
            f"{name}: not a time (ISO 8601, epoch seconds, 'now' or relative like -6h)",
        ) from None
    try:
        return _in_range((t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC), name)
    except OverflowError:
        raise _out_of_range(name) from None


_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _out_of_range(name: str) -> WebError:
    return WebError(422, "invalid", f"{name}: out of range (years 1900 to 2999)")


def _in_range(t: datetime, name: str) -> datetime:
    if not _EARLIEST <= t < _LATEST:
        raise _out_of_range(name)
    return t


def parse_bbox(value: str | None) -> BBox | None:
    if not value:
        return None
    try:
        parts = [float(x) for x in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4:
        raise WebError(422, "invalid", "bbox: four numbers minlon,minlat,maxlon,maxlat")
    min_lon, min_lat, max_lon, max_lat = parts
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise WebError(
            422,
            "invalid",
            "bbox: longitudes in [-180, 180], latitudes in [-90, 90], minlat <= maxlat",
        )
    return BBox(min_lon, min_lat, max_lon, max_lat)


def csv(value: str | None) -> list[str]:
    """A comma list, blanks dropped."""
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def json_response(text: str | bytes, media_type: str = "application/json") -> Response:
    """JSON the store built (text or raw bytes), sent as it is."""
    return Response(content=text, media_type=media_type, headers={"Cache-Control": "no-store"})


def _json_default(v):
    from datetime import date
    from decimal import Decimal

    if isinstance(v, datetime):
        return (v.astimezone(UTC) if v.tzinfo is not None else v.replace(tzinfo=UTC)).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def json_dumps(obj) -> str:
    """Plain data (rows with datetimes) as JSON text, times ISO 8601 in UTC."""
    import json

    return json.dumps(obj, default=_json_default, separators=(",", ":"), allow_nan=False)
