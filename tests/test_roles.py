"""The pieces of ``mda serve --role ...`` (mda/roles.py): the records' wire format, the core's
idempotent store of a redelivered batch and its de-duplication across ingest processes,
the leader's lock changing hands between two connections, and the analytics continuing
the alerts another core opened, and an ingest process started before any core holding its
records until a core's persistent session exists. The processes together: test_failover.py."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import psycopg
import pytest

from mda.analytics import Analyzer
from mda.ingest.records import PositionReport, RawSentence, VesselInfo
from mda.ingest.wire import WireBatch, WireError, decode_batch, encode_batch
from mda.roles import Core, CrossDedupe
from mda.store.db import connect
from mda.store.ha import guard_lock_session, try_lead
from mda.store.migrate import upgrade

T0 = 1_764_000_000.0


def _positions(n: int, source: str = "rxA", t0: float = T0) -> list[PositionReport]:
    return [
        PositionReport(
            t0 + i * 0.05,
            200_000_000 + i % 50,
            -10.0 + i * 1e-4,
            60.0 + i * 1e-4,
            None if i % 7 == 0 else 12.5,
            None if i % 5 == 0 else 181.5,
            None if i % 3 == 0 else i % 360,
            None if i % 4 == 0 else 0,
            (1, 3, 18)[i % 3],
            source,
            None if i % 2 else -3.0,
            (None, True, False)[i % 3],
        )
        for i in range(n)
    ]


def test_a_batch_survives_the_wire_unchanged():
    positions = _positions(500) + _positions(3, source="rxB")
    statics = [
        VesselInfo(T0, 200_000_001, 5, "rxA", name="ÉTOILE", ship_type=70, draught=8.5),
        VesselInfo(T0 + 1, 200_000_002, 24, "rxA", callsign="ABCD"),
    ]
    raw = [
        RawSentence(T0, "rxA", "!AIVDM,1,1,,B,13aEOK?P00PD2wVMdLDRhgvL289?,0*26", 200_000_001, 1),
        RawSentence(T0 + 1, "rxB", "!AIVDM,2,1,3,A,x,0*00\n!AIVDM,2,2,3,A,y,0*00", None, None),
    ]
    batch = WireBatch(uuid.uuid4(), "ingest-1", "site-a", positions, statics, raw)
    data = encode_batch(batch)
    back = decode_batch(data)
    assert back == batch  # every field, None kept apart from 0 and False
    assert len(data) < 60 * len(positions) + 1000
    # Speed, course and rate of turn travel as float32, as the positions table keeps them.
    odd = WireBatch(uuid.uuid4(), "i", "s", [PositionReport(T0, 1, 1.1, 2.2, 12.3, 359.9)])
    p = decode_batch(encode_batch(odd)).positions[0]
    assert (p.lat, p.lon) == (1.1, 2.2)
    assert p.sog == pytest.approx(12.3, abs=1e-5) and p.cog == pytest.approx(359.9, abs=1e-4)
    empty = WireBatch(uuid.uuid4(), "i", "s")
    assert decode_batch(encode_batch(empty)) == empty


def test_a_damaged_batch_is_refused_with_a_reason():
    data = encode_batch(WireBatch(uuid.uuid4(), "i", "s", _positions(10)))
    with pytest.raises(WireError, match="bad magic"):
        decode_batch(b"{" + data[1:])
    with pytest.raises(WireError, match="damaged"):
        decode_batch(data[:12])


def test_copies_from_another_ingest_process_are_dropped_not_those_of_the_same():
    d = CrossDedupe(window=10.0)
    ps = _positions(100)
    assert len(d.filter("a", ps)) == 100
    # The same fixes from a second ingest process (a second reader of the feed, its
    # receive time a little later): all copies.
    later = [PositionReport(**{f: getattr(p, f) for f in p.__slots__}) for p in ps]
    for p in later:
        p.ts += 0.4
        p.source = "rxB"
    assert d.filter("b", later) == []
    assert d.dropped == 100
    # The same process again (a redelivery: its batch id decides), and a copy too late.
    assert len(d.filter("a", ps[:10])) == 10
    late = PositionReport(**{f: getattr(ps[-1], f) for f in ps[-1].__slots__})
    late.ts += 60
    assert d.filter("b", [late]) == [late]
    # Bounded by event time.
    d.filter("a", _positions(1, t0=T0 + 10_000))
    assert len(d.seen) == 1


class _Stage:
    def __init__(self):
        self.seen: list[int] = []

    async def __call__(self, positions, statics):
        self.seen.append(len(positions))


class _Publisher:
    def __init__(self):
        self.sent: list[str] = []

    async def publish_message(self, subtopic, payload):
        self.sent.append(subtopic)


async def test_a_redelivered_batch_stores_nothing_twice_and_is_not_analysed_again(db_url):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    settings = SimpleNamespace(dedupe_window_s=10.0, raw_archive=True, outage_retry_max_s=1.0)
    from mda.web.metrics import Telemetry

    service = SimpleNamespace(
        settings=settings,
        url=db_url,
        alert_stage=_Stage(),
        publisher=_Publisher(),
        telemetry=Telemetry(),
    )
    core = Core(service)
    first = WireBatch(uuid.uuid4(), "ingest-a", "a", _positions(300), [], [])
    first.raw = [RawSentence(p.ts, p.source, f"!line {i}") for i, p in enumerate(first.positions)]
    payload = encode_batch(first)
    await core._handle(payload)
    await core._handle(payload)  # the broker delivers it again (not acknowledged in time)
    # The same fixes and lines from another ingest process, in a batch of their own.
    copy = WireBatch(uuid.uuid4(), "ingest-b", "b", _positions(300), [], list(first.raw))
    await core._handle(encode_batch(copy))
    await core._conn.close()
    # each write timed for /metrics (mda_store_write_duration_seconds), as in one process
    [count] = [
        s.value
        for m in service.telemetry.write_seconds.collect()
        for s in m.samples
        if s.name.endswith("_count")
    ]
    assert count == 3
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM positions").fetchone()[0] == 300
        assert conn.execute("SELECT sum(n) FROM raw_chunks").fetchone()[0] == 300
        assert conn.execute("SELECT count(*) FROM write_batches").fetchone()[0] == 2
    assert core.counters["core_batches_stored"] == 2
    assert core.counters["core_batches_repeated"] == 1
    assert core.status()["core_positions_duplicate"] == 300
    assert core.status()["core_raw_duplicate"] == 300
    assert service.alert_stage.seen == [300]  # the analytics saw each fix once
    assert service.publisher.sent == ["live/positions"]


async def test_the_leaders_lock_passes_to_the_standby_when_the_leader_dies(db_url):
    leader = await connect(db_url, autocommit=True)
    standby = await connect(db_url, autocommit=True)
    try:
        assert await try_lead(leader)
        assert not await try_lead(standby)
        assert await try_lead(leader)  # held, not taken twice
        await leader.close()  # as when its process is killed: the server frees the lock
        for _ in range(50):
            if await try_lead(standby):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the standby never got the lock")
        other = await connect(db_url, autocommit=True)
        assert not await try_lead(other)
        # a leader's machine lost without closing its socket: the server probes its peer
        took = await guard_lock_session(other)
        assert took["tcp_keepalives_idle"] == "3" and took["tcp_user_timeout"] == "6000"
        cur = await other.execute("SHOW tcp_keepalives_idle")
        assert (await cur.fetchone())[0] in ("3", "3s")
        await other.close()
    finally:
        await standby.close()


def _sart(mmsi: int, ts: float, lat: float = -5.0) -> PositionReport:
    return PositionReport(ts, mmsi, lat, 70.0, 0.5, 10.0, None, 14, 1, "rxA")


def test_a_core_taking_over_continues_the_open_alerts_under_their_keys():
    first = Analyzer()
    opened = first.process([_sart(970_000_001, T0), _sart(970_000_001, T0 + 60)])
    assert opened[0].change == "opened" and {c.alert.key for c in opened} == {opened[0].alert.key}
    key = opened[0].alert.key
    # The next core adopts what the first left open and replays only the last minutes
    # (the first report is outside its window): the same episode, the same key, no
    # second opening.
    second = Analyzer()
    assert second.adopt_alerts(first.open_alerts()) == 1
    changes = second.process([_sart(970_000_001, T0 + 120), _sart(970_000_001, T0 + 180)])
    assert changes and {c.alert.key for c in changes} == {key}
    assert "opened" not in {c.change for c in changes}
    assert second.book.adopted_waiting == 0
    # Without adoption the same replay would have rung again under another key.
    fresh = Analyzer().process([_sart(970_000_001, T0 + 120)])
    assert fresh[0].change == "opened" and fresh[0].alert.key != key


async def test_a_leader_whose_lock_connection_dies_stands_by_and_leads_again(
    db_url, mqtt_broker, mqtt_topic, tmp_path, caplog
):
    """The lock is the only proof of leadership: a leader that loses its lock's
    connection stops leading at once (no second leader meanwhile), then stands by and,
    with no other core about, takes the lead again."""
    from mda.service import Service
    from mda.settings import load_settings

    settings = load_settings(
        environ={
            "MDA_DATA_DIR": str(tmp_path),
            "MDA_MQTT_URL": f"{mqtt_broker.url}/{mqtt_topic}",
            "MDA_DATABASE_URL": db_url,
        }
    )
    service = Service(settings, db_url, [], web=False, role="core")
    task = asyncio.create_task(service.run())

    async def until(check, what, timeout=30.0):
        for _ in range(int(timeout / 0.1)):
            if task.done():
                await task  # its failure, if any
                raise AssertionError(f"the service ended waiting for {what}")
            if check():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    try:
        await until(lambda: service.status()["leader"], "the core to lead")
        assert service.status()["role"] == "core"
        async with await connect(db_url, autocommit=True) as admin:
            cur = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND ((classid::int8 << 32) | objid::int8) = %s",
                (0x6D6461636F7265,),
            )
            assert (await cur.fetchall()) == [(True,)]
        await until(lambda: "leadership lost" in caplog.text, "the leader to step down", 5)
        await until(lambda: service.status()["core_takeovers"] == 2, "the core to lead again")
        assert service.status()["leader"]
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)


def _feed_lines(n: int, t0: float) -> list[bytes]:
    """``n`` position reports of 50 vessels, each one unique, with their event time in an
    NMEA 4.10 tag block."""
    from bench.bench_latency import position_sentence

    out = []
    for i in range(n):
        v, k = i % 50, i // 50
        s = position_sentence(
            201_000_000 + v, -12.0 + v * 0.01 + k * 1e-3, 65.0 + k * 1e-3, 9.0, 45.0, i
        )
        tag = f"s:rx1,c:{int(t0) + i // 10}"
        out.append(f"\\{tag}*{_checksum(tag)}\\{s}".encode())
    return out


def _checksum(text: str) -> str:
    c = 0
    for ch in text.encode():
        c ^= ch
    return f"{c:02X}"


async def _until(check, what: str, timeout: float, *tasks: asyncio.Task):
    for _ in range(int(timeout / 0.1)):
        for t in tasks:
            if t.done():
                await t  # its failure, if any
                raise AssertionError(f"a service ended waiting for {what}")
        if result := check():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def test_records_an_ingest_sends_before_any_core_ever_connected_are_all_stored(
    db_url, mqtt_broker, mqtt_topic, tmp_path
):
    """Before any core has subscribed under the installation's persistent session, the
    broker would drop the records (no one to queue them for): the ingest process holds
    them until a core's retained ``live/core`` shows that session exists, then sends."""
    import time

    from mda.service import Service
    from mda.settings import SourceSpec, load_settings

    n = 500
    lines = _feed_lines(n, time.time() - 600)
    hold = asyncio.Event()

    async def serve(reader, writer):  # the whole feed at once, then an idle connection
        writer.write(b"".join(lines))
        await writer.drain()
        await hold.wait()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def settings(name: str):
        return load_settings(
            environ={
                "MDA_DATA_DIR": str(tmp_path / name),
                "MDA_MQTT_URL": f"{mqtt_broker.url}/{mqtt_topic}",
                "MDA_DATABASE_URL": db_url,
            }
        )

    ingest = Service(
        settings("ingest"),
        db_url,
        [SourceSpec(f"tcp://127.0.0.1:{port}", "rx1")],
        web=False,
        role="ingest",
    )
    core = Service(settings("core"), db_url, [], web=False, role="core")
    tasks = [asyncio.create_task(ingest.run(), name="ingest")]
    try:

        def read_and_held():
            st = ingest.status()
            lines_read = sum(f.get("lines", 0) for f in st["feeds"])
            return (
                lines_read == n
                and ingest.publisher.connected
                and st["ingest_batches_waiting"] > 0
                and st
            )

        st = await _until(read_and_held, "the feed read and its records held", 30, *tasks)
        await asyncio.sleep(1.0)  # time enough to send, were they not held
        st = ingest.status()
        assert st["ingest_core_seen"] is False and st["ingest_batches_waiting"] > 0
        assert ingest.publisher.sent == 0  # nothing published to a broker that would drop it

        tasks.append(asyncio.create_task(core.run(), name="core"))

        def stored() -> int:
            with psycopg.connect(db_url) as conn:
                try:
                    return conn.execute("SELECT count(*) FROM positions").fetchone()[0]
                except psycopg.errors.UndefinedTable:
                    return 0

        await _until(lambda: stored() >= n, "every position to be stored", 60, *tasks)
        await asyncio.sleep(0.5)  # anything stored twice would show now
        assert stored() == n
        st = ingest.status()
        assert st["ingest_core_seen"] is True and st["ingest_batches_waiting"] == 0
        assert ingest.publisher.core["client_id"].startswith("mda-core-")
        assert core.status()["core_positions_stored"] == n
    finally:
        hold.set()
        ingest.stop()
        if len(tasks) > 1:
            core.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        server.close()
