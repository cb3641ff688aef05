"""Each alert kind on synthetic tracks: the right kind, vessels and times; and the cases
that must stay silent (events.md, issue 4)."""

from __future__ import annotations

import json

from shapely.geometry import box, mapping

from mda.analytics import AnalyticsConfig, Analyzer, ZoneSet, analyze_records
from mda.analytics.geo import destination
from mda.analytics.landmask import shared_land_mask
from mda.analytics.testing import T0, Track, merge
from mda.analytics.zones import parse_zones

OPEN_SEA = (-15.0, 75.0)  # south of the Chagos, hundreds of nm from any coast or zone
MIN = 60.0


def run(records, zones=None, **settings):
    return analyze_records(
        records, AnalyticsConfig(**settings), ZoneSet.builtin() if zones is None else zones
    )


def kinds(alerts):
    return sorted(a.kind for a in alerts)


def one(alerts, kind):
    found = [a for a in alerts if a.kind == kind]
    assert len(found) == 1, [a.to_dict() for a in alerts]
    return found[0]


def zone_set(*features) -> ZoneSet:
    return ZoneSet(
        parse_zones({"type": "FeatureCollection", "features": list(features)}, "test zones")
    )


def feature(name, kind, geom, **props):
    return {
        "type": "Feature",
        "properties": {"name": name, "kind": kind, **props},
        "geometry": mapping(geom),
    }


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
    zones = zone_set(
        feature(
            "Duqm anchorage (simulator)",
            "anchorage",
            box(lon + 0.5, lat - 0.1, lon + 0.7, lat + 0.1),
        )
    )
    t = Track(419000002, lat, lon).sail(30, 12, 270).sail(90, 0.8, 200)
    a = one(run(t.records, zones), "loitering")
    nm = a.details["nearest_port_nm"]
    assert 30 < nm < 50 and a.details["nearest_port"] == "Duqm anchorage (simulator)"
    assert a.details["text"] == (
        f"SOG under 2 kn for 90 min, {nm:.0f} nm from Duqm anchorage "
        "(simulator), the nearest port or anchorage"
    )


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
    # B's last slow fix is at 44:50 and it sails off at 45:00: the tracks are compared every
    # minute (encounter_sample_min), so the last moment together is 44:00.
    assert enc.end == T0 + 44 * MIN
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


def _busy_feed(
    minutes: float, near: tuple[float, float] = (-20.0, 80.0), mmsi: int = 419000099
) -> Track:
    """Another vessel reporting all along, patrolling north and south (4 nm legs) around
    ``near``: the feed keeps delivering, and its receiver hears vessels there."""
    t = Track(mmsi, *near, interval_s=60)
    for leg in range(int(minutes // 20) + 1):
        t.sail(min(20, minutes - 20 * leg), 12, 0 if leg % 2 == 0 else 180)
    return t


def east_of(point: tuple[float, float], nm: float) -> tuple[float, float]:
    return destination(*point, 90.0, nm)


def test_ais_gap_from_last_fix_before_to_first_fix_after():
    t = Track(419000020, *OPEN_SEA).sail(60, 12, 90)
    last_before = t.t - t.interval
    t.silence(180, sog=12, cog=90)  # dark, but still under way
    first_after = t.t
    t.sail(30, 12, 90)
    # Others are heard all along where it would have been: it went dark in coverage.
    alerts = run(merge(t, _busy_feed(5 * 60, east_of(OPEN_SEA, 36))))
    gap = one(alerts, "ais_gap")
    assert kinds(alerts) == ["ais_gap"]
    assert (gap.mmsi, gap.start, gap.end, gap.severity) == (
        419000020,
        last_before,
        first_after,
        "medium",
    )
    assert gap.details["reappeared"] is True
    assert 3.0 <= gap.details["silent_h"] <= 3.1
    assert 35 <= gap.details["moved_nm"] <= 38  # 3 h at 12 kn


def test_ais_gap_is_open_while_silent():
    from mda.analytics import Analyzer

    t = Track(419000021, *OPEN_SEA).sail(60, 12, 90)
    analyzer = Analyzer()
    changes = analyzer.process(merge(t, _busy_feed(4 * 60, east_of(OPEN_SEA, 36))))
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


def test_sailing_out_of_coverage_is_not_a_gap():
    # The receiver hears vessels only around where the vessel was; it sails on out of range.
    t = Track(419000025, *OPEN_SEA).sail(60, 12, 90).silence(180, sog=12, cog=90)
    t.sail(30, 12, 90)
    analyzer = Analyzer()
    changes = analyzer.process(merge(t, _busy_feed(5 * 60, OPEN_SEA))) + analyzer.finish()
    assert [c for c in changes if c.alert.kind == "ais_gap"] == []
    assert analyzer.stats["gaps_left_coverage"] == 1


def test_a_vessel_that_reports_every_two_hours_is_not_silent_after_two():
    # A satellite-tracked vessel: a fix every 2 h 10 min is its normal rhythm.
    t = Track(419000026, *OPEN_SEA, interval_s=130 * 60).sail(12 * 60, 10, 0)
    feed = _busy_feed(12 * 60, destination(*OPEN_SEA, 0.0, 60))
    assert [a for a in run(merge(t, feed)) if a.kind == "ais_gap"] == []


def test_a_receiver_that_stops_is_not_its_vessels_going_dark():
    # Two receivers; the one hearing our vessel stops, the other goes on.
    t = Track(419000027, *OPEN_SEA, source="rx-a").sail(60, 12, 90)
    near = Track(419000028, *east_of(OPEN_SEA, 20), source="rx-a", interval_s=60).sail(60, 0, 0)
    other = _busy_feed(5 * 60, (-20.0, 80.0))
    assert [a for a in run(merge(t, near, other)) if a.kind == "ais_gap"] == []


def test_going_silent_in_port_is_not_a_gap():
    t = Track(419000024, 6.95, 79.83, interval_s=180).stop(60, nav_status=5).silence(5 * 60)
    t.stop(30, nav_status=5)
    assert run(merge(t, _busy_feed(7 * 60, (6.95, 79.83)))) == []


# ------------------------------------------------------------------------- position_jump


def test_one_bad_fix_is_one_notice_and_no_clash():
    t = Track(419000030, *OPEN_SEA, source="rx1").sail(20, 12, 90)
    before = t.t - t.interval
    here = (t.lat, t.lon)
    t.move_to(*destination(t.lat, t.lon, 0.0, 30.0)).report(sog=12.0, cog=90.0)
    t.move_to(*destination(*here, 90.0, 12.0 * 20 / 3600)).sail(20, 12, 90)
    alerts = run(t.records)
    jump = one(alerts, "position_jump")
    assert kinds(alerts) == ["position_jump"]  # out and back: one episode, no clash
    assert (jump.mmsi, jump.start, jump.end) == (419000030, before, before + 20)
    # A data-quality notice, naming the receiver that delivered the bad fix: it never rings.
    assert jump.severity == "info" and jump.notice and jump.key.endswith(":info")
    assert jump.details["jumps"] == 2 and jump.details["source"] == "rx1"
    assert jump.details["distance_nm"] >= 29.0
    assert jump.details["implied_sog_kn"] > 50
    assert jump.details["text"].startswith("One corrupted fix")


def test_a_corrupted_fix_in_the_same_second_as_a_good_one_is_one_notice():
    # The real feeds' glitch: a latitude off by a fixed amount, stamped the same second as a
    # good fix, on land. One notice; no on_land, no clash, nothing that rings.
    t = Track(419000038, 7.0, 79.5, interval_s=10).sail(20, 12, 90)
    t.t -= 10  # same second as the last good fix
    t.move_to(t.lat, 80.4).report(sog=12.0, cog=90.0)  # inland Sri Lanka, 50 nm east
    t.t -= 10
    t.move_to(*destination(7.0, 79.5, 90.0, 12.0 * 20 / 60)).sail(30, 12, 90)
    alerts = run(t.records)
    assert [(a.kind, a.severity) for a in alerts] == [("position_jump", "info")]
    assert "same second" in alerts[0].details["text"]


def test_a_jump_that_stays_is_a_desk_alert():
    # A GNSS offset: reported 6 nm off for 6 min, then one jump back onto the true track.
    t = Track(419000039, *destination(*OPEN_SEA, 0.0, 6.0)).sail(6, 12, 90)
    t.move_to(*destination(*OPEN_SEA, 90.0, 1.2)).sail(30, 12, 90)
    jump = one(run(t.records), "position_jump")
    assert jump.severity == "medium" and not jump.key.endswith(":info")


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
    b = Track(419000040, *destination(lat, lon, 90.0, 40.0), start=T0 + 30, interval_s=60).sail(
        40, 8, 180
    )
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
    b = Track(419000041, *destination(lat, lon, 90.0, 40.0), start=T0 + 30, interval_s=60).sail(
        40, 8, 180
    )
    a.sail(60, 10, 0)
    changes = changes_of(merge(a, b))
    assert {c.alert.kind for c in changes} == {"identity_clash"}
    assert changes[0].change == "opened" and changes[-1].change == "closed"


def _slow_clash(mmsi, clone_every_min=15):
    """A vessel reporting every minute, and a second transmitter 40 nm east of it with the
    same MMSI reporting only every ``clone_every_min`` minutes, four times from T0 + 5 min."""
    lat, lon = OPEN_SEA
    a = Track(mmsi, lat, lon, interval_s=60).sail(120, 10, 0)
    b = Track(
        mmsi,
        *destination(lat, lon, 90.0, 40.0),
        start=T0 + 5 * MIN + 30,
        interval_s=clone_every_min * MIN,
    ).sail(4 * clone_every_min, 4, 180)
    return merge(a, b)


def test_the_first_out_and_backs_of_a_slow_clash_are_notices_then_the_clash_rings():
    # The second transmitter reports every 15 min. Its first visits look like corrupted fixes
    # (one fix out and straight back) and are notices; once it has sent 3 fixes from a track
    # of its own, the clash opens. No desk position_jump on the way.
    changes = changes_of(_slow_clash(419000042))
    desk = [c for c in changes if c.alert.severity != "info"]
    assert {c.alert.kind for c in desk} == {"identity_clash"}
    notices = [c for c in changes if c.alert.severity == "info"]
    assert {c.alert.kind for c in notices} == {"position_jump"}
    clashes = [c for c in changes if c.alert.kind == "identity_clash"]
    assert clashes[-1].change == "closed" and clashes[-1].alert.details["alternations"] >= 4
    alerts = analyze_records(_slow_clash(419000042))
    assert [a.kind for a in alerts if a.severity != "info"] == ["identity_clash"]


def test_garbled_copies_of_one_transmitter_are_a_notice_not_a_clash():
    # Back and forth every minute to one far place, but every far position is stamped the
    # same second as a good fix: copies garbled on the way, not a second transmitter.
    t = Track(419000047, *OPEN_SEA, interval_s=10)
    far = destination(*OPEN_SEA, 0.0, 40.0)
    for i in range(6):
        t.sail(1, 12, 90)
        here = (t.lat, t.lon)
        t.t -= 10
        t.move_to(*destination(*far, 90.0, 0.2 * i)).report(sog=12.0, cog=90.0)
        t.move_to(*here)
    t.sail(20, 12, 90)
    alerts = run(t.records)
    assert [(a.kind, a.severity) for a in alerts] == [("identity_clash", "info")]
    assert "garbled" in alerts[0].details["text"]
    # Scattered far positions are corrupted fixes, one notice for the episode.
    t = Track(419000048, *OPEN_SEA, interval_s=10)
    for i in range(6):
        t.sail(1, 12, 90)
        here = (t.lat, t.lon)
        t.move_to(*destination(*here, 60.0 * i, 40 + 8 * i)).report(sog=12.0, cog=90.0)
        t.move_to(*destination(*here, 90.0, 12 * 10 / 3600))
    t.sail(20, 12, 90)
    assert [(a.kind, a.severity) for a in run(t.records)] == [("position_jump", "info")]


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
    assert [x[1:] for x in rang] == [
        ("opened", "position_jump", 419000034),
        ("closed", "position_jump", 419000034),
    ]
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
    assert [c.change for c in analyzer.process(early)] == [
        "opened",
        "closed",
        "updated",
        "closed",
    ]  # out, and back
    lat, lon = OPEN_SEA
    a = Track(419000044, lat, lon, interval_s=60).sail(40, 10, 0)
    b = Track(419000044, *destination(lat, lon, 90.0, 40.0), start=T0 + 30, interval_s=60).sail(
        40, 8, 180
    )
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
            changes += analyzer.process(records[i : i + batch])
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
    # Even counting the cell alone, a fix a cell from the water is at a quay or in a river.
    assert run(t.records, on_land_margin_cells=0) == []
    assert kinds(
        run(t.records, on_land_margin_cells=0, on_land_min_inland_km=0, on_land_min_inconsistent=0)
    ) == ["on_land"]


def test_a_ship_steaming_up_a_river_the_mask_calls_land_is_not_on_land():
    # Up the Hooghly towards Kolkata at 10 kn: tens of km inland on the 1 km mask, but moving
    # exactly as it reports, having sailed in from the sea.
    t = Track(419000052, 21.6, 88.1, interval_s=60).sail(6 * 60, 10, 0)
    assert shared_land_mask().is_land(t.lat, t.lon, 1)
    assert [a for a in run(t.records) if a.kind == "on_land"] == []


def test_a_spoofed_track_dragged_inland_is_on_land():
    # The receiver is spoofed: positions drift 20 km inland across the coast at 40 kn while
    # the vessel reports 9 kn on 000.
    t = Track(419000053, 13.6, 74.5, interval_s=60).sail(10, 9, 0)
    for _ in range(20):
        t.move_to(*destination(t.lat, t.lon, 75.0, 40 / 60)).report(sog=9.0, cog=0.0)
    alerts = run(t.records)
    land = one(alerts, "on_land")
    assert land.details["contradictions"] >= 2 and "positions moving at" in land.details["text"]


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
    assert (z.zone, z.severity, z.start, z.end) == ("Test range", "critical", inside[0], inside[-1])


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
    from dataclasses import replace

    from mda.analytics import Analyzer

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
    from mda.analytics import Analyzer

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
        (a.to_dict() for a in run(records)), key=json.dumps
    )


def test_speed_derived_from_positions_when_sog_is_missing():
    t = Track(419000095, *OPEN_SEA).sail(30, 12, 90, report_sog=False, report_cog=False)
    t.sail(90, 0.8, 200, report_sog=False, report_cog=False)
    t.sail(30, 12, 90, report_sog=False, report_cog=False)
    a = one(run(t.records), "loitering")
    assert a.details["sog_source"] == "derived from positions"
    # The derived speed lags by the derivation span (2 min) at each change of speed.
    assert abs(a.start - (T0 + 30 * MIN)) <= 3 * MIN
    assert abs(a.end - (T0 + 120 * MIN)) <= 3 * MIN


def test_a_crowd_at_an_unlisted_anchorage_raises_nothing():
    # Five ships stopped together far out at sea, none reporting at anchor: a queue or an
    # anchorage the zones do not list. The traffic teaches it: no encounters, no loitering.
    lat, lon = OPEN_SEA
    crowd = [
        Track(419000200 + i, *destination(lat, lon, 72.0 * i, 0.08), interval_s=180).stop(
            3 * 60, nav_status=0
        )
        for i in range(5)
    ]
    assert run(merge(*crowd)) == []
    # With the crowd guard and the learned stop places off, every pair rings and each loiters.
    alerts = run(merge(*crowd), encounter_crowd_neighbours=0, stop_place_min_vessels=100)
    assert kinds(alerts).count("encounter") == 10 and kinds(alerts).count("loitering") == 5


def test_ships_reporting_at_anchor_or_moored_neither_loiter_nor_meet():
    lat, lon = OPEN_SEA
    a = Track(419000210, lat, lon, interval_s=180).stop(3 * 60, nav_status=1)
    b = Track(419000211, *destination(lat, lon, 90.0, 0.15), interval_s=180).stop(
        3 * 60, nav_status=1
    )
    assert run(merge(a, b)) == []
    # The same two, not saying so: they loiter, and their meeting is an encounter.
    a = Track(419000212, lat, lon, interval_s=180).stop(3 * 60, nav_status=0)
    b = Track(419000213, *destination(lat, lon, 90.0, 0.15), interval_s=180).stop(
        3 * 60, nav_status=0
    )
    assert kinds(run(merge(a, b))) == ["encounter", "loitering", "loitering"]


def test_service_craft_and_fishing_boats_do_not_loiter():
    for mmsi, ship_type in ((419000220, 52), (419000221, 30), (419000222, 37)):
        t = Track(mmsi, *OPEN_SEA).static(ship_type).sail(10, 8, 0).sail(120, 0.5, 0)
        assert run(t.records) == [], ship_type


def test_a_slow_vessel_near_the_coast_is_not_loitering():
    # 1 nm off the Sri Lankan coast: an anchorage, a pilot station, a berth.
    mask = shared_land_mask()
    lat, lon = 7.60, 79.70
    while not mask.is_land(lat, lon):
        lon += 0.002
    t = Track(419000223, lat, lon - 0.02).sail(120, 0.4, 0)
    assert run(t.records) == []
    assert kinds(run(t.records, loitering_min_shore_nm=0)) == ["loitering"]


def _canal_traffic(lat, lon, vessels=12):
    """Ships passing (10 kn, 000) through the point, one every 10 min: a fairway."""
    return [
        Track(
            419000400 + i, *destination(lat, lon, 180.0, 2.0), start=T0 + 600 * i, interval_s=30
        ).sail(24, 10, 0)
        for i in range(vessels)
    ]


def test_a_ship_aground_or_stopped_in_a_fairway_near_the_coast_loiters():
    # In the Hooghly (land on the 1 km mask: "near the coast" everywhere).
    lat, lon = 21.9, 88.13
    aground = Track(419000240, lat, lon, start=T0 + 3 * 3600, interval_s=60)
    aground.stop(90, nav_status=6)
    a = one(run(aground.records), "loitering")
    assert "aground" in a.details["text"]
    # Stopped with no status, where twelve ships passed under way in the last two hours.
    stuck = Track(419000241, lat, lon, start=T0 + 3 * 3600, interval_s=60)
    stuck.stop(90, nav_status=0)
    a = one(run(merge(stuck, *_canal_traffic(lat, lon))), "loitering")
    assert a.details["fairway"] is True and "fairway" in a.details["text"]
    # The same stop, with no traffic through the place: near the coast, nothing to say.
    assert run(stuck.records) == []


def test_no_episode_spans_an_outage_of_the_whole_feed():
    # 30 vessels; the feed stops for 10 h; a loiterer before and after the outage gives two
    # short runs, never one of 11 h.
    lat, lon = OPEN_SEA
    fleet = [
        Track(419000300 + i, lat - 2 + 0.1 * i, lon + 2, interval_s=60)
        .sail(40, 10, 0)
        .silence(600)
        .sail(40, 10, 0)
        for i in range(30)
    ]
    slow = Track(419000330, lat, lon, interval_s=60).sail(50, 0.5, 0).silence(600)
    slow.sail(50, 0.5, 0)
    analyzer = Analyzer()
    changes = analyzer.process(merge(slow, *fleet)) + analyzer.finish()
    assert analyzer.stats["episode_cuts"] == 1
    assert [c for c in changes if c.alert.kind == "loitering"] == []
