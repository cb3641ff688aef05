"""No input stops the decoder, and every line is accounted for.

The accounting rule (ingest/README.md): each input line ends up as part of an emitted
message, as a duplicate, or rejected with a reason; after ``flush()`` nothing is left
in flight, so ``stats.lines == stats.accounted``.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

from mda.ingest import REASONS, Decoder, open_source

DATA = Path(__file__).parent / "data"
T = 1_700_000_000.0


def check_accounting(decoder: Decoder, n_lines: int) -> None:
    decoder.flush()
    s = decoder.stats
    assert s.lines == n_lines
    assert s.accounted == s.lines, s.as_dict()
    assert decoder.pending_lines == 0
    assert s.rejected["internal_error"] == 0
    assert set(s.rejected) <= set(REASONS)


async def decode_file(path: Path, **options) -> Decoder:
    """Through the real file source, batch by batch, as the pipeline does."""
    decoder = Decoder(**options)
    async with open_source(str(path)) as src:
        async for batch in src:
            decoder.feed(batch.lines, batch.recv_ts, batch.source)
    return decoder


async def test_amsa_robustness_corpus():
    decoder = await decode_file(DATA / "amsa/ais.txt.gz")
    check_accounting(decoder, 44_687)
    s = decoder.stats
    # The corpus: 34,013 AIS messages among $PSHI, $AIALR, $GPGGA ... lines.
    assert s.messages + s.duplicates + s.rejected["no_position"] > 33_000
    assert s.rejected["not_ais"] > 9_000  # ALR, VSI, GGA, ZDA, PSHI, PAIS, !AIPWR ...
    assert s.positions > 20_000 and s.statics > 1_000
    for reason in ("bad_checksum", "malformed", "no_position"):
        assert s.rejected[reason] > 0, reason
    summary = "\n".join(s.summary_lines())
    assert "not_ais" in summary and f"{s.lines:,}" in summary


async def test_amsa_talkers_include_odd_ones():
    lines = gzip.open(DATA / "amsa/ais.txt.gz", "rt", encoding="latin-1").read().splitlines()
    odd = [line for line in lines if line.startswith("!=IVDM")]
    assert len(odd) > 1000
    decoder = Decoder(dedupe_window=0)
    batch = decoder.feed(odd, T, "amsa")
    assert decoder.stats.messages > 0.9 * len(odd)
    assert len(batch.positions) > 0.8 * len(odd)


async def test_random_bytes_never_raise(tmp_path):
    rnd = random.Random(20240601)
    path = tmp_path / "random.bin"
    path.write_bytes(rnd.randbytes(500_000))
    decoder = await decode_file(path)
    n_lines = len(path.read_bytes().split(b"\n"))
    check_accounting(decoder, n_lines)
    assert decoder.stats.messages == 0


async def test_random_bytes_gzip_and_sprinkled_sentences(tmp_path):
    # Random bytes with real sentences spliced in: the sentences still decode.
    rnd = random.Random(7)
    good = (DATA / "dma/stream_example.txt").read_bytes().splitlines(True)[:400]
    chunks = []
    for line in good:
        chunks.append(rnd.randbytes(rnd.randrange(0, 200)) + b"\n")
        chunks.append(line)
    path = tmp_path / "mixed.gz"
    path.write_bytes(gzip.compress(b"".join(chunks)))
    decoder = await decode_file(path)
    n_lines = b"".join(chunks).count(b"\n")
    check_accounting(decoder, n_lines)
    assert decoder.stats.messages > 150


def test_mutated_sentences_never_raise():
    # Every kind of damage a link does: flipped, dropped, doubled characters.
    rnd = random.Random(3)
    base = (DATA / "gpsd/sample.aivdm").read_text(encoding="latin-1").splitlines()
    base += (DATA / "libais/tagblock.nmea").read_text().splitlines()
    base += (DATA / "libais/typeexamples.nmea").read_text().splitlines()
    base = [line for line in base if line[:1] in "!\\$"]
    alphabet = "".join(chr(c) for c in range(32, 127)) + "\\*,!$\u00ff\x00"
    lines = []
    for _ in range(20_000):
        line = list(rnd.choice(base))
        for _ in range(rnd.randrange(1, 4)):
            i = rnd.randrange(max(1, len(line)))
            op = rnd.random()
            if op < 0.5 and line:
                line[i] = rnd.choice(alphabet)
            elif op < 0.75 and line:
                del line[i]
            else:
                line.insert(i, rnd.choice(alphabet))
        lines.append("".join(line))
    decoder = Decoder()
    for i in range(0, len(lines), 500):
        decoder.feed(lines[i : i + 500], T + i, "fuzz")
    check_accounting(decoder, len(lines))
    assert decoder.stats.rejected["bad_checksum"] > 1000


def test_pyais_sample_with_empty_payloads_and_lone_first_parts():
    lines = (DATA / "pyais/nmea_data_sample.txt").read_text().splitlines()
    decoder = Decoder()
    decoder.feed(lines, T, "pyais")
    check_accounting(decoder, len(lines))
    s = decoder.stats
    assert s.rejected["empty_payload"] == 100
    # 20 first parts of type 5 messages whose second parts are not in the file.
    assert s.rejected["orphan_fragment"] + s.rejected["expired_fragment"] == 20


def test_no_control_character_reaches_a_record():
    # Real sentences with a control character or junk put at a random place: whatever
    # comes out (records, raw archive) is free of them (NUL would break PostgreSQL COPY).
    rnd = random.Random(11)
    base = (DATA / "libais/tagblock.nmea").read_text().splitlines()
    base += (DATA / "gpsd/sample.aivdm").read_text(encoding="latin-1").splitlines()
    base = [line for line in base if line[:1] in "!\\$"]
    lines = []
    for _ in range(5_000):
        line = rnd.choice(base)
        i = rnd.randrange(len(line) + 1)
        lines.append(
            line[:i] + rnd.choice(["\x00", "\x01", "\x1b", "\t", "\x7f", "\x00\x00x"]) + line[i:]
        )
    decoder = Decoder(dedupe_window=0)
    batch = decoder.feed(lines, T, "fuzz")
    check_accounting(decoder, len(lines))
    assert decoder.stats.rejected["binary"] > 4_000
    texts = [r.line.replace("\n", "") for r in batch.raw]
    texts += [p.source for p in batch.positions] + [s.source for s in batch.statics]
    assert all(t.isprintable() for t in texts)
