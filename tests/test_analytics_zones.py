"""Zones: the file format and its errors, the built-in zones and their sources, the point
index against a brute-force check, and the lane ends rule."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Polygon, box, mapping

from mda.analytics import ZoneError, ZoneSet, load_zone_file
from mda.analytics.landmask import shared_land_mask
from mda.analytics.zones import LaneShape, _generate, builtin_zones

IRTC = {
    "IRTC westbound lane": (
        252.0,
        [(12.0, 45.0), (14.5, 53.0), (14 + 25 / 60, 53.0), (11 + 55 / 60, 45.0)],
    ),
    "IRTC eastbound lane": (
        72.0,
        [(11 + 53 / 60, 45.0), (14 + 23 / 60, 53.0), (14 + 18 / 60, 53.0), (11 + 48 / 60, 45.0)],
    ),
}


def write(tmp_path: Path, data, name="zones.geojson") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def feat(geom, **props):
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "content, problem",
    [
        ('{"type": "FeatureCollection", "features": [', "not valid JSON"),
        ("[1, 2]", "not a GeoJSON FeatureCollection"),
        (fc({"type": "Feature", "geometry": mapping(box(0, 0, 1, 1))}), "missing 'properties'"),
        (fc(feat(box(0, 0, 1, 1), kind="restricted")), "missing property 'name'"),
        (fc(feat(box(0, 0, 1, 1), name="A")), "missing property 'kind'"),
        (
            fc(
                {
                    "type": "Feature",
                    "properties": {"name": "A", "kind": "port"},
                    "geometry": {"type": "Point", "coordinates": [1, 2]},
                }
            ),
            "geometry must be a Polygon or MultiPolygon, got 'Point'",
        ),
        (
            fc(
                {
                    "type": "Feature",
                    "properties": {"name": "A", "kind": "port"},
                    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1]]]},
                }
            ),
            "malformed Polygon",
        ),
        (
            fc(feat(Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), name="Bowtie", kind="restricted")),
            "invalid polygon: Self-intersection",
        ),
        (fc(feat(box(0, 100, 1, 101), name="A", kind="port")), "coordinates out of range"),
        (fc(feat(box(0, 0, 1, 1), name="L", kind="lane", direction=400)), "'direction' must be"),
        (
            fc(feat(box(0, 0, 1, 1), name="Z", kind="protected", ship_types=["fishing"])),
            "'ship_types' must be",
        ),
        (
            fc(feat(box(0, 0, 1, 1), name="Z", kind="protected", severity="urgent")),
            "'severity' must be one of",
        ),
        (fc(feat(box(0, 0, 1, 1), name="L", kind="lane", ends=[0, 9])), "'ends' must list"),
        (
            fc(
                feat(box(0, 0, 1, 1), name="A", kind="port"),
                feat(box(2, 2, 3, 3), name="A", kind="port"),
            ),
            "used twice",
        ),
    ],
)
def test_a_bad_zones_file_names_the_file_and_the_problem(tmp_path, content, problem):
    path = write(tmp_path, content)
    with pytest.raises(ZoneError) as e:
        load_zone_file(path)
    assert str(e.value).startswith(f"{path}: ")
    assert problem in str(e.value)


def test_an_invalid_polygon_names_the_feature(tmp_path):
    path = write(
        tmp_path,
        fc(
            feat(box(0, 0, 1, 1), name="Fine", kind="port"),
            feat(Polygon([(0, 0), (2, 2), (2, 0), (0, 2)]), name="Bowtie", kind="restricted"),
        ),
    )
    with pytest.raises(ZoneError, match=r"feature 1 \('Bowtie'\): invalid polygon"):
        ZoneSet.from_files([path])


def test_an_unreadable_zones_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.geojson"
    with pytest.raises(ZoneError, match=rf"^{missing}: cannot read zones file: No such file"):
        ZoneSet.from_files([missing])
    with pytest.raises(ZoneError, match="is a directory"):
        load_zone_file(tmp_path)
    binary = tmp_path / "bin.geojson"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ZoneError, match="not UTF-8 text"):
        load_zone_file(binary)


def test_the_same_zone_in_two_files_names_both(tmp_path):
    a = write(tmp_path, fc(feat(box(0, 0, 1, 1), name="Range", kind="restricted")), "a.geojson")
    b = write(tmp_path, fc(feat(box(5, 5, 6, 6), name="Range", kind="restricted")), "b.geojson")
    with pytest.raises(ZoneError, match=rf"{b}: zone 'Range' is already defined in {a}"):
        ZoneSet.from_files([a, b])


# ------------------------------------------------------------------------- files add to built-ins


def test_files_add_to_the_built_in_zones_and_can_replace_one(tmp_path):
    official = box(80.3, 5.6, 81.0, 5.65)
    path = write(
        tmp_path,
        fc(
            feat(box(70, -16, 70.5, -15.5), name="Range", kind="restricted"),
            feat(official, name="Dondra Head TSS eastbound lane", kind="lane", direction=90),
        ),
    )
    zs = ZoneSet.from_files([path])
    builtin = ZoneSet.builtin()
    assert len(zs) == len(builtin) + 1
    replaced = zs.get("Dondra Head TSS eastbound lane")
    assert replaced.origin == str(path) and not replaced.approximate
    assert zs.lookup(-15.75, 70.25).names == ("Range",)
    assert ZoneSet.from_files([path], builtin=False).zones[0].name == "Range"


# ------------------------------------------------------------------------- built-in zones


def test_irtc_lanes_are_at_the_published_coordinates():
    zs = ZoneSet.builtin()
    for name, (direction, corners) in IRTC.items():
        z = zs.get(name)
        assert z.kind == "lane" and z.direction == direction and not z.approximate
        ring = list(z.geometry.exterior.coords)[:-1]
        assert [(round(lat, 6), round(lon, 6)) for lon, lat in ring] == [
            (round(lat, 6), round(lon, 6)) for lat, lon in corners
        ]
        assert "MSCHOA" in z.properties["source"]


def test_every_built_in_zone_says_where_it_comes_from():
    zones = builtin_zones()
    assert {z.kind for z in zones} >= {"lane", "port", "anchorage"}
    for z in zones:
        assert z.properties.get("source"), z.name
        assert isinstance(z.properties.get("approximate"), bool), z.name
    # Everything but the IRTC is drawn from descriptions and gazetteers, and says so.
    assert {z.name for z in zones if not z.approximate} == set(IRTC) | {"IRTC separation zone"}
    schemes = {z.properties.get("scheme") for z in zones if z.properties.get("scheme")}
    assert schemes == {
        "Bab-el-Mandeb TSS",
        "Strait of Hormuz TSS",
        "Dondra Head TSS",
        "Malacca Strait TSS",
        "Singapore Strait TSS",
    }
    ports = {z.name for z in zones if z.kind == "port"}
    for port in (
        "Mumbai and JNPT",
        "Mundra",
        "Kandla",
        "Kochi",
        "Chennai",
        "Visakhapatnam",
        "Haldia",
        "Paradip",
        "Colombo",
        "Hambantota",
        "Chittagong",
        "Male",
        "Karachi",
        "Gwadar",
        "Salalah",
        "Duqm",
        "Jebel Ali",
        "Fujairah",
        "Djibouti",
        "Aden",
        "Mombasa",
        "Dar es Salaam",
        "Port Louis",
        "Singapore",
        "Port Klang",
        "Yangon and Thilawa",
        "Fremantle",
    ):
        assert port in ports


def test_the_shipped_files_are_what_the_generator_writes():
    here = Path(_generate.__file__).parent
    for name, text in _generate.render().items():
        assert (here / name).read_text(encoding="utf-8") == text, name


def test_lanes_lie_at_sea_and_ports_touch_the_sea():
    mask = shared_land_mask()
    rng = random.Random(3)
    for z in builtin_zones():
        minx, miny, maxx, maxy = z.geometry.bounds
        pts = [(rng.uniform(miny, maxy), rng.uniform(minx, maxx)) for _ in range(3000)]
        inside = [(la, lo) for la, lo in pts if shapely.contains_xy(z.geometry, lo, la)]
        land = sum(mask.is_land(la, lo) for la, lo in inside) / len(inside)
        if z.kind in ("lane", "separation"):
            assert land < 0.01, (z.name, land)
        else:
            assert land < 0.9, (z.name, land)  # a harbour circle holds water


# ------------------------------------------------------------------------- the index


def test_lookup_agrees_with_brute_force():
    zs = ZoneSet.builtin()
    rng = random.Random(5)
    points = []
    for z in zs.zones:  # points near every zone's edges, plus open water
        minx, miny, maxx, maxy = z.geometry.bounds
        points += [
            (rng.uniform(miny - 0.05, maxy + 0.05), rng.uniform(minx - 0.05, maxx + 0.05))
            for _ in range(150)
        ]
    points += [(rng.uniform(-40, 30), rng.uniform(30, 120)) for _ in range(3000)]
    for lat, lon in points:
        expected = tuple(z.name for z in zs.zones if shapely.contains_xy(z.geometry, lon, lat))
        assert zs.lookup(lat, lon).names == expected, (lat, lon)


def test_hits_group_zones_the_way_the_rules_ask():
    zs = ZoneSet.builtin()
    colombo = zs.lookup(6.95, 79.83)
    assert colombo.quiet and not colombo.lanes and not colombo.others
    lane = zs.lookup(13.208333, 49.0)
    assert [z.name for z in lane.lanes] == ["IRTC westbound lane"]
    assert lane.exact_lanes == lane.lanes and not lane.quiet
    assert not zs.lookup(-15.0, 75.0)
    zone, nm = zs.nearest(-15.0, 75.0)
    assert zone.kind in ("port", "anchorage") and nm > 500
    assert zs.nearest(6.95, 79.83) == (zs.get("Colombo"), 0.0)


def test_lane_ends_are_the_two_short_edges_or_the_listed_ones():
    ring = [(45.0, 12.0), (53.0, 14.5), (53.0, 14 + 25 / 60), (45.0, 11 + 55 / 60), (45.0, 12.0)]
    lane = LaneShape(ring)
    assert lane.ends == {1, 3}
    mid_lat = 13.2083
    # Out through the western end, from inside near 45.05 E to outside at 44.95 E.
    assert lane.left_through_end(11.97, 45.05, 11.96, 44.95)
    # Out through the northern side.
    assert not lane.left_through_end(mid_lat, 49.0, mid_lat + 0.2, 49.0)
    # 9.5 nm north of the edge along the meridian; the lane runs 17.8 deg off east-west.
    assert lane.distance_nm(mid_lat + 0.2, 49.0) == pytest.approx(9.5 * 0.952, abs=0.1)
    explicit = LaneShape(ring, ends=(0, 2))
    assert explicit.left_through_end(mid_lat, 49.0, mid_lat + 0.2, 49.0)


def test_lane_ends_from_the_file(tmp_path):
    path = write(
        tmp_path, fc(feat(box(60, 0, 61, 0.1), name="Lane", kind="lane", direction=90, ends=[0, 2]))
    )
    (lane,) = load_zone_file(path)
    assert lane.lane.ends == {0, 2}
