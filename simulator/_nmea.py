"""From transmissions to the lines two shore receivers would log: AIVDM sentences made by
pyais, NMEA 4.10 tag blocks (``s:`` station, ``c:`` unix time, ``g:`` sentence groups for
multipart messages), overlapping coverage, a little loss and a little junk."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from pyais import encode_dict

from ._traffic import Msg

__all__ = ["Receiver", "RECEIVERS", "Renderer", "nmea_checksum", "tag_block"]


@dataclass(frozen=True)
class Receiver:
    station: str  # the tag block's s:
    west: float  # hears transmissions between these longitudes
    east: float
    lat: float  # where it stands (for its own $GPGGA)
    lon: float

    def covers(self, lon: float) -> bool:
        return self.west <= lon <= self.east


# Two networks whose coverage overlaps along the west coast of India (70.5E - 77.5E).
RECEIVERS = (
    Receiver("rcvA", -180.0, 77.5, 12.79, 45.03),
    Receiver("rcvB", 70.5, 180.0, 13.08, 80.29),
)

OVERLAP_HEARD = 0.8  # where both cover, each hears a transmission with this probability
SINGLE_HEARD = 0.98  # elsewhere the one receiver misses 2 %
JUNK_EVERY_S = {"gga": 600.0, "bad_checksum": 660.0, "truncated": 780.0}


def nmea_checksum(body: str) -> int:
    c = 0
    for ch in body:
        c ^= ord(ch)
    return c


def tag_block(fields: str) -> str:
    return f"\\{fields}*{nmea_checksum(fields):02X}\\"


def _gga(t: float, rcv: Receiver) -> str:
    tm = time.gmtime(t)
    lat, lon = abs(rcv.lat), abs(rcv.lon)
    body = (
        f"GPGGA,{tm.tm_hour:02d}{tm.tm_min:02d}{tm.tm_sec:02d}.00,"
        f"{int(lat):02d}{(lat % 1) * 60:07.4f},{'N' if rcv.lat >= 0 else 'S'},"
        f"{int(lon):03d}{(lon % 1) * 60:07.4f},{'E' if rcv.lon >= 0 else 'W'},"
        f"1,09,0.9,12.0,M,-21.0,M,,"
    )
    return f"${body}*{nmea_checksum(body):02X}"


class Renderer:
    """Turns :class:`Msg` into lines. Deterministic for a seed and a message order."""

    def __init__(self, seed: int, junk: bool = True):
        self.rng = random.Random(f"{seed}:render")
        self.junk = junk
        self.groups = {r.station: 0 for r in RECEIVERS}
        self.next_junk: dict[str, float] | None = None
        self.counts = {
            "lines": 0,
            "messages": 0,
            "both": 0,
            "gga": 0,
            "bad_checksum": 0,
            "truncated": 0,
            "multipart": 0,
            "lost": 0,
        }

    def _hearers(self, lon: float) -> list[Receiver]:
        cover = [r for r in RECEIVERS if r.covers(lon)]
        rng = self.rng
        if len(cover) > 1:
            heard = [r for r in cover if rng.random() < OVERLAP_HEARD]
            return heard or [rng.choice(cover)]
        return [r for r in cover if rng.random() < SINGLE_HEARD]

    def render(self, msg: Msg) -> list[str]:
        rng = self.rng
        out: list[str] = []
        if self.next_junk is None:
            self.next_junk = {k: msg.t + v * rng.uniform(0.2, 1.0) for k, v in JUNK_EVERY_S.items()}
        hearers = self._hearers(msg.lon)
        self.counts["messages"] += 1
        if not hearers:
            self.counts["lost"] += 1
        if len(hearers) > 1:
            self.counts["both"] += 1
        single: list[list[str]] = []  # per payload, its sentences (single-part only)
        for payload in msg.payloads:
            data = dict(payload)
            channel = data.pop("_channel", "A" if rng.random() < 0.5 else "B")
            sentences = encode_dict(
                data, talker_id="AI", sentence_type="VDM", radio_channel=channel
            )
            single.append(sentences)
        # The first receiver logs at once; a second one may stamp a second later.
        per_rcv: list[tuple[Receiver, int, list[list[str]]]] = []
        for i, rcv in enumerate(hearers):
            c = int(msg.t + (rng.uniform(0.0, 1.2) if i else 0.0))
            groups = []
            for payload, sentences in zip(msg.payloads, single):
                if len(sentences) == 1:
                    groups.append([tag_block(f"s:{rcv.station},c:{c}") + sentences[0]])
                    continue
                self.groups[rcv.station] += 1
                gid = self.groups[rcv.station]
                data = dict(payload)
                channel = data.pop("_channel", "A")
                parts = encode_dict(
                    data,
                    talker_id="AI",
                    sentence_type="VDM",
                    radio_channel=channel,
                    seq_id=gid % 10,
                )
                n = len(parts)
                groups.append(
                    [
                        tag_block(f"g:{k}-{n}-{gid},s:{rcv.station},c:{c}") + part
                        for k, part in enumerate(parts, start=1)
                    ]
                )
                self.counts["multipart"] += 1
            per_rcv.append((rcv, c, groups))
        # Both copies of a multipart message, now and then interleaved (A1 B1 A2 B2), so
        # that assembly must be per source.
        if len(per_rcv) == 2 and any(len(g) > 1 for g in per_rcv[0][2]) and rng.random() < 0.2:
            for ga, gb in zip(per_rcv[0][2], per_rcv[1][2]):
                for a, b in zip(ga, gb):
                    out += [a, b]
        else:
            for _, _, groups in per_rcv:
                for g in groups:
                    out += g
        if self.junk and msg.quiet and per_rcv:
            out = self._junk(msg, per_rcv, out)
        self.counts["lines"] += len(out)
        return out

    def _junk(self, msg: Msg, per_rcv, out: list[str]) -> list[str]:
        rng, due = self.rng, self.next_junk
        if msg.t >= due["gga"]:
            due["gga"] = msg.t + JUNK_EVERY_S["gga"] * rng.uniform(0.7, 1.3)
            rcv, c, _ = per_rcv[0]
            gga = _gga(msg.t, rcv)
            out.append(tag_block(f"s:{rcv.station},c:{c}") + gga if rng.random() < 0.5 else gga)
            self.counts["gga"] += 1
        if len(out) == 1 and len(msg.payloads) == 1 and msg.payloads[0]["type"] in (1, 3, 18):
            line = out[0]
            if msg.t >= due["bad_checksum"]:
                due["bad_checksum"] = msg.t + JUNK_EVERY_S["bad_checksum"] * rng.uniform(0.7, 1.3)
                # a bit error in the payload: the checksum no longer matches
                head, _, rest = line.rpartition("!AIVDM,")
                fields = rest.split(",")
                p = fields[4]
                i = rng.randrange(len(p))
                repl = "0" if p[i] != "0" else "1"
                fields[4] = p[:i] + repl + p[i + 1 :]
                out[0] = head + "!AIVDM," + ",".join(fields)
                self.counts["bad_checksum"] += 1
            elif msg.t >= due["truncated"]:
                due["truncated"] = msg.t + JUNK_EVERY_S["truncated"] * rng.uniform(0.7, 1.3)
                out[0] = line[: rng.randrange(len(line) // 3, len(line) - 6)]
                self.counts["truncated"] += 1
        return out
