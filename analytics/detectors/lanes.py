"""Rules for traffic lanes (zones of kind ``lane``).

wrong_way: inside a one-way lane (one with a ``direction``), the course differs from the
lane's direction by more than ``wrong_way_min_angle_deg`` for at least
``wrong_way_min_duration_min``. Below ``wrong_way_min_sog_kn`` a course is noise and is not
judged either way. The alert runs from the first to the last such fix.

lane_deviation: a vessel that followed a lane for at least ``lane_min_follow_min`` (inside it
and, in a one-way lane, not against its direction) leaves it through a side - not through
either end (see ``zones/_lane.py`` for what the ends are) - and gets further than
``lane_deviation_min_distance_nm`` from it. The alert starts at the first fix outside the lane
and ends when the vessel is back in it, enters a port or anchorage, or after
``lane_deviation_max_h`` (it has gone elsewhere).

Lanes marked ``approximate`` (the sketched built-in schemes) are ignored unless
``lanes_use_approximate`` is set: a lane drawn a mile off would make false alerts.

Vessel slots: ``wrong`` (wrong-way run), ``follow`` (lane being followed), ``deviation``.
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import angle_between
from ._text import iso_utc, minutes, position, r1

__all__ = ["WrongWay", "LaneDeviation", "rule_lanes"]


def rule_lanes(config: AnalyticsConfig):
    """Which of a ZoneHit's lanes the rules use."""
    return (
        (lambda hit: hit.lanes) if config.lanes_use_approximate else (lambda hit: hit.exact_lanes)
    )


class _WrongRun:
    __slots__ = ("lane", "first", "last", "lat", "lon", "max_angle", "sum_angle", "n", "handle")

    def __init__(self, lane, ts, lat, lon, angle):
        self.lane = lane
        self.first = self.last = ts
        self.lat, self.lon = lat, lon
        self.max_angle = self.sum_angle = angle
        self.n = 1
        self.handle = None


class WrongWay:
    kind = "wrong_way"

    def __init__(self, config: AnalyticsConfig, book: AlertBook):
        self.book = book
        self.min_angle = config.wrong_way_min_angle_deg
        self.min_s = config.wrong_way_min_duration_min * 60.0
        self.min_sog = config.wrong_way_min_sog_kn

    def on_fix(self, v, ts: float, lanes) -> None:
        lane = next((z for z in lanes if z.direction is not None), None)
        run = v.wrong
        if run is not None and run.lane is not lane:
            self.end(v)
            run = None
        if lane is None or v.sog is None or v.sog < self.min_sog or v.cog is None:
            return  # outside one-way lanes, or no course to judge
        angle = angle_between(v.cog, lane.direction)
        if angle <= self.min_angle:
            if run is not None:
                self.end(v)
            return
        if run is None:
            v.wrong = _WrongRun(lane, ts, v.lat, v.lon, angle)
            return
        run.last, run.n = ts, run.n + 1
        run.sum_angle += angle
        run.max_angle = max(run.max_angle, angle)
        if run.handle is not None:
            self.book.update(run.handle, ts)
        elif ts - run.first >= self.min_s:
            run.handle = self.book.open(
                self.kind,
                v.mmsi,
                run.first,
                run.lat,
                run.lon,
                lambda a: self._describe(run, a),
                last=ts,
                zone=lane.name,
            )

    def end(self, v) -> None:
        run = v.wrong
        v.wrong = None
        if run is not None and run.handle is not None:
            self.book.close(run.handle, run.last)

    def _describe(self, run: _WrongRun, alert) -> dict:
        mean = run.sum_angle / run.n
        return {
            "lane_direction_deg": run.lane.direction,
            "mean_angle_deg": r1(mean),
            "max_angle_deg": r1(run.max_angle),
            "duration_min": minutes(run.last - alert.start),
            "fixes": run.n,
            "threshold_angle_deg": self.min_angle,
            "threshold_min": self.min_s / 60.0,
            "text": (
                f"Against the direction of {run.lane.name!r} ({run.lane.direction:03.0f} deg) "
                f"by {mean:.0f} deg on average for {minutes(run.last - alert.start)} min"
            ),
        }


class _Follow:
    __slots__ = ("lane", "since", "last", "lat", "lon")

    def __init__(self, lane, ts, lat, lon):
        self.lane = lane
        self.since = self.last = ts
        self.lat, self.lon = lat, lon


class _Deviation:
    __slots__ = (
        "lane",
        "left",
        "lat",
        "lon",
        "followed_s",
        "last",
        "max_nm",
        "now_nm",
        "end_reason",
        "handle",
    )

    def __init__(self, lane, ts, lat, lon, followed_s):
        self.lane = lane
        self.left = self.last = ts
        self.lat, self.lon = lat, lon
        self.followed_s = followed_s
        self.max_nm = self.now_nm = 0.0
        self.end_reason = None
        self.handle = None


class LaneDeviation:
    kind = "lane_deviation"

    def __init__(self, config: AnalyticsConfig, book: AlertBook):
        self.book = book
        self.min_follow = config.lane_min_follow_min * 60.0
        self.min_nm = config.lane_deviation_min_distance_nm
        self.max_s = config.lane_deviation_max_h * 3600.0
        self.min_sog = config.wrong_way_min_sog_kn
        self.max_angle = config.wrong_way_min_angle_deg

    def on_fix(self, v, ts: float, lanes) -> None:
        lat, lon = v.lat, v.lon
        dev = v.deviation
        if dev is not None:
            if dev.lane in lanes:
                self._end(v, ts, "rejoined the lane")
            elif v.hit.quiet:
                self._end(v, ts, "entered a port or anchorage")
            elif ts - dev.left > self.max_s:
                self._end(v, dev.last, f"still away after {self.max_s / 3600.0:g} h")
            else:
                dev.last = ts
                dev.now_nm = dev.lane.lane.distance_nm(lat, lon)
                dev.max_nm = max(dev.max_nm, dev.now_nm)
                if dev.handle is not None:
                    self.book.update(dev.handle, ts)
                elif dev.now_nm > self.min_nm:
                    dev.handle = self.book.open(
                        self.kind,
                        v.mmsi,
                        dev.left,
                        dev.lat,
                        dev.lon,
                        lambda a: self._describe(dev),
                        last=ts,
                        zone=dev.lane.name,
                    )

        follow = v.follow
        if follow is not None and follow.lane not in lanes:
            # Left the lane it was following: through an end (done with it) or a side?
            if (
                follow.last - follow.since >= self.min_follow
                and v.deviation is None
                and not v.hit.quiet
                and not follow.lane.lane.left_through_end(follow.lat, follow.lon, lat, lon)
            ):
                dev = v.deviation = _Deviation(
                    follow.lane, ts, lat, lon, follow.last - follow.since
                )
                dev.now_nm = dev.max_nm = follow.lane.lane.distance_nm(lat, lon)
                if dev.now_nm > self.min_nm:  # sparse fixes: already far out
                    dev.handle = self.book.open(
                        self.kind,
                        v.mmsi,
                        ts,
                        lat,
                        lon,
                        lambda a: self._describe(dev),
                        last=ts,
                        zone=dev.lane.name,
                    )
            v.follow = follow = None
        if lanes:
            lane = follow.lane if follow is not None else lanes[0]
            if follow is None:
                v.follow = follow = _Follow(lane, ts, lat, lon)
            elif (
                lane.direction is not None
                and v.cog is not None
                and v.sog is not None
                and v.sog >= self.min_sog
                and angle_between(v.cog, lane.direction) > self.max_angle
            ):
                follow.since = ts  # going against a one-way lane is not following it
            follow.last, follow.lat, follow.lon = ts, lat, lon

    def _end(self, v, ts: float, reason: str) -> None:
        dev = v.deviation
        v.deviation = None
        if dev is not None and dev.handle is not None:
            dev.end_reason = reason
            self.book.close(dev.handle, ts)

    def end(self, v, reason: str = "vessel no longer tracked") -> None:
        v.follow = None
        if v.deviation is not None:
            self._end(v, v.deviation.last, reason)

    def _describe(self, dev: _Deviation) -> dict:
        details = {
            "lane": dev.lane.name,
            "left_at": iso_utc(dev.left),
            "exit_position": [round(dev.lat, 5), round(dev.lon, 5)],
            "followed_min": minutes(dev.followed_s),
            "distance_nm": r1(dev.now_nm),
            "max_distance_nm": r1(dev.max_nm),
            "threshold_nm": self.min_nm,
            "threshold_follow_min": self.min_follow / 60.0,
        }
        text = (
            f"Left {dev.lane.name!r} through its side at {position(dev.lat, dev.lon)} after "
            f"following it for {minutes(dev.followed_s)} min; {dev.max_nm:.1f} nm from it "
            f"at most"
        )
        if dev.end_reason:
            details["ended"] = dev.end_reason
            text += f"; {dev.end_reason}"
        details["text"] = text
        return details
