"""Hazard areas and search-and-rescue assist through the API on the real database: a CAP
alert posted by an officer becomes a hazard whose vessels at risk (inside, entering in 5 h,
not the one steaming away) come from the latest positions, as JSON and CSV; the hazard goes
out as CAP 1.2 that parses back; malformed CAP is a 400 naming the element and stores
nothing; GeoJSON circles and polygons; ending; roles and audit; the nearest vessels to a
distress in the order of the distances computed here."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from hazard_samples import CENTRE, around, cap_alert
from web_support import NOW, vessel

from mda.analytics.geo import distance_nm
from mda.exchange.cap import parse_cap
from mda.exchange.hazard_feed import hazard_cap_identifier

pytestmark = pytest.mark.integration

CAP = {"content-type": "application/cap+xml"}


async def _seed_around(web):
    rows = [
        vessel(419000011, *around(0.0, -20.0), ts=NOW - 60, sog=0.0, name="INSIDE ONE"),
        vessel(419000012, *around(270.0, 60.0), ts=NOW - 60, sog=12.0, cog=90.0, name="COMING"),
        vessel(419000013, *around(270.0, 60.0), ts=NOW - 60, sog=12.0, cog=270.0, name="AWAY"),
        vessel(419000014, 40.0, 20.0, ts=NOW - 60, name="FAR AWAY"),
    ]
    await web.write([p for p, _ in rows], [s for _, s in rows])


async def test_cap_posted_lists_vessels_at_risk_as_json_csv_and_cap(web):
    await _seed_around(web)
    officer = await web.token("officer", owner="olga")
    viewer = await web.token("viewer")
    r = await web.client.post("/api/hazards", content=cap_alert(), headers={**officer, **CAP})
    assert r.status_code == 201, r.text
    [f] = r.json()["features"]
    hid = f["id"]
    assert f["properties"]["name"].startswith("Cyclone MOCHA")
    assert f["properties"]["severity"] == "critical" and f["properties"]["state"] == "in_force"
    assert f["properties"]["cap_identifier"] == "IMD-TEST-001"

    listed = (await web.client.get("/api/hazards", headers=viewer)).json()
    assert [x["id"] for x in listed["features"]] == [hid]
    assert listed["features"][0]["geometry"]["type"] == "Polygon"

    r = await web.client.get(f"/api/hazards/{hid}/vessels", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [v["mmsi"] for v in body["vessels"]] == [419000011, 419000012]
    assert body["inside"] == 1 and body["count"] == 2
    inside, coming = body["vessels"]
    assert inside["inside"] and inside["entry_time"] is None and inside["name"] == "INSIDE ONE"
    entry = datetime.fromisoformat(coming["entry_time"]).timestamp()
    assert abs(entry - (NOW - 60 + 5 * 3600)) <= 10 * 60  # 60 nm at 12 kn: 5 h
    assert abs(coming["distance_nm"] - 60.0) < 1.0

    r = await web.client.get(f"/api/hazards/{hid}/vessels?format=csv", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["mmsi"] for x in rows] == ["419000011", "419000012"]
    assert rows[0]["inside"] == "True" and rows[0]["entry_time"] == ""
    assert abs(datetime.fromisoformat(rows[1]["entry_time"]).timestamp() - entry) < 60

    r = await web.client.get(f"/api/hazards/{hid}/cap", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/cap+xml")
    [back] = parse_cap(r.text)  # a partner's system reads it like any CAP alert
    assert back.severity == "critical" and back.name.startswith("Cyclone MOCHA")
    assert back.geometry.contains(back.geometry.centroid)
    # the identifier the MQTT feed gives this version, so a partner with both sees one message
    listed = (await web.client.get("/api/hazards", headers=viewer)).json()["features"]
    [row] = [f["properties"] for f in listed if f["id"] == hid]
    assert back.details["identifier"] == hazard_cap_identifier(
        hid, datetime.fromisoformat(row["updated_at"])
    )
    assert (
        "MMSI 419000011 INSIDE ONE: inside" in r.text and "MMSI 419000012 COMING: enters" in r.text
    )

    # The same warning delivered again is one hazard, updated.
    r = await web.client.post(
        "/api/hazards",
        content=cap_alert(headline="Cyclone MOCHA update"),
        headers={**officer, **CAP},
    )
    assert r.status_code == 201 and r.json()["features"][0]["id"] == hid
    assert (await web.sql("SELECT count(*) FROM hazards")) == [(1,)]

    r = await web.client.post(f"/api/hazards/{hid}/end", headers=officer)
    assert r.status_code == 200 and r.json()["properties"]["state"] == "ended"
    assert (await web.client.get("/api/hazards", headers=viewer)).json()["features"] == []
    every = (await web.client.get("/api/hazards?all=true", headers=viewer)).json()
    assert [x["properties"]["ended_by"] for x in every["features"]] == ["olga"]
    audit = await web.sql(
        "SELECT actor, action, target FROM audit_log WHERE action LIKE 'hazard.%%' ORDER BY id"
    )
    assert audit == [
        ("olga", "hazard.create", f"hazard:{hid}"),
        ("olga", "hazard.update", f"hazard:{hid}"),
        ("olga", "hazard.end", f"hazard:{hid}"),
    ]


async def test_bad_input_roles_and_unknown_ids(web):
    officer = await web.token("officer")
    viewer = await web.token("viewer")
    r = await web.client.post("/api/hazards", content=cap_alert(), headers={**viewer, **CAP})
    assert r.status_code == 403
    bad = cap_alert(area="<polygon>15,88 16,x 17,89 15,88</polygon>")
    r = await web.client.post("/api/hazards", content=bad, headers={**officer, **CAP})
    assert (
        r.status_code == 400 and "alert/info[1]/area[1]/polygon[1]" in r.json()["error"]["message"]
    )
    no_info = cap_alert().split("<info>")[0] + "</alert>"
    r = await web.client.post("/api/hazards", content=no_info, headers={**officer, **CAP})
    assert r.status_code == 400 and "alert/info: missing" in r.json()["error"]["message"]
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&x;</alert>'
    )
    r = await web.client.post("/api/hazards", content=xxe, headers={**officer, **CAP})
    assert r.status_code == 400 and "root:" not in r.text
    huge = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[20, -40], [120, -40], [120, 30], [20, 30], [20, -40]]],
        },
        "properties": {"name": "half the ocean"},
    }
    r = await web.client.post("/api/hazards", json=huge, headers=officer)
    assert r.status_code == 400 and "confirm" in r.json()["error"]["message"]
    assert (await web.sql("SELECT count(*) FROM hazards")) == [(0,)]
    r = await web.client.post("/api/hazards?confirm_large=true", json=huge, headers=officer)
    assert r.status_code == 201
    for path in ("/api/hazards/999/vessels", "/api/hazards/999/cap"):
        assert (await web.client.get(path, headers=viewer)).status_code == 404
    assert (await web.client.post("/api/hazards/999/end", headers=officer)).status_code == 404
    assert (await web.client.get("/api/hazards")).status_code == 401


async def test_geojson_circle_and_polygon_from_the_map(web):
    await _seed_around(web)
    officer = await web.token("officer")
    circle = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [CENTRE[1], CENTRE[0]]},
        "properties": {"name": "Oil spill", "radius_km": 150, "severity": "medium"},
    }
    r = await web.client.post("/api/hazards", json=circle, headers={**officer, "x-mda-drawn": "1"})
    assert r.status_code == 201, r.text
    props = r.json()["features"][0]["properties"]
    assert props["source"] == "drawn" and props["severity"] == "medium"
    hid = r.json()["features"][0]["id"]
    body = (await web.client.get(f"/api/hazards/{hid}/vessels", headers=officer)).json()
    assert [v["mmsi"] for v in body["vessels"]] == [419000011, 419000012]
    open_ring = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[70, 5], [72, 5], [72, 7], [70, 7]]]},
        "properties": {"name": "Exercise area", "expires": "+6h"},
    }
    r = await web.client.post("/api/hazards", json=open_ring, headers=officer)
    assert r.status_code == 201
    details = r.json()["features"][0]["properties"]["details"]
    assert "not closed" in details["repairs"][0]
    line = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}
    r = await web.client.post("/api/hazards", json=line, headers=officer)
    assert r.status_code == 400 and "geometry.type" in r.json()["error"]["message"]


async def test_sar_nearest_ranks_by_time_to_reach(web):
    distress = (12.0, 70.0)
    rows = [
        # 30 nm north at 14 kn: about 2.1 h
        vessel(419000021, 12.5, 70.0, ts=NOW - 60, sog=14.0, cog=180.0, ship_type=70),
        # 20 nm east but a fishing boat at 3 kn (typical 9 kn): about 2.2 h
        vessel(419000022, 12.0, 70.0 + 20 / 60 / 0.978, ts=NOW - 60, sog=3.0, ship_type=30),
        # 50 nm south at 20 kn: 2.5 h
        vessel(419000023, 12.0 - 50 / 60, 70.0, ts=NOW - 60, sog=20.0, ship_type=60),
        # 5 nm away but stopped: last
        vessel(419000024, 12.0 + 5 / 60, 70.0, ts=NOW - 60, sog=0.0, ship_type=70),
        # a SART: not a responder
        vessel(970000001, 12.0, 70.0, ts=NOW - 60, sog=0.0, ship_type=None),
    ]
    await web.write([p for p, _ in rows], [s for _, s in rows])
    viewer = await web.token("viewer")
    r = await web.client.get(
        "/api/sar/nearest", params={"lat": distress[0], "lon": distress[1], "n": 10}, headers=viewer
    )
    assert r.status_code == 200, r.text
    got = r.json()["vessels"]
    assert [v["mmsi"] for v in got] == [419000021, 419000022, 419000023, 419000024]
    for v in got:
        d = distance_nm(v["lat"], v["lon"], *distress)
        assert abs(v["distance_nm"] - d) < 0.01
        if not v["at_rest"]:
            assert abs(v["eta_h"] - d / v["speed_kn"]) < 0.01
    assert got[-1]["at_rest"] and not any(v["at_rest"] for v in got[:-1])
    assert [
        v["mmsi"]
        for v in (
            await web.client.get(
                "/api/sar/nearest",
                params={"lat": 12, "lon": 70, "n": 2, "exclude": 419000021},
                headers=viewer,
            )
        ).json()["vessels"]
    ] == [419000022, 419000023]
    r = await web.client.get(
        "/api/sar/nearest", params={"lat": 12, "lon": 70, "format": "csv"}, headers=viewer
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(x["mmsi"]) for x in rows] == [v["mmsi"] for v in got]
    assert float(rows[0]["eta_h"]) == got[0]["eta_h"] and rows[-1]["at_rest"] == "True"
    for bad in ({"lat": 91, "lon": 0}, {"lat": 0, "lon": 181}, {"lat": 0}):
        r = await web.client.get("/api/sar/nearest", params=bad, headers=viewer)
        assert r.status_code == 422
    # the printable page for the rescue coordination centre: the same ranking, as text
    r = await web.client.get(
        "/api/sar/nearest", params={"lat": 12, "lon": 70, "format": "html"}, headers=viewer
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script" not in r.text and "12°00.000′N 70°00.000′E" in r.text
    order = [r.text.index(f"<td>{v['mmsi']}</td>") for v in got]
    assert order == sorted(order)
    assert "cargo (70)" in r.text and "fishing" in r.text and "at rest" in r.text


async def test_a_supervisor_removes_a_hazard_entered_by_mistake(web):
    officer = await web.token("officer")
    supervisor = await web.token("supervisor")
    r = await web.client.post("/api/hazards", content=cap_alert(), headers={**officer, **CAP})
    hid = r.json()["features"][0]["id"]
    assert (await web.client.delete(f"/api/hazards/{hid}", headers=officer)).status_code == 403
    r = await web.client.delete(f"/api/hazards/{hid}", headers=supervisor)
    assert r.status_code == 200, r.text
    listed = (await web.client.get("/api/hazards?all=true", headers=officer)).json()
    assert hid not in [f["id"] for f in listed["features"]]
    assert (await web.client.delete(f"/api/hazards/{hid}", headers=supervisor)).status_code == 404
    assert await web.sql("SELECT action, target FROM audit_log WHERE action = 'hazard.delete'") == [
        ("hazard.delete", f"hazard:{hid}")
    ]


async def test_odd_parameters_are_refused_not_a_500(web):
    viewer = await web.token("viewer")
    officer = await web.token("officer")
    r = await web.client.post("/api/hazards", content=cap_alert(), headers={**officer, **CAP})
    hid = r.json()["features"][0]["id"]
    for path, params in (
        ("/api/sar/nearest", {"lat": "nan", "lon": 0}),
        ("/api/sar/nearest", {"lat": "inf", "lon": 0}),
        ("/api/sar/nearest", {"lat": 0, "lon": 0, "n": 0}),
        ("/api/sar/nearest", {"lat": 0, "lon": 0, "format": "xml"}),
        (f"/api/hazards/{hid}/vessels", {"horizon_h": "nan"}),
        (f"/api/hazards/{hid}/vessels", {"horizon_h": 0}),
        (f"/api/hazards/{hid}/vessels", {"format": "pdf"}),
        ("/api/hazards/0/vessels", {}),
        ("/api/hazards/99999999999999999999/cap", {}),
        ("/api/hazards", {"all": "maybe"}),
    ):
        r = await web.client.get(path, params=params, headers=viewer)
        assert r.status_code == 422, (path, params, r.status_code, r.text)
    for body, ctype in (
        (b"", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"{}", "text/plain"),
        (b"[1, 2]", "application/json"),
    ):
        r = await web.client.post(
            "/api/hazards", content=body, headers={**officer, "content-type": ctype}
        )
        assert r.status_code in (400, 415), (body, ctype, r.status_code, r.text)


async def test_a_cap_cancel_posted_ends_the_hazard_it_references(web):
    """A CAP "Cancel" posted ends the hazard read from the alert it references (audited),
    rather than adding one; a Cancel naming no earlier message is a 400."""
    from mda.exchange.cap import cap_reference, to_cap

    officer = await web.token("officer", owner="olga")
    r = await web.client.post("/api/hazards", content=cap_alert(), headers={**officer, **CAP})
    hid = r.json()["features"][0]["id"]
    [h] = parse_cap(cap_alert())
    ref = cap_reference("rsmc.imd.gov.in", "IMD-TEST-001", NOW - 600)
    cancel = to_cap(
        h, sender="rsmc.imd.gov.in", identifier="IMD-TEST-001-C", sent=NOW,
        msg_type="Cancel", references=[ref],
    )  # fmt: skip
    r = await web.client.post("/api/hazards", content=cancel, headers={**officer, **CAP})
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == [hid]
    listed = (await web.client.get("/api/hazards", headers=officer)).json()["features"]
    assert listed == []  # ended, and no hazard added from the Cancel
    assert await web.sql("SELECT count(*) FROM hazards") == [(1,)]
    assert await web.sql("SELECT action, actor FROM audit_log ORDER BY id DESC LIMIT 1") == [
        ("hazard.end", "olga")
    ]
    bad = cancel.replace(ref, "rsmc.imd.gov.in")
    r = await web.client.post("/api/hazards", content=bad, headers={**officer, **CAP})
    assert r.status_code == 400 and "alert/references" in r.text


async def test_a_cap_update_posted_updates_the_hazard_and_exercises_are_refused(web):
    """A real CAP Update (a new identifier, references to the Alert) posted updates the
    hazard it references, not a second one; an exercise, a test, a draft or an Ack is a
    422 saying why, and stores nothing."""
    from mda.exchange.cap import cap_reference

    officer = await web.token("officer", owner="olga")
    r = await web.client.post(
        "/api/hazards",
        content=cap_alert(identifier="IMD-MOCHA-1", sent_ago_s=3600),
        headers={**officer, **CAP},
    )
    assert r.status_code == 201, r.text
    hid = r.json()["features"][0]["id"]
    [(sent,)] = await web.sql("SELECT cap_sent FROM hazards WHERE id = %s", (hid,))
    update = cap_alert(
        identifier="IMD-MOCHA-2",
        headline="Cyclone MOCHA: bulletin 2",
        msg_type="Update",
        references=[cap_reference("rsmc.imd.gov.in", "IMD-MOCHA-1", sent.timestamp())],
    )
    r = await web.client.post("/api/hazards", content=update, headers={**officer, **CAP})
    assert r.status_code == 201, r.text
    [f] = r.json()["features"]
    assert f["id"] == hid and f["properties"]["name"] == "Cyclone MOCHA: bulletin 2"
    assert f["properties"]["cap_identifier"] == "IMD-MOCHA-2"
    assert await web.sql("SELECT count(*) FROM hazards") == [(1,)]
    for status, msg_type, says in (
        ("Exercise", "Alert", "alert/status: 'Exercise'"),
        ("Test", "Alert", "alert/status: 'Test'"),
        ("Draft", "Alert", "alert/status: 'Draft'"),
        ("Actual", "Ack", "alert/msgType: 'Ack'"),
    ):
        doc = cap_alert(identifier=f"X-{status}-{msg_type}", status=status, msg_type=msg_type)
        r = await web.client.post("/api/hazards", content=doc, headers={**officer, **CAP})
        assert r.status_code == 422 and says in r.json()["error"]["message"], r.text
    assert await web.sql("SELECT count(*) FROM hazards") == [(1,)]


async def test_a_large_warning_from_the_feed_awaits_a_supervisors_confirmation(web):
    from mda.cap_feed import take_cap

    ocean = "<polygon>-40,40 -40,100 20,100 20,40 -40,40</polygon>"
    [row] = await take_cap(
        web.db_url, "mda/external/cap/ptwc", cap_alert(identifier="PTWC-1", area=ocean).encode()
    )
    hid = row["id"]
    viewer = await web.token("viewer")
    officer = await web.token("officer")
    supervisor = await web.token("supervisor", owner="sam")
    [f] = (await web.client.get("/api/hazards", headers=viewer)).json()["features"]
    assert f["id"] == hid and f["properties"]["state"] == "awaiting_confirmation"
    r = await web.client.post(f"/api/hazards/{hid}/confirm", headers=officer)
    assert r.status_code == 403
    r = await web.client.post(f"/api/hazards/{hid}/confirm", headers=supervisor)
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["state"] == "in_force" and props["confirmed_by"] == "sam"
    assert await web.sql(
        "SELECT actor, action, target FROM audit_log WHERE action = 'hazard.confirm'"
    ) == [("sam", "hazard.confirm", f"hazard:{hid}")]
    await web.client.post(f"/api/hazards/{hid}/end", headers=officer)
    r = await web.client.post(f"/api/hazards/{hid}/confirm", headers=supervisor)
    assert r.status_code == 409 and "ended" in r.text
    assert (
        await web.client.post("/api/hazards/999/confirm", headers=supervisor)
    ).status_code == 404


async def test_our_cap_has_a_cap_safe_sender_and_sar_flags_stale_positions(web):
    """The organisation "MRCC Mumbai" signs our CAP as "MRCC-Mumbai" (CAP forbids spaces);
    the rescue ranking takes limit= (n= an alias), gives each vessel's length, and puts
    positions older than 30 min after the fresh ones, flagged stale."""
    import dataclasses
    import time

    web.app.state.settings = dataclasses.replace(web.app.state.settings, organisation="MRCC Mumbai")
    officer = await web.token("officer")
    r = await web.client.post("/api/hazards", content=cap_alert(), headers={**officer, **CAP})
    hid = r.json()["features"][0]["id"]
    r = await web.client.get(f"/api/hazards/{hid}/cap", headers=officer)
    [back] = parse_cap(r.text)
    assert back.details["sender"] == "MRCC-Mumbai"

    now = time.time()
    rows = [
        # 2 nm away but last heard 3 h ago: where is it now?
        vessel(419000031, 12.0 + 2 / 60, 70.0, ts=now - 3 * 3600, sog=14.0, ship_type=70),
        vessel(419000032, 12.5, 70.0, ts=now - 60, sog=14.0, cog=180.0, ship_type=70),
        vessel(419000033, 12.0 - 50 / 60, 70.0, ts=now - 120, sog=20.0, ship_type=60),
    ]
    await web.write([p for p, _ in rows], [s for _, s in rows])
    for param in ("limit", "n"):
        r = await web.client.get(
            "/api/sar/nearest", params={"lat": 12, "lon": 70, param: 3}, headers=officer
        )
        got = r.json()["vessels"]
        assert [(v["mmsi"], v["stale"]) for v in got] == [
            (419000032, False),
            (419000033, False),
            (419000031, True),
        ], param
        assert [v["length_m"] for v in got] == [150.0] * 3  # to_bow 100 + to_stern 50
        assert got[2]["age_min"] > 170
    r = await web.client.get(
        "/api/sar/nearest", params={"lat": 12, "lon": 70, "limit": 1}, headers=officer
    )
    assert [v["mmsi"] for v in r.json()["vessels"]] == [419000032]
    r = await web.client.get(
        "/api/sar/nearest", params={"lat": 12, "lon": 70, "format": "html"}, headers=officer
    )
    assert "stale: 180 min old" in r.text and "<td>150</td>" in r.text
