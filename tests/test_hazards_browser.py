"""Hazard areas on the map in Chromium (no request leaves 127.0.0.1): a CAP cyclone warning
posted through the API is drawn, its panel lists the vessels at risk, the one inside first
and the one steaming in with its time of entry (the one steaming away not at all), and the
"nearest vessels" action at a clicked point ranks the vessels by time to reach it, in the
order of the distances computed here. The screenshot is docs/img/hazards.png."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from hazard_samples import CENTRE, around, cap_alert
from test_web_browser import NOW, Page, _alert, _ready, browser, serve, stop  # noqa: F401
from web_support import vessel

from mda.analytics.geo import destination, distance_nm
from mda.store.writer import write_batch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def _write(db_url: str, rows) -> None:
    async def go():
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
            await write_batch(c, [p for p, _ in rows], [s for _, s in rows], [])

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def test_a_cap_warning_is_drawn_with_its_vessels_at_risk_and_the_nearest_to_a_point(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    s = serve(db_url, tmp_path, 200)
    rows = [
        vessel(419200001, *around(30.0, -30.0), ts=NOW - 60, sog=0.0, name="BAY ANCHOR"),
        vessel(419200002, *around(270.0, 60.0), ts=NOW - 60, sog=12.0, cog=90.0, name="EAST BOUND"),
        vessel(
            419200003, *around(200.0, 40.0), ts=NOW - 60, sog=15.0, cog=20.0, name="NORTH BOUND"
        ),
        vessel(
            419200004, *around(270.0, 60.0), ts=NOW - 60, sog=12.0, cog=270.0, name="WEST BOUND"
        ),
    ]
    _write(db_url, rows)
    p = Page(browser)
    try:
        r = httpx.post(
            f"{s.url}/api/hazards",
            content=cap_alert(),
            headers={"Authorization": f"Bearer {s.token}", "content-type": "application/cap+xml"},
        )
        assert r.status_code == 201, r.text
        hid = r.json()["features"][0]["id"]
        p.page.goto(f"{s.url}/?token={s.token}")
        p.page.wait_for_url(f"{s.url}/")
        _ready(p.page)
        p.page.wait_for_function("() => window.mdaMap.hazards.hazards().length === 1")
        assert p.page.locator("#hazards-toggle").inner_text() == "Hazards (1)"
        # the area is drawn around the warning's circle (150 km: about 1.35 deg of latitude)
        [(south, west, north, east)] = p.page.evaluate("window.mdaMap.hazards.drawn()")
        assert abs((north + south) / 2 - CENTRE[0]) < 0.05 and abs(north - south - 2.7) < 0.1
        assert west < CENTRE[1] < east
        p.page.locator("#hazards-toggle").click()
        p.page.locator("#hazards-panel li[data-id]").first.click()
        p.page.wait_for_function("() => window.mdaMap.hazards.atRisk() !== null")
        risk = [
            v
            for v in p.page.evaluate("window.mdaMap.hazards.atRisk()")
            if v["mmsi"] // 100 == 4192000
        ]
        assert [v["mmsi"] for v in risk] == [419200001, 419200003, 419200002]
        assert risk[0]["inside"] and not risk[1]["inside"]
        entries = [datetime.fromisoformat(v["entry_time"]).timestamp() for v in risk[1:]]
        assert entries == sorted(entries)
        assert abs(entries[1] - (NOW - 60 + 5 * 3600)) <= 10 * 60  # 60 nm at 12 kn
        table = p.page.locator("#hazard-vessels tbody tr")
        assert table.count() == 3
        assert table.nth(0).inner_text().startswith("inside")
        assert "EAST BOUND" in table.nth(2).inner_text() and "WEST BOUND" not in p.page.inner_text(
            "#hazards-panel"
        )
        assert "3 vessels at risk" in p.page.inner_text("#hazards-panel")
        p.page.wait_for_timeout(900)  # the fly to the hazard
        shot = p.shot("hazards")
        if os.environ.get("MDA_DOCS_IMG") == "1":  # remade on request only
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, DOCS_IMG / "hazards.png")
        csv_link = p.page.locator("#hazards-panel a", has_text="CSV").get_attribute("href")
        assert csv_link == f"/api/hazards/{hid}/vessels?format=csv"

        # Nearest vessels to a clicked point: the hazard's centre.
        p.page.locator("#hazards-panel [data-act=sar]").click()
        pt = p.page.evaluate(f"window.mdaMap.latLngToPoint({CENTRE[0]}, {CENTRE[1]})")
        box = p.page.locator("#map").bounding_box()
        p.page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
        p.page.wait_for_function("() => window.mdaMap.hazards.responders() !== null")
        got = p.page.evaluate("window.mdaMap.hazards.responders()")
        sar_csv = p.page.locator("#hazards-panel a", has_text="CSV").last.get_attribute("href")
        assert sar_csv.startswith("/api/sar/nearest?") and sar_csv.endswith("&format=csv")
        rows_shown = p.page.locator("#sar-vessels tbody tr")
        assert rows_shown.count() == len(got) >= 4
        # fresh before stale; moving vessels by distance over speed, those at rest last:
        # from the API's own positions, checked against distances computed here
        answer = httpx.get(
            f"{s.url}/api/sar/nearest",
            params={"lat": CENTRE[0], "lon": CENTRE[1], "n": 10},
            headers={"Authorization": f"Bearer {s.token}"},
        ).json()["vessels"]
        keyed = []
        for v in answer:
            d = distance_nm(v["lat"], v["lon"], *CENTRE)
            key = d if v["at_rest"] else d / v["speed_kn"]
            keyed.append((v["stale"], v["at_rest"], key, v["mmsi"]))
        assert [k[3] for k in sorted(keyed)] == [v["mmsi"] for v in answer]
        # the clicked point is within a pixel of the centre: the same ranking
        assert got[:3] == [v["mmsi"] for v in answer][:3]
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_an_officer_draws_a_hazard_and_a_distress_card_offers_the_nearest_vessels(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    sart = _alert("sart", "distress_beacon", "critical", 970123456, CENTRE[0], CENTRE[1])
    s = serve(db_url, tmp_path, 100, [sart])
    rows = [
        vessel(419200011, *around(90.0, 10.0), ts=NOW - 60, sog=11.0, cog=0.0, name="NEAR ONE"),
        vessel(419200012, *around(180.0, 30.0), ts=NOW - 60, sog=20.0, cog=0.0, name="FAST ONE"),
        vessel(419200013, *around(0.0, -100.0), ts=NOW - 60, sog=0.0, name="AT ANCHOR"),
        vessel(970123456, CENTRE[0], CENTRE[1], ts=NOW - 30, sog=0.0, ship_type=None),
    ]
    _write(db_url, rows)
    p = Page(browser)
    try:
        p.page.goto(f"{s.url}/?token={s.token}")
        p.page.wait_for_url(f"{s.url}/")
        _ready(p.page)
        p.page.evaluate(
            f"void window.mdaMap.map.setView([{CENTRE[0]}, {CENTRE[1]}], 7, {{animate: false}})"
        )
        # (dispatched: the first pointer-down of a page in alarm unlocks the sound, whose
        # label then changes width and moves the top bar's buttons under the pointer)
        p.page.locator("#hazards-toggle").dispatch_event("click")
        p.page.locator("#hazard-draw summary").click()
        p.page.locator("#hazards-panel [data-act=draw-circle]").click()
        box = p.page.locator("#map").bounding_box()
        edge = destination(*CENTRE, 90.0, 60.0)  # 60 nm east: the radius, 111 km
        for lat, lon in (CENTRE, edge):
            pt = p.page.evaluate(f"window.mdaMap.latLngToPoint({lat}, {lon})")
            p.page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
        # the circle drawn, then named
        said = p.page.inner_text("#hazard-draw-status")
        assert said.startswith("Circle of ") and abs(float(said.split()[2]) - 111.1) < 1.0, said
        p.page.fill("#hazard-name", "Oil spill, MV TEST")
        p.page.select_option("#hazard-severity", "medium")
        p.page.locator("#hazards-panel [data-act=save-drawn]").click()
        p.page.wait_for_function("() => window.mdaMap.hazards.hazards().length === 1")
        [h] = httpx.get(
            f"{s.url}/api/hazards", headers={"Authorization": f"Bearer {s.token}"}
        ).json()["features"]
        props = h["properties"]
        assert (props["name"], props["severity"], props["source"]) == (
            "Oil spill, MV TEST",
            "medium",
            "drawn",
        )
        assert props["created_by"] == "watch-officer" and props["expires"] is not None
        lats = [c[1] for c in h["geometry"]["coordinates"][0]]
        assert abs((max(lats) - min(lats)) / 2 - 1.0) < 0.05  # 60 nm of latitude: 1 degree
        p.page.wait_for_function("() => window.mdaMap.hazards.atRisk() !== null")
        ours = [
            v["mmsi"]
            for v in p.page.evaluate("window.mdaMap.hazards.atRisk()")
            if v["mmsi"] // 100 == 4192000
        ]
        assert ours == [419200013, 419200012]  # at anchor inside; steaming north into it

        # The distress alert's card: the nearest vessels, the beacon itself left out.
        card = p.page.locator("#alerts .alert").first
        card.locator("button", has_text="Nearest vessels").click()
        p.page.wait_for_function("() => window.mdaMap.hazards.responders() !== null")
        got = p.page.evaluate("window.mdaMap.hazards.responders()")
        assert 970123456 not in got
        answer = httpx.get(
            f"{s.url}/api/sar/nearest",
            params={"lat": CENTRE[0], "lon": CENTRE[1], "limit": 200, "exclude": 970123456},
            headers={"Authorization": f"Bearer {s.token}"},
        ).json()["vessels"]
        assert got == [v["mmsi"] for v in answer][: len(got)]  # the panel's ten: the first
        # ours, from the positions the API gives and the speeds they were written with: 111 nm
        # at 20 kn (5.6 h) before 91 nm at a cargo ship's typical 13 kn (its 11 kn is slower,
        # 7 h); the one at anchor after every moving vessel
        pos = {v["mmsi"]: v for v in answer}
        assert set(pos) >= {419200011, 419200012, 419200013}
        speed = {419200011: 13.0, 419200012: 20.0}
        eta = {
            m: distance_nm(pos[m]["lat"], pos[m]["lon"], *CENTRE) / kn for m, kn in speed.items()
        }
        assert eta[419200012] == pytest.approx(111.0 / 20.0, rel=0.01)
        assert eta[419200011] == pytest.approx(91.0 / 13.0, rel=0.01)
        order = [v["mmsi"] for v in answer]
        assert order.index(419200012) < order.index(419200011) < order.index(419200013)
        assert pos[419200013]["at_rest"] and not pos[419200012]["at_rest"]
        # fresh positions first (ours: a minute old), and among them the moving ones
        stale = [v["stale"] for v in answer]
        assert stale == sorted(stale) and not pos[419200013]["stale"]
        fresh = [v for v in answer if not v["stale"]]
        k = [v["mmsi"] for v in fresh].index(419200013)
        assert all(v["at_rest"] for v in fresh[k:]) and not any(v["at_rest"] for v in fresh[:k])
        # the panel shows each one's type, size and when it was last heard
        for i, v in enumerate(answer[: len(got)]):
            row = p.page.locator("#sar-vessels tbody tr").nth(i).inner_text()
            assert v["name"] is None or v["name"] in row, row
            if v["length_m"]:
                assert f"{v['length_m']:.0f} m" in row, row
            assert re.search(r"\b(now|\d+ (min|h) ago)\b", row), row
            assert (v["ship_type"] is None) == ("type unknown" in row), row
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_an_officer_draws_a_polygon_corner_by_corner_and_sees_its_vessels_at_risk(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    """A polygon drawn corner by corner: Esc cancels the drawing and only it (the vessel
    panel stays open), a double-click closes it, the form names it, and it is listed with
    the vessels inside and entering it."""
    s = serve(db_url, tmp_path, 50)
    lat0, lon0 = CENTRE
    rows = [
        vessel(419200021, lat0 + 0.2, lon0 - 0.1, ts=NOW - 60, sog=0.0, name="IN THE SPILL"),
        # 30 nm south of the square's southern edge, north at 12 kn: in 2.5 h
        vessel(419200022, lat0 - 1.5, lon0, ts=NOW - 60, sog=12.0, cog=0.0, name="NORTHBOUND"),
        vessel(419200023, lat0 - 1.5, lon0 + 0.5, ts=NOW - 60, sog=12.0, cog=180.0, name="AWAY"),
    ]
    _write(db_url, rows)
    p = Page(browser)
    try:
        p.page.goto(f"{s.url}/?token={s.token}")
        p.page.wait_for_url(f"{s.url}/")
        _ready(p.page)
        p.page.evaluate("window.mdaMap.selectVessel(419200021)")
        p.page.wait_for_selector("#vp-voyage")
        p.page.wait_for_timeout(1200)  # the fly to the vessel
        p.page.evaluate(f"void window.mdaMap.map.setView([{lat0}, {lon0}], 7, {{animate: false}})")
        zoom = p.page.evaluate("window.mdaMap.map.getZoom()")
        p.page.locator("#hazards-toggle").click()
        p.page.locator("#hazard-draw summary").click()
        box = p.page.locator("#map").bounding_box()

        def at(lat, lon):
            pt = p.page.evaluate(f"window.mdaMap.latLngToPoint({lat}, {lon})")
            return box["x"] + pt["x"], box["y"] + pt["y"]

        corners = [(lat0 - 1, lon0 - 1), (lat0 - 1, lon0 + 1), (lat0 + 1, lon0 + 1)]
        # Esc cancels the drawing, and only the drawing: the vessel panel stays
        p.page.locator("#hazards-panel [data-act=draw-polygon]").click()
        for c in corners[:2]:
            p.page.mouse.click(*at(*c))
        assert p.page.evaluate("window.mdaMap.hazards.drawingState()")["points"] == 2
        p.page.keyboard.press("Escape")
        assert p.page.evaluate("window.mdaMap.hazards.drawingState()") is None
        assert p.page.locator("#vessel-panel").is_visible()
        assert "Esc" not in p.page.inner_text("#hazards-panel")  # the prompt is gone

        # again: three corners clicked, the fourth double-clicked closes it
        p.page.locator("#hazards-panel [data-act=draw-polygon]").click()
        for c in corners:
            p.page.mouse.click(*at(*c))
        assert "3 so far" in p.page.inner_text("#hazard-draw-status")
        p.page.mouse.dblclick(*at(lat0 + 1, lon0 - 1))
        state = p.page.evaluate("window.mdaMap.hazards.drawingState()")
        assert state == {"shape": "polygon", "points": 4, "closed": True}
        assert p.page.evaluate("window.mdaMap.map.getZoom()") == zoom  # no zoom on the double-click
        # the corner clicks selected no vessel; the panel still shows the one chosen
        assert "IN THE SPILL" in p.page.inner_text("#vp-title")
        assert "Polygon of 4 corners" in p.page.inner_text("#hazard-draw-status")
        p.page.locator("#hazards-panel [data-act=save-drawn]").click()  # no name yet
        assert "Name the hazard" in p.page.inner_text("#hazards-error")
        p.page.fill("#hazard-name", "Oil spill, square")
        p.page.select_option("#hazard-severity", "critical")
        p.page.select_option("#hazard-hours", "12")
        p.page.locator("#hazards-panel [data-act=save-drawn]").click()
        p.page.wait_for_function("() => window.mdaMap.hazards.hazards().length === 1")
        assert p.page.evaluate("window.mdaMap.hazards.drawingState()") is None
        [h] = httpx.get(
            f"{s.url}/api/hazards", headers={"Authorization": f"Bearer {s.token}"}
        ).json()["features"]
        props = h["properties"]
        assert (props["name"], props["severity"], props["source"]) == (
            "Oil spill, square",
            "critical",
            "drawn",
        )
        left = datetime.fromisoformat(props["expires"]).timestamp() - time.time()
        assert abs(left - 12 * 3600) < 120
        ring = h["geometry"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        want = [(lon, lat) for lat, lon in [*corners, (lat0 + 1, lon0 - 1)]]
        for (lon, lat), (wlon, wlat) in zip(sorted(ring[:4]), sorted(want), strict=True):
            assert abs(lon - wlon) < 0.02 and abs(lat - wlat) < 0.02  # within a pixel or two
        # listed with its vessels at risk: the one inside, then the one steaming in
        p.page.wait_for_function("() => window.mdaMap.hazards.atRisk() !== null")
        risk = p.page.evaluate("window.mdaMap.hazards.atRisk()")
        ours = [v for v in risk if v["mmsi"] // 100 == 4192000]
        assert [v["mmsi"] for v in ours] == [419200021, 419200022]
        assert ours[0]["inside"] and not ours[1]["inside"]
        entry = datetime.fromisoformat(ours[1]["entry_time"]).timestamp()
        assert abs(entry - (NOW - 60 + 2.5 * 3600)) <= 10 * 60
        table = p.page.inner_text("#hazard-vessels")
        assert "IN THE SPILL" in table and "NORTHBOUND" in table and "AWAY" not in table
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_the_demo_sart_card_lists_the_nearest_vessels_in_order(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    """``mda demo`` (60x) switches on a simulated AIS-SART; its distress alert's card on the
    desk offers "Nearest vessels", which lists the scenario's vessels by time to reach the
    beacon, in the order of the distances computed here from their positions (the beacon
    left out, vessels at rest last)."""
    from test_desk_browser import DEMO_TOKEN, Demo

    from mda.analytics.hazards import max_speed_kn, typical_speed_kn

    demo = Demo(db_url, tmp_path)
    p = Page(browser)
    try:
        p.context.set_extra_http_headers({"Authorization": f"Bearer {DEMO_TOKEN}"})
        p.page.goto(f"{demo.url}/")
        _ready(p.page)
        p.page.wait_for_function(
            "() => window.mdaMap.alerts().some((a) => a.kind === 'distress_beacon')",
            timeout=90000,
        )
        sart = next(
            a for a in p.page.evaluate("window.mdaMap.alerts()") if a["kind"] == "distress_beacon"
        )
        assert 970_000_000 <= sart["mmsi"] < 971_000_000  # the scenario's SART
        read_at = time.monotonic()
        card = p.page.locator(f'#alerts .alert[data-id="{sart["id"]}"]')
        with p.page.expect_response(lambda r: "/api/sar/nearest?" in r.url) as got:
            card.locator("button", has_text="Nearest vessels").dispatch_event("click")
        answer = got.value.json()
        asked = time.monotonic()
        # the list is for the position the panel asked about: the beacon's as the card had
        # it at the click; the beacon drifts (1 kn, at 60x: a nautical mile a minute), so
        # it is where it was read give or take what it can drift in between
        p.page.wait_for_function("() => window.mdaMap.hazards.responders() !== null")
        used = p.page.evaluate("window.mdaMap.hazards.sarAt()")
        assert (answer["lat"], answer["lon"]) == pytest.approx((used["lat"], used["lon"]), abs=1e-5)
        drift_nm = 1.0 * 60 * (asked - read_at + 2.0) / 3600.0 + 0.01
        assert distance_nm(used["lat"], used["lon"], sart["lat"], sart["lon"]) <= drift_nm
        at = (answer["lat"], answer["lon"])
        # each vessel's reported speed, type and status, from the database, right after
        with psycopg.connect(db_url) as c:
            reported = {
                m: (sog, ship_type, status)
                for m, sog, ship_type, status in c.execute(
                    "SELECT mmsi, sog, ship_type, nav_status FROM vessels WHERE mmsi = ANY(%s)",
                    ([v["mmsi"] for v in answer["vessels"]],),
                ).fetchall()
            }
        shown = p.page.evaluate("window.mdaMap.hazards.responders()")
        ranked = answer["vessels"]
        assert shown == [v["mmsi"] for v in ranked] and len(shown) == 10
        assert sart["mmsi"] not in shown
        rows = p.page.locator("#sar-vessels tbody tr")
        assert [int(rows.nth(i).get_attribute("data-mmsi")) for i in range(rows.count())] == shown
        # the order, from distances computed here from the positions and the speeds the
        # vessels report (not the API's speed_kn): fresh before stale; moving vessels by
        # distance over their speed (at least their type's typical speed, at most its top
        # speed), then those at rest by distance
        keys = []
        for v in ranked:
            d = distance_nm(v["lat"], v["lon"], *at)
            assert abs(d - v["distance_nm"]) < 0.05, (v, d)
            sog, ship_type, status = reported[v["mmsi"]]
            at_rest = sog is None or sog < 0.5 or status in (1, 5)
            kn = min(max(sog or 0.0, typical_speed_kn(ship_type)), max_speed_kn(ship_type))
            keys.append((v["stale"], at_rest, d if at_rest else d / kn, v["mmsi"]))
        # (a vessel may change speed between the answer and the read above: 2 % allowed)
        for a, b in zip(keys, keys[1:], strict=False):
            assert a[:2] < b[:2] or (a[:2] == b[:2] and a[2] <= b[2] * 1.02 + 1e-3), keys
        first = ranked[0]
        assert f"{first['distance_nm']:.1f} nm" in rows.nth(0).inner_text()
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        demo.stop()


def test_a_large_warning_from_the_feed_awaits_a_supervisors_confirm_on_the_map(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    """A basin-wide CAP warning from the MQTT feed, larger than the limit, is kept awaiting
    confirmation: the map draws it and says so; an officer cannot confirm it, a supervisor
    has a Confirm button, after which it is in force."""
    from mda.cap_feed import take_cap
    from mda.store.accounts import create_token

    s = serve(db_url, tmp_path, 20)
    ocean = "<polygon>-40,40 -40,100 20,100 20,40 -40,40</polygon>"

    async def feed():
        [row] = await take_cap(
            db_url, "mda/external/cap/ptwc", cap_alert(identifier="PTWC-1", area=ocean).encode()
        )
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
            return row["id"], await create_token(c, "sam", "supervisor")

    with ThreadPoolExecutor(1) as pool:
        hid, sup = pool.submit(asyncio.run, feed()).result()
    officer, supervisor = Page(browser), Page(browser)
    try:
        for p, token in ((officer, s.token), (supervisor, sup)):
            p.page.goto(f"{s.url}/?token={token}")
            p.page.wait_for_url(f"{s.url}/")
            _ready(p.page)
            p.page.wait_for_function("() => window.mdaMap.hazards.hazards().length === 1")
            p.page.locator("#hazards-toggle").dispatch_event("click")
            p.page.locator(f'#hazards-panel li[data-id="{hid}"]').click()
            assert "awaiting confirmation" in p.page.inner_text(
                f'#hazards-panel li[data-id="{hid}"]'
            )
            assert "Awaiting confirmation" in p.page.inner_text("#hazard-awaiting")
        assert officer.page.locator("#hazard-confirm").count() == 0
        assert "A supervisor confirms it" in officer.page.inner_text("#hazard-awaiting")
        supervisor.page.once("dialog", lambda d: d.accept())
        supervisor.page.locator("#hazard-confirm").click()
        supervisor.page.wait_for_selector("#hazard-awaiting", state="detached")
        [f] = httpx.get(
            f"{s.url}/api/hazards", headers={"Authorization": f"Bearer {s.token}"}
        ).json()["features"]
        assert f["properties"]["state"] == "in_force" and f["properties"]["confirmed_by"] == "sam"
        for p in (officer, supervisor):
            assert p.errors == [], p.errors
            assert p.offsite == [], p.offsite
    finally:
        officer.close()
        supervisor.close()
        stop(s)
