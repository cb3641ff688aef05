"""Decoded batches on the wire between processes: ``mda serve --role ingest`` sends them to
the core over MQTT (``<prefix>/records/<node>``, QoS 1), each with a batch id (a UUID)
under which the core stores it once (``write_batches``), however often it is delivered.

The encoding is compact binary, not JSON. Measured with ``tests/bench/bench_wire.py`` (best
of three, 2 cores shared with other work, load average about 4; the times swing with the
load, the sizes do not): 100,000 positions

============================  ===========  ==========  ==========
                              bytes        encode      decode
============================  ===========  ==========  ==========
JSON, with raw sentences      18.8 MB      1.14 s      1.01 s
binary, with raw sentences    13.6 MB      0.11 s      0.46 s
JSON, positions alone          8.0 MB      0.51 s      0.68 s
binary, positions alone        4.8 MB      0.09 s      0.31 s
============================  ===========  ==========  ==========

so 6 to 10 times faster to encode (the ingest's side), 2 times faster to decode (most of
which is making the records), 30 to 40 % smaller; the raw lines themselves (about 80 bytes
each) are most of a batch with the raw archive on. Layout, little-endian:

- ``MDA1``, then a header of ``<I`` length and JSON: ``id`` (hex), ``instance`` (the
  sending process), ``source``, ``strings`` (the receiver names the records index), ``n``
  (positions, raw sentences), ``statics`` (a short list of lists: rare, so JSON);
- positions, 48 bytes each (``_POS``): ts, mmsi, lat, lon (float64), sog, cog, rot
  (float32, as the positions table keeps them: ``real``), heading, nav_status, msg_type, a
  byte of flags saying which optional values are absent (and accuracy), the receiver's
  index in ``strings``;
- raw sentences, 16 bytes each (``_RAW``): ts, mmsi (-1: none), msg_type (-1: none), the
  receiver's index, then their lines, NUL-separated (NMEA never holds a NUL).
"""

from __future__ import annotations

import functools
import json
import struct
import uuid
from dataclasses import dataclass, field, fields
from itertools import repeat

from .records import PositionReport, RawSentence, VesselInfo

__all__ = ["Packed", "WireBatch", "encode_batch", "decode_batch", "WireError"]

_MAGIC = b"MDA1"
_LEN = struct.Struct("<I")
_POS = struct.Struct("<dIddfffhhBBH")  # 48 bytes
# The same with sog, cog and rot as float64 (60 bytes; header ``"wide": true``): between
# two processes of one service, where the analytics must see the values the decoder made,
# not their float32 roundings (a speed of 17.2 knots, not 17.200000762939453).
_POS_WIDE = struct.Struct("<dIdddddhhBBH")
_RAW = struct.Struct("<dihH")  # 16 bytes
# A static record's values in the order of its fields (the records' own definition)
_STATIC_FIELDS = tuple(f.name for f in fields(VesselInfo))
# flags: a bit per optional value that is absent; accuracy's value in the last two
NO_SOG, NO_COG, NO_ROT, NO_HEADING, NO_NAV, NO_ACC, ACC = 1, 2, 4, 8, 16, 32, 64
_NAN = float("nan")


@functools.cache
def numpy_layouts() -> tuple:
    """The same layouts as numpy dtypes: (positions, wide positions, raw sentences), for
    ``Packed.parts`` (``store.packed`` makes COPY data of them without a record object in
    between). numpy is imported here, not with the module: the decoding process, which
    only encodes, starts faster without it."""
    import numpy as np

    def positions(real: str):
        return np.dtype(
            [
                ("ts", "<f8"),
                ("mmsi", "<u4"),
                ("lat", "<f8"),
                ("lon", "<f8"),
                ("sog", real),
                ("cog", real),
                ("rot", real),
                ("heading", "<i2"),
                ("nav", "<i2"),
                ("msg_type", "u1"),
                ("flags", "u1"),
                ("source", "<u2"),
            ]
        )

    narrow, wide = positions("<f4"), positions("<f8")
    raw = np.dtype([("ts", "<f8"), ("mmsi", "<i4"), ("msg_type", "<i2"), ("source", "<u2")])
    assert narrow.itemsize == _POS.size and wide.itemsize == _POS_WIDE.size
    assert raw.itemsize == _RAW.size
    return narrow, wide, raw


class WireError(ValueError):
    """A payload that is not a batch of this format (refused, counted by the core)."""


@dataclass
class WireBatch:
    id: uuid.UUID
    instance: str
    source: str
    positions: list[PositionReport] = field(default_factory=list)
    statics: list[VesselInfo] = field(default_factory=list)
    raw: list[RawSentence] = field(default_factory=list)


@dataclass(slots=True)
class Packed:
    """Decoded records still in the wire form (an ``encode_batch`` payload), as the
    decoding process hands them over: the store writes them as they are
    (``store.packed``), and they become record objects only for whoever asks
    (``records()``)."""

    data: bytes
    _head_read: dict | None = field(default=None, repr=False, compare=False)

    def parts(self) -> tuple:
        """(receiver names, positions and raw sentences as numpy arrays of
        ``numpy_layouts()``, their lines NUL-separated), without copying."""
        import numpy as np

        narrow, wide_layout, raw_layout = numpy_layouts()
        head = self._head()
        npos, nraw = head["n"]
        off = 8 + _LEN.unpack_from(self.data, 4)[0]
        wide = head.get("wide", False)
        positions = np.frombuffer(self.data, wide_layout if wide else narrow, npos, off)
        off += npos * (_POS_WIDE if wide else _POS).size
        raw = np.frombuffer(self.data, raw_layout, nraw, off)
        return head["strings"], positions, raw, self.data[off + nraw * _RAW.size :]

    def _head(self) -> dict:
        if self._head_read is None:  # read once: the pipeline and the store ask often
            (hlen,) = _LEN.unpack_from(self.data, 4)
            self._head_read = json.loads(self.data[8 : 8 + hlen])
        return self._head_read

    def counts(self) -> tuple[int, int]:
        """(positions, raw sentences)"""
        npos, nraw = self._head()["n"]
        return npos, nraw

    def statics(self) -> list[VesselInfo]:
        return _statics(self._head()["statics"])

    def static_count(self) -> int:
        return len(self._head()["statics"])

    def records(self) -> WireBatch:
        return decode_batch(self.data)

    def oldest(self) -> tuple[float | None, float | None]:
        """The event time of the oldest position and of the oldest raw sentence."""
        _, positions, raw, _ = self.parts()
        return (
            float(positions["ts"].min()) if len(positions) else None,
            float(raw["ts"].min()) if len(raw) else None,
        )

    def last_position_ts(self) -> float | None:
        _, positions, _, _ = self.parts()
        return float(positions["ts"][-1]) if len(positions) else None


def _statics(rows: list[list]) -> list[VesselInfo]:
    return [VesselInfo(*row) for row in rows]


def encode_batch(batch: WireBatch, wide: bool = False) -> bytes:
    """``wide``: speeds, courses and rates of turn as float64 (see ``_POS_WIDE``)."""
    strings: dict[str, int] = {}

    def idx(s: str) -> int:
        i = strings.get(s)
        if i is None:
            i = strings[s] = len(strings)
        return i

    pack = (_POS_WIDE if wide else _POS).pack
    parts = []
    for p in batch.positions:
        flags = 0
        sog, cog, rot, heading, nav, acc = p.sog, p.cog, p.rot, p.heading, p.nav_status, p.accuracy
        if sog is None:
            flags |= NO_SOG
            sog = _NAN
        if cog is None:
            flags |= NO_COG
            cog = _NAN
        if rot is None:
            flags |= NO_ROT
            rot = _NAN
        if heading is None:
            flags |= NO_HEADING
            heading = 0
        if nav is None:
            flags |= NO_NAV
            nav = 0
        if acc is None:
            flags |= NO_ACC
        elif acc:
            flags |= ACC
        parts.append(
            pack(
                p.ts,
                p.mmsi,
                p.lat,
                p.lon,
                sog,
                cog,
                rot,
                heading,
                nav,
                p.msg_type,
                flags,
                idx(p.source),
            )
        )
    rpack = _RAW.pack
    lines = []
    for r in batch.raw:
        parts.append(
            rpack(
                r.ts,
                -1 if r.mmsi is None else r.mmsi,
                -1 if r.msg_type is None else r.msg_type,
                idx(r.source),
            )
        )
        lines.append(r.line)
    statics = [[getattr(s, f) for f in _STATIC_FIELDS] for s in batch.statics]
    header = json.dumps(
        {
            "id": batch.id.hex,
            "instance": batch.instance,
            "source": batch.source,
            "strings": list(strings),
            "n": [len(batch.positions), len(batch.raw)],
            "statics": statics,
            **({"wide": True} if wide else {}),
        },
        separators=(",", ":"),
    ).encode()
    text = "\0".join(lines)
    if lines and text.count("\0") != len(lines) - 1:
        # the lines are NUL-separated: one holding a NUL cannot cross (NMEA never does;
        # the decoder rejects control characters, a CSV cell might not)
        raise WireError("a raw line holds a NUL character")
    return b"".join((_MAGIC, _LEN.pack(len(header)), header, *parts, text.encode()))


def _absent(values: tuple, flags: tuple, bit: int, any_flags: int) -> tuple | list:
    """``values`` with None where ``flags`` has ``bit`` (the value is absent)."""
    if not any_flags & bit:
        return values
    return [None if f & bit else v for v, f in zip(values, flags)]


def _positions(data, strings: list[str], layout: struct.Struct) -> list[PositionReport]:
    """The records of a run of ``_POS`` structs, made column by column: the columns come
    out of ``struct`` and go into the records in C (``map``), and only the optional values
    that are absent in some record take a pass in Python (half the cost of a loop per
    record, which the ingest pays on every batch)."""
    rows = list(layout.iter_unpack(data))
    if not rows:
        return []
    ts, mmsi, lat, lon, sog, cog, rot, heading, nav, mt, flags, si = zip(*rows)
    any_flags = 0
    for f in set(flags):
        any_flags |= f
    sources = repeat(strings[0]) if len(strings) == 1 else map(strings.__getitem__, si)
    if any_flags & NO_ACC:
        acc = [None if f & NO_ACC else f & ACC != 0 for f in flags]
    else:
        acc = [f & ACC != 0 for f in flags]
    return list(
        map(
            PositionReport,
            ts,
            mmsi,
            lat,
            lon,
            _absent(sog, flags, NO_SOG, any_flags),
            _absent(cog, flags, NO_COG, any_flags),
            _absent(heading, flags, NO_HEADING, any_flags),
            _absent(nav, flags, NO_NAV, any_flags),
            mt,
            sources,
            _absent(rot, flags, NO_ROT, any_flags),
            acc,
        )
    )


def _raw(data, lines: list[str], strings: list[str]) -> list[RawSentence]:
    """The raw sentences of a run of ``_RAW`` structs and their lines, in C where the
    records have an MMSI and a type (almost all)."""
    ts, mmsi, mt, si = zip(*_RAW.iter_unpack(data))
    sources = repeat(strings[0]) if len(strings) == 1 else map(strings.__getitem__, si)
    if min(mmsi) < 0:
        mmsi = [None if m < 0 else m for m in mmsi]
    if min(mt) < 0:
        mt = [None if t < 0 else t for t in mt]
    return list(map(RawSentence, ts, sources, lines, mmsi, mt))


def decode_batch(data: bytes) -> WireBatch:
    if data[:4] != _MAGIC:
        raise WireError("not a batch of records (bad magic)")
    try:
        (hlen,) = _LEN.unpack_from(data, 4)
        head = json.loads(data[8 : 8 + hlen])
        strings = head["strings"]
        npos, nraw = head["n"]
        view = memoryview(data)
        off = 8 + hlen
        layout = _POS_WIDE if head.get("wide") else _POS
        end = off + npos * layout.size
        positions = _positions(view[off:end], strings, layout)
        off, end = end, end + nraw * _RAW.size
        raw = []
        if nraw:
            lines = bytes(view[end:]).decode().split("\0")
            if len(lines) != nraw:
                raise WireError(f"{len(lines)} raw lines for {nraw} raw sentences")
            raw = _raw(view[off:end], lines, strings)
        statics = _statics(head["statics"])
        return WireBatch(
            uuid.UUID(head["id"]), head["instance"], head["source"], positions, statics, raw
        )
    except WireError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, struct.error) as e:
        raise WireError(f"damaged batch of records: {e}") from None
