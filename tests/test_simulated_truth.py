"""End to end without services: a simulated log through ingest's Decoder and the analytics
finds every anomaly of the ground truth, at the right vessel and time, and nothing on the
quiet traffic."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from mda.analytics import ZoneSet, analyze_records
from mda.ingest import Decoder
from mda.simulator import output_paths, simulate

START_TOLERANCE_S = 5 * 60  # an alert starts within 5 min of the truth's start


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("truth") / "traffic.nmea"
    summary = simulate(out, hours=3.0, vessels=60, seed=11)
    nmea, truth_path, zones_path = output_paths(out)
    truth = [json.loads(x) for x in truth_path.read_text().splitlines()]
    decoder = Decoder(max_clock_lead=None)  # a recording: no live clock to compare with
    records = []
    lines = nmea.read_text().splitlines()
    for i in range(0, len(lines), 1000):
        batch = decoder.feed(lines[i : i + 1000], summary["start"], "sim")
        records += batch.statics + batch.positions
    batch = decoder.flush()
    records += batch.statics + batch.positions
    alerts = analyze_records(records, zones=ZoneSet.from_files([zones_path]))
    return summary, truth, alerts, decoder.stats


def _matches(alert, rec) -> bool:
    if alert.kind != rec["kind"]:
        return False
    if rec["other_mmsi"] is None:
        if alert.mmsi != rec["mmsi"]:
            return False
    elif {alert.mmsi, alert.other_mmsi} != {rec["mmsi"], rec["other_mmsi"]}:
        return False
    end = alert.end if alert.end is not None else float("inf")
    return alert.start <= ts(rec["end"]) + START_TOLERANCE_S and end >= ts(rec["start"])


def test_ingest_rejects_the_junk_and_keeps_the_rest(run):
    summary, _, _, stats = run
    rejected = stats.rejected
    assert rejected["bad_checksum"] >= summary["bad_checksum"]
    assert stats.positions > 0.9 * (summary["messages"] - summary["lost"] - summary["multipart"])
    assert stats.duplicates >= 0.9 * summary["both"]


def test_every_injected_anomaly_is_found_at_its_vessel_and_time(run):
    _, truth, alerts, _ = run
    assert len(truth) == 10
    for rec in truth:
        found = [a for a in alerts if _matches(a, rec)]
        assert len(found) == 1, (rec, [a.to_dict() for a in alerts if a.kind == rec["kind"]])
        assert abs(found[0].start - ts(rec["start"])) <= START_TOLERANCE_S, (
            rec,
            found[0].to_dict(),
        )


def test_quiet_traffic_raises_nothing(run):
    _, truth, alerts, _ = run
    actors = {r["mmsi"] for r in truth} | {r["other_mmsi"] for r in truth if r["other_mmsi"]}
    assert [
        a.to_dict() for a in alerts if a.mmsi not in actors and a.other_mmsi not in actors
    ] == []
    kinds_of = {}
    for r in truth:
        for m in (r["mmsi"], r["other_mmsi"]):
            if m:
                kinds_of.setdefault(m, set()).add(r["kind"])
    # One alert per situation: a truth vessel raises only its own kind (an identity clash
    # raises no position_jump for its jumps back and forth, not even a superseded one).
    unexplained = [a.to_dict() for a in alerts if a.kind not in kinds_of[a.mmsi]]
    assert unexplained == []
