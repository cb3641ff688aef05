"""Running counters of the decoder, and the accounting rule they obey.

Every input line ends up in exactly one place:

    lines == message_lines + duplicate_lines + sum(rejected.values()) + in flight

``message_lines`` are the lines of messages the decoder emitted (positions, static
data, other types), ``duplicate_lines`` those of copies already emitted from another
receiver, ``rejected`` counts lines by reason, and "in flight" are parts of multi-
sentence messages and ``$PGHP`` lines still waiting for what follows them
(``Decoder.pending_lines``; zero after ``Decoder.flush()``). A ``$PGHP`` line shares
the fate of the sentence it timestamps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["IngestStats", "REASONS"]

# Every reason a line can be rejected for, with what it means (also in ingest/README.md).
REASONS: dict[str, str] = {
    "empty": "blank line",
    "too_long": "longer than any AIS line can be (junk or a stuck stream)",
    "binary": "bytes outside ASCII, or a control character (NUL, tab, ESC ...) inside the line",
    "not_nmea": "does not start like an NMEA sentence or tag block (!, $ or \\)",
    "not_ais": "an NMEA sentence that is not AIS (VDM/VDO) or a $PGHP timestamp; "
    "a gpsd JSON object that is not AIS (VERSION, DEVICES, TPV ...)",
    "malformed": "AIS sentence with wrong fields, fragment numbers, fill bits or payload "
    "characters, no *hh, a second sentence glued on after the checksum or a "
    "CR inside the line",
    "empty_payload": "AIS sentence without payload",
    "bad_checksum": "sentence checksum does not match",
    "bad_tag_block": "tag block checksum does not match, missing, or a field is unreadable",
    "bad_time": "the line states an event time before 1990 (a receiver clock that was never set)",
    "future_time": "the line states an event time more than max_clock_lead (60 s by default) "
    "after its arrival (a receiver clock running ahead, or a corrupt c: field)",
    "orphan_fragment": "part of a multi-sentence message whose other parts did not fit",
    "expired_fragment": "part of a multi-sentence message whose next part never came in time",
    "orphan_timestamp": "$PGHP line not followed by an AIS sentence from its source",
    "unknown_type": "AIS message id 0 or above 27",
    "decode_error": "payload too short for its message type, or pyais could not decode it",
    "no_position": "position message with latitude 91 / longitude 181 (not available); "
    "a decoded record (JSON object, CSV row) with neither a position nor static data",
    "out_of_range": "position message with latitude or longitude out of range",
    "not_json": "a line of a JSON feed that is not a JSON object",
    "no_nmea": "an AIS-catcher JSON object without NMEA sentences (an empty nmea array)",
    "no_mmsi": "a decoded record (JSON object, CSV row) without a usable MMSI (1 to 999999999)",
    "unreadable_time": "a decoded record (or AIS-catcher object) whose time cannot be read "
    "in the source's time format",
    "bad_value": "a CSV row whose latitude or longitude is not a number",
    "short_row": "a CSV row with fewer cells than its header's layout needs (a cut line)",
    "header": "a CSV header line: the first line of a file, or a repeated one where files "
    "were joined",
    "internal_error": "a bug: the decoder failed on this line (logged with the line)",
}


@dataclass
class IngestStats:
    """Counters since the decoder was made. ``rejected`` counts lines by reason;
    ``messages``, ``positions``, ``statics``, ``other`` and ``duplicates`` count
    messages (a type 19 or 21 message gives one position and one static record).
    ``untimed`` counts the emitted messages (of ``messages``) whose event time is their
    arrival time because no line of theirs states one (no tag block ``c:``, USCG epoch
    or ``$PGHP``): not a rejection, but a log where it equals ``messages`` has no
    timestamps of its own."""

    lines: int = 0
    messages: int = 0
    positions: int = 0
    statics: int = 0
    other: int = 0
    duplicates: int = 0
    untimed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    message_lines: int = 0
    duplicate_lines: int = 0

    @property
    def rejected_lines(self) -> int:
        return sum(self.rejected.values())

    @property
    def accounted(self) -> int:
        """Lines whose fate is decided (equals ``lines`` once nothing is in flight)."""
        return self.message_lines + self.duplicate_lines + self.rejected_lines

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "messages": self.messages,
            "positions": self.positions,
            "statics": self.statics,
            "other": self.other,
            "duplicates": self.duplicates,
            "untimed": self.untimed,
            "message_lines": self.message_lines,
            "duplicate_lines": self.duplicate_lines,
            "rejected_lines": self.rejected_lines,
            "rejected": dict(self.rejected.most_common()),
        }

    def summary_lines(self) -> list[str]:
        """Human-readable lines for a CLI summary: one count per line, labels left and
        numbers right-aligned; rejection reasons that occurred, most frequent first."""

        def row(label: str, value: int, note: str = "") -> str:
            return f"{label:<20}{value:>12,}" + (f"  {note}" if note else "")

        out = [
            row("lines", self.lines),
            # Lines add up: message lines + duplicate lines + rejected lines (+ any still
            # waiting for their other parts) = lines.
            row("messages", self.messages, f"({self.message_lines:,} lines)"),
            row("  positions", self.positions),
            row("  statics", self.statics, "(types 19 and 21 give a position and a static)"),
            row("  other", self.other),
            row("duplicates", self.duplicates, f"({self.duplicate_lines:,} lines)"),
            row("untimed", self.untimed, "(messages timed by their arrival)"),
            row("rejected", self.rejected_lines, "(lines)"),
        ]
        for reason, count in sorted(self.rejected.items(), key=lambda rc: (-rc[1], rc[0])):
            if count:
                out.append(row(f"  {reason}", count))
        return out
