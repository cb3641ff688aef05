"""Is this position on land? The 1 km global land mask of ``global-land-mask`` (GLOBE data),
made cheap enough to ask on every fix.

``globe.is_land`` costs about 50 us a call, and importing it decompresses a 0.9 GB array
(3-4 s of CPU, 0.9 GB of memory for the life of the process). The mask is almost all uniform
at a coarser scale, so the package ships the same mask in a compact form,
``landmask.bin.gz`` (0.8 MB; 5 MB in memory, read in about 20 ms): per block of 30 x 30 mask
cells (0.25 deg), whether it is all sea, all land, or mixed, and for the 38 000 mixed blocks
(the coasts) their 900 cells as bits. It is written from ``globe`` by
``python -m mda.analytics._landmask_build``, and a test checks it answers exactly as
``globe.is_land`` does. Without the file, ``globe`` itself is used.

Lookups are cached per block in a dict: the open sea costs one dict lookup, a coastal
position an index into the block's bits.
"""

from __future__ import annotations

import gzip
import threading
from functools import lru_cache
from importlib import resources
from math import cos, radians

from .errors import AnalyticsError

__all__ = ["LandMask", "shared_land_mask", "MASK_FILE", "MAGIC", "CELL_KM"]

MASK_FILE = "landmask.bin.gz"
MAGIC = b"MDALAND1"
CELLS_PER_DEG = 120  # the mask is 1/120 deg (30 arc seconds), row 0 at 90 N, col 0 at 180 W
BLOCK = 30  # mask cells per block side
ROWS = 180 * CELLS_PER_DEG
COLS = 360 * CELLS_PER_DEG
BROWS = ROWS // BLOCK  # 720
BCOLS = COLS // BLOCK  # 1440
BLOCK_BYTES = BLOCK * BLOCK // 8 + 1  # 900 bits packed: 113 bytes
_SEA = 0
_LAND = 1
_MIXED = 2
CELL_KM = 6371.0088 * 3.141592653589793 / 180.0 / CELLS_PER_DEG  # one cell of latitude, 0.93 km
_DISTANCE_CACHE = 65536  # cells whose distance to land or water is remembered


class LandMask:
    def __init__(self) -> None:
        self._blocks: dict[int, int | bytes] = {}
        self._classes: bytes | None = None  # one class per block, row-major
        self._bits: memoryview | None = None  # packed cells of the mixed blocks, in order
        self._rank = None  # index of each mixed block among the mixed blocks
        self._globe = None  # fallback: global_land_mask.globe.is_land
        self._lock = threading.Lock()
        self._distances: dict[tuple[int, int, bool, float], float] = {}

    # ----- loading
    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._classes is not None or self._globe is not None:
                return
            try:
                raw = resources.files(__package__).joinpath(MASK_FILE).read_bytes()
            except FileNotFoundError:
                from global_land_mask import globe  # 0.9 GB, 3-4 s: only without our file

                self._globe = globe.is_land
                return
            data = gzip.decompress(raw)
            if not data.startswith(MAGIC):
                raise AnalyticsError(
                    f"{MASK_FILE}: not a land mask file (reinstall the package "
                    f"or run python -m mda.analytics._landmask_build)"
                )
            n = BROWS * BCOLS
            import numpy as np

            classes = data[len(MAGIC) : len(MAGIC) + n]
            self._rank = np.cumsum(np.frombuffer(classes, dtype=np.uint8) == _MIXED) - 1
            self._bits = memoryview(data)[len(MAGIC) + n :]
            self._classes = classes

    # ----- queries
    @staticmethod
    def cell(lat: float, lon: float) -> tuple[int, int]:
        """The mask cell (row from the north, column from 180 W) of a position."""
        row = int((90.0 - lat) * CELLS_PER_DEG)
        col = int((lon + 180.0) * CELLS_PER_DEG)
        return (min(max(row, 0), ROWS - 1), min(max(col, 0), COLS - 1))

    def is_land(self, lat: float, lon: float, margin: int = 0) -> bool:
        """True when the position's mask cell is land and, with ``margin`` > 0, so is every
        cell within ``margin`` cells around it (so quay-side, river and coastline positions,
        within a cell of water, stay at sea)."""
        row = int((90.0 - lat) * CELLS_PER_DEG)
        col = int((lon + 180.0) * CELLS_PER_DEG)
        block = self._blocks.get((row // BLOCK) * 2000 + col // BLOCK)
        if block is _SEA:  # the open ocean: one dict lookup
            return False
        if block is None or not 0 <= row < ROWS or not 0 <= col < COLS:
            row, col = self.cell(lat, lon)
            if not self.cell_is_land(row, col):
                return False
        elif block is not _LAND:
            k = (row % BLOCK) * BLOCK + col % BLOCK
            if not (block[k >> 3] >> (7 - (k & 7))) & 1:
                return False
        for dr in range(-margin, margin + 1):
            for dc in range(-margin, margin + 1):
                if (dr or dc) and not self.cell_is_land(row + dr, (col + dc) % COLS):
                    return False
        return True

    def distance_km(self, lat: float, lon: float, to_land: bool, max_km: float) -> float:
        """Distance (km, to the centre of the nearest cell) from the position to the nearest
        mask cell of land (``to_land``) or of water, up to ``max_km``: ``max_km`` when there
        is none that near. Resolution is the mask's (0.93 km of latitude). Cached per cell:
        asked for fixes on land and for alerts about to open, never on the hot path."""
        row, col = self.cell(lat, lon)
        key = (row, col, to_land, max_km)
        found = self._distances.get(key)
        if found is not None:
            return found
        best = max_km
        for d, dr, dc in _offsets(int(abs(lat)), max_km):
            if self.cell_is_land(row + dr, (col + dc) % COLS) is to_land:
                best = d
                break
        if len(self._distances) >= _DISTANCE_CACHE:
            self._distances.clear()
        self._distances[key] = best
        return best

    def cell_is_land(self, row: int, col: int) -> bool:
        if row < 0 or row >= ROWS:
            return True  # beyond the poles: nothing sails there
        key = (row // BLOCK) * 2000 + col // BLOCK
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = self._classify(row // BLOCK, col // BLOCK)
        if block.__class__ is int:
            return block == _LAND
        k = (row % BLOCK) * BLOCK + col % BLOCK
        return bool((block[k >> 3] >> (7 - (k & 7))) & 1)

    def _classify(self, brow: int, bcol: int) -> int | bytes:
        if self._classes is None and self._globe is None:
            self._ensure_loaded()
        if self._classes is not None:
            k = brow * BCOLS + bcol
            cls = self._classes[k]
            if cls != _MIXED:
                return cls
            off = int(self._rank[k]) * BLOCK_BYTES
            return bytes(self._bits[off : off + BLOCK_BYTES])
        return classify_block(self._globe, brow, bcol)


@lru_cache(maxsize=64)
def _offsets(abs_lat: int, max_km: float) -> tuple[tuple[float, int, int], ...]:
    """Cell offsets (distance km, drow, dcol) within ``max_km``, nearest first, for a latitude
    band of one degree (cells narrow towards the poles; the band's poleward edge is used, so
    distances are never overstated)."""
    col_km = CELL_KM * max(cos(radians(min(abs_lat + 1, 89))), 0.01)
    rows = int(max_km / CELL_KM) + 1
    cols = min(int(max_km / col_km) + 1, COLS // 2)
    out = []
    for dr in range(-rows, rows + 1):
        for dc in range(-cols, cols + 1):
            d = ((dr * CELL_KM) ** 2 + (dc * col_km) ** 2) ** 0.5
            if d <= max_km:
                out.append((d, dr, dc))
    out.sort()
    return tuple(out)


def classify_block(is_land, brow: int, bcol: int) -> int | bytes:
    """A block of the mask through ``globe.is_land``: _SEA, _LAND, or its cells packed as
    bits (row-major, first cell in the high bit). Evaluated at the centres of the block's
    cells, which map exactly onto the mask's own grid."""
    import numpy as np

    rows = np.arange(brow * BLOCK, (brow + 1) * BLOCK)
    cols = np.arange(bcol * BLOCK, (bcol + 1) * BLOCK)
    lats = 90.0 - (rows + 0.5) / CELLS_PER_DEG
    lons = (cols + 0.5) / CELLS_PER_DEG - 180.0
    grid_lat, grid_lon = np.meshgrid(lats, lons, indexing="ij")
    land = np.asarray(is_land(grid_lat.ravel(), grid_lon.ravel()), dtype=bool)
    if not land.any():
        return _SEA
    if land.all():
        return _LAND
    return np.packbits(land).tobytes()


_shared: LandMask | None = None
_shared_lock = threading.Lock()


def shared_land_mask() -> LandMask:
    """One mask (and cache) per process: analyzers built for tests or per file share it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LandMask()
        return _shared
