"""Not tests: CAP 1.2 warnings and vessels around them that the hazard tests share, with
times relative to now (a warning that expired would list no vessel)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from mda.analytics.geo import destination

__all__ = ["cap_alert", "CENTRE", "RADIUS_KM", "around"]

CENTRE = (15.0, 88.0)  # the Bay of Bengal
RADIUS_KM = 150.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cap_alert(
    identifier: str = "IMD-TEST-001",
    headline: str = "Cyclone MOCHA: very severe cyclonic storm",
    expires_h: float = 24.0,
    area: str | None = None,
    *,
    status: str = "Actual",
    msg_type: str = "Alert",
    references: list[str] | None = None,
    sent_ago_s: float = 600.0,
) -> str:
    """A CAP alert as a warning centre sends it; ``msg_type`` "Update" with ``references``
    (``cap_reference(...)``, the earlier messages) is the next bulletin, with a new
    identifier."""
    now = time.time()
    if area is None:
        area = f"<circle>{CENTRE[0]},{CENTRE[1]} {RADIUS_KM:g}</circle>"
    refs = f"\n  <references>{' '.join(references)}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>rsmc.imd.gov.in</sender>
  <sent>{_iso(now - sent_ago_s)}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>{refs}
  <info>
    <category>Met</category><event>Very severe cyclonic storm</event>
    <urgency>Immediate</urgency><severity>Extreme</severity><certainty>Likely</certainty>
    <onset>{_iso(now - 600)}</onset><expires>{_iso(now + expires_h * 3600)}</expires>
    <headline>{headline}</headline>
    <area><areaDesc>Bay of Bengal, 150 km around the eye</areaDesc>{area}</area>
  </info>
</alert>"""


def around(bearing_from_centre: float, nm_from_edge: float) -> tuple[float, float]:
    """(lat, lon) ``nm_from_edge`` outside the circle of CENTRE and RADIUS_KM (negative:
    inside), on ``bearing_from_centre``."""
    return destination(*CENTRE, bearing_from_centre, RADIUS_KM / 1.852 + nm_from_edge)
