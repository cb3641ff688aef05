"""The detectors on real recordings they were not written for: ordinary traffic raises no
desk alert. The Norwegian coast (ferries, fjords, rivers, harbours, ships at quays on a 1 km
land mask, a feed silent for hours between captures) used to raise about 130 alerts per
10-minute capture, and a loitering storm when the captures were read as one feed; the Danish
stream put a hundred ships "on land" in 27 seconds."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mda.analytics import DESK_SEVERITIES, Analyzer
from mda.ingest import Decoder

DATA = Path(__file__).parent / "data"
NORWAY = sorted((DATA / "norway").glob("barentswatch_*.nmea.gz"))


def _records(paths) -> list:
    out = []
    for path in paths:
        decoder = Decoder(max_clock_lead=None, keep_raw=False)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", errors="replace") as f:
            lines = f.read().splitlines()
        for i in range(0, len(lines), 5000):
            batch = decoder.feed(lines[i : i + 5000], 0.0, path.stem)
            out += batch.statics + batch.positions
        batch = decoder.flush()
        out += batch.statics + batch.positions
    return out


def _analyze(records) -> tuple[list, dict]:
    analyzer = Analyzer()
    final = {}
    for change in analyzer.process(records) + analyzer.finish():
        final[change.alert.key] = change.alert
    return list(final.values()), analyzer.stats


@pytest.fixture(scope="module")
def norway():
    assert len(NORWAY) == 4, "tests/data/norway holds the four captures"
    return _analyze(_records(NORWAY))


def test_the_norwegian_coast_raises_no_desk_alert(norway):
    alerts, stats = norway
    desk = [a.to_dict() for a in alerts if a.severity in DESK_SEVERITIES]
    assert desk == []
    # Not because nothing was looked at: ships sat on the mask's land, lay still for the
    # whole capture, and the feed stopped three times with thousands of vessels on it.
    assert stats["positions"] > 60_000 and stats["vessels"] > 3_000
    assert stats["explained_on_land"] >= 30  # runs long and far enough inland to have rung
    assert stats["episode_cuts"] == 3


def test_the_norwegian_coast_yields_at_most_a_notice_or_two(norway):
    alerts, _ = norway
    notices = [a for a in alerts if a.severity == "info"]
    assert len(notices) <= 2
    for a in notices:  # each one names the feed that delivered the bad data
        assert a.details["source"].startswith("barentswatch_")


def test_each_norwegian_capture_alone_raises_no_desk_alert():
    for path in NORWAY:
        alerts, _ = _analyze(_records([path]))
        assert [a.to_dict() for a in alerts if a.severity in DESK_SEVERITIES] == [], path.name


def test_the_danish_stream_puts_no_ship_on_land():
    alerts, stats = _analyze(_records([DATA / "dma" / "stream_example.txt"]))
    assert stats["positions"] > 3000
    assert [a.to_dict() for a in alerts if a.severity in DESK_SEVERITIES] == []
