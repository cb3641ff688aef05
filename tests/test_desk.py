"""The watch officer's desk (issue 17) through the API on the real database, and its
analytics: watch lists (CSV import, the watchlist alert, identity changes), rule
suspensions (by vessel and area, expiring), notes, the shift handover, bulk handling,
replay; who may do what, and the audit log of every change."""

from __future__ import annotations

import time

import pytest
from web_support import NOW, alert_change, seed_vessels

from mda.analytics import Analyzer
from mda.analytics.testing import Track
from mda.ingest.records import PositionReport, VesselInfo

pytestmark = pytest.mark.integration


async def test_watchlists_csv_roles_and_audit(web):
    await seed_vessels(web)
    viewer = await web.token("viewer")
    officer = await web.token("officer", owner="olga")
    r = await web.client.post("/api/watchlists", json={"name": "Sanctions"}, headers=viewer)
    assert r.status_code == 403
    r = await web.client.post("/api/watchlists", json={"name": "Sanctions"}, headers=officer)
    assert r.status_code == 200, r.text
    lid = r.json()["id"]
    assert (
        await web.client.post("/api/watchlists", json={"name": "Sanctions"}, headers=officer)
    ).status_code == 422
    r = await web.client.post(
        f"/api/watchlists/{lid}/entries", json={"name": "mumbai star"}, headers=officer
    )
    assert r.status_code == 422  # no reason
    r = await web.client.post(
        f"/api/watchlists/{lid}/entries",
        json={"name": "mumbai star", "reason": "dark STS"},
        headers=officer,
    )
    assert (
        r.status_code == 200
        and r.json()["name"] == "MUMBAI STAR"
        and r.json()["added_by"] == "olga"
    )
    csv = "MMSI,Reason,call_sign\n419000002,spoofing,\n,known smuggler,VWXY1\n"
    r = await web.client.post(
        f"/api/watchlists/{lid}/import",
        content=csv,
        headers={**officer, "Content-Type": "text/csv"},
    )
    assert r.json() == {"imported": 2}, r.text
    bad = "mmsi,reason\nabc,x\n"
    r = await web.client.post(f"/api/watchlists/{lid}/import", content=bad, headers=officer)
    assert r.status_code == 422 and "line 2" in r.json()["error"]["message"]
    body = (await web.client.get("/api/watchlists", headers=viewer)).json()
    [wl] = body["watchlists"]
    assert [e["reason"] for e in wl["entries"]] == ["dark STS", "spoofing", "known smuggler"]
    assert wl["entries"][0]["matches"] == [419000001]
    marks = (await web.client.get("/api/watchlists/vessels", headers=viewer)).json()
    assert marks["419000001"] == {"list": "Sanctions", "reason": "dark STS"}
    eid = wl["entries"][1]["id"]
    assert (
        await web.client.delete(f"/api/watchlists/{lid}/entries/{eid}", headers=officer)
    ).status_code == 200
    assert (
        await web.client.delete(f"/api/watchlists/{lid}/entries/{eid}", headers=officer)
    ).status_code == 404
    audit = await web.sql(
        "SELECT action, actor FROM audit_log WHERE action LIKE 'watchlist.%%' ORDER BY id"
    )
    assert audit == [
        ("watchlist.create", "olga"),
        ("watchlist.add", "olga"),
        ("watchlist.import", "olga"),
        ("watchlist.remove", "olga"),
    ]


async def test_suspensions_in_force_expire_and_are_audited(web):
    viewer = await web.token("viewer")
    officer = await web.token("officer", owner="olga")
    supervisor = await web.token("supervisor")
    body = {"kind": "loitering", "mmsi": 419000001, "hours": 24, "reason": "survey ship"}
    assert (await web.client.post("/api/suspensions", json=body, headers=viewer)).status_code == 403
    assert (
        await web.client.post("/api/suspensions", json={**body, "kind": "nope"}, headers=officer)
    ).status_code == 422
    assert (
        await web.client.post("/api/suspensions", json={**body, "hours": 9000}, headers=officer)
    ).status_code == 422
    r = await web.client.post("/api/suspensions", json=body, headers=officer)
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    area = {"kind": "encounter", "bbox": "60,10,62,12", "until": "-1h", "reason": "x"}
    assert (
        await web.client.post("/api/suspensions", json=area, headers=officer)
    ).status_code == 422
    r = await web.client.post(
        "/api/suspensions", json={**area, "until": None, "hours": 1}, headers=officer
    )
    assert r.status_code == 200
    listed = (await web.client.get("/api/suspensions?mmsi=419000001", headers=viewer)).json()[
        "suspensions"
    ]
    assert [s["id"] for s in listed] == [sid] and listed[0]["in_force"]
    assert (await web.client.get("/api/suspensions?all=true", headers=viewer)).status_code == 403
    from mda.store import desk

    async with await web.conn() as c:
        force = await desk.suspensions_in_force(c)
    assert {(s["kind"], s["mmsi"], s["bbox"]) for s in force} == {
        ("loitering", 419000001, None),
        ("encounter", None, (60.0, 10.0, 62.0, 12.0)),
    }
    await web.sql(
        "UPDATE suspensions SET start = now() - interval '2 h', until = now() - interval '1 s' WHERE id = %s",
        (sid,),
    )
    async with await web.conn() as c:
        assert [s["kind"] for s in await desk.suspensions_in_force(c)] == ["encounter"]
    everything = (await web.client.get("/api/suspensions?all=true", headers=supervisor)).json()[
        "suspensions"
    ]
    assert sorted(s["in_force"] for s in everything) == [False, True]
    other = next(s for s in everything if s["in_force"])["id"]
    assert (
        await web.client.post(f"/api/suspensions/{other}/lift", headers=officer)
    ).status_code == 200
    assert (
        await web.client.post(f"/api/suspensions/{other}/lift", headers=officer)
    ).status_code == 404
    audit = await web.sql(
        "SELECT action FROM audit_log WHERE action LIKE 'suspension.%%' ORDER BY id"
    )
    assert [a for (a,) in audit] == ["suspension.create", "suspension.create", "suspension.lift"]


async def test_notes_bulk_close_needs_a_reason_and_the_handover(web):
    await seed_vessels(web)
    officer = await web.token("officer", owner="olga")
    rows = await web.alerts(
        *(alert_change(f"k{i}", mmsi=419000001, start=NOW - 600 * i) for i in range(3))
    )
    ids = [r["id"] for r in rows]
    r = await web.client.post(
        f"/api/alerts/{ids[0]}/close", json={"outcome": "confirmed"}, headers=officer
    )
    assert r.status_code == 422 and "note" in r.json()["error"]["message"]
    r = await web.client.post(
        "/api/alerts/bulk",
        json={"ids": ids, "action": "acknowledge", "note": "seen"},
        headers=officer,
    )
    assert r.status_code == 200 and r.json()["count"] == 3
    r = await web.client.post(
        "/api/alerts/bulk",
        json={"ids": ids, "action": "close", "outcome": "no_action"},
        headers=officer,
    )
    assert r.status_code == 422  # no note: nothing closed
    assert await web.sql("SELECT count(*) FROM alerts WHERE status = 'closed'") == [(0,)]
    r = await web.client.post(
        "/api/alerts/bulk",
        json={"ids": ids, "action": "close", "outcome": "no_action", "note": "fishing fleet"},
        headers=officer,
    )
    assert r.status_code == 200
    audit = await web.sql("SELECT details ->> 'bulk' FROM audit_log WHERE action = 'alert.close'")
    assert audit == [("3",)] * 3
    r = await web.client.post(
        "/api/notes", json={"alert_id": ids[0], "text": "called the master"}, headers=officer
    )
    assert r.status_code == 200 and r.json()["mmsi"] == 419000001
    assert (
        await web.client.post("/api/notes", json={"text": "x"}, headers=officer)
    ).status_code == 422
    notes = (await web.client.get("/api/notes?mmsi=419000001", headers=officer)).json()["notes"]
    assert [n["text"] for n in notes] == ["called the master"] and notes[0]["author"] == "olga"
    report = (await web.client.get("/api/handover?start=-1h", headers=officer)).json()
    s = report["summary"]
    assert (s["opened"], s["acknowledged"], s["closed"], s["notes"]) == (3, 3, 3, 1)
    assert s["outcomes"] == {"no_action": 3} and report["closed"][0]["note"] == "fishing fleet"
    page = await web.client.get("/handover?start=-1h", headers=officer)
    assert (
        page.status_code == 200
        and "fishing fleet" in page.text
        and "called the master" in page.text
    )
    assert (await web.client.get("/api/handover?start=-30d", headers=officer)).status_code == 422
    assert (await web.client.get("/api/handover")).status_code == 401


async def test_replay_is_bucketed_and_positions_at_a_time(web):
    viewer = await web.token("viewer")
    t0 = NOW - 6 * 3600
    await web.write(
        [
            PositionReport(
                ts=t0 + 60 * k,
                mmsi=419000009,
                lat=10 + k * 1e-3,
                lon=60,
                sog=10.0,
                cog=0.0,
                msg_type=1,
                source="t",
            )
            for k in range(360)
        ]
    )
    q = {"start": str(t0), "end": str(t0 + 6 * 3600)}
    body = (await web.client.get("/api/vessels/419000009/replay", params=q, headers=viewer)).json()
    assert body["points"] == 360 and body["bucket_s"] == 10 and len(body["t"]) == 360
    body = (
        await web.client.get(
            "/api/vessels/419000009/replay", params={**q, "bucket": 600}, headers=viewer
        )
    ).json()
    assert body["points"] in (36, 37) and body["t"] == sorted(body["t"])  # aligned buckets
    # the latest fix of each bucket
    assert body["t"][0] - t0 < 600 and round(body["t"][0] - t0) % 60 == 0
    r = await web.client.get(
        "/api/vessels/419000009/replay", params={"start": "-40d"}, headers=viewer
    )
    assert r.status_code == 422
    at = (
        await web.client.get(
            "/api/positions/at", params={"t": str(t0 + 3600), "window": 300}, headers=viewer
        )
    ).json()
    [[mmsi, lat, *_rest, t]] = at["vessels"]
    assert mmsi == 419000009 and abs(t - (t0 + 3600)) < 0.1 and abs(lat - 10.06) < 1e-6


def test_the_watchlist_alert_and_identity_changes():
    a = Analyzer()
    a.set_watchlist([{"id": 1, "list": "Sanctions", "imo": 9123456, "reason": "sanctioned"}])
    track = Track(419000001, 10.0, 66.0).sail(minutes=30, sog=12, cog=90)
    t = track.records[0].ts
    changes = a.process(track.records[:5])
    assert changes == []  # not known as listed yet: its IMO comes with its static data
    changes = a.process([VesselInfo(ts=t + 60, mmsi=419000001, imo=9123456, name="OCEAN ONE")])
    [opened] = changes
    assert (opened.change, opened.alert.kind, opened.alert.severity) == (
        "opened",
        "watchlist",
        "high",
    )
    assert "appeared" in opened.alert.details["text"] and "°" in opened.alert.details["text"]
    changes = a.process([VesselInfo(ts=t + 120, mmsi=419000001, name="OCEAN TWO")])
    assert changes and changes[-1].alert.details["changes"] == ["name OCEAN ONE -> OCEAN TWO"]
    # silent for longer than watchlist_end_after_min: the episode ends
    other = Track(419000002, 0.0, 60.0, start=t).sail(minutes=120, sog=10, cog=0)
    ends = [
        c for c in a.process(other.records) if c.alert.kind == "watchlist" and c.change == "closed"
    ]
    assert len(ends) == 1
    assert a.stats["watchlist_hits"] == 1


def test_suspensions_by_area_hold_back_and_release():
    a = Analyzer()
    a.set_suspensions(
        [{"id": 9, "kind": "loitering", "mmsi": None, "bbox": (74.0, -16.0, 76.0, -14.0)}]
    )
    loiter = Track(419000003, -15.0, 75.0).sail(minutes=30, sog=12, cog=90).sail(90, 0.8, 200)
    assert [c for c in a.process(loiter.records) if c.alert.kind == "loitering"] == []
    assert a.stats["alerts_suspended"] == 1
    a.set_suspensions([])  # expired: the episode still going on rings
    more = Track(419000003, loiter.lat, loiter.lon, start=loiter.t).sail(10, 0.5, 200)
    assert [c.change for c in a.process(more.records) if c.alert.kind == "loitering"][:1] == [
        "opened"
    ]
    # elsewhere the suspension never applied
    b = Analyzer()
    b.set_suspensions(
        [{"id": 9, "kind": "loitering", "mmsi": None, "bbox": (10.0, 10.0, 11.0, 11.0)}]
    )
    assert [c.change for c in b.process(loiter.records) if c.alert.kind == "loitering"][:1] == [
        "opened"
    ]
    assert time.time() > 0
