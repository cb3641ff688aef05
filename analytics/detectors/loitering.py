"""loitering: SOG below ``loitering_max_sog_kn`` for at least ``loitering_min_duration_min``,
outside port and anchorage zones. The alert runs from the first to the last slow fix.

A slow run is a vessel's consecutive slow fixes outside quiet zones; a fix at or above the
speed, or inside a quiet zone, ends it, and so does a silence of the vessel longer than
``encounter_max_interpolation_h`` (fixes that far apart are not joined) or an outage of the
whole feed (the engine cuts every episode). A fix without any speed (reported or derived)
leaves the run as it is.

Most slow vessels are doing something ordinary, and say so or show it. The run raises no alert
(it is *explained*) when, at any time before the alert would open, the vessel:

* reports a navigational status in ``loitering_quiet_nav_status`` (at anchor, moored, fishing);
* is of a type in ``loitering_ignore_ship_types`` (fishing, pleasure craft, tugs, pilots...);
* lies within ``loitering_min_shore_nm`` of the coast (anchorages, berths, pilot stations),
  unless it is stopped where at least ``fairway_min_vessels`` vessels passed under way (a
  fairway or a canal: a grounding, a breakdown);
* is at a stop place learned from the traffic (``stop_place_min_vessels`` other vessels
  stopped there: an anchorage, a terminal, a queue before a canal).

A vessel reporting aground or not under command is never explained away.

Every run that lasts ``stop_place_min_stop_min`` is recorded as a stop in the shared
``StopPlaces``, which is how stop places are learned. An open alert ends when the run ends or
when the vessel starts reporting a quiet status.

Vessel slot: ``loiter`` (the current slow run, or None).
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import NM_M
from ..zones import ZoneSet
from ._text import minutes, r1

__all__ = ["Loitering"]

_STATUS = {
    1: "at anchor",
    5: "moored",
    7: "engaged in fishing",
    2: "not under command",
    6: "aground",
}
_DISTRESSED = frozenset((2, 6))  # not under command, aground: never explained away
_STOPPED_KN = 0.5  # stopped, not just slow


class _Run:
    __slots__ = (
        "first",
        "lat",
        "lon",
        "last",
        "n",
        "sum_sog",
        "max_sog",
        "derived",
        "handle",
        "near",
        "explained",
        "stopped",
        "statuses",
        "fairway",
    )

    def __init__(self, ts: float, lat: float, lon: float, sog: float, derived: bool):
        self.first = self.last = ts
        self.lat, self.lon = lat, lon
        self.n = 1
        self.sum_sog = self.max_sog = sog
        self.derived = derived
        self.handle = None
        self.near = None  # (port name, nm) when the alert opened
        self.explained: str | None = None  # why this run raises nothing
        self.stopped = False  # recorded as a stop in the stop places
        self.statuses: set[int] = set()  # navigational statuses reported during the run
        self.fairway = False  # stopped where many vessels pass under way


class Loitering:
    kind = "loitering"

    def __init__(
        self, config: AnalyticsConfig, book: AlertBook, zones: ZoneSet, places=None, land=None
    ):
        self.book = book
        self.zones = zones
        self.places = places  # StopPlaces, or None
        self.land = land  # LandMask, or None
        self.max_sog = config.loitering_max_sog_kn
        self.min_s = config.loitering_min_duration_min * 60.0
        self.max_gap = config.encounter_max_interpolation_h * 3600.0
        self.quiet_status = config.ints("loitering_quiet_nav_status")
        self.ignore_types = config.ints("loitering_ignore_ship_types")
        self.shore_km = config.loitering_min_shore_nm * NM_M / 1000.0
        self.stop_s = config.stop_place_min_stop_min * 60.0
        self.fairway_vessels = config.fairway_min_vessels
        self.explained = 0  # runs that reached the duration but were explained

    def on_fix(self, v, ts: float, sog: float) -> None:
        run = v.loiter
        if sog >= self.max_sog or v.hit.quiet:
            if run is not None:
                self.end(v)
            return
        if run is not None and ts - run.last > self.max_gap:
            self.end(v)  # too long unseen to say it stayed slow in between
            run = None
        if run is None:
            run = v.loiter = _Run(ts, v.lat, v.lon, sog, v.sog_derived)
            self._note_status(v, run)
            return
        run.last = ts
        run.n += 1
        run.sum_sog += sog
        if sog > run.max_sog:
            run.max_sog = sog
        run.derived = run.derived or v.sog_derived
        self._note_status(v, run)
        if not run.stopped and ts - run.first >= self.stop_s and self.places is not None:
            run.stopped = True
            self.places.add(v.mmsi, run.lat, run.lon, ts)
        if run.handle is not None:
            if v.nav_status in self.quiet_status:
                self.end(v)  # it explains itself now: at anchor, moored
                return
            self.book.update(run.handle, ts)
        elif run.explained is None and ts - run.first >= self.min_s:
            run.explained = self._explain(v, run, ts)
            if run.explained is not None:
                self.explained += 1
                return
            nearest = self.zones.nearest(run.lat, run.lon)
            run.near = None if nearest is None else (nearest[0].name, nearest[1])
            run.handle = self.book.open(
                self.kind,
                v.mmsi,
                run.first,
                run.lat,
                run.lon,
                lambda a: self._describe(run, a),
                last=ts,
            )

    def _note_status(self, v, run: _Run) -> None:
        status = v.nav_status
        if status is not None and status != 15:
            run.statuses.add(status)
            if (
                status in self.quiet_status
                and run.explained is None
                and run.handle is None
                and not run.statuses & _DISTRESSED
            ):
                run.explained = f"reports {_STATUS.get(status, f'status {status}')}"

    def _explain(self, v, run: _Run, ts: float) -> str | None:
        """Why this slow vessel is doing something ordinary, or None. A vessel reporting
        aground or not under command is never ordinary; nor is one stopped for the duration
        where many vessels pass under way (a fairway, a canal), however near the coast."""
        if run.statuses & _DISTRESSED:
            return None
        if v.ship_type in self.ignore_types:
            return f"ship type {v.ship_type}"
        places = self.places
        if places is not None and places.busy(run.lat, run.lon, ts, (v.mmsi,)):
            return "at a place where vessels stop"
        if (
            self.land is not None
            and self.shore_km > 0
            and self.land.distance_km(run.lat, run.lon, True, self.shore_km) < self.shore_km
        ):
            if (
                places is not None
                and run.max_sog < _STOPPED_KN
                and places.passed_near(run.lat, run.lon, ts, (v.mmsi,)) >= self.fairway_vessels
            ):
                run.fairway = True
                return None
            return "near the coast"
        return None

    def end(self, v) -> None:
        run = v.loiter
        v.loiter = None
        if run is not None and run.handle is not None:
            self.book.close(run.handle, run.last)

    def _describe(self, run: _Run, alert) -> dict:
        duration = run.last - alert.start
        mean = run.sum_sog / run.n
        text = f"SOG under {self.max_sog:g} kn for {minutes(duration)} min"
        details = {
            "duration_min": minutes(duration),
            "mean_sog_kn": r1(mean),
            "max_sog_kn": r1(run.max_sog),
            "fixes": run.n,
            "sog_source": "derived from positions" if run.derived else "reported",
            "threshold_sog_kn": self.max_sog,
            "threshold_min": self.min_s / 60.0,
        }
        if run.near is not None:
            name, nm = run.near
            # The name stands on its own between commas: zone names may hold parentheses.
            text += f", {nm:.0f} nm from {name}, the nearest port or anchorage"
            details["nearest_port"] = name
            details["nearest_port_nm"] = round(nm, 1)
        if run.fairway:
            text += ", stopped where many vessels pass under way (a fairway)"
            details["fairway"] = True
        reported = sorted(s for s in run.statuses if s in _DISTRESSED)
        if reported:
            said = " and ".join(_STATUS[s] for s in reported)
            text += f"; reports {said}"
            details["nav_status"] = reported
        details["text"] = text
        return details
