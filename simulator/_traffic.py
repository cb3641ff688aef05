"""Vessels, their tracks and what they transmit.

A track is a lazy sequence of :class:`Leg` (straight, constant speed, or swinging at
anchor); a vessel turns its track into AIS messages at its reporting cadence. Quiet
vessels get an endless itinerary from port to port over the route graph; anomaly actors
(``_actors``) get a scripted beginning and then the same itinerary.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ._geo import bearing, distance_nm, near_land, offset
from .routes import FISHING_GROUNDS, PORTS, node_pos, path_length, shortest_path

__all__ = ["Leg", "Track", "Vessel", "Msg", "Cadence", "itinerary", "vessel_messages"]

STATIC_INTERVAL_S = 360.0  # type 5 / type 24 every 6 minutes


@dataclass(frozen=True)
class Cadence:
    """Seconds between position reports. Real class A units report every 2-10 s under way;
    the simulator uses one coarser interval for all of them to keep files small."""

    underway_a: float = 10.0
    anchored_a: float = 180.0
    class_b: float = 30.0
    class_b_slow: float = 180.0
    sart: float = 60.0


@dataclass(slots=True)
class Leg:
    t0: float
    t1: float
    lat0: float
    lon0: float
    lat1: float
    lon1: float
    sog: float  # knots, what the vessel reports
    cog: float  # degrees true
    status: int = 0  # AIS navigational status
    anchored: bool = False
    dest: str = ""  # AIS destination (UN/LOCODE) during this leg

    def at(self, t: float) -> tuple[float, float]:
        if self.t1 <= self.t0:
            return self.lat0, self.lon0
        f = min(1.0, max(0.0, (t - self.t0) / (self.t1 - self.t0)))
        return self.lat0 + (self.lat1 - self.lat0) * f, self.lon0 + (self.lon1 - self.lon0) * f


class Track:
    """Builds legs forward from a time and a position."""

    def __init__(self, t: float, lat: float, lon: float, dest: str = ""):
        self.t, self.lat, self.lon, self.dest = t, lat, lon, dest
        self.legs: list[Leg] = []

    def go(self, lat: float, lon: float, sog: float, status: int = 0, piece_nm: float = 10.0):
        """Straight to (lat, lon) at ``sog``, in pieces of at most ``piece_nm``."""
        d = distance_nm(self.lat, self.lon, lat, lon)
        if d < 1e-6:
            return self
        n = max(1, math.ceil(d / piece_nm))
        la0, lo0 = self.lat, self.lon
        for i in range(1, n + 1):
            la = la0 + (lat - la0) * i / n
            lo = lo0 + (lon - lo0) * i / n
            dd = distance_nm(self.lat, self.lon, la, lo)
            dt = dd / sog * 3600.0
            self.legs.append(
                Leg(
                    self.t,
                    self.t + dt,
                    self.lat,
                    self.lon,
                    la,
                    lo,
                    sog,
                    bearing(self.lat, self.lon, la, lo),
                    status,
                    False,
                    self.dest,
                )
            )
            self.t, self.lat, self.lon = self.t + dt, la, lo
        return self

    def go_bearing(self, brg: float, dist_nm: float, sog: float, status: int = 0):
        la, lo = offset(self.lat, self.lon, brg, dist_nm)
        return self.go(la, lo, sog, status)

    def hold(self, duration: float, status: int = 1):
        """At anchor (or moored) for ``duration`` seconds."""
        self.legs.append(
            Leg(
                self.t,
                self.t + duration,
                self.lat,
                self.lon,
                self.lat,
                self.lon,
                0.0,
                0.0,
                status,
                True,
                self.dest,
            )
        )
        self.t += duration
        return self


@dataclass
class Msg:
    """One transmission: ``payloads`` are pyais ``encode_dict`` dictionaries sent at ``t``
    (a type 24 part A and B travel together)."""

    t: float
    lon: float  # where it was sent from, for the receivers' coverage
    payloads: list[dict]
    quiet: bool  # from a vessel outside the truth (the only ones junk may hit)


@dataclass
class Vessel:
    mmsi: int
    cls: str  # "A", "B" or "SART"
    ship_type: int
    name: str
    callsign: str
    imo: int
    dims: tuple[int, int, int, int]  # to_bow, to_stern, to_port, to_starboard
    draught: float
    legs: Iterator[Leg]
    start_t: float
    rng: random.Random
    end_t: float = math.inf
    silences: list[tuple[float, float]] = field(default_factory=list)
    spoof: Callable[[float, float, float], tuple[float, float]] | None = None
    quiet: bool = True
    phase: float = 0.0  # offset of the first report after start_t
    msg3_share: float = 0.1  # share of class A reports sent as type 3
    script: list[Leg] = field(default_factory=list)  # an actor's scripted legs (truth, tests)


def _silenced(v: Vessel, t: float) -> bool:
    return any(a <= t < b for a, b in v.silences)


def _static_payloads(v: Vessel, dest: str, t: float) -> list[dict]:
    if v.cls == "A":
        eta = time.gmtime(t + 86400.0 * 2)
        return [
            {
                "type": 5,
                "mmsi": v.mmsi,
                "ais_version": 0,
                "imo": v.imo,
                "callsign": v.callsign,
                "shipname": v.name,
                "ship_type": v.ship_type,
                "to_bow": v.dims[0],
                "to_stern": v.dims[1],
                "to_port": v.dims[2],
                "to_starboard": v.dims[3],
                "epfd": 1,
                "month": eta.tm_mon,
                "day": eta.tm_mday,
                "hour": eta.tm_hour,
                "minute": 0,
                "draught": v.draught,
                "destination": dest,
                "dte": 0,
            }
        ]
    if v.cls == "B":
        return [
            {"type": 24, "mmsi": v.mmsi, "partno": 0, "shipname": v.name},
            {
                "type": 24,
                "mmsi": v.mmsi,
                "partno": 1,
                "ship_type": v.ship_type,
                "vendorid": "SIM",
                "model": 1,
                "serial": v.mmsi % 1000000,
                "callsign": v.callsign,
                "to_bow": v.dims[0],
                "to_stern": v.dims[1],
                "to_port": v.dims[2],
                "to_starboard": v.dims[3],
            },
        ]
    return [{"type": 14, "mmsi": v.mmsi, "text": "SART ACTIVE"}]


def vessel_messages(v: Vessel, t_end: float, cadence: Cadence) -> Iterator[Msg]:
    """Everything ``v`` transmits from ``start_t`` until ``min(end_t, t_end)``, in time order."""
    rng = v.rng
    stop = min(v.end_t, t_end)
    try:
        leg = next(v.legs)
    except StopIteration:
        return
    t = v.start_t + v.phase
    static_every = 240.0 if v.cls == "SART" else STATIC_INTERVAL_S
    next_static = v.start_t + rng.uniform(0.0, static_every)
    heading = rng.uniform(0, 360)  # at anchor the heading swings slowly
    channel = rng.random() < 0.5
    while True:
        ts = min(t, next_static)
        if ts >= stop:
            return
        while leg.t1 <= ts:
            try:
                leg = next(v.legs)
            except StopIteration:
                return
        if next_static <= t:
            if not _silenced(v, next_static):
                lat, lon = leg.at(next_static)
                yield Msg(next_static, lon, _static_payloads(v, leg.dest, next_static), v.quiet)
            next_static += static_every + rng.uniform(-3.0, 3.0)
            continue
        lat, lon = leg.at(t)
        # GPS noise of a few metres
        lat += rng.gauss(0.0, 2e-5)
        lon += rng.gauss(0.0, 2e-5)
        if v.spoof is not None:
            lat, lon = v.spoof(t, lat, lon)
        if leg.anchored:
            heading = (heading + rng.gauss(0.0, 3.0)) % 360
            sog = round(abs(rng.gauss(0.0, 0.05)), 1)
            cog = round(rng.uniform(0, 359.9), 1)
            hdg = int(heading) % 360
        else:
            sog = round(max(0.0, leg.sog + rng.gauss(0.0, 0.05)), 1)
            cog = round((leg.cog + rng.gauss(0.0, 0.6)) % 360, 1)
            hdg = int(round(cog + rng.gauss(0.0, 1.0))) % 360
        second = int(t) % 60
        if v.cls == "B":
            payload = {
                "type": 18,
                "mmsi": v.mmsi,
                "speed": sog,
                "accuracy": 1,
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "course": cog,
                "heading": 511 if v.ship_type in (36, 37) else hdg,
                "second": second,
                "cs": 1,
                "display": 0,
                "dsc": 1,
                "band": 1,
                "msg22": 1,
                "radio": 393222,
            }
            interval = cadence.class_b if sog >= 2.0 else cadence.class_b_slow
        else:
            mtype = 3 if (v.cls == "A" and rng.random() < v.msg3_share) else 1
            payload = {
                "type": mtype,
                "mmsi": v.mmsi,
                "status": leg.status,
                "turn": 0.0,
                "speed": sog,
                "accuracy": 1,
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "course": cog,
                "heading": 511 if v.cls == "SART" else hdg,
                "second": second,
                "maneuver": 0,
                "raim": 0,
                "radio": rng.randrange(1 << 19),
            }
            if v.cls == "SART":
                interval = cadence.sart
            elif leg.anchored:
                interval = cadence.anchored_a
            else:
                interval = cadence.underway_a
        payload["_channel"] = "A" if channel else "B"
        channel = not channel
        if not _silenced(v, t):
            yield Msg(t, lon, [payload], v.quiet)
        t += interval * rng.uniform(0.97, 1.03)


# ----------------------------------------------------------------------------- itineraries

SPEEDS = {  # knots, by role
    "cargo": (12.0, 16.5),
    "container": (16.0, 20.0),
    "tanker": (11.0, 14.5),
    "passenger": (15.0, 19.0),
    "fishing_a": (9.0, 11.0),
    "fast": (33.0, 35.0),
    "fishing_b": (7.0, 9.0),
    "pleasure": (6.0, 8.0),
}
FAST_PAIRS = (
    ("ADEN", "DJIBOUTI"),
    ("KOCHI", "COLOMBO"),
    ("CHENNAI", "VIZAG"),
    ("VIZAG", "PARADIP"),
)


def anchor_spot(rng: random.Random, port: str) -> tuple[float, float]:
    p = PORTS[port]
    for _ in range(200):
        la, lo = offset(p.lat, p.lon, rng.uniform(0, 360), rng.uniform(0.2, 1.2))
        if not near_land([la], [lo], 0.3)[0]:
            return la, lo
    return p.lat, p.lon


def next_destination(rng: random.Random, role: str, here: str, home: str) -> str:
    """Where a vessel at ``here`` goes next."""
    if role in ("fishing_a", "fishing_b", "pleasure"):
        if here in FISHING_GROUNDS or here not in PORTS:
            return home
        grounds = sorted(g for g, (_, _, h) in FISHING_GROUNDS.items() if h == home)
        return rng.choice(grounds)
    if role == "fast":
        for a, b in FAST_PAIRS:
            if here == a:
                return b
            if here == b:
                return a
        return home
    choices = [
        p
        for p in sorted(PORTS)
        if p != here and 150.0 <= path_length(shortest_path(here, p)) <= 4500.0
    ]
    return rng.choice(choices)


def dwell_s(rng: random.Random, role: str) -> float:
    if role == "fast":
        return rng.uniform(0.5, 1.5) * 3600
    if role in ("fishing_a", "fishing_b", "pleasure"):
        return rng.uniform(2.0, 8.0) * 3600
    return rng.uniform(1.0, 6.0) * 3600


def _voyage(
    tr: Track, rng: random.Random, path: tuple[str, ...], sog: float, from_anchor: bool
) -> None:
    """Sail ``path`` (the first node is where the track already is, roughly). Ends at an
    anchor spot when the last node is a port, slowing down inside its anchorage."""
    pts = [node_pos(n) for n in path[1:]]
    last = path[-1]
    if from_anchor:
        la, lo = pts[0]
        brg = bearing(tr.lat, tr.lon, la, lo)
        step = min(1.0, distance_nm(tr.lat, tr.lon, la, lo) / 2)
        tr.go_bearing(brg, step, min(6.0, sog))
    if last in PORTS:
        spot = anchor_spot(rng, last)
        for la, lo in pts[:-1]:
            tr.go(la, lo, sog)
        # the final approach: full speed to 1.5 nm short of the spot, then slow
        d = distance_nm(tr.lat, tr.lon, *spot)
        if d > 1.5:
            brg = bearing(tr.lat, tr.lon, *spot)
            la, lo = offset(tr.lat, tr.lon, brg, d - 1.5)
            tr.go(la, lo, sog)
        tr.go(spot[0], spot[1], min(5.0, sog))
    else:
        for la, lo in pts:
            tr.go(la, lo, sog)


def _trawl(tr: Track, rng: random.Random, status: int) -> None:
    """A box of 2-3 nm sides at trawling speed (well above the encounter threshold)."""
    side = rng.uniform(2.0, 3.0)
    brg = rng.uniform(0, 90)
    speed = rng.uniform(3.8, 4.6)
    for _ in range(rng.randint(1, 2)):
        for k in range(4):
            tr.go_bearing(brg + 90 * k, side, speed, status)


def itinerary(
    rng: random.Random,
    role: str,
    home: str,
    tr: Track,
    state: str,
    here: str,
    start_t: float | None = None,
    sog: float | None = None,
    first_dest: str | None = None,
) -> Iterator[Leg]:
    """Endless legs from the track's end. ``state`` is "anchored" (at port ``here``, waits
    there first), "depart" (at port ``here``, leaves at once) or "node" (at or near graph node
    ``here``, sails on). Legs ending before ``start_t`` are dropped (a voyage already under
    way when the simulation starts)."""
    sog = sog or rng.uniform(*SPEEDS[role])
    status_underway = 7 if role == "fishing_a" else 0
    while True:
        if here in PORTS:
            tr.dest = PORTS[here].locode
        if state == "anchored":
            tr.hold(dwell_s(rng, role), status=5 if role in ("fishing_b", "pleasure") else 1)
        elif state == "node" and distance_nm(tr.lat, tr.lon, *node_pos(here)) > 0.05:
            tr.go(*node_pos(here), sog)
        dest = first_dest or next_destination(rng, role, here, home)
        first_dest = None
        path = shortest_path(here, dest)
        tr.dest = PORTS[dest].locode if dest in PORTS else PORTS[home].locode
        _voyage(tr, rng, path, sog, from_anchor=(state != "node"))
        if dest in FISHING_GROUNDS:
            _trawl(tr, rng, status_underway if role == "fishing_a" else 0)
            here, state = dest, "node"
        else:
            here, state = dest, "anchored"
        legs, tr.legs = tr.legs, []
        for leg in legs:
            if start_t is None or leg.t1 > start_t:
                yield leg
