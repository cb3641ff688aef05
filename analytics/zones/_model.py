"""A zone as the rules see it: a name, a kind, a lon/lat polygon and the optional properties of
the zones format (events.md): ``direction``, ``ship_types``, ``severity``; lanes also carry
their shape in a local plane for the side-or-end test of lane_deviation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

from ._lane import LaneShape

__all__ = ["Zone", "QUIET_KINDS"]

# Zones where stopping, meeting other ships, going silent or lying at a quay is normal.
QUIET_KINDS = frozenset({"port", "anchorage"})


@dataclass(eq=False)  # identity semantics: zones are keys of the index caches
class Zone:
    name: str
    kind: str
    geometry: BaseGeometry  # Polygon or MultiPolygon, x = lon, y = lat
    origin: str  # the file it came from, or "built-in:<file>"
    direction: float | None = None  # degrees true, one-way lanes
    ship_types: frozenset[int] | None = None  # AIS ship type codes a rule applies to
    severity: str | None = None
    approximate: bool = False  # drawn from a description, not from published coordinates
    properties: dict[str, Any] = field(default_factory=dict)  # as given in the file
    lane: LaneShape | None = None  # for kind "lane"

    @property
    def quiet(self) -> bool:
        return self.kind in QUIET_KINDS

    def __repr__(self) -> str:
        return f"Zone({self.name!r}, kind={self.kind!r})"
