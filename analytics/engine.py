"""The engine: records in, alert changes out. Pure: no clock, no I/O, no sockets.

Time is the records' event time. Two clocks are kept:

* the *feed time*, the latest event time seen on any vessel;
* the *active clock*, which follows the feed time but counts a jump of more than
  ``feed_max_step_min`` as only that much. Silence is measured on it, so an outage of the feed
  (or a pause in a replayed file) is not mistaken for vessels going dark.

Live vessels sit in buckets of one minute of the active clock, by their last fix; a vessel
changes bucket at most once a minute (a dict comparison on most fixes). A periodic sweep
(every ``sweep_interval_s`` of feed time) empties the buckets older than the AIS gap
threshold into the *silent* list, which is in order of silence, and forgets the vessels at
its front that have been silent for ``vessel_forget_after_h``. Time-driven rules thus cost
nothing per message and never scan the fleet.

A position report runs through a short fixed path; the rules are only called when the fix
concerns them (a slow vessel, a fix in a zone, an open episode). Out-of-order reports (older
than the vessel's last fix) are counted and skipped by the motion rules; an exact repeat of the
last fix (a second receiver) is counted as a duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from math import exp

from mda.ingest.records import PositionReport, VesselInfo

from .alerts import Alert, AlertBook, AlertChange
from .config import AnalyticsConfig
from .detectors import (
    AisGap,
    DistressBeacon,
    Encounters,
    LaneDeviation,
    Loitering,
    OnLand,
    PositionJumps,
    Watchlist,
    WrongWay,
    ZoneEntry,
)
from .detectors.lanes import rule_lanes
from .landmask import shared_land_mask
from .places import Coverage, StopPlaces
from .track import Vessel, derived_motion, is_ship_mmsi, start_history
from .zones import ZoneSet

__all__ = ["Analyzer", "analyze_records"]

_BUCKET_S = 60.0  # width of the live buckets on the active clock
_INTERVAL_FADE_S = 12 * 3600.0  # a vessel's longest recent report interval fades this fast
_COVERAGE_EVERY_S = 60.0  # a vessel marks its receiver's coverage at most this often
_STOP_EVERY_S = 3600.0  # a vessel reporting at anchor or moored is recorded this often
_PASS_EVERY_S = 120.0  # a vessel under way is recorded passing at most this often (1 nm cells)
_UNDER_WAY_KN = 5.0  # ... when at least this fast
_CLASS_B = (18, 19)


class Analyzer:
    """Feed it records in arrival order with ``process``; it returns the alert changes those
    records caused. The same input always gives the same output."""

    def __init__(self, config: AnalyticsConfig | None = None, zones: ZoneSet | None = None):
        cfg = self.config = config or AnalyticsConfig()
        self.zones = ZoneSet.builtin() if zones is None else zones
        self.book = AlertBook(
            cfg.cooldown_min * 60.0, cfg.update_min_interval_s, cfg.update_min_growth
        )
        on = cfg.enabled
        book = self.book
        # What the traffic teaches: where vessels stop, where each receiver hears them.
        self.places = StopPlaces(
            cfg.stop_place_min_vessels, cfg.stop_place_radius_nm, cfg.stop_place_memory_days
        )
        self.coverage = Coverage()
        mask = shared_land_mask()
        self._loiter = (
            Loitering(cfg, book, self.zones, self.places, mask) if on("loitering") else None
        )
        self._enc = Encounters(cfg, book, self.places, mask) if on("encounter") else None
        self._gap = (
            AisGap(cfg, book, self.zones, self.places, mask, self.coverage)
            if on("ais_gap")
            else None
        )
        self._jumps = PositionJumps(cfg, book, on("position_jump"), on("identity_clash"))
        self._onland = OnLand(cfg, book, mask) if on("on_land") else None
        self._land = mask if on("on_land") else None
        self._wrong = WrongWay(cfg, book) if on("wrong_way") else None
        self._dev = LaneDeviation(cfg, book) if on("lane_deviation") else None
        self._entry = ZoneEntry(cfg, book) if on("zone_entry") else None
        self._distress = DistressBeacon(cfg, book) if on("distress_beacon") else None
        self._watch = Watchlist(cfg, book) if on("watchlist") else None
        self._lanes_of = rule_lanes(cfg)

        self._vessels: dict[int, Vessel] = {}
        self._buckets: dict[int, dict[int, Vessel]] = {}  # live vessels by minute of last fix
        self._oldest_bucket = 0
        self._silent: OrderedDict[int, Vessel] = OrderedDict()
        self._feed_ts: float | None = None
        self._active = 0.0
        self._next_sweep = float("-inf")
        self._source_ts: dict[str, float] = {}  # latest event time delivered by each source
        self._outage_vessels = cfg.feed_outage_min_vessels
        # Report intervals below this cannot move a gap threshold (threshold / factor).
        self._interval_floor = (
            cfg.ais_gap_min_duration_min * 60.0 / max(cfg.ais_gap_interval_factor, 1e-9)
        )
        self._stop_status = frozenset((1, 5))

        # Thresholds copied once for the hot path.
        self._step_cap = cfg.feed_max_step_min * 60.0
        self._sweep_every = cfg.sweep_interval_s
        self._gap_s = cfg.ais_gap_min_duration_min * 60.0
        self._forget_s = cfg.vessel_forget_after_h * 3600.0
        self._jump_deg = cfg.position_jump_min_distance_nm / 60.0
        self._loiter_sog = cfg.loitering_max_sog_kn
        self._enc_sog = cfg.encounter_max_sog_kn
        self._margin = cfg.on_land_margin_cells
        self._span = cfg.sog_derive_min_interval_s
        self._max_fixes = cfg.track_max_fixes
        self._ships_only = cfg.vessel_mmsi_only
        self._beacon_prefixes = cfg.beacon_prefixes
        self._distress_status = cfg.distress_nav_status

        self.stats: dict[str, int] = {
            "records": 0,
            "positions": 0,
            "statics": 0,
            "ignored_records": 0,
            "bad_positions": 0,
            "not_vessels": 0,
            "out_of_order": 0,
            "duplicates": 0,
            "jumps": 0,
            "feed_outages": 0,
            "vessels": 0,
            "vessels_forgotten": 0,
            "beacon_tests": 0,
            "alerts_opened": 0,
            "alerts_updated": 0,
            "alerts_closed": 0,
            "alerts_reopened": 0,
            "alerts_open": 0,
            "episode_cuts": 0,
            "jump_fixes_skipped": 0,
            "explained_loitering": 0,
            "explained_encounter": 0,
            "explained_on_land": 0,
            "explained_ais_gap": 0,
            "gaps_left_coverage": 0,
            "notices": 0,
            "alerts_suspended": 0,
            "watchlist_hits": 0,
        }

    # ----- public surface
    def process(self, records: Iterable[PositionReport | VesselInfo]) -> list[AlertChange]:
        """Apply records in order; return the alert changes they caused, in order."""
        position = self._position
        st = self.stats
        n = npos = 0
        for rec in records:
            n += 1
            if rec.__class__ is PositionReport or isinstance(rec, PositionReport):
                npos += 1
                position(rec)
            elif isinstance(rec, VesselInfo):
                self._static(rec)
            else:
                st["ignored_records"] += 1
        st["records"] += n
        st["positions"] += npos
        return self._drain()

    def finish(self) -> list[AlertChange]:
        """End of input: run the time-driven rules at the last event time and publish the
        latest state of open alerts. Alerts still open stay open (``end`` None)."""
        if self._feed_ts is not None:
            self._sweep()
        self._jumps.flush()
        self.book.flush()
        return self._drain()

    def open_alerts(self) -> list[Alert]:
        return self.book.open_alerts()

    def adopt_alerts(self, alerts) -> int:
        """Alerts (``Alert``) another process stored and left open or lately ended: the
        detectors continue them under their keys (``AlertBook.adopt``), so a core taking
        over raises no second alert for an episode going on. Call before ``process``."""
        return self.book.adopt(alerts)

    def set_watchlist(self, entries) -> None:
        """The watch lists' entries, as data (the shell reads them from the database):
        mappings with ``list``, ``reason``, ``id`` and any of ``mmsi``, ``imo``, ``name``,
        ``callsign``. Replaces the previous ones."""
        if self._watch is not None:
            self._watch.set_entries(entries)

    def set_suspensions(self, suspensions) -> None:
        """The rule suspensions in force, as data (mappings with ``kind``, ``mmsi`` or
        ``bbox``, ``id``); see ``AlertBook.set_suspensions``. The shell passes only those
        in force now and calls again when that changes, so one expires by itself."""
        self.book.set_suspensions(suspensions)

    def set_hazard_zones(self, zones) -> None:
        """The hazard areas in force, as zones (kind ``hazard``; the shell makes them from
        the hazards table and calls again when that changes): the zones each fix is looked
        up in become the zones given at start plus these, so zone_entry (when its
        ``zone_entry_kinds`` lists ``hazard``) raises an alert for a vessel inside one. A
        vessel inside a hazard that is gone has its episode ended at its next fix."""
        base = self.__dict__.setdefault("_base_zones", self.zones)
        self.zones = ZoneSet([*base, *zones]) if zones else base

    @property
    def feed_time(self) -> float | None:
        """The latest event time seen (UTC epoch seconds)."""
        return self._feed_ts

    # ----- records
    def _position(self, rec: PositionReport) -> None:
        """One position report. This is the hot path: every step is cheap, and a rule is
        called only when the fix concerns it."""
        ts = rec.ts
        feed = self._feed_ts
        if feed is None or ts > feed:
            if feed is None:
                feed = ts
            step = ts - feed
            if step <= self._step_cap:
                self._active += step
            else:
                self._active += self._step_cap
                self.stats["feed_outages"] += 1
                if len(self._vessels) - len(self._silent) >= self._outage_vessels:
                    self._cut_episodes()
            self._feed_ts = ts
            if ts >= self._next_sweep:
                self._sweep()

        lat = rec.lat
        lon = rec.lon
        if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            self.stats["bad_positions"] += 1
            return
        mmsi = rec.mmsi
        watch = self._watch
        if watch is not None and mmsi in watch.listed:
            watch.on_position(mmsi, ts, lat, lon, self._active)
        distress = self._distress
        if distress is not None and (
            rec.nav_status == self._distress_status
            or mmsi // 1_000_000 in self._beacon_prefixes
            or mmsi in distress.open
        ):
            distress.on_report(rec, self._active)
            if mmsi // 1_000_000 in self._beacon_prefixes:
                return  # a beacon, not a vessel
        if (self._ships_only and not 201_000_000 <= mmsi <= 775_999_999) or (
            rec.msg_type == 4 or rec.msg_type == 21
        ):
            self.stats["not_vessels"] += 1  # base stations, aids to navigation, placeholders
            return

        source = rec.source
        self._source_ts[source] = ts
        v = self._vessels.get(mmsi)
        jumped = False
        if v is None:
            v = self._new_vessel(mmsi)
        elif v.ts is not None:
            last = v.ts
            if ts <= last:
                if ts < last:
                    self.stats["out_of_order"] += 1
                    return
                if abs(lat - v.lat) + abs(lon - v.lon) <= self._jump_deg:
                    self.stats["duplicates"] += 1  # a second receiver, or a repeat
                    return
            dt = ts - last
            if dt >= self._interval_floor:
                # The longest recent interval between reports, fading over hours: what
                # silence means for this vessel. Shorter intervals than the floor can never
                # raise its gap threshold, so most fixes skip this.
                fade = v.long_interval * exp(-(ts - v.long_ts) / _INTERVAL_FADE_S)
                if dt > fade:
                    v.long_interval, v.long_ts = dt, ts
            if abs(lat - v.lat) + abs(lon - v.lon) > self._jump_deg:
                if self._jumps.on_move(v, ts, lat, lon, rec.sog, source):
                    jumped = True
                    self.stats["jumps"] += 1
                    if v.history is not None:
                        v.history.clear()  # speeds across the jump mean nothing
            elif v.jumps is not None:
                self._jumps.on_quiet_fix(v, ts)  # held jumps, open clash

        active = v.active_at = self._active
        if v.silent:
            self._revive(v, ts, lat, lon)
        elif int(active // _BUCKET_S) != v.bucket:
            self._rebucket(v)

        sog = rec.sog
        cog = rec.cog
        derived = False
        if sog is None or cog is None:
            if v.history is None:
                start_history(v, self._max_fixes)
            dsog, dcog = derived_motion(v, ts, lat, lon, self._span)
            if sog is None:
                sog = dsog
                derived = dsog is not None
            if cog is None:
                cog = dcog
        if v.history is not None:
            v.history.append((ts, lat, lon))
        v.sog_derived = derived
        v.ts = ts
        v.lat = lat
        v.lon = lon
        v.sog = sog
        v.cog = cog
        status = v.nav_status = rec.nav_status
        v.source = source
        v.class_b = rec.msg_type in _CLASS_B
        hit = v.hit = self.zones.lookup(lat, lon)
        if ts - v.cov_ts >= _COVERAGE_EVERY_S and not jumped:
            v.cov_ts = ts
            self.coverage.heard(source, Coverage.cell(lat, lon), ts)
        if not jumped:
            if status in self._stop_status:
                if ts - v.stop_ts >= _STOP_EVERY_S:
                    v.stop_ts = ts  # reporting at anchor or moored: a place vessels stop
                    self.places.add(mmsi, lat, lon, ts)
            elif sog is not None and sog >= _UNDER_WAY_KN and ts - v.pass_ts >= _PASS_EVERY_S:
                v.pass_ts = ts  # under way through here: a fairway, if many do
                self.places.add_pass(mmsi, lat, lon, ts)
        land = self._land
        if land is not None:
            # A run on land that begins with an impossible jump is the plainest spoof there
            # is; the rule sees jump fixes for that, and a lone one never makes a run.
            on_land = not hit.quiet and land.is_land(lat, lon, self._margin)
            if on_land or v.land is not None:
                self._onland.on_fix(v, ts, on_land, jumped)
        if jumped:
            # A fix no ship could have reached says nothing about where the ship is: the
            # other rules wait for the next fix.
            self.stats["jump_fixes_skipped"] += 1
            return

        if sog is not None:
            if sog < self._loiter_sog or v.loiter is not None:
                if self._loiter is not None:
                    self._loiter.on_fix(v, ts, sog)
            if sog < self._enc_sog or v.enc_cell is not None:
                if self._enc is not None:
                    self._enc.on_fix(v, ts)
        if (
            hit.zones
            or v.follow is not None
            or v.deviation is not None
            or v.wrong is not None
            or v.zone_eps is not None
        ):
            self._zone_rules(v, ts, hit)

    def _zone_rules(self, v: Vessel, ts: float, hit) -> None:
        if hit.lanes or v.follow is not None or v.deviation is not None or v.wrong is not None:
            lanes = self._lanes_of(hit)
            if self._wrong is not None:
                self._wrong.on_fix(v, ts, lanes)
            if self._dev is not None:
                self._dev.on_fix(v, ts, lanes)
        if self._entry is not None and (hit.others or v.zone_eps is not None):
            self._entry.on_fix(v, ts)

    def _static(self, rec: VesselInfo) -> None:
        self.stats["statics"] += 1
        watch = self._watch
        if watch is not None and (watch.active or rec.mmsi in watch.ident):
            v = self._vessels.get(rec.mmsi)
            where = (v.lat, v.lon) if v is not None and v.ts is not None else None
            watch.on_static(rec, where, self._active)
        if rec.ship_type is None or (self._ships_only and not is_ship_mmsi(rec.mmsi)):
            return
        v = self._vessels.get(rec.mmsi)
        if v is None:
            v = self._new_vessel(rec.mmsi)
        v.ship_type = rec.ship_type

    def _new_vessel(self, mmsi: int) -> Vessel:
        v = self._vessels[mmsi] = Vessel(mmsi)
        v.active_at = self._active
        self._rebucket(v)
        return v

    def _rebucket(self, v: Vessel) -> None:
        """Put a live vessel in the bucket of its last fix."""
        if v.bucket >= 0:
            old = self._buckets.get(v.bucket)
            if old is not None:
                old.pop(v.mmsi, None)
                if not old:
                    del self._buckets[v.bucket]
        b = v.bucket = int(v.active_at // _BUCKET_S)
        bucket = self._buckets.get(b)
        if bucket is None:
            bucket = self._buckets[b] = {}
        bucket[v.mmsi] = v

    # ----- time-driven rules
    def _sweep(self) -> None:
        now = self._feed_ts
        active = self._active
        self._next_sweep = now + self._sweep_every
        gap = self._gap
        limit = active - self._gap_s  # vessels whose last fix is older went silent
        buckets = self._buckets
        b = self._oldest_bucket
        last = int(limit // _BUCKET_S)
        while b <= last:
            bucket = buckets.get(b)
            if bucket:
                for v in [v for v in bucket.values() if v.active_at <= limit]:
                    del bucket[v.mmsi]
                    v.bucket = -1
                    v.silent = True
                    self._silent[v.mmsi] = v
                    if gap is not None:
                        gap.on_silent(v, now, active, self._source_ts)
                if bucket:
                    break  # the bucket straddling the limit: the rest are not silent yet
                del buckets[b]
            b += 1
        self._oldest_bucket = b
        silent = self._silent
        while silent:
            v = next(iter(silent.values()))
            if active - v.active_at < self._forget_s:
                break
            del silent[v.mmsi]
            self._forget(v, now)
        if gap is not None and gap.pending:
            gap.sweep(now, active, self._source_ts)
        if self._distress is not None:
            self._distress.sweep(active)
        if self._watch is not None and self._watch.open:
            self._watch.sweep(active)
        self._jumps.sweep(now)
        if self._enc is not None:
            self._enc.sweep(now)
        self.book.forget_before(now)

    def _cut_episodes(self) -> None:
        """The whole feed fell silent (a receiver, a link or a capture ended): no episode may
        span that, so every running one ends at its last evidence before it."""
        self.stats["episode_cuts"] += 1
        for v in self._vessels.values():
            if v.loiter is not None and self._loiter is not None:
                self._loiter.end(v)
            if v.land is not None and self._onland is not None:
                self._onland.end(v)
            if v.wrong is not None and self._wrong is not None:
                self._wrong.end(v)
            if (v.follow is not None or v.deviation is not None) and self._dev is not None:
                self._dev.end(v, "the feed stopped")
            if v.zone_eps is not None and self._entry is not None:
                self._entry.end_all(v)
            if v.history is not None:
                v.history.clear()  # no speed is derived across the outage either
        if self._enc is not None:
            self._enc.cut()

    # ----- what the traffic taught, as plain data (a database or a file keeps it)
    def export_places(self, since: float = float("-inf")) -> list[tuple]:
        """The stops and passages learned so far (at or after ``since``), as
        (kind, mmsi, ts, lat, lon): see ``places.StopPlaces``."""
        return self.places.export(since)

    def load_places(self, rows) -> None:
        """Start from places learned before (by an earlier run, or another process)."""
        self.places.load(rows)

    def _revive(self, v: Vessel, ts: float, lat: float, lon: float) -> None:
        del self._silent[v.mmsi]
        v.silent = False
        self._rebucket(v)
        if self._gap is not None:
            self._gap.on_return(v, ts, lat, lon)

    def _forget(self, v: Vessel, now: float) -> None:
        """Drop a long-silent vessel; its open episodes end at their last evidence."""
        if self._loiter is not None:
            self._loiter.end(v)
        if self._enc is not None:
            self._enc.forget(v)
        self._jumps.forget(v)
        if self._onland is not None:
            self._onland.end(v)
        if self._wrong is not None:
            self._wrong.end(v)
        if self._dev is not None:
            self._dev.end(v)
        if self._entry is not None:
            self._entry.end_all(v)
        if self._gap is not None:
            self._gap.forget(v, now)
        if self._watch is not None:
            self._watch.forget(v.mmsi)
        del self._vessels[v.mmsi]
        self.stats["vessels_forgotten"] += 1

    def _drain(self) -> list[AlertChange]:
        changes = self.book.changes
        self.book.changes = []
        counts = self.book.counts
        st = self.stats
        st["alerts_opened"] = counts["opened"]
        st["alerts_updated"] = counts["updated"]
        st["alerts_closed"] = counts["closed"]
        st["alerts_reopened"] = counts["reopened"]
        st["alerts_open"] = self.book.open_count
        st["vessels"] = len(self._vessels)
        if self._distress is not None:
            st["beacon_tests"] = self._distress.test_reports
        if self._loiter is not None:
            st["explained_loitering"] = self._loiter.explained
        if self._enc is not None:
            st["explained_encounter"] = self._enc.explained
        if self._onland is not None:
            st["explained_on_land"] = self._onland.explained
        if self._gap is not None:
            st["explained_ais_gap"] = self._gap.counts["explained"]
            st["gaps_left_coverage"] = self._gap.counts["left_coverage"]
        st["notices"] = counts["notices"]
        st["alerts_suspended"] = counts["suspended"]
        if self._watch is not None:
            st["watchlist_hits"] = self._watch.hits
        return changes


def analyze_records(
    records: Iterable[PositionReport | VesselInfo],
    config: AnalyticsConfig | None = None,
    zones: ZoneSet | None = None,
) -> list[Alert]:
    """Offline analysis: the final state of every alert the records raise, sorted by start,
    mmsi and kind. Alerts still open at the end of the input have ``end`` None."""
    analyzer = Analyzer(config, zones)
    final: dict[str, Alert] = {}
    for change in analyzer.process(records):
        final[change.alert.key] = change.alert
    for change in analyzer.finish():
        final[change.alert.key] = change.alert
    return sorted(final.values(), key=lambda a: (a.start, a.mmsi, a.kind, a.key))
