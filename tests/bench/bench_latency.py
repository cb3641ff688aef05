"""Alert and position latency of `mda serve` under a TCP load, measured from outside.

    python tests/bench/bench_latency.py [--rates 10000,25000] [--find-max] [--seconds 30]
                                        [--database URL]

For each rate R a load generator (its own process, on the same machine) serves NMEA over
TCP to `mda serve --source tcp://127.0.0.1:PORT` (a subprocess, on TimescaleDB): R ships,
each reporting its position (type 1, no tag block: the event time is the arrival time)
once a second, R messages a second spread evenly in 10 ms ticks. Injected at known times:

- four times a second, a new AIS-SART (MMSI 970xxxxxx) position report: the distress beacon
  rule alerts on that one sentence. Latency: from just before the write of the sentence
  to the `alert` frame (`distress_beacon`, that MMSI) arriving on the WebSocket;
- once a second, a position update of one of two marked vessels (MMSI 235999999 and
  235999998 in turn, each every 2 s, so no update is superseded within one push) at a new
  latitude. Latency: to the `positions` frame carrying that latitude (the hub pushes once
  a second, so up to 1 s of it is by design).

The WebSocket client logs in with a viewer token from `mda token create` (`WS
/api/live`, `Authorization: Bearer`). Prints p50/p99/max for both, the beacons delivered,
the rate the generator actually sent (TCP pushes back when the service falls behind) and
the largest `lag_s` the status frames reported. `--find-max` then raises the rate by
`--step` until p99 of alerts reaches 1 s or the rate cannot be sent; the highest rate with
alerts p99 < 1 s and >= 98 % of the rate sent is "sustained". Target (issue 16): alerts
p99 < 1 s at 25,000 messages/s.

Without --database (or $MDA_BENCH_DATABASE_URL, an admin URL; a scratch database is
created on it and dropped) a TimescaleDB of its own is started with deploy/timescaledb.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import websockets

from mda.web.live import alert_of_frame

ROOT = Path(__file__).resolve().parents[2]
MARKED = (235_999_999, 235_999_998)  # probed in turn, each every 2 s
SART_BASE = 970_100_000
VARIANTS = 15  # payloads per ship, cycled: more seconds apart than the dedupe window (10 s)


# --- a minimal type 1 encoder (pyais' encode_dict is too slow for 375k sentences) --------
def _armor(bits: int, nbits: int) -> str:
    out = []
    for shift in range(nbits - 6, -1, -6):
        v = (bits >> shift) & 63
        out.append(chr(v + 48 if v < 40 else v + 56))
    return "".join(out)


def _checksum(text: str) -> str:
    c = 0
    for ch in text.encode():
        c ^= ch
    return f"{c:02X}"


def position_sentence(
    mmsi: int, lat: float, lon: float, sog: float, cog: float, second: int, status: int = 0
) -> str:
    fields = (
        (1, 6),
        (0, 2),
        (mmsi, 30),
        (status, 4),
        (128, 8),  # rate of turn: not available
        (round(sog * 10), 10),
        (0, 1),
        (round(lon * 600_000) & (2**28 - 1), 28),
        (round(lat * 600_000) & (2**27 - 1), 27),
        (round(cog * 10), 12),
        (int(cog) % 360, 9),
        (second % 60, 6),
        (0, 2),
        (0, 3),
        (0, 1),
        (0, 19),
    )
    bits = 0
    for v, n in fields:
        bits = (bits << n) | v
    body = f"AIVDM,1,1,,B,{_armor(bits, 168)},0"
    return f"!{body}*{_checksum(body)}\n"


def _fleet(n: int) -> list[list[bytes]]:
    """``n`` ships' VARIANTS successive position sentences each (as bytes)."""
    ships = []
    for i in range(n):
        mmsi = 200_000_000 + i * 37
        lat = -30 + (i * 7919 % 5000) / 100
        lon = 45 + (i * 104729 % 5000) / 100
        cog = (i * 13) % 360
        ships.append(
            [
                position_sentence(mmsi, lat + k * 0.001, lon + k * 0.001, 10.0, cog, k).encode()
                for k in range(VARIANTS)
            ]
        )
    return ships


# --- the load generator (its own process) ----------------------------------------------
def generator(port_q, probes, rate: int, seconds: float, warmup: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fleet = _fleet(rate)
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(120)
    port_q.put(srv.getsockname()[1])
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tick = 0.01
    per_tick = rate * tick
    start = time.monotonic()
    sent = beacons = marks = 0
    next_beacon = start + warmup
    next_mark = start + warmup + 0.25
    owed = 0.0
    cursor = 0
    second = 0
    n = len(fleet)
    try:
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                break
            owed += per_tick
            k = int(owed)
            owed -= k
            chunk = []
            for _ in range(k):
                chunk.append(fleet[cursor][second % VARIANTS])
                cursor += 1
                if cursor == n:
                    cursor = 0
                    second += 1
            probe = None
            if now >= next_beacon:
                mmsi = SART_BASE + beacons
                beacons += 1
                next_beacon += 0.25
                probe = ("alert", mmsi)
                s = position_sentence(mmsi, -5.0, 70.0, 0.0, 0.0, int(now) % 60, status=14)
                chunk.insert(0, s.encode())
            elif now >= next_mark:
                marks += 1
                next_mark += 1.0
                lat = round(-20.0 + marks * 0.01, 5)
                probe = ("position", lat)
                s = position_sentence(MARKED[marks % 2], lat, 60.0, 5.0, 90.0, marks % 60)
                chunk.insert(0, s.encode())
            data = b"".join(chunk)
            t_sent = time.monotonic()
            conn.sendall(data)
            if probe:
                probes.put((*probe, t_sent))
            sent += len(chunk)
            delay = start + (sent / rate) - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, tick))
    except (BrokenPipeError, ConnectionResetError):
        pass
    elapsed = time.monotonic() - start
    probes.put(("done", sent, elapsed))
    time.sleep(0.5)
    conn.close()
    srv.close()


# --- the measuring WebSocket client ------------------------------------------------------
async def watch(url: str, token: str, stop: asyncio.Event, got: dict) -> None:
    """Record when each probe arrives; a socket the server closes (1013: this client too
    slow, as a browser on a saturated machine would be) is counted and opened again."""
    while not stop.is_set():
        try:
            await _watch_once(url, token, stop, got)
        except websockets.ConnectionClosed as e:
            got["closed"].append(
                f"{e.rcvd.code if e.rcvd else '-'} {e.rcvd.reason if e.rcvd else ''}"
            )


async def _watch_once(url: str, token: str, stop: asyncio.Event, got: dict) -> None:
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            t = time.monotonic()
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "alert":
                a = alert_of_frame(msg)
                if a.get("kind") == "distress_beacon" and a.get("mmsi") not in got["alerts"]:
                    got["alerts"][a.get("mmsi")] = t
            elif kind == "positions":
                for v in msg["vessels"]:
                    if v[0] in MARKED and round(v[1], 5) not in got["positions"]:
                        got["positions"][round(v[1], 5)] = t
            elif kind == "status" and msg.get("lag_s") is not None:
                got["lag"] = max(got["lag"], msg["lag_s"])


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mda_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    env["MDA_DATA_DIR"] = str(tmp / "data")
    return env


def run_rate(rate: int, args, url: str, token: str, tmp: Path) -> dict:
    ctx = mp.get_context("spawn")
    port_q, probes = ctx.Queue(), ctx.Queue()
    gen = ctx.Process(
        target=generator, args=(port_q, probes, rate, args.seconds, args.warmup), daemon=True
    )
    gen.start()
    port = port_q.get(timeout=120)  # the fleet is encoded first
    http = free_port()
    log = open(tmp / f"serve-{rate}.log", "w")
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mda",
            "serve",
            "--source",
            f"tcp://127.0.0.1:{port}",
            "--database",
            url,
            "--port",
            str(http),
            "--data-dir",
            str(tmp / "data"),
        ],
        cwd=tmp,
        env=mda_env(tmp),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    got = {"alerts": {}, "positions": {}, "lag": 0.0, "closed": []}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{http}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if serve.poll() is not None:
                raise SystemExit(f"mda serve exited; see {log.name}")
            time.sleep(0.3)

        async def measure():
            stop = asyncio.Event()
            task = asyncio.create_task(watch(f"ws://127.0.0.1:{http}/api/live", token, stop, got))
            sent_alerts, sent_positions, done = {}, {}, None
            loop = asyncio.get_running_loop()
            while done is None:
                item = await loop.run_in_executor(None, probes.get, True, args.seconds + 120)
                if item[0] == "alert":
                    sent_alerts[item[1]] = item[2]
                elif item[0] == "position":
                    sent_positions[item[1]] = item[2]
                else:
                    done = item
            await asyncio.sleep(args.drain)
            stop.set()
            await task
            return sent_alerts, sent_positions, done

        sent_alerts, sent_positions, done = asyncio.run(measure())
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
        gen.join(5)
        log.close()
    alert_lat = [got["alerts"][m] - t for m, t in sent_alerts.items() if m in got["alerts"]]
    pos_lat = [got["positions"][k] - t for k, t in sent_positions.items() if k in got["positions"]]
    return {
        "rate": rate,
        "sent_rate": done[1] / done[2],
        "alerts": alert_lat,
        "beacons": len(sent_alerts),
        "positions": pos_lat,
        "marks": len(sent_positions),
        "lag": got["lag"],
        "closed": got["closed"],
    }


def report(r: dict) -> None:
    a, p = r["alerts"], r["positions"]
    print(
        f"{r['rate']:>7,} msg/s (sent {r['sent_rate']:,.0f}/s): "
        f"alerts p50 {pct(a, 0.5) * 1000:,.0f} ms, p99 {pct(a, 0.99) * 1000:,.0f} ms, "
        f"max {max(a, default=float('nan')) * 1000:,.0f} ms, delivered {len(a)}/{r['beacons']}; "
        f"positions p50 {pct(p, 0.5) * 1000:,.0f} ms, p99 {pct(p, 0.99) * 1000:,.0f} ms, "
        f"delivered {len(p)}/{r['marks']}; largest lag_s {r['lag']:.1f}"
        + (
            f"; socket closed by the server {len(r['closed'])}x ({r['closed'][0]})"
            if r["closed"]
            else ""
        ),
        flush=True,
    )


def sustained(r: dict) -> bool:
    return (
        r["sent_rate"] >= 0.98 * r["rate"]
        and len(r["alerts"]) == r["beacons"] > 0
        and pct(r["alerts"], 0.99) < 1.0
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rates", default="10000,25000")
    ap.add_argument("--seconds", type=float, default=30.0, help="load time per rate")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds before the first probe")
    ap.add_argument("--drain", type=float, default=5.0, help="wait for late frames")
    ap.add_argument("--find-max", action="store_true")
    ap.add_argument("--step", type=int, default=5000)
    ap.add_argument("--database", default=os.environ.get("MDA_BENCH_DATABASE_URL"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mda-bench-latency-"))
    started_here = None
    admin = args.database
    if not admin:
        out = subprocess.run(
            [str(ROOT / "deploy" / "timescaledb.sh"), "start", "--datadir", str(tmp / "tsdb")],
            check=True,
            capture_output=True,
            text=True,
        )
        admin, started_here = out.stdout.strip().splitlines()[-1], tmp / "tsdb"
    dbname = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{dbname}"')
    url = urlunsplit(urlsplit(admin)._replace(path=f"/{dbname}"))
    results = []
    try:
        token = subprocess.run(
            [sys.executable, "-m", "mda", "token", "--database", url, "create"]
            + ["--role", "viewer", "--owner", "bench"],
            cwd=tmp,
            env=mda_env(tmp),
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        print(f"logs in {tmp}; {os.cpu_count()} CPUs; {args.seconds:.0f} s per rate", flush=True)
        for rate in [int(x) for x in args.rates.split(",") if x]:
            results.append(run_rate(rate, args, url, token, tmp))
            report(results[-1])
        if args.find_max:
            rate = results[-1]["rate"] if results else args.step
            while results and sustained(results[-1]):
                rate += args.step
                results.append(run_rate(rate, args, url, token, tmp))
                report(results[-1])
        ok = [r["rate"] for r in results if sustained(r)]
        print(f"highest rate sustained (alerts p99 < 1 s, >= 98 % sent): {max(ok, default=0):,}")
        at25 = [r for r in results if r["rate"] == 25_000]
        if at25:
            met = pct(at25[0]["alerts"], 0.99) < 1.0
            print(f"target alerts p99 < 1 s at 25,000 msg/s: {'met' if met else 'MISSED'}")
            return 0 if met else 1
        return 0
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if started_here:
            subprocess.run(
                [str(ROOT / "deploy" / "timescaledb.sh"), "stop", "--datadir", str(started_here)]
                + ["--remove"],
                capture_output=True,
            )


if __name__ == "__main__":
    sys.exit(main())
