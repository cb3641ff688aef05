"""Per-vessel state: the latest fix, a short history, and one slot per rule for its episode.

Bounded: at most ``track_max_fixes`` recent fixes per vessel, and a vessel silent for
``vessel_forget_after_h`` is forgotten by the engine. Each rule owns the slots named after it
and documents them in its own module; the engine owns the rest.
"""

from __future__ import annotations

from collections import deque

from .geo import bearing_deg, distance_nm
from .zones import EMPTY_HIT, ZoneHit

__all__ = ["Vessel", "is_ship_mmsi", "derived_motion", "start_history"]


def is_ship_mmsi(mmsi: int) -> bool:
    """A ship station's MMSI starts with its flag's MID, 201-775. Coast and base stations
    (00...), groups (0...), SAR aircraft (111...), aids to navigation (99...), handhelds (8...)
    and placeholder numbers (0, 1, 123456789, ...) fall outside it."""
    return 201_000_000 <= mmsi <= 775_999_999


class Vessel:
    # The slots read on every fix come first, so they share the object's first cache lines.
    __slots__ = (
        # engine: the latest accepted fix and what it implies
        "ts",
        "lat",
        "lon",
        "sog",
        "cog",
        "silent",
        "bucket",
        "active_at",
        "history",
        "sog_derived",
        "nav_status",
        "hit",
        "mmsi",
        "ship_type",
        "source",
        "class_b",
        "long_interval",
        "long_ts",
        "cov_ts",
        "stop_ts",
        "pass_ts",
        "disc_ts",
        # rules (None while the rule has nothing going on for this vessel)
        "loiter",
        "enc_cell",
        "land",
        "follow",
        "deviation",
        "wrong",
        "zone_eps",
        "clash",
        "pairs",
        "jumps",
        "gap",
        "trail",
    )

    def __init__(self, mmsi: int):
        self.mmsi = mmsi
        self.ts: float | None = None  # None until the first position report
        self.lat = 0.0
        self.lon = 0.0
        self.sog: float | None = None  # reported, else derived from positions
        self.cog: float | None = None
        self.sog_derived = False
        self.nav_status: int | None = None
        self.hit: ZoneHit = EMPTY_HIT  # zones containing the latest fix
        # Recent (ts, lat, lon), kept only once a report lacked SOG or COG: most vessels report
        # both and need no history, which saves memory and time on every fix.
        self.history: deque[tuple[float, float, float]] | None = None
        self.active_at = 0.0  # the feed's active clock at the latest fix (see engine)
        self.bucket = -1  # the engine's live bucket holding the vessel, while not silent
        self.silent = False  # moved from the engine's live buckets to its silent list
        self.ship_type: int | None = None  # from static reports
        self.source = ""  # the receiver of the latest fix
        self.class_b = False  # the latest fix came from a class B transponder (types 18, 19)
        # The longest recent interval between two fixes, fading with a 12 h time constant: what
        # "silent" means for this vessel (a satellite-tracked ship reports every hour or two).
        self.long_interval = 0.0
        self.long_ts = 0.0  # when that interval ended: it fades from then
        self.disc_ts = float("-inf")  # encounters: when partners were last searched for
        self.cov_ts = float("-inf")  # when this vessel last marked its receiver's coverage
        self.stop_ts = float("-inf")  # when it was last recorded stopping (at anchor, moored)
        self.pass_ts = float("-inf")  # ... and passing under way
        self.loiter = None
        self.enc_cell: int | None = None
        self.pairs: dict | None = None
        self.jumps = None
        self.clash = None
        self.land = None
        self.wrong = None
        self.follow = None
        self.deviation = None
        self.zone_eps: dict | None = None
        self.gap = None
        self.trail = None  # encounters: thinned recent fixes while the vessel is slow


def start_history(v: Vessel, max_fixes: int) -> None:
    """Begin keeping recent fixes, seeded with the latest one."""
    v.history = deque(maxlen=max_fixes)
    if v.ts is not None:
        v.history.append((v.ts, v.lat, v.lon))


def derived_motion(
    v: Vessel, ts: float, lat: float, lon: float, min_span_s: float
) -> tuple[float | None, float | None]:
    """Speed (kn) and course (deg) from the vessel's recent fixes to (ts, lat, lon), over a span
    of at least ``min_span_s`` when the history reaches that far back (short spans turn GPS
    noise into knots), else over the longest span available. (None, None) without history."""
    ref = None
    for fix in reversed(v.history or ()):
        ref = fix
        if ts - fix[0] >= min_span_s:
            break
    if ref is None or ts - ref[0] <= 0.0:
        return None, None
    dist = distance_nm(ref[1], ref[2], lat, lon)
    speed = dist / ((ts - ref[0]) / 3600.0)
    course = bearing_deg(ref[1], ref[2], lat, lon) if dist > 0.0 else None
    return speed, course
