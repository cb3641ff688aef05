"""The desk's "Share" panel in Chromium (the map served by uvicorn, every request leaving
127.0.0.1 aborted): an officer shares an alert with a partner and its extract, sees with
whom it was shared, and is told when a partner's policy refuses it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from test_web_browser import Page, _alert, _ready, browser, serve, stop  # noqa: F401

from mda.store.db import connect
from mda.store.partners import add_partner


async def _partners(db_url: str) -> None:
    async with await connect(db_url, autocommit=True) as c:
        await add_partner(c, "srilanka", "LK", automatic=False)
        await add_partner(c, "maldives", "MV", kinds=["encounter"], automatic=False)


def test_an_officer_shares_an_alert_from_its_card(db_url, tmp_path, browser):  # noqa: F811
    alert = _alert("loitering:419000001::1", "loitering", "medium", 419000001, 12.0, 70.0)
    s = serve(db_url, tmp_path, 50, alerts=[alert])
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        pool.submit(asyncio.run, _partners(db_url)).result()
    page = Page(browser)
    try:
        p = page.page
        p.goto(s.url + "/")
        p.fill("#username", "alice")
        p.fill("#password", "correct horse")
        p.click("button[type=submit]")
        p.wait_for_url(s.url + "/")
        _ready(p)
        alert_id = s.alerts[0]["id"]
        card = f'#alerts .alert[data-id="{alert_id}"]'
        p.click(f"{card} .share-toggle")
        p.wait_for_selector(f"{card} .share-partner")
        assert "Not shared with any partner yet." in p.inner_text(f"{card} .share-panel")

        # maldives takes only encounters: refused, said, nothing logged
        p.check(f'{card} .share-partner[value="maldives"]')
        p.click(f"{card} .share-send")
        p.wait_for_selector("#desk-toast:not([hidden])")
        assert "policy" in p.inner_text("#desk-toast")
        assert s.sql("SELECT count(*) FROM share_log") == [(0,)]

        p.uncheck(f'{card} .share-partner[value="maldives"]')
        p.check(f'{card} .share-partner[value="srilanka"]')
        p.check(f"{card} .share-extract")
        p.click(f"{card} .share-send")
        p.wait_for_selector(f"{card} .share-row")
        row = p.inner_text(f"{card} .share-row")
        [(sha,)] = s.sql("SELECT extract_sha256 FROM share_log WHERE partner = 'srilanka'")
        assert "srilanka" in row and "by alice" in row and sha[:12] in row
        page.shot("share-desk")
        assert page.offsite == [] and [e for e in page.errors if "422" not in e] == []
    finally:
        page.close()
        stop(s)
