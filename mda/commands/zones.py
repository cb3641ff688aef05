"""``mda zones learn FILE... -o ZONES.geojson``: anchorages learned from recorded traffic.

The analytics learn where vessels stop (``analytics.places.StopPlaces``: places where
``stop_place_min_vessels`` distinct vessels stopped) as they run; ``mda serve`` keeps what it
learned in its database. For ``mda analyze``, which starts from nothing each time, this
command runs the same analysis over a recording (the files merged by event time, as analyze
reads them) and writes the places it learned as a zones file of kind ``anchorage``: circles of
``stop_place_radius_nm`` around each busy place, overlapping ones merged. Give it to
``mda analyze --zones`` (or ``mda serve --zones``) and vessels waiting there are in a quiet
zone from the first fix on.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime

__all__ = ["register", "run", "learned_zones"]


def register(sub) -> None:
    p = sub.add_parser("zones", help="zones: learn anchorages from recorded traffic")
    zsub = p.add_subparsers(dest="zones_command", metavar="ACTION", required=True)
    learn = zsub.add_parser(
        "learn",
        help="write the anchorages a recording teaches as a zones file",
        description="Runs the detectors over NMEA logs (merged by event time, as mda analyze "
        "reads them) and writes the places where several distinct vessels stopped "
        "as GeoJSON zones of kind 'anchorage', for mda analyze --zones.",
    )
    learn.add_argument("files", nargs="+", metavar="FILE", help="NMEA log file (plain or .gz)")
    learn.add_argument(
        "-o", "--out", required=True, metavar="ZONES.geojson", help="the zones file to write"
    )
    learn.add_argument(
        "--zones",
        action="append",
        default=[],
        metavar="FILE",
        help="zones in force while learning (repeatable): vessels stopped in "
        "their ports and anchorages are not learned again",
    )
    learn.set_defaults(run=run)


def learned_zones(places, radius_nm: float, source: str) -> dict:
    """A FeatureCollection of anchorages: a circle around each busy place, overlapping
    circles merged into one zone that names how many vessels stopped in it."""
    from shapely.geometry import Point, Polygon, mapping
    from shapely.ops import unary_union

    from mda.analytics.geo import destination

    circles = []
    for lat, lon, vessels in places:
        ring = [destination(lat, lon, bearing, radius_nm)[::-1] for bearing in range(0, 360, 15)]
        circles.append((Polygon(ring), vessels))
    merged = unary_union([c for c, _ in circles]) if circles else None
    parts = [] if merged is None else getattr(merged, "geoms", [merged])
    features = []
    for i, part in enumerate(sorted(parts, key=lambda g: (g.centroid.y, g.centroid.x)), 1):
        # At least this many distinct vessels stopped here (the busiest place within it).
        vessels = max(n for c, n in circles if part.contains(Point(c.centroid)))
        c = part.centroid
        features.append(
            {
                "type": "Feature",
                "geometry": mapping(part),
                "properties": {
                    "name": f"Learned anchorage {i} ({abs(c.y):.2f}{'N' if c.y >= 0 else 'S'} "
                    f"{abs(c.x):.2f}{'E' if c.x >= 0 else 'W'})",
                    "kind": "anchorage",
                    "learned": True,
                    "vessels": vessels,
                    "approximate": True,
                    "source": source,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def run(args, settings) -> int:
    from mda.analytics import Analyzer

    from ..errors import MdaError
    from ..service import analytics_config, load_zones
    from .analyze import _analyze, _check_inputs

    target = os.path.abspath(args.out)
    if not os.path.isdir(os.path.dirname(target)) or os.path.isdir(target):
        raise MdaError(f"{args.out}: cannot write the zones file there")
    _check_inputs(args.files)
    zones = load_zones(args.zones)
    config = analytics_config(settings)
    result = asyncio.run(_analyze(args.files, lambda: Analyzer(config, zones), settings))
    analyzer = result.analyzer
    feed = analyzer.feed_time or 0.0
    when = datetime.fromtimestamp(feed, UTC).strftime("%Y-%m-%d")
    source = f"mda zones learn: {', '.join(os.path.basename(f) for f in args.files)} (to {when})"
    collection = learned_zones(analyzer.places.places(feed), config.stop_place_radius_nm, source)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(collection, f, indent=1)
        f.write("\n")
    os.replace(tmp, target)
    n = len(collection["features"])
    print(
        f"mda zones learn: {n} anchorage{'s' if n != 1 else ''} learned from "
        f"{analyzer.stats['positions']:,} positions, written to {args.out}"
    )
    return 0
