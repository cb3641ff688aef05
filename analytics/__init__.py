"""mda analytics: per-vessel track state, detectors and zones, turning PositionReport and
VesselInfo records into alerts with a lifecycle. Pure: no I/O except reading zone files when
they are loaded (and the package's land mask on first use), no clock, no database, no
sockets.

    from mda.analytics import Analyzer, AnalyticsConfig, ZoneSet
    analyzer = Analyzer(AnalyticsConfig(), ZoneSet.from_files(["my-zones.geojson"]))
    for change in analyzer.process(records):
        ...  # change.change is 'opened', 'updated' or 'closed'; change.alert an Alert
    analyzer.finish()
"""

from .alerts import Alert, AlertChange
from .config import (
    DESK_SEVERITIES,
    KIND_INFO,
    KIND_TABLE,
    KINDS,
    SEVERITIES,
    AnalyticsConfig,
    KindInfo,
    settings_table,
)
from .engine import Analyzer, analyze_records
from .errors import AnalyticsError, ConfigError, ZoneError
from .zones import Zone, ZoneSet, load_zone_file

__all__ = [
    "Analyzer",
    "analyze_records",
    "AlertChange",
    "Alert",
    "AnalyticsConfig",
    "settings_table",
    "KINDS",
    "KIND_TABLE",
    "KIND_INFO",
    "KindInfo",
    "SEVERITIES",
    "DESK_SEVERITIES",
    "ZoneSet",
    "Zone",
    "load_zone_file",
    "AnalyticsError",
    "ZoneError",
    "ConfigError",
]
