"""Every kind of feed into TimescaleDB and through ``mda analyze``: real samples of each
format give the positions the same traffic gives as NMEA, every row or object stored or
rejected with a reason; AIS-catcher over UDP, decoded JSON over MQTT (Mosquitto), gpsd's
``?WATCH`` over TCP and receivers pushing to ``POST /api/ingest``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import aiomqtt
import psycopg
import pytest
from support import free_port

from mda.ingest import PushSource
from mda.pipeline import Pipeline
from mda.settings import SourceSpec, load_settings
from mda.store.migrate import upgrade
from mda.store.writer import StoreWriter

DATA = Path(__file__).parent / "data"
DERIVED = DATA / "derived"

SAMPLES = [
    ("norway.aiscatcher.jsonl", "aiscatcher", 699, 0),
    ("norway.gpsd.jsonl", "gpsd", 466, 0),
    ("norway.dma.csv", "csv", 234, 1),
    ("norway.marinecadastre.csv", "csv", 234, 1),
]


def _mda(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    return subprocess.run(
        [sys.executable, "-m", "mda", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _rows(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _summary(stderr: str) -> dict[str, int]:
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"^\s*([a-z_ ]+?)\s{2,}([\d,]+)", line)
        if m:
            out[m.group(1).strip()] = int(m.group(2).replace(",", ""))
    return out


POS = (
    "SELECT mmsi, extract(epoch FROM time)::bigint, lat, lon, sog, cog, heading, nav_status "
    "FROM positions WHERE source LIKE %s"
)


@pytest.mark.parametrize("name, fmt, lines, rejected", SAMPLES)
def test_mda_ingest_stores_every_row_or_rejects_it_and_matches_nmea(
    db_url, name, fmt, lines, rejected
):
    r = _mda(
        "ingest", str(DERIVED / "norway.nmea"), "--database", db_url, "--keep", "--name", "nmea"
    )
    assert r.returncode == 0, r.stderr
    r = _mda(
        "ingest",
        str(DERIVED / name),
        "--format",
        fmt,
        "--database",
        db_url,
        "--keep",
        "--name",
        "x",
    )
    assert r.returncode == 0, r.stderr
    s = _summary(r.stderr)
    assert s["lines"] == lines and s["rejected"] == rejected, r.stderr
    assert s["positions"] == 233 and s["stored"] == 233, r.stderr  # every position once
    nmea = {(m, t): rest for m, t, *rest in _rows(db_url, POS, ("nmea%",))}
    mine = _rows(db_url, POS, ("x%",))
    assert len(mine) == len(nmea) == 233
    for mmsi, t, lat, lon, sog, _cog, heading, status in mine:
        cands = [v for (m, tt), v in nmea.items() if m == mmsi and (fmt == "gpsd" or tt == t)]
        assert any(
            abs(lat - v[0]) < 2e-5
            and abs(lon - v[1]) < 2e-5
            and (sog is None) == (v[2] is None)
            and (v[2] is None or abs(sog - v[2]) < 1e-3)
            and heading == v[4]
            and status == v[5]
            for v in cands
        ), (mmsi, t)
    named = _rows(db_url, "SELECT count(*) FROM vessels WHERE name IS NOT NULL")[0][0]
    assert named >= 232
    raw = _rows(db_url, "SELECT line FROM raw_sentences WHERE source LIKE 'x%' LIMIT 1")[0][0]
    if fmt == "aiscatcher":
        assert raw.startswith("\\c:1682116") or raw.startswith("\\c:")  # NMEA, tag block
    else:
        assert raw.startswith(f"decoded:{fmt}")


def test_mda_ingest_real_decoded_json_lines(db_url):
    r = _mda(
        "ingest",
        str(DATA / "barentswatch" / "AIS_2023_04_21_head.jsonl"),
        "--database",
        db_url,
        "--keep",
    )
    assert r.returncode == 0, r.stderr
    s = _summary(r.stderr)
    assert (s["lines"], s["positions"], s["stored"], s["rejected"]) == (102, 102, 102, 0)
    assert (
        _rows(db_url, "SELECT name FROM vessels WHERE mmsi = 258117000")[0][0] == "STRIL POSEIDON"
    )


def test_mda_analyze_reads_the_real_barentswatch_json_lines():
    """BarentsWatch's own decoded records (real, unchanged): every line a position with
    its vessel's name and type, none rejected."""
    r = _mda("analyze", str(DATA / "barentswatch" / "AIS_2023_04_21_head.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "mda analyze: 102 lines" in r.stderr, r.stderr
    assert "(102 positions, 102 statics" in r.stderr and "+ 0 rejected lines" in r.stderr


def test_mda_ingest_refuses_unknown_csv_columns_in_one_line(db_url, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("ship,when,y,x\n257000000,2023-04-21T22:00:00,60,5\n")
    r = _mda("ingest", str(path), "--database", db_url)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "'ship', 'when', 'y', 'x'" in r.stderr
    assert "--columns" in r.stderr
    r = _mda(
        "ingest",
        str(path),
        "--database",
        db_url,
        "--keep",
        "--columns",
        "mmsi=ship,time=when,lat=y,lon=x",
    )
    assert r.returncode == 0, r.stderr
    assert _rows(db_url, "SELECT count(*) FROM positions")[0][0] == 1


def test_mda_ingest_help_lists_the_formats():
    r = _mda("ingest", "--help")
    for fmt in ("nmea", "aiscatcher", "gpsd", "json", "csv", "--columns"):
        assert fmt in r.stdout


@pytest.mark.parametrize("name, fmt, lines, rejected", SAMPLES)
def test_mda_analyze_reads_every_format(name, fmt, lines, rejected):
    r = _mda("analyze", str(DERIVED / name), "--input-format", fmt)
    assert r.returncode == 0, r.stderr
    assert f"mda analyze: {lines:,} lines" in r.stderr and "(233 positions" in r.stderr


def test_mda_analyze_merges_csv_files_by_time(tmp_path):
    """An archive split in two, the later half given first: the same alerts and the same
    account of the rows as the whole (each part has its own header line)."""
    rows = (DERIVED / "norway.dma.csv").read_text().splitlines()
    header, body = rows[0], rows[1:]
    late, early = tmp_path / "b.csv", tmp_path / "a.csv"
    early.write_text("\n".join([header, *body[:120]]) + "\n")
    late.write_text("\n".join([header, *body[120:]]) + "\n")
    whole = _mda("analyze", str(DERIVED / "norway.dma.csv"))
    split = _mda("analyze", str(late), str(early))
    assert whole.returncode == split.returncode == 0, split.stderr
    assert whole.stdout == split.stdout
    assert "233 positions" in split.stderr and "header 2" in split.stderr


# ------------------------------------------------------------------ network feeds


async def wait_until(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s")
        await asyncio.sleep(0.05)


async def _run(db_url: str, specs: list[SourceSpec], act, until) -> Pipeline:
    """A pipeline with ``specs`` into the database while ``act(pipeline)`` feeds it,
    stopped once ``until(pipeline)`` holds."""
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    settings = load_settings(environ={"MDA_BATCH_MAX_DELAY_S": "0.05", "MDA_MAX_CLOCK_LEAD_S": "0"})
    async with StoreWriter(db_url) as writer:
        pipeline = Pipeline(settings, writer, specs)
        task = asyncio.create_task(pipeline.run())
        await act(pipeline)
        await wait_until(lambda: until(pipeline), timeout=20)
        pipeline.stop()
        await asyncio.wait_for(task, 20)
    return pipeline


def test_aiscatcher_json_over_udp(db_url):
    port = free_port()
    objects = (DERIVED / "norway.aiscatcher.jsonl").read_bytes().splitlines()

    async def act(pipeline):
        await wait_until(lambda: "rx" in pipeline.open_sources, timeout=10)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for obj in objects:  # AIS-catcher sends one object a datagram
            sock.sendto(obj, ("127.0.0.1", port))
            await asyncio.sleep(0)
        sock.close()

    spec = SourceSpec(f"udp://127.0.0.1:{port}", "rx", format="aiscatcher", keep=True)
    p = asyncio.run(_run(db_url, [spec], act, lambda pl: pl.decoder.stats.lines >= 699))
    assert p.decoder.stats.positions == 233
    assert _rows(db_url, "SELECT count(*) FROM positions")[0][0] == 233


def test_aiscatcher_json_over_tcp(db_url):
    """AIS-catcher's TCP JSON output (``-S port JSON on``): a server that sends one object a
    line to whoever connects; every position stored, with the receive time as event time."""
    objects = (DERIVED / "norway.aiscatcher.jsonl").read_bytes()

    async def main():
        async def serve(reader, writer):
            for i in range(0, len(objects), 4096):  # in pieces: lines cut across reads
                writer.write(objects[i : i + 4096])
                await writer.drain()
            await asyncio.sleep(30)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            spec = SourceSpec(f"tcp://127.0.0.1:{port}", "rx", format="aiscatcher", keep=True)
            return await _run(
                db_url,
                [spec],
                lambda pl: asyncio.sleep(0),
                lambda pl: pl.decoder.stats.lines >= 699,
            )

    p = asyncio.run(main())
    assert p.decoder.stats.positions == 233 and p.decoder.stats.rejected_lines == 0
    assert _rows(db_url, "SELECT count(*) FROM positions WHERE source LIKE 'rx%'")[0][0] == 233
    nmea = _rows(db_url, "SELECT line FROM raw_sentences LIMIT 1")[0][0]
    assert nmea.startswith("\\") and "!AIVDM" in nmea  # the sentence, with a tag block


async def test_decoded_json_pushed_over_http_is_stored(web):
    """BarentsWatch's decoded JSON lines pushed by a receiver to ``POST /api/ingest`` go
    through the pipeline into TimescaleDB: every record a position of the receiver."""
    body = (DATA / "barentswatch" / "AIS_2023_04_21_head.jsonl").read_bytes()
    rx = await web.token("receiver", owner="rx-west")
    spec = SourceSpec("http:", "push", format="json", keep=True)
    answers = []

    async def act(pipeline):
        await wait_until(lambda: "push" in pipeline.open_sources, timeout=10)
        web.app.state.feeds = pipeline.open_sources  # as the service wires it
        answers.append(await web.client.post("/api/ingest", content=body, headers=rx))

    p = await _run(web.db_url, [spec], act, lambda pl: pl.decoder.stats.lines >= 102)
    web.app.state.feeds = {}
    assert answers[0].status_code == 202 and answers[0].json() == {"feed": "push", "lines": 102}
    assert p.decoder.stats.positions == 102 and p.decoder.stats.rejected_lines == 0
    rows = _rows(
        web.db_url,
        "SELECT source, count(*), count(DISTINCT mmsi) FROM positions GROUP BY source",
    )
    assert rows == [("push/rx-west", 102, 102)]
    lat, lon = _rows(web.db_url, "SELECT lat, lon FROM positions WHERE mmsi = 258117000")[0]
    first = next(json.loads(x) for x in body.splitlines() if b"258117000" in x)
    assert abs(lat - first["latitude"]) < 1e-6 and abs(lon - first["longitude"]) < 1e-6
    assert _rows(web.db_url, "SELECT name FROM vessels WHERE mmsi = 258117000")[0][0] == (
        "STRIL POSEIDON"
    )


def test_decoded_json_over_mqtt_with_the_mmsi_in_the_topic(db_url, mqtt_broker, mqtt_topic):
    """Digitraffic's layout: vessels-v2/<mmsi>/location, the MMSI only in the topic."""
    rows = [
        json.loads(x)
        for x in (DATA / "barentswatch" / "AIS_2023_04_21_head.jsonl").read_text().splitlines()
    ]
    uri = f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}/{mqtt_topic}/#"
    spec = SourceSpec(uri, "fi", format="json", columns="mmsi=topic[-2],time=msgtime", keep=True)

    async def act(pipeline):
        await wait_until(lambda: "fi" in pipeline.open_sources, timeout=10)
        await asyncio.wait_for(pipeline.open_sources["fi"].subscribed.wait(), 10)
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as client:
            for r in rows:
                mmsi = r.pop("mmsi")
                await client.publish(f"{mqtt_topic}/{mmsi}/location", json.dumps(r), qos=1)
            await client.publish(f"{mqtt_topic}/1/location", '{"time": 1682116189}', qos=1)

    p = asyncio.run(_run(db_url, [spec], act, lambda pl: pl.decoder.stats.lines >= 103))
    assert p.decoder.stats.positions == 102
    assert p.decoder.stats.rejected == {"no_position": 1}  # counted, not fatal
    assert _rows(db_url, "SELECT count(DISTINCT mmsi) FROM positions")[0][0] == 102


def test_gpsd_watch_over_tcp(db_url):
    """A server speaking gpsd's protocol with gpsd's own output: it waits for ?WATCH."""
    objects = (DERIVED / "norway.gpsd.jsonl").read_bytes()
    asked: list[bytes] = []

    async def main():
        async def serve(reader, writer):
            writer.write(b'{"class":"VERSION","release":"3.25","proto_major":3}\n')
            asked.append(await reader.readline())
            writer.write(b'{"class":"DEVICES","devices":[]}\n' + objects)
            await writer.drain()
            await asyncio.sleep(30)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await _run(
                db_url,
                [SourceSpec(f"gpsd://127.0.0.1:{port}", "gpsd", keep=True)],
                lambda pl: asyncio.sleep(0),
                lambda pl: pl.decoder.stats.lines >= 468,
            )

    p = asyncio.run(main())
    assert asked[0].startswith(b'?WATCH={"enable":true,"json":true')
    assert p.decoder.stats.positions == 233 and p.decoder.stats.rejected == {"not_ais": 2}


async def test_post_api_ingest_with_a_receiver_token(web):
    feed = PushSource("http")
    web.app.state.feeds = {"http": feed}
    feed.reader = __import__("mda.ingest", fromlist=["make_reader"]).make_reader("aiscatcher")
    msgs = [
        json.loads(x) for x in (DERIVED / "norway.aiscatcher.jsonl").read_text().splitlines()[:6]
    ]
    body = json.dumps(
        {"protocol": "jsonaiscatcher", "stationid": "MyStation", "msgs": msgs}, indent=2
    )
    viewer = await web.token("viewer")
    r = await web.client.post("/api/ingest", content=body, headers=viewer)
    assert r.status_code == 403, r.text
    assert (await web.client.post("/api/ingest", content=body)).status_code == 401
    rx = await web.token("receiver", owner="rx-north")
    r = await web.client.post("/api/ingest", content=body, headers=rx)
    assert r.status_code == 202 and r.json() == {"feed": "http", "lines": 1}
    token = rx["Authorization"].split()[1]
    r = await web.client.post(f"/api/ingest/{token}", content=body)  # AIS-catcher's way
    assert r.status_code == 202, r.text
    assert (await web.client.post("/api/ingest/mda_wrong", content=body)).status_code == 401
    feed._queue.get_nowait()
    # a receiver's token reads nothing
    assert (await web.client.get("/api/vessels", headers=rx)).status_code == 403
    from mda.ingest import Decoder

    batch = feed._queue.get_nowait()
    assert batch.source == "http/rx-north"
    d = Decoder()
    out = d.feed(batch.lines, batch.recv_ts, batch.source, feed.reader)
    assert {p.source for p in out.positions} == {"http/rx-north/MyStation"}
    assert len(out.positions) == 3
    web.app.state.feeds = {}
    r = await web.client.post("/api/ingest", content=body, headers=rx)
    assert r.status_code == 503 and "http:" in r.json()["error"]["message"]


async def test_a_receiver_token_in_the_path_never_reaches_the_log(web, caplog, tmp_path):
    """AIS-catcher posts to ``/api/ingest/<token>``: a 5xx there is logged with the token
    replaced, and the server writes no access log (which would hold the path)."""
    import logging

    from web_support import make_settings

    from mda.web.server import server_config

    rx = await web.token("receiver", owner="rx-south")
    token = rx["Authorization"].split()[1]
    web.app.state.feeds = {}  # no pushed feed: 503
    with caplog.at_level(logging.DEBUG):
        r = await web.client.post(f"/api/ingest/{token}", content=b"!AIVDM,1,1,,A,x,0*00\n")
    assert r.status_code == 503
    # the server's log lines (the test's own HTTP client logs its URL, token and all)
    server = "\n".join(
        rec.getMessage() for rec in caplog.records if not rec.name.startswith("httpx")
    )
    assert "POST /api/ingest/<token> -> 503" in server
    assert token not in server
    assert server_config(web.app, make_settings(tmp_path)).access_log is False


@pytest.mark.parametrize(
    "page", ["feeds-receivers-json.md", "feeds-decoded-positions.md", "feeds-csv-archives.md"]
)
def test_the_feed_pages_configurations_load(page, tmp_path):
    """Every TOML example of the feed pages is a working configuration: its sources load
    and open (format, fields and time zone checked)."""
    from mda.ingest import open_source

    text = (Path(__file__).parents[1] / "docs" / page).read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    if page != "feeds-csv-archives.md":
        assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"{i}.toml"
        path.write_text(block)
        settings = load_settings(path, environ={})
        assert settings.sources
        for spec in settings.sources:
            src = open_source(spec.uri, **spec.feed_options())
            assert src.reader is None or src.reader.format in ("aiscatcher", "gpsd", "json")
