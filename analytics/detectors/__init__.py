"""One module per alert kind. Each rule keeps its episode state in the vessel slots named in
its module docstring and reports through the engine's ``AlertBook``; the engine decides which
rules a fix concerns, so a rule is only called when it has something to do."""

from .ais_gap import AisGap
from .distress import DistressBeacon
from .encounter import Encounters
from .jumps import PositionJumps
from .lanes import LaneDeviation, WrongWay
from .loitering import Loitering
from .on_land import OnLand
from .watchlist import Watchlist
from .zone_entry import ZoneEntry

__all__ = [
    "AisGap",
    "DistressBeacon",
    "Encounters",
    "PositionJumps",
    "LaneDeviation",
    "WrongWay",
    "Loitering",
    "OnLand",
    "Watchlist",
    "ZoneEntry",
]
