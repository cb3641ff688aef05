"""The injected anomalies: one scripted actor (or pair) per kind of events.md, with a margin
on every threshold, and the ground-truth record of what each one did.

Each builder gets the cycle start ``t0`` and returns ``(vessels, truth)``. After its
episode an actor sails on like any quiet vessel (an itinerary from a graph node), so it
raises nothing more. Places are fixed (with a little jitter in open water) and chosen far
from the quiet lanes' ports and zones; times are early in the cycle so that a demo shows
alerts within minutes.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ._geo import distance_nm, is_land, offset
from ._ids import Registry
from ._traffic import Leg, Track, Vessel, itinerary
from .routes import (
    IRTC_EASTBOUND,
    IRTC_SLOPE,
    IRTC_WESTBOUND,
    RESTRICTED_ZONE,
    in_polygon,
    node_pos,
)

__all__ = ["ACTOR_KINDS", "build_cycle", "iso"]

# Margins, written once: each is the events.md default and what the actor does instead.
LOITER_MIN = 90  # slow for 90 min (rule: 60), at 0.5-1.4 kn (rule: < 2.0)
ENCOUNTER_MIN = 50  # alongside for 50 min (rule: 30), 150 m apart (rule: 500), 2.5 kn (rule: < 3.0)
ENCOUNTER_KN = 2.5  # ...which also keeps both above the loitering speed
GAP_S = 2 * 3600 + 42 * 60  # silent 2 h 42 min (rule: 2 h)
JUMP_NM = 6.0  # one fix 6 nm off, 10 s apart: ~2000 kn (rule: > 1 nm and > 50 kn)
CLASH_MIN = 40  # two transmitters ~70 nm apart alternate for 40 min (rule: within 30 min)
WRONG_WAY_MIN = 15  # on 072 in the westbound lane for 15 min + ~5 min crossing (rule: 10 min)
DEVIATION_FOLLOW_MIN = 45  # follows the eastbound lane 45 min (rule: 30), ends ~9 nm off (rule: 3)
SPOOF_MAX_NM = 12.0  # positions dragged up to 12 nm inland, ~40 min on land
SART_DRIFT_KN = 1.0

ACTOR_KINDS = (
    "distress_beacon",
    "wrong_way",
    "identity_clash",
    "position_jump",
    "zone_entry",
    "on_land",
    "loitering",
    "encounter",
    "lane_deviation",
    "ais_gap",
)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Cycle:
    k: int
    t0: float
    cycle_s: float
    end_t: float  # end of the simulation (inf for an endless stream)
    seed: int
    reg: Registry

    def rng(self, kind: str) -> random.Random:
        return random.Random(f"{self.seed}:actor:{self.k}:{kind}")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _truth(
    kind: str,
    mmsi: int,
    other: int | None,
    start: float,
    end: float,
    lat: float,
    lon: float,
    note: str,
) -> dict:
    return {
        "kind": kind,
        "mmsi": mmsi,
        "other_mmsi": other,
        "start": iso(start),
        "end": iso(end),
        "lat": round(lat, 5),
        "lon": round(lon, 5),
        "note": note,
    }


def _samples(legs: list[Leg], t0: float, t1: float, step: float = 10.0):
    """(t, lat, lon) along scripted legs every ``step`` seconds."""
    out, i = [], 0
    t = t0
    while t <= t1 and i < len(legs):
        while i < len(legs) and legs[i].t1 < t:
            i += 1
        if i == len(legs):
            break
        la, lo = legs[i].at(t)
        out.append((t, la, lo))
        t += step
    return out


def _vessel(
    c: Cycle,
    rng: random.Random,
    role: str,
    track: Track,
    then: str,
    *,
    ship_type: int | None = None,
    **kw,
) -> Vessel:
    """A class A actor: the scripted legs in ``track``, then an itinerary from node ``then``."""
    script = list(track.legs)
    track.legs = []
    home = c.reg.home_port(rng, role)
    legs = itertools.chain(
        script,
        itinerary(rng, role, home, track, "node", then, sog=script[-1].sog if script else None),
    )
    ident = c.reg.identity(role, ship_type=ship_type)
    v = Vessel(
        legs=legs,
        start_t=kw.pop("start_t", c.t0),
        rng=rng,
        quiet=False,
        phase=kw.pop("phase", rng.uniform(0.0, 5.0)),
        **ident,
        **kw,
    )
    v.script = script
    return v


# ----------------------------------------------------------------------------- builders


def distress_beacon(c: Cycle):
    rng = c.rng("distress_beacon")
    lat, lon = 14.6 + rng.uniform(-0.3, 0.3), 64.0 + rng.uniform(-0.5, 0.5)
    t_on = c.t0 + 120.0
    t_off = min(c.t0 + c.cycle_s, c.end_t)
    tr = Track(t_on, lat, lon)
    drift = rng.uniform(30, 90)
    tr.go_bearing(drift, SART_DRIFT_KN * (t_off - t_on + 600) / 3600.0, SART_DRIFT_KN, status=14)
    v = Vessel(
        mmsi=c.reg.sart_mmsi(),
        cls="SART",
        ship_type=0,
        name="SART ACTIVE",
        callsign="",
        imo=0,
        dims=(0, 0, 0, 0),
        draught=0.0,
        legs=iter(tr.legs),
        start_t=t_on,
        end_t=t_off,
        rng=rng,
        quiet=False,
        phase=0.0,
    )
    v.script = list(tr.legs)
    truth = _truth(
        "distress_beacon",
        v.mmsi,
        None,
        t_on,
        t_off - 60.0,
        lat,
        lon,
        "AIS-SART activated (type 1, nav status 14, type 14 'SART ACTIVE'), "
        f"drifting at {SART_DRIFT_KN} kn until it stops",
    )
    truth["_due"] = t_on + 600.0  # it rings at the first transmission; ten minutes of it suffice
    return [v], [truth]


def _irtc_line(lat_w: float, lon: float) -> float:
    return lat_w + IRTC_SLOPE * (lon - 45.0)


def _deg_lon_along_irtc(lat: float) -> float:
    """Nautical miles per degree of longitude travelled along an IRTC lane."""
    return distance_nm(lat, 45.0, lat + IRTC_SLOPE, 46.0)


def wrong_way(c: Cycle):
    rng = c.rng("wrong_way")
    south_edge_w = IRTC_WESTBOUND[3][0]  # 11 55 N at 45 E
    line = south_edge_w + 1.1 / 60.0  # 1.1 nm inside the lane's southern edge
    sog = 13.0
    tr = Track(c.t0, _irtc_line(line, 44.99), 44.99)
    lon_turn = 45.0 + sog * WRONG_WAY_MIN / 60.0 / _deg_lon_along_irtc(12.0)
    tr.go(_irtc_line(line, lon_turn), lon_turn, sog)
    eb_centre = IRTC_EASTBOUND[0][0] - 2.5 / 60.0  # 11 50.5 N at 45 E
    tr.go(_irtc_line(eb_centre, lon_turn + 0.06), lon_turn + 0.06, sog)  # crossing on ~141
    tr.go(*node_pos("EB_E"), sog)
    v = _vessel(c, rng, "cargo", tr, "EB_E_EXIT")
    inside = [
        (t, la, lo)
        for t, la, lo in _samples(v.script, c.t0, c.t0 + 3600)
        if in_polygon(la, lo, IRTC_WESTBOUND)
    ]
    t1, la, lo = inside[0]
    return [v], [
        _truth(
            "wrong_way",
            v.mmsi,
            None,
            t1,
            inside[-1][0],
            la,
            lo,
            f"on 072 in the IRTC westbound lane (252) for {WRONG_WAY_MIN} min, "
            "then crosses to the eastbound lane",
        )
    ]


def lane_deviation(c: Cycle):
    rng = c.rng("lane_deviation")
    eb_centre = IRTC_EASTBOUND[0][0] - 2.5 / 60.0
    sog = 13.0
    lon0 = 45.40
    tr = Track(c.t0, _irtc_line(eb_centre, lon0), lon0)
    lon1 = lon0 + sog * DEVIATION_FOLLOW_MIN / 60.0 / _deg_lon_along_irtc(12.0)
    tr.go(_irtc_line(eb_centre, lon1), lon1, sog)
    tr.go_bearing(140.0, 12.0, sog)
    far = tr.t
    la_far, lo_far = tr.lat, tr.lon
    tr.go(13.0, 50.0, sog)
    tr.go(13.6, 53.5, sog)
    v = _vessel(c, rng, "cargo", tr, "SOC_E")
    inside = [s for s in _samples(v.script, c.t0, far) if in_polygon(s[1], s[2], IRTC_EASTBOUND)]
    t_exit, la, lo = inside[-1]
    return [v], [
        _truth(
            "lane_deviation",
            v.mmsi,
            None,
            t_exit,
            far,
            la,
            lo,
            f"follows the IRTC eastbound lane for {DEVIATION_FOLLOW_MIN} min, leaves "
            f"through its southern side and sails 12 nm on 140, ending about 9 nm "
            f"from it ({la_far:.3f}, {lo_far:.3f})",
        )
    ]


def identity_clash(c: Cycle):
    rng = c.rng("identity_clash")
    a, b = node_pos("GOA_OFF"), node_pos("MANG_OFF")
    f = 0.2 + rng.uniform(-0.05, 0.05)
    start = (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
    tr = Track(c.t0, *start)
    tr.go(*b, 14.0)
    real = _vessel(c, rng, "container", tr, "MANG_OFF", phase=0.0)
    t_on = c.t0 + 180.0
    t_off = t_on + CLASH_MIN * 60.0
    clat, clon = 15.0 + rng.uniform(-0.1, 0.1), 71.9 + rng.uniform(-0.1, 0.1)
    ctr = Track(t_on, clat, clon)
    ctr.go_bearing(250.0, 10.0 * (CLASH_MIN + 10) / 60.0, 10.0)
    ident = c.reg.identity("fishing_a")
    ident["mmsi"] = real.mmsi
    clone = Vessel(
        legs=iter(ctr.legs),
        start_t=t_on,
        end_t=t_off,
        rng=random.Random(f"{c.seed}:clone:{c.k}"),
        quiet=False,
        phase=5.0,
        **ident,
    )
    clone.script = list(ctr.legs)
    dist = distance_nm(*real.script[0].at(t_on), clat, clon)
    return [real, clone], [
        _truth(
            "identity_clash",
            real.mmsi,
            None,
            t_on,
            t_off,
            clat,
            clon,
            f"a second transmitter with this MMSI ({ident['name']}) sends "
            f"for {CLASH_MIN} min from {dist:.0f} nm west of the real "
            f"vessel ({real.name}) off the Konkan coast",
        )
    ]


def position_jump(c: Cycle):
    rng = c.rng("position_jump")
    a, b = node_pos("ARAB_NW"), node_pos("ARAB_C")
    f = 0.35 + rng.uniform(-0.1, 0.1)
    start = (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
    tr = Track(c.t0, *start)
    tr.go(*b, 13.0)
    t_jump = c.t0 + 360.0
    v = _vessel(c, rng, "cargo", tr, "ARAB_C")

    def spoof(t: float, la: float, lo: float) -> tuple[float, float]:
        return offset(la, lo, 0.0, JUMP_NM) if t < t_jump else (la, lo)

    v.spoof = spoof
    la, lo = v.script[0].at(t_jump)
    return [v], [
        _truth(
            "position_jump",
            v.mmsi,
            None,
            t_jump - 15.0,
            t_jump + 15.0,
            la,
            lo,
            f"GNSS offset of {JUMP_NM} nm north for the first 6 min, then one "
            "jump back to the true track",
        )
    ]


_COAST = (
    (13.60, 74.59),
    (13.80, 74.54),
    (14.00, 74.41),
    (14.20, 74.37),
    (14.40, 74.32),
    (14.60, 74.20),
)


def on_land(c: Cycle):
    rng = c.rng("on_land")
    tr = Track(c.t0, *_COAST[0])
    for p in _COAST[1:]:
        tr.go(*p, 9.0)
    v = _vessel(c, rng, "cargo", tr, "GOA_OFF", ship_type=70)
    ts, dur = c.t0 + 180.0, 70 * 60.0

    def spoof(t: float, la: float, lo: float) -> tuple[float, float]:
        if ts <= t <= ts + dur:
            return offset(la, lo, 75.0, SPOOF_MAX_NM * math.sin(math.pi * (t - ts) / dur) ** 2)
        return la, lo

    v.spoof = spoof
    land = [(t, *spoof(t, la, lo)) for t, la, lo in _samples(v.script, ts, ts + dur)]
    land = [s for s in land if is_land(s[1], s[2])]
    mid = land[len(land) // 2]
    return [v], [
        _truth(
            "on_land",
            v.mmsi,
            None,
            land[0][0],
            land[-1][0],
            mid[1],
            mid[2],
            "GNSS spoofing drags the reported track up to 12 nm inland across the "
            "Karnataka coast while the vessel sails on at sea",
        )
    ]


def zone_entry(c: Cycle):
    rng = c.rng("zone_entry")
    ring = RESTRICTED_ZONE["ring"]
    lon = (ring[0][1] + ring[1][1]) / 2
    tr = Track(c.t0, ring[0][0] + 0.04, lon)  # 2.4 nm north of the zone
    tr.go(ring[2][0] - 0.08, lon, 12.0)
    v = _vessel(c, rng, "cargo", tr, "MANG_OFF")
    inside = [s for s in _samples(v.script, c.t0, c.t0 + 7200) if in_polygon(s[1], s[2], ring)]
    return [v], [
        _truth(
            "zone_entry",
            v.mmsi,
            None,
            inside[0][0],
            inside[-1][0],
            inside[0][1],
            inside[0][2],
            f"crosses the restricted zone '{RESTRICTED_ZONE['name']}' "
            "north to south (in FILE.zones.geojson)",
        )
    ]


def loitering(c: Cycle):
    rng = c.rng("loitering")
    tr = Track(c.t0, 12.9 + rng.uniform(-0.2, 0.2), 61.6 + rng.uniform(-0.3, 0.3))
    tr.go_bearing(120.0, 1.5, 10.0)
    t_slow = tr.t
    la, lo = tr.lat, tr.lon
    for _ in range(LOITER_MIN // 10):
        kn = rng.uniform(0.5, 1.4)
        tr.go_bearing(rng.uniform(0, 360), kn * 10 / 60.0, kn)
    t_end = tr.t
    tr.go_bearing(120.0, 2.0, 10.0)
    v = _vessel(c, rng, "tanker", tr, "ARAB_S")
    return [v], [
        _truth(
            "loitering",
            v.mmsi,
            None,
            t_slow,
            t_end,
            la,
            lo,
            f"drifts at 0.5-1.4 kn for {LOITER_MIN} min in the open Arabian Sea",
        )
    ]


def encounter(c: Cycle):
    rng = c.rng("encounter")
    r0 = (9.0 + rng.uniform(-0.2, 0.2), 60.5 + rng.uniform(-0.3, 0.3))
    r1 = offset(*r0, 135.0, 0.08)  # 150 m on the starboard beam
    t1 = Track(c.t0, *offset(*r0, 225.0, 3.0))
    t1.go(*r0, 12.0)
    t2 = Track(c.t0, *offset(*r1, 315.0, 3.0))
    t2.go(*r1, 12.0)
    meet = t1.t
    for tr in (t1, t2):
        tr.go_bearing(45.0, ENCOUNTER_KN * ENCOUNTER_MIN / 60.0, ENCOUNTER_KN)
    apart = t1.t
    t1.go_bearing(45.0, 3.0, 12.0)
    t2.go_bearing(250.0, 3.0, 10.0)
    v1 = _vessel(c, rng, "cargo", t1, "ARAB_S", ship_type=79)
    v2 = _vessel(c, rng, "fishing_a", t2, "SOC_E")
    return [v1, v2], [
        _truth(
            "encounter",
            v1.mmsi,
            v2.mmsi,
            meet,
            apart,
            *r0,
            f"a reefer and a fishing vessel alongside 150 m apart at "
            f"{ENCOUNTER_KN} kn for {ENCOUNTER_MIN} min (transshipment)",
        )
    ]


def ais_gap(c: Cycle):
    rng = c.rng("ais_gap")
    a, b = node_pos("SOC_E"), node_pos("ARAB_S")
    f = 0.1 + rng.uniform(0.0, 0.05)
    start = (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
    tr = Track(c.t0, *start)
    tr.go(*b, 12.5)
    v = _vessel(c, rng, "tanker", tr, "ARAB_S")
    off = c.t0 + 480.0
    v.silences = [(off, off + GAP_S)]
    la, lo = v.script[0].at(off)
    return [v], [
        _truth(
            "ais_gap",
            v.mmsi,
            None,
            off,
            off + GAP_S,
            la,
            lo,
            f"AIS switched off for {GAP_S // 60} min under way, back on the same course",
        )
    ]


BUILDERS: dict[str, Callable[[Cycle], tuple[list[Vessel], list[dict]]]] = {
    "distress_beacon": distress_beacon,
    "wrong_way": wrong_way,
    "identity_clash": identity_clash,
    "position_jump": position_jump,
    "zone_entry": zone_entry,
    "on_land": on_land,
    "loitering": loitering,
    "encounter": encounter,
    "lane_deviation": lane_deviation,
    "ais_gap": ais_gap,
}


def build_cycle(c: Cycle, kinds=ACTOR_KINDS) -> tuple[list[Vessel], list[dict]]:
    """The actors of one cycle. An anomaly whose episode would not end at least 5 minutes
    before the end of the simulation is left out (and so is its truth)."""
    vessels, truth = [], []
    for kind in kinds:
        vs, tr = BUILDERS[kind](c)
        due = max(r.pop("_due", None) or _ts(r["end"]) for r in tr)
        if due + 300.0 > c.end_t:
            continue
        vessels += vs
        truth += tr
    return vessels, truth
