"""The desk's "Extract" button in Chromium (the map served by uvicorn, every request leaving
127.0.0.1 aborted): an officer downloads the alert's signed ZIP, and the extract is then
listed under the alert with its SHA-256."""

from __future__ import annotations

import hashlib

from test_web_browser import Page, _alert, _ready, browser, serve, stop  # noqa: F401

from mda.exchange.signing import load_or_create_key
from mda.exchange.verify import verify_extract


def test_an_officer_extracts_an_alert_from_its_card_and_sees_it_listed(db_url, tmp_path, browser):  # noqa: F811
    alert = _alert("loitering:419000001::1", "loitering", "medium", 419000001, 12.0, 70.0)
    s = serve(db_url, tmp_path, 50, alerts=[alert])
    page = Page(browser)
    try:
        p = page.page
        p.goto(s.url + "/")  # alice, an officer (serve's user), logs in with her password
        p.fill("#username", "alice")
        p.fill("#password", "correct horse")
        p.click("button[type=submit]")
        p.wait_for_url(s.url + "/")
        _ready(p)
        alert_id = s.alerts[0]["id"]
        card = f'#alerts .alert[data-id="{alert_id}"]'
        p.wait_for_selector(f"{card} .extract-extract")
        with p.expect_download() as dl:
            p.click(f"{card} .extract-extract")
        path = tmp_path / "got.zip"
        dl.value.save_as(path)
        assert dl.value.suggested_filename == f"mda-alert-{alert_id}.zip"
        p.wait_for_selector(f"{card} .extract-list .extract-row")
        row = p.inner_text(f"{card} .extract-list")
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert "alice" in row and sha[:12] in row
        assert p.get_attribute(f"{card} .extract-row", "title") == f"SHA-256 {sha}"
        page.shot("extract-desk")
        key = load_or_create_key(tmp_path / "data").public_key()
        verify_extract(path, key)
        assert page.offsite == [] and page.errors == []
    finally:
        page.close()
        stop(s)
