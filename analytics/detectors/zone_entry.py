"""zone_entry: a vessel inside a zone whose kind is listed in ``zone_entry_kinds``
(restricted, protected). When the zone lists ``ship_types``, only vessels whose static
report gave one of those AIS types count (an unknown type does not). The alert runs from the
first to the last fix inside and takes the zone's ``severity`` (default
``zone_entry_default_severity``). A vessel first heard inside a zone counts as entering it.

Vessel slot: ``zone_eps`` (zone name -> open episode, or None).
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ._text import minutes

__all__ = ["ZoneEntry"]


class _Inside:
    __slots__ = ("zone", "first", "last", "n", "handle")

    def __init__(self, zone, ts: float):
        self.zone = zone
        self.first = self.last = ts
        self.n = 1
        self.handle = None


class ZoneEntry:
    kind = "zone_entry"

    def __init__(self, config: AnalyticsConfig, book: AlertBook):
        self.book = book
        self.kinds = config.entry_kinds
        self.severity = config.zone_entry_default_severity

    def applies(self, zone, ship_type: int | None) -> bool:
        if zone.kind not in self.kinds:
            return False
        return zone.ship_types is None or ship_type in zone.ship_types

    def on_fix(self, v, ts: float) -> None:
        inside = [z for z in v.hit.others if self.applies(z, v.ship_type)]
        eps = v.zone_eps
        if eps:
            names = {z.name for z in inside}
            for name in [n for n in eps if n not in names]:
                ep = eps.pop(name)
                self.book.close(ep.handle, ep.last)
        for z in inside:
            ep = eps.get(z.name) if eps else None
            if ep is None:
                if eps is None:
                    eps = v.zone_eps = {}
                ep = eps[z.name] = _Inside(z, ts)
                ep.handle = self.book.open(
                    self.kind,
                    v.mmsi,
                    ts,
                    v.lat,
                    v.lon,
                    lambda a, ep=ep: self._describe(ep, a),
                    last=ts,
                    zone=z.name,
                    severity=z.severity or self.severity,
                )
            else:
                ep.last, ep.n = ts, ep.n + 1
                self.book.update(ep.handle, ts)
        if eps is not None and not eps:
            v.zone_eps = None

    def end_all(self, v) -> None:
        for ep in (v.zone_eps or {}).values():
            self.book.close(ep.handle, ep.last)
        v.zone_eps = None

    def _describe(self, ep: _Inside, alert) -> dict:
        z = ep.zone
        text = f"Inside {z.kind} zone {z.name!r}"
        text += f" for {minutes(ep.last - alert.start)} min" if ep.n > 1 else " (entry)"
        details = {
            "zone_kind": z.kind,
            "duration_min": minutes(ep.last - alert.start),
            "fixes": ep.n,
            "text": text,
        }
        if z.ship_types is not None:
            details["ship_types"] = sorted(z.ship_types)
        return details
