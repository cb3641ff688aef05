"""distress_beacon: an AIS-SART, MOB or EPIRB-AIS transmits (MMSI prefixes
``distress_mmsi_prefixes``: 970, 972, 974), or any station reports navigational status
``distress_nav_status`` (14, SART active). A beacon reporting status 15 is in self-test mode
and stays quiet (``distress_ignore_test_mode``). The alert runs from the first to the last
transmission; its position follows the latest one (that is where the people are). It ends
when a station leaves status 14, or after ``distress_close_after_min`` without a
transmission (on the engine's active clock, so a feed outage does not end it).

Beacons are not vessels: they get no other rule. State lives here, keyed by MMSI (few).
"""

from __future__ import annotations

from collections import OrderedDict

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ._text import minutes, position

__all__ = ["DistressBeacon"]

_DEVICE = {970: "AIS-SART", 972: "MOB device", 974: "EPIRB-AIS"}


class _Beacon:
    __slots__ = ("mmsi", "device", "first", "last", "lat", "lon", "n", "active_at", "handle")

    def __init__(self, mmsi, device, ts, lat, lon, active_at):
        self.mmsi, self.device = mmsi, device
        self.first = self.last = ts
        self.lat, self.lon = lat, lon
        self.n = 1
        self.active_at = active_at
        self.handle = None


class DistressBeacon:
    kind = "distress_beacon"

    def __init__(self, config: AnalyticsConfig, book: AlertBook):
        self.book = book
        self.prefixes = config.beacon_prefixes
        self.status = config.distress_nav_status
        self.ignore_test = config.distress_ignore_test_mode
        self.close_after = config.distress_close_after_min * 60.0
        self.open: OrderedDict[int, _Beacon] = OrderedDict()  # by last transmission
        self.test_reports = 0

    def on_report(self, rec, active: float) -> None:
        """A report from a beacon MMSI, a report with the distress status, or the next report
        of a station whose episode is open."""
        mmsi = rec.mmsi
        prefix = mmsi // 1_000_000
        beacon = prefix in self.prefixes
        if beacon:
            if self.ignore_test and rec.nav_status == 15:
                self.test_reports += 1
                return
            distress = True
            device = _DEVICE.get(prefix, f"beacon {prefix}")
        else:
            distress = rec.nav_status == self.status
            device = f"navigational status {self.status} (SART active)"
        ep = self.open.get(mmsi)
        if not distress:
            if ep is not None:
                self._close(ep)
            return
        if ep is None:
            ep = self.open[mmsi] = _Beacon(mmsi, device, rec.ts, rec.lat, rec.lon, active)
            ep.handle = self.book.open(
                self.kind,
                mmsi,
                rec.ts,
                rec.lat,
                rec.lon,
                lambda a: self._describe(ep, a),
                last=rec.ts,
            )
            return
        if rec.ts < ep.last:
            return  # an older repeat adds nothing
        ep.last, ep.n, ep.active_at = rec.ts, ep.n + 1, active
        ep.lat, ep.lon = rec.lat, rec.lon
        self.open.move_to_end(mmsi)
        ep.handle.alert.lat, ep.handle.alert.lon = rec.lat, rec.lon
        # Rescuers want the drifting position every interval, however long the episode.
        self.book.update(
            ep.handle, rec.ts, force=rec.ts - ep.handle.emitted >= self.book.update_interval_s
        )

    def sweep(self, active: float) -> None:
        while self.open:
            ep = next(iter(self.open.values()))
            if active - ep.active_at < self.close_after:
                break
            self._close(ep)

    def _close(self, ep: _Beacon) -> None:
        del self.open[ep.mmsi]
        self.book.close(ep.handle, ep.last)

    def _describe(self, ep: _Beacon, alert) -> dict:
        return {
            "device": ep.device,
            "transmissions": ep.n,
            "duration_min": minutes(ep.last - alert.start),
            "last_position": [round(ep.lat, 5), round(ep.lon, 5)],
            "text": (
                f"{ep.device} transmitting at {position(ep.lat, ep.lon)}: "
                f"{ep.n} transmission(s) over {minutes(ep.last - alert.start)} min"
            ),
        }
