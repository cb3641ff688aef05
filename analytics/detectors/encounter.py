"""encounter: two vessels within ``encounter_max_distance_m`` of each other, both slower than
``encounter_max_sog_kn``, for at least ``encounter_min_duration_min``, outside port and
anchorage zones. The alert names both (``mmsi`` is the lower MMSI, ``other_mmsi`` the higher)
and runs from the first to the last time both conditions held.

Tracks are compared as Global Fishing Watch compares them: resampled. Every
``encounter_sample_min`` minutes of event time, each vessel's position is interpolated between
the two fixes around that moment (fixes further apart than ``encounter_max_interpolation_h``
are not joined), so a satellite track with a fix every hour or two meets its partner as
continuously as a coastal one. A moment is judged once both vessels have reported past it; the
speed at a moment is the SOG reported by the nearer fix (within 15 min), else the speed
between the two fixes. The condition must hold on consecutive samples; one sample apart (or
too fast, or not interpolable) ends the episode.

No all-pairs search: only vessels that could take part (slow, outside quiet zones, not moored)
sit in a grid of cells as tall as the search radius (the distance threshold plus room for the
partner's drift since its last fix), so a fix looks at nine cells at most and the cost per
message does not grow with the fleet.

What an officer would dismiss raises nothing; the alert is not opened (and the pair's
episode is marked *explained*) when:

* the pair is in a crowd: a vessel with ``encounter_crowd_neighbours`` or more slow vessels
  within reach (an anchorage the zones do not list, a fishing fleet);
* either vessel reports moored, or both at anchor (and they are not alongside, within 100 m);
* either is of a type whose work is to lie alongside others (``encounter_ignore_ship_types``:
  tugs, pilots, SAR, port tenders, law enforcement...);
* they lie within ``encounter_min_shore_nm`` of the coast (a berth, a harbour, an anchorage);
* the place is a stop place learned from the traffic (``stop_place_min_vessels`` other vessels
  stopped there).

Vessel slots: ``enc_cell`` (grid cell key, or None when not in the grid), ``pairs`` (other
mmsi -> pair, or None), ``trail`` (thinned recent fixes (ts, lat, lon, sog) while in the grid).
"""

from __future__ import annotations

from bisect import bisect_right
from math import ceil, cos, radians

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import NM_M, distance_nm
from ._text import minutes, r1

__all__ = ["Encounters"]

_M_PER_DEG = 111_195.0  # metres per degree of latitude on the mean sphere
_THIN_S = 120.0  # a trail keeps at most one fix per this long (plus the latest)
_MAX_TRAIL = 400  # fixes per trail: 12 h at the thinning step, bounded memory
_NEAR_FIX_S = 900.0  # a reported SOG stands for the vessel's speed this long around its fix
_SEARCH_SLACK_M = 1000.0  # room for a partner's drift since its last fix
_MIN_DRIFT_KN = 0.5  # a stopped vessel's position is still this uncertain per hour
_DISCOVER_EVERY_S = 60.0  # a vessel in the grid looks for partners at most this often
_ALONGSIDE_M = 100.0  # two vessels at anchor this close are rafted together, not neighbours


class _Run:
    __slots__ = (
        "first",
        "last",
        "n",
        "sum_lat",
        "sum_lon",
        "min_m",
        "sum_m",
        "sog_a",
        "sog_b",
        "handle",
        "explained",
    )

    def __init__(self, t: float):
        self.first = self.last = t
        self.n = 0
        self.sum_lat = self.sum_lon = 0.0
        self.min_m = float("inf")
        self.sum_m = 0.0
        self.sog_a = self.sog_b = None
        self.handle = None
        self.explained: str | None = None  # why this episode raises nothing


class _Pair:
    __slots__ = ("a", "b", "next_t", "run", "crowd", "progress")

    def __init__(self, a, b, next_t: float, now: float):
        self.a, self.b = a, b  # vessels, a.mmsi < b.mmsi
        self.next_t = next_t  # the next sample time to judge
        self.run: _Run | None = None
        self.crowd = False  # seen in a crowd: never alerts
        self.progress = now  # feed time when a sample was last judged


class Encounters:
    kind = "encounter"

    def __init__(self, config: AnalyticsConfig, book: AlertBook, places=None, land=None):
        self.book = book
        self.places = places  # StopPlaces, or None
        self.land = land  # LandMask, or None
        self.max_m = config.encounter_max_distance_m
        self.max_sog = config.encounter_max_sog_kn
        self.min_s = config.encounter_min_duration_min * 60.0
        self.step = config.encounter_sample_min * 60.0
        self.max_gap = config.encounter_max_interpolation_h * 3600.0
        self.max_age = config.encounter_max_fix_age_min * 60.0
        self.crowd = config.encounter_crowd_neighbours or 1_000_000
        self.ignore_types = config.ints("encounter_ignore_ship_types")
        self.shore_km = config.encounter_min_shore_nm * NM_M / 1000.0
        self.search_m = self.max_m + _SEARCH_SLACK_M
        self.per_deg = _M_PER_DEG / self.search_m  # grid cells per degree
        self.cols = int(ceil(360.0 * self.per_deg))
        self.grid: dict[int, dict[int, object]] = {}
        self.pairs: dict[tuple[int, int], _Pair] = {}
        self.explained = 0  # episodes that reached the duration but were explained

    # ----- fixes
    def on_fix(self, v, ts: float) -> None:
        """Called for a fix with a known speed when the vessel is slow or still in the grid."""
        leaving = v.sog >= self.max_sog or v.hit.quiet or v.nav_status == 5
        if v.enc_cell is not None:
            self._extend_trail(v, ts)
            if v.pairs:
                for pair in list(v.pairs.values()):
                    self._advance(pair, ts)
        if leaving:
            if v.enc_cell is not None:
                self.forget(v)
            return
        if v.enc_cell is None:
            v.trail = [(ts, v.lat, v.lon, v.sog)]
        cell = v.enc_cell
        self._place(v)
        # Partners are searched for when the vessel enters a cell and then once a minute:
        # a pair, once found, is followed through the trails, and a newcomer finds us.
        if v.enc_cell != cell or ts - v.disc_ts >= _DISCOVER_EVERY_S:
            v.disc_ts = ts
            self._discover(v, ts)

    def _extend_trail(self, v, ts: float) -> None:
        trail = v.trail
        fix = (ts, v.lat, v.lon, v.sog)
        if len(trail) >= 2 and ts - trail[-2][0] < _THIN_S:
            trail[-1] = fix  # keep the latest fix, thin the ones before it
        else:
            trail.append(fix)
        if len(trail) > _MAX_TRAIL or trail[0][0] < ts - self.max_gap - self.step:
            cut = 0
            while cut < len(trail) - 2 and (
                len(trail) - cut > _MAX_TRAIL or trail[cut + 1][0] < ts - self.max_gap - self.step
            ):
                cut += 1
            del trail[:cut]

    def _place(self, v) -> None:
        row = int((v.lat + 90.0) * self.per_deg)
        col = int((v.lon + 180.0) * self.per_deg) % self.cols
        key = row * (self.cols + 1) + col
        if key != v.enc_cell:
            if v.enc_cell is not None:
                self._leave_grid(v)
            cell = self.grid.get(key)
            if cell is None:
                cell = self.grid[key] = {}
            cell[v.mmsi] = v
            v.enc_cell = key

    def _discover(self, v, ts: float) -> None:
        """Pairs with the slow vessels near enough to have met: the partner's last fix, plus
        the drift it may have made since, within reach."""
        lat, lon = v.lat, v.lon
        row = int((lat + 90.0) * self.per_deg)
        col = int((lon + 180.0) * self.per_deg) % self.cols
        span = int(ceil(1.0 / max(cos(radians(lat)), 0.01)))
        oldest = ts - self.max_gap
        fresh = ts - self.max_age
        close = None
        grid = self.grid
        for r in (row - 1, row, row + 1):
            base = r * (self.cols + 1)
            for c in range(col - span, col + span + 1):
                cell = grid.get(base + c % self.cols)
                if not cell:
                    continue
                for o in cell.values():
                    if o is v or o.ts < oldest or o.sog is None or o.sog >= self.max_sog:
                        continue
                    d_m = distance_nm(lat, lon, o.lat, o.lon) * NM_M
                    reach = self.max_m + max(o.sog, _MIN_DRIFT_KN) * (ts - o.ts) / 3600.0 * NM_M
                    if d_m > min(reach, self.search_m):
                        continue
                    if o.ts >= fresh and d_m <= self.max_m:
                        if close is None:
                            close = []
                        close.append(o)
                    if v.pairs is None or o.mmsi not in v.pairs:
                        self._pair(v, o, ts)
        if close and len(close) >= self.crowd:
            for o in close:
                pair = v.pairs.get(o.mmsi) if v.pairs else None
                if pair is not None:
                    pair.crowd = True

    def _pair(self, v, o, ts: float) -> None:
        a, b = (v, o) if v.mmsi < o.mmsi else (o, v)
        start = max(a.trail[0][0], b.trail[0][0])
        pair = _Pair(a, b, ceil(start / self.step) * self.step, ts)
        self.pairs[(a.mmsi, b.mmsi)] = pair
        for x, y in ((a, b), (b, a)):
            if x.pairs is None:
                x.pairs = {}
            x.pairs[y.mmsi] = pair
        self._advance(pair, ts)

    # ----- samples
    def _advance(self, pair: _Pair, now: float) -> None:
        """Judge every sample time both vessels have reported past."""
        horizon = min(pair.a.ts, pair.b.ts)
        t = pair.next_t
        if t > horizon:
            return
        step = self.step
        while t <= horizon:
            pa = self._at(pair.a.trail, t)
            pb = self._at(pair.b.trail, t)
            if pa is None or pb is None:
                self._end_run(pair)
            else:
                d_m = distance_nm(pa[0], pa[1], pb[0], pb[1]) * NM_M
                if d_m <= self.max_m and pa[2] < self.max_sog and pb[2] < self.max_sog:
                    self._together(pair, t, pa, pb, d_m)
                else:
                    self._end_run(pair)
            t += step
        pair.next_t = t
        pair.progress = now

    def _at(self, trail, t: float):
        """(lat, lon, sog) of the vessel at ``t``, interpolated along its trail; None when
        ``t`` lies outside it or between fixes too far apart to join."""
        if not trail or t < trail[0][0] or t > trail[-1][0]:
            return None
        i = bisect_right(trail, t, key=lambda f: f[0])
        f0 = trail[i - 1]
        if f0[0] == t or i == len(trail):
            return f0[1], f0[2], f0[3] if f0[3] is not None else 0.0
        f1 = trail[i]
        gap = f1[0] - f0[0]
        if gap > self.max_gap:
            return None
        w = (t - f0[0]) / gap
        lat = f0[1] + (f1[1] - f0[1]) * w
        lon = f0[2] + (f1[2] - f0[2]) * w
        near = f0 if w <= 0.5 else f1
        if near[3] is not None and abs(near[0] - t) <= _NEAR_FIX_S:
            sog = near[3]
        else:
            sog = distance_nm(f0[1], f0[2], f1[1], f1[2]) / (gap / 3600.0)
        return lat, lon, sog

    def _together(self, pair: _Pair, t: float, pa, pb, d_m: float) -> None:
        run = pair.run
        if run is None:
            run = pair.run = _Run(t)
        run.last = t
        run.n += 1
        run.sum_lat += (pa[0] + pb[0]) * 0.5
        run.sum_lon += (pa[1] + pb[1]) * 0.5
        run.sum_m += d_m
        run.min_m = min(run.min_m, d_m)
        run.sog_a, run.sog_b = pa[2], pb[2]
        if run.handle is not None:
            self.book.update(run.handle, t)
        elif run.explained is None and t - run.first >= self.min_s:
            run.explained = self._explain(pair, run)
            if run.explained is not None:
                self.explained += 1
                return
            a, b = pair.a, pair.b
            run.handle = self.book.open(
                self.kind,
                a.mmsi,
                run.first,
                run.sum_lat / run.n,
                run.sum_lon / run.n,
                lambda al: self._describe(pair, run, al),
                last=t,
                other_mmsi=b.mmsi,
            )

    def _explain(self, pair: _Pair, run: _Run) -> str | None:
        """Why this meeting is ordinary, or None when an officer should look at it."""
        a, b = pair.a, pair.b
        if pair.crowd:
            return "in a crowd of slow vessels"
        if a.nav_status == 5 or b.nav_status == 5:
            return "moored"
        if a.nav_status == 1 and b.nav_status == 1 and run.min_m > _ALONGSIDE_M:
            return "both at anchor"
        if a.ship_type in self.ignore_types or b.ship_type in self.ignore_types:
            return "a service craft"
        lat, lon = run.sum_lat / run.n, run.sum_lon / run.n
        if (
            self.land is not None
            and self.shore_km > 0
            and self.land.distance_km(lat, lon, True, self.shore_km) < self.shore_km
        ):
            return "near the coast"
        if self.places is not None and self.places.busy(lat, lon, run.last, (a.mmsi, b.mmsi)):
            return "at a place where vessels stop"
        return None

    def _end_run(self, pair: _Pair) -> None:
        run = pair.run
        pair.run = None
        if run is not None and run.handle is not None:
            alert = run.handle.alert
            alert.lat, alert.lon = run.sum_lat / run.n, run.sum_lon / run.n
            self.book.close(run.handle, run.last)

    # ----- ends
    def _drop(self, pair: _Pair) -> None:
        self._end_run(pair)
        self.pairs.pop((pair.a.mmsi, pair.b.mmsi), None)
        for x, y in ((pair.a, pair.b), (pair.b, pair.a)):
            if x.pairs is not None:
                x.pairs.pop(y.mmsi, None)
                if not x.pairs:
                    x.pairs = None

    def _leave_grid(self, v) -> None:
        cell = self.grid.get(v.enc_cell)
        if cell is not None:
            cell.pop(v.mmsi, None)
            if not cell:
                del self.grid[v.enc_cell]
        v.enc_cell = None

    def sweep(self, now: float) -> None:
        """Drop pairs that can no longer be judged (a vessel silent past the interpolation
        limit) and pairs that have drifted apart."""
        for pair in list(self.pairs.values()):
            if now - pair.progress > self.max_gap:
                self._drop(pair)
            elif pair.run is None and min(pair.a.ts, pair.b.ts) >= pair.next_t - self.step:
                a, b = pair.a, pair.b
                if distance_nm(a.lat, a.lon, b.lat, b.lon) * NM_M > 2 * self.search_m:
                    self._drop(pair)

    def cut(self) -> None:
        """The whole feed stopped: end every episode at its last evidence, and join no track
        across the outage."""
        for cell in list(self.grid.values()):
            for v in list(cell.values()):
                self.forget(v)  # back in the grid with its next fix, with a fresh trail

    def forget(self, v) -> None:
        if v.pairs:
            for pair in list(v.pairs.values()):
                self._drop(pair)
        if v.enc_cell is not None:
            self._leave_grid(v)
        v.trail = None

    def _describe(self, pair: _Pair, run: _Run, alert) -> dict:
        duration = run.last - alert.start
        mean_m = run.sum_m / run.n
        return {
            "duration_min": minutes(duration),
            "min_distance_m": round(run.min_m),
            "mean_distance_m": round(mean_m),
            "samples": run.n,
            "sample_min": self.step / 60.0,
            "sog_kn": [r1(run.sog_a), r1(run.sog_b)],
            "threshold_distance_m": self.max_m,
            "threshold_sog_kn": self.max_sog,
            "threshold_min": self.min_s / 60.0,
            "text": (
                f"{pair.a.mmsi} and {pair.b.mmsi} within {self.max_m:g} m of each other "
                f"for {minutes(duration)} min (closest {run.min_m:.0f} m), "
                f"both under {self.max_sog:g} kn"
            ),
        }
