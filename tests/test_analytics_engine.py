"""The engine and the alert lifecycle: changes in order, throttled updates, cooldown,
determinism, bounded state, counters, the JSON form, and the sink interface."""

from __future__ import annotations

import json
from datetime import datetime

from mda.analytics import (
    AnalyticsConfig,
    Analyzer,
    ZoneSet,
    analyze_records,
)
from mda.analytics.testing import T0, Track, merge
from mda.ingest.records import PositionReport

OPEN_SEA = (-15.0, 75.0)
MIN = 60.0


def loiterer(mmsi=419000100, hours=10.0) -> Track:
    return Track(mmsi, *OPEN_SEA).sail(30, 12, 90).sail(hours * 60, 0.6, 10)


def test_one_episode_is_one_alert_opened_updated_closed():
    t = loiterer(hours=10).sail(30, 12, 90)
    analyzer = Analyzer()
    changes = analyzer.process(t.records) + analyzer.finish()
    assert {c.alert.key for c in changes} == {f"loitering:419000100::{int(T0 + 30 * MIN)}"}
    kinds = [c.change for c in changes]
    assert kinds[0] == "opened" and kinds[-1] == "closed"
    assert set(kinds[1:-1]) == {"updated"}
    # Throttled: ten hours of fixes every 10 s (3600 fixes) give a few dozen updates at most.
    assert len(kinds) < 40
    ends = [c.alert.end for c in changes]
    assert ends[:-1] == [None] * (len(ends) - 1) and ends[-1] == T0 + 630 * MIN - 10
    durations = [c.alert.details["duration_min"] for c in changes]
    assert durations == sorted(durations) and durations[0] == 60 and durations[-1] == 600


def test_changes_are_snapshots():
    analyzer = Analyzer()
    changes = analyzer.process(loiterer(hours=3).records)
    assert changes[0].alert.details["duration_min"] == 60
    assert changes[-1].alert.details["duration_min"] > 60


def test_a_new_episode_within_the_cooldown_reopens_the_alert():
    t = loiterer(hours=2).sail(10, 12, 90).sail(90, 0.6, 10)  # 10 min under way, then again
    analyzer = Analyzer()
    changes = analyzer.process(t.records) + analyzer.finish()
    assert len({c.alert.key for c in changes}) == 1
    assert [c.change for c in changes].count("opened") == 1
    closed = [i for i, c in enumerate(changes) if c.change == "closed"]
    assert len(closed) == 1
    reopen = changes[closed[0] + 1]
    assert reopen.change == "updated" and reopen.alert.end is None
    assert analyzer.stats["alerts_reopened"] == 1
    final = changes[-1].alert
    assert final.end is None and final.start == T0 + 30 * MIN
    assert final.details["duration_min"] == 220  # measured from the first episode's start


def test_a_new_episode_after_the_cooldown_is_a_new_alert():
    t = loiterer(hours=2).sail(90, 12, 90).sail(90, 0.6, 10)
    alerts = analyze_records(t.records)
    assert [a.kind for a in alerts] == ["loitering", "loitering"]
    assert alerts[0].key != alerts[1].key and alerts[0].end is not None


def test_open_alerts_stay_open_at_the_end_of_input():
    analyzer = Analyzer()
    analyzer.process(loiterer(hours=2).records)
    final = analyzer.finish()
    assert [c.change for c in final] == ["updated"]  # the latest state, still open
    assert final[0].alert.end is None
    assert [a.kind for a in analyzer.open_alerts()] == ["loitering"]


def _patrol(mmsi, lat, lon, minutes):
    """A vessel going back and forth (4 nm legs) at 12 kn: the receiver keeps hearing there."""
    t = Track(mmsi, lat, lon, interval_s=30)
    for leg in range(int(minutes // 20) + 1):
        t.sail(min(20, minutes - 20 * leg), 12, 0 if leg % 2 == 0 else 180)
    return t


def _scene():
    lat, lon = OPEN_SEA
    a = Track(419000110, lat, lon).sail(20, 12, 90)
    b = Track(419000111, a.lat + 0.001, a.lon, start=a.t).sail(120, 0.5, 0)  # 110 m away
    a.sail(120, 0.5, 0)
    c = Track(419000112, lat - 0.5, lon, interval_s=30).sail(60, 14, 270).silence(200)
    c.sail(30, 14, 270)
    # Two vessels keep the feed going where a, b and c are, or would be.
    d = _patrol(419000113, lat + 0.1, lon + 0.1, 330)
    e = _patrol(419000114, lat - 0.5, lon - 0.9, 330)
    return merge(a, b, c, d, e)


def test_the_same_input_gives_the_same_output_however_it_is_batched():
    records = _scene()
    runs = []
    for batch in (len(records), 1, 97):
        analyzer = Analyzer()
        changes = []
        for i in range(0, len(records), batch):
            changes += analyzer.process(records[i : i + batch])
        changes += analyzer.finish()
        runs.append([(c.change, c.alert.to_json()) for c in changes])
    assert runs[0] == runs[1] == runs[2]
    assert {json.loads(j)["kind"] for _, j in runs[0]} == {"loitering", "encounter", "ais_gap"}


def test_analyze_records_gives_final_states_sorted():
    alerts = analyze_records(_scene())
    keys = [(a.start, a.mmsi, a.kind) for a in alerts]
    assert keys == sorted(keys)
    assert len({a.key for a in alerts}) == len(alerts)


def test_json_form_uses_iso_utc_and_null_while_open():
    alerts = analyze_records(_scene())
    d = json.loads(alerts[0].to_json())
    assert set(d) >= {
        "key",
        "kind",
        "severity",
        "mmsi",
        "other_mmsi",
        "start",
        "end",
        "lat",
        "lon",
        "zone",
        "details",
    }
    assert d["start"].endswith("Z")
    assert datetime.fromisoformat(d["start"].replace("Z", "+00:00")).timestamp() == int(
        alerts[0].start
    )
    assert any(json.loads(a.to_json())["end"] is None for a in alerts)
    assert all("text" in a.details for a in alerts)


def test_counters():
    records = _scene()
    analyzer = Analyzer()
    analyzer.process(records + records[:50])  # 50 stale repeats at the end
    analyzer.process(
        [
            PositionReport(ts=T0, mmsi=1193046, lat=1.0, lon=1.0),  # placeholder
            PositionReport(ts=T0, mmsi=419000120, lat=None, lon=None),
            "junk",
        ]
    )
    st = analyzer.stats
    assert st["records"] == len(records) + 53
    assert st["positions"] == len(records) + 52
    assert st["out_of_order"] == 50
    assert st["not_vessels"] == 1 and st["bad_positions"] == 1 and st["ignored_records"] == 1
    assert st["vessels"] == 5
    assert st["alerts_opened"] >= 3


def test_forgotten_vessels_free_their_state_and_close_their_gap():
    gone = Track(419000130, *OPEN_SEA).sail(30, 12, 90)
    feed = _patrol(419000131, OPEN_SEA[0], OPEN_SEA[1] + 0.5, 30 * 60)  # where it would be
    analyzer = Analyzer()
    changes = analyzer.process(merge(gone, feed)) + analyzer.finish()
    gap = [c for c in changes if c.alert.kind == "ais_gap"]
    assert [c.change for c in gap] == ["opened", "closed"]
    assert gap[-1].alert.details["reappeared"] is False
    assert analyzer.stats["vessels_forgotten"] == 1 and analyzer.stats["vessels"] == 1


def test_disabled_kinds_raise_nothing():
    cfg = AnalyticsConfig(disabled_kinds="loitering, encounter")
    # c's silence, and a and b falling silent while d keeps the feed going.
    assert [a.kind for a in analyze_records(_scene(), cfg)] == ["ais_gap"] * 3


def test_zones_default_to_the_built_in_ones():
    assert len(Analyzer().zones) == len(ZoneSet.builtin())
    empty = Analyzer(zones=ZoneSet())
    assert len(empty.zones) == 0
    # Without zones, a stay in Colombo's outer harbour is just a slow vessel near the coast;
    # with the coast counted as nowhere special, it loiters.
    t = Track(419000140, 6.95, 79.80, interval_s=180).stop(3 * 60, nav_status=0)
    cfg = AnalyticsConfig(loitering_min_shore_nm=0)
    assert analyze_records(t.records, cfg) == []  # inside the built-in Colombo circle
    assert [a.kind for a in analyze_records(t.records, cfg, zones=ZoneSet())] == ["loitering"]
