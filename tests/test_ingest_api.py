"""The public surface of ingest, and its README, which must not rot."""

from __future__ import annotations

import re
from pathlib import Path

from mda import ingest
from mda.ingest import REASONS, Batch, Decoder, IngestStats

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
    batch = decoder.feed(
        ["!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A", "junk"], 1_700_000_000.0, "rx"
    )
    assert isinstance(batch, Batch) and isinstance(decoder.stats, IngestStats)
    assert (
        len(batch.positions),
        len(batch.statics),
        batch.raw,
        batch.duplicates,
        batch.rejected,
    ) == (1, 0, [], 0, 1)
    stats = decoder.stats.as_dict()
    assert stats["lines"] == 2 and stats["positions"] == 1 and stats["rejected"] == {"not_nmea": 1}
    assert any("not_nmea" in line for line in decoder.stats.summary_lines())
    (p,) = batch.positions
    assert p.time.isoformat() == "2023-11-14T22:13:20+00:00"


def test_summary_lines_show_every_count_and_each_reason():
    stats = IngestStats(
        lines=1234567,
        messages=1000,
        positions=900,
        statics=80,
        other=30,
        duplicates=12,
        untimed=1000,
        message_lines=1010,
        duplicate_lines=14,
    )
    stats.rejected.update({"not_ais": 5, "bad_checksum": 7, "binary": 5, "empty": 0})
    assert stats.summary_lines() == [
        "lines                  1,234,567",
        "messages                   1,000  (1,010 lines)",
        "  positions                  900",
        "  statics                     80  (types 19 and 21 give a position and a static)",
        "  other                       30",
        "duplicates                    12  (14 lines)",
        "untimed                    1,000  (messages timed by their arrival)",
        "rejected                      17  (lines)",
        "  bad_checksum                 7",
        "  binary                       5",
        "  not_ais                      5",
    ]
    assert stats.as_dict()["untimed"] == 1000


def test_every_source_counts_what_it_drops():
    from mda.ingest.sources import FileSource, MqttSource, StdinSource, TcpSource, UdpSource

    for uri in ("x.nmea", "-", "tcp://h:1", "udp://:0", "mqtt://h/t"):
        src = ingest.open_source(uri)
        assert isinstance(src, (FileSource, StdinSource, TcpSource, UdpSource, MqttSource))
        assert src.dropped == 0, uri
    assert "`.dropped`" in README.read_text()
