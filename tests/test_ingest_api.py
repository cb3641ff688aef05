"""The public surface of ingest, and its README, which must not rot."""

from __future__ import annotations

import re
from pathlib import Path

import ingest
from ingest import REASONS, Batch, Decoder, IngestStats

README = Path(__file__).resolve().parents[1] / "ingest" / "README.md"


def test_all_names_exist_and_are_documented():
    text = README.read_text()
    for name in ingest.__all__:
        assert hasattr(ingest, name), name
        assert f"`{name}" in text, f"{name} missing from ingest/README.md"


def test_every_rejection_reason_is_documented():
    text = README.read_text()
    for reason in REASONS:
        assert f"| `{reason}` |" in text, f"reason {reason} missing from ingest/README.md"


def test_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_decoder_api_shape():
    decoder = Decoder(dedupe_window=5.0, multipart_timeout=3.0, keep_raw=False)
    batch = decoder.feed(["!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A", "junk"],
                         1_700_000_000.0, "rx")
    assert isinstance(batch, Batch) and isinstance(decoder.stats, IngestStats)
    assert (len(batch.positions), len(batch.statics), batch.raw, batch.duplicates,
            batch.rejected) == (1, 0, [], 0, 1)
    stats = decoder.stats.as_dict()
    assert stats["lines"] == 2 and stats["positions"] == 1 and stats["rejected"] == {"not_nmea": 1}
    assert any("not_nmea" in line for line in decoder.stats.summary_lines())
    (p,) = batch.positions
    assert p.time.isoformat() == "2023-11-14T22:13:20+00:00"
