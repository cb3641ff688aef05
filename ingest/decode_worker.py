"""The decoding process's side of ``ingest.decode_process``: ``Decoder``s in a process of
their own, so that decoding runs on one core while the caller's process frames, writes and
analyses on another.

Run as ``python -m mda.ingest.decode_worker`` by ``DecodeProcess``; it speaks only through its
standard input and output, in frames of a ``<I`` length and a pickle, and ends when its
input ends (its parent stopped or died). Requests, in the order they are to be done:

- ``("decoder", key, kwargs)``: make a ``Decoder(**kwargs)`` known by ``key``;
- ``("expect", key, n)``: its ``expect_feeds(n)``;
- ``("reader", key, token, reader)``: a source's reader (JSON, CSV ...), used by the
  ``feed`` requests that name ``token`` (a reader keeps state of its own: a CSV header,
  static data being merged; from then on it lives here);
- ``("feed", key, rid, lines, recv_ts, source, token)`` and ``("flush", key, rid, source)``.

A ``feed`` or ``flush`` is answered, in order, by ``(rid, stats, duplicates, rejected,
records, messages)``: the decoder's counters after it, the batch's counts, its records in
the compact binary form of ``ingest.wire`` (the fastest way across, measured there), and,
for a ``Decoder(keep_messages=True)``, its messages with their records as indexes into
the positions and statics.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import gc
import logging
import os
import pickle
import signal
import struct
import sys
import uuid

from .decoder import Batch, Decoder
from .wire import WireBatch, encode_batch

__all__ = ["FRAME", "main", "pack_messages", "read_exactly", "widen"]

log = logging.getLogger("mda.ingest.decode_worker")

FRAME = struct.Struct("<I")
_NO_ID = uuid.UUID(int=0)


def pack_messages(batch: Batch) -> list[tuple]:
    """``batch.messages`` with each record replaced by its index in ``batch.positions`` or
    ``batch.statics`` (-1: none), so that the records cross once, in the wire form."""
    if not batch.messages:
        return []
    pos = {id(p): i for i, p in enumerate(batch.positions)}
    sta = {id(s): i for i, s in enumerate(batch.statics)}
    return [
        (ts, mmsi, payload, n, -1 if p is None else pos[id(p)], -1 if s is None else sta[id(s)])
        for ts, mmsi, payload, n, p, s in batch.messages
    ]


def _restore(stats, before) -> None:
    """``stats`` back to ``before``, in place (others hold its ``rejected`` counter)."""
    for name, value in vars(before).items():
        if name == "rejected":
            stats.rejected.clear()
            stats.rejected.update(value)
        else:
            setattr(stats, name, value)


def _answer(rid: int, decoder: Decoder, batch: Batch) -> bytes:
    try:
        records = encode_batch(
            WireBatch(_NO_ID, "", "", batch.positions, batch.statics, batch.raw), wide=True
        )
        messages = pack_messages(batch)
    except (struct.error, OverflowError, UnicodeError, ValueError, TypeError) as e:
        # A value the wire form has no room for (a JSON feed's message type of 300, a raw
        # line holding a NUL): the batch goes as objects instead, and the store decides
        # about it as it would have in one process.
        log.warning("a batch of %d records goes as objects: %s", len(batch.positions), e)
        records, messages = batch, []
    return pickle.dumps(
        (rid, decoder.stats, batch.duplicates, batch.rejected, records, messages),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def widen(fd: int) -> None:
    """A pipe of 1 MB instead of 64 kB (Linux): a dozen batches fit in it either way."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)


def read_exactly(stream, n: int) -> bytearray | None:
    """``n`` bytes from a binary stream; None when it ends first."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            return None  # the other side closed it: the end
        got += k
    return buf


def serve(inp, out) -> None:
    decoders: dict[int, Decoder] = {}
    readers: dict[int, object] = {}
    while True:
        head = read_exactly(inp, FRAME.size)
        if head is None:
            return
        body = read_exactly(inp, FRAME.unpack(head)[0])
        if body is None:
            return
        req = pickle.loads(body)
        op, key = req[0], req[1]
        if op == "feed":
            _, _, rid, lines, recv_ts, source, token = req
            decoder = decoders[key]
            before = copy.deepcopy(decoder.stats)
            try:
                batch = decoder.feed(lines, recv_ts, source, readers.get(token))
            except Exception:  # a bug (the decoder counts bad input itself): keep serving
                log.exception("decoding a batch of %d lines from %s failed", len(lines), source)
                # its lines counted once, as failed, whatever was counted before the failure
                _restore(decoder.stats, before)
                decoder.stats.lines += len(lines)
                decoder.stats.rejected["internal_error"] += len(lines)
                batch = Batch(rejected=len(lines))
        elif op == "flush":
            _, _, rid, source = req
            decoder = decoders[key]
            batch = decoder.flush(source)
        elif op == "decoder":
            decoders[key] = Decoder(**req[2])
            continue
        elif op == "expect":
            decoders[key].expect_feeds(req[2])
            continue
        elif op == "reader":
            readers[req[2]] = req[3]
            continue
        else:
            raise ValueError(f"unknown request {op!r}")
        answer = _answer(rid, decoder, batch)
        out.write(FRAME.pack(len(answer)))
        out.write(answer)
        out.flush()


def main() -> None:
    # As ``mda`` itself (mda/cli.py): millions of short-lived records without reference
    # cycles; the default collector thresholds would spend a third of the time scanning them.
    gc.set_threshold(50_000, 20, 100)
    # Ctrl-C in a terminal and systemd's stop reach the whole process group: the parent
    # decides when we end (it closes our input once it has what we hold), so that a stop
    # loses no batch handed over. If the parent dies, our input ends too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Our standard output carries the answers: anything printed by mistake goes to stderr
    # instead of corrupting them. Log lines (a decoder's warnings) go to stderr, as the
    # parent's do.
    for fd in (0, 1):
        widen(fd)
    out = os.fdopen(os.dup(1), "wb", buffering=1 << 20)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(
        level=os.environ.get("MDA_DECODE_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s (decoding process): %(message)s",
    )
    inp = os.fdopen(os.dup(0), "rb", buffering=1 << 20)
    try:
        serve(inp, out)
    except BrokenPipeError:
        pass  # the parent is gone


if __name__ == "__main__":
    main()
