"""Zones: loading and checking zone files, the built-in zones, and the point index.

The built-in zones are the ``*.geojson`` files beside this module (package data); see
``analytics/README.md`` for the format and what each file holds.
"""

from ._index import EMPTY_HIT, ZoneHit, ZoneSet, builtin_geojson, builtin_zones
from ._lane import LaneShape
from ._load import load_zone_file, parse_zones
from ._model import QUIET_KINDS, Zone

__all__ = [
    "Zone",
    "ZoneSet",
    "ZoneHit",
    "EMPTY_HIT",
    "LaneShape",
    "QUIET_KINDS",
    "load_zone_file",
    "parse_zones",
    "builtin_zones",
    "builtin_geojson",
]
