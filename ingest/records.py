"""The normalised records that leave ingest and feed the store, analytics and the web.

Every stage downstream of ingest speaks only these types. Times are event times in
UTC seconds since the epoch (float): the tag-block ``c:`` or receiver timestamp when the
line had one, else the moment the line arrived. "Not available" codes from AIS (lat 91,
lon 181, SOG 102.3, heading 511, ...) are already ``None`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["PositionReport", "VesselInfo", "RawSentence", "utc"]


def utc(ts: float) -> datetime:
    """An event time as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


@dataclass(slots=True)
class PositionReport:
    """One position fix: AIS types 1/2/3 (class A), 18/19 (class B), 27 (long range),
    4 (base station) and 21 (aid to navigation)."""

    ts: float  # event time, UTC epoch seconds
    mmsi: int
    lat: float
    lon: float
    sog: float | None = None  # knots
    cog: float | None = None  # degrees true
    heading: int | None = None  # degrees true
    nav_status: int | None = None  # AIS navigational status code, 15 = undefined
    msg_type: int = 1
    source: str = ""  # receiver id: the feed's name, or the tag-block s: station
    rot: float | None = None  # rate of turn, degrees per minute
    accuracy: bool | None = None  # position accuracy flag (True = high, < 10 m)
    receivers: tuple[str, ...] = ()  # every receiver that heard this same message

    @property
    def time(self) -> datetime:
        return utc(self.ts)


@dataclass(slots=True)
class VesselInfo:
    """Static and voyage data: AIS type 5 (class A) and 24 parts A/B (class B).
    Fields a message does not carry are None; consumers merge, never overwrite with None."""

    ts: float
    mmsi: int
    msg_type: int = 5
    source: str = ""
    name: str | None = None
    callsign: str | None = None
    imo: int | None = None
    ship_type: int | None = None
    to_bow: int | None = None  # metres from the reference point
    to_stern: int | None = None
    to_port: int | None = None
    to_starboard: int | None = None
    draught: float | None = None  # metres
    destination: str | None = None
    eta: str | None = None  # "MM-DD HH:MM" as reported; AIS carries no year

    @property
    def time(self) -> datetime:
        return utc(self.ts)


@dataclass(slots=True)
class RawSentence:
    """A raw line as received, kept for evidence (the raw archive and incident extracts)."""

    ts: float
    source: str
    line: str
    mmsi: int | None = None
    msg_type: int | None = None
