"""A generated mixed AIS feed for benchmarks: a known number of unique position reports.

Class A (types 1 and 3) and class B (18) positions, static data as multipart type 5 and
type 24 A/B, all with NMEA 4.10 tag blocks (``s:`` receiver, ``c:`` time); a share of the
traffic heard by a second receiver (duplicates), and a little junk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pyais
from pyais.encode import encode_dict


def _checksum(text: str) -> str:
    c = 0
    for ch in text.encode():
        c ^= ch
    return f"{c:02X}"


def _tag(station: str, ts: int) -> str:
    body = f"s:{station},c:{ts}"
    return f"\\{body}*{_checksum(body)}\\"


@dataclass
class Feed:
    lines: list[str]
    unique_positions: int
    duplicate_lines: int
    junk_lines: int


def generate(
    n_lines: int,
    *,
    vessels: int = 2000,
    seed: int = 7,
    t0: int = 1_700_000_000,
    dup_share: float = 0.2,
) -> Feed:
    rnd = random.Random(seed)
    fleet = [
        (
            200_000_000 + i * 37,
            rnd.uniform(-30, 20),
            rnd.uniform(45, 95),
            rnd.uniform(0, 360),
            rnd.choice([1, 1, 1, 3, 18]),
        )
        for i in range(vessels)
    ]
    lines: list[str] = []
    unique = dups = junk = 0
    t = t0
    seq = 0
    i = 0
    while len(lines) < n_lines:
        i += 1
        if i % 10 == 0:
            t += 1  # ~10 messages a second of event time
        mmsi, lat, lon, course, mtype = fleet[rnd.randrange(vessels)]
        kind = rnd.random()
        if kind < 0.03:
            seq = seq % 9 + 1
            sentences = encode_dict(
                {
                    "type": 5,
                    "mmsi": mmsi,
                    "shipname": f"SHIP {mmsi % 10000}",
                    "callsign": f"C{mmsi % 100000}",
                    "imo": 9_000_000 + mmsi % 99_999,
                    "ship_type": 70,
                    "to_bow": 100,
                    "to_stern": 20,
                    "to_port": 10,
                    "to_starboard": 10,
                    "draught": 8.5,
                    "destination": "COLOMBO",
                },
                talker_id="AI",
                sentence_type="VDM",
                radio_channel="A",
                seq_id=seq,
            )
        elif kind < 0.05:
            sentences = encode_dict(
                {"type": 24, "mmsi": mmsi, "partno": 0, "shipname": f"BOAT {mmsi % 1000}"},
                talker_id="AI",
                sentence_type="VDM",
            )
        elif kind < 0.052:
            lines.append("$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*76")
            junk += 1
            continue
        else:
            lat = max(-89.0, min(89.0, lat + rnd.uniform(-0.01, 0.01)))
            lon = max(-179.0, min(179.0, lon + rnd.uniform(-0.01, 0.01)))
            data = {
                "type": mtype,
                "mmsi": mmsi,
                "lat": round(lat, 5),
                "lon": round(lon, 5),
                "speed": round(rnd.uniform(0, 20), 1),
                "course": round(course, 1),
                "heading": int(course) % 360,
                "second": t % 60,
            }
            if mtype != 18:
                data["status"] = 0
            sentences = encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel="B")
            unique += 1
        for s in sentences:
            lines.append(_tag("rxA", t) + s)
        if rnd.random() < dup_share:
            for s in sentences:
                lines.append(_tag("rxB", t + rnd.choice([0, 1])) + s)
                dups += 1
    return Feed(lines=lines, unique_positions=unique, duplicate_lines=dups, junk_lines=junk)


def bare_pyais_decode(path: str) -> int:
    """The baseline: pyais stream decoding of the same file, every message decoded."""
    n = 0
    for msg in pyais.FileReaderStream(path):
        try:
            msg.decode()
        except Exception:  # pyais raises on some inputs; the baseline skips them
            continue
        n += 1
    return n
