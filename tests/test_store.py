"""The store on real servers: migrations on TimescaleDB and on the embedded PostgreSQL,
binary COPY of 100,000 rows, idempotent upgrades, vessel state merging, outage spooling."""

from __future__ import annotations

import asyncio
import random

import psycopg
import pytest

from mda.analytics import Alert, AlertChange
from mda.ingest.records import PositionReport, RawSentence, VesselInfo
from mda.store.alerts import InvalidOutcome, InvalidTransition, acknowledge, close
from mda.store.migrate import SCHEMA_VERSION, detect, upgrade
from mda.store.writer import StoreWriter

T0 = 1_700_000_000.0


def _schema_fingerprint(conn: psycopg.Connection) -> list:
    """Everything an upgrade could change: columns, indexes, hypertables, migrations."""
    cols = conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY 1, 2"
    ).fetchall()
    idx = conn.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "ORDER BY 1, 2"
    ).fetchall()
    mig = conn.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY 1"
    ).fetchall()
    hyper = []
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        hyper = conn.execute(
            "SELECT hypertable_name, num_dimensions FROM "
            "timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
    return [cols, idx, mig, hyper]


def test_migrations_make_positions_a_hypertable_on_timescaledb(db_url):
    with psycopg.connect(db_url) as conn:
        applied, caps = upgrade(conn)
        assert "0001_core.sql" in applied
        assert caps.timescaledb, caps.reason
        assert caps.license in ("apache", "timescale")
        assert "positions" in caps.hypertables
        interval = conn.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'positions'"
        ).fetchone()[0]
        assert interval.days == 1
        indexes = {
            r[0]
            for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'positions'")
        }
        assert "positions_mmsi_time_idx" in indexes
        # Policies only where the licence allows them, and status says which.
        lines = "\n".join(caps.lines())
        assert f"license {caps.license}" in lines
        if caps.license == "apache":
            assert "need the timescale license" in lines


def test_running_migrations_again_changes_nothing(db_url):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
        before = _schema_fingerprint(conn)
        applied, caps = upgrade(conn)
        assert applied == []
        assert caps.schema_version == SCHEMA_VERSION
        assert _schema_fingerprint(conn) == before


def test_same_schema_on_embedded_postgres_without_timescaledb(embedded_db_url, db_url):
    with psycopg.connect(embedded_db_url) as plain, psycopg.connect(db_url) as tsdb:
        _, caps = upgrade(plain)
        upgrade(tsdb)
        assert caps.timescaledb is None and caps.hypertables == []
        assert "plain tables" in "\n".join(caps.lines())
        q = (
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY 1, 2"
        )
        assert plain.execute(q).fetchall() == tsdb.execute(q).fetchall()
        applied, _ = upgrade(plain)
        assert applied == []


def _positions(n: int, vessels: int = 500, seed: int = 1) -> list[PositionReport]:
    rnd = random.Random(seed)
    return [
        PositionReport(
            ts=T0 + i * 0.1,
            mmsi=200_000_000 + i % vessels,
            lat=rnd.uniform(-30, 25),
            lon=rnd.uniform(40, 100),
            sog=rnd.choice([None, rnd.uniform(0, 25)]),
            cog=rnd.uniform(0, 359.9),
            heading=rnd.choice([None, rnd.randrange(360)]),
            nav_status=0,
            msg_type=rnd.choice([1, 3, 18]),
            source=rnd.choice(["rxA", "rxB"]),
        )
        for i in range(n)
    ]


async def test_binary_copy_writer_stores_100000_rows(db_url):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    rows = _positions(100_000)
    async with StoreWriter(db_url) as writer:
        for i in range(0, len(rows), 10_000):
            assert await writer.write(rows[i : i + 10_000], [], [])
    assert writer.stats.positions == 100_000
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM positions").fetchone()[0] == 100_000
        # The latest state per vessel is the newest fix of each of the 500 vessels.
        assert conn.execute("SELECT count(*) FROM vessels").fetchone()[0] == 500
        last = rows[-1]
        got = conn.execute(
            "SELECT lat, lon, extract(epoch FROM time) FROM vessels WHERE mmsi = %s", (last.mmsi,)
        ).fetchone()
        assert got[0] == pytest.approx(last.lat) and got[1] == pytest.approx(last.lon)
        assert float(got[2]) == pytest.approx(last.ts, abs=1e-3)
        # A chunk per day on TimescaleDB: rows spanning 10,000 s stay in one or two chunks.
        chunks = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'positions'"
        ).fetchone()[0]
        assert 1 <= chunks <= 2


async def test_vessel_state_merges_static_parts_and_ignores_older_fixes(embedded_db_url):
    with psycopg.connect(embedded_db_url) as conn:
        upgrade(conn)
    mmsi = 419_000_001
    part_a = VesselInfo(ts=T0, mmsi=mmsi, msg_type=24, source="rx", name="SAGAR KANYA")
    part_b = VesselInfo(
        ts=T0 + 5,
        mmsi=mmsi,
        msg_type=24,
        source="rx",
        callsign="VTSK",
        ship_type=52,
        to_bow=10,
        to_stern=20,
        to_port=4,
        to_starboard=4,
    )
    new = PositionReport(
        ts=T0 + 60, mmsi=mmsi, lat=18.9, lon=72.8, sog=0.1, msg_type=18, source="rx"
    )
    old = PositionReport(
        ts=T0 + 30, mmsi=mmsi, lat=10.0, lon=60.0, sog=12.0, msg_type=18, source="rx"
    )
    async with StoreWriter(embedded_db_url) as writer:
        await writer.write([new], [part_a], [RawSentence(ts=T0, source="rx", line="!AIVDM,x")])
        await writer.write([old], [part_b], [])
    with psycopg.connect(embedded_db_url) as conn:
        row = conn.execute(
            "SELECT name, callsign, ship_type, to_bow, lat, lon FROM vessels WHERE mmsi = %s",
            (mmsi,),
        ).fetchone()
        assert row == ("SAGAR KANYA", "VTSK", 52, 10, 18.9, 72.8)
        assert conn.execute("SELECT count(*) FROM positions").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM raw_sentences").fetchone()[0] == 1


async def test_writer_spools_during_an_outage_and_writes_everything_after(
    embedded_db_url, tmp_path
):
    """Kill the writer's connection mid-stream: nothing is lost, every row lands once."""
    with psycopg.connect(embedded_db_url) as conn:
        upgrade(conn)
    rows = _positions(3000, vessels=50, seed=2)
    spool = tmp_path / "spool"
    async with StoreWriter(embedded_db_url, spool_dir=spool, retry_initial=0.05) as writer:
        assert await writer.write(rows[:1000], [], [])
        # The database drops our session, as in a restart or a network cut.
        with psycopg.connect(embedded_db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        stored_now = await writer.write(rows[1000:2000], [], [])
        assert stored_now is False  # spooled, not lost
        assert any(spool.iterdir())
        await asyncio.sleep(0.2)
        assert await writer.write(rows[2000:], [], [])
        assert await writer.flush_spool()
    assert writer.stats.outages >= 1
    assert not list(spool.glob("*.spool"))
    with psycopg.connect(embedded_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM positions").fetchone()[0] == 3000


async def test_alert_episode_upserts_by_key_and_follows_the_lifecycle(embedded_db_url):
    from mda.store.alerts import save_changes
    from mda.store.db import connect

    with psycopg.connect(embedded_db_url) as conn:
        upgrade(conn)
    a = Alert(
        key="loitering:1:None:1700000000",
        kind="loitering",
        severity="medium",
        mmsi=1,
        other_mmsi=None,
        start=T0,
        end=None,
        lat=1.0,
        lon=60.0,
        zone=None,
        details={"text": "SOG under 2.0 kn for 61 min"},
    )
    conn = await connect(embedded_db_url)
    try:
        first = await save_changes(conn, [AlertChange("opened", a)])
        a.end, a.details = T0 + 7200, {"text": "SOG under 2.0 kn for 120 min"}
        second = await save_changes(conn, [AlertChange("closed", a)])
        assert first[0]["id"] == second[0]["id"]
        assert [first[0]["change"], second[0]["change"]] == ["opened", "ended"]
        acked = await acknowledge(conn, first[0]["id"], "officer1", "seen")
        assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "officer1"
        with pytest.raises(InvalidTransition):
            await acknowledge(conn, first[0]["id"], "officer1")
        closed = await close(conn, first[0]["id"], "officer2", "fishing vessel, known", "no_action")
        assert closed["status"] == "closed" and closed["note"] == "fishing vessel, known"
        assert closed["outcome"] == "no_action"
        cur = await conn.execute(
            "SELECT action, actor FROM alert_history WHERE alert_id = %s ORDER BY id",
            (first[0]["id"],),
        )
        assert await cur.fetchall() == [
            ("opened", "analytics"),
            ("ended", "analytics"),
            ("acknowledged", "officer1"),
            ("closed", "officer2"),
        ]
        # The same situation comes back within the cooldown: the episode goes on, and the
        # officers see it again.
        a.end = None
        again = await save_changes(conn, [AlertChange("updated", a)])
        assert again[0]["change"] == "reopened" and again[0]["status"] == "open"
        growing = await save_changes(conn, [AlertChange("updated", a)])
        assert growing[0]["change"] == "updated" and growing[0]["status"] == "open"
    finally:
        await conn.close()


async def test_notices_are_stored_and_closing_a_desk_alert_takes_an_outcome(embedded_db_url):
    """Migration 0003: severity info is accepted; a desk alert is closed only with one of
    the outcomes, which lands on the alert and on its history row; a notice may be closed
    without one; the database itself refuses values outside the lists."""
    from mda.store.alerts import save_changes
    from mda.store.db import connect

    with psycopg.connect(embedded_db_url) as conn:
        upgrade(conn)
    jump = Alert(
        key="position_jump:2:None:1700000000",
        kind="position_jump",
        severity="info",
        mmsi=2,
        other_mmsi=None,
        start=T0,
        end=T0,
        lat=1.0,
        lon=60.0,
        zone=None,
        details={"text": "one fix 60 nm off its track", "source": "feed-a/station-1"},
    )
    loiter = Alert(
        key="loitering:3:None:1700000000",
        kind="loitering",
        severity="medium",
        mmsi=3,
        other_mmsi=None,
        start=T0,
        end=None,
        lat=1.0,
        lon=60.0,
        zone=None,
        details={"text": "SOG under 2.0 kn for 61 min"},
    )
    conn = await connect(embedded_db_url)
    try:
        notice, desk = await save_changes(
            conn, [AlertChange("opened", jump), AlertChange("opened", loiter)]
        )
        assert notice["severity"] == "info" and notice["outcome"] is None
        with pytest.raises(InvalidOutcome, match="required"):
            await close(conn, desk["id"], "officer1", "looked")
        with pytest.raises(InvalidOutcome, match="unknown 'bogus'"):
            await close(conn, desk["id"], "officer1", "looked", "bogus")
        cur = await conn.execute("SELECT status FROM alerts WHERE id = %s", (desk["id"],))
        assert (await cur.fetchone())[0] == "open"  # refused: nothing changed
        closed = await close(conn, desk["id"], "officer1", "a buoy tender", "false_alarm")
        assert (closed["status"], closed["outcome"]) == ("closed", "false_alarm")
        quiet = await close(conn, notice["id"], "officer1", None)
        assert (quiet["status"], quiet["outcome"]) == ("closed", None)
        cur = await conn.execute(
            "SELECT alert_id, outcome FROM alert_history WHERE action = 'closed' ORDER BY id"
        )
        assert await cur.fetchall() == [(desk["id"], "false_alarm"), (notice["id"], None)]
        for sql in (
            "UPDATE alerts SET severity = 'urgent' WHERE id = %s",
            "UPDATE alerts SET outcome = 'maybe' WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.CheckViolation):
                async with conn.transaction():
                    await conn.execute(sql, (desk["id"],))
    finally:
        await conn.close()


def test_detect_reports_plain_postgres_reason(embedded_db_url):
    with psycopg.connect(embedded_db_url) as conn:
        caps = detect(conn)
        assert caps.schema_version == 0
        assert caps.timescaledb is None


@pytest.mark.parametrize("server", ["timescaledb", "embedded"])
def test_retention_removes_only_what_is_older_than_the_setting(server, request):
    url = request.getfixturevalue("db_url" if server == "timescaledb" else "embedded_db_url")
    from mda.store.retention import apply_retention

    with psycopg.connect(url) as conn:
        _, caps = upgrade(conn)
        conn.execute("""
            INSERT INTO positions (time, mmsi, lat, lon, msg_type, source)
            SELECT now() - make_interval(days => d), 1, 0, 60, 1, 'rx'
            FROM generate_series(0, 20) AS d""")
        conn.commit()
        removed = apply_retention(conn, caps, retention_days=10, raw_retention_days=10)
        assert removed["positions"] > 0
        left = conn.execute(
            "SELECT min(time) > now() - interval '12 days', count(*) FROM positions"
        ).fetchone()
        # Chunks are whole days, so TimescaleDB may keep a day more than the row delete.
        assert left[0] is True and 10 <= left[1] <= 12


async def test_raw_archive_gives_back_every_sentence_as_received(db_url):
    """Chunks on disk, one row per sentence in the raw_sentences view: same text, time,
    receiver and vessel, for two receivers in one batch."""
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    raw = [
        RawSentence(
            ts=T0 + i,
            source="rx" + "AB"[i % 2],
            line=f"\\s:rx{'AB'[i % 2]},c:{int(T0) + i}*00\\!AIVDM,1,1,,A,line{i},0*00",
            mmsi=None if i == 3 else 419_000_000 + i,
            msg_type=1,
        )
        for i in range(10)
    ]
    # A two-part message (and a $PGHP line with its sentence) is one record of two lines.
    raw[4].line = "!AIVDM,2,1,7,A,part1,0*00\n!AIVDM,2,2,7,A,part2,2*00"
    raw[4].msg_type = 5
    async with StoreWriter(db_url) as writer:
        await writer.write([], [], raw)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM time), source, mmsi, msg_type, line "
            "FROM raw_sentences ORDER BY time"
        ).fetchall()
        chunks = conn.execute("SELECT count(*) FROM raw_chunks").fetchone()[0]
    assert chunks == 2  # one per receiver
    assert [(float(t), s, m, k, line) for t, s, m, k, line in rows] == [
        (r.ts, r.source, r.mmsi, r.msg_type, r.line) for r in raw
    ]


def test_episodes_left_open_by_a_previous_run_are_ended_at_start(embedded_db_url):
    from mda.store.alerts import end_open_episodes

    with psycopg.connect(embedded_db_url) as conn:
        upgrade(conn)
        conn.execute("""INSERT INTO alerts (key, kind, severity, mmsi, start, "end", details)
                        VALUES ('a', 'loitering', 'medium', 1, '2010-06-11T10:00Z', NULL,
                                '{"duration_min": 75}'),
                               ('b', 'encounter', 'high', 2, now() - interval '3 h',
                                now() - interval '1 h', '{}')""")
        conn.commit()
        assert end_open_episodes(conn) == 1
        # Ended at its last evidence (event time), not at the wall clock of the restart.
        assert (
            conn.execute("""SELECT "end" - start FROM alerts WHERE key = 'a'""")
            .fetchone()[0]
            .total_seconds()
            == 75 * 60
        )
        assert conn.execute('SELECT count(*) FROM alerts WHERE "end" IS NULL').fetchone()[0] == 0
        assert conn.execute("SELECT actor, action FROM alert_history").fetchall() == [
            ("system", "ended")
        ]
        assert end_open_episodes(conn) == 0


def test_spool_replays_in_order_puts_older_items_in_front_and_sets_damage_aside(tmp_path):
    from mda.store.spool import Spool

    spool = Spool(tmp_path / "spool")
    for i in range(5):
        spool.put(("item", i))
    first, item = spool.oldest()
    assert item == ("item", 0)
    assert spool.oldest()[0] == first  # stays oldest until done
    spool.done(first)
    spool.put_front(("older", -1))
    (
        tmp_path / "spool" / sorted(p.name for p in (tmp_path / "spool").glob("*.spool"))[2]
    ).write_bytes(b"junk")
    got = []
    while (nxt := spool.oldest()) is not None:
        got.append(nxt[1])
        spool.done(nxt[0])
    assert got == [("older", -1), ("item", 1), ("item", 3), ("item", 4)]
    assert spool.quarantined == 1 and len(list((tmp_path / "spool" / "bad").iterdir())) == 1
    # A new process finds what an earlier one left, in order.
    spool.put(("later", 9))
    assert Spool(tmp_path / "spool").oldest()[1] == ("later", 9)
