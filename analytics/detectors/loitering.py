"""loitering: SOG below ``loitering_max_sog_kn`` for at least ``loitering_min_duration_min``,
outside port and anchorage zones. The alert runs from the first to the last slow fix.

Vessel slot: ``loiter`` (the current slow run, or None). A fix at or above the speed, or one
inside a quiet zone, ends the run; a fix without any speed (reported or derived) leaves it as
it is.
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..zones import ZoneSet
from ._text import minutes, r1

__all__ = ["Loitering"]


class _Run:
    __slots__ = ("first", "lat", "lon", "last", "n", "sum_sog", "max_sog", "derived",
                 "handle", "near")

    def __init__(self, ts: float, lat: float, lon: float, sog: float, derived: bool):
        self.first = self.last = ts
        self.lat, self.lon = lat, lon
        self.n = 1
        self.sum_sog = self.max_sog = sog
        self.derived = derived
        self.handle = None
        self.near = None  # (port name, nm) when the alert opened


class Loitering:
    kind = "loitering"

    def __init__(self, config: AnalyticsConfig, book: AlertBook, zones: ZoneSet):
        self.book = book
        self.zones = zones
        self.max_sog = config.loitering_max_sog_kn
        self.min_s = config.loitering_min_duration_min * 60.0

    def on_fix(self, v, ts: float, sog: float) -> None:
        run = v.loiter
        if sog < self.max_sog and not v.hit.quiet:
            if run is None:
                v.loiter = _Run(ts, v.lat, v.lon, sog, v.sog_derived)
                return
            run.last = ts
            run.n += 1
            run.sum_sog += sog
            if sog > run.max_sog:
                run.max_sog = sog
            run.derived = run.derived or v.sog_derived
            if run.handle is not None:
                self.book.update(run.handle, ts)
            elif ts - run.first >= self.min_s:
                nearest = self.zones.nearest(run.lat, run.lon)
                run.near = None if nearest is None else (nearest[0].name, nearest[1])
                run.handle = self.book.open(self.kind, v.mmsi, run.first, run.lat, run.lon,
                                            lambda a: self._describe(run, a), last=ts)
        elif run is not None:
            self.end(v)

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
            "duration_min": minutes(duration), "mean_sog_kn": r1(mean),
            "max_sog_kn": r1(run.max_sog), "fixes": run.n,
            "sog_source": "derived from positions" if run.derived else "reported",
            "threshold_sog_kn": self.max_sog, "threshold_min": self.min_s / 60.0,
        }
        if run.near is not None:
            name, nm = run.near
            # The name stands on its own between commas: zone names may hold parentheses.
            text += f", {nm:.0f} nm from {name}, the nearest port or anchorage"
            details["nearest_port"] = name
            details["nearest_port_nm"] = round(nm, 1)
        details["text"] = text
        return details
