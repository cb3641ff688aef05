"""A partner's extract imported through the map in Chromium (the map served by uvicorn,
every request leaving 127.0.0.1 aborted): installation A exports an alert's extract with
its own database and key; at B, where A is a partner with that key, an officer uploads it
in the "Partner extracts" panel, and its two tracks and its alert are drawn in the partner
style, labelled with the partner's name; the same file again is said to be imported
already; a file that is no extract is refused in the server's words.
``MDA_DOCS_IMG=1`` also writes docs/img/partner-extract.png."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from import_support import FIXES, export_from_a
from test_web_browser import Page, _ready, browser, serve, stop  # noqa: F401

from mda.exchange.signing import partner_key
from mda.store.db import connect
from mda.store.partners import add_partner

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img" / "partner-extract.png"


async def _partner(db_url: str, pem: str) -> None:
    async with await connect(db_url, autocommit=True) as c:
        await add_partner(c, "colombo", "LK", automatic=False, public_key=partner_key(pem))


def test_an_officer_imports_a_partners_extract_and_sees_its_tracks(
    db_url,
    timescale_server,
    tmp_path,
    browser,  # noqa: F811
):
    exported = export_from_a(timescale_server, tmp_path / "installation-a")
    s = serve(db_url, tmp_path, 30)
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        pool.submit(asyncio.run, _partner(db_url, exported.public_pem)).result()
    page = Page(browser)
    try:
        p = page.page
        p.goto(s.url + "/")
        p.fill("#username", "alice")
        p.fill("#password", "correct horse")
        p.click("button[type=submit]")
        p.wait_for_url(s.url + "/")
        _ready(p)
        p.click("#pext-toggle")
        p.wait_for_selector("#pext-list li")
        assert "No partner extract imported yet." in p.inner_text("#pext-list")
        p.wait_for_selector('#pext-partner option[value="colombo"]', state="attached")

        p.set_input_files("#pext-file", str(exported.zip))
        p.click("#pext-import")
        p.wait_for_function(
            "() => { const s = window.mdaMap.partnerMap.shown(); return s && s.tracks === 2; }",
            timeout=15000,
        )
        assert "imported extract" in p.inner_text("#pext-status")
        assert f"{2 * FIXES} positions of 2 vessels" in p.inner_text("#pext-status")
        item = p.inner_text("#pext-list .pext-item.selected")
        assert "colombo" in item and "Encounter" in item and "→" in item, item
        shown = p.evaluate("() => window.mdaMap.partnerMap.shown()")
        assert shown["partner"] == "colombo" and shown["alerts"] == 1
        labels = p.eval_on_selector_all(".partner-track-label", "ls => ls.map(l => l.textContent)")
        assert len(labels) == 2 and all("colombo" in x for x in labels), labels
        assert any("COLOMBO TRADER" in x for x in labels) and any(
            "NIGHT HERON" in x for x in labels
        )
        assert p.query_selector(".partner-alert-marker.extract .pa-name").inner_text() == "colombo"
        # dash-dot, in the partner colour: not a track of ours
        styles = p.evaluate("() => window.mdaMap.partnerMap.trackStyles()")
        partner = p.evaluate(
            "() => getComputedStyle(document.documentElement).getPropertyValue('--partner').trim()"
        )
        assert len(styles) == 2 and partner, styles
        assert all(x == {"color": partner, "dashArray": "10 4 2 4"} for x in styles), styles
        [(n,)] = s.sql("SELECT count(*) FROM imported_extract_positions")
        assert n == 2 * FIXES
        page.shot("partner-extract")
        if os.environ.get("MDA_DOCS_IMG") == "1":
            p.screenshot(path=str(DOCS_IMG))

        # the same file again: said, nothing new
        p.set_input_files("#pext-file", str(exported.zip))
        p.click("#pext-import")
        p.wait_for_function(
            "() => document.getElementById('pext-status').textContent.includes('already imported')"
        )
        assert len(p.query_selector_all("#pext-list .pext-item")) == 1

        # not an extract: refused in the server's words
        junk = tmp_path / "junk.zip"
        junk.write_bytes(b"PK not really")
        p.select_option("#pext-partner", "colombo")
        p.set_input_files("#pext-file", str(junk))
        p.click("#pext-import")
        p.wait_for_selector("#pext-status.bad")
        assert "Refused: junk.zip: not a readable ZIP file" in p.inner_text("#pext-status")
        assert s.sql("SELECT count(*) FROM imported_extracts") == [(1,)]
        assert page.offsite == [] and [e for e in page.errors if "422" not in e] == []
    finally:
        page.close()
        stop(s)
