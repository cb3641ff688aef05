"""Partners' alerts in (issue 12, item 6) on a real Mosquitto and TimescaleDB: a partner's
CloudEvents, published the way exchange/feeds.py publishes them, are stored once per event
id with their origin, show on our desk marked as the partner's and are read-only (409);
malformed, oversized, unknown-source, unsigned and badly signed events are counted and never
stored; a broker that goes away is retried and the feed is stale meanwhile; the settings and
the serve option; and the federation of two installations through a Mosquitto bridge."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import aiomqtt
import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from web_support import Web, alert_change

from mda.exchange.feeds import (
    STATUS_TOPIC,
    AlertFeed,
    alert_cloudevent,
    alert_topic,
    event_payload,
    status_payload,
)
from mda.exchange.partner_feed import (
    BadEvent,
    PartnerFeed,
    check_event,
    parse_feed_url,
    verify_event,
)
from mda.exchange.signing import fingerprint, public_pem
from mda.settings import load_settings
from mda.store.alerts import alert_message, end_open_episodes
from mda.store.partners import add_partner, disable_partner
from mda.store.shares import InvalidShare, share_alert

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "urn:mda:MRCC-Colombo"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()  # the partner's (Sri Lanka's) installation key
PUBLIC = (public_pem(KEY), fingerprint(KEY))  # as `mda partner key srilanka FILE.pem` keeps it


def _row(remote_id: int, status: str = "open", **kw) -> dict:
    """An alert row on the partner's side, as its service stores it."""
    row = {
        "id": remote_id,
        "key": f"k{remote_id}",
        "kind": "loitering",
        "severity": "high",
        "status": status,
        "mmsi": 419000001,
        "other_mmsi": None,
        "start": START,
        "end": None,
        "lat": 8.5,
        "lon": 79.5,
        "zone": None,
        "details": {"text": "loitering 3 h at 0.4 kn"},
        "updated_at": START + timedelta(minutes=len(status)),
    }
    return {**row, **kw}


def _published(
    row: dict, change: str = "shared", source: str = SOURCE, key=KEY
) -> tuple[str, bytes]:
    """Topic and payload exactly as the partner's AlertFeed sends to its partner 'india'
    (signed with ``key``; None: unsigned)."""
    message = alert_message({**row, "change": change})
    event = alert_cloudevent(message, source, key=key)
    return alert_topic(message, "india"), event_payload(event)


async def _until(check, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


def test_bad_events_are_refused_with_their_reason():
    _, good = _published(_row(7))
    event, alert = check_event(good, source=SOURCE)
    assert alert["remote_id"] == 7 and alert["kind"] == "loitering" and alert["lat"] == 8.5
    assert alert["start"] == START and event["source"] == SOURCE
    cases = {
        "oversized": good + b" " * 70_000,
        "malformed": b"{not json",
        "unknown_source": _published(_row(7), source="urn:mda:someone-else")[1],
    }
    for reason, payload in cases.items():
        with pytest.raises(BadEvent) as e:
            check_event(payload, source=SOURCE)
        assert e.value.reason == reason
    broken = json.loads(good)
    broken["data"]["properties"]["severity"] = "apocalyptic"
    with pytest.raises(BadEvent, match="severity"):
        check_event(json.dumps(broken).encode(), source=SOURCE)
    broken = json.loads(good)
    broken["data"]["geometry"]["coordinates"] = [500, 8]
    with pytest.raises(BadEvent, match="geometry"):
        check_event(json.dumps(broken).encode(), source=SOURCE)


def _reason(payload: bytes, key=KEY.public_key(), fp=PUBLIC[1]) -> str:
    event, _ = check_event(payload, source=SOURCE)
    try:
        verify_event(payload, event, key, fp)
    except BadEvent as e:
        return e.reason
    return "verified"


def test_events_must_be_signed_by_the_partners_key_on_file():
    _, good = _published(_row(7))
    assert _reason(good) == "verified"
    # as another implementation may write it (spaces, escaped non-ASCII): still the event
    assert _reason(json.dumps(json.loads(good), indent=1).encode()) == "verified"
    assert _reason(_published(_row(7), key=None)[1]) == "unsigned"
    assert _reason(_published(_row(7), key=Ed25519PrivateKey.generate())[1]) == "unknown-key"
    tampered = good.replace(b'"severity":"high"', b'"severity":"critical"')
    assert tampered != good and _reason(tampered) == "bad-signature"
    forged = json.loads(good)
    forged["mdasig"] = ("B" if forged["mdasig"][0] == "A" else "A") + forged["mdasig"][1:]
    assert _reason(json.dumps(forged).encode()) == "bad-signature"
    forged["mdasig"] = "not base64!"
    assert _reason(json.dumps(forged).encode()) == "bad-signature"
    # a partner with no key on file: refused whatever it sends (secure by default)
    assert _reason(good, key=None, fp=None) == "no-key"
    assert _reason(_published(_row(7), key=None)[1], key=None, fp=None) == "no-key"


def test_feed_urls_settings_and_the_serve_option(tmp_path):
    spec = parse_feed_url(
        "mqtt://us:p%40ss@broker.lk:8883/mda/v1/partners/india/#?partner=srilanka"
    )
    assert spec["topic"] == "mda/v1/partners/india/#" and spec["port"] == 8883
    assert spec["username"] == "us" and spec["password"] == "p@ss"
    assert spec["partner"] == "srilanka"
    feed = PartnerFeed("mqtt://h/mda/v1/partners/india/#?partner=srilanka", db_url="x")
    assert feed.source == "urn:mda:srilanka" and feed.status_topic == "mda/v1/status"
    with pytest.raises(Exception, match="which partner"):
        PartnerFeed("mqtt://h/mda/v1/partners/india/#", db_url="x")
    toml = tmp_path / "mda.toml"
    toml.write_text(
        "[[partner_feeds]]\n"
        'url = "mqtt://u:secret@h/mda/v1/partners/india/#"\n'
        'partner = "srilanka"\n'
        f'source = "{SOURCE}"\n'
    )
    s = load_settings(toml, environ={})
    assert s.partner_feeds[0].partner == "srilanka" and s.partner_feeds[0].source == SOURCE
    assert all("secret" not in v for _, v, _ in s.shown())
    toml.write_text('[[partner_feeds]]\nurl = "mqtt://h/x/#"\ncolour = "red"\n')
    with pytest.raises(Exception, match="colour"):
        load_settings(toml, environ={})

    from mda.commands.serve import apply_service_options

    args = SimpleNamespace(
        host=None,
        port=None,
        data_dir=None,
        database=None,
        partner_feed=["mqtt://h/mda/v1/partners/india/#?partner=maldives"],
    )
    out = apply_service_options(args, dataclasses.replace(s))
    assert [p.partner for p in out.partner_feeds] == ["srilanka", None]
    assert out.partner_feeds[1].url.endswith("partner=maldives")


async def test_partner_alerts_in_on_real_mosquitto(web: Web, mqtt_broker, caplog):
    async with await web.conn() as c:
        await add_partner(c, "srilanka", "LK", automatic=False, public_key=PUBLIC)
    pushed: list[dict] = []

    async def on_alert(row):
        pushed.append(row)
        await web.hub.publish_alert(row)

    feed = PartnerFeed(
        f"{mqtt_broker.url}/mda/v1/partners/india/#?partner=srilanka&source={SOURCE}",
        db_url=web.db_url,
        on_alert=on_alert,
    )
    task = asyncio.create_task(feed.run())
    try:
        await _until(lambda: feed.connected, what="the subscription")
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            await pub.publish(STATUS_TOPIC, status_payload("online", SOURCE), qos=1, retain=True)
            topic, opened = _published(_row(501))
            assert topic == "mda/v1/partners/india/alerts/loitering/419000001"
            await pub.publish(topic, opened, qos=1)
            await pub.publish(topic, opened, qos=1)  # delivered twice: applied once
            await pub.publish(topic, b"{not json", qos=1)
            await pub.publish(topic, b"x" * 70_000, qos=1)
            await pub.publish(topic, _published(_row(502), source="urn:mda:intruder")[1], qos=1)
            await pub.publish(topic, _published(_row(503), key=None)[1], qos=1)
            intruder = Ed25519PrivateKey.generate()
            await pub.publish(topic, _published(_row(504), key=intruder)[1], qos=1)
            _, tampered = _published(_row(505))
            tampered = tampered.replace(b'"severity":"high"', b'"severity":"critical"')
            await pub.publish(topic, tampered, qos=1)
            # what no check foresaw: nested deeper than the JSON parser goes, under the size
            # limit; a NaN, which has no canonical form to verify, signed by the right key
            await pub.publish(topic, b"[" * 60_000, qos=1)
            nan = json.loads(_published(_row(506))[1])
            nan["mdaextra"] = float("nan")
            await pub.publish(topic, json.dumps(nan).encode(), qos=1)
            await _until(
                lambda: (
                    feed.stored == 1 and feed.duplicates == 1 and sum(feed.rejected.values()) == 8
                ),
                what="the first events",
            )
            assert dict(feed.rejected) == {
                "malformed": 3,
                "oversized": 1,
                "unknown_source": 1,
                "unsigned": 1,
                "unknown-key": 1,
                "bad-signature": 1,
            }
            # each refusal logged with its origin: the partner, the topic, the event's id
            for reason in ("unsigned", "unknown-key", "bad-signature"):
                (line,) = [
                    r.getMessage() for r in caplog.records if f"({reason})" in r.getMessage()
                ]
                assert "partner feed srilanka" in line and topic in line and "event id " in line
            assert feed.as_dict()["state"] == "running" and feed.partner_status == "online"

            viewer = await web.token("viewer")
            r = await web.client.get("/api/alerts", headers=viewer)
            assert r.status_code == 200, r.text
            (a,) = r.json()["alerts"]  # the intruder's and the bad ones were never stored
            assert a["kind"] == "loitering" and a["status"] == "open" and a["mmsi"] == 419000001
            origin = a["details"]["origin"]
            assert origin["partner"] == "srilanka" and origin["country"] == "LK"
            assert origin["source"] == SOURCE and origin["alert_id"] == 501
            assert a["details"]["text"] == "loitering 3 h at 0.4 kn"
            assert pushed and pushed[0]["id"] == a["id"]

            # read-only here: the partner acknowledges and closes its own alerts
            officer = await web.token("officer")
            r = await web.client.post(f"/api/alerts/{a['id']}/ack", headers=officer, json={})
            assert r.status_code == 409 and "srilanka" in r.text, r.text
            r = await web.client.post(
                f"/api/alerts/{a['id']}/close",
                headers=officer,
                json={"note": "x", "outcome": "confirmed"},
            )
            assert r.status_code == 409 and "read-only" in r.text, r.text
            async with await web.conn() as c:  # nor ours to pass on
                await add_partner(c, "maldives", "MV")
                with pytest.raises(InvalidShare, match="not ours to share"):
                    await share_alert(c, a["id"], ["maldives"], actor="hana", via="cli")

            # the partner's later change updates the same alert
            await pub.publish(topic, _published(_row(501, "acknowledged"), "updated")[1], qos=1)
            await _until(lambda: feed.stored == 2, what="the change")
            r = await web.client.get(f"/api/alerts/{a['id']}", headers=viewer)
            assert r.json()["status"] == "acknowledged"
            assert [h["actor"] for h in r.json()["history"]] == ["partner:srilanka"] * 2
            rows = await web.sql("SELECT count(*) FROM partner_events WHERE partner = 'srilanka'")
            assert rows == [(2,)]

            # the partner's publisher goes offline: the feed is stale
            await pub.publish(STATUS_TOPIC, status_payload("offline", SOURCE), qos=1, retain=True)
            await _until(lambda: feed.stale, what="the stale feed")
            assert feed.as_dict()["state"] == "stale"
            await pub.publish(STATUS_TOPIC, b"", qos=1, retain=True)  # clear the retained one

        # a restart of our service does not end the partner's episodes
        with psycopg.connect(web.db_url) as conn:
            end_open_episodes(conn)
        rows = await web.sql("SELECT \"end\" FROM alerts WHERE origin_partner = 'srilanka'")
        assert rows == [(None,)]

        # a partner with no key on file: refused (no-key), said in the log once
        async with await web.conn() as c:
            await add_partner(c, "oman", "OM", automatic=False)
        oman = PartnerFeed(f"{mqtt_broker.url}/x/#?partner=oman&source={SOURCE}", db_url=web.db_url)
        caplog.clear()
        for i in (1, 2, 3):
            assert await oman.handle(_published(_row(900 + i))[1], topic) == "no-key"
        assert oman.rejected == {"no-key": 3} and oman.stored == 0
        said = [r.getMessage() for r in caplog.records if "no-key" in r.getMessage()]
        assert len(said) == 1 and "mda partner key oman" in said[0], said

        # a disabled partner's events are refused, counted, not stored
        async with await web.conn() as c:
            await disable_partner(c, "srilanka", actor="admin")
        assert await feed.handle(_published(_row(503))[1], topic) == "unknown_partner"
        assert (await web.sql("SELECT count(*) FROM alerts"))[0][0] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_feed_that_goes_away_is_retried_and_stale_meanwhile(web: Web, mosquitto_factory):
    broker = mosquitto_factory((ROOT / "deploy" / "mosquitto" / "test.conf.template").read_text())
    async with await web.conn() as c:
        await add_partner(c, "srilanka", "LK", automatic=False, public_key=PUBLIC)
    feed = PartnerFeed(
        f"{broker.url}/mda/v1/partners/india/#?partner=srilanka&source={SOURCE}",
        db_url=web.db_url,
        retry_initial=0.1,
        retry_max=0.5,
    )
    task = asyncio.create_task(feed.run())
    again = None
    try:
        await _until(lambda: feed.connected, what="the subscription")
        broker.stop()
        await _until(lambda: feed.stale, what="the feed to go stale")
        assert feed.as_dict()["state"] == "stale" and feed.error
        await asyncio.sleep(1.0)  # several attempts, none crashing
        assert feed.reconnects >= 2 and not task.done()
        conf = broker.log.with_name(f"mosquitto-{broker.port}.conf")
        again = await asyncio.to_thread(
            subprocess.Popen,
            [broker.process.args[0], "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        await _until(lambda: feed.connected, timeout=15, what="the feed to come back")
        assert feed.as_dict()["state"] == "running"
        async with aiomqtt.Client(broker.host, broker.port) as pub:
            topic, payload = _published(_row(601))
            await pub.publish(topic, payload, qos=1)
        await _until(lambda: feed.stored == 1, what="an event after the outage")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if again is not None:
            again.terminate()
            again.wait(10)


@pytest.fixture
def db_a(timescale_server):
    """Installation A's own database (B's is the ``web`` fixture's)."""
    from conftest import _fresh_database

    from mda.store.migrate import upgrade

    made = _fresh_database(timescale_server, "mda_fed_a")
    try:
        url = next(made)
        with psycopg.connect(url) as conn:
            upgrade(conn)
        yield url
    finally:
        made.close()  # dropped


async def test_federation_through_a_bridge_as_deploy_documents(
    web: Web, mosquitto_factory, db_a: str
):
    """Two installations, each with its own database and broker: A (Sri Lanka, ``db_a``,
    signing with its key) shares an alert with B (India, partner 'india' at A); A's
    AlertFeed publishes it on A's broker; B's broker bridges it in with deploy/'s bridge
    file; B's PartnerFeed checks A's signature with the key B keeps for Sri Lanka and puts
    the alert on B's desk as Sri Lanka's within 5 s: pushed on a logged-in WebSocket and
    listed by the API."""
    from httpx_ws import aconnect_ws
    from httpx_ws.transport import ASGIWebSocketTransport
    from web_support import BASE

    from mda.store import alerts as store_alerts
    from mda.web.live import alert_of_frame

    template = (ROOT / "deploy" / "mosquitto" / "test.conf.template").read_text()
    broker_a = mosquitto_factory(template)
    bridge = (ROOT / "deploy" / "mosquitto" / "partner-bridge.conf.template").read_text()
    for k, v in {
        "@PARTNER@": "srilanka",
        "@PARTNER_ADDRESS@": f"{broker_a.host}:{broker_a.port}",
        "@OURNAME@": "india",
        "@REMOTE_USER@": "partner-india",
        "@REMOTE_PASSWORD@": "unused-here",
    }.items():
        bridge = bridge.replace(k, v)
    broker_b = mosquitto_factory(template + "\n" + bridge)
    async with await psycopg.AsyncConnection.connect(db_a, autocommit=True) as c:  # at A
        await add_partner(c, "india", "IN", automatic=False)
        (shared,) = await store_alerts.save_changes(
            c, [alert_change("fed1", kind="encounter", severity="high", mmsi=419000005)]
        )
    async with await web.conn() as c:  # at B: Sri Lanka, with the key it gave
        await add_partner(c, "srilanka", "LK", automatic=False, public_key=PUBLIC)
    await web.user("ravi", "viewer")  # B's watch officer

    a_feed = AlertFeed(broker_a.url, source=SOURCE, signing_key=KEY, db_url=db_a, poll_s=0.1)
    b_feed = PartnerFeed(
        f"{broker_b.url}/partners/srilanka/mda/v1/partners/india/#"
        f"?partner=srilanka&source={SOURCE}",
        db_url=web.db_url,
        on_alert=web.hub.publish_alert,  # as mda serve wires it: B's consoles get it live
    )
    tasks = [asyncio.create_task(a_feed.run()), asyncio.create_task(b_feed.run())]
    try:
        async with httpx.AsyncClient(
            transport=ASGIWebSocketTransport(app=web.app), base_url=BASE
        ) as browser:
            r = await web.login("ravi", client=browser)
            assert r.status_code in (302, 303), r.text
            async with aconnect_ws("/api/live", browser, headers={"origin": BASE}) as ws:
                hello = json.loads(await ws.receive_text())
                assert hello["type"] == "hello" and hello["user"] == "ravi"
                await _until(lambda: a_feed.connected and b_feed.connected, what="both sides")
                await _until(
                    lambda: b_feed.partner_status == "online", what="A's status via the bridge"
                )
                await asyncio.sleep(0.3)  # A's share follower has its starting point
                async with await psycopg.AsyncConnection.connect(db_a, autocommit=True) as c:
                    await share_alert(c, shared["id"], ["india"], actor="nimal", via="cli")
                t0 = time.monotonic()
                async with asyncio.timeout(5):
                    while True:
                        frame = json.loads(await ws.receive_text())
                        if frame["type"] == "alert":
                            break
                took = time.monotonic() - t0
                assert took < 5
        pushed = alert_of_frame(frame)
        assert pushed["kind"] == "encounter" and pushed["mmsi"] == 419000005
        assert pushed["details"]["origin"]["partner"] == "srilanka"
        assert pushed["details"]["origin"]["country"] == "LK"
        assert pushed["details"]["origin"]["alert_id"] == shared["id"]
        assert b_feed.stored == 1 and not b_feed.rejected
        viewer = await web.token("viewer")
        r = await web.client.get("/api/alerts", headers=viewer)
        (copy,) = r.json()["alerts"]  # B's desk: only Sri Lanka's alert, nothing of A's own
        assert copy["id"] == pushed["id"] and copy["severity"] == "high"
        assert copy["details"]["origin"]["partner"] == "srilanka"
        assert copy["details"]["origin"]["source"] == SOURCE
        print(f"A's shared alert on B's WebSocket {took * 1000:.0f} ms after the share")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_mda_serve_with_partner_feed_puts_its_alerts_on_the_desk(db_url, mqtt_broker, tmp_path):
    """The service as ``mda serve --partner-feed URL`` runs it: the feed subscribed, its
    alerts stored as the partner's, its chip in the service's status (the map's feeds)."""
    from support import free_port

    from mda.commands.serve import apply_service_options
    from mda.service import Service
    from mda.settings import SourceSpec
    from mda.store.migrate import upgrade

    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    url = f"{mqtt_broker.url}/mda/v1/partners/kochi/#?partner=srilanka&source={SOURCE}"
    args = SimpleNamespace(
        host=None, port=None, data_dir=str(tmp_path / "data"), database=None, partner_feed=[url]
    )
    settings = apply_service_options(args, load_settings(environ={}))

    async def go():
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
            await add_partner(c, "srilanka", "LK", automatic=False, public_key=PUBLIC)
        feed_port = free_port()
        service = Service(settings, db_url, [SourceSpec(f"udp://127.0.0.1:{feed_port}")], web=False)
        task = asyncio.create_task(service.run())
        try:
            await _until(
                lambda: service.partner_feeds and service.partner_feeds[0].connected,
                timeout=30,
                what="the service's partner feed",
            )
            (chip,) = [f for f in service.status()["feeds"] if f["name"] == "partner srilanka"]
            assert chip["state"] == "running" and chip["kept"] == 0
            assert service.status()["partner_events_waiting"] == 0
            # what waits for the database would be kept in the data directory
            kept = service.partner_feeds[0]._kept._spool.dir
            assert kept.parent == tmp_path / "data" and kept.name.startswith("spool-partner-")
            message = alert_message({**_row(701), "change": "shared"})
            async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
                await pub.publish(
                    alert_topic(message, "kochi"),
                    event_payload(alert_cloudevent(message, SOURCE, key=KEY)),
                    qos=1,
                )
                await pub.publish(alert_topic(message, "kochi"), b"[1, 2", qos=1)
            await _until(
                lambda: (
                    service.status().get("partner_alerts_stored") == 1
                    and service.status()["partner_events_rejected"] == {"srilanka:malformed": 1}
                ),
                what="the event in the service",
            )
        finally:
            service.stop()
            await asyncio.wait_for(task, 30)

    asyncio.run(go())
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT key, origin_partner, details -> 'origin' ->> 'country' FROM alerts"
        ).fetchall()
    assert rows == [("partner:srilanka:701", "srilanka", "LK")]
