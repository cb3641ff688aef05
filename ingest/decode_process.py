"""Decoding on a second core: ``Decoder``s that run in a process of their own.

Decoding is most of the work of taking a feed in (about three quarters of the ingest's CPU,
issue 16), and CPython runs one thread of Python at a time. So the decoders run in a child
process (``ingest.decode_worker``), which decodes one batch while this process frames the
next, writes the last one to the database and runs the analytics. A whole ``Decoder`` lives
there, with its state (multi-sentence messages, de-duplication across feeds, tag-block
groups), so what it decides is what it decided in this process; only the lines go there,
and only the records come back, in the compact binary form of ``ingest.wire``.

``DecodeProcess`` is the child; ``RemoteDecoder`` is one ``Decoder`` in it, with the same
``feed``, ``flush``, ``expect_feeds`` and ``stats`` as a ``Decoder``, except that ``feed``
and ``flush`` are awaited. ``submit`` hands a batch over without waiting for it, so that a
feed keeps a batch or two in flight and neither side waits for the other (``decoded``).

Counts stay exact: ``stats`` are the child's counters as of its last answer. If the child
dies (killed, out of memory), the batches in flight are counted as rejected
(``internal_error``), the feeds that waited for them get ``DecodeProcessError``, and the
next batch starts a new child with new decoders, whose counts add to the old ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import fields

from .decode_worker import FRAME, read_exactly, widen
from .decoder import Batch
from .stats import IngestStats
from .wire import Packed

__all__ = ["DecodeProcess", "DecodeProcessError", "Decoding", "LocalDecoder", "RemoteDecoder"]

log = logging.getLogger(__name__)


class DecodeProcessError(RuntimeError):
    """The decoding process ended while a batch was in it."""


def _added(a: IngestStats, b: IngestStats) -> IngestStats:
    out = IngestStats()
    for f in fields(IngestStats):
        if f.name == "rejected":
            out.rejected = a.rejected + b.rejected
        else:
            setattr(out, f.name, getattr(a, f.name) + getattr(b, f.name))
    return out


class RemoteDecoder:
    """One ``Decoder(**options)`` in a ``DecodeProcess``."""

    def __init__(self, process: DecodeProcess, key: int, options: dict, objects: bool) -> None:
        self._process = process
        self.key = key
        self.options = options
        # Batches with their records as objects too (``Batch.positions``, ``raw``), or in
        # the wire form alone (``Batch.packed``: a store needs no more)
        self.objects = objects
        self.feeds = 1
        self._base = IngestStats()  # the counts of decoders in children that died
        self._last = IngestStats()  # this decoder's counts in the running child

    @property
    def stats(self) -> IngestStats:
        return _added(self._base, self._last) if self._base.lines else self._last

    def expect_feeds(self, n: int) -> None:
        self.feeds = n
        self._process._send(("expect", self.key, n))

    def submit(
        self, lines: list[str], recv_ts: float, source: str, reader=None
    ) -> asyncio.Future[Batch]:
        """Hand a batch over; the future gives what ``Decoder.feed`` would have returned."""
        return self._process._submit(self, list(lines), recv_ts, source, reader)

    async def feed(self, lines: list[str], recv_ts: float, source: str, reader=None) -> Batch:
        return await self.submit(lines, recv_ts, source, reader)

    async def flush(self, source: str | None = None) -> Batch:
        return await self._process._flush(self, source)

    def _lost(self, lines: int) -> None:
        """The child died with ``lines`` of ours in it (and the parts of messages it held):
        counted, and what it had counted is kept (its next decoder starts from zero)."""
        held = self._last.lines - self._last.accounted  # parts of messages it waited on
        self._base = _added(self._base, self._last)
        self._base.lines += lines
        self._base.rejected["internal_error"] += lines + held
        self._last = IngestStats()


class DecodeProcess:
    """A child process that decodes for this one (see the module's docstring). Use as
    ``async with DecodeProcess() as dp: decoder = dp.decoder(...)``.

    Two threads of this process move the bytes: one writes the requests, one reads the
    answers and hands them to the event loop. So the child never waits for this process to
    be free (a long write to the database, a burst of analytics) to get its next batch or
    to give its last one: it decodes as long as batches are handed over."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: queue.SimpleQueue | None = None
        self._threads: list[threading.Thread] = []
        self._decoders: dict[int, RemoteDecoder] = {}
        self._readers: dict[int, object] = {}  # token -> reader, sent to the running child
        self._waiting: dict[int, tuple[asyncio.Future, RemoteDecoder, int]] = {}
        self._next_id = 0
        self._closed = False
        self._ended = True  # the current child's end was told (or there is none)
        self.restarts = 0

    async def __aenter__(self) -> DecodeProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @property
    def running(self) -> bool:
        """A child is there and its end has not been told (``_died``): until then its
        answers may still be on their way, and a new child must not take its place."""
        return self._proc is not None and not self._ended

    def decoder(self, *, objects: bool = True, **options) -> RemoteDecoder:
        """A new ``Decoder(**options)`` in the child; ``objects``: see ``RemoteDecoder``."""
        key = len(self._decoders) + 1
        d = self._decoders[key] = RemoteDecoder(self, key, options, objects)
        self._send(("decoder", key, options))
        return d

    async def start(self) -> None:
        """Start the child if it is not running (returns at once: it loads while the
        caller goes on), and tie it to the running event loop: its answers come there.
        A child may serve one event loop after another (``mda analyze`` runs a second pass
        for its map), as long as nothing is in it when one ends."""
        self._loop = asyncio.get_running_loop()
        if not self.running:
            self.spawn()

    def spawn(self) -> None:
        """Start the child now, before there is an event loop (``start`` then ties it to
        one), so that it loads while the caller does the rest of its start-up."""
        if self.running:
            return
        self._closed = False
        env = dict(os.environ)
        env["MDA_DECODE_LOG_LEVEL"] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        proc = subprocess.Popen(
            [sys.executable, "-m", "mda.ingest.decode_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for pipe in (proc.stdin, proc.stdout):
            widen(pipe.fileno())
        self._proc = proc
        self._ended = False
        self._outbox = outbox = queue.SimpleQueue()
        self._readers.clear()
        self._threads = [
            threading.Thread(
                target=_write_requests, args=(proc, outbox), name="decode-send", daemon=True
            ),
            threading.Thread(
                target=self._read_answers, args=(proc,), name="decode-receive", daemon=True
            ),
        ]
        for t in self._threads:
            t.start()
        for key, d in self._decoders.items():
            self._send(("decoder", key, d.options))
            if d.feeds != 1:
                self._send(("expect", key, d.feeds))

    async def close(self) -> None:
        """Let the child finish what it was given, then end it."""
        self._closed = True
        proc = self._proc
        if proc is None:
            return
        if self._waiting:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(*(f for f, _, _ in self._waiting.values())), 30
                )
        self._outbox.put(None)  # the sender closes the child's input: it ends
        try:
            await asyncio.to_thread(proc.wait, 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
        for t in self._threads:
            await asyncio.to_thread(t.join, 5)
        self._proc = None

    # -- requests -----------------------------------------------------------------------
    def _send(self, request: tuple) -> None:
        if not self.running:
            return  # start() sends the decoders to the next child
        body = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self._outbox.put(FRAME.pack(len(body)) + body)

    def _request(self, d: RemoteDecoder, lines: int) -> tuple[int, asyncio.Future]:
        self._next_id += 1
        fut = self._loop.create_future()
        self._waiting[self._next_id] = (fut, d, lines)
        return self._next_id, fut

    async def _ready(self) -> None:
        if self._closed:
            raise DecodeProcessError("the decoding process was closed")
        if self.running and self._loop is not asyncio.get_running_loop():
            await self.start()  # spawned before the loop, or used by a new one
        if not self.running:
            if self._proc is not None:
                self.restarts += 1
                log.error(
                    "decoding process ended (exit code %s): starting a new one",
                    self._proc.returncode,
                )
            await self.start()

    def _submit(self, d, lines, recv_ts, source, reader) -> asyncio.Future[Batch]:
        if not self.running or self._loop is not asyncio.get_running_loop():
            # not running (yet, or any more): start it, then hand the batch over
            async def later():
                await self._ready()
                return await self._submit(d, lines, recv_ts, source, reader)

            return asyncio.ensure_future(later())
        token = None
        if reader is not None:
            token = id(reader)
            if self._readers.get(token) is not reader:
                self._readers[token] = reader  # (kept: its id is not reused meanwhile)
                self._send(("reader", d.key, token, reader))
        rid, fut = self._request(d, len(lines))
        self._send(("feed", d.key, rid, lines, recv_ts, source, token))
        return fut

    async def _flush(self, d: RemoteDecoder, source: str | None) -> Batch:
        await self._ready()
        rid, fut = self._request(d, 0)
        self._send(("flush", d.key, rid, source))
        return await fut

    # -- answers ------------------------------------------------------------------------
    def _read_answers(self, proc: subprocess.Popen) -> None:
        """(In a thread.) Each answer to the event loop, then the child's end. An answer
        only follows a request, and a request is made on the loop ``start`` tied us to."""
        out = proc.stdout
        try:
            while True:
                head = read_exactly(out, FRAME.size)
                if head is None:
                    break
                body = read_exactly(out, FRAME.unpack(head)[0])
                if body is None:
                    break
                self._loop.call_soon_threadsafe(self._answer, proc, body)
        except (OSError, ValueError):
            pass  # closed under us: the child is gone
        except RuntimeError:  # our event loop closed without close(): nobody is waiting
            proc.kill()
        code = proc.wait()
        try:
            self._loop.call_soon_threadsafe(self._died, proc, code)
        except (AttributeError, RuntimeError):  # no loop, or it closed: nobody waits
            if proc is self._proc:
                self._ended = True

    def _answer(self, proc: subprocess.Popen, body: bytes) -> None:
        try:
            rid, stats, duplicates, rejected, records, messages = pickle.loads(body)
        except Exception:  # a bug, never a hang: the child is ended, its batches counted
            log.exception("decoding process: an unreadable answer; ending the process")
            proc.kill()
            return
        waiter = self._waiting.pop(rid)
        fut, d, _ = waiter
        try:
            if isinstance(records, Batch):  # what the wire form could not carry (rare)
                batch, packed = records, None
            else:
                packed = Packed(records)
                if d.objects or messages:
                    wire = packed.records()
                    batch = Batch(wire.positions, wire.statics, wire.raw)
                else:
                    batch = Batch([], packed.statics(), [])
            batch.duplicates, batch.rejected = duplicates, rejected
            if packed is not None and any(packed.counts()):
                batch.packed = packed
        except Exception:  # as above; this batch is counted with the others it held
            log.exception("decoding process: an unreadable answer; ending the process")
            self._waiting[rid] = waiter
            proc.kill()
            return
        d._last = stats
        if messages:
            pos, sta = batch.positions, batch.statics
            batch.messages = [
                (ts, mmsi, payload, n, pos[p] if p >= 0 else None, sta[s] if s >= 0 else None)
                for ts, mmsi, payload, n, p, s in messages
            ]
        if not fut.done():
            fut.set_result(batch)

    def _died(self, proc: subprocess.Popen, code: int | None) -> None:
        """The child is gone: what it held is counted and its waiters are told."""
        if proc is not self._proc:
            return  # an earlier child's (not possible: a new one starts only after this)
        self._ended = True
        waiting, self._waiting = self._waiting, {}
        if self._closed and not waiting:
            return  # the end we asked for
        lost = sum(n for _, _, n in waiting.values())
        log.error(
            "decoding process ended (exit code %s) with %d lines in it: counted as rejected "
            "(internal_error)",
            code,
            lost,
        )
        # Every decoder's counts so far are kept: the next child's start from zero.
        for d in self._decoders.values():
            d._lost(sum(n for _, w, n in waiting.values() if w is d))
        for fut, _, _ in waiting.values():
            if not fut.done():
                fut.set_exception(
                    DecodeProcessError(f"the decoding process ended (exit code {code})")
                )


def _write_requests(proc: subprocess.Popen, outbox: queue.SimpleQueue) -> None:
    """(In a thread.) The requests to the child, in order; None closes its input."""
    try:
        while (data := outbox.get()) is not None:
            proc.stdin.write(data)
            if outbox.empty():
                proc.stdin.flush()
    except (OSError, ValueError):
        return  # the child is gone: the reader thread tells the waiters
    with contextlib.suppress(OSError):
        proc.stdin.close()


class LocalDecoder:
    """A ``Decoder`` in this process behind the same interface as ``RemoteDecoder`` (the
    ``decode_process = false`` setting, and small jobs)."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder

    @property
    def stats(self) -> IngestStats:
        return self.decoder.stats

    def expect_feeds(self, n: int) -> None:
        self.decoder.expect_feeds(n)

    def submit(self, lines, recv_ts: float, source: str, reader=None) -> asyncio.Future[Batch]:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(self.decoder.feed(lines, recv_ts, source, reader))
        return fut

    async def feed(self, lines, recv_ts: float, source: str, reader=None) -> Batch:
        return self.decoder.feed(lines, recv_ts, source, reader)

    async def flush(self, source: str | None = None) -> Batch:
        return self.decoder.flush(source)


_DONE = object()


class Decoding:
    """``async for line_batch, decoded in Decoding(source, decoder):`` a source's batches
    and what the decoder made of them, in order, with up to ``depth`` batches handed over
    before the first is back, so that reading, decoding and what the caller does with a
    batch overlap. A batch is given as soon as it is decoded (a live feed's waits for
    nothing else). ``stop()`` stops the reading; the batches already handed over are still
    given, so nothing read is lost.

    ``reader_of()``: the source's reader at the time of a batch (default: ``source.reader``);
    ``recv_ts_of(batch)``: the arrival time it is decoded with (default: the batch's)."""

    def __init__(self, source, decoder, *, reader_of=None, recv_ts_of=None, depth: int = 32):
        self.source = source
        self.decoder = decoder
        self.reader_of = reader_of or (lambda: getattr(source, "reader", None))
        self.recv_ts_of = recv_ts_of or (lambda b: b.recv_ts)
        self.depth = depth
        self.stopped = False
        self._queue: asyncio.Queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(max(0, depth - 1))
        self._reading: asyncio.Task | None = None

    def stop(self) -> None:
        self.stopped = True
        if self._reading is not None:
            self._reading.cancel()

    async def _read(self) -> None:
        try:
            async for b in self.source:
                fut = self.decoder.submit(b.lines, self.recv_ts_of(b), b.source, self.reader_of())
                self._queue.put_nowait((b, fut))
                # Room for the next before reading it: a stop while waiting here loses
                # nothing (this batch is handed over already).
                await self._slots.acquire()
        finally:
            self._queue.put_nowait(_DONE)

    def __aiter__(self) -> AsyncIterator[tuple]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple]:
        self._reading = asyncio.create_task(self._read(), name="decoding")
        if self.stopped:
            self._reading.cancel()
        try:
            while (item := await self._queue.get()) is not _DONE:
                b, fut = item
                decoded = await fut
                self._slots.release()
                yield b, decoded
            if not self.stopped or not self._reading.cancelled():
                await self._reading  # the source's error, if it failed
        finally:
            if not self._reading.done():
                self._reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._reading
