"""COPY data made straight from packed records (``ingest.wire.Packed``, what the decoding
process hands over), with numpy, without a record object in between.

Turning a decoded position into a Python object and that object into a COPY row cost the
ingest process more than the rest of its work together (issue 16: 0.9 s and 0.5 s of its
1.4 s for a 300,000-line feed). Here the fixed-size records of the wire form are
rearranged, column by column, into PostgreSQL's binary COPY rows: a row is a field count,
then each field as its byte length (-1: NULL) and its big-endian bytes. Rows whose absent
values and receiver are the same have the same layout, so the records are grouped by that
and each group is one numpy structured array, written out in one piece.

The rows are those ``write_batch`` makes from record objects, value for value (the times
rounded to the microsecond as ``datetime.fromtimestamp`` rounds them); a test holds the
two paths to the same table contents.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter

import numpy as np

from mda.ingest.wire import (
    ACC,
    NO_ACC,
    NO_COG,
    NO_HEADING,
    NO_NAV,
    NO_ROT,
    NO_SOG,
    Packed,
)

__all__ = ["PackedRecords", "position_copy", "latest_copy", "raw_rows"]

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
_PG_EPOCH = 946_684_800  # 2000-01-01T00:00:00Z, where PostgreSQL's binary times count from

# Columns by name: (its value's big-endian numpy type, the flag saying it is absent).
_COLUMNS = {
    "mmsi": (">i4", 0),
    "lat": (">f8", 0),
    "lon": (">f8", 0),
    "sog": (">f4", NO_SOG),
    "cog": (">f4", NO_COG),
    "heading": (">i2", NO_HEADING),
    "nav": (">i2", NO_NAV),
    "rot": (">f4", NO_ROT),
    "accuracy": ("u1", NO_ACC),
    "msg_type": (">i2", 0),
    "time": (">i8", 0),
}
# positions (..., time): the order of ``store.writer._COPY_POSITIONS``
POSITION_COLUMNS = (
    "mmsi",
    "lat",
    "lon",
    "sog",
    "cog",
    "heading",
    "nav",
    "rot",
    "accuracy",
    "msg_type",
    "source",
    "time",
)
# _latest_positions: the order of its table (``store.writer._TEMP_TABLES``)
LATEST_COLUMNS = (
    "mmsi",
    "time",
    "lat",
    "lon",
    "sog",
    "cog",
    "heading",
    "nav",
    "msg_type",
    "source",
)
_NULLABLE = NO_SOG | NO_COG | NO_HEADING | NO_NAV | NO_ROT | NO_ACC


class PackedRecords:
    """The packed records of one write, their receivers named once across them."""

    def __init__(self, chunks: Sequence[Packed]) -> None:
        self.names: list[str] = []
        index: dict[str, int] = {}
        positions, position_sources, raws, raw_sources, lines = [], [], [], [], []
        for chunk in chunks:
            strings, pos, raw, blob = chunk.parts()
            here = np.array([index.setdefault(s, len(index)) for s in strings], np.int64)
            if len(pos):
                positions.append(pos)
                position_sources.append(here[pos["source"]])
            if len(raw):
                raws.append(raw)
                raw_sources.append(here[raw["source"]])
                lines.extend(blob.split(b"\0"))
        self.names = list(index)
        self.positions = np.concatenate(positions) if positions else None
        self.position_sources = np.concatenate(position_sources) if positions else None
        self.raw = np.concatenate(raws) if raws else None
        self.raw_sources = np.concatenate(raw_sources) if raws else None
        self.lines = lines

    @property
    def n_positions(self) -> int:
        return 0 if self.positions is None else len(self.positions)

    @property
    def n_raw(self) -> int:
        return 0 if self.raw is None else len(self.raw)


def pg_time(ts: np.ndarray) -> np.ndarray:
    """Unix seconds as PostgreSQL's binary timestamptz (microseconds since 2000), rounded
    half to even at the microsecond, as ``datetime.fromtimestamp`` does."""
    seconds = np.floor(ts)
    micros = np.round((ts - seconds) * 1e6).astype(np.int64)
    return (seconds.astype(np.int64) - _PG_EPOCH) * 1_000_000 + micros


def _rows(records: PackedRecords, which: np.ndarray | None, columns: Sequence[str]) -> bytes:
    """Binary COPY rows (no signature) of the positions ``which`` (all when None)."""
    pos = records.positions if which is None else records.positions[which]
    src = records.position_sources if which is None else records.position_sources[which]
    if pos is None or not len(pos):
        return b""
    flags = pos["flags"]
    key = src * 64 + (flags & _NULLABLE)
    groups, inverse = np.unique(key, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(groups) + 1))
    out = []
    for g, group_key in enumerate(groups.tolist()):
        idx = order[bounds[g] : bounds[g + 1]]
        absent = group_key & 63
        source = records.names[group_key // 64].encode()
        fields: list[tuple[str, str]] = [("n", ">i2")]
        for c in columns:
            fields.append((c + "_len", ">i4"))
            if c == "source":
                if source:
                    fields.append((c, f"S{len(source)}"))
                continue
            kind, flag = _COLUMNS[c]
            if not absent & flag:
                fields.append((c, kind))
        rows = np.empty(len(idx), np.dtype(fields))
        rows["n"] = len(columns)
        part = pos[idx]
        for c in columns:
            if c == "source":
                rows["source_len"] = len(source)
                if source:
                    rows["source"] = source
                continue
            kind, flag = _COLUMNS[c]
            if absent & flag:
                rows[c + "_len"] = -1
                continue
            rows[c + "_len"] = np.dtype(kind).itemsize
            if c == "time":
                rows[c] = pg_time(part["ts"])
            elif c == "accuracy":
                rows[c] = (part["flags"] & ACC) != 0
            else:
                rows[c] = part[c]
        out.append(rows.tobytes())
    return b"".join(out)


def position_copy(records: PackedRecords) -> bytes:
    """The COPY data (signature to trailer) of every position, for ``_COPY_POSITIONS``."""
    return COPY_SIGNATURE + _rows(records, None, POSITION_COLUMNS) + COPY_TRAILER


def latest_copy(records: PackedRecords) -> bytes:
    """The COPY data of each vessel's newest fix (of fixes with the same time, the last),
    for ``_latest_positions``: as ``store.writer._latest_per_vessel`` chooses."""
    pos = records.positions
    if pos is None or not len(pos):
        return COPY_SIGNATURE + COPY_TRAILER
    order = np.lexsort((np.arange(len(pos)), pos["ts"], pos["mmsi"]))
    mmsi = pos["mmsi"][order]
    last = np.ones(len(order), bool)
    last[:-1] = mmsi[1:] != mmsi[:-1]
    return COPY_SIGNATURE + _rows(records, order[last], LATEST_COLUMNS) + COPY_TRAILER


# The raw archive's arrays in PostgreSQL's binary array format (``store.writer`` builds
# them from record objects with these too): a one-dimensional array without NULLs is its
# ndim, has-null flag, element type oid, length, lower bound 1, then each element as its
# byte length and bytes.
ARRAY_HEAD = struct.Struct(">iiIii").pack
_LEN = struct.Struct(">i").pack
FLOAT8, INT4, INT2, TEXT = 701, 23, 21, 25
_ELEMENTS = {
    FLOAT8: np.dtype([("len", ">i4"), ("v", ">f8")]),
    INT4: np.dtype([("len", ">i4"), ("v", ">i4")]),
    INT2: np.dtype([("len", ">i4"), ("v", ">i2")]),
}


class BinaryArray(bytes):
    """An array already in PostgreSQL's binary format: ``store.writer`` dumps it as it is."""


def text_array(lines: Sequence[bytes]) -> BinaryArray:
    """``text[]`` of encoded lines, in a few C-level passes."""
    return BinaryArray(
        ARRAY_HEAD(1, 0, TEXT, len(lines), 1)
        + b"".join(chain.from_iterable(zip(map(_LEN, map(len, lines)), lines)))
    )


def _array(oid: int, values: np.ndarray) -> bytes:
    """A one-dimensional array without NULLs in PostgreSQL's binary format."""
    dtype = _ELEMENTS[oid]
    elements = np.empty(len(values), dtype)
    elements["len"] = dtype["v"].itemsize
    elements["v"] = values
    return BinaryArray(ARRAY_HEAD(1, 0, oid, len(values), 1) + elements.tobytes())


def raw_rows(records: PackedRecords) -> list[tuple]:
    """The raw archive's rows (``raw_chunks``), one per receiver, as
    ``store.writer._raw_chunks`` makes them: the arrays in the binary format
    (``BinaryArray``), or, for a receiver with a sentence of no MMSI or type, as lists
    that psycopg dumps with their NULLs."""
    raw = records.raw
    if raw is None or not len(raw):
        return []
    rows = []
    sources = records.raw_sources
    one = len(records.names) == 1 or bool((sources == sources[0]).all())
    for s in [int(sources[0])] if one else np.unique(sources).tolist():
        if one:
            part, lines = raw, records.lines
        else:
            idx = np.nonzero(sources == s)[0]
            part = raw[idx]
            lines = (
                list(itemgetter(*idx.tolist())(records.lines))
                if len(idx) > 1
                else [records.lines[int(idx[0])]]
            )
        ts, mmsi, types = part["ts"], part["mmsi"], part["msg_type"]
        first = datetime.fromtimestamp(float(ts.min()), UTC)
        last = datetime.fromtimestamp(float(ts.max()), UTC)
        if (mmsi < 0).any() or (types < 0).any():
            arrays = (
                ts.tolist(),
                [None if m < 0 else m for m in mmsi.tolist()],
                [None if t < 0 else t for t in types.tolist()],
                [line.decode() for line in lines],
            )
        else:
            arrays = (
                _array(FLOAT8, ts),
                _array(INT4, mmsi),
                _array(INT2, types),
                text_array(lines),
            )
        rows.append((first, last, records.names[s], len(part), *arrays))
    return rows
