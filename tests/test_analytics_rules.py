"""Each alert kind on synthetic tracks: the right kind, vessels and times; and the cases
that must stay silent (events.md, issue 4)."""

from __future__ import annotations

import json

from shapely.geometry import box, mapping

from analytics import Analyzer, AnalyticsConfig, ZoneSet, analyze_records
from analytics.geo import destination
from analytics.landmask import shared_land_mask
from analytics.testing import T0, Track, merge
from analytics.zones import parse_zones

OPEN_SEA = (-15.0, 75.0)  # south of the Chagos, hundreds of nm from any coast or zone
MIN = 60.0


def run(records, zones=None, **settings):
    return analyze_records(records, AnalyticsConfig(**settings),
                           ZoneSet.builtin() if zones is None else zones)


def kinds(alerts):
    return sorted(a.kind for a in alerts)


def one(alerts, kind):
    found = [a for a in alerts if a.kind == kind]
    assert len(found) == 1, [a.to_dict() for a in alerts]
    return found[0]


def zone_set(*features) -> ZoneSet:
    return ZoneSet(parse_zones({"type": "FeatureCollection", "features": list(features)},
                               "test zones"))


def feature(name, kind, geom, **props):
    return {"type": "Feature", "properties": {"name": name, "kind": kind, **props},
            "geometry": mapping(geom)}


# ------------------------------------------------------------------------- loitering

def test_loitering_from_first_to_last_slow_fix():
    t = Track(419000001, *OPEN_SEA).sail(30, 12, 90)
    slow_start = t.t
    t.sail(90, 0.8, 200)
    slow_end = t.t - t.interval
    t.sail(30, 12, 90)
    alerts = run(t.records)
    a = one(alerts, "loitering")
    assert kinds(alerts) == ["loitering"]
    assert (a.mmsi, a.start, a.end, a.severity) == (419000001, slow_start, slow_end, "medium")
    assert a.details["threshold_sog_kn"] == 2.0 and a.details["threshold_min"] == 60.0
    assert a.details["duration_min"] == 90
    assert a.details["text"].startswith("SOG under 2 kn for 90 min, ")
    assert ", the nearest port or anchorage" in a.details["text"]


def test_slow_for_less_than_the_threshold_is_silent():
    t = Track(419000002, *OPEN_SEA).sail(30, 12, 90).sail(55, 0.8, 200).sail(30, 12, 90)
    assert run(t.records) == []


def test_port_stay_is_silent():
    # Alongside in Colombo for six hours, then out to sea.
    t = Track(419000003, 6.95, 79.83).stop(6 * 60, nav_status=5, interval_s=180)
    t.sail(60, 12, 270)
    assert run(t.records) == []


def test_at_anchor_in_an_anchorage_is_silent():
    t = Track(419000004, 25.25, 56.45, interval_s=180).stop(12 * 60, nav_status=1)
    assert run(t.records) == []


def test_loitering_text_reads_well_whatever_the_zone_name():
    # A zone name with parentheses of its own is not wrapped in another pair.
    lat, lon = OPEN_SEA
    zones = zone_set(feature("Duqm anchorage (simulator)", "anchorage",
                             box(lon + 0.5, lat - 0.1, lon + 0.7, lat + 0.1)))
    t = Track(419000002, lat, lon).sail(30, 12, 270).sail(90, 0.8, 200)
    a = one(run(t.records, zones), "loitering")
    nm = a.details["nearest_port_nm"]
    assert 30 < nm < 50 and a.details["nearest_port"] == "Duqm anchorage (simulator)"
    assert a.details["text"] == (f"SOG under 2 kn for 90 min, {nm:.0f} nm from Duqm anchorage "
                                 "(simulator), the nearest port or anchorage")


# ------------------------------------------------------------------------- encounter

def test_encounter_names_both_vessels_first_to_last_time_together():
    lat, lon = OPEN_SEA
    a = Track(419000010, lat, lon).stop(45, nav_status=0)
    blat, blon = destination(lat, lon, 90.0, 200.0 / 1852.0)  # 200 m east
    b = Track(419000011, blat, blon).stop(45, nav_status=0)
    b.sail(30, 12, 0)
    a.stop(1, nav_status=0).sail(30, 12, 180)
    alerts = run(merge(a, b))
    enc = one(alerts, "encounter")
    assert kinds(alerts) == ["encounter"]  # 45 min together is not yet loitering
    assert (enc.mmsi, enc.other_mmsi, enc.severity) == (419000010, 419000011, "high")
    assert enc.start == T0
    # B's last slow fix is at 44:50; A's fix at 45:00 still finds it there.
    assert T0 + 44 * MIN + 50 <= enc.end <= T0 + 45 * MIN
    assert 190 <= enc.details["min_distance_m"] <= 210
    assert "within 500 m" in enc.details["text"]


def test_meeting_for_less_than_the_threshold_is_silent():
    lat, lon = OPEN_SEA
    a = Track(419000012, lat, lon).stop(25, nav_status=0).sail(30, 12, 180)
    b = Track(419000013, *destination(lat, lon, 0.0, 0.1)).stop(25, nav_status=0)
    b.sail(30, 12, 0)
    assert run(merge(a, b)) == []


def test_two_vessels_alongside_in_port_are_silent():
    a = Track(419000014, 6.95, 79.83, interval_s=60).stop(4 * 60, nav_status=5)
    b = Track(419000015, 6.9503, 79.83, interval_s=60).stop(4 * 60, nav_status=5)
    assert run(merge(a, b)) == []


def test_vessels_passing_close_at_speed_are_silent():
    lat, lon = OPEN_SEA
    a = Track(419000016, lat, lon).sail(60, 12, 90)
    blat, blon = destination(*destination(lat, lon, 90.0, 12.0), 0.0, 0.05)
    b = Track(419000017, blat, blon).sail(60, 12, 270)
    assert run(merge(a, b)) == []


# ------------------------------------------------------------------------- ais_gap

def _busy_feed(minutes: float) -> Track:
    """Another vessel far away, reporting all along: the feed keeps delivering."""
    return Track(419000099, -20.0, 80.0, interval_s=60).sail(minutes, 10, 45)


def test_ais_gap_from_last_fix_before_to_first_fix_after():
    t = Track(419000020, *OPEN_SEA).sail(60, 12, 90)
    last_before = t.t - t.interval
    t.silence(180, sog=12, cog=90)  # dark, but still under way
    first_after = t.t
    t.sail(30, 12, 90)
    alerts = run(merge(t, _busy_feed(5 * 60)))
    gap = one(alerts, "ais_gap")
    assert kinds(alerts) == ["ais_gap"]
    assert (gap.mmsi, gap.start, gap.end, gap.severity) == (419000020, last_before, first_after,
                                                            "medium")
    assert gap.details["reappeared"] is True
    assert 3.0 <= gap.details["silent_h"] <= 3.1
    assert 35 <= gap.details["moved_nm"] <= 38  # 3 h at 12 kn


def test_ais_gap_is_open_while_silent():
    from analytics import Analyzer

    t = Track(419000021, *OPEN_SEA).sail(60, 12, 90)
    analyzer = Analyzer()
    changes = analyzer.process(merge(t, _busy_feed(4 * 60)))
    opened = [c for c in changes if c.alert.kind == "ais_gap"]
    assert [c.change for c in opened] == ["opened"]
    assert opened[0].alert.end is None
    assert opened[0].alert.start == T0 + 60 * MIN - 10
    assert [a.kind for a in analyzer.open_alerts()] == ["ais_gap"]


def test_an_outage_of_the_whole_feed_is_not_a_gap():
    t = Track(419000022, *OPEN_SEA).sail(60, 12, 90).silence(5 * 60).sail(30, 12, 90)
    other = Track(419000023, -20.0, 80.0, interval_s=60).sail(60, 10, 45).silence(5 * 60)
    other.sail(30, 10, 45)
    assert run(merge(t, other)) == []


def test_going_silent_in_port_is_not_a_gap():
    t = Track(419000024, 6.95, 79.83, interval_s=180).stop(60, nav_status=5).silence(5 * 60)
    t.stop(30, nav_status=5)
    assert run(merge(t, _busy_feed(7 * 60))) == []


# ------------------------------------------------------------------------- position_jump

def test_one_bad_fix_is_one_position_jump_and_no_clash():
    t = Track(419000030, *OPEN_SEA).sail(20, 12, 90)
    before = t.t - t.interval
    here = (t.lat, t.lon)
    t.move_to(*destination(t.lat, t.lon, 0.0, 30.0)).report(sog=12.0, cog=90.0)
    t.move_to(*destination(*here, 90.0, 12.0 * 20 / 3600)).sail(20, 12, 90)
    alerts = run(t.records)
    jump = one(alerts, "position_jump")
    assert kinds(alerts) == ["position_jump"]  # out and back: one episode, no clash
    assert (jump.mmsi, jump.start, jump.end) == (419000030, before, before + 20)
    assert jump.details["jumps"] == 2
    assert jump.details["distance_nm"] >= 29.0
    assert jump.details["implied_sog_kn"] > 50


def test_fast_craft_at_35_knots_is_silent():
    t = Track(419000031, *OPEN_SEA, interval_s=2).sail(60, 35, 120)
    assert run(t.records) == []


def test_fast_craft_reporting_its_speed_with_sparse_fixes_is_not_a_jump():
    # 60 kn, a report every 2 min: 2 nm between fixes, 60 kn implied, but that is its SOG.
    t = Track(419000032, *OPEN_SEA, interval_s=120).sail(60, 60, 300)
    assert run(t.records) == []


# ------------------------------------------------------------------------- identity_clash

def test_two_transmitters_sharing_an_mmsi_are_an_identity_clash():
    lat, lon = OPEN_SEA
    a = Track(419000040, lat, lon, interval_s=60).sail(40, 10, 0)
    b = Track(419000040, *destination(lat, lon, 90.0, 40.0), start=T0 + 30,
              interval_s=60).sail(40, 8, 180)
    a.sail(60, 10, 0)  # the second transmitter falls silent: the clash ends
    alerts = run(merge(a, b))
    clash = one(alerts, "identity_clash")
    assert kinds(alerts) == ["identity_clash"]  # one situation, one alert: no position_jump
    assert clash.mmsi == 419000040 and clash.severity == "high"
    assert T0 <= clash.start <= T0 + 3 * MIN  # from the first alternation
    assert T0 + 39 * MIN <= clash.end <= T0 + 41 * MIN  # the last alternation
    assert 38 <= clash.details["apart_nm"] <= 45


def changes_of(records, **settings):
    analyzer = Analyzer(AnalyticsConfig(**settings), ZoneSet.builtin())
    return analyzer.process(records) + analyzer.finish()


def test_a_clash_never_publishes_a_position_jump_on_the_way():
    # The first jumps of a clash cannot be told from a bad fix, so they are held, and the
    # clash, once recognised, takes them over: not one position_jump change goes out.
    lat, lon = OPEN_SEA
    a = Track(419000041, lat, lon, interval_s=60).sail(40, 10, 0)
    b = Track(419000041, *destination(lat, lon, 90.0, 40.0), start=T0 + 30,
              interval_s=60).sail(40, 8, 180)
    a.sail(60, 10, 0)
    changes = changes_of(merge(a, b))
    assert {c.alert.kind for c in changes} == {"identity_clash"}
    assert [c.change for c in changes][0] == "opened" and changes[-1].change == "closed"


def _slow_clash(mmsi, clone_every_min=15):
    """A vessel reporting every minute, and a second transmitter 40 nm east of it with the
    same MMSI reporting only every ``clone_every_min`` minutes, four times from T0 + 5 min."""
    lat, lon = OPEN_SEA
    a = Track(mmsi, lat, lon, interval_s=60).sail(120, 10, 0)
    b = Track(mmsi, *destination(lat, lon, 90.0, 40.0), start=T0 + 5 * MIN + 30,
              interval_s=clone_every_min * MIN).sail(4 * clone_every_min, 4, 180)
    return merge(a, b)


def test_a_jump_published_before_its_clash_is_recognised_is_superseded():
    # The second transmitter reports every 15 min: the first out-and-back is held 10 min
    # (position_jump_hold_min), rings as a position_jump, and is then taken over by the clash.
    changes = changes_of(_slow_clash(419000042))
    jumps = [c for c in changes if c.alert.kind == "position_jump"]
    clashes = [c for c in changes if c.alert.kind == "identity_clash"]
    assert [c.change for c in jumps] == ["opened", "closed", "updated"]
    assert len({c.alert.key for c in jumps}) == 1  # no new position_jump while the clash runs
    clash = clashes[0].alert
    final = jumps[-1].alert
    assert final.end is not None and final.end == jumps[1].alert.end  # stays closed
    assert final.details["superseded_by"] == "identity_clash"
    assert final.details["superseded_by_key"] == clash.key
    assert "identity clash" in final.details["text"]
    assert changes.index(jumps[-1]) == changes.index(clashes[0]) + 1  # right after it opens
    assert "superseded_by" not in jumps[0].alert.details
    assert clashes[-1].change == "closed" and clashes[-1].alert.details["alternations"] >= 6
    alerts = analyze_records(_slow_clash(419000042))
    assert kinds(alerts) == ["identity_clash", "position_jump"]
    assert one(alerts, "position_jump").details["superseded_by"] == "identity_clash"


def test_a_slow_clash_within_the_hold_is_one_alert():
    # Held for 20 min, the jumps of the same slow clash never ring.
    changes = changes_of(_slow_clash(419000043), position_jump_hold_min=20.0)
    assert {c.alert.kind for c in changes} == {"identity_clash"}


def _bad_fix(mmsi, after_min=30.0):
    """Sails 20 min, one fix 30 nm north, then back on the track for ``after_min``. Returns
    the track and the time of the fix back on it (the end of the jump)."""
    t = Track(mmsi, *OPEN_SEA).sail(20, 12, 90)
    here = (t.lat, t.lon)
    t.move_to(*destination(*here, 0.0, 30.0)).report(sog=12.0, cog=90.0)
    back = t.t
    t.move_to(*destination(*here, 90.0, 12.0 * 20 / 3600))
    if after_min:
        t.sail(after_min, 12, 90)
    return t, back


def test_a_single_bad_fix_rings_once_the_hold_has_passed():
    t, back = _bad_fix(419000033)
    analyzer = Analyzer()
    rang = []
    for rec in t.records:
        for c in analyzer.process([rec]):
            rang.append((rec.ts, c.change, c.alert.kind))
    assert [x[1:] for x in rang] == [("opened", "position_jump"), ("closed", "position_jump")]
    assert back + 10 * MIN < rang[0][0] <= back + 10 * MIN + 10  # the vessel's next fix
    assert "superseded_by" not in analyze_records(t.records)[0].details


def test_a_bad_fix_of_a_vessel_that_then_falls_silent_still_rings():
    t, back = _bad_fix(419000034, after_min=0)
    t.report(sog=12.0, cog=90.0)  # one fix back on the track, then silence
    feed = Track(419000035, OPEN_SEA[0] + 1, OPEN_SEA[1], interval_s=30).sail(60, 12, 0)
    analyzer = Analyzer()
    rang = []
    for rec in merge(t, feed):
        for c in analyzer.process([rec]):
            rang.append((rec.ts, c.change, c.alert.kind, c.alert.mmsi))
    assert [x[1:] for x in rang] == [("opened", "position_jump", 419000034),
                                     ("closed", "position_jump", 419000034)]
    # released by the once-a-minute sweep, on the other vessel's fixes
    assert back + 10 * MIN < rang[0][0] <= back + 10 * MIN + 60 + 30


def test_a_bad_fix_at_the_end_of_the_input_rings_at_finish():
    t, _ = _bad_fix(419000036, after_min=1)
    analyzer = Analyzer()
    assert analyzer.process(t.records) == []
    assert [c.change for c in analyzer.finish()] == ["opened", "closed"]


def test_without_a_hold_a_jump_rings_at_once_and_a_clash_supersedes_it():
    t, back = _bad_fix(419000037)
    analyzer = Analyzer(AnalyticsConfig(position_jump_hold_min=0.0))
    early = [r for r in t.records if r.ts <= back]
    assert [c.change for c in analyzer.process(early)] == ["opened", "closed", "updated",
                                                           "closed"]  # out, and back
    lat, lon = OPEN_SEA
    a = Track(419000044, lat, lon, interval_s=60).sail(40, 10, 0)
    b = Track(419000044, *destination(lat, lon, 90.0, 40.0), start=T0 + 30,
              interval_s=60).sail(40, 8, 180)
    alerts = run(merge(a, b), position_jump_hold_min=0.0)
    assert kinds(alerts) == ["identity_clash", "position_jump"]
    assert one(alerts, "position_jump").details["superseded_by"] == "identity_clash"


def test_jumps_and_clashes_do_not_depend_on_batching():
    records = merge(_slow_clash(419000045), _bad_fix(419000046)[0].records)
    runs = []
    for batch in (len(records), 1, 37):
        analyzer = Analyzer()
        changes = []
        for i in range(0, len(records), batch):
            changes += analyzer.process(records[i:i + batch])
        changes += analyzer.finish()
        runs.append([(c.change, c.alert.to_json()) for c in changes])
    assert runs[0] == runs[1] == runs[2]
    assert {json.loads(j)["kind"] for _, j in runs[0]} == {"position_jump", "identity_clash"}


# ------------------------------------------------------------------------- on_land

def test_positions_inland_are_on_land_first_to_last():
    t = Track(419000050, *OPEN_SEA).sail(10, 12, 0)
    t.move_to(20.0, 78.0)  # central India
    first = t.t
    t.sail(12, 10, 0, interval_s=60)
    last = t.t - 60
    t.move_to(*OPEN_SEA).sail(10, 12, 0)
    alerts = run(t.records, **{"disabled_kinds": "position_jump"})
    land = one(alerts, "on_land")
    assert (land.mmsi, land.start, land.end) == (419000050, first, last)
    assert land.details["fixes"] == 12


def test_a_fix_on_the_coastline_is_not_on_land():
    # Find a land cell of the 1 km mask that touches the sea (the coast of Sri Lanka).
    mask = shared_land_mask()
    lat, lon = 7.60, 79.70
    while not mask.is_land(lat, lon):
        lon += 0.002
    assert mask.is_land(lat, lon) and not mask.is_land(lat, lon, margin=1)
    t = Track(419000051, lat, lon, interval_s=60).stop(30, nav_status=0)
    assert run(t.records) == []
    assert kinds(run(t.records, on_land_margin_cells=0)) == ["on_land"]


def test_a_base_station_on_land_is_not_a_vessel():
    t = Track(4190001, 20.0, 78.0, interval_s=60)  # 00MIDxxxx style: a coast station
    for _ in range(10):
        t.report(sog=None, cog=None, nav_status=None, msg_type=4)
    assert run(t.records) == []


# ------------------------------------------------------------------------- lanes

WB_LANE_MID = (13.208333, 49.0)  # middle of the IRTC westbound lane at 49 E


def test_wrong_way_in_a_one_way_lane():
    t = Track(419000060, *WB_LANE_MID).sail(5, 12, 252)
    first = t.t
    t.sail(20, 12, 72)  # eastbound in the westbound lane
    last = t.t - t.interval
    t.sail(20, 12, 252)
    alerts = run(t.records)
    ww = one(alerts, "wrong_way")
    assert kinds(alerts) == ["wrong_way"]
    assert (ww.start, ww.end, ww.zone, ww.severity) == (first, last, "IRTC westbound lane", "high")
    assert ww.details["lane_direction_deg"] == 252.0
    assert ww.details["mean_angle_deg"] > 170


def test_lane_traffic_the_right_way_is_silent():
    t = Track(419000061, *WB_LANE_MID).sail(3 * 60, 12, 253)
    assert run(t.records) == []


def _follow_lane_then(turn_cog: float, minutes_out: float, back: bool):
    t = Track(419000062, *WB_LANE_MID).sail(40, 12, 253)
    inside_last = t.t - t.interval
    t.sail(minutes_out, 12, turn_cog)
    if back:
        t.sail(minutes_out * 1.6, 12, 200)  # back towards the lane, not against it
    t.sail(20, 12, 253)
    return t, inside_last


def test_lane_deviation_through_the_side():
    t, inside_last = _follow_lane_then(340.0, 40, back=True)
    alerts = run(t.records)
    dev = one(alerts, "lane_deviation")
    assert kinds(alerts) == ["lane_deviation"]
    assert dev.zone == "IRTC westbound lane"
    # The lane is 5 nm wide and the vessel in its middle: it leaves a few minutes after turning.
    assert inside_last < dev.start <= inside_last + 15 * MIN
    assert dev.end is not None and dev.end > dev.start + 40 * MIN  # back in the lane
    assert dev.details["max_distance_nm"] > 3.0
    assert dev.details["ended"] == "rejoined the lane"


def test_leaving_through_the_side_but_staying_close_is_silent():
    t, _ = _follow_lane_then(340.0, 14, back=True)  # out ~1.5 nm, then back
    assert run(t.records) == []


def test_leaving_a_lane_through_its_end_is_silent():
    # Westbound lane traffic reaching the lane's western end (45 E) and sailing on.
    lon = 45.30
    north, south = 12.0 + 2.5 * (lon - 45) / 8, 11 + 55 / 60 + 2.5 * (lon - 45) / 8
    t = Track(419000063, (north + south) / 2, lon).sail(40, 12, 252).sail(70, 12, 252)
    zs = ZoneSet.builtin()
    in_lane = [r.ts for r in t.records if "IRTC westbound lane" in zs.lookup(r.lat, r.lon).names]
    assert in_lane[-1] - in_lane[0] >= 35 * MIN  # it followed the lane ...
    assert t.records[-1].lon < 45.0  # ... and sailed out through its end
    assert run(t.records) == []


def test_approximate_lanes_are_ignored_unless_enabled():
    # Against the (sketched) Dondra Head eastbound lane for 20 min.
    lane = ZoneSet.builtin().get("Dondra Head TSS eastbound lane")
    c = lane.geometry.centroid
    t = Track(419000064, c.y, c.x).sail(20, 12, 267)
    assert run(t.records) == []
    assert "wrong_way" in kinds(run(t.records, lanes_use_approximate=True))


# ------------------------------------------------------------------------- zone_entry

RESTRICTED = box(70.0, -16.0, 70.5, -15.5)


def test_zone_entry_from_first_to_last_fix_inside():
    zs = zone_set(feature("Test range", "restricted", RESTRICTED, severity="critical"))
    t = Track(419000070, -15.75, 69.8).sail(150, 20, 90)
    inside = [r.ts for r in t.records if 70.0 <= r.lon <= 70.5]
    alerts = run(t.records, zones=zs)
    z = one(alerts, "zone_entry")
    assert kinds(alerts) == ["zone_entry"]
    assert (z.zone, z.severity, z.start, z.end) == ("Test range", "critical", inside[0],
                                                    inside[-1])


def test_zone_entry_only_for_listed_ship_types():
    zs = zone_set(feature("Fishing closure", "protected", RESTRICTED, ship_types=[30]))
    cargo = Track(419000071, -15.75, 69.8).static(70).sail(120, 10, 90)
    fishing = Track(419000072, -15.70, 69.8).static(30).sail(120, 10, 90)
    alerts = run(merge(cargo, fishing), zones=zs)
    z = one(alerts, "zone_entry")
    assert z.mmsi == 419000072 and z.severity == "high"


# ------------------------------------------------------------------------- distress

def test_ais_sart_transmitting_is_a_critical_alert():
    sart = Track(970123456, *OPEN_SEA, interval_s=60)
    for _ in range(10):
        sart.report(sog=0.2, cog=None, nav_status=14)
    last = sart.t - 60
    feed = _busy_feed(90)
    alerts = run(merge(sart, feed))
    d = one(alerts, "distress_beacon")
    assert kinds(alerts) == ["distress_beacon"]
    assert (d.mmsi, d.severity, d.start, d.end) == (970123456, "critical", T0, last)
    assert d.details["device"] == "AIS-SART" and d.details["transmissions"] == 10


def test_beacon_self_test_is_silent():
    sart = Track(972000001, *OPEN_SEA, interval_s=60)
    for _ in range(5):
        sart.report(sog=0.0, cog=None, nav_status=15)
    assert run(sart.records) == []


def test_nav_status_14_from_a_ship_is_a_distress_alert():
    t = Track(419000080, *OPEN_SEA).sail(10, 10, 0)
    first = t.t
    t.sail(10, 3, 0, nav_status=14)
    last = t.t - t.interval
    t.sail(10, 10, 0)
    d = one(run(t.records), "distress_beacon")
    assert (d.mmsi, d.start, d.end) == (419000080, first, last)


# ------------------------------------------------------------------------- receivers, order

def _loiter_and_meet():
    a = Track(419000090, *OPEN_SEA, source="rx1").sail(30, 12, 90)
    b = Track(419000091, *destination(a.lat, a.lon, 0, 0.1), start=a.t, source="rx1")
    a.sail(100, 1.0, 180)
    b.sail(100, 1.0, 180)
    return merge(a, b)


def test_a_second_receiver_hearing_the_same_ships_changes_nothing():
    from analytics import Analyzer
    from dataclasses import replace

    records = _loiter_and_meet()
    echoed = []
    for r in records:
        echoed.append(r)
        echoed.append(replace(r, source="rx2"))  # the same message from another receiver
    alone, both = run(records), run(echoed)
    assert [a.to_dict() for a in alone] == [a.to_dict() for a in both]
    assert set(kinds(alone)) == {"loitering", "encounter"}
    analyzer = Analyzer()
    analyzer.process(echoed)
    assert analyzer.stats["duplicates"] == len(records)


def test_out_of_order_records_are_counted_and_change_nothing():
    from analytics import Analyzer

    records = _loiter_and_meet()
    late = []
    # Every 7th record arrives once more about a minute late (older than its vessel's last fix).
    for i, r in enumerate(records):
        late.append(r)
        if i >= 13 and (i - 13) % 7 == 0:
            late.append(records[i - 13])
    analyzer = Analyzer()
    changes = analyzer.process(late) + analyzer.finish()
    assert analyzer.stats["out_of_order"] > 0
    final = {c.alert.key: c.alert.to_dict() for c in changes}
    assert sorted(final.values(), key=json.dumps) == sorted(
        (a.to_dict() for a in run(records)), key=json.dumps)


def test_speed_derived_from_positions_when_sog_is_missing():
    t = Track(419000095, *OPEN_SEA).sail(30, 12, 90, report_sog=False, report_cog=False)
    t.sail(90, 0.8, 200, report_sog=False, report_cog=False)
    t.sail(30, 12, 90, report_sog=False, report_cog=False)
    a = one(run(t.records), "loitering")
    assert a.details["sog_source"] == "derived from positions"
    # The derived speed lags by the derivation span (2 min) at each change of speed.
    assert abs(a.start - (T0 + 30 * MIN)) <= 3 * MIN
    assert abs(a.end - (T0 + 120 * MIN)) <= 3 * MIN


def test_a_crowd_at_an_unlisted_anchorage_raises_no_encounters():
    lat, lon = OPEN_SEA
    crowd = [Track(419000200 + i, *destination(lat, lon, 72.0 * i, 0.08), interval_s=180)
             .stop(3 * 60, nav_status=1) for i in range(5)]
    alerts = run(merge(*crowd))
    assert "encounter" not in kinds(alerts)  # 10 pairs, no storm
    assert kinds(alerts) == ["loitering"] * 5  # each still lies stopped at sea
    # The same with the crowd guard off: every pair rings.
    assert kinds(run(merge(*crowd), encounter_crowd_neighbours=0)).count("encounter") == 10
