"""Feeds through the whole ingest path into TimescaleDB: every position once, every line
accounted for, whatever the transport, and bad input never takes the process down."""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import subprocess
import sys
from pathlib import Path

import aiomqtt
import psycopg
import pytest
from bench.feedgen import generate

from mda.pipeline import Pipeline
from mda.settings import SourceSpec, load_settings
from mda.store.migrate import upgrade
from mda.store.writer import StoreWriter

DATA = Path(__file__).parent / "data"


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def _mda(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    return subprocess.run(
        [sys.executable, "-m", "mda", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def feed():
    return generate(20_000, vessels=300, seed=11)


@pytest.fixture
def feed_file(feed, tmp_path) -> Path:
    path = tmp_path / "feed.nmea.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(feed.lines) + "\n")
    return path


def test_mda_ingest_stores_each_position_once_and_prints_the_summary(db_url, feed, feed_file):
    r = _mda("ingest", str(feed_file), "--keep", "--database", db_url, "--name", "rx-file")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    # Two receivers heard a fifth of the traffic: stored once, counted as duplicates.
    assert _count(db_url, "SELECT count(*) FROM positions") == feed.unique_positions
    assert (
        _count(
            db_url,
            "SELECT count(*) FROM (SELECT mmsi, time, lat, lon FROM positions "
            "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d",
        )
        == 0
    )
    summary = {
        line[:20].strip(): line[20:].split()[0]
        for line in r.stderr.splitlines()
        if len(line) > 20 and not line.startswith(" " * 20)
    }
    assert summary["lines"] == f"{len(feed.lines):,}"
    assert summary["stored"] == f"{feed.unique_positions:,}"
    assert int(summary["duplicates"].replace(",", "")) > 0 and "not_ais" in r.stderr
    assert _count(db_url, "SELECT count(DISTINCT mmsi) FROM vessels WHERE name IS NOT NULL") > 0
    # The raw archive keeps every AIS message that was not a duplicate, one row each, with
    # its vessel and time lined up.
    stored_line = next(x for x in r.stderr.splitlines() if x.startswith("stored"))
    raw_stored = int(stored_line.split("static reports, ")[1].split()[0].replace(",", ""))
    assert raw_stored > feed.unique_positions
    assert _count(db_url, "SELECT count(*) FROM raw_sentences") == raw_stored
    assert (
        _count(
            db_url,
            "SELECT count(*) FROM raw_sentences WHERE time IS NULL "
            "OR (mmsi IS NULL AND line LIKE '%!AIVDM%')",
        )
        == 0
    )


def test_robustness_corpus_and_random_bytes_ingest_without_an_error(db_url, tmp_path):
    junk = tmp_path / "random.bin"
    rnd = random.Random(5)
    junk.write_bytes(bytes(rnd.randrange(256) for _ in range(200_000)))
    r = _mda("ingest", str(DATA / "amsa" / "ais.txt.gz"), str(junk), "--keep", "--database", db_url)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr
    assert "rejected" in lines
    assert "bad_checksum" in lines or "not_ais" in lines
    stored = _count(db_url, "SELECT count(*) FROM positions")
    reported = int(
        next(x for x in lines.splitlines() if x.startswith("stored")).split()[1].replace(",", "")
    )
    assert stored == reported > 20_000


def test_unreadable_source_is_named_and_the_others_still_ingest(db_url, feed_file, tmp_path):
    r = _mda(
        "ingest", str(tmp_path / "missing.nmea"), str(feed_file), "--keep", "--database", db_url
    )
    assert "missing.nmea" in r.stderr
    assert "Traceback" not in r.stderr
    assert _count(db_url, "SELECT count(*) FROM positions") > 0


async def _run_until(pipeline: Pipeline, url: str, expected: int, timeout: float = 60) -> int:
    task = asyncio.create_task(pipeline.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.3)
            if pipeline.writer.stats.positions >= expected:
                await asyncio.sleep(0.5)  # anything extra would show up now
                break
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return _count(url, "SELECT count(*) FROM positions")


async def test_tcp_feed_stores_every_position_once(db_url, feed):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    payload = ("\r\n".join(feed.lines) + "\r\n").encode()

    async def serve(reader, writer):  # a receiver that replays its recording, then idles
        writer.write(payload)
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = load_settings(environ={})
    async with server, StoreWriter(db_url) as writer:
        pipeline = Pipeline(
            settings, writer, [SourceSpec(f"tcp://127.0.0.1:{port}", "rx-tcp", keep=True)]
        )
        stored = await _run_until(pipeline, db_url, feed.unique_positions)
    assert stored == feed.unique_positions
    assert _count(db_url, "SELECT count(*) FROM positions WHERE source NOT LIKE 'rx-tcp%'") == 0


async def test_mqtt_feed_stores_every_position_once(db_url, feed, mqtt_broker, mqtt_topic):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    settings = load_settings(environ={})
    uri = f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}/{mqtt_topic}/ais"
    async with StoreWriter(db_url) as writer:
        pipeline = Pipeline(settings, writer, [SourceSpec(uri, "rx-mqtt", keep=True)])
        runner = asyncio.create_task(_run_until(pipeline, db_url, feed.unique_positions))
        # Publish only once the feed has subscribed: the broker keeps nothing for a
        # subscriber that is not there yet.
        for _ in range(600):
            if "rx-mqtt" in pipeline.open_sources:
                break
            await asyncio.sleep(0.05)
        await asyncio.wait_for(pipeline.open_sources["rx-mqtt"].subscribed.wait(), 30)
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            for i in range(0, len(feed.lines), 50):  # several NMEA lines per payload
                await pub.publish(f"{mqtt_topic}/ais", "\n".join(feed.lines[i : i + 50]), qos=1)
        stored = await runner
    assert stored == feed.unique_positions


async def test_two_receivers_hearing_the_same_traffic_store_it_once(db_url, feed, tmp_path):
    """Two files, as two receivers: the same sentences, each under its own receiver."""
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    from bench.feedgen import _tag

    heard = []  # (event time, sentence) of receiver A's traffic
    for line in feed.lines[:5000]:
        if line.startswith("\\s:rxA,c:"):
            tag, sentence = line[1:].split("\\", 1)
            heard.append((int(tag.split("c:")[1].split("*")[0]), sentence))
    a, b = tmp_path / "a.nmea", tmp_path / "b.nmea"
    a.write_text("\n".join(_tag("rxA", t) + s for t, s in heard) + "\n")
    b.write_text("\n".join(_tag("rxB", t) + s for t, s in heard) + "\n")
    settings = load_settings(environ={})
    async with StoreWriter(db_url) as writer:
        pipeline = Pipeline(
            settings,
            writer,
            [SourceSpec(str(a), "a", keep=True), SourceSpec(str(b), "b", keep=True)],
        )
        await pipeline.run()
    one = Path(tmp_path / "one.nmea")
    one.write_text(a.read_text())  # noqa: ASYNC240 (a small test file)
    stored = _count(db_url, "SELECT count(*) FROM positions")
    # Nearly every line of B is a copy (identical static messages repeated within one
    # receiver's own stream make the exact count a little lower).
    assert pipeline.decoder.stats.duplicate_lines >= 0.95 * len(heard)
    assert not pipeline.decoder.stats.rejected
    # Receiver B adds nothing that receiver A did not already give.
    assert stored == pipeline.writer.stats.positions
    with psycopg.connect(db_url) as conn:
        conn.execute("TRUNCATE positions")
        conn.commit()
    async with StoreWriter(db_url) as writer:
        only_a = Pipeline(settings, writer, [SourceSpec(str(one), "a", keep=True)])
        await only_a.run()
    assert _count(db_url, "SELECT count(*) FROM positions") == stored
