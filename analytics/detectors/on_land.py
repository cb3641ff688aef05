"""on_land: a vessel is reported on land, outside port and anchorage zones, where no ship can
be: the positions are false (GNSS spoofing, a faulty receiver).

The land mask is the 1 km global mask (``landmask``): it calls rivers, canals, fjords, harbour
basins and jetties land, and real feeds carry corrupted single fixes. So a position on the
mask's land is evidence only when all of these hold over one run of consecutive fixes on land:

* the fix's cell and, with ``on_land_margin_cells``, the cells around it are land;
* the run reaches at least ``on_land_min_inland_km`` from the mask's water (quays, basins and
  narrow fjords lie within a cell or two of it);
* it has at least ``on_land_min_fixes`` fixes over at least ``on_land_min_duration_min`` (a
  single corrupted fix is the jump rules' business: a data-quality notice);
* the positions contradict the vessel's own reports on at least ``on_land_min_inconsistent``
  steps between fixes: they move much faster than the reported SOG, or not at all while the
  vessel reports way on, or across its reported course; or the run began with an impossible
  jump onto land. A ship steaming along a river or a canal, or lying at a quay the mask calls
  land, reports what its positions show and got there by sailing; a spoofed track does not.

The alert starts at the first fix of the run and opens once the evidence is complete.

Vessel slot: ``land`` (the current run on land, or None).
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import angle_between, bearing_deg, distance_nm
from ._text import minutes, position, r1

__all__ = ["OnLand"]

_MIN_STEP_S = 60.0  # a step shorter than this says nothing about speed (GPS noise)
_SLACK_KN = 4.0  # positions may outrun the reported SOG by this much (noise, rounding) ...
_FACTOR = 2.0  # ... and by this factor
_FROZEN_KN = 3.0  # a vessel reporting at least this speed ...
_FROZEN_SHARE = 0.2  # ... whose positions move less than this share of it is frozen
_COURSE_DEG = 90.0  # moving across the reported course by more than this
_MIN_MOVE_NM = 0.1  # ... over at least this distance (shorter moves are noise)


class _Run:
    __slots__ = (
        "first",
        "last",
        "n",
        "lat",
        "lon",
        "last_lat",
        "last_lon",
        "last_sog",
        "last_cog",
        "max_inland_km",
        "inconsistent",
        "steps",
        "worst",
        "handle",
        "qualified",
        "ref_t",
        "ref_lat",
        "ref_lon",
        "ref_sog",
    )

    def __init__(self, ts: float, lat: float, lon: float, sog, cog, inland_km: float):
        self.first = self.last = ts
        self.n = 1
        self.lat, self.lon = lat, lon
        self.last_lat, self.last_lon = lat, lon
        self.last_sog, self.last_cog = sog, cog
        self.ref_t, self.ref_lat, self.ref_lon, self.ref_sog = ts, lat, lon, sog  # step start
        self.max_inland_km = inland_km
        self.inconsistent = 0  # steps whose movement contradicts the reports
        self.steps = 0  # steps judged
        self.worst: str | None = None  # the plainest contradiction, for the text
        self.handle = None
        self.qualified = False  # long and far enough inland: only the reports spoke for it


class OnLand:
    kind = "on_land"

    def __init__(self, config: AnalyticsConfig, book: AlertBook, land):
        self.book = book
        self.land = land
        self.margin = config.on_land_margin_cells
        self.min_inland_km = config.on_land_min_inland_km
        self.min_fixes = config.on_land_min_fixes
        self.min_s = config.on_land_min_duration_min * 60.0
        self.min_inconsistent = config.on_land_min_inconsistent
        self.explained = 0  # runs long enough on land that matched the vessel's reports

    def on_fix(self, v, ts: float, on_land: bool, jumped: bool = False) -> None:
        run = v.land
        if not on_land:
            if run is not None:
                self.end(v)
            return
        inland = self.land.distance_km(v.lat, v.lon, False, 2.0 * max(self.min_inland_km, 1.0))
        if run is None:
            run = v.land = _Run(ts, v.lat, v.lon, v.sog, v.cog, inland)
            if jumped:  # it came on land by an impossible jump, not by sailing up a river
                run.inconsistent = self.min_inconsistent
                run.worst = "arrived there by an impossible jump"
            return
        self._judge_step(run, ts, v)
        run.last, run.n = ts, run.n + 1
        run.last_lat, run.last_lon = v.lat, v.lon
        run.last_sog, run.last_cog = v.sog, v.cog
        run.max_inland_km = max(run.max_inland_km, inland)
        if run.handle is not None:
            self.book.update(run.handle, ts)
        elif (
            run.n >= self.min_fixes
            and ts - run.first >= self.min_s
            and run.max_inland_km >= self.min_inland_km
        ):
            run.qualified = True
            if run.inconsistent >= self.min_inconsistent:
                run.handle = self.book.open(
                    self.kind,
                    v.mmsi,
                    run.first,
                    run.lat,
                    run.lon,
                    lambda a: self._describe(run, a),
                    last=ts,
                )

    def _judge_step(self, run: _Run, ts: float, v) -> None:
        """Do the positions from the run's reference fix to this one match what the vessel
        reports? A step spans at least a minute (shorter ones turn GPS noise into knots);
        the reference moves on to this fix once a step is judged."""
        dt = ts - run.ref_t
        if dt < _MIN_STEP_S:
            return
        ref_lat, ref_lon, ref_sog = run.ref_lat, run.ref_lon, run.ref_sog
        run.ref_t, run.ref_lat, run.ref_lon, run.ref_sog = ts, v.lat, v.lon, v.sog
        run.steps += 1
        moved = distance_nm(ref_lat, ref_lon, v.lat, v.lon)
        implied = moved / (dt / 3600.0)
        sogs = [s for s in (ref_sog, v.sog) if s is not None]
        if not sogs or v.sog_derived:
            return  # nothing reported to compare with
        sog = sum(sogs) / len(sogs)
        why = None
        if implied > _FACTOR * sog + _SLACK_KN:
            why = f"positions moving at {implied:.0f} kn while reporting {sog:.1f} kn"
        elif sog >= _FROZEN_KN and implied < _FROZEN_SHARE * sog:
            why = f"positions standing still while reporting {sog:.1f} kn"
        elif (
            v.cog is not None
            and sog >= _FROZEN_KN
            and moved >= _MIN_MOVE_NM
            and angle_between(bearing_deg(ref_lat, ref_lon, v.lat, v.lon), v.cog) > _COURSE_DEG
        ):
            why = f"positions moving across the reported course {v.cog:.0f} deg"
        if why is not None:
            run.inconsistent += 1
            run.worst = run.worst or why

    def end(self, v) -> None:
        run = v.land
        v.land = None
        if run is not None:
            if run.handle is not None:
                self.book.close(run.handle, run.last)
            elif run.qualified:
                self.explained += 1  # on the mask's land, but moving as it reported

    def _describe(self, run: _Run, alert) -> dict:
        text = (
            f"Reported on land at {position(run.lat, run.lon)}, up to "
            f"{run.max_inland_km:.0f} km from water, {run.n} fixes over "
            f"{minutes(run.last - alert.start)} min; {run.worst}"
        )
        return {
            "fixes": run.n,
            "first_position": [round(run.lat, 5), round(run.lon, 5)],
            "last_position": [round(run.last_lat, 5), round(run.last_lon, 5)],
            "duration_min": minutes(run.last - alert.start),
            "inland_km": r1(run.max_inland_km),
            "contradictions": run.inconsistent,
            "steps": run.steps,
            "margin_cells": self.margin,
            "threshold_inland_km": self.min_inland_km,
            "threshold_fixes": self.min_fixes,
            "mask": "global-land-mask 1 km (GLOBE)",
            "text": text,
        }
