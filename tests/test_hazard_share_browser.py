"""The hazard panel's "Share with…" in Chromium (the map served by uvicorn, every request
leaving 127.0.0.1 aborted): an officer shares a CAP cyclone warning with a partner, sees with
whom it was shared, is told when a partner's policy refuses it, and the share is in the
share log, which the partner then reads with its vessels at risk."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hazard_samples import around, cap_alert
from test_web_browser import NOW, Page, _ready, browser, serve, stop  # noqa: F401
from web_support import vessel

from mda.store.db import connect
from mda.store.partners import add_partner
from mda.store.writer import write_batch

pytestmark = [pytest.mark.integration]


async def _setup(db_url: str) -> str:
    async with await connect(db_url, autocommit=True) as c:
        p, s = vessel(419300001, *around(0.0, -20.0), ts=NOW - 60, sog=0.0, name="IN THE EYE")
        await write_batch(c, [p], [s], [])
        _, token = await add_partner(c, "srilanka", "LK", automatic=False)
        await add_partner(c, "maldives", "MV", kinds=["encounter"], automatic=False)
    return token


def test_an_officer_shares_a_hazard_from_its_panel(db_url, tmp_path, browser):  # noqa: F811
    s = serve(db_url, tmp_path, 20)
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        lk = pool.submit(asyncio.run, _setup(db_url)).result()
    r = httpx.post(
        f"{s.url}/api/hazards",
        content=cap_alert(),
        headers={"Authorization": f"Bearer {s.token}", "content-type": "application/cap+xml"},
    )
    assert r.status_code == 201, r.text
    hid = r.json()["features"][0]["id"]
    page = Page(browser)
    try:
        p = page.page
        p.goto(s.url + "/")
        p.fill("#username", "alice")
        p.fill("#password", "correct horse")
        p.click("button[type=submit]")
        p.wait_for_url(s.url + "/")
        _ready(p)
        p.wait_for_function("() => window.mdaMap.hazards.hazards().length === 1")
        p.click("#hazards-toggle")
        p.click(f'#hazards-panel li[data-id="{hid}"]')
        p.click('#hazards-panel [data-act="share"]')
        p.wait_for_selector("#hazard-share .hazard-share-partner")
        assert "Not shared with any partner yet." in p.inner_text("#hazard-share")

        # maldives takes only encounters: refused, said in the server's words, nothing logged
        p.check('#hazard-share .hazard-share-partner[value="maldives"]')
        p.click("#hazard-share-send")
        p.wait_for_selector("#hazards-error:not([hidden])")
        assert "policy" in p.inner_text("#hazards-error")
        assert s.sql("SELECT count(*) FROM share_log") == [(0,)]

        p.uncheck('#hazard-share .hazard-share-partner[value="maldives"]')
        p.check('#hazard-share .hazard-share-partner[value="srilanka"]')
        p.click("#hazard-share-send")
        p.wait_for_selector("#hazard-share .share-row")
        row = p.inner_text("#hazard-share .share-row")
        assert "srilanka" in row and "by alice" in row
        assert p.evaluate("window.mdaMap.hazards.shares()") == [
            {"partner": "srilanka", "mode": "manual", "actor": "alice"}
        ]
        [(partner, hazard_id, alert_id)] = s.sql(
            "SELECT partner, hazard_id, alert_id FROM share_log"
        )
        assert (partner, hazard_id, alert_id) == ("srilanka", hid, None)
        page.shot("share-hazard")
        # the partner reads it, with its vessels at risk
        r = httpx.get(f"{s.url}/api/partner/hazards", headers={"Authorization": f"Bearer {lk}"})
        assert r.status_code == 200, r.text
        [f] = r.json()["features"]
        assert f["id"] == hid
        assert [v["mmsi"] for v in f["properties"]["vessels_at_risk"]] == [419300001]
        assert page.offsite == [] and [e for e in page.errors if "422" not in e] == []
    finally:
        page.close()
        stop(s)
