"""``GET /api/vessels`` from memory: a snapshot of every vessel's GeoJSON Feature.

PostgreSQL builds each vessel's Feature once per snapshot (``store.queries.vessel_features``);
the web keeps them, in MMSI order, with the MMSI, position and time each is filtered by, and
answers every request younger than ``max_age_s`` from memory: the box, ``since`` and
``limit`` are applied to the kept rows exactly as the query applies them to the table, and
the body is the Features joined. A snapshot older than ``max_age_s`` is taken again by the
first request that needs it; requests meanwhile wait for that one refresh instead of each
asking the database (50 map clients opening at once cost one query).

So an answer is at most ``max_age_s`` (``vessels_snapshot_s``, 1 s by default: the live
socket pushes positions once a second anyway) behind the database; ``0`` turns the snapshot
off and every request asks the database. Memory: about 42 MB held for 50,000 vessels (the
Features and the joined body; 56 MB at the peak of a refresh).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from mda.store.queries import BBox, vessel_features

__all__ = ["VesselSnapshot"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_HEAD = b'{"type":"FeatureCollection","features":['
_TAIL = b"]}"


class VesselSnapshot:
    def __init__(self, max_age_s: float = 1.0):
        self.max_age_s = max_age_s
        self._rows: list[tuple[int, float, float, int, bytes]] = []
        self._all: bytes | None = None  # the unfiltered body, joined once per snapshot
        self._taken: float | None = None  # monotonic
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def enabled(self) -> bool:
        return self.max_age_s > 0

    def _fresh(self) -> bool:
        return self._taken is not None and time.monotonic() - self._taken <= self.max_age_s

    async def _rows_now(self, conn) -> list[tuple[int, float, float, int, bytes]]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():  # not refreshed by a request we waited for
                    started = time.monotonic()
                    self._rows = await vessel_features(conn)
                    self._all = None
                    self._taken = started  # its age counts from when it was asked for
                    self.refreshes += 1
        return self._rows

    async def body(
        self,
        conn,
        *,
        bbox: BBox | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> bytes:
        """The FeatureCollection ``store.queries.vessels_geojson`` gives for the same
        arguments, from a snapshot at most ``max_age_s`` old."""
        rows = await self._rows_now(conn)
        if bbox is None and since is None and limit is None:
            if self._all is None:
                self._all = _HEAD + b",".join([r[4] for r in rows]) + _TAIL
            return self._all
        if bbox is not None:
            lo_lon, lo_lat, hi_lon, hi_lat = bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat
            if lo_lon <= hi_lon:
                rows = [r for r in rows if lo_lon <= r[1] <= hi_lon and lo_lat <= r[2] <= hi_lat]
            else:  # across the antimeridian
                rows = [
                    r
                    for r in rows
                    if (r[1] >= lo_lon or r[1] <= hi_lon) and lo_lat <= r[2] <= hi_lat
                ]
        if since is not None:
            t = (since - _EPOCH) // _US
            rows = [r for r in rows if r[3] >= t]
        if limit is not None:
            rows = rows[:limit]
        return _HEAD + b",".join([r[4] for r in rows]) + _TAIL
