"""The watch officer's desk in Chromium (issue 17): a desk that never drops a click while
alerts and positions stream in, its order by what needs action, honest sound, keyboard
work; then replay, measuring, a watch-list hit, a rule suspension and the handover.

The app runs as in ``test_web_browser.py`` (a real uvicorn on TimescaleDB, every request
off 127.0.0.1 aborted); the analytics run here, in the test, fed the lists the store
holds, as the service's desk job feeds them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from playwright.sync_api import expect
from support import free_port
from test_web_browser import NOW, Page, _alert, _ready, browser, serve, stop  # noqa: F401

from mda.analytics import Analyzer
from mda.analytics.testing import Track
from mda.ingest.records import PositionReport, VesselInfo
from mda.store import alerts as store_alerts
from mda.store import desk as store_desk
from mda.store.accounts import create_token
from mda.store.writer import write_batch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def _doc_shot(p: Page, name: str) -> None:
    """A screenshot in test-artifacts/; with MDA_DOCS_IMG=1 it also replaces the getting-
    started guide's ``docs/img/desk-<name>.png`` (how the guide's pictures are made)."""
    path = p.shot(name)
    if os.environ.get("MDA_DOCS_IMG") == "1":
        shutil.copyfile(
            path, DOCS_IMG / f"{name if name.startswith('desk-') else 'desk-' + name}.png"
        )


def _login(p: Page, s) -> None:
    """The officer's token on every request (the login forms have tests of their own)."""
    p.context.set_extra_http_headers({"Authorization": f"Bearer {s.token}"})
    p.page.goto(f"{s.url}/")
    _ready(p.page)


def _card(page, aid: int):
    return page.locator(f'#alerts .alert[data-id="{aid}"]')


def _key_to(page, aid: int, presses: int = 400) -> int:
    """Move the keyboard focus to a card by pressing j and k, as an officer does: each press
    decided on where the focus is now (the list keeps changing under live load). Returns
    the number of presses."""
    for n in range(presses):
        cur, target = page.evaluate(
            """(aid) => { const ids = window.mdaMap.deskOrder();
                const li = document.activeElement && document.activeElement.closest('#alerts .alert');
                return [li ? ids.indexOf(Number(li.getAttribute('data-id'))) : -1, ids.indexOf(aid)]; }""",
            aid,
        )
        assert target >= 0, f"card {aid} not on the desk"
        if cur == target:
            return n
        page.keyboard.press("j" if cur < target else "k")
    raise AssertionError(f"j/k never reached card {aid}")


def _raise(s, key: str, severity: str = "high", mmsi: int = 419_100_020) -> int:
    """An alert stored and pushed to the desk, as the service does; its id."""

    async def go():
        async with await psycopg.AsyncConnection.connect(s.db_url, autocommit=True) as c:
            [row] = await store_alerts.save_changes(
                c, [_alert(key, "encounter", severity, mmsi, 6, 71, start=time.time() - 60)]
            )
        await s.hub.publish_alert(row)
        return row["id"]

    return s.run(go())


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


def _acknowledge_forty(p: Page, ids: list[int]) -> None:
    """20 acknowledged by click, each on its card's own button, while the list keeps
    changing; 20 by keyboard alone: j and k move to the card, "a" acknowledges it."""
    for aid in ids[:20]:
        _card(p.page, aid).locator("button.ack").click()
    presses = 0
    for aid in ids[20:40]:
        presses += _key_to(p.page, aid)
        expect(_card(p.page, aid)).to_be_focused()
        p.page.keyboard.press("a")
    assert presses >= 20, presses  # the focus really travelled by keys
    p.page.wait_for_timeout(1500)


def _assert_all_acknowledged(sql, ids: list[int]) -> None:
    got = dict(sql("SELECT id, status FROM alerts WHERE id = ANY(%s)", (ids,)))
    lost = [aid for aid in ids if got[aid] != "acknowledged"]
    assert lost == [], f"acknowledgements lost: {lost}"
    audit = sql("SELECT count(*) FROM audit_log WHERE action = 'alert.acknowledge'")
    assert audit == [(40,)]


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
            _acknowledge_forty(p, ids)
            assert len(storm.raised) >= 5, storm.raised  # the load went on throughout
        _assert_all_acknowledged(s.sql, ids)
        # keyboard focus survived the updates: it is still on a card
        assert p.page.evaluate("document.activeElement.closest('#alerts') !== null")
        p.page.wait_for_timeout(300)
        _doc_shot(p, "desk-after-storm")
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


DEMO_TOKEN = "desk-demo-token-0123456789abcdef"


class Demo:
    """``mda demo`` as a process on the test's TimescaleDB: the built-in scenario played at
    60x by its TCP feed, through ingest, the detectors, the database and the web server."""

    def __init__(self, db_url, tmp_path, speed=60):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
        env.update(MDA_DATABASE_URL=db_url, MDA_DEMO_TOKEN=DEMO_TOKEN)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mda", "demo", "--port", str(self.port)]
            + ["--data-dir", str(tmp_path / "demo"), "--speed", str(speed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.output: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if f"open {self.url}/?token=" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return
        self.stop()
        raise AssertionError("mda demo did not start:\n" + "".join(self.output))

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_forty_acknowledgements_while_the_demo_plays_at_60x_lose_none(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    demo = Demo(db_url, tmp_path)
    p = Page(browser)
    try:
        # forty alarms waiting on the desk, next to what the scenario raises itself
        async def seed():
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
                return await store_alerts.save_changes(c, _many(40, start_key=9000))

        with ThreadPoolExecutor(1) as pool:
            rows = pool.submit(asyncio.run, seed()).result()
        p.context.set_extra_http_headers({"Authorization": f"Bearer {DEMO_TOKEN}"})
        p.page.goto(f"{demo.url}/")
        _ready(p.page)
        # the scenario's own alerts are arriving on the desk by now
        p.page.wait_for_function(
            "() => window.mdaMap.alerts().some((a) => a.mmsi < 419100000 || a.mmsi > 419100039)",
            timeout=90000,
        )
        before, t0 = p.page.evaluate("window.mdaMap.stats()"), time.monotonic()
        ids = [r["id"] for r in rows]
        _acknowledge_forty(p, ids)
        after, took = p.page.evaluate("window.mdaMap.stats()"), time.monotonic() - t0
        # the demo's load went on throughout: live frames of the scenario's vessels
        frames = after["frames"] - before["frames"]
        assert frames >= took / 2, (frames, took, before, after)
        assert p.page.evaluate("window.mdaMap.totalVessels()") >= 100

        def sql(query, params=()):
            with psycopg.connect(db_url, autocommit=True) as c:
                cur = c.execute(query, params)
                return cur.fetchall()

        _assert_all_acknowledged(sql, ids)
        assert p.page.evaluate("document.activeElement.closest('#alerts') !== null")
        raised = sql("SELECT count(*) FROM alerts WHERE key NOT LIKE 'm9%%'")[0][0]
        pushed = after["alertsPushed"] - before["alertsPushed"]
        print(f"demo at 60x: {took:.1f} s, {frames} live frames and "
              f"{pushed} alert updates pushed (the 40 acknowledgements among them) during the "
              f"acknowledgements; {raised} alerts raised by the scenario so far")  # fmt: skip
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        demo.stop()


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
        # a note on an open alert, for the next watch, without closing it
        _card(p.page, w).locator("button[data-act=timeline]").click()
        _card(p.page, w).locator(".alert-note input").fill("master says waiting for pilot")
        _card(p.page, w).locator(".alert-note button").click()
        expect(_card(p.page, w).locator(".timeline")).to_contain_text(
            "note by watch-officer: “master says waiting for pilot”"
        )
        assert s.sql("SELECT alert_id, mmsi, author, text FROM notes") == [
            (w, 419_100_001, "watch-officer", "master says waiting for pilot")
        ]
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
        # (the picture: the panel closed, the six hours in view)
        p.page.click("#vp-close")
        p.page.mouse.move(400, 300)
        p.page.evaluate("() => { window.mdaMap.map.setView([8.4, 72.6], 8, {animate: false}); }")
        p.page.wait_for_timeout(600)
        _doc_shot(p, "replay")
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
        _doc_shot(p, "measure")
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
        _doc_shot(p, "watch-lists")
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
        _doc_shot(p, "vessel-suspension-notes")
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
        _doc_shot(p, "handover")
        report = p.page.evaluate("() => fetch('/api/handover?start=-1h').then((r) => r.json())")
        assert report["summary"]["watchlist_hits"] == 1 and report["summary"]["notes"] == 1
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_supervisor_sees_every_suspension_lifts_one_and_suspends_a_rule_for_an_area(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    s = serve(db_url, tmp_path, 30)
    survey = 419_100_007

    async def setup():
        async with await psycopg.AsyncConnection.connect(s.db_url, autocommit=True) as c:
            soon = datetime.now(UTC) + timedelta(hours=6)
            await store_desk.create_suspension(
                c, kind="ais_gap", mmsi=survey, bbox=None, until=soon,
                reason="refit, transponder off", user="watch-officer",
            )  # fmt: skip
            old = await store_desk.create_suspension(
                c, kind="loitering", mmsi=419_100_008, bbox=None, until=soon,
                reason="old survey", user="watch-officer",
            )  # fmt: skip
            await c.execute(
                "UPDATE suspensions SET start = now() - interval '2 days',"
                " until = now() - interval '1 day' WHERE id = %s",
                (old["id"],),
            )
            return await create_token(c, "sup", "supervisor")

    sup = s.run(setup())
    p = Page(browser)
    try:
        # an officer sees those in force, and cannot ask for the rest
        _login(p, s)
        p.page.click("#susp-toggle")
        expect(p.page.locator("#susp-list")).to_contain_text("refit, transponder off")
        assert "old survey" not in p.page.locator("#susp-list").inner_text()
        assert p.page.locator("#susp-all").count() == 0
        assert p.page.locator("#susp-count").inner_text() == "1"
        # the supervisor: all of them, the expired one marked so
        p.context.set_extra_http_headers({"Authorization": f"Bearer {sup}"})
        p.page.reload()
        _ready(p.page)
        p.page.click("#susp-toggle")
        expect(p.page.locator("#susp-list")).to_contain_text("refit, transponder off")
        p.page.check("#susp-all")
        expect(p.page.locator("#susp-list")).to_contain_text("old survey")
        assert "expired" in p.page.locator("#susp-list li", has_text="old survey").inner_text()
        # a rule suspended for the area in view: fishing grounds where loitering is normal
        p.page.evaluate("() => { window.mdaMap.map.setView([-15, 75.2], 8, {animate: false}); }")
        p.page.click("#susp-area-form summary")
        p.page.select_option("#susp-kind", "loitering")
        p.page.select_option("#susp-hours", "6")
        p.page.click('#susp-panel [data-act="view"]')
        p.page.fill("#susp-reason", "fishing grounds, loitering is normal here")
        p.page.click('#susp-panel [data-act="suspend"]')
        expect(p.page.locator("#susp-list")).to_contain_text("fishing grounds")
        view = p.page.evaluate(
            "() => { const b = window.mdaMap.map.getBounds();"
            " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"
        )
        [box] = s.sql(
            "SELECT min_lon, min_lat, max_lon, max_lat, created_by, until - start FROM suspensions"
            " WHERE reason LIKE 'fishing grounds%%'"
        )
        assert all(abs(a - b) < 1e-3 for a, b in zip(box[:4], view, strict=True)), (box, view)
        assert box[4] == "sup" and abs(box[5].total_seconds() - 6 * 3600) < 60
        # a box drawn on the map; Esc ends the drawing only, the vessel panel stays
        p.page.evaluate(f"window.mdaMap.selectVessel({survey})")
        p.page.wait_for_selector("#vp-voyage")
        title = p.page.locator("#vp-title").inner_text()
        other = p.page.evaluate("window.mdaMap.vesselPosition(419100010)")
        corners = ((other["lat"], other["lon"]), (other["lat"] + 0.7, other["lon"] + 0.7))
        p.page.evaluate(
            f"() => {{ window.mdaMap.map.setView([{other['lat'] + 0.35}, {other['lon'] + 0.35}], 8,"
            " {animate: false}); }"
        )
        p.page.click('#susp-panel [data-act="draw"]')
        assert p.page.evaluate("window.mdaMap.suspensions.drawing()")
        p.page.keyboard.press("Escape")
        assert not p.page.evaluate("window.mdaMap.suspensions.drawing()")
        assert p.page.locator("#vessel-panel").is_visible()
        p.page.click('#susp-panel [data-act="draw"]')
        mapbox = p.page.locator("#map").bounding_box()
        for lat, lon in corners:  # the first corner right on another vessel
            pt = p.page.evaluate(f"window.mdaMap.latLngToPoint({lat}, {lon})")
            p.page.mouse.click(mapbox["x"] + pt["x"], mapbox["y"] + pt["y"])
        assert not p.page.evaluate("window.mdaMap.suspensions.drawing()")
        area = p.page.evaluate("window.mdaMap.suspensions.area()")
        want = (corners[0][1], corners[0][0], corners[1][1], corners[1][0])
        assert all(abs(a - b) < 0.01 for a, b in zip(area, want, strict=True)), (area, want)
        # the clicks drew the box: they selected no vessel
        p.page.wait_for_timeout(300)
        assert p.page.locator("#vp-title").inner_text() == title
        p.page.select_option("#susp-kind", "ais_gap")
        p.page.fill("#susp-reason", "receiver shadow behind the island")
        p.page.click('#susp-panel [data-act="suspend"]')
        expect(p.page.locator("#susp-list")).to_contain_text("receiver shadow")
        # lifted from the list, by the supervisor
        p.page.locator("#susp-list li", has_text="refit").locator('[data-act="lift"]').click()
        expect(p.page.locator("#susp-list li", has_text="refit")).to_contain_text("lifted by sup")
        p.page.keyboard.press("Escape")  # now the panel closes
        assert p.page.locator("#vessel-panel").is_hidden()
        p.page.locator("#susp-list li", has_text="receiver shadow").locator(
            '[data-act="show"]'
        ).click()
        p.page.wait_for_timeout(900)  # the flight to the box
        _doc_shot(p, "suspensions")
        # the analytics get the areas: loitering in the fishing grounds rings no more
        in_force = s.run(_in_force(s))
        assert sorted((x["kind"], x["mmsi"] is None) for x in in_force) == [
            ("ais_gap", True),
            ("loitering", True),
        ]
        analyzer = Analyzer()
        analyzer.set_suspensions(in_force)
        loiter = (
            Track(419_100_009, -15.0, 75.0, start=time.time() - 7200)
            .sail(minutes=30, sog=12, cog=90)
            .sail(90, 0.8, 200)
        )
        changes = analyzer.process(loiter.records)
        assert [c for c in changes if c.alert.kind == "loitering"] == []
        assert analyzer.stats["alerts_suspended"] == 1
        actions = s.sql(
            "SELECT action, count(*) FROM audit_log WHERE actor = 'sup'"
            " AND action LIKE 'suspension.%%' GROUP BY action ORDER BY action"
        )
        assert actions == [("suspension.create", 2), ("suspension.lift", 1)]
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


async def _in_force(s):
    async with await psycopg.AsyncConnection.connect(s.db_url, autocommit=True) as c:
        return await store_desk.suspensions_in_force(c)


def test_live_panel_follow_sound_test_mute_escape_and_the_legend_remembered(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    s = serve(db_url, tmp_path, 40)
    mmsi = 419_100_005
    p = Page(browser)

    def fix(lat, lon, sog):
        s.call(
            s.hub.on_batch,
            [
                PositionReport(
                    ts=time.time(),
                    mmsi=mmsi,
                    lat=lat,
                    lon=lon,
                    sog=sog,
                    cog=45.0,
                    heading=45,
                    msg_type=1,
                    source="live",
                )
            ],
            [],
        )

    def centre():
        return p.page.evaluate(
            "() => { const c = window.mdaMap.map.getCenter(); return [c.lat, c.lng]; }"
        )

    try:
        _login(p, s)
        # the vessel panel follows the live data: position, speed, last seen
        p.page.evaluate(f"window.mdaMap.selectVessel({mmsi})")
        p.page.wait_for_selector("#vp-position")
        fix(9.5, 73.5, 14.2)
        expect(p.page.locator("#vp-sog")).to_contain_text("14.2 kn")
        expect(p.page.locator("#vp-position")).to_have_text("09°30.000′N 073°30.000′E")
        expect(p.page.locator("#vp-last-seen")).to_contain_text(" s ago")
        seen = p.page.locator("#vp-last-seen").inner_text()
        p.page.wait_for_function(
            "(t) => document.getElementById('vp-last-seen').innerText !== t", arg=seen, timeout=4000
        )  # "last seen" moves on without new data
        p.page.evaluate("() => { window.mdaMap.map.setView([9.5, 73.5], 9, {animate: false}); }")
        # without follow the map stays where the officer put it
        fix(9.5, 74.3, 14.2)
        expect(p.page.locator("#vp-position")).to_contain_text("074°18.000′E")
        p.page.wait_for_timeout(1200)
        assert abs(centre()[1] - 73.5) < 1e-6
        # f follows (a real key press): the map brings the vessel back into view, clear of
        # the panel, and keeps it there as it sails on
        p.page.locator("#map").focus()
        p.page.keyboard.press("f")
        expect(p.page.locator('#vp-body [data-tool="follow"]')).to_have_attribute(
            "aria-pressed", "true"
        )

        def in_view():
            return p.page.evaluate(f"""() => {{ const v = window.mdaMap.vesselPosition({mmsi});
                const pt = window.mdaMap.latLngToPoint(v.lat, v.lon);
                const panel = document.getElementById('vessel-panel').getBoundingClientRect();
                const map = document.getElementById('map').getBoundingClientRect();
                return pt.x > 0 && map.left + pt.x < panel.left && pt.y > 0 && pt.y < map.height; }}""")

        p.page.wait_for_timeout(1500)
        assert in_view()
        fix(9.5, 75.0, 14.2)
        p.page.wait_for_timeout(2500)
        assert in_view() and centre()[1] > 74.0
        # Esc ends the innermost thing: the measurement first, the panel stays; then the panel
        p.page.locator('#vp-body [data-tool="measure"]').click()
        assert p.page.locator("#measure-out").is_visible()
        p.page.keyboard.press("Escape")
        assert p.page.locator("#measure-out").is_hidden()
        assert p.page.locator("#vessel-panel").is_visible()
        p.page.keyboard.press("Escape")
        assert p.page.locator("#vessel-panel").is_hidden()
        # sound: the test button plays once; mute is lasting, silence runs out, and they differ
        stats = lambda: p.page.evaluate("window.mdaMap.stats()")  # noqa: E731
        p.page.click("#sound-test")
        p.page.wait_for_function("() => window.mdaMap.soundState() === 'on'")
        assert stats()["soundTests"] == 1
        p.page.click("#mute")
        assert p.page.evaluate("window.mdaMap.soundState()") == "muted"
        assert p.page.locator("#mute").get_attribute("aria-pressed") == "true"
        assert p.page.locator("#silence").is_disabled()
        beeps = stats().get("beeps", 0)
        _raise(s, "muted-alarm")
        p.page.wait_for_function("() => window.mdaMap.alerts().length === 1")
        p.page.wait_for_timeout(5500)  # longer than the 5 s repeat
        assert stats().get("beeps", 0) == beeps, "a muted desk beeped"
        assert "Muted" in p.page.locator("#sound-state").inner_text()
        p.page.click("#mute")  # unmuted: the ringing alarm is heard again
        p.page.wait_for_function(
            f"() => (window.mdaMap.stats().beeps || 0) > {beeps}", timeout=7000
        )
        p.page.click("#silence")
        assert p.page.evaluate("window.mdaMap.soundState()") == "silenced"
        assert p.page.locator("#mute").is_enabled()
        beeps = stats()["beeps"]
        p.page.wait_for_timeout(5500)
        assert stats()["beeps"] == beeps, "a silenced desk beeped"
        label = p.page.locator("#sound-state").inner_text()
        assert "Silenced 2" in label, label  # counting down from 30 s: it runs out by itself
        # the legend, collapsed, stays collapsed after a reload
        p.page.click("#legend-toggle")
        assert p.page.locator("#legend-body").is_hidden()
        p.page.reload()
        _ready(p.page)
        assert p.page.locator("#legend-body").is_hidden()
        assert p.page.get_attribute("#legend-toggle", "aria-expanded") == "false"
        p.page.click("#legend-toggle")
        assert p.page.locator("#legend-body").is_visible()
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_logout_in_one_tab_ends_every_tab(db_url, tmp_path, browser):  # noqa: F811
    s = serve(db_url, tmp_path, 20)
    p = Page(browser)
    try:
        p.page.goto(s.url + "/")
        p.page.fill("#username", "alice")
        p.page.fill("#password", "correct horse")
        p.page.click("button[type=submit]")
        p.page.wait_for_url(s.url + "/")
        _ready(p.page)
        other = p.context.new_page()  # a second tab of the same browser, same login
        other.route("**/*", p._route)
        other.goto(s.url + "/")
        _ready(other)
        p.page.click("#logout-form button")
        p.page.wait_for_url(s.url + "/login")
        other.wait_for_url(lambda u: urlsplit(u).path == "/login", timeout=5000)
        # and it stays out: the session is over for it too
        other.goto(s.url + "/")
        assert urlsplit(other.url).path == "/login"
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_top_bar_fits_at_1024_by_768_and_the_panel_keeps_the_vessel_clear(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    s = serve(db_url, tmp_path, 40)
    p = Page(browser, 1024, 768)
    try:
        _login(p, s)
        _raise(s, "banner", "critical")  # the alarm banner takes its room in the bar too
        expect(p.page.locator("#alarm-banner")).to_be_visible()

        def overflow():
            return p.page.evaluate("""() => {
            const bar = document.getElementById('topbar'), w = window.innerWidth;
            const out = Array.from(bar.querySelectorAll('*')).filter((e) => {
              const r = e.getBoundingClientRect(); return r.width > 0 && r.right > w + 0.5; })
              .map((e) => e.id || e.className || e.tagName);
            return {out, doc: document.documentElement.scrollWidth - w, bar: bar.scrollWidth - bar.clientWidth}; }""")

        assert overflow() == {"out": [], "doc": 0, "bar": 0}, overflow()
        assert p.page.locator("#logout-form button").is_visible()
        assert p.page.locator("#sound-state").is_visible()
        # a vessel selected at this size is flown to the left of the panel, not under it
        mmsi = 419_100_005
        p.page.evaluate(f"window.mdaMap.selectVessel({mmsi})")
        p.page.wait_for_timeout(1200)
        clear = p.page.evaluate(f"""() => {{ const v = window.mdaMap.vesselPosition({mmsi});
            const pt = window.mdaMap.latLngToPoint(v.lat, v.lon);
            const map = document.getElementById('map').getBoundingClientRect();
            return document.getElementById('vessel-panel').getBoundingClientRect().left - (map.left + pt.x); }}""")
        assert clear > 0, clear
        p.shot("desk-1024")
        for width, height in ((1280, 800), (1440, 900)):
            p.page.set_viewport_size({"width": width, "height": height})
            p.page.wait_for_timeout(200)
            assert overflow() == {"out": [], "doc": 0, "bar": 0}, (width, overflow())
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)


def test_sea_area_counters_count_vessels_and_open_alerts_where_they_are(
    db_url,
    tmp_path,
    browser,  # noqa: F811
):
    gulf = _alert("g", "loitering", "medium", 419_100_001, 26.5, 52.0)  # Persian Gulf
    aden = [_alert(f"a{i}", "encounter", "high", 419_100_002 + i, 12.0, 45.0) for i in range(2)]
    ended = _alert("x", "ais_gap", "medium", 419_100_009, 26.6, 52.1)
    ended.alert.end = NOW - 600
    s = serve(db_url, tmp_path, 80, [gulf, *aden, ended])
    p = Page(browser)
    try:
        _login(p, s)
        p.page.click("#areas-toggle")
        expect(p.page.locator("#areas-panel")).to_be_visible()

        def row(name: str) -> list[str]:
            cells = p.page.locator(f'#areas-body tr[data-area="{name}"] > *')
            return [c.inner_text() for c in cells.all()]

        # an ended gap still waits on the desk (unacknowledged): it counts with the loitering
        name, _vessels, open_, kinds = row("Persian Gulf")
        assert name == "Persian Gulf" and kinds.startswith("AIS gap 1") and open_ == "2"
        assert "Loitering 1" in kinds
        assert row("Gulf of Aden")[2:] == ["2", "Encounter 2"]
        # every vessel is counted once, in one area
        total = p.page.evaluate("window.mdaMap.totalVessels()")
        counted = sum(
            int(c.inner_text().replace(",", ""))
            for c in p.page.locator("#areas-body tr > td:nth-child(2)").all()
        )
        assert counted == total == 80
        # a row flies the map to its area
        p.page.click('#areas-body tr[data-area="Gulf of Aden"] th')
        p.page.wait_for_timeout(1200)
        c = p.page.evaluate(
            "(() => { const c = window.mdaMap.map.getCenter(); return [c.lat, c.lng]; })()"
        )
        assert 10.4 <= c[0] <= 15.5 and 43.2 <= c[1] <= 51.5, c
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)
