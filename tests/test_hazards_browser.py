"""Hazard areas on the map in Chromium (no request leaves 127.0.0.1): a CAP cyclone warning
posted through the API is drawn, its panel lists the vessels at risk, the one inside first
and the one steaming in with its time of entry (the one steaming away not at all), and the
"nearest vessels" action at a clicked point ranks the vessels by time to reach it, in the
order of the distances computed here. The screenshot is docs/img/hazards.png."""

from __future__ import annotations

import asyncio
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
        # moving vessels by distance over speed, those at rest last: from the API's own
        # positions, checked against distances computed here
        answer = httpx.get(
            f"{s.url}/api/sar/nearest",
            params={"lat": CENTRE[0], "lon": CENTRE[1], "n": 10},
            headers={"Authorization": f"Bearer {s.token}"},
        ).json()["vessels"]
        keyed = []
        for v in answer:
            d = distance_nm(v["lat"], v["lon"], *CENTRE)
            keyed.append((v["at_rest"], d if v["at_rest"] else d / v["speed_kn"], v["mmsi"]))
        assert [k[2] for k in sorted(keyed)] == [v["mmsi"] for v in answer]
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
            params={"lat": CENTRE[0], "lon": CENTRE[1], "n": 10, "exclude": 970123456},
            headers={"Authorization": f"Bearer {s.token}"},
        ).json()["vessels"]
        assert got == [v["mmsi"] for v in answer]
        # 111 nm at 20 kn (5.6 h) before 91 nm at a cargo ship's 13 kn (7 h); at anchor last
        eta = {
            m: distance_nm(*around(b, e), *CENTRE) / kn
            for m, b, e, kn in ((419200011, 90.0, 10.0, 13.0), (419200012, 180.0, 30.0, 20.0))
        }
        assert eta[419200012] < eta[419200011]
        assert got.index(419200012) < got.index(419200011)
        if 419200013 in got:
            assert all(v["at_rest"] for v in answer[got.index(419200013) :])
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

    from mda.analytics.hazards import typical_speed_kn

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
        card = p.page.locator(f'#alerts .alert[data-id="{sart["id"]}"]')
        with p.page.expect_response(lambda r: "/api/sar/nearest?" in r.url) as got:
            card.locator("button", has_text="Nearest vessels").dispatch_event("click")
        answer = got.value.json()
        assert abs(answer["lat"] - sart["lat"]) < 1e-4 and abs(answer["lon"] - sart["lon"]) < 1e-4
        p.page.wait_for_function("() => window.mdaMap.hazards.responders() !== null")
        shown = p.page.evaluate("window.mdaMap.hazards.responders()")
        ranked = answer["vessels"]
        assert shown == [v["mmsi"] for v in ranked] and len(shown) == 10
        assert sart["mmsi"] not in shown
        rows = p.page.locator("#sar-vessels tbody tr")
        assert [int(rows.nth(i).get_attribute("data-mmsi")) for i in range(rows.count())] == shown
        # the order, from distances computed here: moving vessels by distance over their
        # speed (at least their type's typical speed), then those at rest by distance
        keys = []
        for v in ranked:
            d = distance_nm(v["lat"], v["lon"], sart["lat"], sart["lon"])
            assert abs(d - v["distance_nm"]) < 0.05, (v, d)
            if v["at_rest"]:
                keys.append((1, d))
            else:
                assert v["speed_kn"] >= typical_speed_kn(v["ship_type"]) - 0.05, v
                keys.append((0, d / v["speed_kn"]))
        for a, b in zip(keys, keys[1:], strict=False):
            assert a[0] < b[0] or (a[0] == b[0] and a[1] <= b[1] * 1.005 + 1e-3), keys
        first = ranked[0]
        assert f"{first['distance_nm']:.1f} nm" in rows.nth(0).inner_text()
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        demo.stop()
