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
import jsonschema
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from web_support import Web, alert_change

from mda.exchange.feeds import STATUS_TOPIC, AlertFeed, alert_cloudevent, canonical_event
from mda.exchange.signing import fingerprint, public_pem
from mda.store import alerts as store_alerts
from mda.store.alerts import alert_message
from mda.store.partners import add_partner, disable_partner
from mda.store.shares import auto_share, share_alert

ROOT = Path(__file__).resolve().parent.parent
KEY = Ed25519PrivateKey.generate()


def _verified(event: dict, key=KEY) -> bool:
    """Whether the event carries a good signature by ``key``, as a partner checks it."""
    import base64

    from cryptography.exceptions import InvalidSignature

    if event.get("mdakeyid") != fingerprint(key):
        return False
    try:
        key.public_key().verify(base64.b64decode(event["mdasig"]), canonical_event(event))
    except InvalidSignature:
        return False
    return True


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
        signing_key=KEY,
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
            # every event signed by the installation's key; a changed one no longer verifies
            assert all(_verified(e) for e in [*own.values(), *partner.values()])
            assert not _verified({**e, "subject": "mmsi:419000003"})
            assert not _verified(e, Ed25519PrivateKey.generate())

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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mda.exchange.feeds import AlertFeed
async def main():
    feed = AlertFeed({mqtt_broker.url!r}, source="urn:mda:will", signing_key=Ed25519PrivateKey.generate())
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
        "mda/v1/hazards/{hazardId}",
        "mda/v1/hazards/{hazardId}/cap",
        "mda/v1/partners/{partner}/hazards/{hazardId}",
        "mda/v1/partners/{partner}/hazards/{hazardId}/cap",
        "mda/v1/status",
    }
    # the hazards' topics as exchange/hazard_feed.py makes them (the events themselves are
    # checked against the document in test_hazard_feeds.py, as they are published)
    from mda.exchange.hazard_feed import hazard_topic

    for topic, address in (
        (hazard_topic(7), "mda/v1/hazards/{hazardId}"),
        (hazard_topic(7, cap=True), "mda/v1/hazards/{hazardId}/cap"),
        (hazard_topic(7, "lk"), "mda/v1/partners/{partner}/hazards/{hazardId}"),
        (hazard_topic(7, "lk", cap=True), "mda/v1/partners/{partner}/hazards/{hazardId}/cap"),
    ):
        pattern = re.sub(r"\\{[a-zA-Z]+\\}", "[^/]+", re.escape(address))
        assert re.fullmatch(pattern, topic), (topic, address)
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
        key=KEY,
    )
    _check(event, schema, doc)
    unsigned = {k: v for k, v in event.items() if k != "mdasig"}
    try:
        _check(unsigned, schema, doc)
    except AssertionError:
        pass
    else:
        raise AssertionError("the document lets an unsigned event through")
    status = doc["components"]["schemas"]["Status"]
    _check({"status": "online", "source": "urn:mda:x", "time": "2026-01-01T00:00:00Z"}, status, doc)


def test_event_ids_tell_changes_apart_and_copies_alike():
    """A receiver de-duplicates by id: a change sent again keeps its id, while two changes
    of one alert in the same second (an update, then an acknowledgement) never share one."""
    from datetime import UTC, datetime

    t = datetime(2026, 1, 1, tzinfo=UTC)
    row = {"id": 7, "kind": "loitering", "severity": "high", "status": "open", "mmsi": 419000001}
    row |= {"start": t, "updated_at": t, "lat": 12.0, "lon": 70.0, "details": {"text": "x"}}
    first = alert_cloudevent(alert_message(row, "updated"), "urn:mda:x", key=KEY)
    again = alert_cloudevent(alert_message(dict(row), "updated"), "urn:mda:x", key=KEY)
    acked = alert_cloudevent(
        alert_message({**row, "status": "acknowledged"}, "updated"), "urn:mda:x", key=KEY
    )
    worse = alert_cloudevent(
        alert_message({**row, "severity": "critical"}, "updated"), "urn:mda:x", key=KEY
    )
    assert first["id"] == again["id"]
    assert len({first["id"], acked["id"], worse["id"]}) == 3


def _check(value, schema: dict, doc: dict, where: str = "$") -> None:
    """``value`` against ``schema`` of the document (JSON Schema 2020-12, as AsyncAPI 3
    takes it; the document's ``#/components/...`` references resolved in it)."""
    root = {"components": doc["components"], **schema}
    errors = list(jsonschema.Draft202012Validator(root).iter_errors(value))
    assert not errors, (where, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]])


def test_the_service_publishes_its_alerts_on_the_feeds(db_url, mqtt_broker, tmp_path):
    """``mda serve``/``mda demo`` with ``mqtt_url``: every stored desk alert on our feed,
    what the policy allows on the partner's, and the status going offline at the end; the
    internal topics (``mda/internal/alerts/<kind>``) carry the same signed events."""
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
            await sub.subscribe("mda/internal/alerts/#", qos=1)
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
    # signed by the installation's key, made in its data directory
    from mda.exchange.signing import load_or_create_key

    key = load_or_create_key(settings.data_path)
    events = [e for t, e in got if t != STATUS_TOPIC]
    assert events and all(_verified(e, key) for e in events)
    # The internal topics: each alert change as the very event of our own feed, in the
    # same order, on its kind's topic.
    internal = [(t, e) for t, e in got if t.startswith("mda/internal/alerts/")]
    ours = [e for t, e in got if t.startswith("mda/v1/alerts/")]
    assert internal and [e for _, e in internal] == ours
    assert all(t == f"mda/internal/alerts/{e['data']['properties']['kind']}" for t, e in internal)


async def test_a_partner_verifies_an_event_with_openssl_as_the_docs_say(
    web: Web, mqtt_broker, tmp_path
):
    """docs/partners.md: the signed bytes are the payload without its mdasig member;
    openssl checks them with our public key (mda keys show) and refuses a changed one."""
    import base64
    import shutil

    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to check the documented verification"
    feed = AlertFeed(
        mqtt_broker.url, source="urn:mda:test", signing_key=KEY, spool_dir=tmp_path / "s"
    )
    (row,) = await web.alerts(alert_change("o1", kind="loitering", severity="high", mmsi=419000009))
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
        await sub.subscribe("mda/v1/alerts/#", qos=1)
        task = asyncio.create_task(feed.run())
        try:
            await feed.publish_alert({**row, "vessel_name": "ÅSA"})
            async with asyncio.timeout(8):
                async for m in sub.messages:
                    payload = bytes(m.payload)
                    break
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    (tmp_path / "mda.pub").write_text(public_pem(KEY))
    event = json.loads(payload)
    doc = json.loads((ROOT / "docs" / "asyncapi.yaml").read_text())
    _check(event, doc["components"]["schemas"]["AlertEvent"], doc)  # as published
    assert "ÅSA".encode() in payload  # UTF-8, not escaped
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(event["mdasig"]))
    signed = re.sub(rb',"mdasig":"[^"]*"', b"", payload, count=1)
    assert signed == canonical_event(event)
    (tmp_path / "signed.bin").write_bytes(signed)
    (tmp_path / "changed.bin").write_bytes(signed.replace(b'"high"', b'"low"'))

    def verify(name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "mda.pub", "-rawin"]
            + ["-in", name, "-sigfile", "sig.bin"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )

    good = verify("signed.bin")
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout, good
    bad = verify("changed.bin")
    assert bad.returncode != 0 and "Successfully" not in bad.stdout
