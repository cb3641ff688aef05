"""Build the offline basemap: Natural Earth land polygons, detailed for the Indian Ocean.

A developer's tool, not run by the service. It reads the ``land-10m.json`` and
``land-50m.json`` TopoJSON files of the npm package ``world-atlas`` (Natural Earth 4.1.0,
public domain; the package is ISC-licensed), clips and simplifies them and writes
GeoJSON into ``web/static/basemap/``::

    npm pack world-atlas && tar xzf world-atlas-*.tgz
    python -m mda.web.tools.make_basemap package/

Two files come out: ``land-overview.geojson`` (1:50m, the world, for small scales) and
``land-detail.geojson`` (1:10m, for zoom 6 and above, clipped to ``REGION``). Coordinates
are rounded to what each scale can show.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shapely.geometry import Polygon, box
from shapely.ops import unary_union

__all__ = ["REGION", "decode_topojson_land", "build"]

# lon/lat box of the detailed basemap: the Mediterranean's east end and East Africa to
# Australia and the South China Sea, the Southern Ocean to the Caspian. The overview
# (small scales) covers the whole world.
REGION = (10.0, -60.0, 150.0, 45.0)
WORLD = (-180.0, -85.0, 180.0, 85.0)
OUT = Path(__file__).resolve().parent.parent / "static" / "basemap"


def _arcs(topo: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:  # quantized and delta-encoded
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        out.append(pts)
    return out


def _ring(indexes: list[int], arcs: list) -> list[tuple[float, float]]:
    ring: list[tuple[float, float]] = []
    for i in indexes:
        pts = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        ring.extend(pts if not ring else pts[1:])  # arcs share their end points
    return ring


def decode_topojson_land(topo: dict) -> list[Polygon]:
    arcs = _arcs(topo)
    polys = []
    for geom in topo["objects"]["land"]["geometries"]:
        parts = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        for rings in parts:
            shell, *holes = [_ring(r, arcs) for r in rings]
            if len(shell) >= 4:
                polys.append(Polygon(shell, [h for h in holes if len(h) >= 4]))
    return polys


def _rounded(geom, digits: int):
    def rnd(coords):
        return [[round(x, digits), round(y, digits)] for x, y in coords]

    polys = [geom] if isinstance(geom, Polygon) else list(geom.geoms)
    return [
        {
            "type": "Polygon",
            "coordinates": [rnd(p.exterior.coords)] + [rnd(r.coords) for r in p.interiors],
        }
        for p in polys
        if not p.is_empty
    ]


def build(
    topo_path: Path,
    out: Path,
    tolerance: float,
    digits: int,
    min_area: float,
    bounds: tuple[float, float, float, float] = REGION,
) -> int:
    topo = json.loads(topo_path.read_text())
    region = box(*bounds)
    land = unary_union([p.buffer(0) for p in decode_topojson_land(topo)]).intersection(region)
    land = land.simplify(tolerance, preserve_topology=True)
    polys = (
        [land]
        if isinstance(land, Polygon)
        else [g for g in getattr(land, "geoms", []) if isinstance(g, Polygon)]
    )
    polys = [p for p in polys if p.area >= min_area]
    features = [
        {"type": "Feature", "properties": {}, "geometry": g}
        for p in polys
        for g in _rounded(p, digits)
    ]
    fc = {
        "type": "FeatureCollection",
        "properties": {
            "source": "Natural Earth 4.1.0 land via world-atlas 2.0.2",
            "region": bounds,
            "tolerance_deg": tolerance,
        },
        "features": features,
    }
    out.write_text(json.dumps(fc, separators=(",", ":")))
    return len(features)


def main(argv: list[str]) -> int:
    pkg = Path(argv[0] if argv else "package")
    OUT.mkdir(parents=True, exist_ok=True)
    n1 = build(pkg / "land-50m.json", OUT / "land-overview.geojson", 0.04, 2, 0.01, WORLD)
    n2 = build(pkg / "land-10m.json", OUT / "land-detail.geojson", 0.004, 3, 0.00002)
    for name, n in (("land-overview.geojson", n1), ("land-detail.geojson", n2)):
        print(f"{OUT / name}: {n} polygons, {(OUT / name).stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
