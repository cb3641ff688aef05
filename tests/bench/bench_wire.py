"""The records' wire format between roles (``mda serve --role ingest`` -> core over MQTT,
``ingest/wire.py``) against the JSON alternative, on 100,000 positions:

    .venv/bin/python tests/bench/bench_wire.py

Prints size, encode and decode time of each; the binary format was chosen on these."""

from __future__ import annotations

import json
import uuid

from mda.ingest.records import PositionReport, RawSentence, VesselInfo
from mda.ingest.wire import _STATIC_FIELDS, WireBatch, decode_batch, encode_batch


def _json_batch(batch: WireBatch) -> bytes:
    """The JSON alternative measured against : lists of values."""
    return json.dumps(
        {
            "id": batch.id.hex,
            "instance": batch.instance,
            "source": batch.source,
            "positions": [
                [
                    p.ts,
                    p.mmsi,
                    p.lat,
                    p.lon,
                    p.sog,
                    p.cog,
                    p.heading,
                    p.nav_status,
                    p.msg_type,
                    p.source,
                    p.rot,
                    p.accuracy,
                ]
                for p in batch.positions
            ],
            "raw": [[r.ts, r.source, r.line, r.mmsi, r.msg_type] for r in batch.raw],
            "statics": [[getattr(s, f) for f in _STATIC_FIELDS] for s in batch.statics],
        },
        separators=(",", ":"),
    ).encode()


def _json_decode(data: bytes) -> WireBatch:
    d = json.loads(data)
    return WireBatch(
        uuid.UUID(d["id"]),
        d["instance"],
        d["source"],
        [PositionReport(*row) for row in d["positions"]],
        [VesselInfo(**dict(zip(_STATIC_FIELDS, row))) for row in d["statics"]],
        [RawSentence(*row) for row in d["raw"]],
    )


def _sample(n: int = 100_000) -> WireBatch:
    import random

    rnd = random.Random(1)
    t0 = 1_764_000_000.0
    positions = [
        PositionReport(
            t0 + i * 0.01,
            200_000_000 + i % 5000,
            round(rnd.uniform(-30, 20), 6),
            round(rnd.uniform(45, 95), 6),
            round(rnd.uniform(0, 20), 1),
            round(rnd.uniform(0, 360), 1),
            rnd.randrange(360),
            0,
            1,
            "rxA",
            None,
            True,
        )
        for i in range(n)
    ]
    raw = [
        RawSentence(
            p.ts, "rxA", "\\s:rxA,c:1764000000*5B\\!AIVDM,1,1,,B,13aEOK?P00PD2wVMdLDRhgvL289?,0*26"
        )
        for p in positions
    ]
    statics = [
        VesselInfo(t0, 200_000_000 + i, 5, "rxA", name=f"SHIP {i}", ship_type=70)
        for i in range(n // 100)
    ]
    return WireBatch(uuid.uuid4(), "bench", "rxA", positions, statics, raw)


def main() -> None:
    import time

    full = _sample()
    alone = WireBatch(full.id, full.instance, full.source, full.positions)
    for what, batch in (("with raw and statics", full), ("positions alone", alone)):
        print(f"100,000 positions, {what}:")
        for name, enc, dec in (
            ("JSON", _json_batch, _json_decode),
            ("binary", encode_batch, decode_batch),
        ):
            best = [float("inf")] * 2
            for _ in range(3):
                t = time.perf_counter()
                data = enc(batch)
                t_enc = time.perf_counter() - t
                t = time.perf_counter()
                back = dec(data)
                best = [min(best[0], t_enc), min(best[1], time.perf_counter() - t)]
            assert len(back.positions) == len(batch.positions)
            print(
                f"  {name:7s} {len(data) / 1e6:6.1f} MB  encode {best[0]:.2f} s  "
                f"decode {best[1]:.2f} s"
            )


if __name__ == "__main__":
    main()
