"""The live WebSocket (``/api/live``, through httpx-ws) and its hub: positions coalesced
per vessel, alerts, feed status, refusals, slow browsers, sockets closed once their
login ends, alert times in UTC."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from web_support import (
    BASE,
    NOW,
    Web,
    alert_change,
    make_settings,
    vessel,
)

from mda.store.accounts import create_token
from mda.web.app import create_app
from mda.web.live import LiveHub, alert_of_frame

pytestmark = pytest.mark.integration


async def _ws_app(web: Web):
    return httpx.AsyncClient(transport=ASGIWebSocketTransport(app=web.app), base_url=BASE)


async def _next(ws, kind: str, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.receive_text())
            if msg["type"] == kind:
                return msg


async def _closed_with(ws, timeout: float = 5.0) -> int:
    """Read frames until the server closes the socket; its close code."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await ws.receive_text()
            except WebSocketDisconnect as e:
                return e.code


class _StuckSocket:
    """A socket whose sends block until released: a browser on a saturated link."""

    def __init__(self):
        self.sent: list[str] = []
        self.release = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(text)


async def test_live_pushes_positions_alerts_and_feed_status(web):
    officer = await web.token("officer", owner="olive")
    async with (
        await _ws_app(web) as client,
        aconnect_ws("/api/live", client, headers=officer) as ws,
    ):
        hello = await _next(ws, "hello")
        assert hello["user"] == "olive" and hello["role"] == "officer"
        assert hello["fields"][:3] == ["mmsi", "lat", "lon"]
        assert hello["feeds"][0]["name"] == "tcp-mumbai"
        status = await _next(ws, "status")
        assert status["feeds"][0]["last_message_age_s"] == 2.5

        p1, s1 = vessel(419000077, 10.0, 60.0, ts=NOW, name="LIVE ONE")
        p2, _ = vessel(419000077, 10.01, 60.02, ts=NOW + 1)
        web.hub.on_batch([p1], [s1])
        web.hub.on_batch([p2], [])  # coalesced: only the newest fix goes out
        msg = await _next(ws, "positions")
        assert msg["vessels"] == [[419000077, 10.01, 60.02, 12.0, 90.0, 91, 0, round(NOW + 1, 3)]]
        assert msg["statics"]["419000077"]["name"] == "LIVE ONE"

        [row] = await web.alerts(
            alert_change("live-1", kind="distress_beacon", severity="critical")
        )
        await web.hub.publish_alert(row)
        msg = await _next(ws, "alert")
        assert msg["change"] == "opened" and alert_of_frame(msg)["id"] == row["id"]
        assert alert_of_frame(msg)["severity"] == "critical"
        assert msg["event"]["type"] == "org.mda.alert.distress_beacon.v1"

        r = await web.client.post(
            f"/api/alerts/{row['id']}/ack", json={"note": "seen"}, headers=officer
        )
        assert r.status_code == 200
        msg = await _next(ws, "alert")
        assert msg["change"] == "acknowledged"
        alert = alert_of_frame(msg)
        assert alert["status"] == "acknowledged" and alert["acknowledged_by"] == "olive"
        # the pushed alert has the same fields as the REST list
        listed = (await web.client.get("/api/alerts", headers=officer)).json()["alerts"][0]
        assert set(alert) == set(listed)


async def test_live_at_most_once_a_second_per_vessel(migrated, tmp_path):
    hub = LiveHub(interval=1.0, status_interval=60)
    app = create_app(make_settings(tmp_path), migrated, hub=hub)
    async with LifespanManager(app) as m:
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            tok = await create_token(c, "t", "viewer")
        client = httpx.AsyncClient(transport=ASGIWebSocketTransport(app=m.app), base_url=BASE)
        async with (
            client,
            aconnect_ws("/api/live", client, headers={"Authorization": f"Bearer {tok}"}) as ws,
        ):
            await _next(ws, "hello")
            t0 = time.monotonic()
            i = 0
            while time.monotonic() - t0 < 3.5:
                i += 1
                hub.on_batch([vessel(419000088, 10 + i * 1e-4, 60, ts=NOW + i)[0]], [])
                await asyncio.sleep(0.02)  # ~50 reports a second
            frames = []
            async with asyncio.timeout(3):
                while len(frames) < 3:
                    msg = json.loads(await ws.receive_text())
                    if msg["type"] == "positions":
                        frames.append(msg)
    # each frame carries the vessel once, and frames leave the hub a second apart
    assert all(len(f["vessels"]) == 1 for f in frames)
    gaps = [b["t"] - a["t"] for a, b in zip(frames, frames[1:], strict=False)]
    assert all(g > 0.9 for g in gaps), gaps
    assert frames[-1]["vessels"][0][7] > frames[0]["vessels"][0][7]  # newest fix each time
    assert i > 30  # many reports went in (fewer on a loaded machine), three frames came out


async def test_live_refuses_without_credentials(web):
    async with await _ws_app(web) as client:
        with pytest.raises(Exception) as info:
            async with aconnect_ws("/api/live", client) as ws:
                await ws.receive_text()
        assert "4401" in repr(info.value) or "401" in repr(info.value)


def _alert_size(hub: LiveHub) -> int:
    """The bytes of one alert frame as the tests below push them."""
    from mda.store.alerts import alert_message
    from mda.web.live import _frame, alert_frame

    row = {"id": 10, "kind": "loitering", "change": "opened"}
    return _frame(alert_frame(alert_message(row), hub.source, hub.signing_key)).size


async def test_a_slow_browser_drops_old_positions_but_never_alerts_and_blocks_nobody():
    from mda.web.live import _Client

    hub = LiveHub()
    hub.on_batch([vessel(419000100, 10, 60, ts=NOW)[0]], [])
    hub.flush()  # the size of one position frame (no client yet)
    pos_size = len(json.dumps(json.loads(_frame_of(hub)), separators=(",", ":")))
    slow_ws, fast_ws = _StuckSocket(), _StuckSocket()
    fast_ws.release.set()
    budget = 4 * pos_size + 5 * _alert_size(hub)  # 4 alerts, at least 4 position frames
    slow, fast = _Client(slow_ws, budget), _Client(fast_ws, budget)
    hub._clients |= {slow, fast}
    tasks = [asyncio.create_task(c.send_loop()) for c in (slow, fast)]
    try:
        for i in range(20):
            hub.on_batch([vessel(419000100 + i, 10, 60, ts=NOW + i)[0]], [])
            hub.flush()
            if i % 5 == 0:
                await hub.publish_alert({"id": i, "kind": "loitering", "change": "opened"})
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        # the fast one got everything, at once
        fast_types = [json.loads(m)["type"] for m in fast_ws.sent]
        assert fast_types.count("positions") == 20 and fast_types.count("alert") == 4
        assert not slow_ws.sent  # still stuck
        # its backlog is bounded in bytes: the alerts all wait, positions make up the rest
        assert slow.queued_bytes <= budget
        assert len(slow.alerts) == 4 and 1 <= len(slow.positions) < 20
        slow_ws.release.set()
        await asyncio.sleep(0.05)
        types = [json.loads(m)["type"] for m in slow_ws.sent]
        assert types.count("alert") == 4  # none lost
        assert "resync" in types  # told to reload what it missed
        assert types.count("positions") < 20
        assert hub.stats["clients_dropped_frames"] > 0
        # one encoding per frame: every client is handed the same bytes
        slow_alert = [m for m in slow_ws.sent if '"alert"' in m][-1]
        fast_alert = [m for m in fast_ws.sent if '"alert"' in m][-1]
        assert slow_alert.encode() is fast_alert.encode()
    finally:
        for t in tasks:
            t.cancel()


def _frame_of(hub) -> str:
    ws = _StuckSocket()
    from mda.web.live import _Client

    c = _Client(ws, 1 << 20)
    hub._clients.add(c)
    hub.on_batch([vessel(419000999, 10, 60, ts=NOW)[0]], [])
    hub.flush()
    hub._clients.discard(c)
    return c.positions[0]


async def test_a_browser_whose_alerts_pile_up_or_that_stops_reading_is_dropped_and_counted():
    from mda.web.live import _Client

    hub = LiveHub()
    stuck = _StuckSocket()
    client = _Client(stuck, int(2.5 * _alert_size(hub)))  # room for about two alerts
    hub._clients.add(client)
    client.task = asyncio.create_task(client.send_loop())
    for i in range(5):
        await hub.publish_alert({"id": i, "kind": "loitering", "change": "opened"})
    await asyncio.sleep(0.05)
    assert client.too_slow and client.task.cancelled()
    # one that takes a frame but never finishes sending it: the send time-out drops it
    hub2 = LiveHub(send_timeout_s=0.1)
    client2 = _Client(_StuckSocket(), 1 << 20, send_timeout=0.1)
    hub2._clients.add(client2)
    task = asyncio.create_task(client2.send_loop())
    await hub2.publish_alert({"id": 1, "kind": "loitering", "change": "opened"})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(task, 2)
    assert client2.too_slow


def test_the_hub_forgets_vessels_unheard_for_a_while_and_keeps_at_most_its_maximum():
    hub = LiveHub(vessel_ttl_s=60, max_vessels=1000)
    t0 = time.monotonic()
    hub.on_batch([vessel(200000000 + i, 10, 60, ts=NOW)[0] for i in range(900)], [])
    assert hub.vessel_count == 900
    assert hub.prune(t0 + 30) == 0
    hub.on_batch([vessel(300000000 + i, 10, 60, ts=NOW)[0] for i in range(500)], [])
    assert hub.prune(t0 + 30) == 400 and hub.vessel_count == 1000  # the oldest heard go
    assert hub.prune(time.monotonic() + 61) == 1000 and hub.vessel_count == 0
    assert hub.stats["vessels_forgotten"] == 1400
    # a million MMSIs, each heard once, never hold more than the maximum
    for start in range(0, 1_000_000, 100_000):
        hub.on_batch([vessel(start + i, 10, 60, ts=NOW)[0] for i in range(100_000)], [])
        hub.prune()
        assert hub.vessel_count <= 1000
    assert len(hub._latest) <= 1000 and len(hub._statics) <= 1000


@pytest.mark.parametrize("how", ["logout", "disable", "revoke_token", "revoke_link_token"])
async def test_live_socket_closes_4401_once_the_login_ends(web, how):
    """The login is re-checked while the socket is open (every auth_recheck_s; 0.2 s here),
    not only when it opens."""
    headers, cookies = {}, None
    if how in ("logout", "disable"):
        await web.user("lena", "viewer")
        assert (await web.login("lena")).status_code == 303
        cookies = web.client.cookies
    elif how == "revoke_token":
        headers = await web.token("viewer", owner="wall-display")
    else:  # a session made from a one-click link
        token = (await web.token("viewer", owner="link"))["Authorization"].split()[1]
        assert (await web.link_login(token)).status_code == 303
        cookies = web.client.cookies
    async with httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app=web.app), base_url=BASE, cookies=cookies
    ) as client:
        async with aconnect_ws("/api/live", client, headers=headers) as ws:
            await _next(ws, "hello")
            # while the login is valid, the re-checks leave the socket alone
            t0 = time.monotonic()
            while time.monotonic() - t0 < 0.8:
                await _next(ws, "status")
            if how == "logout":
                r = await web.client.post("/logout", headers={"X-CSRF-Token": await web.csrf()})
                assert r.status_code == 303
            elif how == "disable":
                await web.sql("UPDATE users SET disabled = true WHERE name = 'lena'")
            else:
                await web.sql("UPDATE api_tokens SET revoked_at = now()")
            assert await _closed_with(ws) == 4401
    assert web.hub.stats["clients_logged_out"] == 1
    assert web.hub.client_count == 0


async def test_live_alert_times_are_sent_in_utc():
    """Alert rows reach the hub from the analytics' own connections, in whatever time zone
    those run: the frames carry UTC."""
    from mda.web.live import _Client

    hub = LiveHub()
    ws = _StuckSocket()
    ws.release.set()
    client = _Client(ws, 1 << 20)
    hub._clients.add(client)
    task = asyncio.create_task(client.send_loop())
    try:
        kolkata = timezone(timedelta(hours=5, minutes=30))
        t = datetime(2031, 1, 1, 3, 30, tzinfo=kolkata)
        await hub.publish_alert(
            {
                "id": 1,
                "kind": "loitering",
                "change": "opened",
                "start": t,
                "created_at": t,
                "updated_at": t,
            }
        )
        await asyncio.sleep(0.05)
        [frame] = [json.loads(m) for m in ws.sent]
        alert = alert_of_frame(frame)
        assert alert["start"] == "2030-12-31T22:00:00+00:00"
        assert alert["created_at"] == alert["updated_at"] == alert["start"]
    finally:
        task.cancel()


def test_the_hub_builds_no_position_frames_while_no_map_is_open():
    """Frames for nobody cost a seventh of the service's CPU under a full feed; a map that
    opens loads the whole picture first, then gets what moves from then on."""
    hub = LiveHub()
    hub.on_batch([vessel(419000100, 10, 60, ts=NOW)[0]], [])
    assert hub.flush() == 0 and hub.stats["frames"] == 0
    frame = json.loads(_frame_of(hub))
    assert [v[0] for v in frame["vessels"]] == [419000999] and hub.stats["frames"] == 1
    assert hub.vessel_count == 2  # still remembered for the snapshot
