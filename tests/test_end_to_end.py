"""A simulated scenario through the service on TimescaleDB: every injected anomaly ends up
in the alerts table, matched to the ground truth, and the quiet traffic raises nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import psycopg
import pytest
from psycopg.rows import dict_row

from mda.service import Service
from mda.settings import SourceSpec, load_settings
from mda.simulator import output_paths, simulate

START_TOLERANCE_S = 5 * 60


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "traffic.nmea"
    summary = simulate(out, hours=3.0, vessels=60, seed=23)
    nmea, truth_path, zones_path = output_paths(out)
    truth = [json.loads(x) for x in truth_path.read_text().splitlines()]
    return summary, nmea, zones_path, truth


def _matches(alert: dict, rec: dict) -> bool:
    if alert["kind"] != rec["kind"]:
        return False
    if rec["other_mmsi"] is None:
        if alert["mmsi"] != rec["mmsi"]:
            return False
    elif {alert["mmsi"], alert["other_mmsi"]} != {rec["mmsi"], rec["other_mmsi"]}:
        return False
    start = alert["start"].timestamp()
    end = alert["end"].timestamp() if alert["end"] else float("inf")
    return start <= _ts(rec["end"]) + START_TOLERANCE_S and end >= _ts(rec["start"])


def test_service_raises_every_injected_anomaly_and_nothing_else(db_url, scenario, tmp_path):
    _summary, nmea, zones_path, truth = scenario
    settings = load_settings(environ={}).replace(data_dir=str(tmp_path / "data"))
    service = Service(
        settings,
        db_url,
        [SourceSpec(str(nmea), "sim", keep=True)],
        zone_files=[str(zones_path)],
        web=False,
    )
    asyncio.run(service.run())

    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        alerts = conn.execute("SELECT * FROM alerts ORDER BY start").fetchall()
        positions = conn.execute("SELECT count(*) AS n FROM positions").fetchone()["n"]
        hyper = conn.execute(
            "SELECT count(*) AS n FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'positions'"
        ).fetchone()["n"]
        history = conn.execute(
            "SELECT count(*) AS n FROM alert_history WHERE action = 'opened'"
        ).fetchone()["n"]
    assert hyper == 1 and positions > 10_000
    kinds = {r["kind"] for r in truth}
    assert len(kinds) == 10, kinds
    for rec in truth:
        found = [a for a in alerts if _matches(a, rec)]
        assert found, (rec, [(a["kind"], a["mmsi"], str(a["start"])) for a in alerts])
        assert abs(found[0]["start"].timestamp() - _ts(rec["start"])) <= START_TOLERANCE_S
        assert found[0]["details"].get("text"), found[0]
    actors = {r["mmsi"] for r in truth} | {r["other_mmsi"] for r in truth if r["other_mmsi"]}
    strays = [
        (a["kind"], a["mmsi"], a["other_mmsi"])
        for a in alerts
        if a["mmsi"] not in actors and a["other_mmsi"] not in actors
    ]
    assert strays == []
    # One situation, one alert: each truth vessel raises its own kind and nothing else.
    kinds_of: dict[int, set[str]] = {}
    for r in truth:
        for m in (r["mmsi"], r["other_mmsi"]):
            if m:
                kinds_of.setdefault(m, set()).add(r["kind"])
    for a in alerts:
        assert a["kind"] in kinds_of[a["mmsi"]], (a["kind"], a["mmsi"], kinds_of[a["mmsi"]])
    assert history == len(alerts)
    assert service.status()["alerts_raised"] == len(alerts)
