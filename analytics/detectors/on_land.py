"""on_land: a reported position lies on land (the 1 km global land mask) outside port and
anchorage zones. With ``on_land_margin_cells`` = 1 the surrounding mask cells must be land
too, so a fix at a quay, in a river or on a coastline drawn a cell off stays quiet; a
position a kilometre or more inland still rings. The alert runs from the first to the last
such fix and opens at the first one: no ship sails on land, so there is nothing to wait for.

Vessel slot: ``land`` (the open episode, or None).
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ._text import minutes, position

__all__ = ["OnLand"]


class _OnLand:
    __slots__ = ("first", "last", "n", "lat", "lon", "last_lat", "last_lon", "handle")

    def __init__(self, ts: float, lat: float, lon: float):
        self.first = self.last = ts
        self.n = 1
        self.lat, self.lon = lat, lon
        self.last_lat, self.last_lon = lat, lon
        self.handle = None


class OnLand:
    kind = "on_land"

    def __init__(self, config: AnalyticsConfig, book: AlertBook):
        self.book = book
        self.margin = config.on_land_margin_cells

    def on_fix(self, v, ts: float, on_land: bool) -> None:
        ep = v.land
        if on_land:
            if ep is None:
                ep = v.land = _OnLand(ts, v.lat, v.lon)
                ep.handle = self.book.open(self.kind, v.mmsi, ts, v.lat, v.lon,
                                           lambda a: self._describe(ep, a), last=ts)
            else:
                ep.last, ep.n = ts, ep.n + 1
                ep.last_lat, ep.last_lon = v.lat, v.lon
                self.book.update(ep.handle, ts)
        elif ep is not None:
            self.end(v)

    def end(self, v) -> None:
        ep = v.land
        v.land = None
        if ep is not None:
            self.book.close(ep.handle, ep.last)

    def _describe(self, ep: _OnLand, alert) -> dict:
        where = position(ep.lat, ep.lon)
        text = f"Reported on land at {where}"
        if ep.n > 1:
            text += f", {ep.n} fixes over {minutes(ep.last - alert.start)} min"
        return {"fixes": ep.n, "first_position": [round(ep.lat, 5), round(ep.lon, 5)],
                "last_position": [round(ep.last_lat, 5), round(ep.last_lon, 5)],
                "duration_min": minutes(ep.last - alert.start), "margin_cells": self.margin,
                "mask": "global-land-mask 1 km (GLOBE)", "text": text}
