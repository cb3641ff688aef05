"""`mda demo` as a newcomer runs it: embedded database, the scenario through the real
pipeline, a one-click login link, at least 5 kinds of alert within 2 minutes, and Ctrl-C
stopping everything cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import aiomqtt
import httpx
import psutil
from support import free_port

from mda.exchange.partner_feed import verify_event
from mda.exchange.signing import fingerprint, load_or_create_key

TOKEN = "demo-test-token-0123456789abcdef"


class _Listener(threading.Thread):
    """A partner's tool trying the demo's feed: everything on ``mda/v1/alerts/#``."""

    def __init__(self, broker) -> None:
        super().__init__(daemon=True)
        self.broker = broker
        self.ready = threading.Event()
        self.got: list[tuple[str, bytes]] = []

    def run(self) -> None:
        async def listen() -> None:
            try:
                async with aiomqtt.Client(self.broker.host, self.broker.port) as client:
                    await client.subscribe("mda/v1/alerts/#", qos=1)
                    self.ready.set()
                    async for m in client.messages:
                        self.got.append((str(m.topic), bytes(m.payload)))
            except aiomqtt.MqttError:  # the session's broker stops after the last test
                return

        asyncio.run(listen())


def test_demo_shows_five_kinds_of_alert_within_two_minutes_and_stops_cleanly(tmp_path, mqtt_broker):
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    env["MDA_DEMO_TOKEN"] = TOKEN
    # With a broker, the demo publishes its alerts on the partner feeds, for a partner to
    # try its own tools against (issue 12)
    env["MDA_MQTT_URL"] = mqtt_broker.url
    listener = _Listener(mqtt_broker)
    listener.start()
    assert listener.ready.wait(10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mda", "demo", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    started = time.monotonic()
    output: list[str] = []
    try:
        url = None
        while url is None and time.monotonic() - started < 60:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            m = re.search(r"open (http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            if m:
                url = m.group(1)
        assert url == f"http://127.0.0.1:{port}/?token={TOKEN}", "".join(output)

        # The one-click link logs a browser in: its page posts the token (a GET logs
        # nobody in), which sets the session cookie.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            page = web.get(f"/?token={TOKEN}", follow_redirects=False)
            assert page.status_code == 200 and "mda_session" not in page.headers.get(
                "set-cookie", ""
            ), page.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            r = web.post("/login/token", data={"token": TOKEN, "csrf": csrf})
            assert r.status_code in (302, 303, 307), r.text
            set_cookie = r.headers.get("set-cookie", "")
            assert "httponly" in set_cookie.lower(), set_cookie
            # The cookie is Secure (browsers honour it on localhost; httpx does not), so send
            # it back by hand, as a browser would.
            session = set_cookie.split(";", 1)[0]
            assert web.get("/api/vessels", headers={"Cookie": session}).status_code == 200

        headers = {"Authorization": f"Bearer {TOKEN}"}
        kinds: set[str] = set()
        vessels = 0
        while time.monotonic() - started < 120 and len(kinds) < 5:
            time.sleep(2)
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/alerts",
                headers=headers,
                params={"limit": 500},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            kinds = {a["kind"] for a in r.json()["alerts"]}

        def newest() -> tuple[int, str]:
            features = httpx.get(
                f"http://127.0.0.1:{port}/api/vessels", headers=headers, timeout=10
            ).json()["features"]
            return len(features), max(f["properties"]["last_seen"] for f in features)

        vessels, seen = newest()
        elapsed = time.monotonic() - started
        assert len(kinds) >= 5, f"after {elapsed:.0f} s only {sorted(kinds)}"
        assert vessels >= 100
        # The scenario runs ahead of the clock at 60x; past the first minute it must still
        # be taken (a future-time check would reject it), and it keeps moving.
        time.sleep(max(0.0, 80 - (time.monotonic() - started)))
        _, later = newest()
        time.sleep(3)
        _, latest = newest()
        assert seen < later < latest, (seen, later, latest)
    finally:
        # What systemd and `docker stop` send; Ctrl-C takes the same path (serve's test too).
        proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
        output.append(rest or "")
    log = "".join(output)
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log
    # every alert on the feed a signed CloudEvent, its kind in the topic
    events = [(topic, payload, json.loads(payload)) for topic, payload in listener.got]
    on_feed = {e["data"]["properties"]["kind"] for _, _, e in events}
    assert len(on_feed) >= 5, (sorted(on_feed), sorted(kinds))
    key = load_or_create_key(next(data.rglob("extract-signing-key.pem")).parent)
    for topic, payload, event in events:
        assert event["type"] == f"org.mda.alert.{event['data']['properties']['kind']}.v1"
        assert topic.startswith(f"mda/v1/alerts/{event['data']['properties']['kind']}/")
        verify_event(payload, event, key.public_key(), fingerprint(key))
    # The embedded PostgreSQL went down with it (it runs detached, so look for its data dir).
    pgdata = next(data.rglob("PG_VERSION")).parent
    assert not (pgdata / "postmaster.pid").exists(), log
    assert not [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or [])
    ]
