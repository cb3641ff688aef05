"""The compact land mask shipped with the package answers exactly as
``global_land_mask.globe.is_land``, and the shipped file is what the builder writes."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from global_land_mask import globe

from mda import analytics
from mda.analytics import _landmask_build
from mda.analytics.landmask import MASK_FILE, LandMask, classify_block


def test_random_points_of_the_globe_agree_with_globe():
    mask = LandMask()
    rng = random.Random(11)
    lats = np.array([rng.uniform(-89.99, 89.99) for _ in range(40_000)])
    lons = np.array([rng.uniform(-180.0, 179.99) for _ in range(40_000)])
    expected = globe.is_land(lats, lons)
    assert [mask.is_land(la, lo) for la, lo in zip(lats, lons)] == expected.tolist()


def test_every_cell_of_a_coast_agrees_with_globe():
    # Every 1 km cell of the south of Sri Lanka and the Palk Strait, 2 x 2 deg.
    mask = LandMask()
    rows = np.arange(int((90 - 10) * 120), int((90 - 8) * 120))
    cols = np.arange(int((79 + 180) * 120), int((81 + 180) * 120))
    lat, lon = np.meshgrid(90 - (rows + 0.5) / 120, (cols + 0.5) / 120 - 180, indexing="ij")
    expected = globe.is_land(lat.ravel(), lon.ravel())
    got = [mask.is_land(a, b) for a, b in zip(lat.ravel(), lon.ravel())]
    assert got == expected.tolist()
    assert 0 < sum(got) < len(got)


def test_the_margin_needs_land_all_around():
    mask = LandMask()
    assert mask.is_land(20.0, 78.0, margin=1)  # central India
    assert not mask.is_land(-15.0, 75.0, margin=0)  # open ocean
    # A coastal land cell with sea next to it: land alone, not with a margin.
    lat, lon = 7.60, 79.70
    while not mask.is_land(lat, lon):
        lon += 0.002
    assert not mask.is_land(lat, lon, margin=1)


def test_the_globe_fallback_classifies_blocks_the_same_way():
    mask = LandMask()
    for brow, bcol in ((330, 1036), (300, 1000), (420, 1020), (280, 1030)):
        mask.cell_is_land(brow * 30, bcol * 30)
        assert mask._blocks[brow * 2000 + bcol] == classify_block(globe.is_land, brow, bcol)


def test_the_shipped_file_is_what_the_builder_writes():
    shipped = (Path(analytics.__file__).parent / MASK_FILE).read_bytes()
    assert shipped == _landmask_build.build()
