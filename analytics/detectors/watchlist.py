"""watchlist: a vessel on a watch list appears, or changes its identity data.

The lists are the shell's (the database's ``watchlist_entries``); it hands them in as
plain data with ``Analyzer.set_watchlist(entries)``, each entry naming a vessel by any of
MMSI, IMO, name or call sign, with the list's name and the reason. A vessel is *listed*
when an entry names its MMSI, or its static data (type 5/24) carries a listed IMO, name or
call sign. The alert opens at a listed vessel's first report after it was listed (it
appeared), or when a listed vessel reports identity data different from what it reported
before (name, call sign or IMO changed: the change is in the details). The episode runs
while the vessel keeps reporting, and ends after ``watchlist_end_after_min`` of silence on
the engine's active clock.

State lives here, keyed by MMSI, and only for listed vessels (a few), plus the identity
last reported by each vessel some entry matched.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ._text import minutes, position

__all__ = ["Watchlist"]


def _norm(text) -> str | None:
    if text is None:
        return None
    t = " ".join(str(text).upper().replace("@", " ").split())
    return t or None


class _Episode:
    __slots__ = (
        "mmsi",
        "entry",
        "first",
        "last",
        "lat",
        "lon",
        "n",
        "active_at",
        "handle",
        "changes",
        "why",
    )

    def __init__(self, mmsi, entry, ts, lat, lon, active_at, why, changes):
        self.mmsi, self.entry = mmsi, entry
        self.first = self.last = ts
        self.lat, self.lon = lat, lon
        self.n = 1
        self.active_at = active_at
        self.handle = None
        self.why = why
        self.changes = list(changes)


class Watchlist:
    kind = "watchlist"

    def __init__(self, config: AnalyticsConfig, book: AlertBook):
        self.book = book
        self.end_after = config.watchlist_end_after_min * 60.0
        self.by_mmsi: dict[int, dict] = {}
        self.by_imo: dict[int, dict] = {}
        self.by_name: dict[str, dict] = {}
        self.by_callsign: dict[str, dict] = {}
        self.listed: dict[int, dict] = {}  # mmsi -> the entry that names it
        self.ident: dict[int, tuple] = {}  # mmsi -> (name, callsign, imo) last reported
        self.open: OrderedDict[int, _Episode] = OrderedDict()  # by last report
        self.pending: dict[int, tuple[str, list]] = {}  # listed by static data, no fix yet
        self.hits = 0

    @property
    def active(self) -> bool:
        return bool(self.by_mmsi or self.by_imo or self.by_name or self.by_callsign)

    def set_entries(self, entries: Iterable[Mapping]) -> None:
        """Replace the lists. A vessel no longer named keeps its open episode until it
        ends; a newly named one rings at its next report."""
        self.by_mmsi, self.by_imo, self.by_name, self.by_callsign = {}, {}, {}, {}
        for e in entries:
            e = dict(e)
            if e.get("mmsi"):
                self.by_mmsi.setdefault(int(e["mmsi"]), e)
            if e.get("imo"):
                self.by_imo.setdefault(int(e["imo"]), e)
            if _norm(e.get("name")):
                self.by_name.setdefault(_norm(e["name"]), e)
            if _norm(e.get("callsign")):
                self.by_callsign.setdefault(_norm(e["callsign"]), e)
        listed = dict(self.by_mmsi)
        for mmsi, (name, callsign, imo) in self.ident.items():
            e = self._match_static(name, callsign, imo)
            if e is not None and mmsi not in listed:
                listed[mmsi] = e
        self.listed = listed

    def _match_static(self, name, callsign, imo) -> dict | None:
        if imo is not None and imo in self.by_imo:
            return self.by_imo[imo]
        if name is not None and name in self.by_name:
            return self.by_name[name]
        if callsign is not None and callsign in self.by_callsign:
            return self.by_callsign[callsign]
        return None

    def on_position(self, mmsi: int, ts: float, lat: float, lon: float, active: float) -> None:
        """A fix of a listed vessel."""
        ep = self.open.get(mmsi)
        if ep is not None:
            if ts < ep.last:
                return
            ep.last, ep.lat, ep.lon, ep.active_at = ts, lat, lon, active
            ep.n += 1
            self.open.move_to_end(mmsi)
            ep.handle.alert.lat, ep.handle.alert.lon = lat, lon
            self.book.update(ep.handle, ts)
            return
        why, changes = self.pending.pop(mmsi, ("appeared", []))
        self._open(mmsi, self.listed[mmsi], ts, lat, lon, active, why, changes)

    def on_static(self, rec, where: tuple[float, float] | None, active: float) -> None:
        """Static data of any vessel (only called while some list has entries)."""
        mmsi = rec.mmsi
        name, callsign, imo = _norm(rec.name), _norm(rec.callsign), rec.imo
        old = self.ident.get(mmsi)
        entry = self.by_mmsi.get(mmsi) or self._match_static(name, callsign, imo)
        if entry is None and old is None:
            return
        merged = (
            name if name is not None else (old[0] if old else None),
            callsign if callsign is not None else (old[1] if old else None),
            imo if imo is not None else (old[2] if old else None),
        )
        self.ident[mmsi] = merged
        if entry is None:
            entry = self.listed.get(mmsi)
            if entry is None:
                return
        newly = mmsi not in self.listed
        self.listed[mmsi] = entry
        changes = []
        if old is not None:
            for label, a, b in zip(("name", "call sign", "IMO"), old, merged, strict=True):
                if a is not None and b is not None and a != b:
                    changes.append(f"{label} {a} -> {b}")
        ep = self.open.get(mmsi)
        if ep is not None:
            if changes:
                ep.changes += changes
                self.book.update(ep.handle, max(ep.last, rec.ts), force=True)
            return
        if not (newly or changes):
            return
        why = "identity changed" if changes else "appeared"
        if where is None:
            self.pending[mmsi] = (why, changes)
            return
        self._open(mmsi, entry, rec.ts, where[0], where[1], active, why, changes)

    def _open(self, mmsi, entry, ts, lat, lon, active, why, changes) -> None:
        ep = self.open[mmsi] = _Episode(mmsi, entry, ts, lat, lon, active, why, changes)
        self.hits += 1
        ep.handle = self.book.open(
            self.kind, mmsi, ts, lat, lon, lambda a: self._describe(ep, a), last=ts
        )

    def sweep(self, active: float) -> None:
        while self.open:
            ep = next(iter(self.open.values()))
            if active - ep.active_at < self.end_after:
                break
            del self.open[ep.mmsi]
            self.book.close(ep.handle, ep.last)

    def forget(self, mmsi: int) -> None:
        self.ident.pop(mmsi, None)
        self.pending.pop(mmsi, None)

    def _describe(self, ep: _Episode, alert) -> dict:
        e = ep.entry
        named = ", ".join(
            f"{label} {e[k]}"
            for k, label in (
                ("mmsi", "MMSI"),
                ("imo", "IMO"),
                ("name", "name"),
                ("callsign", "call sign"),
            )
            if e.get(k)
        )
        text = (
            f"On watch list {e.get('list') or '?'!r} ({named}: {e.get('reason') or 'no reason given'}); "
            f"{ep.why} at {position(ep.lat, ep.lon)}"
        )
        if ep.changes:
            text += "; " + ", ".join(ep.changes)
        return {
            "list": e.get("list"),
            "entry_id": e.get("id"),
            "reason": e.get("reason"),
            "why": ep.why,
            "changes": list(ep.changes),
            "reports": ep.n,
            "duration_min": minutes(ep.last - alert.start),
            "text": text,
        }
