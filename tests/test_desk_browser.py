"""The watch officer's desk in Chromium (issue 17): a desk that never drops a click while
alerts and positions stream in, its order by what needs action, honest sound, keyboard
work; then replay, measuring, a watch-list hit, a rule suspension and the handover.

The app runs as in ``test_web_browser.py`` (a real uvicorn on TimescaleDB, every request
off 127.0.0.1 aborted); the analytics run here, in the test, fed the lists the store
holds, as the service's desk job feeds them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from playwright.sync_api import expect
from test_web_browser import NOW, Page, _alert, _ready, browser, serve, stop  # noqa: F401

from mda.analytics import Analyzer
from mda.analytics.testing import Track
from mda.ingest.records import PositionReport, VesselInfo
from mda.store import alerts as store_alerts
from mda.store import desk as store_desk
from mda.store.writer import write_batch

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _login(p: Page, s) -> None:
    """The officer's token on every request (the login forms have tests of their own)."""
    p.context.set_extra_http_headers({"Authorization": f"Bearer {s.token}"})
    p.page.goto(f"{s.url}/")
    _ready(p.page)


def _card(page, aid: int):
    return page.locator(f'#alerts .alert[data-id="{aid}"]')


class Storm:
    """Live load as ``mda demo`` gives it at 60x: positions of every vessel several times a
    second and a new alert every ``alert_every`` s, pushed through the hub from a thread."""

    def __init__(self, s, mmsis, alert_every=0.7):
        self.s, self.mmsis, self.alert_every = s, mmsis, alert_every
        self.stop_ = threading.Event()
        self.raised: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_.set()
        self.thread.join(10)

    def _run(self):
        k, last_alert = 0, 0.0
        while not self.stop_.is_set():
            t = time.time()
            batch = [
                PositionReport(
                    ts=t,
                    mmsi=m,
                    lat=5 + (m % 97) * 0.1 + k * 1e-4,
                    lon=70 + (m % 89) * 0.1,
                    sog=12.0,
                    cog=90.0,
                    heading=90,
                    msg_type=1,
                    source="storm",
                )
                for m in self.mmsis
            ]
            self.s.call(self.s.hub.on_batch, batch, [])
            if t - last_alert > self.alert_every:
                last_alert = t
                try:
                    self.raised.append(self.s.run(self._alert(k)))
                except Exception:  # the server stopping
                    return
            k += 1
            time.sleep(0.15)

    async def _alert(self, k):
        async with await psycopg.AsyncConnection.connect(self.s.db_url, autocommit=True) as c:
            sev = ("medium", "high", "low")[k % 3]
            [row] = await store_alerts.save_changes(
                c,
                [
                    _alert(
                        f"storm-{k}",
                        "loitering",
                        sev,
                        self.mmsis[k % len(self.mmsis)],
                        6,
                        71,
                        start=time.time() - 600,
                        details={"text": f"storm {k}"},
                    )
                ],
            )
        await self.s.hub.publish_alert(row)
        return row["id"]


def _many(n, start_key=0, severity="high", kind="encounter"):
    return [
        _alert(
            f"m{start_key + i}",
            kind,
            severity,
            419_100_000 + (i % 40),
            6 + i * 0.01,
            71,
            start=NOW - 3000 + i * 10,
            details={"text": f"case {i}"},
        )
        for i in range(n)
    ]


def test_forty_acknowledgements_by_click_and_keyboard_under_live_load_lose_none(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    crit = _alert(
        "sart",
        "distress_beacon",
        "critical",
        970_123_456,
        6,
        71,
        start=NOW - 5000,
        details={"text": "AIS-SART transmitting"},
    )
    s = serve(db_url, tmp_path, 120, _many(40) + [crit])
    rows = s.alerts
    sart = rows[-1]["id"]
    p = Page(browser)
    try:
        _login(p, s)
        # the desk's order: the distress beacon first (it started earliest and arrived
        # with the others), then the unacknowledged alarms
        order = p.page.evaluate("window.mdaMap.deskOrder()")
        assert order[0] == sart, order[:5]
        # a reload without a click: the sound says it is not enabled yet
        assert p.page.evaluate("window.mdaMap.soundState()") == "blocked"
        assert "Sound not enabled" in p.page.locator("#sound-state").inner_text()
        p.page.locator("#sound-state").click()
        p.page.wait_for_function("() => window.mdaMap.soundState() === 'on'")
        assert p.page.locator("#sound-state").inner_text().strip().endswith("Sound on")
        ids = [r["id"] for r in rows[:40]]
        with Storm(s, list(range(419_100_000, 419_100_120))) as storm:
            # 20 by click, each on its card's own button, while the list keeps changing
            for aid in ids[:20]:
                _card(p.page, aid).locator("button.ack").click()
            # 20 by keyboard: focus a card, "a" acknowledges; j moves on
            for aid in ids[20:40]:
                p.page.evaluate(f"window.mdaMap.desk.focusCard({aid})")
                expect(_card(p.page, aid)).to_be_focused()
                p.page.keyboard.press("a")
            p.page.wait_for_timeout(1500)
            assert len(storm.raised) >= 5, storm.raised  # the load went on throughout
        got = dict(s.sql("SELECT id, status FROM alerts WHERE id = ANY(%s)", (ids,)))
        lost = [aid for aid in ids if got[aid] != "acknowledged"]
        assert lost == [], f"acknowledgements lost: {lost}"
        audit = s.sql("SELECT count(*) FROM audit_log WHERE action = 'alert.acknowledge'")
        assert audit == [(40,)]
        # keyboard focus survived the updates: it is still on a card
        assert p.page.evaluate("document.activeElement.closest('#alerts') !== null")
        p.page.wait_for_timeout(300)
        p.shot("desk-after-storm")
        # a reload forgets nothing the officer set, and sound is again not enabled
        p.page.click('#filter-severity button[data-sev="medium"]')
        p.page.reload()
        _ready(p.page)
        assert p.page.evaluate("window.mdaMap.soundState()") == "blocked"
        assert (
            p.page.get_attribute('#filter-severity button[data-sev="medium"]', "aria-pressed")
            == "true"
        )
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_desk_order_filters_bulk_close_timeline_and_the_silent_beacon(db_url, tmp_path, browser):  # noqa: F811
    warn = _alert("w", "loitering", "medium", 419_100_001, 6, 71, start=NOW - 300)
    crit = _alert("c", "distress_beacon", "critical", 419_100_002, 6, 71, start=NOW - 4000)
    high = _alert("h", "encounter", "high", 419_100_003, 6, 71, start=NOW - 200)
    high.alert.other_mmsi = 419_100_004
    ended = [
        _alert(f"e{i}", "ais_gap", "medium", 419_100_010 + i, 6, 71, start=NOW - 5000)
        for i in range(3)
    ]
    for e in ended:
        e.alert.end = NOW - 1000
    s = serve(db_url, tmp_path, 60, [warn, crit, high, *ended])
    w, c, h, *e = (r["id"] for r in s.alerts)
    p = Page(browser)
    try:
        _login(p, s)
        order = p.page.evaluate("window.mdaMap.deskOrder()")
        # distress pinned, then the unacknowledged alarm, then the warning, then ended ones
        assert order[:3] == [c, h, w], order
        # the encounter's second ship has its ring and its own link
        rings = p.page.evaluate("window.mdaMap.alarmRings()")
        assert rings.get("419100004") == "alarm-open" and rings.get("419100003") == "alarm-open"
        assert _card(p.page, h).locator('.vessel-link[data-mmsi="419100004"]').count() == 1
        # the banner leads to the most severe: the beacon
        p.page.click("#alarm-banner")
        expect(_card(p.page, c)).to_be_focused()
        # a type filter never hides a vessel in alarm
        for box in p.page.locator("#legend-classes input").all():
            box.uncheck()
        p.page.evaluate("() => { window.mdaMap.map.setView([6, 71], 5, {animate: false}); }")
        p.page.wait_for_timeout(200)
        assert p.page.evaluate("window.mdaMap.drawNow() >= 0 && window.mdaMap.vesselCount()") >= 1
        for box in p.page.locator("#legend-classes input").all():
            box.check()
        # filters by severity
        p.page.click('#filter-severity button[data-sev="critical"]')
        assert p.page.evaluate("window.mdaMap.deskOrder()") == [c]
        assert "hidden by filters" in p.page.locator("#filter-hidden").inner_text()
        p.page.click('#filter-severity button[data-sev="critical"]')
        # bulk: the three ended gaps closed at once with one outcome and one note (required)
        p.page.click("#bulk-close")
        p.page.check("#note-dialog input[name=outcome][value=no_action]")
        p.page.click("#note-ok")  # no note: refused by the form
        assert p.page.locator("#note-dialog").is_visible()
        p.page.fill("#note-text", "receiver outage at Kochi, vessels fine")
        p.page.click("#note-ok")
        for aid in e:
            p.page.wait_for_function(
                f"() => !document.querySelector('#alerts .alert[data-id=\"{aid}\"]')"
            )
        assert s.sql(
            "SELECT DISTINCT status, outcome, note FROM alerts WHERE id = ANY(%s)", (e,)
        ) == [("closed", "no_action", "receiver outage at Kochi, vessels fine")]
        # the beacon falls silent after being acknowledged: it stays, flagged
        _card(p.page, c).locator("button.ack").click()

        async def silence():
            async with await psycopg.AsyncConnection.connect(s.db_url, autocommit=True) as conn:
                crit.alert.end = NOW - 60
                crit.change = "closed"
                [row] = await store_alerts.save_changes(conn, [crit])
            await s.hub.publish_alert(row)

        p.page.wait_for_function(
            f"() => document.querySelector('#alerts .alert[data-id=\"{c}\"]').classList.contains('acknowledged')"
        )
        s.run(silence())
        expect(_card(p.page, c).locator(".state")).to_contain_text("SILENT since")
        # History: the timeline of a closed alert
        p.page.click("#desk .tabs button[data-view=history]")
        _card(p.page, e[0]).locator("button[data-act=timeline]").click()
        expect(_card(p.page, e[0]).locator(".timeline")).to_contain_text("closed by watch-officer")
        p.shot("desk-history-timeline")
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_replay_measuring_and_cpa(db_url, tmp_path, browser):  # noqa: F811
    s = serve(db_url, tmp_path, 40)
    mmsi = 419_100_005
    t_end = time.time()

    async def history():
        async with await psycopg.AsyncConnection.connect(s.db_url, autocommit=True) as c:
            await write_batch(
                c,
                [
                    PositionReport(
                        ts=t_end - 60 * (360 - k),
                        mmsi=mmsi,
                        lat=8 + k * 0.002,
                        lon=72 + k * 0.003,
                        sog=11.0,
                        cog=56.0,
                        heading=56,
                        msg_type=1,
                        source="hist",
                    )
                    for k in range(360)
                ],
                [],
                [],
            )

    s.run(history())
    p = Page(browser)
    try:
        _login(p, s)
        # the geometry against hand-computed cases (a minute of arc is a nautical mile)
        geo = p.page.evaluate("""() => { const g = window.mdaMap.geo; return [
            g.distanceNm(0, 0, 0, 1), g.bearingDeg(0, 0, 1, 0), g.bearingDeg(0, 0, 0, 1),
            g.cpaTcpa({lat: 0, lon: 0, sog: 10, cog: 90}, {lat: 0, lon: 1, sog: 10, cog: 270}),
            g.cpaTcpa({lat: 0, lon: 0, sog: 10, cog: 0}, {lat: 0, lon: 1, sog: 10, cog: 270}),
            g.cpaTcpa({lat: 0, lon: 0, sog: 10, cog: 90}, {lat: 0, lon: 1, sog: 10, cog: 90})]; }""")
        assert abs(geo[0] - 60) < 1e-6 and abs(geo[1]) < 1e-6 and abs(geo[2] - 90) < 1e-6
        head_on, crossing, parallel = geo[3], geo[4], geo[5]
        assert abs(head_on["cpaNm"]) < 1e-6 and abs(head_on["tcpaMin"] - 180) < 1e-6
        assert abs(crossing["cpaNm"] - 30 * 2**0.5) < 1e-6 and abs(crossing["tcpaMin"] - 180) < 1e-6
        assert parallel["tcpaMin"] is None and abs(parallel["cpaNm"] - 60) < 1e-6
        # replay: the vessel's six hours from the database, played and scrubbed
        p.page.evaluate(f"window.mdaMap.selectVessel({mmsi})")
        p.page.locator('#vp-body [data-tool="replay"]').click()
        p.page.wait_for_function("() => window.mdaMap.replay.state().tracks.length === 1")
        # the period: the six hours of history (the default is the day before the last fix)
        fmt = "%Y-%m-%dT%H:%M"
        p.page.fill("#replay-start", datetime.fromtimestamp(t_end - 360 * 60, UTC).strftime(fmt))
        p.page.fill("#replay-end", datetime.fromtimestamp(t_end, UTC).strftime(fmt))
        p.page.click("#replay-load")
        p.page.wait_for_function("() => window.mdaMap.replay.state().t0 > Date.now() - 7 * 3600e3")
        st = p.page.evaluate("window.mdaMap.replay.state()")
        assert st["tracks"][0]["points"] >= 300, st
        p.page.locator("#replay-play").click()
        p.page.wait_for_timeout(800)
        moved = p.page.evaluate("window.mdaMap.replay.state()")
        assert moved["t"] > st["t"] and moved["playing"]
        p.page.locator("#replay-play").click()
        p.page.locator("#replay-slider").fill("500")
        mid = p.page.evaluate("window.mdaMap.replay.state()")
        assert abs(mid["t"] - (mid["t0"] + mid["t1"]) / 2) < 60e3
        assert abs(mid["tracks"][0]["at"]["lat"] - (8 + 0.002 * 180)) < 0.01
        p.shot("replay")
        p.page.locator("#replay-close").click()
        # measure between two points: 60 nm due east along the equator
        p.page.evaluate("() => { window.mdaMap.map.setView([0, 0.5], 8, {animate: false}); }")
        p.page.wait_for_timeout(200)
        p.page.locator('.mda-tools a[data-tool="measure"]').click()
        box = p.page.locator("#map").bounding_box()
        for lon in (0.0, 1.0):
            pt = p.page.evaluate(f"window.mdaMap.latLngToPoint(0, {lon})")
            p.page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
        expect(p.page.locator("#measure-result")).to_contain_text("090°T")
        text = p.page.locator("#measure-result").inner_text()
        assert abs(float(text.split(" nm")[0]) - 60) < 0.5, text
        p.shot("measure")
        p.page.keyboard.press("Escape")
        assert p.page.locator("#measure-out").is_hidden()
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_watch_list_hit_suspension_notes_and_handover(db_url, tmp_path, browser):  # noqa: F811
    s = serve(db_url, tmp_path, 30)
    p = Page(browser)

    async def run_analytics(records):
        """What the service does: the lists and suspensions in force into the analytics,
        the changes stored and pushed."""
        async with await psycopg.AsyncConnection.connect(s.db_url, autocommit=True) as c:
            await write_batch(
                c,
                [r for r in records if isinstance(r, PositionReport)],
                [r for r in records if isinstance(r, VesselInfo)],
                [],
            )
            analyzer.set_watchlist(await store_desk.watch_entries(c))
            analyzer.set_suspensions(await store_desk.suspensions_in_force(c))
            rows = await store_alerts.save_changes(c, analyzer.process(records))
        for row in rows:
            await s.hub.publish_alert(row)
        return rows

    analyzer = Analyzer()
    try:
        _login(p, s)
        # a watch list made on the desk, one vessel in it by name
        p.page.click("#watch-toggle")
        p.page.click("#watch-body details:last-of-type summary")
        p.page.fill("#wl-new-name", "Sanctions")
        p.page.click("#watch-body [data-do=create]")
        p.page.wait_for_selector("#wl-list", state="attached")
        p.page.click("#watch-body details:first-of-type summary")
        p.page.fill("#wl-name", "DARK STAR")
        p.page.fill("#wl-reason", "sanctioned tanker, report sightings")
        p.page.click("#watch-body [data-do=add]")
        p.page.wait_for_function("() => document.querySelector('#watch-body tbody tr') !== null")
        p.shot("watch-lists")
        p.page.click("#watch-close")
        # the vessel appears under that name: the analytics raise a watchlist alert (high)
        mmsi = 419_555_001
        track = Track(mmsi, 10.0, 66.0, start=time.time() - 1800).sail(minutes=20, sog=12, cog=45)
        rows = s.run(
            run_analytics(
                [
                    VesselInfo(ts=track.records[0].ts, mmsi=mmsi, name="DARK STAR", ship_type=80),
                    *track.records,
                ]
            )
        )
        hit = [r for r in rows if r["kind"] == "watchlist"]
        assert hit and hit[0]["severity"] == "high", rows
        card = _card(p.page, hit[0]["id"])
        card.wait_for(timeout=5000)
        assert "Watch list" in card.inner_text() and "Sanctions" in card.inner_text()
        assert "alarm" in card.get_attribute("class").split()
        # the map marks it once the desk knows it
        p.page.evaluate("window.mdaMap.reload().then(() => window.mdaMap.refreshWatched())")
        p.page.wait_for_function(f"() => window.mdaMap.watched()[{mmsi}] !== undefined")
        # a loitering vessel: the rule suspended for it from its panel, with a reason
        survey = 419_100_007
        p.page.evaluate(f"window.mdaMap.selectVessel({survey})")
        p.page.wait_for_selector("#vp-susp details")
        p.page.click("#vp-susp details summary")
        p.page.select_option("#vp-susp-kind", "loitering")
        p.page.select_option("#vp-susp-hours", "1")
        p.page.fill("#vp-susp-reason", "survey ship, loiters by design")
        p.page.click('#vp-susp [data-act="suspend"]')
        expect(p.page.locator("#vp-susp")).to_contain_text("survey ship, loiters by design")
        p.page.fill("#vp-note-text", "called on VHF 16, on survey for the port authority")
        p.page.click('#vp-notes [data-act="add-note"]')
        expect(p.page.locator("#vp-notes")).to_contain_text("called on VHF 16")
        p.shot("vessel-suspension-notes")
        loiter = (
            Track(survey, -15.0, 75.0, start=time.time() - 7200)
            .sail(minutes=30, sog=12, cog=90)
            .sail(90, 0.8, 200)
        )
        assert [r for r in s.run(run_analytics(loiter.records)) if r["kind"] == "loitering"] == []
        assert analyzer.stats["alerts_suspended"] == 1
        # it expires by itself: once past its end it is no longer in force, and the
        # episode still going on rings
        s.sql(
            "UPDATE suspensions SET start = now() - interval '2 hours', until = now() - interval '1 second'"
        )
        later = Track(
            survey, loiter.records[-1].lat, loiter.records[-1].lon, start=loiter.records[-1].ts + 60
        ).sail(5, 0.5, 200)
        rows = s.run(run_analytics(later.records))
        assert [r["change"] for r in rows if r["kind"] == "loitering"][:1] == ["opened"], rows
        # all of it audited, with who
        actions = [
            a
            for (a,) in s.sql(
                "SELECT action FROM audit_log WHERE actor = 'watch-officer' ORDER BY id"
            )
        ]
        for action in ("watchlist.create", "watchlist.add", "suspension.create", "note.add"):
            assert action in actions, actions
        # the handover: printable page and JSON
        p.page.goto(f"{s.url}/handover?start=-1h")
        body = p.page.locator("#report").inner_text().lower()
        assert "watch list" in body and "called on vhf 16" in body and "open alerts" in body
        p.shot("handover")
        report = p.page.evaluate("() => fetch('/api/handover?start=-1h').then((r) => r.json())")
        assert report["summary"]["watchlist_hits"] == 1 and report["summary"]["notes"] == 1
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)
