"""The raw archive's arrays, built in PostgreSQL's binary format by the writer itself, come
back from the database exactly as given: text of any length and alphabet, times, MMSIs and
types, in order, beside chunks psycopg dumps (an element without an MMSI)."""

from __future__ import annotations

import random

import psycopg

from mda.ingest.records import RawSentence
from mda.store.migrate import upgrade
from mda.store.writer import StoreWriter, _BinaryArray, _raw_chunks

T0 = 1_700_000_000.0


async def test_binary_arrays_read_back_as_written(db_url):
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    rnd = random.Random(16)
    texts = [
        "!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C",
        "\\s:rx,c:1700000000*00\\!AIVDM,2,1,7,A,part1,0*00\n!AIVDM,2,2,7,A,part2,2*00",
        'decoded:csv 219000001,2023-04-21T00:00:01Z,55.1,12.2,Ærø Ø "quoted", {braces}',
        "x" * 5000,
        "",
    ]
    raw = [
        RawSentence(
            ts=T0 + i * 0.001,
            source="rx" + "ABC"[i % 3],
            line=texts[i % len(texts)] if i % 7 else f"line {i} {rnd.random()}",
            mmsi=rnd.choice([0, 1, 419_000_000 + i, 999_999_999]),
            msg_type=rnd.randint(0, 27),
        )
        for i in range(3000)
    ]
    raw.append(RawSentence(ts=T0 + 9, source="rxD", line="no mmsi", mmsi=None, msg_type=None))
    rows = _raw_chunks(raw, binary=True)
    kinds = {row[2]: row[4].__class__ is _BinaryArray for row in rows}
    assert kinds == {"rxA": True, "rxB": True, "rxC": True, "rxD": False}

    async with StoreWriter(db_url) as writer:
        assert await writer.write([], [], raw)
    with psycopg.connect(db_url) as conn:
        back = conn.execute(
            "SELECT extract(epoch FROM time), source, mmsi, msg_type, line "
            "FROM raw_sentences ORDER BY source, time"
        ).fetchall()
        chunks = conn.execute("SELECT source, n FROM raw_chunks ORDER BY source").fetchall()
    assert chunks == [("rxA", 1000), ("rxB", 1000), ("rxC", 1000), ("rxD", 1)]
    want = sorted(raw, key=lambda r: (r.source, r.ts))
    assert len(back) == len(want)
    for (t, source, mmsi, msg_type, line), r in zip(back, want, strict=True):
        assert (source, mmsi, msg_type, line) == (r.source, r.mmsi, r.msg_type, r.line)
        assert abs(float(t) - r.ts) < 1e-6
