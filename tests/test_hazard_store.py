"""Hazard areas in the database and on the command line: ``mda hazard add`` from a CAP file,
a polygon and a circle, ``list``, ``end`` and ``vessels`` on a real database; the same CAP
warning delivered twice is one hazard; bad input is one line and stores nothing; each change
is audited."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

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


def test_the_service_publishes_new_hazards_to_partners_as_cap(
    migrated, mqtt_broker, tmp_path, capsys
):
    """A hazard added (here on the command line) reaches the partners' broker within one
    hazards-sync as a CAP 1.2 alert with its vessels at risk, on <prefix>/hazards/<id>; an
    unchanged one is not sent again."""
    import asyncio

    import aiomqtt
    from web_support import make_settings

    from mda.analytics import AnalyticsConfig, Analyzer, ZoneSet
    from mda.exchange.cap import parse_cap
    from mda.service import Service, mqtt_publisher

    now = time.time()
    inside = vessel(419000011, *around(0.0, -20.0), ts=now - 60, sog=0.0, name="INSIDE ONE")

    async def write():
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            await write_batch(c, [inside[0]], [inside[1]], [])

    asyncio.run(write())
    cap = tmp_path / "cyclone.xml"
    cap.write_text(cap_alert())
    assert main(["hazard", "--database", migrated, "add", str(cap)]) == 0
    hid = int(re.search(r"hazard (\d+)", capsys.readouterr().out).group(1))
    prefix = f"test-{int(now * 1000)}"
    settings = make_settings(
        tmp_path, mqtt_url=f"{mqtt_broker.url}/{prefix}", organisation="MRCC Mumbai"
    )

    async def go():
        svc = Service(settings, migrated, [])
        svc.publisher = mqtt_publisher(settings)
        sender = asyncio.create_task(svc.publisher.run())
        analyzer = Analyzer(AnalyticsConfig(), ZoneSet.builtin())
        got = []
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
            await sub.subscribe(f"{prefix}/hazards/#", qos=1)
            await svc._load_hazards(analyzer)
            await svc._load_hazards(analyzer)  # nothing changed: nothing sent
            async with asyncio.timeout(10):
                async for m in sub.messages:
                    got.append((str(m.topic), bytes(m.payload)))
                    break
            try:
                async with asyncio.timeout(1.0):
                    async for m in sub.messages:
                        got.append((str(m.topic), bytes(m.payload)))
            except TimeoutError:
                pass
        await svc.publisher.close()
        sender.cancel()
        return got

    got = asyncio.run(go())
    assert [t for t, _ in got] == [f"{prefix}/hazards/{hid}"]
    xml = got[0][1].decode()
    [h] = parse_cap(xml)
    assert h.name.startswith("Cyclone MOCHA") and h.severity == "critical"
    assert "<sender>MRCC Mumbai</sender>" in xml and "MMSI 419000011 INSIDE ONE: inside" in xml


def test_a_hazard_that_ends_is_deleted_or_expires_goes_to_partners_as_a_cap_cancel(
    migrated, mqtt_broker, tmp_path, capsys
):
    """Hazards published to partners that stop being in force, ended by an officer, deleted
    by a supervisor or past their expiry, are each withdrawn within one hazards-sync by a
    CAP 1.2 "Cancel" on the same topic, referencing the alert sent for them
    (sender,identifier,sent) and saying why; the one still in force is not."""
    import asyncio

    import aiomqtt
    from web_support import make_settings

    from mda.analytics import AnalyticsConfig, Analyzer, ZoneSet
    from mda.exchange.cap import parse_cap
    from mda.service import Service, mqtt_publisher
    from mda.store.hazards import delete_hazard, end_hazard

    ids = {}
    for key in ("END", "DEL", "EXP", "STAY"):
        cap = tmp_path / f"{key}.xml"
        cap.write_text(cap_alert(identifier=f"IMD-{key}", headline=f"Warning {key}"))
        assert main(["hazard", "--database", migrated, "add", str(cap)]) == 0
        ids[key] = int(re.search(r"hazard (\d+)", capsys.readouterr().out).group(1))
    prefix = f"test-{int(time.time() * 1000)}"
    settings = make_settings(
        tmp_path, mqtt_url=f"{mqtt_broker.url}/{prefix}", organisation="MRCC Mumbai"
    )

    async def drain(sub, n: int, got: list) -> None:
        async with asyncio.timeout(10):
            async for m in sub.messages:
                got.append((str(m.topic), bytes(m.payload).decode()))
                if len(got) == n:
                    break
        try:
            async with asyncio.timeout(1.0):  # and nothing more
                async for m in sub.messages:
                    got.append((str(m.topic), bytes(m.payload).decode()))
        except TimeoutError:
            pass

    async def go():
        svc = Service(settings, migrated, [])
        svc.publisher = mqtt_publisher(settings)
        sender = asyncio.create_task(svc.publisher.run())
        analyzer = Analyzer(AnalyticsConfig(), ZoneSet.builtin())
        first, then = [], []
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
            await sub.subscribe(f"{prefix}/hazards/#", qos=1)
            await svc._load_hazards(analyzer)
            await drain(sub, 4, first)
            async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
                await end_hazard(c, ids["END"], "watch-officer")
                await delete_hazard(c, ids["DEL"])
            _sql(
                migrated,
                "UPDATE hazards SET expires = now() - interval '1 second' WHERE id = %s "
                "RETURNING id",
                (ids["EXP"],),
            )
            await svc._load_hazards(analyzer)
            await drain(sub, 3, then)
        await svc.publisher.close()
        sender.cancel()
        return first, then

    first, then = asyncio.run(go())
    alerts = {int(t.rsplit("/", 1)[1]): parse_cap(x)[0].details for t, x in first}
    assert sorted(alerts) == sorted(ids.values())
    assert {d["msg_type"] for d in alerts.values()} == {"Alert"}
    cancels = {int(t.rsplit("/", 1)[1]): parse_cap(x)[0] for t, x in then}
    assert sorted(cancels) == sorted([ids["END"], ids["DEL"], ids["EXP"]])  # not STAY
    for key, why in (
        ("END", "Hazard ended by watch-officer"),
        ("DEL", "Hazard withdrawn (entered by mistake)"),
        ("EXP", "Hazard expired"),
    ):
        h, earlier = cancels[ids[key]], alerts[ids[key]]
        assert h.details["msg_type"] == "Cancel" and h.details["note"] == why
        assert h.name == f"Warning {key}" and h.details["sender"] == "MRCC Mumbai"
        sent = datetime.fromtimestamp(earlier["sent"], UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        assert h.details["references"] == f"MRCC Mumbai,{earlier['identifier']},{sent}"
        assert h.details["identifier"] != earlier["identifier"]


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
