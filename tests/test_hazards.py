"""Vessels at risk from a hazard area, and the nearest vessels to a distress, against tracks
computed by hand on the sphere."""

from __future__ import annotations

import pytest

from mda.analytics.geo import bearing_deg, destination, distance_nm
from mda.analytics.hazards import (
    Hazard,
    VesselState,
    circle,
    max_speed_kn,
    nearest_responders,
    vessels_at_risk,
)

NOW = 1_750_000_000.0
CENTRE = (12.0, 88.0)  # the Bay of Bengal, a cyclone's eye
RADIUS_KM = 100.0
RADIUS_NM = RADIUS_KM / 1.852


def _cyclone(**kw) -> Hazard:
    return Hazard("h1", "Cyclone test", circle(*CENTRE, RADIUS_KM), "extreme", **kw)


def _vessel(mmsi, bearing_from_centre, nm_from_edge, sog, cog, **kw) -> VesselState:
    lat, lon = destination(*CENTRE, bearing_from_centre, RADIUS_NM + nm_from_edge)
    return VesselState(mmsi, NOW, lat, lon, sog, cog, **kw)


def test_a_vessel_60_nm_out_at_12_kn_towards_it_enters_in_5_hours():
    v = _vessel(419000001, 270.0, 60.0, 12.0, 90.0, ship_type=70)  # west of it, steaming east
    (r,) = vessels_at_risk(_cyclone(), [v], NOW)
    assert not r.inside
    assert abs(r.entry_ts - (NOW + 5 * 3600)) <= 10 * 60
    assert abs(r.distance_nm - 60.0) < 1.0


def test_a_vessel_steaming_away_is_not_at_risk_and_one_inside_is_listed_inside():
    away = _vessel(419000002, 270.0, 60.0, 12.0, 270.0)
    inside = _vessel(419000003, 0.0, -20.0, 8.0, 0.0)
    anchored = _vessel(419000004, 180.0, -5.0, 0.0, None, nav_status=1)
    risk = vessels_at_risk(_cyclone(), [away, inside, anchored], NOW)
    assert [(r.mmsi, r.inside) for r in risk] == [(419000003, True), (419000004, True)]


def test_stopped_vessels_do_not_move_and_speeds_are_capped_by_type():
    stopped = _vessel(419000005, 90.0, 10.0, 0.2, 270.0)  # 10 nm out, drifting at 0.2 kn
    # A garbled 102 kn from a tanker: capped at 25 kn, so 300 nm out it cannot arrive in 12 h.
    garbled = _vessel(419000006, 90.0, 320.0, 102.2, 270.0, ship_type=80)
    assert max_speed_kn(80) == 25.0
    assert vessels_at_risk(_cyclone(), [stopped, garbled], NOW) == []
    # The same fix 280 nm out: 11.2 h at 25 kn, within the horizon.
    near = _vessel(419000007, 90.0, 280.0, 102.2, 270.0, ship_type=80)
    (r,) = vessels_at_risk(_cyclone(), [near], NOW)
    assert r.speed_kn == 25.0 and abs(r.entry_ts - (NOW + 280 / 25 * 3600)) <= 10 * 60


def test_the_last_fix_is_projected_to_now_and_expired_hazards_list_nobody():
    # Its fix is two hours old: at 12 kn it has closed 24 nm of the 60 since.
    v = _vessel(419000008, 270.0, 60.0, 12.0, 90.0)
    old = VesselState(v.mmsi, NOW - 7200, v.lat, v.lon, v.sog, v.cog)
    (r,) = vessels_at_risk(_cyclone(), [old], NOW)
    assert abs(r.entry_ts - (NOW + 3 * 3600)) <= 10 * 60
    assert vessels_at_risk(_cyclone(expires=NOW - 1), [v], NOW) == []


def test_an_entry_after_the_hazard_expires_does_not_count():
    v = _vessel(419000009, 270.0, 60.0, 12.0, 90.0)  # enters in 5 h
    assert vessels_at_risk(_cyclone(expires=NOW + 4 * 3600), [v], NOW) == []
    (r,) = vessels_at_risk(_cyclone(expires=NOW + 6 * 3600), [v], NOW)
    assert abs(r.entry_ts - (NOW + 5 * 3600)) <= 10 * 60


def test_a_pending_hazard_lists_the_vessels_inside_at_or_after_its_onset():
    onset = NOW + 3 * 3600
    coming = _vessel(419000031, 270.0, 60.0, 12.0, 90.0)  # enters in 5 h, after the onset
    waiting = _vessel(419000032, 0.0, -20.0, 0.0, None, nav_status=1)  # inside, at anchor
    # inside now, 20 nm from its edge, steaming out at 20 kn: gone in an hour
    leaving = _vessel(419000033, 0.0, -20.0, 20.0, 0.0)
    # crosses its northern part (a chord 45 nm long, 49 nm north of the centre) from 0.4 h
    # to 2.6 h, and is out again at the onset
    north = destination(*CENTRE, 0.0, 49.0)
    passing = VesselState(419000034, NOW, *destination(*north, 270.0, 30.0), 20.0, 90.0)
    assert vessels_at_risk(_cyclone(), [passing], NOW)  # (it does enter, before the onset)
    risk = vessels_at_risk(_cyclone(onset=onset), [coming, waiting, leaving, passing], NOW)
    got = {r.mmsi: r for r in risk}
    assert sorted(got) == [419000031, 419000032]
    assert not got[419000032].inside and got[419000032].entry_ts == pytest.approx(onset)
    assert not got[419000031].inside
    assert abs(got[419000031].entry_ts - (NOW + 5 * 3600)) <= 10 * 60
    assert [r.mmsi for r in risk] == [419000032, 419000031]  # by time of entry


def test_a_narrow_strip_between_two_track_samples_is_not_stepped_over():
    """A 1.8 nm wide strip, 9 nm ahead of a vessel at 25 kn: the 10-minute samples fall at
    8.3 and 12.5 nm, on either side of it; the track's segment crosses it."""
    from shapely.geometry import Polygon

    lat0, lon0 = 10.0, 80.0
    west = destination(lat0, lon0, 90.0, 9.0)[1]
    east = destination(lat0, lon0, 90.0, 10.8)[1]
    strip = Hazard("s", "Narrow channel", Polygon(
        [(west, 9.0), (east, 9.0), (east, 11.0), (west, 11.0)]
    ), "high")  # fmt: skip
    v = VesselState(419000040, NOW, lat0, lon0, 25.0, 90.0, ship_type=60)
    (r,) = vessels_at_risk(strip, [v], NOW)
    assert not r.inside and abs(r.entry_ts - (NOW + 9.0 / 25.0 * 3600)) <= 60
    # and the one steaming the other way, or along it outside, is not listed
    away = VesselState(419000041, NOW, lat0, lon0, 25.0, 270.0, ship_type=60)
    along = VesselState(419000042, NOW, 8.5, lon0, 25.0, 90.0, ship_type=60)
    assert vessels_at_risk(strip, [away, along], NOW) == []


def test_a_track_across_the_antimeridian_enters_an_area_beyond_it():
    from shapely.geometry import box

    area = Hazard("a", "East of the line", box(-179.8, 9.0, -179.0, 11.0), "high")
    v = VesselState(419000043, NOW, 10.0, 179.5, 20.0, 90.0)  # 0.7 deg (41 nm) west of it
    (r,) = vessels_at_risk(area, [v], NOW)
    d = distance_nm(10.0, 179.5, 10.0, -179.8)
    assert abs(r.entry_ts - (NOW + d / 20.0 * 3600)) <= 120


def test_the_nearest_responders_are_ranked_by_time_to_reach():
    sart = (10.0, 80.0)

    def at(mmsi, bearing, nm, sog, ship_type=None, status=0):
        lat, lon = destination(*sart, bearing, nm)
        return VesselState(mmsi, NOW, lat, lon, sog, 45.0, ship_type, status)

    fast_far = at(1, 0.0, 30.0, 20.0, 60)  # passenger: 30 nm at 20 kn = 1.5 h
    slow_near = at(2, 90.0, 12.0, 1.0, 30)  # fishing drifting: 12 nm at 9 kn typical = 1.33 h
    cargo = at(3, 180.0, 25.0, 14.0, 70)  # 25 nm at 14 kn = 1.79 h
    anchored = at(4, 270.0, 2.0, 0.0, 70, status=1)  # closest, but at rest: last
    ranked = nearest_responders(*sart, [fast_far, slow_near, cargo, anchored], limit=10)
    assert [r.mmsi for r in ranked] == [2, 1, 3, 4]
    for r in ranked:
        assert r.distance_nm == pytest.approx(
            distance_nm(r.vessel.lat, r.vessel.lon, *sart), rel=1e-9
        )
        assert r.bearing_to == pytest.approx(
            bearing_deg(r.vessel.lat, r.vessel.lon, *sart), abs=1e-6
        )
    assert ranked[0].eta_h == pytest.approx(12.0 / 9.0, rel=1e-3)
    assert nearest_responders(*sart, [fast_far, slow_near], limit=1)[0].mmsi == 2
    # last heard 6 h ago (it may be anywhere by now): flagged stale, after every fresh one
    lat, lon = destination(*sart, 45.0, 3.0)
    old = VesselState(5, NOW - 6 * 3600, lat, lon, 15.0, 45.0, 70, 0)
    ranked = nearest_responders(*sart, [fast_far, old, anchored, cargo], now=NOW)
    assert [(r.mmsi, r.stale) for r in ranked] == [(1, False), (3, False), (4, False), (5, True)]
    # a fix 10 min old is fresh
    recent = VesselState(6, NOW - 600, lat, lon, 15.0, 45.0, 70, 0)
    assert [r.mmsi for r in nearest_responders(*sart, [fast_far, recent], now=NOW)] == [6, 1]


def test_a_vessel_entering_an_active_hazard_raises_zone_entry_and_none_once_it_is_gone():
    from shapely.geometry import box

    from mda.analytics import AnalyticsConfig, Analyzer, ZoneSet
    from mda.analytics.hazards import as_zones
    from mda.analytics.testing import T0, Track

    area = box(70.0, -16.0, 70.5, -15.5)
    storm = Hazard("7", "Cyclone BELAL", area, "critical", onset=T0 - 60, expires=T0 + 86400)
    old = Hazard("8", "Old warning", area, "high", expires=T0 - 60)  # expired: no zone
    analyzer = Analyzer(AnalyticsConfig(), ZoneSet.builtin())
    zones = as_zones([storm, old], T0)
    assert [z.name for z in zones] == ["Cyclone BELAL (hazard 7)"]
    analyzer.set_hazard_zones(zones)
    t = Track(419000070, -15.75, 69.8).sail(60, 20, 90)
    changes = analyzer.process(t.records)
    opened = [c.alert for c in changes if c.change == "opened"]
    assert [(a.kind, a.zone, a.severity) for a in opened] == [
        ("zone_entry", "Cyclone BELAL (hazard 7)", "critical")
    ]
    first_inside = next(r.ts for r in t.records if r.lon >= 70.0)
    assert opened[0].start == first_inside
    # The hazard ended: the episode ends at the next fix, and a new vessel raises nothing.
    analyzer.set_hazard_zones([])
    more = Track(419000070, t.lat, t.lon, start=t.t).sail(10, 20, 90)
    other = Track(419000071, -15.70, 70.1, start=t.t).sail(10, 5, 90)
    later = analyzer.process(sorted(more.records + other.records, key=lambda r: r.ts))
    assert [c.change for c in later if c.alert.kind == "zone_entry"] == ["closed"]
    # Without hazard in zone_entry_kinds, a hazard raises nothing.
    quiet = Analyzer(AnalyticsConfig(zone_entry_kinds="restricted"), ZoneSet.builtin())
    quiet.set_hazard_zones(zones)
    assert not [c for c in quiet.process(t.records) if c.alert.kind == "zone_entry"]
