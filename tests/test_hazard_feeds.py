"""Hazards to partners over MQTT (issue 14, item 3) on a real Mosquitto and TimescaleDB: a
subscriber receives each new hazard as a CloudEvent (with its vessels at risk) and as CAP
1.2, an Update referencing the earlier message when it changes and a Cancel when it ends,
also one that ended, was deleted or expired while the service was stopped; a partner
receives only the hazards shared with it (by an officer, on the command line, or by its
policy), and the share log holds them in its chain."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime

import aiomqtt
import psycopg
import pytest
from hazard_samples import around, cap_alert
from test_alert_feeds import _check
from web_support import make_settings, vessel

from mda.cli import main
from mda.exchange.cap import CAP_NS, cap_cancels, cap_references, parse_cap
from mda.exchange.partner_feed import BadEvent, verify_event
from mda.exchange.signing import fingerprint, load_or_create_key
from mda.store.writer import write_batch

pytestmark = pytest.mark.integration

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def _sql(url: str, q: str, params=()):
    with psycopg.connect(url) as c:
        return c.execute(q, params).fetchall()


def _add(url: str, capsys, *args: str) -> int:
    assert main(["hazard", "--database", url, "add", *args]) == 0
    return int(re.search(r"hazard (\d+)", capsys.readouterr().out).group(1))


def _cap_file(tmp_path, name: str, **kw) -> str:
    path = tmp_path / f"{name}.xml"
    path.write_text(cap_alert(**kw))
    return str(path)


async def _resend(url: str, **kw) -> None:
    """The warning centre sends its CAP alert again, changed (as ``mda hazard add`` does)."""
    from mda.store.hazards import save_hazard

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        for h in parse_cap(cap_alert(**kw)):
            await save_hazard(c, h, source="cap", created_by="cli")


async def _end(url: str, hid: int, user: str = "cli") -> None:
    from mda.store.hazards import end_hazard

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        await end_hazard(c, hid, user)


async def _inside_vessel(url: str) -> None:
    now = time.time()
    p, s = vessel(419000011, *around(0.0, -20.0), ts=now - 60, sog=0.0, name="INSIDE ONE")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        await write_batch(c, [p], [s], [])


class Running:
    """A service's hazard publishing (``Service._publish_hazards``) on its own CloudEvents
    feed, connected to the broker; ``stop`` is the service stopping."""

    def __init__(self, url: str, settings):
        from mda.service import Service, alert_feed

        self.svc = Service(settings, url, [])
        self.svc.feed = alert_feed(settings, url)
        self.task = asyncio.create_task(self.svc.feed.run())

    async def publish(self) -> None:
        await self.svc._publish_hazards()

    async def stop(self) -> None:
        await self.svc.feed.close()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _drain(sub: aiomqtt.Client, n: int, quiet: float = 0.6) -> list[tuple[str, bytes]]:
    """``n`` messages (else fail), then whatever else comes within ``quiet`` seconds."""
    got: list[tuple[str, bytes]] = []
    if n:
        try:
            async with asyncio.timeout(10):
                async for m in sub.messages:
                    got.append((str(m.topic), bytes(m.payload)))
                    if len(got) >= n:
                        break
        except TimeoutError:
            raise AssertionError(f"timed out after {[t for t, _ in got]}") from None
    try:
        async with asyncio.timeout(quiet):
            async for m in sub.messages:
                got.append((str(m.topic), bytes(m.payload)))
    except TimeoutError:
        pass
    return got


def _split(got) -> tuple[dict[int, dict], dict[int, str]]:
    """The CloudEvents and the CAP documents received, by hazard id."""
    events, caps = {}, {}
    for topic, payload in got:
        parts = topic.split("/")
        if parts[-1] == "cap":
            caps[int(parts[-2])] = payload.decode()
        else:
            events[int(parts[-1])] = json.loads(payload)
    return events, caps


def _schema():
    doc = json.loads((ROOT / "docs" / "asyncapi.yaml").read_text())
    return doc, doc["components"]["schemas"]["HazardEvent"]


def _cap_ok(xml: str) -> None:
    doc, _ = _schema()
    pattern = doc["components"]["messages"]["HazardCap"]["payload"]["pattern"]
    assert re.search(pattern, xml), xml[:120]


def test_a_hazard_goes_out_as_a_cloudevent_and_cap_then_update_then_cancel(
    migrated, mqtt_broker, tmp_path, capsys
):
    asyncio.run(_inside_vessel(migrated))
    hid = _add(migrated, capsys, _cap_file(tmp_path, "mocha"))
    settings = make_settings(tmp_path, mqtt_url=mqtt_broker.url, organisation="MRCC Mumbai")
    doc, schema = _schema()

    async def go():
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
            await sub.subscribe("mda/v1/hazards/#", qos=1)
            run = Running(migrated, settings)
            try:
                await run.publish()
                first = await _drain(sub, 2)
                await run.publish()  # nothing changed: nothing sent
                again = await _drain(sub, 0, quiet=0.5)
                # the warning centre updates it: the same CAP alert again, a new headline
                await _resend(migrated, headline="MOCHA, update")
                await run.publish()
                update = await _drain(sub, 2)
                await _end(migrated, hid)
                await run.publish()
                cancel = await _drain(sub, 2)
            finally:
                await run.stop()
        return first, again, update, cancel

    first, again, update, cancel = asyncio.run(go())
    assert sorted(t for t, _ in first) == [f"mda/v1/hazards/{hid}", f"mda/v1/hazards/{hid}/cap"]
    assert again == []
    events, caps = _split(first)
    e = events[hid]
    _check(e, schema, doc)
    # signed with the installation's key, as the alert events are: a partner verifies it
    key = load_or_create_key(settings.data_path)
    [payload] = [body for topic, body in first if topic == f"mda/v1/hazards/{hid}"]
    verify_event(payload, e, key.public_key(), fingerprint(key))
    forged = {
        **e,
        "data": {**e["data"], "properties": {**e["data"]["properties"], "severity": "minor"}},
    }
    with pytest.raises(BadEvent):
        verify_event(json.dumps(forged).encode(), forged, key.public_key(), fingerprint(key))
    assert e["specversion"] == "1.0" and e["type"] == "org.mda.hazard.v1"
    assert e["source"] == "urn:mda:MRCC-Mumbai" and e["subject"] == f"hazard:{hid}"
    assert e["datacontenttype"] == "application/geo+json" and e["time"].endswith("Z")
    p = e["data"]["properties"]
    assert e["data"]["geometry"]["type"] == "Polygon"
    assert p["name"].startswith("Cyclone MOCHA") and p["severity"] == "critical"
    assert p["status"] == "in_force" and p["change"] == "issued" and p["expires"].endswith("Z")
    assert [(v["mmsi"], v["inside"], v["name"]) for v in p["vessels_at_risk"]] == [
        (419000011, True, "INSIDE ONE")
    ]
    # CAP forbids spaces in sender: the organisation "MRCC Mumbai" signs as "MRCC-Mumbai"
    assert p["cap"]["msg_type"] == "Alert" and p["cap"]["sender"] == "MRCC-Mumbai"
    xml = caps[hid]
    _cap_ok(xml)
    assert f'xmlns="{CAP_NS}"' in xml and "MMSI 419000011 INSIDE ONE: inside" in xml
    [alert] = parse_cap(xml)
    assert alert.details["msg_type"] == "Alert" and alert.details["sender"] == "MRCC-Mumbai"
    assert alert.details["identifier"] == p["cap"]["identifier"]
    alert_key = (alert.details["sender"], alert.details["identifier"])
    alert_sent = f"{datetime.fromtimestamp(alert.details['sent'], UTC):%Y-%m-%dT%H:%M:%S+00:00}"

    events, caps = _split(update)
    u = events[hid]
    _check(u, schema, doc)
    up = u["data"]["properties"]
    assert up["change"] == "updated" and up["name"] == "MOCHA, update" and u["id"] != e["id"]
    assert up["cap"]["msg_type"] == "Update"
    [h] = parse_cap(caps[hid])
    assert h.details["msg_type"] == "Update" and h.details["sender"] == "MRCC-Mumbai"
    # its references, parsed as a partner's reader parses them, name the Alert as sent
    assert cap_references(h.details["references"]) == [alert_key]
    assert h.details["references"].split(",")[2] == alert_sent
    assert up["cap"]["references"] == h.details["references"].split()
    assert h.name == "MOCHA, update" and h.details["identifier"] == up["cap"]["identifier"]
    update_key = ("MRCC-Mumbai", h.details["identifier"])

    events, caps = _split(cancel)
    c = events[hid]
    _check(c, schema, doc)
    cp = c["data"]["properties"]
    assert cp["change"] == "cancelled" and cp["status"] == "ended"
    assert cp["note"] == "Hazard ended by cli" and cp["vessels_at_risk"] == []
    assert cp["cap"]["msg_type"] == "Cancel" and len(cp["cap"]["references"]) == 2
    [h] = parse_cap(caps[hid])
    assert h.details["msg_type"] == "Cancel" and h.details["note"] == "Hazard ended by cli"
    assert h.details["references"] == " ".join(cp["cap"]["references"])
    # what our own reader (a partner's mda) ends on it: the Alert and the Update
    assert cap_cancels(caps[hid]) == [alert_key, update_key]
    kept = _sql(
        migrated, "SELECT msg_type FROM hazard_messages WHERE hazard_id = %s ORDER BY id", (hid,)
    )
    assert kept == [("Alert",), ("Update",), ("Cancel",)]


def test_hazards_that_ended_while_the_service_was_stopped_are_cancelled_at_its_start(
    migrated, mqtt_broker, tmp_path, capsys
):
    """Ended by an officer, deleted by a supervisor, expired: each while the service was
    down; the next service's first sync sends each its CAP Cancel, referencing the Alert the
    earlier run sent and saying why; the one still in force gets nothing, and a second sync
    nothing more."""
    from mda.analytics import AnalyticsConfig, Analyzer, ZoneSet
    from mda.store.hazards import delete_hazard, end_hazard

    ids = {
        k: _add(
            migrated, capsys, _cap_file(tmp_path, k, identifier=f"IMD-{k}", headline=f"Warning {k}")
        )
        for k in ("END", "DEL", "EXP", "STAY")
    }
    settings = make_settings(tmp_path, mqtt_url=mqtt_broker.url, organisation="MRCC Mumbai")

    async def go():
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
            await sub.subscribe("mda/v1/hazards/+/cap", qos=1)
            before = Running(migrated, settings)
            await before.publish()
            first = await _drain(sub, 4)
            await before.stop()  # the service stops; meanwhile:
            async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
                await end_hazard(c, ids["END"], "watch-officer")
                await delete_hazard(c, ids["DEL"])
                await c.execute(
                    "UPDATE hazards SET expires = now() - interval '1 second' WHERE id = %s",
                    (ids["EXP"],),
                )
            after = Running(migrated, settings)  # a new start: no memory but the database
            # its hazards-sync stage, as the service runs it (the analytics' zones too)
            job = asyncio.create_task(
                after.svc._hazards_job(Analyzer(AnalyticsConfig(), ZoneSet.builtin()), feed_s=0.2)
            )
            try:
                then = await _drain(sub, 3)
                more = await _drain(sub, 0, quiet=0.8)  # a few more rounds: nothing more
            finally:
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
                await after.stop()
        return first, then, more

    first, then, more = asyncio.run(go())
    _, alerts = _split(first)
    assert sorted(alerts) == sorted(ids.values())
    alerts = {i: parse_cap(x)[0].details for i, x in alerts.items()}
    assert {d["msg_type"] for d in alerts.values()} == {"Alert"}
    _, cancels = _split(then)
    assert sorted(cancels) == sorted([ids["END"], ids["DEL"], ids["EXP"]]) and more == []
    for key, why in (
        ("END", "Hazard ended by watch-officer"),
        ("DEL", "Hazard withdrawn (entered by mistake)"),
        ("EXP", "Hazard expired"),
    ):
        [h] = parse_cap(cancels[ids[key]])
        earlier = alerts[ids[key]]
        assert h.details["msg_type"] == "Cancel" and h.details["note"] == why
        assert h.name == f"Warning {key}" and h.details["sender"] == "MRCC-Mumbai"
        sent = datetime.fromtimestamp(earlier["sent"], UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        # parsed back by the reader a partner's mda uses: it ends the Alert sent before
        assert cap_cancels(cancels[ids[key]]) == [("MRCC-Mumbai", earlier["identifier"])]
        assert h.details["references"].split(",")[2] == sent


def test_a_partner_receives_only_the_hazards_shared_with_it(
    migrated, mqtt_broker, tmp_path, capsys
):
    """srilanka: shared by an officer; maldives: another hazard, shared on the command line;
    kenya: its automatic policy takes critical hazards; india's takes only encounters. Each
    gets its hazards as CloudEvent and CAP on mda/v1/partners/<it>/hazards/<id>, then their
    Update, and the Cancel while it is enabled; nobody gets what was not shared with it."""
    from mda.store.partners import add_partner, disable_partner
    from mda.store.shares import share_hazard

    asyncio.run(_inside_vessel(migrated))
    h1 = _add(migrated, capsys, _cap_file(tmp_path, "h1"))  # critical
    h2 = _add(
        migrated,
        capsys,
        "--polygon",
        "5,70 5,72 7,72 7,70 5,70",
        "--name",
        "Oil spill",
        "--severity",
        "medium",
        "--expires",
        "+6h",
    )
    settings = make_settings(tmp_path, mqtt_url=mqtt_broker.url, organisation="MRCC Mumbai")

    async def partners():
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            await add_partner(c, "srilanka", "LK", automatic=False)
            await add_partner(c, "maldives", "MV", automatic=False)
            await add_partner(c, "kenya", "KE", kinds=["hazard"], min_severity="critical")
            await add_partner(c, "india", "IN", kinds=["encounter"])

    asyncio.run(partners())

    async def go():
        got = []
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
            await sub.subscribe("mda/v1/partners/#", qos=1)
            run = Running(migrated, settings)
            try:
                await run.publish()  # h1 and h2 on our feed; h1 to kenya by its policy
                got += await _drain(sub, 2)
                async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
                    await share_hazard(c, h1, ["srilanka"], actor="olga", via="test")
                    await share_hazard(c, h2, ["maldives"], actor="olga", via="test")
                await run.publish()
                got += await _drain(sub, 4)
                await _resend(migrated, headline="MOCHA, update")
                await run.publish()  # its Update to srilanka and kenya
                got += await _drain(sub, 4)
                async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
                    await disable_partner(c, "kenya")
                await _end(migrated, h1)
                await run.publish()  # its Cancel to srilanka only
                got += await _drain(sub, 2)
            finally:
                await run.stop()
        return got

    got = asyncio.run(go())
    by_partner: dict[str, list[tuple[int, str]]] = {}
    for topic, payload in got:
        parts = topic.split("/")
        assert parts[:3] == ["mda", "v1", "partners"] and parts[4] == "hazards"
        if parts[-1] == "cap":
            [h] = parse_cap(payload)
            by_partner.setdefault(parts[3], []).append(
                (int(parts[5]), "cap:" + h.details["msg_type"])
            )
        else:
            e = json.loads(payload)
            assert e["subject"] == f"hazard:{parts[5]}"
            by_partner.setdefault(parts[3], []).append(
                (int(parts[5]), e["data"]["properties"]["change"])
            )
    assert set(by_partner) == {"srilanka", "maldives", "kenya"}  # india: nothing
    assert by_partner["srilanka"] == [
        (h1, "shared"),
        (h1, "cap:Alert"),
        (h1, "updated"),
        (h1, "cap:Update"),
        (h1, "cancelled"),
        (h1, "cap:Cancel"),
    ]
    assert by_partner["maldives"] == [(h2, "shared"), (h2, "cap:Alert")]
    assert by_partner["kenya"] == [
        (h1, "shared"),
        (h1, "cap:Alert"),
        (h1, "updated"),
        (h1, "cap:Update"),
    ]  # disabled before the Cancel
    shared = [json.loads(p) for t, p in got if t == f"mda/v1/partners/srilanka/hazards/{h1}"]
    assert [v["mmsi"] for v in shared[0]["data"]["properties"]["vessels_at_risk"]] == [419000011]
    rows = _sql(migrated, "SELECT partner, hazard_id, mode, actor FROM share_log ORDER BY id")
    assert rows == [
        ("kenya", h1, "automatic", "system"),
        ("srilanka", h1, "manual", "olga"),
        ("maldives", h2, "manual", "olga"),
    ]
    # on the command line; the log's chain holds hazards' rows as alerts' rows
    share = ["hazard", "--database", migrated, "share", str(h2)]
    assert main([*share, "--partner", "srilanka", "--partner", "maldives"]) == 0
    out = capsys.readouterr().out
    assert f"hazard {h2} shared with srilanka" in out and f"hazard {h2} shared with maldives" in out
    assert main(["share", "--database", migrated, "log", "--verify"]) == 0
    out = capsys.readouterr().out
    assert f"hazard {h2}" in out and "share log intact: 5 rows" in out
    assert main(["hazard", "--database", migrated, "share", str(h2), "--partner", "nobody"]) == 2
    assert "no partner 'nobody'" in capsys.readouterr().err
    assert _sql(migrated, "SELECT count(*) FROM share_log") == [(5,)]


async def test_an_officer_shares_a_hazard_through_the_api_and_the_partner_reads_it(web):
    """POST /api/hazards/{id}/share: one transaction (an unknown partner is a 404 and logs
    nothing; a policy without hazards a 422; an ended hazard a 422); with whom it was
    shared; the partner reads it, with its vessels at risk, at /api/partner/hazards and
    nothing else."""
    from web_support import NOW

    from mda.store.partners import add_partner
    from mda.store.shares import verify

    rows = [
        vessel(419000011, *around(0.0, -20.0), ts=NOW - 60, sog=0.0, name="INSIDE ONE"),
        vessel(419000012, *around(270.0, 60.0), ts=NOW - 60, sog=12.0, cog=90.0, name="COMING"),
        vessel(419000013, *around(270.0, 60.0), ts=NOW - 60, sog=12.0, cog=270.0, name="AWAY"),
    ]
    await web.write([p for p, _ in rows], [s for _, s in rows])
    async with await web.conn() as c:
        _, lk = await add_partner(c, "srilanka", "LK", automatic=False)
        _, mv = await add_partner(c, "maldives", "MV", automatic=False)
        await add_partner(c, "alertsonly", "SC", kinds=["encounter"], automatic=False)
    lk, mv = ({"Authorization": f"Bearer {t}"} for t in (lk, mv))
    officer = await web.token("officer", owner="olga")
    viewer = await web.token("viewer")
    cap = {"content-type": "application/cap+xml"}
    ids = []
    for ident in ("IMD-A", "IMD-B"):
        r = await web.client.post(
            "/api/hazards", content=cap_alert(identifier=ident), headers={**officer, **cap}
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["features"][0]["id"])
    hid, other = ids

    share = f"/api/hazards/{hid}/share"
    r = await web.client.post(share, json={"partners": ["srilanka", "nobody"]}, headers=officer)
    assert r.status_code == 404 and "nobody" in r.text
    assert await web.sql("SELECT count(*) FROM share_log") == [(0,)]  # nothing of it
    r = await web.client.post(share, json={"partners": ["alertsonly"]}, headers=officer)
    assert r.status_code == 422 and "policy" in r.text
    r = await web.client.post(share, json={"partners": ["srilanka"]}, headers=viewer)
    assert r.status_code == 403
    r = await web.client.post(share, json={"partners": ["srilanka"]}, headers=officer)
    assert r.status_code == 200, r.text
    [row] = r.json()["shares"]
    assert (row["partner"], row["hazard_id"], row["actor"]) == ("srilanka", hid, "olga")
    r = await web.client.get(f"/api/hazards/{hid}/shares", headers=viewer)
    assert [(s["partner"], s["mode"]) for s in r.json()["shares"]] == [("srilanka", "manual")]
    r = await web.client.post(
        "/api/hazards/999999/share", json={"partners": ["srilanka"]}, headers=officer
    )
    assert r.status_code == 404

    r = await web.client.get("/api/partner/hazards", headers=lk)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["partner"] == "srilanka" and body["count"] == 1
    [f] = body["features"]
    assert f["id"] == hid and f["geometry"]["type"] == "Polygon"
    p = f["properties"]
    assert p["name"].startswith("Cyclone MOCHA") and p["shared"]["mode"] == "manual"
    assert [(v["mmsi"], v["inside"]) for v in p["vessels_at_risk"]] == [
        (419000011, True),
        (419000012, False),
    ]
    assert (await web.client.get(f"/api/partner/hazards/{hid}", headers=lk)).json()["id"] == hid
    for headers, h in ((lk, other), (mv, hid), (lk, 999999)):
        r = await web.client.get(f"/api/partner/hazards/{h}", headers=headers)
        assert r.status_code == 404, (h, r.text)
    assert (await web.client.get("/api/partner/hazards", headers=mv)).json()["count"] == 0
    assert (await web.client.get("/api/hazards", headers=lk)).status_code == 403
    assert (await web.client.get("/api/partner/hazards", headers=officer)).status_code == 403

    r = await web.client.post(f"/api/hazards/{hid}/end", headers=officer)
    assert r.status_code == 200
    r = await web.client.post(share, json={"partners": ["maldives"]}, headers=officer)
    assert r.status_code == 422 and "ended" in r.text
    audit = await web.sql(
        "SELECT actor, target FROM audit_log WHERE action = 'share.hazard' ORDER BY id"
    )
    assert audit == [("olga", f"hazard:{hid}")]
    async with await web.conn() as c:
        n, broken, _head = await verify(c)
    assert (n, broken) == (1, None)
    # a hazard's row is as tamper-evident as an alert's: another hazard in it is found
    async with await web.conn() as c:
        await c.execute("ALTER TABLE share_log DISABLE TRIGGER share_log_no_change")
        await c.execute("UPDATE share_log SET hazard_id = %s WHERE id = %s", (other, row["id"]))
        await c.execute("ALTER TABLE share_log ENABLE TRIGGER share_log_no_change")
        n, broken, _head = await verify(c)
    assert n == 0 and broken.id == row["id"] and "altered" in broken.reason
