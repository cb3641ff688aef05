"""The same AIS message heard by several receivers is one message.

Two receivers in range of one ship (or a terrestrial and a satellite feed) deliver
the same transmission twice. Every transmission differs from the vessel's previous
one (position, UTC second, radio state), so the assembled six-bit payload is a
fingerprint: the same payload within ``window`` seconds of event time is a copy.

The decoder looks the payload up before it decodes anything, so copies cost one dict
lookup. The table is bounded in time and size. An entry leaves once the feed it came
from has moved ``window`` seconds of event time past it (each feed has its own clock:
a satellite feed hours behind a terrestrial one must not expire the other's entries
on arrival), or once it has waited ``max_age`` seconds of arrival time (a feed that
went quiet), or, oldest first, past ``max_entries``. Copies that arrive later than
that (a satellite downlink hours after the terrestrial copy) are not recognised.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["MAX_CLOCK_LEAD", "Deduplicator"]

# A receiver clock running ahead (or a corrupt c: field) must not drag the watermark
# into the future and expire everything: event times more than this far past their
# arrival time only count as their arrival time plus this. The decoder rejects such
# lines outright (``future_time``) unless told not to (``Decoder(max_clock_lead=None)``).
MAX_CLOCK_LEAD = 60.0

# With several feeds, an entry stays at least this long (arrival time) whatever its feed's
# clock says, so that feeds read side by side (two receivers' recordings replayed at full
# speed, where one feed's batch runs minutes of event time ahead of the other's) still meet
# their copies. With one feed there is nobody to wait for, and entries go by event time.
MIN_HOLD = 5.0


class Deduplicator:
    """Payload -> [event time, kept position record or None, feed, arrival], oldest first."""

    def __init__(
        self, window: float, max_entries: int = 200_000, max_age: float | None = None
    ) -> None:
        self.window = window
        self.max_entries = max_entries
        self.max_age = max_age if max_age is not None else max(60.0, 6 * window)
        self.seen: OrderedDict[bytes, list] = OrderedDict()
        self.watermarks: dict[str, float] = {}
        self.expected_feeds = 1  # set by whoever runs several feeds into one decoder

    @property
    def enabled(self) -> bool:
        return self.window > 0

    def advance(self, feed: str, newest_event: float, recv_ts: float) -> None:
        """After a batch of ``feed``: move its clock to the newest believable event time,
        then drop the entries that can no longer have copies coming."""
        ts = min(newest_event, recv_ts + MAX_CLOCK_LEAD)
        watermarks = self.watermarks
        if ts > watermarks.get(feed, float("-inf")):
            watermarks[feed] = ts
        seen = self.seen
        window = self.window
        oldest_arrival = recv_ts - self.max_age
        several = self.expected_feeds > 1 or len(watermarks) > 1
        held = recv_ts - MIN_HOLD if several else float("inf")
        # Insertion order is arrival order: look at the front only (one pass of the
        # items iterator, the deletions after it).
        excess = len(seen) - self.max_entries
        drop = []
        for key, entry in seen.items():
            if (
                (entry[3] >= held or entry[0] >= watermarks[entry[2]] - window)
                and entry[3] >= oldest_arrival
                and len(drop) >= excess
            ):
                break
            drop.append(key)
        for key in drop:
            del seen[key]
