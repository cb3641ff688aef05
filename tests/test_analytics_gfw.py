"""Real tracks: two vessels that met in the south-west Indian Ocean on 2015-03-19 (Global
Fishing Watch's encounter test series; its pipeline finds one encounter 07:40-20:10 UTC).
The fixes are sparse (bursts, then silences of one to eight hours), as satellite AIS is.
The CSV has no SOG: speeds are either derived from positions by the analytics, or given as a
feed would report them (each vessel's speed over its neighbouring fixes)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mda.analytics import Analyzer, analyze_records
from mda.analytics.geo import bearing_deg, distance_nm
from mda.ingest.records import PositionReport

CSV = Path(__file__).parent / "data" / "gfw" / "encounter_441910000_563418000.csv"
GFW_START = datetime(2015, 3, 19, 7, 40, tzinfo=UTC).timestamp()
GFW_END = datetime(2015, 3, 19, 20, 10, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def records() -> list[PositionReport]:
    with CSV.open(newline="") as f:
        rows = [
            PositionReport(
                ts=float(r["timestamp_unix"]),
                mmsi=int(r["mmsi"]),
                lat=float(r["lat"]),
                lon=float(r["lon"]),
                source="gfw",
            )
            for r in csv.DictReader(f)
        ]
    assert len(rows) == 346 and all(r.sog is None for r in rows)
    return sorted(rows, key=lambda r: (r.ts, r.mmsi))


def _as_reported(records: list[PositionReport]) -> list[PositionReport]:
    """The same fixes with the SOG and COG a transponder would report: the vessel's speed and
    course over its neighbouring fixes, to 0.1 kn and 0.1 deg."""
    by_vessel: dict[int, list[PositionReport]] = {}
    for r in records:
        by_vessel.setdefault(r.mmsi, []).append(r)
    out = []
    for fixes in by_vessel.values():
        for i, r in enumerate(fixes):
            a, b = fixes[max(i - 1, 0)], fixes[min(i + 1, len(fixes) - 1)]
            dt = b.ts - a.ts
            sog = distance_nm(a.lat, a.lon, b.lat, b.lon) / (dt / 3600.0) if dt > 0 else 0.0
            cog = bearing_deg(a.lat, a.lon, b.lat, b.lon) if dt > 0 else 0.0
            out.append(
                PositionReport(
                    ts=r.ts,
                    mmsi=r.mmsi,
                    lat=r.lat,
                    lon=r.lon,
                    sog=round(sog, 1),
                    cog=round(cog, 1),
                    source="gfw",
                )
            )
    return sorted(out, key=lambda r: (r.ts, r.mmsi))


@pytest.mark.parametrize("speeds", ["derived", "reported"])
def test_the_encounter_is_found_as_one_episode_as_gfw_finds_it(records, speeds):
    # Interpolated between the sparse fixes, the pair is together from about 07:40 for the
    # whole day, across the eight-hour silence: one encounter, not one per burst of fixes.
    feed = records if speeds == "derived" else _as_reported(records)
    encounters = [a for a in analyze_records(feed) if a.kind == "encounter"]
    assert len(encounters) == 1, [a.to_dict() for a in encounters]
    enc = encounters[0]
    assert {enc.mmsi, enc.other_mmsi} == {441910000, 563418000}
    assert abs(enc.start - GFW_START) <= 30 * 60, enc.to_dict()
    assert enc.end is None or enc.end >= GFW_END - 30 * 60, enc.to_dict()
    assert enc.details["min_distance_m"] < 100


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
    assert all(
        c.alert.details.get("sog_source") == "derived from positions"
        for c in changes
        if c.alert.kind == "loitering"
    )
