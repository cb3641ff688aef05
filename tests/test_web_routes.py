"""The read routes and the app around them: health, vessels, tracks, search, zones,
``/metrics``, the one error shape, the docs and the map page served offline, times in
UTC, and a lifespan stopped by a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from web_support import (
    BASE,
    NOW,
    alert_change,
    make_settings,
    seed_vessels,
    set_database_time_zone,
    vessel,
)

from mda.ingest.records import PositionReport
from mda.store import alerts as store_alerts
from mda.store.accounts import create_token
from mda.store.writer import write_batch
from mda.web.app import create_app

pytestmark = pytest.mark.integration


async def test_healthz_needs_no_login_and_checks_the_database(web):
    r = await web.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema_version"] >= 2
    assert body["timescaledb"]  # the test server has the extension


async def test_vessels_geojson_with_bbox_and_since(web):
    await seed_vessels(web)
    h = await web.token("viewer")
    r = await web.client.get("/api/vessels", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert [f["properties"]["mmsi"] for f in fc["features"]] == [419000001, 419000002, 538000003]
    f = fc["features"][0]
    assert f["geometry"] == {"type": "Point", "coordinates": [72.8, 18.9]}
    p = f["properties"]
    assert set(p) == {
        "mmsi",
        "name",
        "callsign",
        "ship_type",
        "sog",
        "cog",
        "heading",
        "nav_status",
        "last_seen",
    }
    assert p["name"] == "MUMBAI STAR" and p["callsign"] == "AVXY1" and p["ship_type"] == 70
    assert p["sog"] == 12.0 and p["cog"] == 90.0 and p["heading"] == 91 and p["nav_status"] == 0
    seen = datetime.fromisoformat(p["last_seen"])
    assert seen.utcoffset() == timedelta(0) and abs(seen.timestamp() - NOW) < 0.01

    r = await web.client.get("/api/vessels?bbox=70,0,85,25", headers=h)
    assert [f["id"] for f in r.json()["features"]] == [419000001, 419000002]
    r = await web.client.get("/api/vessels?since=-1h", headers=h)
    assert [f["id"] for f in r.json()["features"]] == [419000001]
    since = datetime.fromtimestamp(NOW - 86400, UTC).isoformat()
    r = await web.client.get("/api/vessels", params={"since": since}, headers=h)
    assert [f["id"] for f in r.json()["features"]] == [419000001, 419000002]
    r = await web.client.get("/api/vessels?bbox=1,2,3", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = await web.client.get("/api/vessels?since=yesterday-ish", headers=h)
    assert r.status_code == 422
    r = await web.client.get("/api/vessels?bbox=0,0,1,1", headers=h)
    assert r.json() == {"type": "FeatureCollection", "features": []}


async def test_vessel_detail_and_404(web):
    await seed_vessels(web)
    h = await web.token("viewer")
    r = await web.client.get("/api/vessels/419000002", headers=h)
    assert r.status_code == 200
    v = r.json()
    assert v["name"] == "COLOMBO TRADER" and v["ship_type"] == 80 and v["length"] == 150
    assert v["beam"] == 22 and v["destination"] == "COLOMBO"
    assert v["position"]["lat"] == 6.9 and v["position"]["source"] == "test"
    r = await web.client.get("/api/vessels/123", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await web.client.get("/api/vessels/99999999999", headers=h)  # beyond any MMSI
    assert r.status_code == 422


async def test_track_defaults_to_the_last_24_hours_and_takes_a_range(web):
    h = await web.token("viewer")
    mmsi = 419000009
    fixes = [
        PositionReport(
            ts=NOW - i * 600,
            mmsi=mmsi,
            lat=10 + i * 0.01,
            lon=60 + i * 0.01,
            sog=10.0 + (i % 3),
            cog=45.0,
            heading=45,
            msg_type=1,
            source="t",
        )
        for i in range(0, 30 * 6)
    ]  # 30 hours, every 10 min
    await web.write(fixes)
    r = await web.client.get(f"/api/vessels/{mmsi}/track", headers=h)
    assert r.status_code == 200
    t = r.json()
    assert t["type"] == "Feature" and t["geometry"]["type"] == "LineString"
    coords = t["geometry"]["coordinates"]
    assert t["properties"]["points"] == len(coords) == 24 * 6 + 1
    times = t["properties"]["times"]
    assert times == sorted(times) and abs(times[-1] - NOW) < 0.01
    assert coords[-1] == [60.0, 10.0]  # the newest fix is the last vertex
    assert len(t["properties"]["sog"]) == len(coords)
    start = datetime.fromtimestamp(NOW - 3600, UTC).isoformat()
    end = datetime.fromtimestamp(NOW - 1800, UTC).isoformat()
    r = await web.client.get(
        f"/api/vessels/{mmsi}/track", params={"start": start, "end": end}, headers=h
    )
    assert r.json()["properties"]["points"] == 4
    r = await web.client.get(f"/api/vessels/{mmsi}/track?start=-100d", headers=h)
    assert r.status_code == 422
    r = await web.client.get("/api/vessels/1/track", headers=h)
    assert r.status_code == 200 and r.json()["geometry"] is None


async def test_search_by_mmsi_name_and_callsign(web):
    await seed_vessels(web)
    h = await web.token("viewer")

    async def search(q):
        r = await web.client.get("/api/search", params={"q": q}, headers=h)
        assert r.status_code == 200
        return [v["mmsi"] for v in r.json()]

    assert await search("419000002") == [419000002]
    assert await search("4190") == [419000002, 419000001]  # by name: COLOMBO before MUMBAI
    assert await search("trader") == [419000002]
    assert await search("v7ab3") == [538000003]
    assert await search("star") == [419000001]
    assert await search("%") == []
    assert (await web.client.get("/api/search?q=", headers=h)).status_code == 422


async def test_zones_geojson(web):
    h = await web.token("viewer")
    # an empty table: the analytics' built-in zones (IRTC lanes, TSS, ports)
    r = await web.client.get("/api/zones", headers=h)
    assert r.status_code == 200 and r.json()["type"] == "FeatureCollection"
    kinds = {f["properties"]["kind"] for f in r.json()["features"]}
    assert {"lane", "port"} <= kinds
    poly = {
        "type": "Polygon",
        "coordinates": [[[45, 12], [53, 14.5], [53, 14.4], [45, 11.9], [45, 12]]],
    }
    await web.sql(
        "INSERT INTO zones (name, kind, direction, geometry, properties) "
        "VALUES ('IRTC westbound', 'lane', 252, %s, '{\"note\": \"published\"}')",
        (json.dumps(poly),),
    )
    fc = (await web.client.get("/api/zones", headers=h)).json()
    [f] = fc["features"]
    assert f["geometry"] == poly
    assert f["properties"]["name"] == "IRTC westbound" and f["properties"]["kind"] == "lane"
    assert f["properties"]["direction"] == 252 and f["properties"]["note"] == "published"


PROM_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? '
    r"-?[0-9.e+-]+(\s-?[0-9]+)?$"
)


async def test_metrics_in_prometheus_text_format(web):
    h = await web.token("viewer")
    await web.alerts(alert_change("m1"), alert_change("m2"), alert_change("m3", kind="ais_gap"))
    await web.client.get("/api/vessels", headers=h)
    await web.client.get("/api/vessels/123", headers=h)
    r = await web.client.get("/metrics", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = r.text.splitlines()
    for line in lines:
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line), line
        else:
            assert PROM_LINE.match(line), line
    text = r.text
    assert 'mda_feed_last_message_age_seconds{feed="tcp-mumbai"} 2.5' in lines
    assert 'mda_feed_up{feed="tcp-mumbai",state="running"} 1.0' in lines
    assert 'mda_feed_up{feed="file-replay",state="starting"} 0.0' in lines
    # counters end in _total (promtool check metrics: tests/test_health.py)
    assert "mda_pipeline_positions_stored_total 999.0" in lines
    assert "# TYPE mda_pipeline_positions_stored_total counter" in lines
    assert "mda_pipeline_uptime_seconds 12.5" in lines
    assert "# TYPE mda_pipeline_uptime_seconds gauge" in lines
    assert "mda_pipeline_mqtt_connected 1.0" in lines
    assert 'mda_pipeline_errors_total{reason="bad_checksum"} 3.0' in lines
    assert 'mda_alerts_open{kind="loitering"} 2.0' in lines
    assert 'mda_alerts_open{kind="ais_gap"} 1.0' in lines
    assert 'mda_http_requests_total{method="GET",route="/api/vessels",status="200"} 1.0' in lines
    assert (
        'mda_http_requests_total{method="GET",route="/api/vessels/{mmsi}",status="404"} 1.0'
        in lines
    )
    assert "# TYPE mda_http_requests_total counter" in lines
    assert "# TYPE mda_http_request_duration_seconds summary" in lines
    assert 'mda_http_request_duration_seconds_count{method="GET",route="/api/vessels"} 1.0' in lines
    assert "mda_live_clients 0.0" in lines
    # no role given: one process doing everything, leading
    assert 'mda_service_info{role="all",version="' in text
    assert "mda_service_leader 1.0" in lines
    # the histograms are there before anything was observed
    assert "# TYPE mda_store_write_duration_seconds histogram" in lines
    assert "mda_alert_latency_seconds_count 0.0" in lines
    assert text.endswith("\n")


async def test_one_error_shape_for_json_and_a_page_for_people(web):
    h = await web.token("viewer")
    r = await web.client.get("/api/nothing-here", headers=h)
    assert r.status_code == 404
    assert r.json() == {"error": {"status": 404, "code": "not_found", "message": "Not Found"}}
    r = await web.client.get("/api/vessels/not-a-number", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    assert "mmsi" in r.json()["error"]["message"]
    r = await web.client.get("/no-such-page", headers={**h, "accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<h1>404</h1>" in r.text


async def test_openapi_docs_are_behind_the_login_and_offline(web):
    h = await web.token("viewer")
    spec = (await web.client.get("/api/openapi.json", headers=h)).json()
    for path in (
        "/api/vessels",
        "/api/vessels/{mmsi}",
        "/api/vessels/{mmsi}/track",
        "/api/alerts",
        "/api/alerts/{alert_id}",
        "/api/alerts/{alert_id}/ack",
        "/api/alerts/{alert_id}/close",
        "/api/data-quality",
        "/api/zones",
        "/api/search",
        "/healthz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    page = await web.client.get("/api/docs", headers={**h, "accept": "text/html"})
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/static/") for s in srcs), srcs
    for s in srcs:
        assert (await web.client.get(s)).status_code == 200, s
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_the_map_page_loads_only_local_assets(web):
    h = await web.token("viewer")
    page = await web.client.get("/", headers={**h, "accept": "text/html"})
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/vendor/leaflet/leaflet.js" in srcs
    assert all(s.startswith("/static/") for s in srcs), srcs
    for s in srcs:
        r = await web.client.get(s)
        assert r.status_code == 200, s
    for asset in ("/static/basemap/land-overview.geojson", "/static/basemap/land-detail.geojson"):
        fc = (await web.client.get(asset)).json()
        assert fc["type"] == "FeatureCollection" and len(fc["features"]) > 100
    assert (await web.client.get("/static/vendor/leaflet/LICENSE")).status_code == 200


async def test_web_times_are_utc_whatever_the_database_time_zone(migrated, tmp_path):
    set_database_time_zone(migrated, "Asia/Kolkata")
    app = create_app(make_settings(tmp_path), migrated)
    async with (
        LifespanManager(app) as m,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client,
    ):
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            tok = await create_token(c, "tz", "supervisor")
            await write_batch(c, [vessel(419000001, 18.9, 72.8)[0]], [], [])
            await store_alerts.save_changes(c, [alert_change("tz1")])
        h = {"Authorization": f"Bearer {tok}"}
        seen = (await client.get("/api/vessels", headers=h)).json()["features"][0]
        alert = (await client.get("/api/alerts", headers=h)).json()["alerts"][0]
        audit = (await client.get("/api/audit", headers=h)).json()[0]
        for value in (
            seen["properties"]["last_seen"],
            alert["created_at"],
            alert["start"],
            audit["time"],
        ):
            assert datetime.fromisoformat(value).utcoffset() == timedelta(0), value


@pytest.mark.parametrize("when", ["starting", "running"])
def test_a_stop_that_cancels_the_lifespan_is_quiet_and_closes_the_pool(
    migrated, tmp_path, caplog, when
):
    """SIGTERM to `mda demo` while the web server starts (the database not answering yet)
    ends the event loop with the lifespan still running: asyncio cancels it. It must shut
    down in order (tasks, pool) without uvicorn's 'lifespan' traceback."""
    import logging
    import socket
    import threading
    from urllib.parse import urlsplit, urlunsplit

    import uvicorn

    db = migrated
    if when == "starting":  # a database that is not there yet: the demo token cannot be installed
        db = urlunsplit(urlsplit(migrated)._replace(path="/mda_not_created_yet"))
    app = create_app(make_settings(tmp_path, demo_token="demo-token-for-scripts-0123456789"), db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_config=None, log_level="info"
        )
    )
    server.capture_signals = contextlib.nullcontext  # as mda.service does: it owns the signals

    async def main():
        # The server stops itself (should_exit) before the loop ends; nothing awaits it.
        asyncio.create_task(server.serve(), name="uvicorn")  # noqa: RUF006
        deadline = time.monotonic() + 20
        if when == "starting":
            await asyncio.sleep(1.5)
            assert not server.started  # still waiting for the database
        else:
            while not server.started:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        # returning ends asyncio.run, which cancels what is left: uvicorn and the lifespan

    caplog.set_level(logging.INFO)
    done = threading.Event()

    def run():
        asyncio.run(main())
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert done.is_set(), "the event loop did not finish: the lifespan hangs"
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage()[:2000] for r in loud]
    assert app.state.pool.closed
