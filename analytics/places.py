"""What the traffic itself teaches about places: where vessels stop, and where each receiver
hears them.

*Stop places.* Anchorages, terminals, berths and the queues before a canal lie outside any list
of port circles. As Global Fishing Watch does for its anchorages, they are learned from the
traffic: a place where several distinct vessels stopped (slow for a while, or reporting at
anchor or moored) is somewhere vessels stop, and a vessel stopping there is doing nothing
unusual. Stops are kept per grid cell (about 1 nm), each vessel once per cell with the time of
its latest stop; a place is *busy* when enough other vessels stopped within the radius during
the memory window. The state exports to and imports from plain data, so ``mda serve`` keeps it
in its database across restarts and ``mda zones learn`` writes it as anchorage zones.

*Fairways.* The same cells also remember which vessels passed through under way: a place many
vessels pass is a fairway, and a vessel stopped there for an hour (a grounding, a breakdown in a
canal) is something to look at even close to the coast.

*Coverage.* A receiver hears vessels within its range; a vessel sailing out of that range is
not "going dark". Each source's coverage is learned as the grid cells (0.2 deg) from which it
delivered a position, with the time of the latest: a silent vessel is dark only if the place it
would have reached is a place its receiver was hearing other vessels from just now.

Pure: no I/O, no clock; times are event times passed in.
"""

from __future__ import annotations

from math import cos, radians

from .geo import distance_nm

__all__ = ["StopPlaces", "Coverage"]

_STOP_CELL_DEG = 1.0 / 60.0  # one minute of latitude: cells of about 1 nm
_COVERAGE_CELL_DEG = 0.2
_MAX_PER_CELL = 64  # vessels remembered per stop cell: a busy place is busy well before


class StopPlaces:
    """Stops of vessels by place. ``add(mmsi, lat, lon, ts)`` records a stop;
    ``busy(lat, lon, ts, exclude)`` tells whether enough other vessels stopped nearby."""

    def __init__(self, min_vessels: int = 3, radius_nm: float = 1.5, memory_days: float = 30.0):
        self.min_vessels = min_vessels
        self.radius_nm = radius_nm
        self.memory_s = memory_days * 86400.0
        # cell -> {mmsi: (ts, lat, lon)} of the latest stop of that vessel in that cell
        self.cells: dict[tuple[int, int], dict[int, tuple[float, float, float]]] = {}
        # cell -> {mmsi: (ts, lat, lon)} of the latest passage under way through that cell
        self.passes: dict[tuple[int, int], dict[int, tuple[float, float, float]]] = {}
        self._added = 0

    @staticmethod
    def cell(lat: float, lon: float) -> tuple[int, int]:
        return int((lat + 90.0) // _STOP_CELL_DEG), int((lon + 180.0) // _STOP_CELL_DEG)

    def add(self, mmsi: int, lat: float, lon: float, ts: float) -> None:
        """Record that the vessel stopped here."""
        self._remember(self.cells, mmsi, lat, lon, ts)

    def add_pass(self, mmsi: int, lat: float, lon: float, ts: float) -> None:
        """Record that the vessel passed here under way."""
        self._remember(self.passes, mmsi, lat, lon, ts)

    def _remember(self, table, mmsi: int, lat: float, lon: float, ts: float) -> None:
        key = self.cell(lat, lon)
        seen = table.get(key)
        if seen is None:
            seen = table[key] = {}
        elif mmsi not in seen and len(seen) >= _MAX_PER_CELL:
            oldest = min(seen, key=lambda m: seen[m][0])
            del seen[oldest]
        seen[mmsi] = (ts, lat, lon)
        self._added += 1
        if self._added % 65536 == 0:
            self.forget_before(ts - self.memory_s)

    def vessels_near(self, lat: float, lon: float, ts: float, exclude=()) -> int:
        """Distinct vessels (other than those in ``exclude``) that stopped within the radius,
        in the memory window before ``ts``."""
        return self._count(self.cells, lat, lon, ts, exclude, self.radius_nm)

    def passed_near(
        self, lat: float, lon: float, ts: float, exclude=(), radius_nm: float = 0.5
    ) -> int:
        """Distinct vessels (other than those in ``exclude``) that passed under way within
        ``radius_nm``, in the memory window before ``ts``."""
        return self._count(self.passes, lat, lon, ts, exclude, radius_nm)

    def _count(self, table, lat: float, lon: float, ts: float, exclude, radius_nm) -> int:
        row, col = self.cell(lat, lon)
        rows = int(radius_nm / 60.0 / _STOP_CELL_DEG) + 1
        cols = int(rows / max(cos(radians(lat)), 0.05)) + 1
        since = ts - self.memory_s
        seen = set()
        for r in range(row - rows, row + rows + 1):
            for c in range(col - cols, col + cols + 1):
                stops = table.get((r, c))
                if not stops:
                    continue
                for mmsi, (t, la, lo) in stops.items():
                    if (
                        mmsi not in exclude
                        and mmsi not in seen
                        and since <= t
                        and distance_nm(lat, lon, la, lo) <= radius_nm
                    ):
                        seen.add(mmsi)
        return len(seen)

    def busy(self, lat: float, lon: float, ts: float, exclude=()) -> bool:
        return self.vessels_near(lat, lon, ts, exclude) >= self.min_vessels

    def forget_before(self, ts: float) -> None:
        for table in (self.cells, self.passes):
            for key in list(table):
                seen = table[key]
                for mmsi in [m for m, (t, _, _) in seen.items() if t < ts]:
                    del seen[mmsi]
                if not seen:
                    del table[key]

    # ----- plain data, for a database or a file
    def export(self, since: float = float("-inf")) -> list[tuple[str, int, float, float, float]]:
        """Every remembered stop and passage at or after ``since``, as
        (kind, mmsi, ts, lat, lon) with kind ``'stop'`` or ``'pass'``."""
        return [
            (kind, mmsi, t, la, lo)
            for kind, table in (("stop", self.cells), ("pass", self.passes))
            for seen in table.values()
            for mmsi, (t, la, lo) in seen.items()
            if t >= since
        ]

    def load(self, rows) -> None:
        """Add stops and passages exported earlier (by this process or another)."""
        for kind, mmsi, t, la, lo in rows:
            table = self.cells if kind == "stop" else self.passes
            cell = table.setdefault(self.cell(la, lo), {})
            old = cell.get(mmsi)
            if old is None or old[0] < t:
                cell[mmsi] = (t, la, lo)

    def places(self, ts: float) -> list[tuple[float, float, int]]:
        """Busy places for ``mda zones learn``: (lat, lon, vessels) for each cell with recent
        stops whose neighbourhood (the radius) holds at least the threshold of distinct
        vessels, at the mean position of the cell's stops."""
        since = ts - self.memory_s
        out = []
        for stops in self.cells.values():
            recent = [(la, lo) for t, la, lo in stops.values() if t >= since]
            if not recent:
                continue
            lat = sum(p[0] for p in recent) / len(recent)
            lon = sum(p[1] for p in recent) / len(recent)
            n = self.vessels_near(lat, lon, ts)
            if n >= self.min_vessels:
                out.append((lat, lon, n))
        return sorted(out)


class Coverage:
    """Where each source hears vessels: cell -> event time of the latest position heard."""

    def __init__(self):
        self.cells: dict[str, dict[tuple[int, int], float]] = {}

    @staticmethod
    def cell(lat: float, lon: float) -> tuple[int, int]:
        return int((lat + 90.0) // _COVERAGE_CELL_DEG), int((lon + 180.0) // _COVERAGE_CELL_DEG)

    def heard(self, source: str, key: tuple[int, int], ts: float) -> None:
        cells = self.cells.get(source)
        if cells is None:
            cells = self.cells[source] = {}
        if cells.get(key, -1.0) < ts:
            cells[key] = ts

    def heard_near(self, source: str, lat: float, lon: float, since: float) -> bool:
        """Did ``source`` deliver a position from the cell of (lat, lon), or one of the cells
        around it (within about 12 nm), at or after ``since``?"""
        cells = self.cells.get(source)
        if cells is None:
            return False
        row, col = self.cell(lat, lon)
        return any(
            cells.get((r, c), -1.0) >= since
            for r in (row - 1, row, row + 1)
            for c in (col - 1, col, col + 1)
        )

    def forget_before(self, ts: float) -> None:
        for source in list(self.cells):
            cells = self.cells[source]
            for key in [k for k, t in cells.items() if t < ts]:
                del cells[key]
            if not cells:
                del self.cells[source]
