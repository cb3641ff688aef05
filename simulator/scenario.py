"""Scenarios: quiet traffic plus cycles of injected anomalies, rendered as NMEA lines with a
ground truth. ``Scenario`` is lazy and may be endless (the demo); ``simulate`` writes the
three files of ``mda simulate``; ``demo_scenario`` is what ``mda demo`` plays.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ._actors import ACTOR_KINDS, Cycle, build_cycle
from ._ids import ROLE_CLASS, Registry
from ._nmea import Renderer
from ._traffic import (
    FAST_PAIRS,
    SPEEDS,
    Cadence,
    Msg,
    Track,
    Vessel,
    anchor_spot,
    itinerary,
    next_destination,
    vessel_messages,
)
from .routes import PORTS, path_length, shortest_path, zones_geojson

__all__ = [
    "Scenario",
    "simulate",
    "demo_scenario",
    "demo_segments",
    "DemoScenario",
    "DemoSegments",
    "output_paths",
    "DEFAULT_START",
    "ROLE_MIX",
]

DEFAULT_START = "2025-01-15T06:00:00Z"  # fixed, so a seed alone decides the output
ACTORS_PER_CYCLE = 11  # vessels (transmitters) the anomalies of one cycle add
ROLE_MIX = (
    ("cargo", 0.22),
    ("container", 0.12),
    ("tanker", 0.19),
    ("passenger", 0.05),
    ("fishing_a", 0.09),
    ("fast", 0.04),
    ("fishing_b", 0.17),
    ("pleasure", 0.12),
)


def parse_time(text: str | float | datetime | None) -> float:
    if text is None:
        text = DEFAULT_START
    if isinstance(text, (int, float)):
        return float(text)
    if isinstance(text, datetime):
        dt = text
    else:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass
class Scenario:
    """``vessels`` counts the quiet traffic and the first cycle's actors together (at least
    the actors). Every ``cycle_hours`` a new set of actors starts (new MMSIs), one per kind,
    each left out when its episode cannot finish before the end. ``hours=None`` runs
    forever."""

    start: float | str | datetime | None = None
    seed: int = 1
    vessels: int = 60
    hours: float | None = 3.0
    cycle_hours: float = 3.0
    cadence: Cadence = field(default_factory=Cadence)
    junk: bool = True
    kinds: tuple[str, ...] = ACTOR_KINDS

    def __post_init__(self) -> None:
        self.t0 = parse_time(self.start)
        self.end_t = math.inf if self.hours is None else self.t0 + self.hours * 3600.0
        self.truth: list[dict] = []  # grows as cycles start
        self.actors: list[Vessel] = []
        self.registry = Registry(self.seed)
        self.renderer = Renderer(self.seed, junk=self.junk)
        n_quiet = max(0, self.vessels - ACTORS_PER_CYCLE)
        self.quiet = [self._quiet_vessel(i) for i in range(n_quiet)]

    # ------------------------------------------------------------------ quiet traffic

    def _quiet_vessel(self, i: int) -> Vessel:
        rng = random.Random(f"{self.seed}:quiet:{i}")
        roles = [r for r, _ in ROLE_MIX]
        role = roles[i] if i < len(roles) else rng.choices(roles, [w for _, w in ROLE_MIX])[0]
        ident = self.registry.identity(role)
        home = self.registry.home_port(rng, role)
        sog = rng.uniform(*SPEEDS[role])
        t = self.t0
        fishing = role in ("fishing_a", "fishing_b", "pleasure")
        if role == "fast":
            pair = FAST_PAIRS[i % len(FAST_PAIRS)]
            home = pair[0]
        at_anchor = rng.random() < (0.4 if fishing else 0.2)
        if at_anchor:
            spot = anchor_spot(rng, home)
            tr = Track(t - rng.uniform(0.0, 3.0) * 3600.0, *spot)
            legs = itinerary(rng, role, home, tr, "anchored", home, start_t=t, sog=sog)
        else:
            origin = home if (fishing or role == "fast") else rng.choice(sorted(PORTS))
            dest = next_destination(rng, role, origin, home)
            hours = path_length(shortest_path(origin, dest)) / sog + (2.0 if fishing else 0.0)
            spot = anchor_spot(rng, origin)
            tr = Track(t - rng.uniform(0.05, 0.95) * hours * 3600.0, *spot)
            legs = itinerary(
                rng, role, home, tr, "depart", origin, start_t=t, sog=sog, first_dest=dest
            )
        return Vessel(
            legs=legs,
            start_t=t,
            rng=rng,
            quiet=True,
            phase=rng.uniform(0.0, 30.0 if ROLE_CLASS[role] == "B" else 10.0),
            **ident,
        )

    # ------------------------------------------------------------------ the merge

    def messages(self) -> Iterator[Msg]:
        """Every transmission in time order (endless when ``hours`` is None)."""
        heap: list = []
        seq = itertools.count()

        def push(gen: Iterator[Msg]) -> None:
            m = next(gen, None)
            if m is not None:
                heapq.heappush(heap, (m.t, next(seq), m, gen))

        for v in self.quiet:
            push(vessel_messages(v, self.end_t, self.cadence))
        cycle_s = self.cycle_hours * 3600.0
        heapq.heappush(heap, (self.t0, next(seq), None, 0))  # the first cycle's spawner
        while heap:
            t, _, m, gen = heapq.heappop(heap)
            if m is None:  # a cycle starts
                k = gen
                vessels, truth = build_cycle(
                    Cycle(k, t, cycle_s, self.end_t, self.seed, self.registry), self.kinds
                )
                self.truth += truth
                self.actors += vessels
                for v in vessels:
                    push(vessel_messages(v, self.end_t, self.cadence))
                if t + cycle_s < self.end_t:
                    heapq.heappush(heap, (t + cycle_s, next(seq), None, k + 1))
                continue
            yield m
            push(gen)

    def timed_lines(self) -> Iterator[tuple[float, str]]:
        """(event time, line) in time order."""
        for m in self.messages():
            for line in self.renderer.render(m):
                yield m.t, line

    def lines(self) -> Iterator[str]:
        for _, line in self.timed_lines():
            yield line

    def zones(self) -> dict:
        return zones_geojson()

    @property
    def counts(self) -> dict:
        return dict(self.renderer.counts)


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """FILE.nmea -> (FILE.nmea, FILE.truth.jsonl, FILE.zones.geojson)."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() == ".nmea" else out
    return out, Path(f"{stem}.truth.jsonl"), Path(f"{stem}.zones.geojson")


def simulate(
    out: str | Path,
    *,
    hours: float = 3.0,
    vessels: int = 60,
    seed: int = 1,
    start: str | float | None = None,
    cycle_hours: float = 3.0,
    cadence: Cadence | None = None,
) -> dict:
    """Write FILE.nmea, FILE.truth.jsonl and FILE.zones.geojson; return a summary."""
    sc = Scenario(
        start=start,
        seed=seed,
        vessels=vessels,
        hours=hours,
        cycle_hours=cycle_hours,
        cadence=cadence or Cadence(),
    )
    nmea, truth_path, zones_path = output_paths(out)
    nmea.parent.mkdir(parents=True, exist_ok=True)
    with nmea.open("w", encoding="ascii", newline="\n") as fh:
        buf: list[str] = []
        for line in sc.lines():
            buf.append(line)
            if len(buf) >= 10000:
                fh.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            fh.write("\n".join(buf) + "\n")
    with truth_path.open("w", encoding="utf-8") as fh:
        for rec in sorted(sc.truth, key=lambda r: (r["start"], r["kind"])):
            fh.write(json.dumps(rec) + "\n")
    zones_path.write_text(json.dumps(sc.zones(), indent=1) + "\n", encoding="utf-8")
    return {
        "nmea": str(nmea),
        "truth": str(truth_path),
        "zones": str(zones_path),
        "anomalies": len(sc.truth),
        "vessels": len({v.mmsi for v in sc.quiet} | {v.mmsi for v in sc.actors}),
        "quiet_vessels": len(sc.quiet),
        "start": sc.t0,
        "end": sc.end_t,
        **sc.counts,
    }


@dataclass
class DemoScenario:
    """What the demo plays: ``lines`` (a list, or a lazy iterator for a segment), ``truth``
    (the injected anomalies so far) and ``zones`` (GeoJSON to load beside the built-in
    zones). Unpacks as ``lines, truth = demo_scenario(...)``."""

    lines: list[str] | Iterator[str]
    truth: list[dict]
    zones: dict

    def __iter__(self):
        return iter((self.lines, self.truth))


def _now() -> float:
    return datetime.now(UTC).replace(microsecond=0).timestamp()


def demo_scenario(
    start: str | float | datetime | None = None,
    seed: int = 1,
    hours: float = 2.0,
    vessels: int = 150,
    cycle_hours: float = 2.0,
) -> DemoScenario:
    """The built-in demo for ``hours`` from ``start`` (default: now), all lines at once.

    Played at 60x: the distress beacon rings 2 min (scenario time) after the start, identity
    clash and wrong way within ~15 min, zone entry and on-land spoofing within ~20 min, the
    position jump within ~36 min (the analytics hold a jump 10 min to tell it from a clash), the
    encounter within ~45 min, loitering and lane deviation within ~75 min, so
    five kinds show within 20 s of wall time and nine within 2 minutes (the AIS gap needs
    2 h 8 min). It relies on ``zones`` (the restricted zone, the anchorages).
    """
    sc = Scenario(
        start=_now() if start is None else start,
        seed=seed,
        vessels=vessels,
        hours=hours,
        cycle_hours=cycle_hours,
    )
    lines = list(sc.lines())
    return DemoScenario(lines, sc.truth, sc.zones())


class DemoSegments:
    """An endless demo cut into segments: ``segments(i)`` is a :class:`DemoScenario` whose
    lazy ``lines`` cover ``[start + i*hours, start + (i+1)*hours)``. Call it with i = 0, 1,
    2, ... and play each segment before asking for the next. All segments come from one
    scenario: the same vessels sail on across the cuts (restarting a scenario instead would
    make every vessel jump or go silent), and a new set of anomalies starts every
    ``cycle_hours``."""

    def __init__(
        self,
        start: str | float | datetime | None = None,
        seed: int = 1,
        vessels: int = 150,
        hours: float = 2.0,
        cycle_hours: float = 2.0,
    ):
        self.scenario = Scenario(
            start=_now() if start is None else start,
            seed=seed,
            vessels=vessels,
            hours=None,
            cycle_hours=cycle_hours,
        )
        self.hours = hours
        self._lines = self.scenario.timed_lines()
        self._held: tuple[float, str] | None = None
        self._next = 0

    def __call__(self, i: int) -> DemoScenario:
        if i != self._next:
            raise ValueError(f"demo segments are played in order: expected {self._next}, got {i}")
        self._next += 1
        end = self.scenario.t0 + (i + 1) * self.hours * 3600.0
        return DemoScenario(self._segment(end), self.scenario.truth, self.scenario.zones())

    def _segment(self, end: float) -> Iterator[str]:
        if self._held is not None:
            if self._held[0] >= end:
                return
            yield self._held[1]
            self._held = None
        for t, line in self._lines:
            if t >= end:
                self._held = (t, line)
                return
            yield line


def demo_segments(
    start: str | float | datetime | None = None,
    seed: int = 1,
    vessels: int = 150,
    hours: float = 2.0,
    cycle_hours: float = 2.0,
) -> DemoSegments:
    """See :class:`DemoSegments`: ``segments = demo_segments(start=...)``, then
    ``segments(0).lines``, ``segments(1).lines``, ..."""
    return DemoSegments(start, seed, vessels, hours, cycle_hours)
