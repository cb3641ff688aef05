"""The shipped harbour-scale shoreline (GSHHG full, web/static/basemap/shore/): present,
small enough, licensed, and finer than Natural Earth where a harbour is."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from shapely import STRtree
from shapely.geometry import Point, Polygon, shape

from mda.web.tools.make_shoreline import Q, _encode_ring, decode_cell

BASEMAP = Path(__file__).resolve().parent.parent / "web" / "static" / "basemap"
SHORE = BASEMAP / "shore"


@cache
def index() -> dict:
    return json.loads((SHORE / "index.json").read_text())


@cache
def natural_earth():
    fc = json.loads((BASEMAP / "land-detail.geojson").read_text())
    polys = [shape(f["geometry"]) for f in fc["features"]]
    return polys, STRtree(polys)


def ne_land(lat: float, lon: float) -> bool:
    polys, tree = natural_earth()
    p = Point(lon, lat)
    return any(polys[i].contains(p) for i in tree.query(p))


@cache
def _cell(band_dir: str, name: str, cell: int) -> list[Polygon]:
    x0, y0 = (int(v) for v in name.split("_"))
    rings = decode_cell((SHORE / band_dir / f"{name}.bin").read_bytes())
    return [Polygon([(x0 + x / Q * cell, y0 + y / Q * cell) for x, y in r]) for r in rings]


def fine_land(lat: float, lon: float, zoom: int = 14) -> bool:
    """Land in the shipped data as the map draws it at ``zoom`` (rings filled even-odd)."""
    band = next(b for b in index()["bands"] if b["min_zoom"] <= zoom <= b["max_zoom"])
    w, s = index()["region"][:2]
    c = band["cell"]
    name = f"{int(w + (lon - w) // c * c)}_{int(s + (lat - s) // c * c)}"
    if name in band["land"]:
        return True
    if name not in band["cells"]:
        return False
    inside = sum(r.contains(Point(lon, lat)) for r in _cell(band["dir"], name, c))
    return inside % 2 == 1


def test_the_shoreline_is_shipped_whole_small_and_with_its_licence():
    ix = index()
    assert [(b["min_zoom"], b["max_zoom"]) for b in ix["bands"]] == [(8, 10), (11, 18)]
    total = 0
    for band in ix["bands"]:
        files = {f.stem for f in (SHORE / band["dir"]).glob("*.bin")}
        assert files == set(band["cells"]), band["dir"]
        total += sum((SHORE / band["dir"] / f"{n}.bin").stat().st_size for n in files)
        assert len(band["cells"]) > 100 and len(band["land"]) > 10
    assert 3e6 < total < 8e6, total  # a few MB, not the 85 MB source
    notice = (SHORE / "NOTICE").read_text()
    assert "GSHHG" in notice and "Wessel" in notice and "LGPL" in notice
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in (SHORE / "COPYING.LESSER").read_text()


@pytest.mark.parametrize(
    ("place", "lat", "lon"),
    [
        ("Colombo, the port's basin", 6.96, 79.85),
        ("Jebel Ali, the harbour's channel", 25.0, 55.07),
        ("Chennai, the harbour", 13.10, 80.305),
    ],
)
def test_harbour_water_that_natural_earth_calls_land_is_water_in_the_shoreline(place, lat, lon):
    assert ne_land(lat, lon), place
    assert not fine_land(lat, lon), place


@pytest.mark.parametrize(
    ("place", "lat", "lon", "land"),
    [
        ("Mumbai, Powai", 19.12, 72.91, True),
        ("Colombo, Borella", 6.915, 79.875, True),
        ("inland Africa (a whole cell of land)", 0.5, 30.5, True),
        ("Arabian Sea", 15.0, 65.0, False),
        ("Mumbai harbour, off the docks", 18.94, 72.86, False),
    ],
)
def test_land_and_sea_are_where_they_are(place, lat, lon, land):
    assert fine_land(lat, lon) is land, place
    assert fine_land(lat, lon, zoom=9) is land, place


def test_a_ring_survives_encoding_to_the_quantum():
    ring = np.array([(72.8, 18.9), (72.9, 18.9), (72.9, 18.95), (72.8, 18.95), (72.8, 18.9)])
    (back,) = decode_cell(_encode_ring(ring, 72, 18, 1))
    got = np.array([(72 + x / Q, 18 + y / Q) for x, y in back])
    assert np.abs(got - ring).max() <= 0.5 / Q + 1e-12
    assert math.isclose(Polygon(got).area, Polygon(ring).area, rel_tol=1e-3)
