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
    "binary": "bytes outside ASCII",
    "not_nmea": "does not start like an NMEA sentence or tag block (!, $ or \\)",
    "not_ais": "an NMEA sentence that is not AIS (VDM/VDO) or a $PGHP timestamp",
    "malformed": "AIS sentence with wrong fields, fragment numbers, fill bits or payload "
                 "characters, no *hh, or a second sentence glued on after the checksum",
    "empty_payload": "AIS sentence without payload",
    "bad_checksum": "sentence checksum does not match",
    "bad_tag_block": "tag block checksum does not match, missing, or a field is unreadable",
    "orphan_fragment": "part of a multi-sentence message whose other parts did not fit",
    "expired_fragment": "part of a multi-sentence message whose next part never came in time",
    "orphan_timestamp": "$PGHP line not followed by an AIS sentence from its source",
    "unknown_type": "AIS message id 0 or above 27",
    "decode_error": "payload too short for its message type, or pyais could not decode it",
    "no_position": "position message with latitude 91 / longitude 181 (not available)",
    "out_of_range": "position message with latitude or longitude out of range",
    "internal_error": "a bug: the decoder failed on this line (logged with the line)",
}


@dataclass
class IngestStats:
    """Counters since the decoder was made. ``rejected`` counts lines by reason;
    ``messages``, ``positions``, ``statics``, ``other`` and ``duplicates`` count
    messages (a type 19 or 21 message gives one position and one static record)."""

    lines: int = 0
    messages: int = 0
    positions: int = 0
    statics: int = 0
    other: int = 0
    duplicates: int = 0
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
            "message_lines": self.message_lines,
            "duplicate_lines": self.duplicate_lines,
            "rejected_lines": self.rejected_lines,
            "rejected": dict(self.rejected.most_common()),
        }

    def summary_lines(self) -> list[str]:
        """Human-readable lines for a CLI summary."""
        out = [
            f"lines       {self.lines:>12,}",
            f"messages    {self.messages:>12,}  (positions {self.positions:,}, "
            f"static {self.statics:,}, other {self.other:,})",
            f"duplicates  {self.duplicates:>12,}  ({self.duplicate_lines:,} lines)",
            f"rejected    {self.rejected_lines:>12,}  lines",
        ]
        for reason, count in self.rejected.most_common():
            if count:
                out.append(f"  {reason:<18}{count:>10,}")
        return out
