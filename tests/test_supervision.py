"""One failing stage never stops the service (issue 13's acceptance), on real TimescaleDB.

The service runs in this process (``mda.service.Service``, as ``mda serve`` runs it) with
a live TCP feed and the web server on a free port. The analytics stage's land mask then
fails as it did when the process ran out of file handles (``OSError: [Errno 24]``); while
it does, positions are still stored, the web still answers and ``/healthz`` says
``degraded`` naming the analytics. Once the resource works again the stage is back by
itself, well within a minute (the restart back-off is set short: at most 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time

import httpx
import psycopg
import pytest
from bench.feedgen import _tag
from pyais.encode import encode_dict
from support import free_port
from web_support import make_settings

from mda.analytics.landmask import shared_land_mask
from mda.service import Service
from mda.settings import SourceSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VESSELS = [419000100 + i for i in range(5)]


def _lines(t: int) -> list[str]:
    out = []
    for i, mmsi in enumerate(VESSELS):
        data = {
            "type": 1,
            "mmsi": mmsi,
            "status": 0,
            "lat": 8.0 + i * 0.5,
            "lon": 70.0 + (t % 100000) * 0.001,
            "speed": 12.0,
            "course": 90.0,
            "heading": 90,
            "second": t % 60,
        }
        for s in encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel="A"):
            out.append(_tag("rx", t) + s)
    return out


async def _feed(reader, writer) -> None:
    """A receiver: five vessels at sea, every second, for as long as it is connected."""
    try:
        while True:
            writer.write(("\r\n".join(_lines(int(time.time()))) + "\r\n").encode())
            await writer.drain()
            await asyncio.sleep(1.0)
    except (ConnectionError, asyncio.CancelledError):
        pass


def _stored(url: str) -> int:
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute("SELECT count(*) FROM positions").fetchone()[0]


async def _until(check, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


async def test_a_failing_analytics_stage_leaves_ingest_and_web_running_and_comes_back(
    migrated, tmp_path, monkeypatch
):
    feed = await asyncio.start_server(_feed, "127.0.0.1", 0)
    feed_port = feed.sockets[0].getsockname()[1]
    http_port = free_port()
    settings = make_settings(
        tmp_path,
        http_port=http_port,
        stage_restart_max_s=2,
        max_clock_lead_s=0,
        cookie_secure="false",
    )
    ready = asyncio.Event()
    service = Service(
        settings,
        migrated,
        [SourceSpec(f"tcp://127.0.0.1:{feed_port}", "rx")],
        on_ready=lambda s: ready.set(),
    )
    run = asyncio.create_task(service.run(), name="service")
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            await asyncio.wait_for(ready.wait(), 60)

            async def health() -> dict:
                r = await client.get("/healthz")
                assert r.status_code == 200, r.text  # the web answers throughout
                return r.json()

            async def analysing() -> bool:
                h = await health()
                return h["status"] == "ok" and h["stages"].get("analytics") == "running"

            await _until(analysing, 30, "the analytics stage running")
            await _until(
                lambda: asyncio.to_thread(_stored, migrated), 30, "positions stored", every=0.5
            )

            # The land mask fails as it did with the file handles exhausted.
            calls = {"n": 0}

            def exhausted(*args, **kwargs):
                calls["n"] += 1
                raise OSError(errno.EMFILE, "Too many open files")

            monkeypatch.setattr(shared_land_mask(), "is_land", exhausted)
            broken_at = time.monotonic()

            async def degraded() -> dict | None:
                h = await health()
                return h if h["status"] == "degraded" and "analytics" in h["failing"] else None

            h = await _until(degraded, 30, "/healthz to say the analytics are degraded")
            assert h["stages"]["analytics"] == "restarting"
            assert h["database"] == "ok" and h["stages"]["web"] == "running"
            stored_then = await asyncio.to_thread(_stored, migrated)
            stage = service.supervisor.stages["analytics"]
            assert stage.restarts >= 1 and "Too many open files" in stage.last_error

            # Ingest goes on while the analytics are down: positions keep being stored.
            await asyncio.sleep(4)
            assert await asyncio.to_thread(_stored, migrated) > stored_then
            assert service.pipeline.feeds["rx"].state == "running"
            assert calls["n"] >= 2  # it was started again (and failed again) meanwhile
            assert time.monotonic() - broken_at < 30

            # The resource works again: the stage is back by itself, within a minute.
            monkeypatch.undo()
            fixed_at = time.monotonic()
            await _until(analysing, 60, "the analytics stage back")
            back_s = time.monotonic() - fixed_at
            restarts = stage.restarts
            await asyncio.sleep(3)  # batches flow through it and it stays up
            assert stage.restarts == restarts and stage.state == "running"
            assert (await health())["status"] == "ok"
            assert back_s < 60
            print(f"analytics back {back_s:.1f} s after its land mask worked again")
    finally:
        service.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run, 60)
        feed.close()
        await feed.wait_closed()
