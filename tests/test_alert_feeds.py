"""Alert feeds as CloudEvents over MQTT (issue 12, part 4) on a real Mosquitto and
TimescaleDB: our own feed on ``mda/v1/alerts/<kind>/<mmsi>``, each partner's with exactly
what its policy or an officer shared (and the later changes), the retained status topic
and the last will; and docs/asyncapi.yaml against what is published."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiomqtt
from web_support import Web, alert_change

from mda.exchange.feeds import STATUS_TOPIC, AlertFeed, alert_cloudevent
from mda.store import alerts as store_alerts
from mda.store.alerts import alert_message
from mda.store.partners import add_partner, disable_partner
from mda.store.shares import auto_share, share_alert

ROOT = Path(__file__).resolve().parent.parent


async def _collect(
    sub: aiomqtt.Client, want, timeout: float = 8.0, *, quiet: bool = False
) -> list[tuple[str, dict]]:
    """Messages (topic, JSON) until ``want(messages)`` holds, else fail after ``timeout``
    (``quiet``: what came within ``timeout``)."""
    got: list[tuple[str, dict]] = []

    async def loop():
        async for m in sub.messages:
            got.append((str(m.topic), json.loads(m.payload)))
            if want(got):
                return

    try:
        await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        if quiet:
            return got
        raise AssertionError(f"timed out; got {[t for t, _ in got]}") from None
    return got


def _events(got, prefix: str) -> dict[str, dict]:
    return {t: e for t, e in got if t.startswith(prefix)}


async def test_own_and_partner_feeds_on_real_mosquitto(web: Web, mqtt_broker, tmp_path):
    async with await web.conn() as c:
        await add_partner(c, "srilanka", "LK", kinds=["loitering"])
        await add_partner(c, "maldives", "MV", min_severity="high")
        await add_partner(c, "kenya", "KE", automatic=False)
    feed = AlertFeed(
        mqtt_broker.url,
        source="urn:mda:test",
        db_url=web.db_url,
        poll_s=0.1,
        spool_dir=tmp_path / "spool",
    )
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
        await sub.subscribe("mda/v1/#", qos=1)
        task = asyncio.create_task(feed.run())
        try:
            await _collect(
                sub,
                lambda g: any(
                    t == STATUS_TOPIC and e["source"] == "urn:mda:test" and e["status"] == "online"
                    for t, e in g
                ),
            )
            await asyncio.sleep(0.3)  # the share follower has its starting point
            rows = await web.alerts(
                alert_change("f1", kind="loitering", severity="medium", mmsi=419000001),
                alert_change("f2", kind="encounter", severity="high", mmsi=419000002),
                alert_change("f3", kind="ais_gap", severity="info", mmsi=419000003),
            )
            f1, f2, _ = rows
            async with await web.conn() as c:
                await auto_share(c, rows)  # as the service does when it stores them
                await share_alert(c, f1["id"], ["kenya"], actor="hana", via="cli")
            for row in rows:
                await feed.publish_alert(row)
            got = await _collect(
                sub,
                lambda g: (
                    len(_events(g, "mda/v1/partners/")) >= 3
                    and len(_events(g, "mda/v1/alerts/")) >= 2
                ),
            )
            own = _events(got, "mda/v1/alerts/")
            assert set(own) == {
                "mda/v1/alerts/loitering/419000001",
                "mda/v1/alerts/encounter/419000002",
            }  # the notice is on no feed
            partner = _events(got, "mda/v1/partners/")
            assert set(partner) == {
                "mda/v1/partners/srilanka/alerts/loitering/419000001",
                "mda/v1/partners/maldives/alerts/encounter/419000002",
                "mda/v1/partners/kenya/alerts/loitering/419000001",
            }
            e = own["mda/v1/alerts/encounter/419000002"]
            assert e["specversion"] == "1.0" and e["type"] == "org.mda.alert.encounter.v1"
            assert e["source"] == "urn:mda:test" and e["subject"] == "mmsi:419000002"
            assert e["time"].endswith("Z") and e["datacontenttype"] == "application/geo+json"
            assert e["data"]["type"] == "Feature"
            assert e["data"]["geometry"] == {"type": "Point", "coordinates": [70.0, 12.0]}
            props = e["data"]["properties"]
            assert props["id"] == f2["id"] and props["severity"] == "high"
            assert props["cise_anomaly_type"] and props["status"] == "open"
            k = partner["mda/v1/partners/kenya/alerts/loitering/419000001"]
            assert k["data"]["properties"]["change"] == "shared"

            # a later change of a shared alert reaches its partners, and only them
            async with await web.conn() as c:
                await store_alerts.acknowledge(c, f1["id"], "hana", note="seen")
                await disable_partner(c, "kenya")
            got = await _collect(sub, lambda g: False, 2.0, quiet=True)
            assert [t for t, _ in got] == ["mda/v1/partners/srilanka/alerts/loitering/419000001"]
            assert got[0][1]["data"]["properties"]["status"] == "acknowledged"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # stopped: the retained status says so to whoever subscribes next
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as late:
        await late.subscribe(STATUS_TOPIC, qos=1)
        ((_, status),) = await _collect(late, lambda g: len(g) >= 1)
        assert status["status"] == "offline" and status["source"] == "urn:mda:test"


async def test_the_last_will_marks_a_dead_publisher_offline(mqtt_broker):
    code = f"""
import asyncio, os
from mda.exchange.feeds import AlertFeed
async def main():
    feed = AlertFeed({mqtt_broker.url!r}, source="urn:mda:will")
    task = asyncio.create_task(feed.run())
    while not feed.connected:
        await asyncio.sleep(0.02)
    print("up", flush=True)
    await asyncio.sleep(0.3)
    os._exit(0)  # killed: no goodbye, the broker's will speaks
asyncio.run(main())
"""
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
        await sub.subscribe(STATUS_TOPIC, qos=1)
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env=os.environ,
        )
        assert proc.stdout.strip() == "up", proc.stderr
        got = await _collect(
            sub,
            lambda g: any(e["source"] == "urn:mda:will" and e["status"] == "offline" for _, e in g),
        )
        mine = [e["status"] for _, e in got if e["source"] == "urn:mda:will"]
        assert mine == ["online", "offline"]


def test_the_asyncapi_document_matches_the_events():
    doc = json.loads((ROOT / "docs" / "asyncapi.yaml").read_text())  # JSON is YAML 1.2
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {
        "mda/v1/alerts/{kind}/{mmsi}",
        "mda/v1/partners/{partner}/alerts/{kind}/{mmsi}",
        "mda/v1/status",
    }
    for op in doc["operations"].values():
        assert op["action"] == "send" and op["channel"]["$ref"].startswith("#/channels/")
    schema = doc["components"]["schemas"]["AlertEvent"]
    row = {
        "id": 7,
        "key": "k",
        "kind": "loitering",
        "severity": "high",
        "status": "open",
        "mmsi": 419000001,
        "start": None,
        "lat": 12.0,
        "lon": 70.0,
        "details": {"text": "loitering 3 h"},
    }
    from datetime import UTC, datetime

    row["start"] = row["updated_at"] = datetime(2026, 1, 1, tzinfo=UTC)
    event = alert_cloudevent(
        alert_message(row, "opened"),
        "urn:mda:x",
        extract={"extract_id": 3, "extract_sha256": "ab" * 32},
    )
    _check(event, schema, doc)
    status = doc["components"]["schemas"]["Status"]
    _check({"status": "online", "source": "urn:mda:x", "time": "2026-01-01T00:00:00Z"}, status, doc)


def _check(value, schema: dict, doc: dict, where: str = "$") -> None:
    """The JSON Schema subset the document uses: $ref, type, required, properties,
    additionalProperties false, enum, const, pattern, items, oneOf of types."""
    if "$ref" in schema:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return _check(value, node, doc, where)
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        py = {
            "object": dict,
            "array": list,
            "string": str,
            "integer": int,
            "number": (int, float),
            "boolean": bool,
            "null": type(None),
        }
        assert any(isinstance(value, py[t]) for t in types), (where, value, types)
    if "const" in schema:
        assert value == schema["const"], (where, value)
    if "enum" in schema:
        assert value in schema["enum"], (where, value)
    if "pattern" in schema and isinstance(value, str):
        assert re.search(schema["pattern"], value), (where, value, schema["pattern"])
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, (where, "missing", name)
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), (where, set(value) - set(props))
        for name, sub in props.items():
            if name in value:
                _check(value[name], sub, doc, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], doc, f"{where}[{i}]")


def test_the_service_publishes_its_alerts_on_the_feeds(db_url, mqtt_broker, tmp_path):
    """``mda serve``/``mda demo`` with ``mqtt_url``: every stored desk alert on our feed,
    what the policy allows on the partner's, and the status going offline at the end."""
    import psycopg

    from mda.service import Service
    from mda.settings import SourceSpec, load_settings
    from mda.simulator import output_paths, simulate
    from mda.store.migrate import upgrade

    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    out = tmp_path / "traffic.nmea"
    simulate(out, hours=1.5, vessels=30, seed=23)
    nmea, _truth, zones = output_paths(out)
    settings = load_settings(environ={}).replace(
        data_dir=str(tmp_path / "data"), mqtt_url=mqtt_broker.url, organisation="MRCC Test"
    )

    async def go():
        from mda.store.db import connect

        async with await connect(db_url, autocommit=True) as c:
            await add_partner(c, "everyone", "MV")
        service = Service(
            settings,
            db_url,
            [SourceSpec(str(nmea), "sim", keep=True)],
            zone_files=[str(zones)],
            web=False,
        )
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
            await sub.subscribe("mda/v1/#", qos=1)
            await service.run()
            return await _collect(sub, lambda g: False, 2.0, quiet=True)

    got = asyncio.run(go())
    with psycopg.connect(db_url) as conn:
        stored = {
            r[0] for r in conn.execute("SELECT id FROM alerts WHERE severity <> 'info'").fetchall()
        }
        shared = {r[0] for r in conn.execute("SELECT alert_id FROM share_log").fetchall()}
    own = {e["data"]["properties"]["id"] for t, e in got if t.startswith("mda/v1/alerts/")}
    assert stored and own == stored
    assert shared == stored  # its policy takes every desk alert
    to_partner = {
        e["data"]["properties"]["id"]
        for t, e in got
        if t.startswith("mda/v1/partners/everyone/alerts/")
    }
    assert to_partner == shared
    status = [e for t, e in got if t == STATUS_TOPIC and e["source"] == "urn:mda:MRCC-Test"]
    assert status[0]["status"] == "online" and status[-1]["status"] == "offline"
