"""Feeds against real sockets, a real broker, real files and a real stdin pipe."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mda.ingest import Decoder, SourceError, open_source

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
EXACT_EARTH = DATA / "amsa/exact-earth-with-tag-block.txt"  # 221 lines, 200 messages
# As a stream: a line is complete at its newline (the file's last line has none).
EXACT_EARTH_STREAM = EXACT_EARTH.read_bytes().rstrip(b"\n") + b"\n"


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="latin-1").splitlines()


def position_keys(positions) -> Counter:
    return Counter((p.mmsi, p.ts, p.lat, p.lon) for p in positions)


def expected_positions(path: Path) -> Counter:
    decoder = Decoder()
    return position_keys(decoder.feed(lines_of(path), time.time(), "x").positions)


async def collect(src, n_lines: int, timeout: float = 15.0) -> list:
    """Batches from an entered source until ``n_lines`` lines have come."""
    batches, got = [], 0
    async with asyncio.timeout(timeout):
        async for batch in src:
            batches.append(batch)
            got += len(batch.lines)
            if got >= n_lines:
                break
    return batches


# --------------------------------------------------------------------------- files


async def test_file_plain_and_gzip_give_the_same_lines(tmp_path):
    text = (DATA / "dma/stream_example.txt").read_bytes()
    gz = tmp_path / "dma.txt.gz"
    gz.write_bytes(gzip.compress(text))
    results = []
    for uri in (str(DATA / "dma/stream_example.txt"), f"file:{gz}"):
        async with open_source(uri) as src:
            assert src.progress[0] == 0
            batches = [b async for b in src]
            done, size = src.progress
            assert done == size > 0
        assert all(len(b.lines) <= 1000 for b in batches)
        assert all(b.source == src.name for b in batches)
        results.append([line for b in batches for line in b.lines])
    # Lines come as sent, "\r" included (the decoder strips it).
    assert results[0] == results[1] == text.decode().split("\n")[:-1]


async def test_file_name_and_last_line_without_newline(tmp_path):
    path = tmp_path / "feed.nmea"
    path.write_text(
        "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\r\n"
        "!AIVDM,1,1,,B,16SteH0P00Jt63hHaa6SagvJ087r,0*41"
    )
    async with open_source(f"file://{path}", name="north") as src:
        batches = [b async for b in src]
    decoder = Decoder()
    positions = [p for b in batches for p in decoder.feed(b.lines, b.recv_ts, b.source).positions]
    assert [p.source for p in positions] == ["north", "north"]


async def test_file_replay_at_speed_follows_event_time():
    # The DMA recording spans 27 s of $PGHP time: at 30x about 0.9 s.
    start = time.monotonic()
    async with open_source(str(DATA / "dma/stream_example.txt"), speed=30) as src:
        batches = [b async for b in src]
    elapsed = time.monotonic() - start
    assert 0.6 < elapsed < 5.0
    assert sum(len(b.lines) for b in batches) == 8551
    # Batches come spread over the replay, not all at once.
    spread = batches[-1].recv_ts - batches[0].recv_ts
    assert spread > 0.5


async def test_file_errors_are_source_errors(tmp_path):
    with pytest.raises(SourceError, match="cannot open"):
        async with open_source(str(tmp_path / "missing.nmea")):
            pass
    with pytest.raises(SourceError, match="unknown source scheme"):
        open_source("http://example.invalid/feed")
    with pytest.raises(SourceError, match="port"):
        open_source("tcp://localhost")
    with pytest.raises(SourceError, match="speed"):
        open_source("tcp://localhost:1234", speed=2)


async def test_truncated_gzip_ends_the_feed_without_raising(tmp_path):
    data = gzip.compress((DATA / "dma/stream_example.txt").read_bytes())
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    async with open_source(str(path)) as src:
        lines = [line for b in [b async for b in src] for line in b.lines]
    assert 1000 < len(lines) < 8551


# --------------------------------------------------------------------------- stdin


def test_stdin_pipe():
    script = (
        "import asyncio\n"
        "from ingest import Decoder, open_source\n"
        "async def main():\n"
        "    d = Decoder()\n"
        "    async with open_source('-') as src:\n"
        "        async for b in src:\n"
        "            d.feed(b.lines, b.recv_ts, b.source)\n"
        "    d.flush()\n"
        "    print(d.stats.lines, d.stats.accounted, d.stats.messages, src.name)\n"
        "asyncio.run(main())\n"
    )
    data = EXACT_EARTH.read_bytes()
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=data,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.decode().split() == ["221", "221", "200", "stdin"]


# --------------------------------------------------------------------------- TCP


async def test_tcp_feed_delivers_every_position_once():
    payload = EXACT_EARTH_STREAM

    async def serve(reader, writer):
        # In uneven pieces, so lines are cut across reads.
        for i in range(0, len(payload), 777):
            writer.write(payload[i : i + 777])
            await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        async with open_source(f"tcp://127.0.0.1:{port}", name="tcp-rx") as src:
            batches = await collect(src, 221)
    decoder = Decoder()
    positions = []
    for b in batches:
        assert b.source == "tcp-rx"
        positions += decoder.feed(b.lines, b.recv_ts, b.source).positions
    assert position_keys(positions) == expected_positions(EXACT_EARTH)
    assert decoder.stats.lines == decoder.stats.accounted == 221


async def test_tcp_reconnects_after_the_server_drops_the_link(caplog):
    lines = EXACT_EARTH_STREAM.splitlines(True)
    first, second = b"".join(lines[:100]), b"".join(lines[100:])
    connections = []

    async def serve(reader, writer):
        connections.append(writer)
        if len(connections) == 1:
            # The link drops in the middle of a line: that piece still reaches the
            # decoder as a line (and is rejected there), nothing vanishes.
            writer.write(first + b"!AIVDM,1,1,,B,15Mw")
            await writer.drain()
            writer.close()
            return
        writer.write(second)
        await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.INFO, logger="ingest")
    async with server:
        src = open_source(f"tcp://127.0.0.1:{port}", reconnect_min=0.05, reconnect_max=0.2)
        async with src:
            batches = await collect(src, 222)
        assert src.connections == 2
    decoder = Decoder()
    positions = []
    for b in batches:
        positions += decoder.feed(b.lines, b.recv_ts, b.source).positions
    decoder.flush()
    assert position_keys(positions) == expected_positions(EXACT_EARTH)
    assert decoder.stats.lines == decoder.stats.accounted == 222
    assert sum(decoder.stats.rejected.values()) == 1
    assert "disconnected" in caplog.text


async def test_tcp_waits_for_a_server_that_is_not_there_yet(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="ingest")
    src = open_source(f"tcp://127.0.0.1:{port}", reconnect_min=0.05, reconnect_max=0.2)

    async def serve(reader, writer):
        writer.write(EXACT_EARTH_STREAM)
        await writer.drain()
        await asyncio.sleep(30)

    async with src:
        task = asyncio.create_task(collect(src, 221), name="test-collect")
        await asyncio.sleep(0.5)
        assert "cannot connect" in caplog.text
        server = await asyncio.start_server(serve, "127.0.0.1", port)
        async with server:
            batches = await task
    assert sum(len(b.lines) for b in batches) == 221


async def test_tcp_quiet_feed_is_logged_and_reconnected(caplog):
    accepted = []

    async def serve(reader, writer):
        accepted.append(writer)
        if len(accepted) == 1:
            await asyncio.sleep(30)  # silent, like a half-open link
        writer.write(EXACT_EARTH_STREAM)
        await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.WARNING, logger="ingest")
    async with server:
        src = open_source(f"tcp://127.0.0.1:{port}", quiet_after=0.2, reconnect_min=0.05)
        async with src:
            batches = await collect(src, 221)
    assert "quiet for" in caplog.text
    assert len(accepted) == 2
    assert sum(len(b.lines) for b in batches) == 221


# --------------------------------------------------------------------------- UDP


async def test_udp_datagrams_with_several_lines():
    lines = lines_of(EXACT_EARTH)
    async with open_source("udp://127.0.0.1:0", name="udp-rx") as src:
        host, port = src.local_address
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(0, len(lines), 5):
                sender.sendto(("\r\n".join(lines[i : i + 5]) + "\r\n").encode(), (host, port))
        batches = await collect(src, len(lines))
    got = [line for b in batches for line in b.lines]
    assert [line.strip() for line in got] == lines
    assert src.dropped == 0


async def test_udp_bind_failure_is_a_source_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(SourceError, match="cannot bind"):
            async with open_source(f"udp://127.0.0.1:{port}"):
                pass


# --------------------------------------------------------------------------- MQTT


async def test_mqtt_feed_delivers_every_position_once(mqtt_broker, mqtt_topic):
    import aiomqtt

    lines = lines_of(EXACT_EARTH)
    uri = f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}/{mqtt_topic}/#"
    src = open_source(uri, name="mqtt-rx")
    async with src:
        task = asyncio.create_task(collect(src, len(lines)), name="test-mqtt-collect")
        async with asyncio.timeout(10):
            await src.subscribed.wait()
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            # Payloads of one to seven lines, on two sub-topics.
            i, n = 0, 1
            while i < len(lines):
                chunk = "\n".join(lines[i : i + n])
                await pub.publish(f"{mqtt_topic}/rx{n % 2}", chunk.encode(), qos=1)
                i, n = i + n, n % 7 + 1
        batches = await task
    decoder = Decoder()
    positions = []
    for b in batches:
        assert b.source == "mqtt-rx"
        positions += decoder.feed(b.lines, b.recv_ts, b.source).positions
    assert position_keys(positions) == expected_positions(EXACT_EARTH)
    assert decoder.stats.lines == decoder.stats.accounted == len(lines)


async def test_mqtt_uri_forms():
    src = open_source("mqtt://user:secret@broker.example:1999/ais/raw/#")
    assert (src.host, src.port, src.topic, src.username, src.password) == (
        "broker.example",
        1999,
        "ais/raw/#",
        "user",
        "secret",
    )
    assert "secret" not in src.name
    src = open_source("mqtts://broker.example/ais")
    assert (src.port, src.tls, src.topic) == (8883, True, "ais")


async def test_mqtt_broker_down_is_retried(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="ingest")
    src = open_source(f"mqtt://127.0.0.1:{port}/x/#", reconnect_min=0.05, reconnect_max=0.1)
    async with src:
        task = asyncio.create_task(collect(src, 1, timeout=0.6), name="test-mqtt-down")
        with pytest.raises(TimeoutError):
            await task
    assert caplog.text.count("reconnect in") >= 2


# --------------------------------------------------------------------------- overload


def drop_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "pipeline behind" in r.getMessage()]


async def wait_for_drops(src, n: int) -> None:
    async with asyncio.timeout(10):
        while src.dropped < n:  # noqa: ASYNC110 (a counter, polled until it reaches n)
            await asyncio.sleep(0.01)


async def test_udp_overload_drops_the_newest_counts_and_logs_rate_limited(caplog):
    from mda.ingest.sources import UdpSource

    caplog.set_level(logging.WARNING, logger="ingest")
    src = UdpSource("127.0.0.1", 0, "udp-rx", max_queued=5)
    async with src:
        host, port = src.local_address
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(20):  # nobody reads the feed meanwhile
                sender.sendto(f"line {i}\n".encode(), (host, port))
                await asyncio.sleep(0)
        await wait_for_drops(src, 15)
        batches = await collect(src, 5)
    assert [line for b in batches for line in b.lines] == [f"line {i}" for i in range(5)]
    assert src.dropped == 15
    # The first drop at once, the rest (within 10 s) when the feed closes.
    assert drop_warnings(caplog) == [
        "feed udp-rx: pipeline behind, dropped 1 datagrams (1 in all)",
        "feed udp-rx: pipeline behind, dropped 14 datagrams (15 in all)",
    ]


async def test_mqtt_overload_drops_the_newest_counts_and_logs_rate_limited(
    mqtt_broker, mqtt_topic, caplog
):
    import aiomqtt

    from mda.ingest.sources import MqttSource

    caplog.set_level(logging.WARNING)
    src = MqttSource(mqtt_broker.host, mqtt_broker.port, f"{mqtt_topic}/#", "mqtt-rx", max_queued=5)
    async with src:
        batches = src.__aiter__()
        first = asyncio.create_task(anext(batches), name="test-mqtt-first")
        async with asyncio.timeout(10):
            await src.subscribed.wait()
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            await pub.publish(f"{mqtt_topic}/rx", b"line 0", qos=1)
            assert (await first).lines == ["line 0"]
            for i in range(1, 21):  # the feed is not read meanwhile
                await pub.publish(f"{mqtt_topic}/rx", f"line {i}".encode(), qos=1)
        await wait_for_drops(src, 15)
        rest = await collect(src, 5)
    assert [line for b in rest for line in b.lines] == [f"line {i}" for i in range(1, 6)]
    assert src.dropped == 15
    assert drop_warnings(caplog) == [
        "feed mqtt-rx: pipeline behind, dropped 1 messages (1 in all)",
        "feed mqtt-rx: pipeline behind, dropped 14 messages (15 in all)",
    ]
    assert "queue is full" not in caplog.text  # aiomqtt's own warning, once per message
