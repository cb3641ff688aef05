"""``mda serve --role ...`` as separate processes on real TimescaleDB and Mosquitto (issue 15).

1. Two ingest processes reading the same TCP feed of 100,000 messages (with AIS-SART
   beacons, each of which raises a distress alert), two core processes and a web process
   with a logged-in WebSocket. The leading core is killed with SIGKILL halfway through the
   feed: the standby must lead within 10 s; in the end every position sent is stored
   exactly once (though each was delivered twice), every beacon's alert is there once,
   and the WebSocket went on receiving alerts and positions after the failover.
2. Two web processes: an alert acknowledged on one shows as acknowledged on the other's
   WebSocket within 2 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import websockets
from bench.bench_latency import position_sentence
from support import free_port, wait_until

from mda.store.accounts import create_token
from mda.store.db import connect
from mda.store.migrate import upgrade
from mda.web.live import alert_of_frame

pytestmark = pytest.mark.slow

N = 100_000
RATE = 7_000  # messages a second
VESSELS = 10_000
SARTS = 20  # beacons, spread over the feed: some before the failover, some after
SART_BASE = 970_100_000


def _checksum(text: str) -> str:
    c = 0
    for ch in text.encode():
        c ^= ch
    return f"{c:02X}"


def _feed_lines(t0: int) -> tuple[list[bytes], set[int], list[int], int]:
    """N lines with NMEA 4.10 tag blocks (event time ``c:``), every payload unique; the
    beacons' MMSIs, the index of each beacon's first report, how many MMSIs in all."""
    lines: list[bytes] = []
    mmsis: set[int] = set()
    starts = [2_500 + j * (N // SARTS) for j in range(SARTS)]
    sart_at = {}
    for j, i in enumerate(starts):
        for r in range(3):  # three reports, 2,000 messages apart
            sart_at[i + r * 2_000] = (j, r)
    for i in range(N):
        ts = t0 + i // RATE
        tag = f"s:rx1,c:{ts}"
        if i in sart_at:
            j, r = sart_at[i]
            s = position_sentence(SART_BASE + j, -8.0 + r * 0.001, 72.0, 0.0, 0.0, r, 14)
            mmsis.add(SART_BASE + j)
        else:
            v, k = i % VESSELS, i // VESSELS
            lat = -30 + (v * 7919 % 5000) / 100 + k * 0.001
            lon = 45 + (v * 104729 % 5000) / 100 + k * 0.001
            s = position_sentence(200_000_000 + v * 37, lat, lon, 10.0, (v * 13) % 360, k)
            mmsis.add(200_000_000 + v * 37)
        lines.append(f"\\{tag}*{_checksum(tag)}\\{s}".encode())
    return lines, {SART_BASE + j for j in range(SARTS)}, starts, len(mmsis)


class FeedServer(threading.Thread):
    """Serves the lines to each of ``clients`` readers at RATE a second (10 ms ticks), all
    at once, from ``go`` on: two ingest processes reading the same feed."""

    def __init__(self, lines: list[bytes], clients: int = 2):
        super().__init__(daemon=True, name="feed")
        self.lines = lines
        self.clients = clients
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(90)
        self.port = self.srv.getsockname()[1]
        self.counts = [0] * clients
        self.done = threading.Event()
        self.go = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    @property
    def sent(self) -> int:
        return min(self.counts)

    def run(self) -> None:
        try:
            conns = [self.srv.accept()[0] for _ in range(self.clients)]
            self.go.wait(90)
            senders = [
                threading.Thread(target=self._send, args=(k, c), daemon=True)
                for k, c in enumerate(conns)
            ]
            for t in senders:
                t.start()
            for t in senders:
                t.join()
            self.done.set()
            self.stop.wait(120)  # keep the connections: a reconnect would read nothing new
            for c in conns:
                c.close()
        except BaseException as e:  # reported by the test
            self.error = e
            self.done.set()
        finally:
            self.srv.close()

    def _send(self, k: int, conn: socket.socket) -> None:
        per_tick = RATE // 100
        start = time.monotonic()
        tick = 0
        while self.counts[k] < len(self.lines) and not self.stop.is_set():
            chunk = self.lines[self.counts[k] : self.counts[k] + per_tick]
            conn.sendall(b"".join(chunk))
            self.counts[k] += len(chunk)
            tick += 1
            delay = start + tick * 0.01 - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class LiveClient(threading.Thread):
    """A logged-in WebSocket on ``/api/live``: every frame with its arrival time."""

    def __init__(self, port: int, token: str):
        super().__init__(daemon=True, name="ws")
        self.url = f"ws://127.0.0.1:{port}/api/live"
        self.token = token
        self.frames: list[tuple[float, dict]] = []
        self.hello = threading.Event()
        self.closed: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        while not self._halt.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    max_size=None,
                ) as ws:
                    while not self._halt.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.3)
                        except TimeoutError:
                            continue
                        msg = json.loads(raw)
                        if msg.get("type") == "hello":
                            self.hello.set()
                        self.frames.append((time.monotonic(), msg))
            except (OSError, websockets.WebSocketException) as e:
                self.closed.append(repr(e))
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def alerts(self, since: float = 0.0) -> list[dict]:
        """The alert frames since then, as {"change", "alert"} (the alert's fields)."""
        return [
            {"change": m["change"], "alert": alert_of_frame(m)}
            for t, m in list(self.frames)
            if m.get("type") == "alert" and t >= since
        ]

    def positions(self, since: float = 0.0) -> int:
        return sum(
            len(m["vessels"])
            for t, m in list(self.frames)
            if m.get("type") == "positions" and t >= since
        )


class Cluster:
    """The processes of one test, their logs, and a clean stop."""

    def __init__(self, tmp: Path, db_url: str, mqtt_url: str):
        self.tmp, self.db_url = tmp, db_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
        self.env.update(MDA_MQTT_URL=mqtt_url, MDA_LOG_LEVEL="INFO")
        self.procs: dict[str, tuple[subprocess.Popen, int, Path]] = {}

    def start(self, name: str, role: str, *extra: str) -> int:
        port = free_port()
        log = self.tmp / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "mda", "serve", "--role", role, "--port", str(port)]
            + ["--database", self.db_url, "--data-dir", str(self.tmp / name), *extra],
            cwd=self.tmp,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = (proc, port, log)
        return port

    def health(self, name: str) -> dict | None:
        port = self.procs[name][1]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None

    def log(self, name: str) -> str:
        return self.procs[name][2].read_text(errors="replace")

    def up(self, name: str, timeout: float = 60) -> dict:
        def check():
            proc = self.procs[name][0]
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited ({proc.returncode}): {self.log(name)[-2000:]}")
            h = self.health(name)
            return h if h and h.get("status") in ("ok", "degraded") else None

        return wait_until(check, timeout, f"{name} to answer /healthz")

    def stop(self) -> dict[str, int | str]:
        """SIGTERM to each process still running; each one's exit status ("killed" for
        one that did not stop within 20 s)."""
        for proc, _, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        out: dict[str, int | str] = {}
        for name, (proc, _, _) in self.procs.items():
            try:
                out[name] = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                out[name] = "killed"
        return out


def _token(db_url: str, role: str) -> str:
    """The schema, and an API token with ``role`` (in this process: one start-up less)."""
    with psycopg.connect(db_url) as conn:
        upgrade(conn)

    async def make() -> str:
        async with await connect(db_url) as conn:
            token = await create_token(conn, "failover-test", role)
            await conn.commit()
            return token

    return asyncio.run(make())


def _count(db_url: str, sql: str, *params):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_the_standby_core_takes_over_and_nothing_is_lost_or_stored_twice(
    db_url, mqtt_broker, mqtt_topic, tmp_path
):
    c = Cluster(tmp_path, db_url, f"{mqtt_broker.url}/{mqtt_topic}")
    t0 = time.monotonic()
    token = _token(db_url, "viewer")
    lines, sarts, sart_starts, n_mmsi = _feed_lines(int(time.time()) + 5)
    feed = FeedServer(lines)
    feed.start()
    try:
        c.start("core1", "core")
        c.start("core2", "core")
        web = c.start("web", "web")
        # Two ingest processes read the same feed (each position must still be stored
        # once); they connect at once, and the feed starts once a core leads.
        for name in ("ingest1", "ingest2"):
            c.start(name, "ingest", "--source", f"tcp://127.0.0.1:{feed.port}")
        for name in ("core1", "core2", "web", "ingest1", "ingest2"):
            c.up(name)
        leader = wait_until(
            lambda: next(
                (n for n in ("core1", "core2") if (c.health(n) or {}).get("leader")), None
            ),
            30,
            "a core to lead",
        )
        t_up = time.monotonic()
        standby = "core2" if leader == "core1" else "core1"
        assert c.health(standby)["leader"] is False and c.health(standby)["role"] == "core"
        # The leader's persistent session exists before anything is published.
        wait_until(lambda: "receiving records" in c.log(leader), 30, "the leader to subscribe")
        ws = LiveClient(web, token)
        ws.start()
        assert ws.hello.wait(15), ws.closed
        feed.go.set()
        t_go = time.monotonic()

        wait_until(lambda: feed.sent >= N // 2, 60, "half the feed to be sent", every=0.02)
        c.procs[leader][0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: (c.health(standby) or {}).get("leader"), 10, "the standby to lead")
        took = time.monotonic() - killed
        assert took < 10
        # `mda status` across the processes says who leads now, and which one is gone
        urls = {n: f"http://127.0.0.1:{c.procs[n][1]}" for n in (leader, standby, "web")}
        st = subprocess.run(
            [sys.executable, "-m", "mda", "status", "--database", db_url, "--token", token]
            + [arg for n in (leader, standby, "web") for arg in ("--url", urls[n])],
            capture_output=True,
            text=True,
            env=c.env,
            timeout=60,
        )
        assert st.returncode == 1, st.stdout + st.stderr  # one process named does not answer
        heads = {
            n: [ln.strip() for ln in st.stdout.splitlines() if ln.strip().startswith(urls[n] + ":")]
            for n in urls
        }
        out = st.stdout
        assert heads[standby] and heads[standby][0].startswith(
            f"{urls[standby]}: role core, leader, "
        ), out
        assert heads["web"] and heads["web"][0].startswith(f"{urls['web']}: role web, ok"), out
        assert heads[leader] and "role" not in heads[leader][0], out  # killed: an error

        assert feed.done.wait(60) and feed.error is None, feed.error
        t_sent = time.monotonic()
        stored = wait_until(
            lambda: (n := _count(db_url, "SELECT count(*) FROM positions")) >= N and n,
            45,
            "every position to be stored",
            every=0.5,
        )
        time.sleep(1.0)  # anything stored twice would show now
        stored = _count(db_url, "SELECT count(*) FROM positions")
        assert stored == N, f"{stored} rows for {N} unique positions"
        assert (
            _count(
                db_url,
                "SELECT count(*) FROM (SELECT mmsi, time, lat, lon FROM positions "
                "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d",
            )
            == 0
        )
        assert _count(db_url, "SELECT count(DISTINCT mmsi) FROM positions") == n_mmsi
        # The raw archive holds each line once too.
        assert _count(db_url, "SELECT sum(n) FROM raw_chunks") == N

        # Every beacon's alert, once.
        wait_until(
            lambda: (
                _count(db_url, "SELECT count(*) FROM alerts WHERE kind = 'distress_beacon'")
                >= SARTS
            ),
            15,
            "every beacon's alert",
        )
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT mmsi, count(*) FROM alerts WHERE kind = 'distress_beacon' GROUP BY mmsi"
            ).fetchall()
        assert {m for m, _ in rows} == sarts
        assert all(n == 1 for _, n in rows), rows

        # The WebSocket went on: alerts of beacons first heard after the failover, and
        # positions, arrived after it.
        after = sorted(SART_BASE + j for j, i in enumerate(sart_starts) if i > N // 2 + RATE)
        wait_until(
            lambda: {a["alert"]["mmsi"] for a in ws.alerts(killed)} >= set(after),
            10,
            "the alerts raised after the failover on the WebSocket",
        )
        assert ws.positions(killed + took) > 1000
        # The map's feed chips: the ingest processes' feeds, relayed to the web process.
        chips = [
            f
            for _, m in list(ws.frames)
            if m.get("type") == "status"
            for f in m.get("feeds", [])
            if f.get("state") == "running" and f.get("lines", 0) > 0
        ]
        assert len({f["node"] for f in chips}) == 2 and {f["uri"] for f in chips} == {
            f"tcp://127.0.0.1:{feed.port}"
        }
        opened = [a for a in ws.alerts() if a["change"] == "opened"]
        assert len({a["alert"]["key"] for a in opened}) == len(opened)  # none rang twice
        ws.stop()
        codes = c.stop()  # the survivors stop cleanly on SIGTERM
        assert codes == {**{n: 0 for n in c.procs}, leader: -signal.SIGKILL}, codes
        standby_log = c.log(standby)
        assert "took over" in standby_log and "Traceback" not in standby_log
        print(
            f"up {t_up - t0:.1f} s; fed from {t_go - t0:.1f} s; killed {killed - t0:.1f} s; "
            f"standby led {took:.1f} s after the SIGKILL; fed by {t_sent - t0:.1f} s; "
            f"{stored} positions stored once by {time.monotonic() - t0:.1f} s"
        )
    finally:
        c.stop()
        feed.go.set()
        feed.stop.set()


def test_an_acknowledgement_on_one_web_process_reaches_the_others_websocket(
    db_url, mqtt_broker, mqtt_topic, tmp_path
):
    c = Cluster(tmp_path, db_url, f"{mqtt_broker.url}/{mqtt_topic}")
    token = _token(db_url, "officer")
    with psycopg.connect(db_url) as conn:
        alert_id = conn.execute(
            "INSERT INTO alerts (key, kind, severity, mmsi, start, lat, lon, details) VALUES "
            "('loitering:235000001::1764000000', 'loitering', 'medium', 235000001, now(), "
            "-5, 70, '{}') RETURNING id"
        ).fetchone()[0]
    try:
        one, two = c.start("web1", "web"), c.start("web2", "web")
        c.up("web1"), c.up("web2")
        assert c.health("web1")["role"] == "web"
        ws = LiveClient(two, token)
        ws.start()
        assert ws.hello.wait(15), ws.closed
        wait_until(lambda: "live updates from" in c.log("web2"), 10, "web2 to subscribe")
        t = time.monotonic()
        r = httpx.post(
            f"http://127.0.0.1:{one}/api/alerts/{alert_id}/ack",
            headers={"Authorization": f"Bearer {token}"},
            json={"note": "seen from desk 1"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        got = wait_until(
            lambda: [a for a in ws.alerts(t) if a["alert"]["id"] == alert_id],
            2.0,
            "the acknowledgement on the other web process's WebSocket",
            every=0.02,
        )
        assert got[0]["change"] == "acknowledged"
        assert got[0]["alert"]["status"] == "acknowledged"
        assert got[0]["alert"]["acknowledged_by"]
        print(f"acknowledgement on the other web process after {time.monotonic() - t:.2f} s")
        ws.stop()
    finally:
        c.stop()
