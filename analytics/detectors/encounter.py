"""encounter: two vessels within ``encounter_max_distance_m`` of each other, both slower than
``encounter_max_sog_kn``, for at least ``encounter_min_duration_min``, outside port and
anchorage zones. The alert names both (``mmsi`` is the lower MMSI, ``other_mmsi`` the higher)
and runs from the first to the last time both conditions held.

No all-pairs search: only vessels that could take part (slow, outside quiet zones) sit in a
grid whose cells are one threshold distance tall, so a fix looks at its own and neighbouring
cells only and the cost per message does not grow with the fleet.

A partner's last fix stands for its present position for ``encounter_max_fix_age_min``; an
older one is too uncertain to measure 500 m and is neither evidence of meeting nor of parting.
A pair ends when a fresh fix shows them apart, when either speeds up or enters a quiet zone,
or when the pair has not been seen together for ``encounter_max_silence_min``.

A meeting is two or three ships; a vessel with ``encounter_crowd_neighbours`` or more slow
vessels within reach is in a crowd (an anchorage the zones do not list, a fishing fleet), and
pairs seen in a crowd raise no alert: n vessels at one spot would otherwise make n(n-1)/2.

Vessel slots: ``enc_cell`` (grid cell key, or None when not in the grid), ``pairs``
(other mmsi -> pair, or None).
"""

from __future__ import annotations

from math import ceil, cos, radians

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import NM_M, distance_nm
from ._text import minutes, r1

__all__ = ["Encounters"]

_M_PER_DEG = 111_195.0  # metres per degree of latitude on the mean sphere


class _Pair:
    __slots__ = ("a", "b", "first", "last", "n", "sum_lat", "sum_lon", "min_m", "sum_m",
                 "sog_a", "sog_b", "handle", "crowd")

    def __init__(self, a, b, ts: float):
        self.a, self.b = a, b  # vessels, a.mmsi < b.mmsi
        self.first = self.last = ts
        self.n = 0
        self.sum_lat = self.sum_lon = 0.0
        self.min_m = float("inf")
        self.sum_m = 0.0
        self.sog_a = self.sog_b = None
        self.handle = None
        self.crowd = False  # seen in a crowd: never alerts


class Encounters:
    kind = "encounter"

    def __init__(self, config: AnalyticsConfig, book: AlertBook):
        self.book = book
        self.max_m = config.encounter_max_distance_m
        self.max_nm = self.max_m / NM_M
        self.max_sog = config.encounter_max_sog_kn
        self.min_s = config.encounter_min_duration_min * 60.0
        self.max_age = config.encounter_max_fix_age_min * 60.0
        self.max_silence = config.encounter_max_silence_min * 60.0
        self.crowd = config.encounter_crowd_neighbours or 1_000_000
        self.per_deg = _M_PER_DEG / self.max_m  # grid cells per degree
        self.cols = int(ceil(360.0 * self.per_deg))
        self.grid: dict[int, dict[int, object]] = {}
        self.pairs: dict[tuple[int, int], _Pair] = {}

    def on_fix(self, v, ts: float) -> None:
        """Called for a fix with a known speed when the vessel is slow or still in the grid."""
        if v.sog >= self.max_sog or v.hit.quiet:
            if v.enc_cell is not None:
                self._leave_grid(v)
            if v.pairs:
                for other in list(v.pairs):
                    self._end(v.pairs[other])
            return
        lat, lon = v.lat, v.lon
        row = int((lat + 90.0) * self.per_deg)
        col = int((lon + 180.0) * self.per_deg) % self.cols
        key = row * (self.cols + 1) + col
        if key != v.enc_cell:
            if v.enc_cell is not None:
                self._leave_grid(v)
            cell = self.grid.get(key)
            if cell is None:
                cell = self.grid[key] = {}
            cell[v.mmsi] = v
            v.enc_cell = key

        # Neighbouring cells: one row either side; enough columns to span the threshold at
        # this latitude (cells narrow towards the poles).
        span = int(ceil(1.0 / max(cos(radians(lat)), 0.01)))
        near = None
        grid = self.grid
        min_ts = ts - self.max_age
        for r in (row - 1, row, row + 1):
            base = r * (self.cols + 1)
            for c in range(col - span, col + span + 1):
                cell = grid.get(base + c % self.cols)
                if not cell:
                    continue
                for o in cell.values():
                    if o is v or o.ts < min_ts or o.sog is None or o.sog >= self.max_sog:
                        continue
                    d_nm = distance_nm(lat, lon, o.lat, o.lon)
                    if d_nm <= self.max_nm:
                        if near is None:
                            near = {}
                        near[o.mmsi] = (o, d_nm * NM_M)
        if near:
            crowd = len(near) >= self.crowd
            for o, d_m in near.values():
                self._observe(v, o, ts, d_m, crowd)
        met = near
        if v.pairs:
            # A partner with a fresh fix that is not within reach any more: they parted.
            for other in list(v.pairs):
                if met is None or other not in met:
                    pair = v.pairs[other]
                    o = pair.b if pair.a is v else pair.a
                    if o.ts >= min_ts:
                        self._end(pair)

    def _observe(self, v, o, ts: float, d_m: float, crowd: bool) -> None:
        a, b = (v, o) if v.mmsi < o.mmsi else (o, v)
        key = (a.mmsi, b.mmsi)
        pair = self.pairs.get(key)
        if pair is None:
            pair = self.pairs[key] = _Pair(a, b, ts)
            for x, y in ((a, b), (b, a)):
                if x.pairs is None:
                    x.pairs = {}
                x.pairs[y.mmsi] = pair
        pair.last = ts
        pair.n += 1
        pair.sum_lat += (v.lat + o.lat) * 0.5
        pair.sum_lon += (v.lon + o.lon) * 0.5
        pair.sum_m += d_m
        if d_m < pair.min_m:
            pair.min_m = d_m
        pair.sog_a, pair.sog_b = a.sog, b.sog
        if crowd:
            pair.crowd = True
        if pair.handle is not None:
            self.book.update(pair.handle, ts)
        elif ts - pair.first >= self.min_s and not pair.crowd:
            pair.handle = self.book.open(
                self.kind, a.mmsi, pair.first, pair.sum_lat / pair.n, pair.sum_lon / pair.n,
                lambda al: self._describe(pair, al), last=ts, other_mmsi=b.mmsi)

    def _end(self, pair: _Pair) -> None:
        del self.pairs[(pair.a.mmsi, pair.b.mmsi)]
        for x, y in ((pair.a, pair.b), (pair.b, pair.a)):
            if x.pairs is not None:
                x.pairs.pop(y.mmsi, None)
                if not x.pairs:
                    x.pairs = None
        if pair.handle is not None:
            alert = pair.handle.alert
            alert.lat, alert.lon = pair.sum_lat / pair.n, pair.sum_lon / pair.n
            self.book.close(pair.handle, pair.last)

    def _leave_grid(self, v) -> None:
        cell = self.grid.get(v.enc_cell)
        if cell is not None:
            cell.pop(v.mmsi, None)
            if not cell:
                del self.grid[v.enc_cell]
        v.enc_cell = None

    def sweep(self, now: float) -> None:
        """End pairs not seen together for the silence limit (both silent, or fixes stale)."""
        limit = now - self.max_silence
        for pair in [p for p in self.pairs.values() if p.last < limit]:
            self._end(pair)

    def forget(self, v) -> None:
        if v.enc_cell is not None:
            self._leave_grid(v)
        if v.pairs:
            for other in list(v.pairs):
                self._end(v.pairs[other])

    def _describe(self, pair: _Pair, alert) -> dict:
        duration = pair.last - alert.start
        mean_m = pair.sum_m / pair.n
        return {
            "duration_min": minutes(duration), "min_distance_m": round(pair.min_m),
            "mean_distance_m": round(mean_m), "observations": pair.n,
            "sog_kn": [r1(pair.sog_a), r1(pair.sog_b)],
            "threshold_distance_m": self.max_m, "threshold_sog_kn": self.max_sog,
            "threshold_min": self.min_s / 60.0,
            "text": (f"{pair.a.mmsi} and {pair.b.mmsi} within {self.max_m:g} m of each other "
                     f"for {minutes(duration)} min (closest {pair.min_m:.0f} m), "
                     f"both under {self.max_sog:g} kn"),
        }
