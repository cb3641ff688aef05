"""Multi-sentence AIS messages put back together, per receiver, with an expiry.

A type 5 (static and voyage data) message travels as two sentences. On a shared feed
the parts of messages from several receivers, and of several vessels, interleave; the
sequence id (0-9) is only unique per receiver and recycles quickly. So the parts are
keyed by (source, channel, sequence id), where the source already includes the
tag-block or USCG station, and a half-built message is dropped when its next part
does not come in time. Nothing is dropped silently: every line of a message that
cannot be completed is counted under a reason:

- ``orphan_fragment``: a continuation without the parts before it, a part out of
  order, or a half-built message replaced by a new first part under the same key;
- ``expired_fragment``: a half-built message whose next part came too late (or never,
  once the timeout has passed or the decoder is flushed).
"""

from __future__ import annotations

from collections import Counter, OrderedDict

__all__ = ["Assembler", "Partial"]

# Half-built messages kept at most; past this the oldest is dropped as expired. A
# real feed has a few dozen in flight; the cap only matters for junk.
MAX_PENDING = 10_000


class Partial:
    """The parts of one message received so far."""

    __slots__ = ("total", "next_num", "payloads", "fill", "ts", "recv_ts", "nlines", "lines")

    def __init__(self, total: int, payload: bytes, fill: int, ts: float | None,
                 recv_ts: float, nlines: int, line: str) -> None:
        self.total = total
        self.next_num = 2
        self.payloads = [payload]
        self.fill = fill
        self.ts = ts            # explicit event time of the first part that had one
        self.recv_ts = recv_ts  # arrival of the first part
        self.nlines = nlines    # input lines this message accounts for
        self.lines = [line]     # raw text, for the archive

    @property
    def payload(self) -> bytes:
        return b"".join(self.payloads)


class Assembler:
    """Joins numbered parts under a key; counts what it has to give up on.

    ``timeout`` is compared on event time when both parts state one (tag block ``c:``,
    USCG time, ``$PGHP``), else on arrival time: a satellite feed delivering parts
    hours late still has them seconds apart in event time, while a replayed file
    read at full speed has them microseconds apart in arrival time.
    """

    def __init__(self, timeout: float, rejected: Counter[str]) -> None:
        self.timeout = timeout
        self._rejected = rejected
        self._pending: OrderedDict[tuple, Partial] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def has(self, key: tuple) -> bool:
        return key in self._pending

    @property
    def pending_lines(self) -> int:
        return sum(p.nlines for p in self._pending.values())

    def add(self, key: tuple, total: int, num: int, payload: bytes, fill: int,
            ts: float | None, recv_ts: float, nlines: int, line: str) -> Partial | None:
        """Take one part; return the whole message when this part completes it."""
        pending = self._pending
        partial = pending.get(key)
        if num == 1:
            if partial is not None:
                del pending[key]
                self._rejected["orphan_fragment"] += partial.nlines
            pending[key] = Partial(total, payload, fill, ts, recv_ts, nlines, line)
            if len(pending) > MAX_PENDING:
                _, oldest = pending.popitem(last=False)
                self._rejected["expired_fragment"] += oldest.nlines
            return None
        if partial is None:
            self._rejected["orphan_fragment"] += nlines
            return None
        if ts is not None and partial.ts is not None:
            late = abs(ts - partial.ts) > self.timeout
        else:
            late = recv_ts - partial.recv_ts > self.timeout
        if late:
            del pending[key]
            self._rejected["expired_fragment"] += partial.nlines
            self._rejected["orphan_fragment"] += nlines
            return None
        if num != partial.next_num or total != partial.total:
            del pending[key]
            self._rejected["orphan_fragment"] += partial.nlines + nlines
            return None
        partial.payloads.append(payload)
        partial.fill = fill
        partial.nlines += nlines
        partial.lines.append(line)
        if partial.ts is None:
            partial.ts = ts
        partial.next_num += 1
        if num == total:
            del pending[key]
            return partial
        return None

    def expire(self, now: float) -> None:
        """Drop half-built messages whose first part arrived more than ``timeout`` ago.

        Arrival order is insertion order, so only the front needs looking at.
        """
        pending = self._pending
        limit = now - self.timeout
        while pending:
            key = next(iter(pending))
            partial = pending[key]
            if partial.recv_ts >= limit:
                break
            del pending[key]
            self._rejected["expired_fragment"] += partial.nlines

    def flush(self, feed: str | None = None) -> None:
        """Give up on everything in flight (end of a finite input), or on one feed's:
        its keys start with the feed name (``feed`` or ``feed/station``)."""
        pending = self._pending
        for key in list(pending):
            src = key[0]
            if feed is None or src == feed or src.startswith(feed + "/"):
                self._rejected["expired_fragment"] += pending.pop(key).nlines
