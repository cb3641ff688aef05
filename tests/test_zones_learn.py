"""``mda zones learn``: a recording teaches an anchorage, and ``mda analyze`` with the zones
it writes keeps a ship waiting there quiet; without them, the lone ship loiters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pyais import encode_dict

from mda.analytics import ZoneSet
from mda.analytics.geo import destination
from mda.analytics.testing import T0, Track, merge

REPO = Path(__file__).resolve().parent.parent
PLACE = (-15.0, 75.0)  # open sea, far from any coast or built-in zone


def _checksum(text: str) -> str:
    c = 0
    for ch in text:
        c ^= ord(ch)
    return f"{c:02X}"


def _nmea(records, path: Path) -> Path:
    """Type 1 reports with tag-block times, as a receiver would log them."""
    with path.open("w") as f:
        for r in records:
            for sentence in encode_dict(
                {
                    "msg_type": 1,
                    "mmsi": r.mmsi,
                    "lat": r.lat,
                    "lon": r.lon,
                    "speed": r.sog or 0.0,
                    "course": r.cog or 0.0,
                    "heading": 511,
                    "status": r.nav_status or 0,
                },
                talker_id="AI",
            ):
                tag = f"s:rx1,c:{int(r.ts)}"
                f.write(f"\\{tag}*{_checksum(tag)}\\{sentence}\n")
    return path


def _mda(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    return subprocess.run(
        [sys.executable, "-m", "mda", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_an_anchorage_learned_from_yesterday_keeps_todays_lone_ship_quiet(tmp_path):
    # Yesterday four ships waited together at PLACE for three hours, not reporting at anchor.
    queue = [
        Track(419000700 + i, *destination(*PLACE, 90.0 * i, 0.4), interval_s=120).stop(
            3 * 60, nav_status=0
        )
        for i in range(4)
    ]
    yesterday = _nmea(merge(*queue), tmp_path / "yesterday.nmea")
    # Today one ship waits there alone.
    lone = Track(419000800, *destination(*PLACE, 45.0, 0.2), start=T0 + 86400, interval_s=120)
    today = _nmea(lone.stop(2 * 60, nav_status=0).records, tmp_path / "today.nmea")

    before = _mda("analyze", today)
    assert before.returncode == 0, before.stderr
    assert [json.loads(x)["kind"] for x in before.stdout.splitlines()] == ["loitering"]

    zones_file = tmp_path / "learned.geojson"
    learn = _mda("zones", "learn", yesterday, "-o", zones_file)
    assert learn.returncode == 0, learn.stderr
    assert "1 anchorage learned" in learn.stdout
    zones = json.loads(zones_file.read_text())
    (feature,) = zones["features"]
    assert feature["properties"]["kind"] == "anchorage" and feature["properties"]["learned"]
    assert feature["properties"]["vessels"] == 4
    learned = ZoneSet.from_files([zones_file], builtin=False)  # a valid zones file
    assert learned.lookup(*PLACE).quiet

    after = _mda("analyze", today, "--zones", zones_file)
    assert after.returncode == 0, after.stderr
    assert after.stdout == ""


def test_zones_learn_names_what_it_cannot_do(tmp_path):
    r = _mda("zones", "learn", tmp_path / "missing.nmea", "-o", tmp_path / "z.geojson")
    assert r.returncode != 0 and "missing.nmea" in r.stderr and "Traceback" not in r.stderr
    r = _mda("zones", "learn", tmp_path / "missing.nmea", "-o", tmp_path / "no" / "z.geojson")
    assert r.returncode != 0 and "Traceback" not in r.stderr
