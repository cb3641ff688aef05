"""Lines in, records out: framing, assembly, de-duplication, pyais decoding, normalisation.

``Decoder.feed`` takes a batch of lines that one feed delivered at one moment and
returns the positions, static records and raw sentences they hold. It never raises
for bad input: each line that yields nothing is counted under a reason (see
``ingest.stats``).

Speed. The target is that decoding costs well under bare pyais stream decoding, so
that decoding and writing together stay under it; the loop below is written for
CPython: one pass per line on ``bytes``, locals instead of attributes, no exception on
the normal path, the checksum and de-armouring inlined. The payload is de-armoured as
pyais's ``bit_vector`` does it (onto the base64 alphabet, repacked by ``binascii``), and
the fast path reads the position reports (types 1, 2, 3, 18, 19, 27) and static data
(5, 24) straight from that integer (``normalise.BIT_POSITION``, ``type19_from_bits``,
``static_from_bits``) with pyais's scaling; other stored types, and the rare message the
fast path leaves to it, go through pyais's message class (``from_vector``).
``Decoder(fast_path=False)`` decodes everything through pyais: the reference
tests/test_ingest_fastpath.py holds the fast path to, record by record. Copies from a
second receiver are recognised by their payload before any decoding. Message types we
do not store (6, 8, ...) are counted as ``other`` from their header bits, without a
full decode.

Source ids. A feed is named by its caller (``source``); when a line carries a station
id (tag block ``s:``, or the ``r...`` field of USCG metadata) the record's source is
``"<feed>/<station>"``, so receivers behind one aggregator stay apart and two feeds
using the same station names do not collide.

Event time. Tag block ``c:`` (seconds or milliseconds), else the USCG epoch, else the
``$PGHP`` line before the sentence, else ``recv_ts`` (counted in ``stats.untimed``). A
multi-sentence message takes the time of its first part that states one; tag-block
group parts (``g:2-2-1604``) without ``s:``/``c:`` inherit both from the first part of
their group. A stated time before 1990 is rejected (``bad_time``), and so is one more
than ``max_clock_lead`` seconds after the line's arrival (``future_time``): one such
record would drag every time-driven consumer (track state, alert timers, de-duplication
watermarks) into the future.
"""

from __future__ import annotations

import logging
from binascii import a2b_base64
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyais.bit_vector import bit_vector
from pyais.messages import MSG_CLASS

from mda.ingest.dedupe import MAX_CLOCK_LEAD, Deduplicator
from mda.ingest.multipart import Assembler
from mda.ingest.nmea import (
    ARMOR_CHARS,
    MIN_EVENT_TIME,
    TagBlock,
    checksum,
    hex_byte,
    parse_pghp,
    parse_tag_block,
    parse_uscg_trailer,
)
from mda.ingest.normalise import (
    ARMOR_TO_B64,
    B64_PAD,
    B64_PAD_SHIFT,
    BIT_POSITION,
    BIT_POSITION_TYPES,
    MIN_BITS,
    MIN_BITS_24B,
    POSITION_TYPES,
    STATIC_BIT_TYPES,
    STATIC_TYPES,
    static_from_bits,
    to_position,
    to_vessel_info,
    type19_from_bits,
)
from mda.ingest.records import PositionReport, RawSentence, VesselInfo
from mda.ingest.stats import IngestStats
from mda.ingest.wire import Packed

__all__ = ["Batch", "Decoder"]

log = logging.getLogger(__name__)

# An AIS sentence is at most 82 characters; with a tag block and USCG metadata real
# lines stay under 300. Anything longer is junk (or a stream that lost its newlines).
MAX_LINE = 512

# bytes.translate table that changes every ASCII control character (NUL..US, DEL) and
# nothing else: ``b.translate(_CONTROL) != b`` finds one in a single C-level pass. A
# NUL that reached the raw archive would make PostgreSQL refuse the whole COPY batch.
_CONTROL = bytes(127 if i < 32 else 0 if i == 127 else i for i in range(256))

_DIGIT = {str(i).encode(): i for i in range(1, 10)}  # fragment count / number: 1..9
_FILL = {str(i).encode(): i for i in range(6)}  # fill bits: 0..5
_KNOWN_TYPES = frozenset(range(1, 28))
_DECODED_TYPES = POSITION_TYPES | STATIC_TYPES

# Caches of small parsed things that repeat on every line of a feed (tag blocks with
# the same station and second, station names). Cleared when they grow past this.
_CACHE_LIMIT = 4096
# Tag-block groups whose first part was seen and whose later parts are expected.
_MAX_GROUPS = 1024


@dataclass(slots=True)
class Batch:
    """What one ``feed`` call produced. ``duplicates`` counts messages dropped as copies,
    ``rejected`` counts lines rejected (during this call, for any source).

    ``messages`` (only from a ``Decoder(keep_messages=True)``): every emitted message, in
    order, as ``(ts, mmsi, payload, lines, position or None, static or None)``, the same
    records as in ``positions`` and ``statics``. For a caller that merges the output of
    several decoders (one per recorded file): it orders them by event time and
    recognises a copy from another decoder by its payload, as the decoder does its own,
    and can move its lines from the messages to the duplicates in the accounting."""

    positions: list[PositionReport] = field(default_factory=list)
    statics: list[VesselInfo] = field(default_factory=list)
    raw: list[RawSentence] = field(default_factory=list)
    duplicates: int = 0
    rejected: int = 0
    messages: list[tuple] = field(default_factory=list)
    # From a decoding process (``ingest.decode_process``): the positions and raw sentences
    # (and the statics again) in the wire form, which the store writes as they are; None
    # when there are none. ``positions`` and ``raw`` then hold them as objects only when
    # the decoder was asked for objects.
    packed: Packed | None = None


class Decoder:
    """Stateful AIS decoder for any number of feeds.

    ``dedupe_window``: seconds of event time within which the same message from
    another (or the same) receiver is a copy; 0 turns de-duplication off.
    ``multipart_timeout``: seconds a half-built multi-sentence message waits for its
    next part. ``keep_raw``: also return a ``RawSentence`` for every emitted message.
    ``max_clock_lead``: a line stating an event time more than this many seconds after
    its ``recv_ts`` is rejected as ``future_time``; None accepts any (for a feed played
    faster than real time, whose times run ahead of the clock by design).
    ``keep_messages``: also return ``Batch.messages`` (see ``Batch``).
    ``fast_path``: read the position reports (types 1, 2, 3, 18, 19, 27) straight from
    their bits (``normalise.position_from_bits``); False decodes every type through
    pyais's message classes (the reference the fast path is tested against).
    """

    def __init__(
        self,
        *,
        dedupe_window: float = 10.0,
        multipart_timeout: float = 10.0,
        keep_raw: bool = True,
        max_clock_lead: float | None = MAX_CLOCK_LEAD,
        keep_messages: bool = False,
        fast_path: bool = True,
    ) -> None:
        self.stats = IngestStats()
        self.fast_path = fast_path
        self.keep_raw = keep_raw
        self.keep_messages = keep_messages
        self.max_clock_lead = max_clock_lead
        self._dedupe = Deduplicator(dedupe_window)
        self._assembler = Assembler(multipart_timeout, self.stats.rejected)
        self._tag_blocks: dict[bytes, TagBlock | str] = {}
        self._names: dict[str, dict[str, str]] = {}  # feed -> station -> source id
        self._groups: dict[tuple[str, bytes], tuple[str | None, float | None]] = {}
        self._pghp: dict[str, tuple[float, str]] = {}
        self._internal_errors_logged = 0

    @property
    def pending_lines(self) -> int:
        """Lines held for what follows them: parts of unfinished messages, $PGHP lines."""
        return self._assembler.pending_lines + len(self._pghp)

    def expect_feeds(self, n: int) -> None:
        """Say how many feeds will share this decoder, so that de-duplication waits for
        copies from the others from the first batch on."""
        self._dedupe.expected_feeds = max(1, n)

    def flush(self, source: str | None = None) -> Batch:
        """End of input: count what is still in flight as rejected (``expired_fragment``,
        ``orphan_timestamp``). With ``source``, only that feed's (a finite feed ended
        while others go on). Returns a Batch with only ``rejected`` set."""
        before = self.stats.rejected_lines
        self._assembler.flush(source)
        pending = [source] if source is not None else list(self._pghp)
        for feed in pending:
            if self._pghp.pop(feed, None) is not None:
                self.stats.rejected["orphan_timestamp"] += 1
        for key in [k for k in self._groups if source is None or k[0] == source]:
            del self._groups[key]
        return Batch(rejected=self.stats.rejected_lines - before)

    def _source_name(self, names: dict[str, str], feed: str, station: str) -> str:
        if len(names) >= _CACHE_LIMIT:
            names.clear()
        name = names[station] = f"{feed}/{station}"
        return name

    def _tag_block(self, text: bytes) -> TagBlock | str:
        cache = self._tag_blocks
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        parsed = cache[text] = parse_tag_block(text)
        return parsed

    def feed(self, lines: Iterable[str], recv_ts: float, source: str, reader=None) -> Batch:
        """Decode a batch of lines that feed ``source`` delivered at ``recv_ts``.

        ``reader`` (``ingest.formats.make_reader``, the source's ``reader``) says what the
        lines are when they are not NMEA: receivers' JSON is expanded into its NMEA
        sentences first (an object without any counts as one rejected line); decoded
        records (gpsd, JSON, CSV) take ``_feed_decoded``."""
        stats = self.stats
        rejected = stats.rejected
        rejected_before = stats.rejected_lines
        expanded = 0  # lines (JSON objects) the reader rejected before the NMEA loop
        if reader is not None:
            if reader.decoded:
                return self._feed_decoded(lines, recv_ts, source, reader)
            lines, expanded = reader.expand(list(lines), rejected)
        positions: list[PositionReport] = []
        statics: list[VesselInfo] = []
        raws: list[RawSentence] | None = [] if self.keep_raw else None
        messages: list[tuple] | None = [] if self.keep_messages else None

        # Hot-loop locals: attribute and global lookups cost more than the work itself.
        tag_blocks = self._tag_blocks
        names = self._names.get(source)
        if names is None:
            names = self._names[source] = {}
        groups = self._groups
        assembler = self._assembler
        dedupe = self._dedupe
        seen = dedupe.seen if dedupe.enabled else None
        window = dedupe.window
        digit = _DIGIT
        fill_bits = _FILL
        hexb = hex_byte
        armor = ARMOR_CHARS
        known_types = _KNOWN_TYPES
        decoded_types = _DECODED_TYPES
        position_types = POSITION_TYPES
        fast = self.fast_path
        bit_position_types = BIT_POSITION_TYPES if fast else frozenset()
        bit_position = BIT_POSITION
        static_bit_types = STATIC_BIT_TYPES if fast else frozenset()
        from_bytes = int.from_bytes
        a2b = a2b_base64
        to_b64 = ARMOR_TO_B64
        b64_pad = B64_PAD
        b64_pad_shift = B64_PAD_SHIFT
        static_types = STATIC_TYPES
        min_bits = MIN_BITS
        msg_class = MSG_CLASS
        control = _CONTROL
        pghp = self._pghp.pop(source, None)  # a $PGHP line waiting for its sentence
        # Stated event times must lie in [earliest, latest].
        earliest = MIN_EVENT_TIME
        lead = self.max_clock_lead
        latest = recv_ts + lead if lead is not None else float("inf")

        n_lines = n_messages = n_positions = n_statics = n_other = n_untimed = 0
        n_dup = n_dup_lines = n_msg_lines = 0
        newest = float("-inf")

        for line in lines:
            n_lines += 1
            try:
                text = line.strip()
                if not text:
                    rejected["empty"] += 1
                    continue
                if len(text) > MAX_LINE:
                    rejected["too_long"] += 1
                    continue
                if not text.isascii():
                    rejected["binary"] += 1
                    continue
                b = text.encode()
                if b.translate(control) != b:  # NUL, ESC, tab ... inside the line
                    # A CR inside: a feed ending lines with a bare CR, sentences glued.
                    rejected["malformed" if 13 in b else "binary"] += 1
                    continue
                start = b[0]
                station = None
                ts = None
                untimed = False
                group = None
                if start == 92:  # "\": NMEA 4.10 tag block before the sentence
                    end = b.find(b"\\", 1)
                    if end < 0:
                        rejected["bad_tag_block"] += 1
                        continue
                    tb = tag_blocks.get(b[1:end])
                    if tb is None:
                        tb = self._tag_block(b[1:end])
                    if tb.__class__ is str:
                        rejected[tb] += 1
                        continue
                    station = tb.station
                    ts = tb.ts
                    group = tb.group
                    b = b[end + 1 :]
                    start = b[0] if b else 0

                if start != 33:  # not "!"
                    if start == 36 and b[:6] == b"$PGHP,":
                        stamp = parse_pghp(b)
                        if stamp.__class__ is str:
                            rejected[stamp] += 1
                        else:
                            if pghp is not None:  # the previous one timestamped nothing
                                rejected["orphan_timestamp"] += 1
                            pghp = (stamp, text)
                    elif start == 36:
                        rejected["not_ais"] += 1
                    else:
                        rejected["not_nmea"] += 1
                    continue
                kind = b[3:7]
                if kind != b"VDM," and kind != b"VDO,":
                    rejected["not_ais"] += 1
                    continue

                # An AIS sentence. From here on it takes a waiting $PGHP line with it.
                n = 1
                raw_text = text
                if pghp is not None:
                    n = 2
                    if ts is None:
                        ts = pghp[0]
                    raw_text = pghp[1] + "\n" + text
                    pghp = None

                star = b.find(b"*", 7)
                want = hexb.get(b[star + 1 : star + 3]) if star > 0 else None
                if want is None:
                    rejected["malformed"] += n
                    continue
                body = b[1:star]
                # nmea.checksum, inlined: the XOR of the body's bytes by folding one integer.
                if star <= 65:
                    c = from_bytes(body, "little")
                    c ^= c >> 256
                    c ^= c >> 128
                    c ^= c >> 64
                    c ^= c >> 32
                    c ^= c >> 16
                    c ^= c >> 8
                    c &= 0xFF
                else:
                    c = checksum(body)
                if c != want:
                    rejected["bad_checksum"] += n
                    continue
                f = body.split(b",")
                if len(f) != 7:
                    rejected["malformed"] += n
                    continue
                total = digit.get(f[1])
                num = digit.get(f[2])
                fill = fill_bits.get(f[6])
                payload = f[5]
                if (
                    total is None
                    or num is None
                    or fill is None
                    or num > total
                    or payload.translate(None, armor)
                ):
                    rejected["malformed"] += n
                    continue
                if not payload:
                    rejected["empty_payload"] += n
                    continue
                # USCG metadata after the checksum. Other trailing bytes (seen: a literal
                # "\\x0d\\x0a" from a bad capture) are outside the checksummed sentence and
                # are ignored, unless they look like a second sentence glued on (a feed
                # ending lines with a bare CR): that must not vanish unnoticed.
                if len(b) > star + 3:
                    if b[star + 3] == 44:
                        uscg_station, uscg_ts = parse_uscg_trailer(b[star + 4 :])
                        if station is None:
                            station = uscg_station
                        if ts is None:
                            ts = uscg_ts
                    elif b"!" in b[star + 3 :] or b"$" in b[star + 3 :]:
                        rejected["malformed"] += n
                        continue

                if group is not None and group[1] > 1:
                    gkey = (source, group[2])
                    if group[0] == 1:
                        if len(groups) >= _MAX_GROUPS:
                            del groups[next(iter(groups))]
                        groups[gkey] = (station, ts)
                    else:
                        first = groups.get(gkey)
                        if first is not None:
                            if station is None:
                                station = first[0]
                            if ts is None:
                                ts = first[1]
                            if group[0] == group[1]:
                                del groups[gkey]

                if ts is not None and not earliest <= ts <= latest:
                    rejected["future_time" if ts > latest else "bad_time"] += n
                    continue

                if station is None:
                    src = source
                else:
                    src = names.get(station)
                    if src is None:
                        src = self._source_name(names, source, station)

                if total > 1:
                    key = (src, f[4], f[3])
                    if num > 1:
                        if not assembler.has(key):
                            # Only some parts name the station (tag block or USCG metadata
                            # on the first part only, or on the later ones only).
                            key = assembler.partner(key, source)
                            if src is source:
                                src = key[0]  # the station the first part named, if any
                        done = assembler.add(
                            key, total, num, payload, fill, ts, recv_ts, n, raw_text
                        )
                    else:
                        done = assembler.add(
                            key,
                            total,
                            num,
                            payload,
                            fill,
                            ts,
                            recv_ts,
                            n,
                            raw_text,
                            None if src is source else source,
                        )
                    if done is None:
                        continue
                    payload = done.payload
                    fill = done.fill
                    ts = done.ts
                    if ts is None:
                        ts = done.recv_ts
                        untimed = True
                    n = done.nlines
                    raw_text = "\n".join(done.lines)
                elif ts is None:
                    ts = recv_ts
                    untimed = True
                if ts > newest:
                    newest = ts

                # A copy of a message already emitted from some receiver?
                if seen is not None:
                    kept = seen.get(payload)
                    if kept is not None and -window <= ts - kept[0] <= window:
                        n_dup += 1
                        n_dup_lines += n
                        record = kept[1]
                        if record is not None and src not in record.receivers:
                            record.receivers = record.receivers + (src,)
                        continue
                    if kept is not None:  # same payload long ago: a new message, queue it anew
                        del seen[payload]

                # De-armour (as pyais's bit_vector does): the armour mapped onto the
                # base64 alphabet, repacked by binascii in C, read as one integer.
                nbits = len(payload)
                r = nbits & 3
                if r:
                    value = (
                        from_bytes(a2b(payload.translate(to_b64) + b64_pad[r]), "big")
                        >> b64_pad_shift[r]
                    )
                else:
                    value = from_bytes(a2b(payload.translate(to_b64)), "big")
                nbits *= 6
                if fill:
                    value >>= fill
                    nbits -= fill
                if nbits < 38:
                    rejected["decode_error"] += n
                    continue
                msg_type = value >> (nbits - 6)
                mmsi = (value >> (nbits - 38)) & 0x3FFFFFFF
                position = None
                static = None
                if msg_type in bit_position_types:
                    if nbits < min_bits[msg_type]:
                        rejected["decode_error"] += n
                        continue
                    position = bit_position[msg_type](value, nbits, msg_type, ts, src)
                    if position.__class__ is str:
                        rejected[position] += n
                        continue
                    positions.append(position)
                    n_positions += 1
                elif msg_type in decoded_types:
                    if nbits < min_bits[msg_type] or (
                        msg_type == 24
                        and ((value >> (nbits - 40)) & 3) == 1
                        and nbits < MIN_BITS_24B
                    ):
                        rejected["decode_error"] += n
                        continue
                    if msg_type == 19 and fast:
                        position, static = type19_from_bits(value, nbits, ts, src)
                    elif (
                        msg_type in static_bit_types
                        and (static := static_from_bits(value, nbits, msg_type, ts, src))
                        is not None
                    ):
                        pass  # type 5 or 24 read from its bits
                    else:
                        try:
                            msg = msg_class[msg_type].from_vector(bit_vector(payload, fill))
                        except Exception:
                            rejected["decode_error"] += n
                            continue
                        if msg_type in position_types:
                            position = to_position(msg, msg_type, ts, src)
                        if msg_type in static_types:
                            static = to_vessel_info(msg, msg_type, ts, src)
                    if position.__class__ is str:
                        reason = position
                        position = None
                        if static is None or static.__class__ is str:
                            rejected[reason] += n
                            continue
                    elif static.__class__ is str:
                        if position is None:
                            rejected[static] += n
                            continue
                        static = None
                    if position is not None:
                        positions.append(position)
                        n_positions += 1
                    if static is not None:
                        statics.append(static)
                        n_statics += 1
                elif msg_type in known_types:
                    n_other += 1
                else:
                    rejected["unknown_type"] += n
                    continue

                n_messages += 1
                n_msg_lines += n
                if untimed:
                    n_untimed += 1
                if seen is not None:
                    seen[payload] = [ts, position, source, recv_ts]
                if raws is not None:
                    raws.append(RawSentence(ts, src, raw_text, mmsi, msg_type))
                if messages is not None:
                    messages.append((ts, mmsi, payload, n, position, static))
            except Exception:
                rejected["internal_error"] += 1
                if self._internal_errors_logged < 10:
                    self._internal_errors_logged += 1
                    log.exception("ingest: decoder failed on a line from %s: %r", source, line)

        if pghp is not None:
            self._pghp[source] = pghp
        self._assembler.expire(recv_ts)
        if seen is not None:
            dedupe.advance(source, newest if newest > float("-inf") else recv_ts, recv_ts)

        stats.lines += n_lines + expanded
        stats.messages += n_messages
        stats.positions += n_positions
        stats.statics += n_statics
        stats.other += n_other
        stats.duplicates += n_dup
        stats.untimed += n_untimed
        stats.duplicate_lines += n_dup_lines
        stats.message_lines += n_msg_lines
        return Batch(
            positions,
            statics,
            raws if raws is not None else [],
            n_dup,
            stats.rejected_lines - rejected_before,
            messages if messages is not None else [],
        )

    def _feed_decoded(self, lines: Iterable[str], recv_ts: float, source: str, reader) -> Batch:
        """Decoded records (gpsd, JSON, CSV): each line a row or a reason (``reader.read``);
        timed, checked, de-duplicated by the line's text and counted like messages. The raw
        archive keeps ``decoded:<format> <line>``: there is no sentence."""
        stats = self.stats
        rejected = stats.rejected
        rejected_before = stats.rejected_lines
        lines = lines if isinstance(lines, list) else list(lines)
        rows = reader.read(lines)
        positions: list[PositionReport] = []
        statics: list[VesselInfo] = []
        raws: list[RawSentence] | None = [] if self.keep_raw else None
        messages: list[tuple] | None = [] if self.keep_messages else None
        names = self._names.get(source)
        if names is None:
            names = self._names[source] = {}
        dedupe = self._dedupe
        seen = dedupe.seen if dedupe.enabled else None
        window = dedupe.window
        earliest = MIN_EVENT_TIME
        lead = self.max_clock_lead
        latest = recv_ts + lead if lead is not None else float("inf")
        prefix = f"decoded:{reader.label} "
        n_messages = n_positions = n_statics = n_other = n_untimed = n_dup = 0
        newest = float("-inf")
        for row in rows:
            if row.__class__ is str:
                rejected[row] += 1
                continue
            ts, mmsi, msg_type, station, position, static, key, text = row
            untimed = ts is None
            if untimed:
                ts = recv_ts
            elif not earliest <= ts <= latest:
                rejected["future_time" if ts > latest else "bad_time"] += 1
                continue
            if station is None:
                src = source
            else:
                src = names.get(station)
                if src is None:
                    src = self._source_name(names, source, station)
            if ts > newest:
                newest = ts
            if seen is not None:
                kept = seen.get(key)
                if kept is not None and -window <= ts - kept[0] <= window:
                    n_dup += 1
                    record = kept[1]
                    if record is not None and src not in record.receivers:
                        record.receivers = record.receivers + (src,)
                    continue
                if kept is not None:
                    del seen[key]
            if position is not None:
                position.ts = ts
                position.source = src
                position.receivers = (src,)
                positions.append(position)
                n_positions += 1
            if static is not None:
                static.ts = ts
                static.source = src
                statics.append(static)
                n_statics += 1
            if position is None and static is None:
                n_other += 1
            n_messages += 1
            if untimed:
                n_untimed += 1
            if seen is not None:
                seen[key] = [ts, position, source, recv_ts]
            if raws is not None:
                raws.append(RawSentence(ts, src, prefix + text, mmsi, msg_type))
            if messages is not None:
                messages.append((ts, mmsi, key, 1, position, static))
        if seen is not None:
            dedupe.advance(source, newest if newest > float("-inf") else recv_ts, recv_ts)
        stats.lines += len(lines)
        stats.messages += n_messages
        stats.positions += n_positions
        stats.statics += n_statics
        stats.other += n_other
        stats.duplicates += n_dup
        stats.untimed += n_untimed
        stats.duplicate_lines += n_dup
        stats.message_lines += n_messages
        return Batch(
            positions,
            statics,
            raws if raws is not None else [],
            n_dup,
            stats.rejected_lines - rejected_before,
            messages if messages is not None else [],
        )
