"""ais_gap: a vessel whose last fix was outside port and anchorage zones sends no position
for ``ais_gap_min_duration_min`` while the feed as a whole keeps delivering. The alert starts
at the last fix before the silence, is open while the vessel is silent, and closes at the
first fix after it.

"The feed keeps delivering" is measured by the engine's *active clock*: it follows the
feed's event time, but a jump larger than ``feed_max_step_min`` counts only that much, so an
outage of the feed (or of a replayed file) never reads as every vessel going dark. The engine
keeps vessels in the order of their last fix on that clock and hands this rule the ones that
cross the threshold: no per-vessel timers, no scan of the fleet.

When zones of kind ``coverage`` are loaded, only vessels last seen inside one count: leaving
the receivers' range is not going dark.

Vessel slot: ``gap`` (the open gap, or None).
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import distance_nm
from ..zones import ZoneSet
from ._text import hours, iso_utc, position, r1

__all__ = ["AisGap"]


class _Gap:
    __slots__ = ("start", "lat", "lon", "sog", "now", "end", "end_lat", "end_lon", "handle",
                 "forgotten")

    def __init__(self, v, now: float):
        self.start = v.ts
        self.lat, self.lon = v.lat, v.lon
        self.sog = v.sog
        self.now = now  # feed time when the gap was seen
        self.end = self.end_lat = self.end_lon = None
        self.handle = None
        self.forgotten = False


class AisGap:
    kind = "ais_gap"

    def __init__(self, config: AnalyticsConfig, book: AlertBook, zones: ZoneSet):
        self.book = book
        self.min_s = config.ais_gap_min_duration_min * 60.0
        self.need_coverage = zones.has_coverage

    def on_silent(self, v, now: float) -> None:
        """The vessel has been silent for the threshold on the active clock."""
        if v.ts is None or v.hit.quiet or (self.need_coverage and not v.hit.coverage):
            return
        gap = v.gap = _Gap(v, now)
        gap.handle = self.book.open(self.kind, v.mmsi, gap.start, gap.lat, gap.lon,
                                    lambda a: self._describe(gap, a), last=gap.start)

    def on_return(self, v, ts: float, lat: float, lon: float) -> None:
        """The vessel's first fix after an open gap (called before the track moves on)."""
        gap = v.gap
        v.gap = None
        gap.end, gap.end_lat, gap.end_lon = ts, lat, lon
        self.book.close(gap.handle, ts)

    def forget(self, v, now: float) -> None:
        """Tracking of the vessel is dropped; the alert ends when we stopped listening."""
        gap = v.gap
        if gap is not None:
            v.gap = None
            gap.forgotten = True
            gap.end = now
            self.book.close(gap.handle, now)

    def _describe(self, gap: _Gap, alert) -> dict:
        details = {
            "last_fix": iso_utc(gap.start), "last_position": [round(gap.lat, 5), round(gap.lon, 5)],
            "last_sog_kn": r1(gap.sog), "threshold_min": self.min_s / 60.0,
        }
        if gap.end is None:
            silent = gap.now - alert.start
            details["silent_h"] = hours(silent)
            details["text"] = (f"No position for {hours(silent)} h since "
                               f"{position(gap.lat, gap.lon)} while the feed kept delivering "
                               f"(threshold {self.min_s / 3600.0:g} h)")
        elif gap.forgotten:
            silent = gap.end - alert.start
            details["silent_h"] = hours(silent)
            details["reappeared"] = False
            details["text"] = (f"No position for {hours(silent)} h since "
                               f"{position(gap.lat, gap.lon)}; not heard again, tracking dropped")
        else:
            silent = gap.end - alert.start
            moved = distance_nm(gap.lat, gap.lon, gap.end_lat, gap.end_lon)
            speed = moved / (silent / 3600.0) if silent > 0 else 0.0
            details.update({"silent_h": hours(silent), "reappeared": True,
                            "moved_nm": r1(moved), "implied_sog_kn": r1(speed)})
            details["text"] = (f"Silent for {hours(silent)} h; reappeared {moved:.0f} nm away "
                               f"(implied {speed:.1f} kn)")
        return details
