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

__all__ = [
    "AnalyticsConfig",
    "KINDS",
    "KIND_TABLE",
    "KIND_INFO",
    "KindInfo",
    "SEVERITIES",
    "DESK_SEVERITIES",
    "settings_table",
]


@dataclass(frozen=True)
class KindInfo:
    """One alert kind as everyone shows it: the map's desk (through the page's config), the
    offline report, the docs and the extracts take it from here."""

    kind: str
    label: str  # as an officer reads it
    severity: str  # default severity (zone_entry takes its zone's)
    cise: str  # the EU CISE AnomalyType it is shared as


# Every kind of alert the package can raise, in the order of events.md.
KIND_TABLE = (
    KindInfo("loitering", "Loitering", "medium", "Other"),
    KindInfo("encounter", "Encounter", "high", "Other"),
    KindInfo("ais_gap", "AIS gap", "medium", "WithoutAISTransmission"),
    KindInfo("position_jump", "Position jump", "medium", "PerformingAISSpoofing"),
    KindInfo("identity_clash", "Identity clash", "high", "PerformingAISSpoofing"),
    KindInfo("on_land", "Position on land", "medium", "PerformingAISSpoofing"),
    KindInfo("wrong_way", "Wrong way in lane", "high", "VesselOutOfTrafficLanes"),
    KindInfo("lane_deviation", "Lane deviation", "medium", "VesselOutOfTrafficLanes"),
    KindInfo("zone_entry", "Zone entry", "high", "Other"),
    KindInfo("distress_beacon", "Distress beacon", "critical", "Other"),
    KindInfo("watchlist", "Watch list", "high", "Other"),
)
KINDS = tuple(k.kind for k in KIND_TABLE)
KIND_INFO = {k.kind: k for k in KIND_TABLE}
# "info" marks data-quality notices (a lone corrupted fix, garbled copies of one transmitter):
# facts about the feed that never ring on a desk; the others are for an officer to look at.
SEVERITIES = ("critical", "high", "medium", "low", "info")
DESK_SEVERITIES = ("critical", "high", "medium", "low")

# AIS ship types (ITU-R M.1371 table 53) of craft whose work is to wait, escort, fish or lie
# alongside others: tugs and towing (31, 32, 52), dredging (33), diving (34), military (35),
# sailing and pleasure craft (36, 37), pilots (50), search and rescue (51), port tenders (53),
# anti-pollution (54), law enforcement (55), medical transport (58).
_SERVICE_TYPES = "31,32,33,34,35,50,51,52,53,54,55,58"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class AnalyticsConfig:
    """The analytics settings. Units are in the names: _kn knots, _nm nautical miles,
    _m metres, _s seconds, _min minutes, _h hours, _deg degrees."""

    # --- which rules run
    disabled_kinds: str = _setting(
        "", "comma-separated alert kinds to switch off (e.g. 'on_land,ais_gap')"
    )

    # --- loitering
    loitering_max_sog_kn: float = _setting(2.0, "loitering: a vessel slower than this ...")
    loitering_min_duration_min: float = _setting(
        60.0, "loitering: ... for at least this long, outside port and anchorage zones"
    )
    loitering_quiet_nav_status: str = _setting(
        "1,5,7",
        "loitering: navigational statuses that explain a slow vessel (1 at anchor, "
        "5 moored, 7 engaged in fishing): no loitering while reported",
    )
    loitering_ignore_ship_types: str = _setting(
        "30,36,37," + _SERVICE_TYPES,
        "loitering: AIS ship types whose work is to wait or go slowly (fishing 30, sailing and "
        "pleasure craft 36-37, tugs, pilots, SAR, dredgers, law enforcement, military...)",
    )
    loitering_min_shore_nm: float = _setting(
        2.0,
        "loitering: a vessel closer than this to the coast is at an anchorage, a berth or "
        "waiting for a pilot, not loitering (0: anywhere)",
    )

    # --- encounter
    encounter_max_distance_m: float = _setting(500.0, "encounter: two vessels closer than this ...")
    encounter_max_sog_kn: float = _setting(3.0, "encounter: ... both slower than this ...")
    encounter_min_duration_min: float = _setting(
        30.0, "encounter: ... for at least this long, outside port and anchorage zones"
    )
    encounter_max_fix_age_min: float = _setting(
        15.0, "encounter: a neighbour's last fix counts towards a crowd (below) for this long"
    )
    encounter_sample_min: float = _setting(
        1.0,
        "encounter: the two tracks are compared every this many minutes, each position "
        "interpolated between the vessel's fixes, so sparse (satellite) tracks meet too",
    )
    encounter_max_interpolation_h: float = _setting(
        12.0,
        "encounter and loitering: fixes of one vessel further apart than this are not "
        "joined: the episode ends at the first and a new one may start at the second",
    )
    encounter_ignore_ship_types: str = _setting(
        _SERVICE_TYPES,
        "encounter: pairs in which either vessel is of one of these AIS types "
        "(tugs, pilots, SAR, port tenders, law enforcement...) raise nothing: "
        "lying alongside others is their work",
    )
    encounter_min_shore_nm: float = _setting(
        1.0,
        "encounter: two vessels closer than this to the coast are at a berth or an "
        "anchorage, not meeting at sea (0: anywhere)",
    )
    encounter_crowd_neighbours: int = _setting(
        3,
        "encounter: a vessel with this many slow vessels or more within the distance is in a "
        "crowd (an anchorage missing from the zones, a fishing fleet): pairs in a crowd "
        "raise no encounter, so one crowd is not a storm of alerts (0: no limit)",
    )

    # --- AIS gap
    ais_gap_min_duration_min: float = _setting(
        120.0,
        "ais_gap: a vessel last seen outside port and anchorage zones is silent this long "
        "while the feed keeps delivering",
    )
    feed_max_step_min: float = _setting(
        10.0,
        "ais_gap: a jump of the feed's event time counts as 'the feed kept delivering' for "
        "at most this long; longer jumps are outages of the feed, not of the vessel",
    )
    feed_outage_min_vessels: int = _setting(
        20,
        "a silence of the whole feed longer than feed_max_step_min ends every episode "
        "(loitering, encounters, on land, lanes) when the feed carried at least this many "
        "vessels in the hour before: a receiver or link outage, not the vessels' doing. A "
        "feed of a handful of vessels (a satellite extract) is silent between its fixes",
    )
    ais_gap_interval_factor: float = _setting(
        2.0,
        "ais_gap: a vessel that normally reports sparsely is silent only after this many "
        "times its longest recent interval between reports (fading over 12 h), if that is "
        "longer than ais_gap_min_duration_min",
    )
    ais_gap_satellite_sources: str = _setting(
        "",
        "ais_gap: comma-separated source names (or name prefixes ending in '*') of "
        "satellite feeds, whose vessels are silent only after "
        "ais_gap_satellite_min_duration_min and whose coverage is the whole ocean",
    )
    ais_gap_satellite_min_duration_min: float = _setting(
        360.0, "ais_gap: the silence threshold for vessels last heard by a satellite source"
    )
    ais_gap_coverage_recent_min: float = _setting(
        60.0,
        "ais_gap: a silent vessel is dark only where its receiver still hears other "
        "vessels: the place it would have reached (dead reckoning) was heard by that "
        "source within this many minutes; elsewhere it left coverage (0: no check)",
    )
    ais_gap_class_b: bool = _setting(
        False, "ais_gap: also alert on class B transponders (small craft, switched off at will)"
    )
    ais_gap_ignore_ship_types: str = _setting(
        "36,37", "ais_gap: AIS ship types whose silence is no alert (sailing, pleasure craft)"
    )

    # --- position jump and identity clash
    position_jump_min_distance_nm: float = _setting(
        1.0, "position_jump: consecutive fixes further apart than this ..."
    )
    position_jump_min_speed_kn: float = _setting(
        50.0, "position_jump: ... implying more than this speed ..."
    )
    position_jump_sog_factor: float = _setting(
        3.0, "position_jump: ... and more than this many times the reported SOG"
    )
    position_jump_hold_min: float = _setting(
        10.0,
        "position_jump: a jump is published once this long passed without the jumps going "
        "on back and forth, so the first jumps of an identity clash do not ring as well; a "
        "jump already published when its clash is recognised is marked superseded "
        "(0: publish at once)",
    )
    identity_clash_window_min: float = _setting(
        30.0,
        "identity_clash: impossible jumps back and forth, each within this long of the "
        "previous one ...",
    )
    identity_clash_min_jumps: int = _setting(
        3, "identity_clash: ... at least this many in a row (2 is one bad fix: out and back)"
    )
    identity_clash_min_fixes: int = _setting(
        3,
        "identity_clash: ... with at least this many fixes from the second place, in seconds "
        "of their own and joined at a speed a ship can make: a second transmitter. Scattered "
        "or same-second copies are one transmitter's garbled positions: a notice (info)",
    )
    glitch_max_fixes: int = _setting(
        2,
        "position_jump: a jump out and back with at most this many fixes at the far place "
        "(within glitch_max_min) is a corrupted fix: a data-quality notice (info), not an "
        "alert",
    )
    glitch_max_min: float = _setting(
        3.0, "position_jump: ... the far fixes lasting at most this long"
    )

    # --- on land
    on_land_margin_cells: int = _setting(
        1,
        "on_land: the 1 km land-mask cells around the position that must be land too "
        "(0 = the position's own cell only; 1 keeps river and quay-side fixes quiet)",
    )
    on_land_min_inland_km: float = _setting(
        2.0,
        "on_land: the position must lie at least this far from the mask's water (quays, "
        "harbour basins and narrow fjords lie within a cell or two of it)",
    )
    on_land_min_fixes: int = _setting(
        3,
        "on_land: ... on at least this many fixes in a row (one corrupted fix is not a "
        "vessel on land)",
    )
    on_land_min_duration_min: float = _setting(5.0, "on_land: ... over at least this long")
    on_land_min_inconsistent: int = _setting(
        2,
        "on_land: ... and the positions contradict the vessel's own speed and course on at "
        "least this many steps (moving much faster, or not at all while reporting way on): a "
        "ship steaming along a river or canal, or lying at a quay the mask calls land, "
        "reports what its positions show",
    )

    # --- lanes
    wrong_way_min_angle_deg: float = _setting(
        90.0,
        "wrong_way: inside a one-way lane, course differing from its direction by more "
        "than this ...",
    )
    wrong_way_min_duration_min: float = _setting(10.0, "wrong_way: ... for at least this long")
    wrong_way_min_sog_kn: float = _setting(
        1.0, "wrong_way: below this speed the course is noise and is not judged"
    )
    lane_min_follow_min: float = _setting(
        30.0, "lane_deviation: a vessel that followed a lane at least this long ..."
    )
    lane_deviation_min_distance_nm: float = _setting(
        3.0, "lane_deviation: ... leaves it through a side and gets further than this from it"
    )
    lane_deviation_max_h: float = _setting(
        6.0, "lane_deviation: an open deviation ends after this long (the vessel went elsewhere)"
    )
    lanes_use_approximate: bool = _setting(
        False,
        "wrong_way and lane_deviation also use lanes marked approximate (the sketched "
        "built-in traffic separation schemes); off because a lane drawn a mile off "
        "makes false alerts",
    )

    # --- zone entry
    zone_entry_kinds: str = _setting(
        "restricted,protected,hazard",
        "zone_entry: comma-separated zone kinds whose entry raises an "
        "alert (a zone's ship_types limits it to those AIS types)",
    )
    zone_entry_default_severity: str = _setting(
        "high", "zone_entry: severity when the zone does not give one"
    )

    # --- distress
    distress_mmsi_prefixes: str = _setting(
        "970,972,974", "distress_beacon: MMSI prefixes of AIS-SART, MOB and EPIRB-AIS devices"
    )
    distress_nav_status: int = _setting(
        14, "distress_beacon: navigational status that means an active SART / distress"
    )
    distress_ignore_test_mode: bool = _setting(
        True, "distress_beacon: a beacon MMSI reporting nav status 15 is a self-test; stay quiet"
    )
    distress_close_after_min: float = _setting(
        30.0, "distress_beacon: the episode ends after this long without a transmission"
    )

    # --- watch lists
    watchlist_end_after_min: float = _setting(
        60.0,
        "watchlist: a listed vessel's episode (it appeared, or changed identity data) ends "
        "after this long without a report from it",
    )

    # --- places learned from the traffic
    stop_place_min_vessels: int = _setting(
        3,
        "a place where at least this many other vessels stopped (slow for "
        "stop_place_min_stop_min, or reporting at anchor or moored) is an anchorage, a berth "
        "or a queue: loitering, encounters and gaps there raise nothing",
    )
    stop_place_radius_nm: float = _setting(1.5, "... within this distance of the place")
    stop_place_min_stop_min: float = _setting(
        30.0, "... a vessel slow for this long counts as stopping there"
    )
    stop_place_memory_days: float = _setting(
        30.0, "... stops (and passages, below) are remembered this long (event time)"
    )
    fairway_min_vessels: int = _setting(
        10,
        "loitering: a place within 0.5 nm of which at least this many vessels passed under "
        "way is a fairway: a vessel stopped there is not explained by the nearby coast "
        "(a grounding or a breakdown in a canal or a channel)",
    )

    # --- alert lifecycle
    cooldown_min: float = _setting(
        60.0,
        "an alert of the same vessel, kind (and partner or zone) starting within this long "
        "after the previous one ended reopens it instead of ringing again",
    )
    update_min_interval_s: float = _setting(
        60.0, "an open alert is re-published while it grows at most this often ..."
    )
    update_min_growth: float = _setting(
        0.1,
        "... and only once it grew by this fraction of its duration (a day-long episode "
        "is not re-published every minute)",
    )

    # --- track state
    vessel_mmsi_only: bool = _setting(
        True,
        "run the vessel rules only for ship MMSIs (MID 201-775); base stations, "
        "aids to navigation, SAR aircraft and placeholder MMSIs are counted and skipped",
    )
    track_max_fixes: int = _setting(
        20, "recent fixes kept per vessel, to derive speed and course when a report lacks them"
    )
    sog_derive_min_interval_s: float = _setting(
        120.0,
        "a speed derived from positions spans at least this long (shorter spans turn "
        "GPS noise into knots)",
    )
    vessel_forget_after_h: float = _setting(
        24.0, "a vessel silent this long (feed time) is forgotten; its open alerts close"
    )
    sweep_interval_s: float = _setting(
        60.0,
        "how often, in event time, the time-driven rules run (gaps, silent beacons, "
        "stale encounters, forgetting)",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(
                        f"analytics setting {f.name!r} wants true or false, got {value!r}"
                    )
            elif isinstance(f.default, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"analytics setting {f.name!r} wants a number, got {value!r}")
                if value < 0:
                    raise ConfigError(
                        f"analytics setting {f.name!r} must not be negative, got {value!r}"
                    )
        for name in (
            "encounter_max_distance_m",
            "sweep_interval_s",
            "track_max_fixes",
            "identity_clash_min_jumps",
            "feed_max_step_min",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"analytics setting {name!r} must be positive")
        unknown = self.disabled - set(KINDS)
        if unknown:
            raise ConfigError(
                f"analytics setting 'disabled_kinds': unknown kind(s) "
                f"{', '.join(sorted(unknown))}; known: {', '.join(KINDS)}"
            )
        if self.zone_entry_default_severity not in SEVERITIES:
            raise ConfigError(
                f"analytics setting 'zone_entry_default_severity' must be one of "
                f"{', '.join(SEVERITIES)}, got {self.zone_entry_default_severity!r}"
            )
        for name in (
            "loitering_quiet_nav_status",
            "loitering_ignore_ship_types",
            "encounter_ignore_ship_types",
            "ais_gap_ignore_ship_types",
        ):
            try:
                _ints(getattr(self, name))
            except ValueError:
                raise ConfigError(
                    f"analytics setting {name!r} wants comma-separated numbers, "
                    f"got {getattr(self, name)!r}"
                ) from None
        for name in ("encounter_sample_min", "stop_place_radius_nm", "on_land_min_fixes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"analytics setting {name!r} must be positive")
        try:
            _ = self.beacon_prefixes  # parsed here so a bad list fails at load, by name
        except ValueError:
            raise ConfigError(
                f"analytics setting 'distress_mmsi_prefixes' wants comma-separated "
                f"3-digit numbers, got {self.distress_mmsi_prefixes!r}"
            ) from None

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

    def ints(self, name: str) -> frozenset[int]:
        """A comma-separated list of numbers, parsed (e.g. ``ints('loitering_quiet_nav_status')``)."""
        return frozenset(_ints(getattr(self, name)))

    def is_satellite(self, source: str) -> bool:
        """Is ``source`` (a feed name, or 'feed/station') one of ``ais_gap_satellite_sources``?"""
        for pattern in _split(self.ais_gap_satellite_sources):
            if pattern.endswith("*"):
                if source.startswith(pattern[:-1]):
                    return True
            elif source == pattern or source.startswith(pattern + "/"):
                return True
        return False


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(text: str) -> list[int]:
    return [int(part) for part in _split(text)]


def settings_table() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, in declaration order: for docs and the CLI."""
    return [(f.name, f.default, f.metadata["help"]) for f in fields(AnalyticsConfig)]
