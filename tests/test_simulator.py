"""The traffic simulator: its output is well-formed AIS as two receivers log it, it never
puts a vessel on land except the injected spoofing, quiet traffic keeps clear of every rule,
and the truth lists one anomaly of every kind with the margins it claims."""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from datetime import datetime

import numpy as np
import pyais
import pytest
from global_land_mask import globe

from mda.cli import main
from mda.simulator import (
    ACTOR_KINDS,
    Scenario,
    check_graph,
    demo_scenario,
    demo_segments,
    output_paths,
    simulate,
)
from mda.simulator._geo import angle_diff, distance_nm
from mda.simulator._nmea import nmea_checksum
from mda.simulator.routes import (
    ANCHORAGE_RADIUS_NM,
    IRTC_EASTBOUND,
    IRTC_WESTBOUND,
    PORTS,
    RESTRICTED_ZONE,
    in_polygon,
)

# The kinds of events.md, in its order.
EVENT_KINDS = {
    "loitering",
    "encounter",
    "ais_gap",
    "position_jump",
    "identity_clash",
    "on_land",
    "wrong_way",
    "lane_deviation",
    "zone_entry",
    "distress_beacon",
}
TRUTH_KEYS = {"kind", "mmsi", "other_mmsi", "start", "end", "lat", "lon", "note"}
LINE = re.compile(r"^\\(?P<tags>[^*\\]*)\*(?P<cs>[0-9A-F]{2})\\(?P<sentence>.*)$")


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Sim:
    """One simulated file, parsed once for all the tests of this module."""

    def __init__(self, out):
        self.summary = simulate(out, hours=3.0, vessels=60, seed=7)
        nmea, truth, zones = output_paths(out)
        self.lines = nmea.read_text().splitlines()
        self.truth = [json.loads(x) for x in truth.read_text().splitlines()]
        self.zones = json.loads(zones.read_text())
        self.tagged = []  # (tags dict, sentence, tag checksum ok)
        self.untagged = []
        for line in self.lines:
            m = LINE.match(line)
            if m is None:
                self.untagged.append(line)
                continue
            tags = dict(kv.split(":", 1) for kv in m["tags"].split(",") if ":" in kv)
            ok = nmea_checksum(m["tags"]) == int(m["cs"], 16)
            self.tagged.append((tags, m["sentence"], ok))
        # Every valid single-sentence position report, first copy only: mmsi -> fixes
        self.fixes: dict[int, list[tuple]] = defaultdict(list)
        self.bad_sentences = 0
        seen = set()
        for tags, s, _ in self.tagged:
            if not s.startswith("!AIVDM,1,1,") or s in seen:
                continue
            seen.add(s)
            try:
                msg = pyais.decode(s, error_if_checksum_invalid=True).asdict()
            except Exception:
                self.bad_sentences += 1
                continue
            if msg["msg_type"] in (1, 3, 18):
                self.fixes[msg["mmsi"]].append(
                    (
                        int(tags["c"]),
                        msg["lat"],
                        msg["lon"],
                        msg["speed"],
                        msg["course"],
                        int(msg.get("status", 15) or 0),
                        msg["msg_type"],
                    )
                )
        for f in self.fixes.values():
            f.sort()
        self.truth_mmsis = {r["mmsi"] for r in self.truth} | {
            r["other_mmsi"] for r in self.truth if r["other_mmsi"]
        }

    def by_kind(self, kind: str) -> dict:
        [rec] = [r for r in self.truth if r["kind"] == kind]
        return rec


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Sim:
    return Sim(tmp_path_factory.mktemp("sim") / "traffic.nmea")


def in_quiet_zone(lat: float, lon: float) -> bool:
    return any(distance_nm(lat, lon, p.lat, p.lon) <= ANCHORAGE_RADIUS_NM for p in PORTS.values())


# ----------------------------------------------------------------------------- the route graph


def test_route_graph_keeps_off_land_and_out_of_the_restricted_zone():
    assert check_graph() == []


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_lines_other_seed_other_lines():
    def lines(seed):
        return list(Scenario(seed=seed, vessels=20, hours=1.0, cycle_hours=3.0).lines())

    a, b, c = lines(3), lines(3), lines(4)
    assert len(a) > 1000
    assert a == b
    assert a != c


# ----------------------------------------------------------------------------- the truth


def test_truth_has_every_kind_of_events_md_once_with_its_fields(sim):
    assert {r["kind"] for r in sim.truth} == EVENT_KINDS == set(ACTOR_KINDS)
    assert len(sim.truth) == len(EVENT_KINDS)  # one cycle in 3 h
    for r in sim.truth:
        assert set(r) == TRUTH_KEYS
        assert ts(r["start"]) <= ts(r["end"])
        assert sim.summary["start"] <= ts(r["start"]) and ts(r["end"]) < sim.summary["end"]
        assert r["mmsi"] in sim.fixes, r
    assert sim.by_kind("encounter")["other_mmsi"] in sim.fixes
    assert all(r["other_mmsi"] is None for r in sim.truth if r["kind"] != "encounter")


def test_no_position_on_land_except_the_injected_spoofing(sim):
    rec = sim.by_kind("on_land")
    t0, t1 = ts(rec["start"]), ts(rec["end"])
    on_land = []
    for mmsi, fixes in sim.fixes.items():
        a = np.array([(f[1], f[2]) for f in fixes])
        land = globe.is_land(a[:, 0], a[:, 1])
        on_land += [(mmsi, fixes[i][0]) for i in np.flatnonzero(land)]
    assert len(on_land) > 100  # the spoofed fixes are there...
    outside = [(m, t) for m, t in on_land if m != rec["mmsi"] or not t0 - 15 <= t <= t1 + 15]
    assert outside == []  # ...and nothing else is on land
    assert globe.is_land(rec["lat"], rec["lon"])


def test_quiet_traffic_keeps_clear_of_every_rule(sim):
    quiet = {m: f for m, f in sim.fixes.items() if m not in sim.truth_mmsis}
    assert len(quiet) >= 45
    ring = RESTRICTED_ZONE["ring"]
    for mmsi, fixes in quiet.items():
        for (t, lat, lon, sog, cog, *_), nxt in zip(fixes, fixes[1:] + [None]):
            assert not in_polygon(lat, lon, ring), (mmsi, t)
            for lane, direction in ((IRTC_WESTBOUND, 252.0), (IRTC_EASTBOUND, 72.0)):
                if in_polygon(lat, lon, lane):
                    assert angle_diff(cog, direction) < 30, (mmsi, t, cog)
            if sog < 3.0:  # slow only at anchor, in an anchorage
                assert in_quiet_zone(lat, lon), (mmsi, t, lat, lon, sog)
            if nxt is not None:
                assert nxt[0] - t < 30 * 60, (mmsi, t, "silent")
                d = distance_nm(lat, lon, nxt[1], nxt[2])
                assert d < 1.0 or d / max(1, nxt[0] - t) * 3600 < 45, (mmsi, t, "jump")


def test_injected_anomalies_have_their_margins(sim):
    f = sim.fixes
    # distress beacon: an AIS-SART number, nav status 14
    rec = sim.by_kind("distress_beacon")
    assert str(rec["mmsi"]).startswith("970")
    assert {x[5] for x in f[rec["mmsi"]]} == {14}
    # loitering: under 2 kn for 80 min or more
    rec = sim.by_kind("loitering")
    slow = [x for x in f[rec["mmsi"]] if x[3] < 2.0]
    assert max(x[3] for x in slow) < 1.6
    assert slow[-1][0] - slow[0][0] >= 80 * 60
    assert not in_quiet_zone(slow[0][1], slow[0][2])
    # encounter: within 500 m, both under 3 kn (and at 2 kn or more), for 40 min or more
    rec = sim.by_kind("encounter")
    a = {x[0] // 30: x for x in f[rec["mmsi"]]}
    b = {x[0] // 30: x for x in f[rec["other_mmsi"]]}
    together = sorted(
        k
        for k in a.keys() & b.keys()
        if distance_nm(a[k][1], a[k][2], b[k][1], b[k][2]) * 1852 < 300
        and a[k][3] < 3.0
        and b[k][3] < 3.0
    )
    assert (together[-1] - together[0]) * 30 >= 40 * 60
    assert min(min(a[k][3], b[k][3]) for k in together) >= 2.2
    # AIS gap: silent for 2 h 30 min or more, under way before and after
    rec = sim.by_kind("ais_gap")
    times = [x[0] for x in f[rec["mmsi"]]]
    gaps = np.diff(times)
    assert gaps.max() >= 2.5 * 3600 and (gaps > 3600).sum() == 1
    # position jump: exactly one step over 1 nm, at hundreds of knots
    rec = sim.by_kind("position_jump")
    fx = f[rec["mmsi"]]
    steps = [(distance_nm(p[1], p[2], q[1], q[2]), q[0] - p[0]) for p, q in zip(fx, fx[1:])]
    big = [(d, dt) for d, dt in steps if d > 1.0]
    assert len(big) == 1 and big[0][0] / max(big[0][1], 1) * 3600 > 500
    # identity clash: many alternations of more than 50 nm within the truth's window
    rec = sim.by_kind("identity_clash")
    fx = [x for x in f[rec["mmsi"]] if ts(rec["start"]) - 60 <= x[0] <= ts(rec["end"]) + 60]
    flips = sum(distance_nm(p[1], p[2], q[1], q[2]) > 50 for p, q in zip(fx, fx[1:]))
    assert flips >= 20
    # wrong way: 12 min or more on ~072 inside the westbound lane
    rec = sim.by_kind("wrong_way")
    wrong = [
        x
        for x in f[rec["mmsi"]]
        if in_polygon(x[1], x[2], IRTC_WESTBOUND) and angle_diff(x[4], 252.0) > 100
    ]
    assert wrong[-1][0] - wrong[0][0] >= 12 * 60
    assert wrong[-1][0] - wrong[0][0] < 25 * 60  # too short to count as following the lane
    # lane deviation: 40 min or more in the eastbound lane, then more than 6 nm south of it
    rec = sim.by_kind("lane_deviation")
    fx = f[rec["mmsi"]]
    inside = [x for x in fx if in_polygon(x[1], x[2], IRTC_EASTBOUND)]
    assert inside[-1][0] - inside[0][0] >= 40 * 60
    after = [x for x in fx if x[0] > inside[-1][0]]
    assert max(_irtc_south_edge(x[2]) - x[1] for x in after) * 60 > 6.0
    # zone entry: fixes inside the restricted zone, and none before the truth's start
    rec = sim.by_kind("zone_entry")
    inside = [x for x in f[rec["mmsi"]] if in_polygon(x[1], x[2], RESTRICTED_ZONE["ring"])]
    assert len(inside) > 30 and abs(inside[0][0] - ts(rec["start"])) <= 15


def _irtc_south_edge(lon: float) -> float:
    (la1, lo1), (la2, lo2) = IRTC_EASTBOUND[3], IRTC_EASTBOUND[2]
    return la1 + (la2 - la1) * (lon - lo1) / (lo2 - lo1)


# ----------------------------------------------------------------------------- the NMEA


def test_tag_blocks_carry_station_and_time_with_valid_checksums(sim):
    assert len(sim.tagged) > 0.98 * len(sim.lines)
    assert all(ok for _, _, ok in sim.tagged)
    stations = {t.get("s") for t, _, _ in sim.tagged}
    assert stations == {"rcvA", "rcvB"}
    times = [int(t["c"]) for t, _, _ in sim.tagged if "c" in t]
    assert len(times) > 0.99 * len(sim.tagged)
    assert sim.summary["start"] <= min(times) and max(times) <= sim.summary["end"] + 2


def test_sentence_checksums_valid_except_the_injected_junk(sim):
    bad = 0
    for _, s, _ in sim.tagged:
        if s.startswith("$"):
            continue  # a receiver's own $GPGGA
        body, star, cs = s[1:].rpartition("*")
        if not s.startswith("!") or not star or len(cs) != 2 or nmea_checksum(body) != int(cs, 16):
            bad += 1
    # truncations that cut into the tag block itself leave a line without one
    cut_in_tag = sum(1 for x in sim.untagged if x.startswith("\\"))
    assert bad + cut_in_tag == sim.summary["bad_checksum"] + sim.summary["truncated"]
    assert sim.summary["bad_checksum"] >= 5 and sim.summary["truncated"] >= 5


def test_junk_is_there_a_little(sim):
    gga = [x for x in sim.lines if "$GPGGA," in x]
    assert len(gga) == sim.summary["gga"] >= 5
    assert any(x.startswith("$GPGGA") for x in gga) and any(x.startswith("\\") for x in gga)
    assert sim.bad_sentences >= 5  # bad checksums and truncated payloads fail to decode
    junk = sim.summary["gga"] + sim.summary["bad_checksum"] + sim.summary["truncated"]
    assert junk < 0.002 * len(sim.lines)


def test_two_receivers_overlap(sim):
    by_sentence = defaultdict(set)
    lon_of = {}
    for tags, s, _ in sim.tagged:
        if s.startswith("!AIVDM,1,1,"):
            by_sentence[s].add(tags["s"])
    both = [s for s, st in by_sentence.items() if st == {"rcvA", "rcvB"}]
    only_a = [s for s, st in by_sentence.items() if st == {"rcvA"}]
    only_b = [s for s, st in by_sentence.items() if st == {"rcvB"}]
    assert len(both) > 1000 and len(only_a) > 1000 and len(only_b) > 1000
    for s in both[:200]:
        msg = pyais.decode(s).asdict()
        if "lon" in msg and msg["msg_type"] in (1, 3, 18):
            lon_of[s] = msg["lon"]
    assert lon_of and all(70.0 <= lon <= 78.0 for lon in lon_of.values())


def test_multipart_type5_assembles_per_station(sim):
    groups = defaultdict(list)  # (station, group id) -> sentences
    for tags, s, _ in sim.tagged:
        if "g" in tags:
            k, n, gid = tags["g"].split("-")
            groups[(tags["s"], gid)].append((int(k), int(n), s))
    assert len(groups) >= 500
    names = set()
    for parts in list(groups.values())[:300]:
        assert [k for k, _, _ in parts] == [1, 2] and {n for _, n, _ in parts} == {2}
        seq = {p.split(",")[3] for _, _, p in parts}
        assert len(seq) == 1 and seq != {""}
        msg = pyais.decode(*[p for _, _, p in parts], error_if_checksum_invalid=True).asdict()
        assert msg["msg_type"] == 5
        names.add(msg["shipname"])
    assert len(names) > 20
    # class B static data: type 24 parts A and B
    parts = set()
    for _, s, _ in sim.tagged:
        fields = s.split(",")
        if s.startswith("!AIVDM,1,1,") and len(fields) == 7 and fields[5].startswith("H"):
            parts.add(pyais.decode(s).asdict()["partno"])
    assert parts == {0, 1}


def test_reporting_cadence(sim):
    class_a_underway, class_a_anchored, class_b = [], [], []
    for mmsi, fixes in sim.fixes.items():
        if mmsi in sim.truth_mmsis:
            continue
        for p, q in zip(fixes, fixes[1:]):
            dt = q[0] - p[0]
            if p[6] == 18:
                if p[3] >= 2.0:
                    class_b.append(dt)
            elif p[5] == 1 and q[5] == 1:
                class_a_anchored.append(dt)
            elif p[3] > 5:
                class_a_underway.append(dt)
    assert 9 <= statistics.median(class_a_underway) <= 11
    assert 170 <= statistics.median(class_a_anchored) <= 190
    assert 28 <= statistics.median(class_b) <= 32
    # static data every 6 minutes per vessel
    statics = sim.summary["multipart"]
    assert statics > 0.8 * (3 * 60 / 6) * 30


# ----------------------------------------------------------------------------- the demo and CLI


def test_demo_scenario_rings_five_kinds_early_and_starts_when_told():
    start = "2030-06-01T12:00:00Z"
    lines, truth = demo_scenario(start=start, seed=2, hours=1.5, vessels=20)
    early = {r["kind"] for r in truth if ts(r["start"]) - ts(start) <= 20 * 60}
    assert len(early) >= 5, early
    stamps = [int(m.group(1)) for m in map(re.compile(r"c:(\d+)").search, lines[:50]) if m]
    assert stamps and min(stamps) >= ts(start)


def test_demo_segments_continue_the_same_vessels():
    segments = demo_segments(start="2030-06-01T12:00:00Z", seed=2, vessels=20, hours=0.25)
    cut = ts("2030-06-01T12:15:00Z")
    first, second = segments(0), segments(1)
    fixes = defaultdict(list)  # mmsi -> (t, lat, lon, segment)
    for n, seg in enumerate((first, second)):
        for line in seg.lines:
            m = LINE.match(line)
            if not m or not m["sentence"].startswith("!AIVDM,1,1,"):
                continue
            try:
                msg = pyais.decode(m["sentence"], error_if_checksum_invalid=True).asdict()
            except Exception:
                continue
            if msg["msg_type"] in (1, 3, 18):
                t = int(dict(kv.split(":", 1) for kv in m["tags"].split(","))["c"])
                assert (t < cut) == (n == 0)
                fixes[msg["mmsi"]].append((t, msg["lat"], msg["lon"]))
    actors = {r["mmsi"] for r in first.truth}
    assert actors
    steps = []
    for mmsi, fx in fixes.items():
        if mmsi in actors:
            continue
        before = [f for f in fx if f[0] < cut]
        after = [f for f in fx if f[0] >= cut]
        if before and after:
            steps.append(distance_nm(*before[-1][1:], *after[0][1:]))
    assert len(steps) >= 5  # vessels heard on both sides of the cut...
    assert max(steps) < 1.0  # ...are where they were
    assert first.zones["features"] and first.truth is second.truth
    with pytest.raises(ValueError):
        segments(5)


def test_cli_writes_the_three_files(tmp_path, capsys):
    out = tmp_path / "small.nmea"
    assert (
        main(
            [
                "simulate",
                "--hours",
                "0.5",
                "--vessels",
                "15",
                "--out",
                str(out),
                "--seed",
                "5",
                "--start",
                "2024-03-01T00:00:00Z",
            ]
        )
        == 0
    )
    nmea, truth, zones = output_paths(out)
    assert nmea.stat().st_size > 10000
    first = LINE.match(nmea.read_text().splitlines()[0])
    assert int(dict(kv.split(":") for kv in first["tags"].split(","))["c"]) == ts(
        "2024-03-01T00:00:00Z"
    )
    kinds = {json.loads(x)["kind"] for x in truth.read_text().splitlines()}
    assert {"distress_beacon", "wrong_way", "position_jump"} <= kinds and "ais_gap" not in kinds
    z = json.loads(zones.read_text())
    assert {f["properties"]["kind"] for f in z["features"]} == {
        "restricted",
        "anchorage",
        "coverage",
    }
    assert "--zones" in capsys.readouterr().err
    assert main(["simulate", "--hours", "1", "--out", str(out), "--start", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
