"""Synthetic tracks for tests and examples: a vessel sails straight legs at a speed and
course, stops, falls silent, or jumps, and the builder emits the PositionReports an AIS
transponder would have sent.

    from mda.analytics.testing import Track, merge, T0
    a = Track(419000001, 10.0, 60.0).sail(minutes=30, sog=12, cog=90).stop(minutes=90)
    records = merge(a, b)

Positions advance along great circles (``geo.destination``), so speeds measured by the
analytics equal the speeds given here.
"""

from __future__ import annotations

from mda.ingest.records import PositionReport, VesselInfo

from .geo import destination

__all__ = ["Track", "merge", "T0"]

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


class Track:
    def __init__(
        self,
        mmsi: int,
        lat: float,
        lon: float,
        start: float = T0,
        interval_s: float = 10.0,
        source: str = "test",
    ):
        self.mmsi = mmsi
        self.lat, self.lon = lat, lon
        self.t = start
        self.interval = interval_s
        self.source = source
        self.records: list[PositionReport | VesselInfo] = []

    def _emit(self, sog, cog, nav_status, report_sog: bool, report_cog: bool) -> None:
        self.records.append(
            PositionReport(
                ts=self.t,
                mmsi=self.mmsi,
                lat=self.lat,
                lon=self.lon,
                sog=round(sog, 1) if report_sog else None,
                cog=round(cog % 360.0, 1) if report_cog and cog is not None else None,
                heading=int(cog) % 360 if cog is not None else None,
                nav_status=nav_status,
                msg_type=1,
                source=self.source,
            )
        )

    def sail(
        self,
        minutes: float,
        sog: float,
        cog: float,
        *,
        report_sog: bool = True,
        report_cog: bool = True,
        nav_status: int = 0,
        interval_s: float | None = None,
    ) -> Track:
        """Reports every interval for ``minutes`` while moving at ``sog`` kn on ``cog``; the
        first report is at the current position and time."""
        step = interval_s or self.interval
        for _ in range(int(round(minutes * 60.0 / step))):
            self._emit(sog, cog, nav_status, report_sog, report_cog)
            self.lat, self.lon = destination(self.lat, self.lon, cog, sog * step / 3600.0)
            self.t += step
        return self

    def stop(
        self,
        minutes: float,
        *,
        nav_status: int = 1,
        interval_s: float | None = None,
        report_sog: bool = True,
    ) -> Track:
        """Reports while stopped (SOG 0); at anchor a class A reports every 3 min."""
        step = interval_s or self.interval
        for _ in range(int(round(minutes * 60.0 / step))):
            self._emit(0.0, 0.0, nav_status, report_sog, report_sog)
            self.t += step
        return self

    def silence(self, minutes: float, sog: float = 0.0, cog: float = 0.0) -> Track:
        """No reports for ``minutes``; the vessel keeps moving at ``sog`` on ``cog``."""
        self.lat, self.lon = destination(self.lat, self.lon, cog, sog * minutes / 60.0)
        self.t += minutes * 60.0
        return self

    def move_to(self, lat: float, lon: float) -> Track:
        """Teleport without a report (the next report will be there)."""
        self.lat, self.lon = lat, lon
        return self

    def report(
        self,
        *,
        sog: float | None = 10.0,
        cog: float | None = 0.0,
        nav_status: int | None = 0,
        msg_type: int = 1,
    ) -> Track:
        """One report at the current position and time, then advance one interval."""
        self.records.append(
            PositionReport(
                ts=self.t,
                mmsi=self.mmsi,
                lat=self.lat,
                lon=self.lon,
                sog=sog,
                cog=cog,
                nav_status=nav_status,
                msg_type=msg_type,
                source=self.source,
            )
        )
        self.t += self.interval
        return self

    def static(self, ship_type: int, name: str = "TEST") -> Track:
        self.records.append(
            VesselInfo(
                ts=self.t, mmsi=self.mmsi, name=name, ship_type=ship_type, source=self.source
            )
        )
        return self


def merge(*tracks: Track | list) -> list:
    """All records of the tracks in event-time order (ties by MMSI, then insertion)."""
    items = []
    for tr in tracks:
        items.extend(tr.records if isinstance(tr, Track) else tr)
    return sorted(items, key=lambda r: (r.ts, r.mmsi))
