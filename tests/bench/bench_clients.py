"""The ingest rate of `mda serve` with and without 50 map clients, measured from outside.

    python tests/bench/bench_clients.py [--rate 25000] [--clients 50] [--window 60]
                                        [--settle 10] [--database URL]

One `mda serve --source tcp://127.0.0.1:PORT` (a subprocess, on TimescaleDB, everything
else default) is fed by `bench_latency.py`'s load generator (its own process, on the same
machine): ``--rate`` ships each reporting its position once a second (type 1, no tag
block), spread evenly in 10 ms ticks, four AIS-SART beacons a second among them (alerts
pushed to every client). The ingest rate is the service's own count of positions stored
(``mda_pipeline_positions_stored_total`` in ``/metrics``) over ``--window`` seconds:

1. without clients, after ``--settle`` seconds of feed;
2. then with ``--clients`` concurrent map clients, each as the map is: a WebSocket on
   ``/api/live`` logged in with a viewer token of its own (the hub allows 8 sockets per
   login), receiving every frame (counted, not parsed: the client's JSON parsing is the
   browser's CPU, not the service's, and here it would run on the same 2 cores), plus
   ``GET /api/vessels`` every 5 s and one vessel's track (``GET /api/vessels/{mmsi}/track``,
   the default 24 h) every 10 s, their timers staggered; measured after ``--settle``
   seconds with the clients connected. They all come from 127.0.0.1, so the service runs
   with ``MDA_HTTP_MAX_CONNECTIONS_PER_IP`` raised (maps come from addresses of their own).

Prints both rates, their ratio (target, issue 16: the rate with clients >= 0.9x the rate
without), the rate the generator sent, the service's CPU (user + system seconds per second
of its process, from /proc) and the largest ``mda_pipeline_lag_seconds`` seen in each
window, what the clients received and how long their requests took, and the load average.
A fixed rate the service keeps up with stores what is sent whatever the clients cost, so
the rate should be near the highest the service sustains (`bench_latency.py --find-max`).

Without --database (or $MDA_BENCH_DATABASE_URL, an admin URL; a scratch database is
created on it and dropped) a TimescaleDB of its own is started with deploy/timescaledb.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import websockets

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_latency import free_port, generator, mda_env  # noqa: E402

from mda.store.accounts import create_token  # noqa: E402
from mda.store.migrate import upgrade  # noqa: E402

_STORED = re.compile(r"^mda_pipeline_positions_stored(?:_total)?(?:\{[^}]*\})?\s+(\S+)$", re.M)
_LAG = re.compile(r"^mda_pipeline_lag_seconds(?:\{[^}]*\})?\s+(\S+)$", re.M)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / hz, sum(v[:8]) / hz


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


class Scraper:
    """Samples ``/metrics`` once a second: positions stored, the largest lag."""

    def __init__(self, base: str, token: str):
        self.client = httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.lag_max = 0.0

    async def sample(self) -> float:
        text = (await self.client.get("/metrics")).raise_for_status().text
        stored = sum(float(v) for v in _STORED.findall(text))
        lags = [float(v) for v in _LAG.findall(text)]
        self.lag_max = max([self.lag_max, *lags])
        return stored

    async def window(self, seconds: float, pid: int, gen_pid: int) -> dict:
        self.lag_max = 0.0
        load = _loadavg()
        own0, gen0, busy0 = time.process_time(), _cpu_s(gen_pid), _machine_busy()[0]
        cpu0, t0, n0 = _cpu_s(pid), time.monotonic(), await self.sample()
        end = t0 + seconds
        while time.monotonic() < end:
            await asyncio.sleep(min(1.0, end - time.monotonic()))
            await self.sample()  # the lag, every second
        n1, t1, cpu1 = await self.sample(), time.monotonic(), _cpu_s(pid)
        dt = t1 - t0
        return {
            "rate": (n1 - n0) / dt,
            "cpu": (cpu1 - cpu0) / dt,
            "cpu_bench": (time.process_time() - own0) / dt,
            "cpu_gen": (_cpu_s(gen_pid) - gen0) / dt,
            "cpu_machine": (_machine_busy()[0] - busy0) / dt,
            "lag": self.lag_max,
            "load": f"{load} -> {_loadavg()}",
        }


async def map_client(
    base: str, ws_url: str, token: str, mmsis: list[int], stop: asyncio.Event, got: dict, k: int
) -> None:
    """One map: the live socket, the vessels every 5 s, a track every 10 s (staggered)."""
    headers = {"Authorization": f"Bearer {token}"}
    rnd = random.Random(k)

    async def live():
        while not stop.is_set():
            try:
                async with websockets.connect(
                    ws_url, additional_headers=headers, max_size=None, compression=None
                ) as ws:
                    while not stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(decode=False), 0.5)
                        except TimeoutError:
                            continue
                        got["frames"] += 1
                        got["frame_bytes"] += len(raw)
            except (websockets.ConnectionClosed, OSError) as e:
                got["closed"].append(repr(e)[:80])
                await asyncio.sleep(1)

    async def every(period: float, fn):
        await asyncio.sleep(rnd.uniform(0, period))
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                await fn()
            except httpx.HTTPError as e:
                got["errors"].append(repr(e)[:80])
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:

        async def vessels():
            t0 = time.monotonic()
            r = (await http.get("/api/vessels")).raise_for_status()
            got["vessels_ms"].append((time.monotonic() - t0) * 1000)
            got["vessels_bytes"] += len(r.content)

        async def track():
            t0 = time.monotonic()
            (await http.get(f"/api/vessels/{rnd.choice(mmsis)}/track")).raise_for_status()
            got["track_ms"].append((time.monotonic() - t0) * 1000)

        await asyncio.gather(live(), every(5.0, vessels), every(10.0, track))


def _wait_healthy(base: str, serve: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if serve.poll() is not None:
            raise SystemExit(f"mda serve exited; see {log}")
        time.sleep(0.3)
    raise SystemExit(f"mda serve did not answer /healthz in 60 s; see {log}")


def run(args, url: str, tokens: list[str], tmp: Path) -> dict:
    total = args.settle + args.window + args.settle + args.window + 15
    ctx = mp.get_context("spawn")
    port_q, probes = ctx.Queue(), ctx.Queue()
    gen = ctx.Process(target=generator, args=(port_q, probes, args.rate, total, 1.0), daemon=True)
    gen.start()
    port = port_q.get(timeout=120)  # the fleet is encoded first
    done: list = []

    def drain():  # the generator's probes (beacons sent); only its final count matters
        while True:
            item = probes.get()
            if item[0] == "done":
                done.append(item)
                return

    threading.Thread(target=drain, daemon=True).start()
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    log_path = tmp / "serve.log"
    log = open(log_path, "w")
    env = mda_env(tmp)
    # every client here comes from 127.0.0.1 (a socket and a keep-alive connection each);
    # maps come from addresses of their own, each within the default 64
    env["MDA_HTTP_MAX_CONNECTIONS_PER_IP"] = str(4 * args.clients + 16)
    serve = subprocess.Popen(
        [sys.executable, "-m", "mda", "serve", "--source", f"tcp://127.0.0.1:{port}"]
        + ["--database", url, "--port", str(http), "--data-dir", str(tmp / "data")],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    mmsis = [200_000_000 + i * 37 for i in range(args.rate)]
    got = {
        "frames": 0,
        "frame_bytes": 0,
        "vessels_ms": [],
        "vessels_bytes": 0,
        "track_ms": [],
        "closed": [],
        "errors": [],
    }
    try:
        _wait_healthy(base, serve, log_path)

        async def measure():
            scraper = Scraper(base, tokens[0])
            await asyncio.sleep(args.settle)
            alone = await scraper.window(args.window, serve.pid, gen.pid)
            print(f"without clients: {_phase(alone)}", flush=True)
            stop = asyncio.Event()
            ws_url = base.replace("http://", "ws://") + "/api/live"
            tasks = [
                asyncio.create_task(map_client(base, ws_url, tokens[k], mmsis, stop, got, k))
                for k in range(args.clients)
            ]
            await asyncio.sleep(args.settle)
            for key in ("frames", "frame_bytes", "vessels_bytes"):
                got[key] = 0
            got["vessels_ms"].clear()
            got["track_ms"].clear()
            clients = await scraper.window(args.window, serve.pid, gen.pid)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await scraper.client.aclose()
            return alone, clients

        alone, clients = asyncio.run(measure())
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
        gen.join(total + 30)
        log.close()
    sent = done[0][1] / done[0][2] if done else float("nan")
    return {"alone": alone, "clients": clients, "got": got, "sent": sent}


def _phase(w: dict) -> str:
    return (
        f"{w['rate']:,.0f} positions stored/s; CPU seconds per second: service "
        f"{w['cpu']:.2f}, this benchmark's clients {w['cpu_bench']:.2f}, generator "
        f"{w['cpu_gen']:.2f}, the whole machine {w['cpu_machine']:.2f} (of "
        f"{os.cpu_count()}); largest lag {w['lag']:.1f} s; load average {w['load']}"
    )


def report(args, r: dict) -> bool:
    a, c, got = r["alone"], r["clients"], r["got"]
    ratio = c["rate"] / a["rate"] if a["rate"] else float("nan")
    w = args.window

    def ms(xs):
        return (
            f"median {statistics.median(xs):,.0f} ms, max {max(xs):,.0f} ms ({len(xs)})"
            if xs
            else "none"
        )

    print(
        f"with {args.clients} map clients: {_phase(c)}\n"
        f"  the clients received {got['frames'] / w:,.0f} frames/s "
        f"({got['frame_bytes'] / w / 1e6:.1f} MB/s) and {got['vessels_bytes'] / w / 1e6:.1f} "
        f"MB/s of /api/vessels; GET /api/vessels {ms(got['vessels_ms'])}; track "
        f"{ms(got['track_ms'])}; sockets closed {len(got['closed'])}"
        + (f" ({got['closed'][0]})" if got["closed"] else "")
        + f"; request errors {len(got['errors'])}"
        + (f" ({got['errors'][0]})" if got["errors"] else "")
        + f"\ngenerator sent {r['sent']:,.0f} msg/s over the whole run (rate {args.rate:,})"
    )
    met = ratio >= 0.9
    print(
        f"ingest rate with clients / without: {ratio:.3f} "
        f"(target >= 0.90, a drop of at most 10 %): {'met' if met else 'MISSED'}"
    )
    return met


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=int, default=25_000, help="messages/s fed")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--window", type=float, default=60.0, help="seconds measured per phase")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds before each window")
    ap.add_argument("--database", default=os.environ.get("MDA_BENCH_DATABASE_URL"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mda-bench-clients-"))
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
    try:
        with psycopg.connect(url) as conn:
            upgrade(conn)

        async def tokens():
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                # one login per client: the hub takes at most 8 sockets per login
                return [
                    await create_token(conn, f"bench-map-{k}", "viewer")
                    for k in range(max(1, args.clients))
                ]

        toks = asyncio.run(tokens())
        print(
            f"logs in {tmp}; {os.cpu_count()} CPUs; {args.rate:,} msg/s; {args.clients} clients;"
            f" {args.window:.0f} s per window",
            flush=True,
        )
        return 0 if report(args, run(args, url, toks, tmp)) else 1
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
