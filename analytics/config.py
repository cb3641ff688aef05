"""Every threshold of the analytics, declared once as data: name, default, help line.

The defaults are those of ``events.md`` (shortened research definitions for real-time watch
keeping). The shell maps each field to the ``[analytics]`` table of the settings file and to
``MDA_ANALYTICS__<NAME>`` variables, so values here are plain scalars (lists are written as
comma-separated text) and every field has a ``help`` line in its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

__all__ = ["AnalyticsConfig", "KINDS", "SEVERITIES", "settings_table"]

# Every kind of alert the package can raise, in the order of events.md.
KINDS = ("loitering", "encounter", "ais_gap", "position_jump", "identity_clash", "on_land",
         "wrong_way", "lane_deviation", "zone_entry", "distress_beacon")
SEVERITIES = ("critical", "high", "medium", "low")


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class AnalyticsConfig:
    """The analytics settings. Units are in the names: _kn knots, _nm nautical miles,
    _m metres, _s seconds, _min minutes, _h hours, _deg degrees."""

    # --- which rules run
    disabled_kinds: str = _setting(
        "", "comma-separated alert kinds to switch off (e.g. 'on_land,ais_gap')")

    # --- loitering
    loitering_max_sog_kn: float = _setting(
        2.0, "loitering: a vessel slower than this ...")
    loitering_min_duration_min: float = _setting(
        60.0, "loitering: ... for at least this long, outside port and anchorage zones")

    # --- encounter
    encounter_max_distance_m: float = _setting(
        500.0, "encounter: two vessels closer than this ...")
    encounter_max_sog_kn: float = _setting(
        3.0, "encounter: ... both slower than this ...")
    encounter_min_duration_min: float = _setting(
        30.0, "encounter: ... for at least this long, outside port and anchorage zones")
    encounter_max_fix_age_min: float = _setting(
        15.0, "encounter: the other vessel's last fix counts as its present position for this "
              "long (older positions are too uncertain to measure 500 m)")
    encounter_max_silence_min: float = _setting(
        120.0, "encounter: a pair not seen together for this long ends its episode")
    encounter_crowd_neighbours: int = _setting(
        3, "encounter: a vessel with this many slow vessels or more within the distance is in a "
           "crowd (an anchorage missing from the zones, a fishing fleet): pairs in a crowd "
           "raise no encounter, so one crowd is not a storm of alerts (0: no limit)")

    # --- AIS gap
    ais_gap_min_duration_min: float = _setting(
        120.0, "ais_gap: a vessel last seen outside port and anchorage zones is silent this long "
               "while the feed keeps delivering")
    feed_max_step_min: float = _setting(
        10.0, "ais_gap: a jump of the feed's event time counts as 'the feed kept delivering' for "
              "at most this long; longer jumps are outages of the feed, not of the vessel")

    # --- position jump and identity clash
    position_jump_min_distance_nm: float = _setting(
        1.0, "position_jump: consecutive fixes further apart than this ...")
    position_jump_min_speed_kn: float = _setting(
        50.0, "position_jump: ... implying more than this speed ...")
    position_jump_sog_factor: float = _setting(
        3.0, "position_jump: ... and more than this many times the reported SOG")
    position_jump_hold_min: float = _setting(
        10.0, "position_jump: a jump is published once this long passed without the jumps going "
              "on back and forth, so the first jumps of an identity clash do not ring as well; a "
              "jump already published when its clash is recognised is marked superseded "
              "(0: publish at once)")
    identity_clash_window_min: float = _setting(
        30.0, "identity_clash: impossible jumps back and forth, each within this long of the "
              "previous one ...")
    identity_clash_min_jumps: int = _setting(
        3, "identity_clash: ... at least this many in a row (2 is one bad fix: out and back)")

    # --- on land
    on_land_margin_cells: int = _setting(
        1, "on_land: the 1 km land-mask cells around the position that must be land too "
           "(0 = the position's own cell only; 1 keeps river and quay-side fixes quiet)")

    # --- lanes
    wrong_way_min_angle_deg: float = _setting(
        90.0, "wrong_way: inside a one-way lane, course differing from its direction by more "
              "than this ...")
    wrong_way_min_duration_min: float = _setting(
        10.0, "wrong_way: ... for at least this long")
    wrong_way_min_sog_kn: float = _setting(
        1.0, "wrong_way: below this speed the course is noise and is not judged")
    lane_min_follow_min: float = _setting(
        30.0, "lane_deviation: a vessel that followed a lane at least this long ...")
    lane_deviation_min_distance_nm: float = _setting(
        3.0, "lane_deviation: ... leaves it through a side and gets further than this from it")
    lane_deviation_max_h: float = _setting(
        6.0, "lane_deviation: an open deviation ends after this long (the vessel went elsewhere)")
    lanes_use_approximate: bool = _setting(
        False, "wrong_way and lane_deviation also use lanes marked approximate (the sketched "
               "built-in traffic separation schemes); off because a lane drawn a mile off "
               "makes false alerts")

    # --- zone entry
    zone_entry_kinds: str = _setting(
        "restricted,protected", "zone_entry: comma-separated zone kinds whose entry raises an "
                                "alert (a zone's ship_types limits it to those AIS types)")
    zone_entry_default_severity: str = _setting(
        "high", "zone_entry: severity when the zone does not give one")

    # --- distress
    distress_mmsi_prefixes: str = _setting(
        "970,972,974", "distress_beacon: MMSI prefixes of AIS-SART, MOB and EPIRB-AIS devices")
    distress_nav_status: int = _setting(
        14, "distress_beacon: navigational status that means an active SART / distress")
    distress_ignore_test_mode: bool = _setting(
        True, "distress_beacon: a beacon MMSI reporting nav status 15 is a self-test; stay quiet")
    distress_close_after_min: float = _setting(
        30.0, "distress_beacon: the episode ends after this long without a transmission")

    # --- alert lifecycle
    cooldown_min: float = _setting(
        60.0, "an alert of the same vessel, kind (and partner or zone) starting within this long "
              "after the previous one ended reopens it instead of ringing again")
    update_min_interval_s: float = _setting(
        60.0, "an open alert is re-published while it grows at most this often ...")
    update_min_growth: float = _setting(
        0.1, "... and only once it grew by this fraction of its duration (a day-long episode "
             "is not re-published every minute)")

    # --- track state
    vessel_mmsi_only: bool = _setting(
        True, "run the vessel rules only for ship MMSIs (MID 201-775); base stations, "
              "aids to navigation, SAR aircraft and placeholder MMSIs are counted and skipped")
    track_max_fixes: int = _setting(
        20, "recent fixes kept per vessel, to derive speed and course when a report lacks them")
    sog_derive_min_interval_s: float = _setting(
        120.0, "a speed derived from positions spans at least this long (shorter spans turn "
               "GPS noise into knots)")
    vessel_forget_after_h: float = _setting(
        24.0, "a vessel silent this long (feed time) is forgotten; its open alerts close")
    sweep_interval_s: float = _setting(
        60.0, "how often, in event time, the time-driven rules run (gaps, silent beacons, "
              "stale encounters, forgetting)")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"analytics setting {f.name!r} wants true or false, "
                                      f"got {value!r}")
            elif isinstance(f.default, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"analytics setting {f.name!r} wants a number, "
                                      f"got {value!r}")
                if value < 0:
                    raise ConfigError(f"analytics setting {f.name!r} must not be negative, "
                                      f"got {value!r}")
        for name in ("encounter_max_distance_m", "sweep_interval_s", "track_max_fixes",
                     "identity_clash_min_jumps", "feed_max_step_min"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"analytics setting {name!r} must be positive")
        unknown = self.disabled - set(KINDS)
        if unknown:
            raise ConfigError(f"analytics setting 'disabled_kinds': unknown kind(s) "
                              f"{', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
        if self.zone_entry_default_severity not in SEVERITIES:
            raise ConfigError(f"analytics setting 'zone_entry_default_severity' must be one of "
                              f"{', '.join(SEVERITIES)}, got {self.zone_entry_default_severity!r}")
        try:
            self.beacon_prefixes
        except ValueError:
            raise ConfigError(f"analytics setting 'distress_mmsi_prefixes' wants comma-separated "
                              f"3-digit numbers, got {self.distress_mmsi_prefixes!r}") from None

    # Parsed views of the comma-separated settings.
    @property
    def disabled(self) -> frozenset[str]:
        return frozenset(_split(self.disabled_kinds))

    @property
    def entry_kinds(self) -> frozenset[str]:
        return frozenset(_split(self.zone_entry_kinds))

    @property
    def beacon_prefixes(self) -> frozenset[int]:
        prefixes = frozenset(int(p) for p in _split(self.distress_mmsi_prefixes))
        if any(not 100 <= p <= 999 for p in prefixes):
            raise ValueError("prefix out of range")
        return prefixes

    def enabled(self, kind: str) -> bool:
        return kind not in self.disabled


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def settings_table() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, in declaration order: for docs and the CLI."""
    return [(f.name, f.default, f.metadata["help"]) for f in fields(AnalyticsConfig)]
