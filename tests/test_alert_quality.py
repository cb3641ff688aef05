"""Alert quality outside the web: ``mda status`` on a real TimescaleDB database, and
data-quality notices kept off the MQTT alert topics on a real Mosquitto.

The web side (the desk query, ``/api/data-quality``, closing with an outcome, ``/metrics``)
is in ``test_web_alerts.py``; the map's toggle and close dialog in ``test_web_browser.py``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import aiomqtt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mda.analytics import Alert, AlertChange
from mda.exchange.publish import MqttPublisher
from mda.store import alerts as store_alerts
from mda.store.migrate import upgrade

pytestmark = pytest.mark.integration

NOW = time.time()


def change(
    key: str,
    kind: str = "loitering",
    severity: str = "medium",
    start: float = NOW - 3600,
    details: dict | None = None,
) -> AlertChange:
    return AlertChange(
        "opened",
        Alert(
            key=key,
            kind=kind,
            severity=severity,
            mmsi=419000001,
            other_mmsi=None,
            start=start,
            end=None,
            lat=12.0,
            lon=70.0,
            zone=None,
            details=details or {"text": key},
        ),
    )


def notice(key: str, source: str, kind: str = "position_jump", start: float = NOW - 600):
    return change(
        key,
        kind=kind,
        severity="info",
        start=start,
        details={"text": "one fix 40 nm off the track", "source": source},
    )


async def _seed(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        rows = await store_alerts.save_changes(
            c,
            [
                change("l1"),
                change("l2"),
                change("l3"),
                change("l4"),
                change("e1", kind="encounter", severity="high"),
                change("d1", kind="distress_beacon", severity="critical"),
                notice("n1", "feed-a/kochi"),
                notice("n2", "feed-a/kochi"),
                notice("n3", "feed-b", kind="identity_clash"),
                notice("n-old", "feed-b", start=NOW - 2 * 86400),
            ],
        )
        ids = {r["key"]: r["id"] for r in rows}
        await store_alerts.acknowledge(c, ids["e1"], "olga")
        await store_alerts.close(c, ids["l1"], "olga", "a buoy tender", "false_alarm")
        await store_alerts.close(c, ids["l2"], "olga", None, "false_alarm")
        await store_alerts.close(c, ids["l3"], "olga", None, "confirmed")
        await store_alerts.close(c, ids["n1"], "olga", "known receiver")  # a notice: no outcome


@pytest.fixture
def seeded(db_url: str) -> str:
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    asyncio.run(_seed(db_url))
    return db_url


def _row(out: str, first: str) -> list[str]:
    """The cells of the table line that starts with ``first`` (after the indent)."""
    line = next(line for line in out.splitlines() if line.split()[:1] == [first])
    return line.split()


def test_mda_status_prints_alerts_notices_and_false_alarm_shares(seeded, tmp_path):
    # As an operator runs it: the installed command, in its own process, no web server.
    r = subprocess.run(
        [sys.executable, "-m", "mda.cli", "status", "--database", seeded],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "MDA_DATA_DIR": str(tmp_path / "data")},
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # open or acknowledged desk alerts by kind and severity; notices are not among them
    assert "Desk alerts not closed: 3 (2 unacknowledged)" in out, out
    assert _row(out, "kind") == [
        "kind",
        "critical",
        "high",
        "medium",
        "low",
        "total",
        "unacknowledged",
    ]
    assert _row(out, "distress_beacon")[1:] == ["1", "0", "0", "0", "1", "1"]
    assert _row(out, "encounter")[1:] == ["0", "1", "0", "0", "1", "0"]
    assert _row(out, "loitering")[1:] == ["0", "0", "1", "0", "1", "1"]
    assert "position_jump" not in out.split("Data-quality notices")[0]
    # notices per source in the last 24 h (the two-day-old one is outside), busiest first
    assert "Data-quality notices, last 24 h (event time): 3" in out
    notices = out.split("Data-quality notices")[1].split("False alarms")[0]
    lines = [ln.split()[:3] for ln in notices.splitlines()[2:] if ln.strip()]
    assert lines == [["feed-a/kochi", "position_jump", "2"], ["feed-b", "identity_clash", "1"]]
    # each rule's false-alarm share with the counts it rests on
    assert (
        "False alarms by rule, from closures of the last 30 days: 3 closures with an outcome" in out
    )
    assert _row(out, "rule")[:4] == ["rule", "false_alarm", "confirmed", "no_action"]
    shares = out.split("False alarms by rule")[1]
    [loiter] = [ln.split() for ln in shares.splitlines() if ln.split()[:1] == ["loitering"]]
    assert loiter == ["loitering", "2", "1", "0", "67%", "(2", "of", "3)"]
    assert "Traceback" not in r.stderr


def test_mda_status_on_an_empty_database_says_none(db_url, capsys, monkeypatch, tmp_path):
    from mda.cli import main

    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    assert main(["status", "--database", db_url]) == 0
    out = capsys.readouterr().out
    assert "Desk alerts not closed: 0 (0 unacknowledged)" in out
    assert "Data-quality notices, last 24 h (event time): 0" in out
    assert "from closures of the last 30 days: 0 closures with an outcome" in out


def test_mda_status_on_an_unmigrated_database_says_what_to_do(
    db_url, capsys, monkeypatch, tmp_path
):
    from mda.cli import main

    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    assert main(["status", "--database", db_url]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "mda: error: the database schema is older than this mda; run `mda db upgrade` first"
    )


_SIGNING = {"source": "urn:mda:test", "signing_key": Ed25519PrivateKey.generate()}


def _row_for(i: int, severity: str, kind: str) -> dict:
    return {
        "id": i,
        "kind": kind,
        "severity": severity,
        "status": "open",
        "mmsi": 419000000 + i,
        "start": datetime(2026, 11, 28, 3, i, tzinfo=UTC),
        "end": None,
        "details": {"text": f"row {i}", "source": "feed-a"},
        "change": "opened",
    }


async def _published(
    broker, topic: str, pub: MqttPublisher, rows: list[dict], expect: int
) -> list[tuple[str, dict]]:
    got: list[tuple[str, dict]] = []
    async with aiomqtt.Client(broker.host, broker.port) as sub:
        await sub.subscribe(f"{topic}/#", qos=1)
        runner = asyncio.create_task(pub.run(), name="test-mqtt-publisher")
        try:
            for row in rows:
                await pub.publish_alert(row)

            async def take():
                async for m in sub.messages:
                    # the alert's fields, from its CloudEvent
                    got.append((str(m.topic), json.loads(m.payload)["data"]["properties"]))
                    if len(got) == expect:
                        return

            await asyncio.wait_for(take(), 15)
            # and nothing more arrives: a notice published by mistake would come after
            await asyncio.sleep(0.5)
        finally:
            runner.cancel()
    return got


async def test_notices_are_not_published_to_mqtt_by_default(mqtt_broker, mqtt_topic, tmp_path):
    pub = MqttPublisher(f"{mqtt_broker.url}/{mqtt_topic}", spool_dir=tmp_path / "spool", **_SIGNING)
    rows = [
        _row_for(1, "info", "position_jump"),
        _row_for(2, "high", "encounter"),
        _row_for(3, "info", "identity_clash"),
        _row_for(4, "medium", "position_jump"),
    ]
    got = await _published(mqtt_broker, mqtt_topic, pub, rows, expect=2)
    assert [(t, p["id"]) for t, p in got] == [
        (f"{mqtt_topic}/alerts/encounter", 2),
        (f"{mqtt_topic}/alerts/position_jump", 4),
    ]
    assert pub.notices_skipped == 2 and pub.sent == 2


async def test_notices_go_to_their_own_topics_when_the_setting_is_on(
    mqtt_broker, mqtt_topic, tmp_path
):
    pub = MqttPublisher(
        f"{mqtt_broker.url}/{mqtt_topic}", spool_dir=tmp_path / "spool", notices=True, **_SIGNING
    )
    rows = [_row_for(1, "info", "position_jump"), _row_for(2, "high", "encounter")]
    got = await _published(mqtt_broker, mqtt_topic, pub, rows, expect=2)
    assert [(t, p["id"]) for t, p in got] == [
        (f"{mqtt_topic}/notices/position_jump", 1),
        (f"{mqtt_topic}/alerts/encounter", 2),
    ]
    assert got[0][1]["severity"] == "info" and got[0][1]["text"] == "row 1"
    assert pub.notices_skipped == 0


def test_the_mqtt_notices_setting_is_off_by_default(tmp_path):
    from mda.settings import load_settings

    env = {"MDA_DATA_DIR": str(tmp_path)}
    assert load_settings(environ=env).mqtt_notices is False
    assert load_settings(environ={**env, "MDA_MQTT_NOTICES": "true"}).mqtt_notices is True
