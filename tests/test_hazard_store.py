"""Hazard areas in the database and on the command line: ``mda hazard add`` from a CAP file,
a polygon and a circle, ``list``, ``end`` and ``vessels`` on a real database; the same CAP
warning delivered twice is one hazard; bad input is one line and stores nothing; each change
is audited."""

from __future__ import annotations

import re
import time

import psycopg
import pytest
from hazard_samples import around, cap_alert
from web_support import vessel

from mda.cli import main
from mda.store.writer import write_batch

pytestmark = pytest.mark.integration


def _sql(url: str, q: str, params=()):
    with psycopg.connect(url) as c:
        return c.execute(q, params).fetchall()


def test_cli_add_cap_polygon_circle_list_and_end(migrated, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    db = ["hazard", "--database", migrated]
    cap = tmp_path / "cyclone.xml"
    cap.write_text(cap_alert())
    assert main([*db, "add", str(cap)]) == 0
    out = capsys.readouterr().out
    assert "hazard 1 added: Cyclone MOCHA" in out and "critical" in out
    assert main([*db, "add", str(cap)]) == 0  # the same warning again: updated, not doubled
    assert "hazard 1 updated" in capsys.readouterr().out
    assert (
        main(
            [*db, "add", "--polygon", "5,70 5,72 7,72 7,70", "--name", "Oil spill off Colombo"]
            + ["--severity", "medium", "--expires", "+6h"]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert re.search(r"hazard \d+ added: Oil spill off Colombo \(medium, in_force", out)
    spill = int(re.search(r"hazard (\d+)", out).group(1))
    assert "not closed" in err  # the repair is said
    assert main([*db, "add", "--circle=-20,57,30", "--name", "Tsunami watch"]) == 0
    tsunami = int(re.search(r"hazard (\d+)", capsys.readouterr().out).group(1))
    [(kind, geom, cap_id, sender, sent)] = _sql(
        migrated,
        "SELECT source, geometry->>'type', cap_identifier, cap_sender, cap_sent "
        "FROM hazards WHERE id = 1",
    )
    assert (kind, geom, cap_id, sender) == ("cap", "Polygon", "IMD-TEST-001", "rsmc.imd.gov.in")
    assert sent is not None

    assert main([*db, "list"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ("Cyclone MOCHA", "Oil spill off Colombo", "Tsunami watch"))
    assert main([*db, "end", str(spill)]) == 0
    assert f"hazard {spill} ended" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    out = capsys.readouterr().out
    assert "Oil spill" not in out and "Tsunami watch" in out
    assert main([*db, "list", "--all"]) == 0
    assert "ended" in capsys.readouterr().out
    actions = _sql(migrated, "SELECT action, target FROM audit_log ORDER BY id")
    assert actions == [
        ("hazard.create", "hazard:1"),
        ("hazard.update", "hazard:1"),
        ("hazard.create", f"hazard:{spill}"),
        ("hazard.create", f"hazard:{tsunami}"),
        ("hazard.end", f"hazard:{spill}"),
    ]
    assert main([*db, "end", "99"]) == 2
    assert "hazard 99: not found" in capsys.readouterr().err


def test_cli_refuses_bad_input_in_one_line_and_stores_nothing(migrated, tmp_path, capsys):
    db = ["hazard", "--database", migrated]
    bad = tmp_path / "bad.xml"
    bad.write_text(cap_alert(area="<polygon>15,88 16,x 17,89 15,88</polygon>"))
    assert main([*db, "add", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alert/info[1]/area[1]/polygon[1]" in err
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&x;</alert>'
    )
    assert main([*db, "add", str(xxe)]) == 2
    assert "DTDs and entities are not accepted" in capsys.readouterr().err
    assert main([*db, "add", "--circle", "95,88,100", "--name", "x"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main([*db, "add", "--polygon=-40,20 -40,120 30,120 30,20", "--name", "ocean"]) == 2
    assert "confirm" in capsys.readouterr().err
    assert (
        main([*db, "add", "--circle", "15,88,100", "--name", "x", "--expires=2020-01-01T00:00Z"])
        == 2
    )
    assert "expires: lies in the past" in capsys.readouterr().err
    assert _sql(migrated, "SELECT count(*) FROM hazards") == [(0,)]


def test_cli_vessels_at_risk_from_the_latest_positions(migrated, tmp_path, capsys, monkeypatch):
    now = time.time()
    inside = vessel(419000011, *around(0.0, -20.0), ts=now - 60, sog=0.0, name="INSIDE ONE")
    coming = vessel(419000012, *around(270.0, 60.0), ts=now - 60, sog=12.0, cog=90.0)
    away = vessel(419000013, *around(270.0, 60.0), ts=now - 60, sog=12.0, cog=270.0)
    import asyncio

    async def write():
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            rows = [inside, coming, away]
            await write_batch(c, [p for p, _ in rows], [s for _, s in rows], [])

    asyncio.run(write())
    cap = tmp_path / "cyclone.xml"
    cap.write_text(cap_alert())
    assert main(["hazard", "--database", migrated, "add", str(cap)]) == 0
    capsys.readouterr()
    assert main(["hazard", "--database", migrated, "vessels", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 vessels at risk" in out
    lines = out.splitlines()[1:]
    assert lines[0].split()[:2] == ["419000011", "inside"]
    assert lines[1].split()[:2] == ["419000012", "enters"]
    assert "419000013" not in out
    # the horizon is a setting (the one coming in enters in 5 h), the option overrides it
    monkeypatch.setenv("MDA_HAZARD_HORIZON_H", "4")
    assert main(["hazard", "--database", migrated, "vessels", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 vessels at risk" in out and "419000012" not in out
    assert main(["hazard", "--database", migrated, "vessels", "1", "--horizon-h", "6"]) == 0
    assert "2 vessels at risk" in capsys.readouterr().out
    # so is the largest area accepted without confirmation
    monkeypatch.setenv("MDA_HAZARD_MAX_AREA_DEG2", "0.5")
    assert main(["hazard", "--database", migrated, "add", str(cap)]) == 2
    assert "more than the 0.5 accepted without confirmation" in capsys.readouterr().err


def test_the_service_hands_hazards_in_force_to_the_analytics_as_zones(migrated, tmp_path, capsys):
    """What the service's hazards-sync stage does every 10 s: a hazard added on the command
    line makes zone_entry alerts for a vessel sailing into it; once ended, it makes none."""
    import asyncio

    from web_support import make_settings

    from mda.analytics import AnalyticsConfig, Analyzer, ZoneSet
    from mda.analytics.testing import Track
    from mda.service import Service

    db = ["hazard", "--database", migrated]
    area = "--polygon=-16,70 -16,70.5 -15.5,70.5 -15.5,70 -16,70"
    assert main([*db, "add", area, "--name", "Cyclone BELAL", "--severity", "critical"]) == 0
    hid = int(re.search(r"hazard (\d+)", capsys.readouterr().out).group(1))
    svc = Service(make_settings(tmp_path), migrated, [])
    analyzer = Analyzer(AnalyticsConfig(), ZoneSet.builtin())
    n_builtin = len(analyzer.zones)
    asyncio.run(svc._load_hazards(analyzer))
    assert len(analyzer.zones) == n_builtin + 1
    t = Track(419000070, -15.75, 69.8, start=time.time() - 3600).sail(60, 20, 90)
    opened = [c.alert for c in analyzer.process(t.records) if c.change == "opened"]
    assert [(a.kind, a.zone, a.severity) for a in opened] == [
        ("zone_entry", f"Cyclone BELAL (hazard {hid})", "critical")
    ]
    assert main([*db, "end", str(hid)]) == 0
    asyncio.run(svc._load_hazards(analyzer))
    assert len(analyzer.zones) == n_builtin


def test_cap_warnings_published_on_mqtt_become_hazards(migrated, mqtt_broker, mqtt_topic):
    """``cap_topics``: a warning centre's CAP alert on the broker becomes a hazard, audited
    with the topic; the same alert again updates it; a malformed one stores nothing."""
    import asyncio

    import aiomqtt

    from mda.cap_feed import run_cap_feed

    async def go():
        subscribed = asyncio.Event()
        feed = asyncio.create_task(
            run_cap_feed(mqtt_broker.url, [f"{mqtt_topic}/cap/#"], migrated, subscribed)
        )
        await asyncio.wait_for(subscribed.wait(), 10)
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            bad = cap_alert(identifier="BAD-1", area="<polygon>15,88 16,x 17,89 15,88</polygon>")
            await pub.publish(f"{mqtt_topic}/cap/imd", bad.encode(), qos=1)
            await pub.publish(f"{mqtt_topic}/cap/imd", cap_alert().encode(), qos=1)
            await pub.publish(
                f"{mqtt_topic}/cap/imd", cap_alert(headline="Cyclone MOCHA, update").encode(), qos=1
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = _sql(migrated, "SELECT name, source, created_by, cap_identifier FROM hazards")
            if rows and rows[0][0] == "Cyclone MOCHA, update":
                break
            await asyncio.sleep(0.1)
        feed.cancel()
        return rows

    rows = asyncio.run(go())
    assert rows == [("Cyclone MOCHA, update", "cap", "mqtt", "IMD-TEST-001")]
    audit = _sql(migrated, "SELECT actor, action, details->>'topic' FROM audit_log ORDER BY id")
    assert [a[:2] for a in audit] == [("mqtt", "hazard.create"), ("mqtt", "hazard.update")]
    assert audit[0][2].endswith("/cap/imd")


# The hazards published to the feeds (CloudEvents and CAP, Alert, Update, Cancel, also after
# a restart) are tested in test_hazard_feeds.py.


def test_a_cap_cancel_on_the_feed_ends_the_hazards_it_references(migrated):
    """A warning centre (or another mda) withdrawing an alert with a CAP "Cancel" ends the
    hazard read from it (audited), and only that one; a Cancel of an alert never received
    changes nothing."""
    import asyncio

    from mda.cap_feed import take_cap
    from mda.exchange.cap import cap_reference, parse_cap, to_cap

    async def go():
        topic = "mda/external/cap/imd"
        for ident in ("IMD-KEEP", "IMD-GONE"):
            assert len(await take_cap(migrated, topic, cap_alert(identifier=ident).encode())) == 1
        [h] = parse_cap(cap_alert(identifier="IMD-GONE"))
        sent = time.time()

        def cancel(ident):
            return to_cap(
                h,
                sender="rsmc.imd.gov.in",
                identifier=f"{ident}-CANCEL",
                sent=sent,
                msg_type="Cancel",
                references=[cap_reference("rsmc.imd.gov.in", ident, sent - 60)],
            ).encode()

        none = await take_cap(migrated, topic, cancel("IMD-NEVER-SENT"))
        ended = await take_cap(migrated, topic, cancel("IMD-GONE"))
        return none, ended

    none, ended = asyncio.run(go())
    assert none == [] and [r["cap_identifier"] for r in ended] == ["IMD-GONE"]
    rows = _sql(migrated, "SELECT cap_identifier, status, ended_by FROM hazards ORDER BY id")
    assert rows == [("IMD-KEEP", "active", None), ("IMD-GONE", "ended", "mqtt")]
    audit = _sql(migrated, "SELECT actor, action FROM audit_log ORDER BY id")
    assert audit[-1] == ("mqtt", "hazard.end") and len(audit) == 3


def test_a_cap_update_with_a_new_identifier_updates_the_hazard_it_references(migrated):
    """A warning centre's next bulletin is an Update: a new identifier, ``references``
    naming the earlier message. It updates that hazard (the same id: one zone, one
    zone_entry alert per vessel), which keeps the new identifier for the next Update or the
    Cancel; an older message delivered late changes nothing."""
    import asyncio

    from mda.cap_feed import take_cap
    from mda.exchange.cap import cap_reference
    from mda.store.hazards import hazards_in_force

    topic = "mda/external/cap/imd"
    now = time.time()

    def ref(ident, ago):
        return cap_reference("rsmc.imd.gov.in", ident, float(int(now - ago)))

    def bulletin(ident, ago, headline, refs=None, lon=88.0):
        return cap_alert(
            identifier=ident,
            headline=headline,
            area=f"<circle>15.0,{lon} 150</circle>",
            msg_type="Update" if refs else "Alert",
            references=refs,
            sent_ago_s=ago,
        ).encode()

    async def go():
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            got = []
            got += await take_cap(migrated, topic, bulletin("IMD-MOCHA-1", 7200, "MOCHA 1"))
            got += await take_cap(
                migrated,
                topic,
                bulletin("IMD-MOCHA-2", 3600, "MOCHA 2", [ref("IMD-MOCHA-1", 7200)], 88.5),
            )
            got += await take_cap(
                migrated,
                topic,
                bulletin("IMD-MOCHA-3", 600, "MOCHA 3", [ref("IMD-MOCHA-2", 3600)], 89.0),
            )
            in_force = await hazards_in_force(c)
            late = await take_cap(migrated, topic, bulletin("IMD-MOCHA-1", 7200, "MOCHA 1"))
            return got, in_force, late

    got, in_force, late = asyncio.run(go())
    assert len({r["id"] for r in got}) == 1 and [r["created"] for r in got] == [True, False, False]
    [row] = in_force
    assert row["name"] == "MOCHA 3" and row["cap_identifier"] == "IMD-MOCHA-3"
    assert row["cap_identifiers"] == ["IMD-MOCHA-1", "IMD-MOCHA-2", "IMD-MOCHA-3"]
    lons = [x for x, _ in row["geometry"]["coordinates"][0]]
    assert abs((max(lons) + min(lons)) / 2 - 89.0) < 0.01  # the circle moved east with it
    assert late == []  # the retained first bulletin, after its Updates: ignored
    assert _sql(migrated, "SELECT count(*), min(name) FROM hazards") == [(1, "MOCHA 3")]
    audit = _sql(migrated, "SELECT action, target FROM audit_log ORDER BY id")
    hid = got[0]["id"]
    assert audit == [("hazard.create", f"hazard:{hid}")] + [("hazard.update", f"hazard:{hid}")] * 2

    # the Cancel names the second bulletin only: the hazard ends
    async def cancel():
        doc = bulletin("IMD-MOCHA-4", 60, "MOCHA ends", [ref("IMD-MOCHA-2", 3600)])
        return await take_cap(migrated, topic, doc.replace(b"<msgType>Update", b"<msgType>Cancel"))

    assert [r["id"] for r in asyncio.run(cancel())] == [hid]
    assert _sql(migrated, "SELECT status FROM hazards") == [("ended",)]


def test_exercises_on_the_feed_are_counted_and_large_warnings_await_confirmation(
    migrated, capsys, caplog, tmp_path
):
    """On the MQTT feed, an exercise or an Ack is counted and logged, storing nothing; a
    warning larger than the limit (a basin-wide tsunami warning) is kept awaiting
    confirmation, audited, not in force (no zone_entry) until a supervisor confirms it."""
    import asyncio
    import logging

    from mda import cap_feed
    from mda.store.hazards import hazards_in_force, list_hazards

    topic = "mda/external/cap/ptwc"
    before = dict(cap_feed.IGNORED)
    ocean = "<polygon>-40,40 -40,100 20,100 20,40 -40,40</polygon>"  # 3,600 square degrees

    async def go():
        with caplog.at_level(logging.INFO, logger="mda.cap_feed"):
            drill = await take(cap_alert(identifier="PTWC-DRILL", status="Exercise"))
            ack = await take(cap_alert(identifier="PTWC-ACK", msg_type="Ack"))
            big = await take(cap_alert(identifier="PTWC-TSUNAMI", area=ocean))
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            return drill, ack, big, await hazards_in_force(c), await list_hazards(c)

    async def take(doc):
        return await cap_feed.take_cap(migrated, topic, doc.encode(), max_area=2000.0)

    drill, ack, big, in_force, listed = asyncio.run(go())
    assert drill == [] and ack == []
    assert cap_feed.IGNORED["status Exercise"] == before.get("status Exercise", 0) + 1
    assert cap_feed.IGNORED["msgType Ack"] == before.get("msgType Ack", 0) + 1
    assert "ignored: alert/status: 'Exercise'" in caplog.text
    # and shown: /metrics renders what the service's status says of the feed
    from web_support import make_settings

    from mda.service import Service
    from mda.web.metrics import render

    settings = make_settings(tmp_path, cap_topics=f"{topic}/#", mqtt_url="mqtt://127.0.0.1:9")
    svc = Service(settings, migrated, [])
    text = render(status=svc.status(), alerts=[], http=None, live={}, live_clients=0)
    n = cap_feed.IGNORED["status Exercise"]
    assert f'mda_pipeline_cap_warnings_ignored_total{{reason="status Exercise"}} {n:.1f}' in text
    [h] = big
    assert h["status"] == "unconfirmed" and h["state"] == "awaiting_confirmation"
    assert in_force == [] and [r["id"] for r in listed] == [h["id"]]
    [(details,)] = _sql(migrated, "SELECT details FROM audit_log WHERE action = 'hazard.create'")
    assert "more than the 2,000" in details["awaiting_confirmation"]
    assert _sql(migrated, "SELECT count(*) FROM hazards") == [(1,)]

    db = ["hazard", "--database", migrated]
    assert main([*db, "list"]) == 0
    assert "awaiting_confirmation" in capsys.readouterr().out
    assert main([*db, "confirm", str(h["id"])]) == 0
    assert f"hazard {h['id']} confirmed, in force" in capsys.readouterr().out
    assert _sql(migrated, "SELECT status, confirmed_by FROM hazards") == [("active", "cli")]
    assert _sql(migrated, "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == [
        ("hazard.confirm",)
    ]
    assert main([*db, "confirm", "9999"]) == 2


def test_cli_refuses_an_antimeridian_circle_and_an_exercise_and_leaves_beacons_out(
    migrated, tmp_path, capsys
):
    import asyncio

    db = ["hazard", "--database", migrated]
    assert main([*db, "add", "--circle=10,179.9,100", "--name", "Dateline storm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "crosses the antimeridian" in err
    drill = tmp_path / "drill.xml"
    drill.write_text(cap_alert(status="Exercise"))
    assert main([*db, "add", str(drill)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alert/status: 'Exercise': an exercise" in err
    assert _sql(migrated, "SELECT count(*) FROM hazards") == [(0,)]

    now = time.time()
    rows = [
        vessel(419000011, *around(0.0, -20.0), ts=now - 60, sog=0.0, name="INSIDE ONE"),
        vessel(970000001, *around(90.0, -30.0), ts=now - 60, sog=0.0, ship_type=None),  # a SART
    ]

    async def write():
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            await write_batch(c, [p for p, _ in rows], [s for _, s in rows], [])

    asyncio.run(write())
    cap = tmp_path / "cyclone.xml"
    cap.write_text(cap_alert())
    assert main([*db, "add", str(cap)]) == 0
    hid = int(re.search(r"hazard (\d+)", capsys.readouterr().out).group(1))
    assert main([*db, "vessels", str(hid)]) == 0
    out = capsys.readouterr().out
    assert "1 vessels at risk" in out and "419000011" in out and "970000001" not in out
