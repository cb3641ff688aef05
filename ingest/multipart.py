"""Multi-sentence AIS messages put back together, per receiver, with an expiry.

A type 5 (static and voyage data) message travels as two sentences. On a shared feed
the parts of messages from several receivers, and of several vessels, interleave; the
sequence id (0-9) is only unique per receiver and recycles quickly. So the parts are
keyed by (source, channel, sequence id), where the source already includes the
tag-block or USCG station, and a half-built message is dropped when its next part
does not come in time.

Not every part names its station: real feeds put the tag block (or the USCG metadata)
on the first part only, or on the later parts only. A later part that names no
station joins the pending first part of the same feed, channel and sequence id that
named one, provided exactly one station has such a part pending (two would make it a
guess: the part is then an orphan); a later part that names a station joins a first
part of its feed that named none (``Assembler.partner``). Two parts that both name
their station join only when it is the same station.

Nothing is dropped silently: every line of a message that cannot be completed is
counted under a reason:

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

    __slots__ = (
        "total",
        "next_num",
        "payloads",
        "fill",
        "ts",
        "recv_ts",
        "nlines",
        "lines",
        "unnamed",
    )

    def __init__(
        self,
        total: int,
        payload: bytes,
        fill: int,
        ts: float | None,
        recv_ts: float,
        nlines: int,
        line: str,
        unnamed: tuple | None = None,
    ) -> None:
        self.total = total
        self.next_num = 2
        self.payloads = [payload]
        self.fill = fill
        self.ts = ts  # explicit event time of the first part that had one
        self.recv_ts = recv_ts  # arrival of the first part
        self.nlines = nlines  # input lines this message accounts for
        self.lines = [line]  # raw text, for the archive
        self.unnamed = unnamed  # (feed, channel, seq id) when the first part named a station

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
        # (feed, channel, seq id) -> keys of the pending first parts that named a station
        # under it: where a later part naming none may belong.
        self._named: dict[tuple, set[tuple]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def has(self, key: tuple) -> bool:
        return key in self._pending

    @property
    def pending_lines(self) -> int:
        return sum(p.nlines for p in self._pending.values())

    def partner(self, key: tuple, feed: str) -> tuple:
        """The key a later part (``key``: its source, channel, seq id) should join when no
        message is pending under its own key: that of a first part of the same feed,
        channel and sequence id that named a station when this part names none (if
        exactly one station has one pending), or that named none when this part names
        one. ``key`` itself when there is none (the part is then an orphan)."""
        src, channel, seq = key
        if src == feed:
            named = self._named.get(key)
            if named is not None and len(named) == 1:
                return next(iter(named))
            return key
        unnamed = (feed, channel, seq)
        return unnamed if unnamed in self._pending else key

    def _pop(self, key: tuple) -> Partial:
        partial = self._pending.pop(key)
        self._forget_name(key, partial)
        return partial

    def _forget_name(self, key: tuple, partial: Partial) -> None:
        if partial.unnamed is not None:
            named = self._named.get(partial.unnamed)
            if named is not None:
                named.discard(key)
                if not named:
                    del self._named[partial.unnamed]

    def add(
        self,
        key: tuple,
        total: int,
        num: int,
        payload: bytes,
        fill: int,
        ts: float | None,
        recv_ts: float,
        nlines: int,
        line: str,
        feed: str | None = None,
    ) -> Partial | None:
        """Take one part; return the whole message when this part completes it.
        ``feed``: the feed's own name, when ``key[0]`` names a station of it (a later
        part naming none may then join this first part, see ``partner``)."""
        pending = self._pending
        partial = pending.get(key)
        if num == 1:
            if partial is not None:
                self._pop(key)
                self._rejected["orphan_fragment"] += partial.nlines
            unnamed = None
            if feed is not None:
                unnamed = (feed, key[1], key[2])
                named = self._named.get(unnamed)
                if named is None:
                    named = self._named[unnamed] = set()
                named.add(key)
            pending[key] = Partial(total, payload, fill, ts, recv_ts, nlines, line, unnamed)
            if len(pending) > MAX_PENDING:
                oldest_key, oldest = pending.popitem(last=False)
                self._forget_name(oldest_key, oldest)
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
            self._pop(key)
            self._rejected["expired_fragment"] += partial.nlines
            self._rejected["orphan_fragment"] += nlines
            return None
        if num != partial.next_num or total != partial.total:
            self._pop(key)
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
            self._pop(key)
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
            self._pop(key)
            self._rejected["expired_fragment"] += partial.nlines

    def flush(self, feed: str | None = None) -> None:
        """Give up on everything in flight (end of a finite input), or on one feed's:
        its keys start with the feed name (``feed`` or ``feed/station``)."""
        pending = self._pending
        for key in list(pending):
            src = key[0]
            if feed is None or src == feed or src.startswith(feed + "/"):
                self._rejected["expired_fragment"] += self._pop(key).nlines
