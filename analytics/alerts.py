"""The alert record and its lifecycle inside the analytics.

One episode is one alert: it is *opened* when a rule's condition has held long enough,
*updated* (throttled) while it grows, and *closed* when it ends. A new episode of the same
vessel, kind and partner or zone that starts within the cooldown after the previous one ended
reopens that alert (an ``updated`` change, same key) instead of ringing again.

Acknowledgement by an officer is the store's business; here an alert only opens and closes.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from .config import KIND_TABLE

__all__ = ["Alert", "AlertChange", "AlertBook", "DEFAULT_SEVERITY", "iso_utc"]

# Severity of each kind as events.md sets it; zone_entry takes the zone's own when it has one.
DEFAULT_SEVERITY = {k.kind: k.severity for k in KIND_TABLE}


def iso_utc(ts: float | None) -> str | None:
    """Event time as ISO 8601 UTC with a Z, to the second."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Alert:
    """One episode of one rule. ``key`` is stable for the episode's whole life (the store
    upserts on it); ``end`` is None while the episode is open."""

    key: str
    kind: str
    severity: str
    mmsi: int
    other_mmsi: int | None
    start: float
    end: float | None
    lat: float
    lon: float
    zone: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def make_key(
        kind: str,
        mmsi: int,
        other_mmsi: int | None,
        start: float,
        zone: str | None,
        notice: bool = False,
    ) -> str:
        key = f"{kind}:{mmsi}:{'' if other_mmsi is None else other_mmsi}:{int(start)}"
        if zone is not None:
            key = f"{key}:{zone}"
        return f"{key}:info" if notice else key

    @property
    def notice(self) -> bool:
        """A data-quality notice (severity info): never rings on a desk."""
        return self.severity == "info"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC strings, ``end`` null while open."""
        return {
            "key": self.key,
            "kind": self.kind,
            "severity": self.severity,
            "mmsi": self.mmsi,
            "other_mmsi": self.other_mmsi,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "zone": self.zone,
            "details": self.details,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class AlertChange:
    """What happened to an alert; ``alert`` is a snapshot taken at that moment."""

    change: Literal["opened", "updated", "closed"]
    alert: Alert


class OpenAlert:
    """The book's handle on an open alert, held by the detector that owns the episode.
    ``describe(alert)`` builds the alert's details from the episode's measured values; it is
    called only when a change is published, never per fix. Durations are measured from
    ``alert.start``: a reopened alert keeps the start of the first episode."""

    __slots__ = ("alert", "describe", "last", "emitted", "ident", "muted")

    def __init__(self, alert: Alert, describe: Callable[[Alert], dict], last: float, ident: tuple):
        self.alert = alert
        self.describe = describe
        self.last = last  # latest evidence time of the episode
        self.emitted = last  # evidence time when a change was last published
        self.ident = ident
        self.muted = None  # the suspension holding it back (nothing is published), or None


class AlertBook:
    """Opens, updates (throttled), closes and reopens alerts, collecting the changes in the
    order they happen. Detectors call it; the engine drains ``changes``."""

    def __init__(
        self,
        cooldown_s: float,
        update_interval_s: float,
        update_growth: float = 0.1,
        retain_s: float = 86400.0,
    ):
        self.cooldown_s = cooldown_s
        self.update_interval_s = update_interval_s
        self.update_growth = update_growth
        # A closed alert is kept this long past its cooldown: an episode may start within the
        # cooldown but reach its rule's duration (and call ``open``) much later.
        self.retain_s = cooldown_s + retain_s
        self.changes: list[AlertChange] = []
        self.counts = {
            "opened": 0,
            "updated": 0,
            "closed": 0,
            "reopened": 0,
            "notices": 0,
            "suspended": 0,
        }
        self._open: dict[str, OpenAlert] = {}
        # Suspensions in force (the shell's, as data): (kind, mmsi) -> id, and by area.
        self._susp_vessel: dict[tuple[str, int], Any] = {}
        self._susp_area: list[tuple[str, tuple[float, float, float, float], Any]] = []
        # Recently closed alerts by (kind, mmsi, other, zone), in closing order, kept for
        # the cooldown.
        self._recent: OrderedDict[tuple, Alert] = OrderedDict()
        # Episodes another process opened (a core taking over, ``adopt``), by identity: the
        # first ``open`` of the same identity continues one under its key.
        self._adopted: dict[tuple, Alert] = {}

    def open(
        self,
        kind: str,
        mmsi: int,
        start: float,
        lat: float,
        lon: float,
        describe: Callable[[Alert], dict],
        *,
        last: float,
        other_mmsi: int | None = None,
        zone: str | None = None,
        severity: str | None = None,
    ) -> OpenAlert:
        # Notices and alerts of one kind are separate episodes: a corrupted fix must not
        # reopen (and downgrade) an alert, nor an alert turn a notice into a ring.
        notice = severity == "info"
        ident = (kind, mmsi, other_mmsi, zone, notice)
        previous = self._recent.pop(ident, None)
        if previous is not None and start - previous.end <= self.cooldown_s:
            # The same situation again after a short pause: one episode, one ring.
            previous.end = None
            if severity is not None:
                previous.severity = severity
            handle = OpenAlert(previous, describe, last, ident)
            self._open[previous.key] = handle
            self.counts["reopened"] += 1
            if not self._mute(handle):
                self._publish(handle, "updated")
            return handle
        adopted = self._adopted.pop(ident, None) if self._adopted else None
        if adopted is not None:
            # Opened by the core before us: the same episode goes on, under its key.
            if severity is not None:
                adopted.severity = severity
            handle = OpenAlert(adopted, describe, last, ident)
            self._open[adopted.key] = handle
            if not self._mute(handle):
                self._publish(handle, "updated")
            return handle
        alert = Alert(
            key=Alert.make_key(kind, mmsi, other_mmsi, start, zone, notice),
            kind=kind,
            severity=severity or DEFAULT_SEVERITY[kind],
            mmsi=mmsi,
            other_mmsi=other_mmsi,
            start=start,
            end=None,
            lat=lat,
            lon=lon,
            zone=zone,
        )
        handle = OpenAlert(alert, describe, last, ident)
        self._open[alert.key] = handle
        if notice:
            self.counts["notices"] += 1
        if not self._mute(handle):
            self._publish(handle, "opened")
        return handle

    def adopt(self, alerts) -> int:
        """Alerts stored by the process this one takes over from (a standby core becoming the
        leader): an open one is continued under its key by the first ``open`` of the same
        vessel, kind, partner and zone (whatever start the detector measures then); one
        ended lately may be reopened within the cooldown, as if it had closed here. Returns
        how many are waiting to be continued."""
        for a in alerts:
            ident = (a.kind, a.mmsi, a.other_mmsi, a.zone, a.severity == "info")
            if a.end is None:
                self._adopted[ident] = a
            elif ident not in self._recent:
                self._recent[ident] = a
        return len(self._adopted)

    @property
    def adopted_waiting(self) -> int:
        """Adopted open alerts no detector has continued yet."""
        return len(self._adopted)

    # ----- rule suspensions
    def set_suspensions(self, suspensions) -> None:
        """The suspensions in force, as data: mappings with ``kind``, ``mmsi`` (or None)
        and ``bbox`` ``(min_lon, min_lat, max_lon, max_lat)`` (or None), and an ``id``. An
        episode that opens while its rule is suspended for its vessel (either vessel of an
        encounter) or its place is held back: nothing is published while it lasts. Once
        the suspension is gone (expired or lifted: the shell stops passing it), an
        episode still going on is published as opened."""
        vessel: dict[tuple[str, int], Any] = {}
        area: list = []
        for s in suspensions:
            sid = s.get("id")
            sid = True if sid is None else sid
            if s.get("mmsi") is not None:
                vessel[(s["kind"], int(s["mmsi"]))] = sid
            elif s.get("bbox") is not None:
                area.append((s["kind"], tuple(float(x) for x in s["bbox"]), sid))
        self._susp_vessel, self._susp_area = vessel, area
        for handle in list(self._open.values()):
            if handle.muted is not None and self._suspension(handle.alert) is None:
                handle.muted = None
                self._publish(handle, "opened")

    def _suspension(self, a: Alert):
        if not (self._susp_vessel or self._susp_area):
            return None
        v = self._susp_vessel
        sid = v.get((a.kind, a.mmsi))
        if sid is None and a.other_mmsi is not None:
            sid = v.get((a.kind, a.other_mmsi))
        if sid is not None:
            return sid
        for kind, (x0, y0, x1, y1), sid in self._susp_area:
            if (
                kind == a.kind
                and y0 <= a.lat <= y1
                and (x0 <= a.lon <= x1 if x0 <= x1 else (a.lon >= x0 or a.lon <= x1))
            ):
                return sid
        return None

    def _mute(self, handle: OpenAlert) -> bool:
        sid = self._suspension(handle.alert)
        if sid is None:
            return False
        handle.muted = sid
        self.counts["suspended"] += 1
        return True

    def reopens(
        self,
        kind: str,
        mmsi: int,
        start: float,
        other_mmsi: int | None = None,
        zone: str | None = None,
        notice: bool = False,
    ) -> bool:
        """Would ``open`` with these values reopen a recently closed alert?"""
        previous = self._recent.get((kind, mmsi, other_mmsi, zone, notice))
        return previous is not None and start - previous.end <= self.cooldown_s

    def update(self, handle: OpenAlert, last: float, force: bool = False) -> None:
        """The episode grew to ``last``. Publish when it grew since the last publication by
        the update interval or by ``update_growth`` of its duration, whichever is longer (a
        day-long episode is not re-published every minute), or when ``force`` says a value
        changed materially."""
        handle.last = last
        if handle.muted is not None:
            return
        grown = last - handle.emitted
        if force or (
            grown >= self.update_interval_s
            and grown >= self.update_growth * (last - handle.alert.start)
        ):
            self._publish(handle, "updated")

    def close(self, handle: OpenAlert, end: float) -> None:
        alert = handle.alert
        handle.last = max(handle.last, end)
        alert.end = end
        if handle.muted is None:
            self._publish(handle, "closed")
        del self._open[alert.key]
        self._recent.pop(handle.ident, None)
        self._recent[handle.ident] = alert

    def supersede(self, handle: OpenAlert, by: Alert, note: str) -> None:
        """A closed alert turned out to be part of a larger situation that ``by`` reports:
        re-publish it (an ``updated`` change; it stays closed) with ``superseded_by`` (the
        kind) and ``superseded_by_key`` in its details and ``note`` added to its text. It is
        no longer reopened: a later episode of its kind rings as a new alert."""
        alert = handle.alert
        describe = handle.describe
        by_kind, by_key = by.kind, by.key

        def superseded(a: Alert) -> dict:
            details = describe(a)
            details["text"] = f"{details['text']}; {note}"
            details["superseded_by"] = by_kind
            details["superseded_by_key"] = by_key
            return details

        handle.describe = superseded
        if self._recent.get(handle.ident) is alert:
            del self._recent[handle.ident]
        if handle.muted is None:
            self._publish(handle, "updated")

    def flush(self) -> None:
        """Publish the latest state of every open alert that grew since its last change."""
        for handle in self._open.values():
            if handle.last > handle.emitted and handle.muted is None:
                self._publish(handle, "updated")

    def forget_before(self, ts: float) -> None:
        """Drop closed alerts that can no longer be reopened at ``ts`` (bounded memory)."""
        recent = self._recent
        limit = ts - self.retain_s
        while recent:
            ident, alert = next(iter(recent.items()))
            if alert.end is not None and alert.end >= limit:
                break
            del recent[ident]

    @property
    def open_count(self) -> int:
        return len(self._open)

    def open_alerts(self) -> list[Alert]:
        return [replace(h.alert, details=dict(h.alert.details)) for h in self._open.values()]

    def _publish(self, handle: OpenAlert, change: str) -> None:
        alert = handle.alert
        alert.details = handle.describe(alert)
        handle.emitted = handle.last
        self.counts[change] += 1
        self.changes.append(AlertChange(change, replace(alert, details=dict(alert.details))))
