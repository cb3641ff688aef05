"""A partner's alert on the desk in Chromium (the map served by uvicorn, every request
leaving 127.0.0.1 aborted): pushed live as its feed delivers it, its card says whose it is
with the partner's flag and offers no Acknowledge, Close or Share, while our own alert's
card does. It has its own marker on the map (flag, name, priority) and rings nothing of
ours: only the partner can acknowledge it."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from test_web_browser import NOW, Page, _alert, _ready, browser, serve, stop  # noqa: F401

from mda.exchange.feeds import alert_cloudevent
from mda.exchange.partner_feed import check_event
from mda.store.alerts import alert_message
from mda.store.db import connect
from mda.store.partner_alerts import store_partner_event
from mda.store.partners import add_partner

SOURCE = "urn:mda:MRCC-Colombo"


async def _partners(db_url: str) -> None:
    async with await connect(db_url, autocommit=True) as c:
        await add_partner(c, "srilanka", "LK", automatic=False)


def _event() -> bytes:
    start = datetime.fromtimestamp(NOW - 1200, UTC)
    row = {
        "id": 801,
        "key": "k801",
        "kind": "encounter",
        "severity": "high",
        "status": "open",
        "mmsi": 419000002,
        "start": start,
        "updated_at": start,
        "lat": 12.1,
        "lon": 70.1,
        "details": {"text": "two vessels alongside for 2 h"},
        "change": "shared",
    }
    return json.dumps(alert_cloudevent(alert_message(row), SOURCE)).encode()


def test_a_partners_alert_is_marked_and_read_only_on_the_desk(db_url, tmp_path, browser):  # noqa: F811
    ours = _alert("loitering:419000001::1", "loitering", "medium", 419000001, 12.0, 70.0)
    s = serve(db_url, tmp_path, 50, alerts=[ours])
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        pool.submit(asyncio.run, _partners(db_url)).result()
    page = Page(browser)

    async def arrive() -> int:  # as PartnerFeed does: store, then push to the consoles
        event, alert = check_event(_event(), source=SOURCE)
        async with await connect(s.db_url, autocommit=True) as c:
            row = await store_partner_event(c, "srilanka", "LK", event, alert)
        await s.hub.publish_alert(row)
        return row["id"]

    try:
        p = page.page
        p.goto(s.url + "/")
        p.fill("#username", "alice")
        p.fill("#password", "correct horse")
        p.click("button[type=submit]")
        p.wait_for_url(s.url + "/")
        _ready(p)
        own = f'#alerts .alert[data-id="{s.alerts[0]["id"]}"]'
        p.wait_for_selector(f"{own} button[data-act=ack]")
        their_id = s.run(arrive())
        theirs = f'#alerts .alert[data-id="{their_id}"]'
        p.wait_for_selector(theirs, timeout=10000)
        source = p.inner_text(f"{theirs} .source")
        assert "from partner srilanka" in source and "\U0001f1f1\U0001f1f0" in source
        assert "read-only" in source
        acts = p.eval_on_selector_all(
            f"{theirs} .actions button", "bs => bs.map(b => b.dataset.act || b.className)"
        )
        forbidden = {"ack", "close", "share-toggle", "extract-extract", "extract-extracts"}
        assert "show" in acts and not forbidden & set(acts), acts
        # its own marker on the map, with the partner's flag and name; it rings nothing of
        # ours: no flashing card, no alarm banner (only the partner acknowledges it)
        marker = f'.partner-alert-marker .pa-box[data-alert-id="{their_id}"]'
        p.wait_for_selector(marker)
        assert "srilanka" in p.inner_text(marker) and "ALARM" in p.inner_text(marker)
        assert "\U0001f1f1\U0001f1f0" in p.inner_text(marker)
        assert "flash" not in (p.get_attribute(theirs, "class") or "")
        assert p.is_hidden("#alarm-banner")
        assert p.query_selector(f"{own} button[data-act=close]") is not None
        assert p.query_selector(f"{own} .share-toggle") is not None  # ours can be shared
        assert p.query_selector(f"{own} .extract-extract") is not None  # and extracted
        page.shot("partner-alert-desk")
        assert page.offsite == [] and page.errors == []
    finally:
        page.close()
        stop(s)
