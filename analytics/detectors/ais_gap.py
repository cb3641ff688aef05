"""ais_gap: a vessel stops transmitting where it would be heard: it was reporting outside port
and anchorage zones, and is silent for ``ais_gap_min_duration_min`` while the feed as a whole
keeps delivering. The alert starts at the last fix before the silence, is open while the vessel
is silent, and closes at the first fix after it.

"The feed keeps delivering" is measured by the engine's *active clock*: it follows the feed's
event time, but a jump larger than ``feed_max_step_min`` counts only that much, so an outage of
the feed (or of a replayed file) never reads as every vessel going dark. The engine keeps
vessels in the order of their last fix on that clock and hands this rule the ones that cross
the threshold: no per-vessel timers, no scan of the fleet.

Receivers have edges, feeds have rhythms, and some vessels may switch off. A silence is only an
alert when all of these hold:

* long enough *for this vessel*: the threshold is the larger of the setting (or
  ``ais_gap_satellite_min_duration_min`` for a source listed in ``ais_gap_satellite_sources``)
  and ``ais_gap_interval_factor`` times the vessel's longest recent interval between reports
  (a ship tracked by satellite every two hours is not dark after two hours);
* its receiver still delivers (the vessel's last source sent something within
  ``feed_max_step_min``): one receiver going down is not its vessels going dark;
* it would still be in coverage: the place the vessel would have reached by dead reckoning on
  its last SOG and COG is a place its receiver heard other vessels from (within about 12 nm)
  within ``ais_gap_coverage_recent_min`` (learned per source, ``places.Coverage``); or, when
  zones of kind ``coverage`` are loaded (the operator knows the receivers' range), inside one
  of them. A vessel sailing out of range is not dark. Satellite sources cover the ocean: no
  such check;
* nothing explains it: not a class B transponder (small craft switch off at will) unless
  ``ais_gap_class_b``, not of a type in ``ais_gap_ignore_ship_types``, not moored, not at a
  stop place learned from the traffic, not stopped at the coast (a berth);
* and, when zones of kind ``coverage`` are loaded, it was last seen inside one.

A silent vessel not yet long enough silent, or whose receiver is down, is re-checked on every
sweep until it reports again or is forgotten.

Vessel slot: ``gap`` (the open gap, or None).
"""

from __future__ import annotations

from math import exp

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import destination, distance_nm
from ..zones import ZoneSet
from ._text import hours, iso_utc, position, r1

__all__ = ["AisGap"]

_INTERVAL_FADE_S = 12 * 3600.0  # as the engine's: a long interval fades with this time constant
_DR_MIN_SOG = 1.0  # below this the vessel is taken to stay where it was
_BERTH_KM = 1.0  # a stopped vessel this close to the coast is at a berth or a jetty


class _Gap:
    __slots__ = (
        "start",
        "lat",
        "lon",
        "sog",
        "now",
        "end",
        "end_lat",
        "end_lon",
        "handle",
        "forgotten",
        "threshold_s",
        "source",
        "expected",
    )

    def __init__(self, v, now: float, threshold_s: float, expected):
        self.start = v.ts
        self.lat, self.lon = v.lat, v.lon
        self.sog = v.sog
        self.now = now  # feed time when the gap was seen
        self.end = self.end_lat = self.end_lon = None
        self.handle = None
        self.forgotten = False
        self.threshold_s = threshold_s
        self.source = v.source
        self.expected = expected  # where it would be now, by dead reckoning


class AisGap:
    kind = "ais_gap"

    def __init__(
        self,
        config: AnalyticsConfig,
        book: AlertBook,
        zones: ZoneSet,
        places=None,
        land=None,
        coverage=None,
    ):
        self.book = book
        self.config = config
        self.min_s = config.ais_gap_min_duration_min * 60.0
        self.sat_s = config.ais_gap_satellite_min_duration_min * 60.0
        self.factor = config.ais_gap_interval_factor
        self.zones = zones
        self.need_coverage = zones.has_coverage
        self.places = places
        self.land = land
        self.coverage = coverage
        self.recent_s = config.ais_gap_coverage_recent_min * 60.0
        self.source_down_s = config.feed_max_step_min * 60.0
        self.class_b = config.ais_gap_class_b
        self.ignore_types = config.ints("ais_gap_ignore_ship_types")
        self.pending: dict[int, object] = {}  # silent vessels not decided yet, by MMSI
        self._satellite: dict[str, bool] = {}
        self.counts = {"left_coverage": 0, "explained": 0}

    def threshold_s(self, v) -> float:
        sat = self._satellite.get(v.source)
        if sat is None:
            sat = self._satellite[v.source] = self.config.is_satellite(v.source)
        base = self.sat_s if sat else self.min_s
        long = v.long_interval * exp(-(v.ts - v.long_ts) / _INTERVAL_FADE_S)
        return max(base, self.factor * long)

    def on_silent(self, v, now: float, active: float, source_ts: dict) -> None:
        """The vessel has been silent for the base threshold on the active clock."""
        if v.ts is None or v.hit.quiet or (self.need_coverage and not v.hit.coverage):
            return
        reason = self._explain(v)
        if reason is not None:
            self.counts["explained"] += 1
            return
        self.pending[v.mmsi] = v
        self.check(v, now, active, source_ts)

    def sweep(self, now: float, active: float, source_ts: dict) -> None:
        for v in list(self.pending.values()):
            self.check(v, now, active, source_ts)

    def check(self, v, now: float, active: float, source_ts: dict) -> None:
        """Decide a pending silent vessel: dark (an alert), out of coverage (nothing), or not
        yet (stays pending)."""
        if not v.silent:
            self.pending.pop(v.mmsi, None)
            return
        threshold = self.threshold_s(v)
        if active - v.active_at < threshold:
            return  # not silent long enough for this vessel yet
        if now - source_ts.get(v.source, float("-inf")) > self.source_down_s:
            return  # its receiver is down: wait for it
        expected = (v.lat, v.lon)
        if v.sog is not None and v.sog >= _DR_MIN_SOG and v.cog is not None:
            expected = destination(v.lat, v.lon, v.cog, v.sog * (now - v.ts) / 3600.0)
        if not self._in_coverage(v, expected, now):
            del self.pending[v.mmsi]
            self.counts["left_coverage"] += 1
            return
        del self.pending[v.mmsi]
        gap = v.gap = _Gap(v, now, threshold, expected)
        gap.handle = self.book.open(
            self.kind,
            v.mmsi,
            gap.start,
            gap.lat,
            gap.lon,
            lambda a: self._describe(gap, a),
            last=gap.start,
        )

    def _in_coverage(self, v, expected: tuple[float, float], now: float) -> bool:
        """Would the vessel's receiver hear it where it would be now? Declared coverage zones
        say so when there are any; else what the receiver heard lately."""
        if self.need_coverage:
            return self.zones.lookup(*expected).coverage
        if self.coverage is None or self.recent_s <= 0 or self._satellite[v.source]:
            return True
        return self.coverage.heard_near(v.source, *expected, now - self.recent_s)

    def _explain(self, v) -> str | None:
        if v.class_b and not self.class_b:
            return "class B"
        if v.ship_type in self.ignore_types:
            return "ship type"
        if v.nav_status == 5:
            return "moored"
        if self.places is not None and self.places.busy(v.lat, v.lon, v.ts, (v.mmsi,)):
            return "at a stop place"
        if (
            self.land is not None
            and (v.sog is None or v.sog < _DR_MIN_SOG)
            and self.land.distance_km(v.lat, v.lon, True, _BERTH_KM) < _BERTH_KM
        ):
            return "stopped at the coast"
        return None

    def on_return(self, v, ts: float, lat: float, lon: float) -> None:
        """The vessel's first fix after its silence (called before the track moves on)."""
        self.pending.pop(v.mmsi, None)
        gap = v.gap
        if gap is None:
            return
        v.gap = None
        gap.end, gap.end_lat, gap.end_lon = ts, lat, lon
        self.book.close(gap.handle, ts)

    def forget(self, v, now: float) -> None:
        """Tracking of the vessel is dropped; the alert ends when we stopped listening."""
        self.pending.pop(v.mmsi, None)
        gap = v.gap
        if gap is not None:
            v.gap = None
            gap.forgotten = True
            gap.end = now
            self.book.close(gap.handle, now)

    def _describe(self, gap: _Gap, alert) -> dict:
        details = {
            "last_fix": iso_utc(gap.start),
            "last_position": [round(gap.lat, 5), round(gap.lon, 5)],
            "last_sog_kn": r1(gap.sog),
            "threshold_min": round(gap.threshold_s / 60.0),
            "source": gap.source,
            "expected_position": [round(gap.expected[0], 5), round(gap.expected[1], 5)],
        }
        if gap.end is None:
            silent = gap.now - alert.start
            details["silent_h"] = hours(silent)
            details["text"] = (
                f"No position for {hours(silent)} h since "
                f"{position(gap.lat, gap.lon)} while its receiver "
                f"{gap.source or ''} kept hearing vessels where it would be now "
                f"(threshold {gap.threshold_s / 3600.0:.1f} h)"
            ).replace("  ", " ")
        elif gap.forgotten:
            silent = gap.end - alert.start
            details["silent_h"] = hours(silent)
            details["reappeared"] = False
            details["text"] = (
                f"No position for {hours(silent)} h since "
                f"{position(gap.lat, gap.lon)}; not heard again, tracking dropped"
            )
        else:
            silent = gap.end - alert.start
            moved = distance_nm(gap.lat, gap.lon, gap.end_lat, gap.end_lon)
            speed = moved / (silent / 3600.0) if silent > 0 else 0.0
            details.update(
                {
                    "silent_h": hours(silent),
                    "reappeared": True,
                    "moved_nm": r1(moved),
                    "implied_sog_kn": r1(speed),
                }
            )
            details["text"] = (
                f"Silent for {hours(silent)} h; reappeared {moved:.0f} nm away "
                f"(implied {speed:.1f} kn)"
            )
        return details
