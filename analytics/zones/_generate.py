"""Writes the built-in zone files from the tables below: ``python -m mda.analytics.zones._generate``.

Not imported at run time. A test checks that the shipped ``*.geojson`` equal what this writes,
so the tables here are the one place to correct a zone.

Sources and how far to trust them:

* IRTC: the published corner coordinates (MSCHOA / MSCIO "IRTC details"; events.md), exact.
* Traffic separation schemes (Bab-el-Mandeb, Strait of Hormuz, off Dondra Head, Straits of
  Malacca and Singapore): the official positions (IMO Ships' Routeing, COLREG.2 circulars) were
  not available to us. Each scheme is *sketched* from its published description (lane and
  separation widths, right-hand traffic) along a centre line picked on the 1 km land mask
  between the charted coasts. They are marked ``approximate: true`` and, by default, the
  lane rules ignore approximate lanes (setting ``lanes_use_approximate``): a lane drawn a mile
  off would raise false wrong-way alerts. Replace one by giving a zones file a zone of the
  same name with the official coordinates.
* Ports and anchorages: circles of a few nm around the harbour position from general
  gazetteers (World Port Index order of accuracy, about 1 nm), marked approximate; the radius
  is chosen to cover the berths and the inner anchorage.
"""

from __future__ import annotations

import json
from math import cos, hypot, radians
from pathlib import Path

from ..geo import bearing_deg, destination

HERE = Path(__file__).parent

IRTC_SOURCE = (
    "MSCHOA/MSCIO published IRTC coordinates (mscio.eu 'IRTC details'), as listed in events.md"
)
TSS_SOURCE = (
    "sketch from the scheme's published description (lane and separation widths, "
    "right-hand traffic) along a centre line drawn on the global-land-mask 1 km "
    "mask; not the IMO coordinates"
)
PORT_SOURCE = (
    "harbour position from general gazetteers (World Port Index order of accuracy, "
    "about 1 nm); circle radius chosen to cover berths and inner anchorage"
)


def _dm(deg: int, minutes: float) -> float:
    return deg + minutes / 60.0


# IRTC corners as published (lat, lon), in ring order.
IRTC = [
    (
        "IRTC westbound lane",
        "lane",
        252.0,
        [(_dm(12, 0), 45.0), (_dm(14, 30), 53.0), (_dm(14, 25), 53.0), (_dm(11, 55), 45.0)],
    ),
    (
        "IRTC separation zone",
        "separation",
        None,
        [(_dm(11, 55), 45.0), (_dm(14, 25), 53.0), (_dm(14, 23), 53.0), (_dm(11, 53), 45.0)],
    ),
    (
        "IRTC eastbound lane",
        "lane",
        72.0,
        [(_dm(11, 53), 45.0), (_dm(14, 23), 53.0), (_dm(14, 18), 53.0), (_dm(11, 48), 45.0)],
    ),
]

# Sketched schemes: centre line (lat, lon) in the direction of the traffic using the lane on
# its right (starboard) side; half-width of the separation zone and width of each lane, nm.
TSS = [
    {
        "scheme": "Bab-el-Mandeb TSS",
        "right": "northbound",
        "left": "southbound",
        "sep_half_nm": 0.5,
        "lane_nm": 2.5,
        "line": [(12.35, 43.66), (12.62, 43.33), (12.90, 43.22)],
    },
    {
        "scheme": "Strait of Hormuz TSS",
        "right": "inbound",
        "left": "outbound",
        "sep_half_nm": 1.0,
        "lane_nm": 2.0,
        "line": [(26.00, 56.78), (26.50, 56.58), (26.62, 56.25), (26.55, 55.85)],
    },
    {
        "scheme": "Dondra Head TSS",
        "right": "eastbound",
        "left": "westbound",
        "sep_half_nm": 0.5,
        "lane_nm": 2.0,
        "line": [(5.72, 80.25), (5.76, 81.05)],
    },
    {
        "scheme": "Malacca Strait TSS",
        "right": "south-eastbound",
        "left": "north-westbound",
        "sep_half_nm": 0.5,
        "lane_nm": 2.5,
        "line": [
            (3.00, 100.70),
            (2.75, 101.15),
            (2.30, 101.70),
            (1.95, 102.20),
            (1.55, 102.80),
            (1.285, 103.25),
            (1.21, 103.45),
        ],
    },
    {
        "scheme": "Singapore Strait TSS",
        "right": "eastbound",
        "left": "westbound",
        "sep_half_nm": 0.2,
        "lane_nm": 0.6,
        "line": [(1.21, 103.45), (1.13, 103.68), (1.165, 103.85), (1.24, 104.05), (1.27, 104.40)],
    },
]

# (name, kind, lat, lon, radius nm)
PORTS = [
    ("Mumbai and JNPT", "port", 18.93, 72.90, 6.0),
    ("Mundra", "port", 22.74, 69.71, 4.0),
    ("Kandla", "port", 22.97, 70.17, 5.0),
    ("Kochi", "port", 9.97, 76.24, 4.0),
    ("Chennai", "port", 13.10, 80.30, 4.0),
    ("Visakhapatnam", "port", 17.68, 83.28, 4.0),
    ("Haldia", "port", 22.03, 88.08, 4.0),
    ("Paradip", "port", 20.26, 86.68, 4.0),
    ("Colombo", "port", 6.95, 79.84, 4.0),
    ("Hambantota", "port", 6.12, 81.11, 3.0),
    ("Chittagong", "port", 22.23, 91.78, 6.0),
    ("Male", "port", 4.18, 73.51, 3.0),
    ("Karachi", "port", 24.82, 66.97, 4.0),
    ("Gwadar", "port", 25.11, 62.34, 3.0),
    ("Salalah", "port", 16.94, 54.00, 3.0),
    ("Duqm", "port", 19.66, 57.72, 3.0),
    ("Jebel Ali", "port", 25.01, 55.05, 5.0),
    ("Fujairah", "port", 25.17, 56.37, 3.0),
    ("Fujairah anchorage", "anchorage", 25.25, 56.45, 8.0),
    ("Djibouti", "port", 11.60, 43.13, 4.0),
    ("Aden", "port", 12.79, 44.97, 4.0),
    ("Mombasa", "port", -4.06, 39.66, 4.0),
    ("Dar es Salaam", "port", -6.82, 39.30, 4.0),
    ("Port Louis", "port", -20.15, 57.49, 3.0),
    ("Singapore", "port", 1.265, 103.80, 4.0),
    ("Singapore eastern anchorages", "anchorage", 1.27, 103.92, 3.0),
    ("Port Klang", "port", 2.95, 101.29, 6.0),
    ("Yangon and Thilawa", "port", 16.72, 96.22, 6.0),
    ("Fremantle", "port", -32.05, 115.73, 5.0),
]


def _round(points):
    return [[round(lon, 6), round(lat, 6)] for lat, lon in points]


def _polygon(points_latlon) -> dict:
    ring = list(points_latlon) + [points_latlon[0]]
    return {"type": "Polygon", "coordinates": [_round(ring)]}


def _feature(props: dict, geometry: dict) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def irtc_features() -> list[dict]:
    out = []
    for name, kind, direction, corners in IRTC:
        props = {"name": name, "kind": kind}
        if direction is not None:
            props["direction"] = direction
        props.update({"approximate": False, "source": IRTC_SOURCE})
        out.append(_feature(props, _polygon(corners)))
    return out


def _offset_line(line, offset_nm):
    """The centre line shifted ``offset_nm`` to its right (negative: left), with mitred
    corners so consecutive legs share their joining edge. Local plane in nm."""
    lat0 = sum(p[0] for p in line) / len(line)
    kx = 60.0 * cos(radians(lat0))
    pts = [((lon) * kx, lat * 60.0) for lat, lon in line]
    normals = []
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        dx, dy = bx - ax, by - ay
        n = hypot(dx, dy)
        normals.append((dy / n, -dx / n))  # right-hand normal of a leg
    out = []
    for i, (x, y) in enumerate(pts):
        if i == 0:
            nx, ny = normals[0]
            scale = 1.0
        elif i == len(pts) - 1:
            nx, ny = normals[-1]
            scale = 1.0
        else:
            (ax, ay), (bx, by) = normals[i - 1], normals[i]
            mx, my = ax + bx, ay + by
            m = hypot(mx, my)
            nx, ny = mx / m, my / m
            scale = 1.0 / max(0.2, nx * ax + ny * ay)  # miter length
        out.append(((y + offset_nm * scale * ny) / 60.0, (x + offset_nm * scale * nx) / kx))
    return out


def tss_features() -> list[dict]:
    out = []
    for s in TSS:
        line = s["line"]
        inner, lane = s["sep_half_nm"], s["lane_nm"]
        right_in, right_out = _offset_line(line, inner), _offset_line(line, inner + lane)
        left_in, left_out = _offset_line(line, -inner), _offset_line(line, -(inner + lane))
        legs = len(line) - 1
        for k in range(legs):
            leg = f" leg {k + 1}" if legs > 1 else ""
            fwd = round(bearing_deg(*line[k], *line[k + 1]), 1)
            back = round((fwd + 180.0) % 360.0, 1)
            common = {"approximate": True, "source": TSS_SOURCE, "scheme": s["scheme"]}
            out.append(
                _feature(
                    {
                        "name": f"{s['scheme']} {s['right']} lane{leg}",
                        "kind": "lane",
                        "direction": fwd,
                        **common,
                    },
                    _polygon([right_in[k], right_in[k + 1], right_out[k + 1], right_out[k]]),
                )
            )
            out.append(
                _feature(
                    {"name": f"{s['scheme']} separation zone{leg}", "kind": "separation", **common},
                    _polygon([left_in[k], left_in[k + 1], right_in[k + 1], right_in[k]]),
                )
            )
            out.append(
                _feature(
                    {
                        "name": f"{s['scheme']} {s['left']} lane{leg}",
                        "kind": "lane",
                        "direction": back,
                        **common,
                    },
                    _polygon([left_out[k], left_out[k + 1], left_in[k + 1], left_in[k]]),
                )
            )
    return out


def _circle(lat: float, lon: float, radius_nm: float, sides: int = 48):
    return [destination(lat, lon, 360.0 * i / sides, radius_nm) for i in range(sides)]


def port_features() -> list[dict]:
    out = []
    for name, kind, lat, lon, r in PORTS:
        out.append(
            _feature(
                {
                    "name": name,
                    "kind": kind,
                    "approximate": True,
                    "source": PORT_SOURCE,
                    "centre": [lon, lat],
                    "radius_nm": r,
                },
                _polygon(_circle(lat, lon, r)),
            )
        )
    return out


def render() -> dict[str, str]:
    """File name -> text of every built-in zones file."""
    files = {
        "irtc.geojson": irtc_features(),
        "tss.geojson": tss_features(),
        "ports.geojson": port_features(),
    }
    return {
        name: json.dumps({"type": "FeatureCollection", "features": feats}, indent=1) + "\n"
        for name, feats in files.items()
    }


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
