"""Real tracks: two vessels that met in the south-west Indian Ocean on 2015-03-19 (Global
Fishing Watch's encounter test series; its pipeline finds one encounter 07:40-20:10 UTC).
The CSV has no SOG, so speeds are derived from positions."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analytics import Analyzer, analyze_records
from ingest.records import PositionReport

CSV = Path(__file__).parent / "data" / "gfw" / "encounter_441910000_563418000.csv"
GFW_START = datetime(2015, 3, 19, 7, 40, tzinfo=timezone.utc).timestamp()
GFW_END = datetime(2015, 3, 19, 20, 10, tzinfo=timezone.utc).timestamp()


@pytest.fixture(scope="module")
def records() -> list[PositionReport]:
    with CSV.open(newline="") as f:
        rows = [PositionReport(ts=float(r["timestamp_unix"]), mmsi=int(r["mmsi"]),
                               lat=float(r["lat"]), lon=float(r["lon"]), source="gfw")
                for r in csv.DictReader(f)]
    assert len(rows) == 346 and all(r.sog is None for r in rows)
    return sorted(rows, key=lambda r: (r.ts, r.mmsi))


def test_the_encounter_is_found_within_an_hour_of_gfw(records):
    encounters = [a for a in analyze_records(records) if a.kind == "encounter"]
    assert encounters, "no encounter found"
    assert all({a.mmsi, a.other_mmsi} == {441910000, 563418000} for a in encounters)
    first = encounters[0]
    assert abs(first.start - GFW_START) <= 3600, first.to_dict()
    # Every episode we report lies within GFW's encounter, give or take its 10 min resampling
    # and the last fixes together after 20:10.
    for a in encounters:
        assert a.start >= GFW_START - 3600 and (a.end or a.start) <= GFW_END + 2 * 3600
    assert first.details["min_distance_m"] < 100


def test_both_vessels_loiter_far_from_any_port(records):
    alerts = analyze_records(records)
    loiterers = {a.mmsi for a in alerts if a.kind == "loitering"}
    assert loiterers == {441910000, 563418000}
    assert all(a.details["nearest_port_nm"] > 500 for a in alerts if a.kind == "loitering")
    assert {a.kind for a in alerts} == {"encounter", "loitering"}


def test_speeds_come_from_positions_and_gaps_are_not_feed_outages(records):
    analyzer = Analyzer()
    changes = analyzer.process(records) + analyzer.finish()
    # Both vessels fall silent for eight hours together: the whole feed stops, which is no
    # AIS gap; the counter shows the feed's own outages instead.
    assert not [c for c in changes if c.alert.kind == "ais_gap"]
    assert analyzer.stats["feed_outages"] >= 1
    assert all(c.alert.details.get("sog_source") == "derived from positions"
               for c in changes if c.alert.kind == "loitering")
