"""The ingest decoder against bare pyais stream decoding of the same file, same run.

    python tests/bench/bench_decode.py [--lines 300000] [--repeat 3]

Two inputs: the generated mixed feed of ``feedgen.py`` (tag blocks, multipart type 5,
type 24, a second receiver's copies, junk) and the real AMSA corpus in tests/data
repeated to the same length (mixed talkers, no timestamps, a quarter non-AIS lines).
For each, the baseline is ``for msg in pyais.FileReaderStream(path): msg.decode()`` and
ours is ``Decoder.feed`` on batches of 1000 lines read from the same file. Best CPU
time of ``--repeat`` interleaved runs each. Target: ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from feedgen import bare_pyais_decode, generate  # noqa: E402

from mda.ingest import Decoder  # noqa: E402


def ours(path: Path) -> Decoder:
    decoder = Decoder()
    # As if live, a batch a second from now on: lines without a time of their own take
    # their batch's, so the repeated AMSA corpus is not one 10-second window of copies
    # of itself, and the generated feed's tag-block times lie in the past, as a
    # recording's do.
    recv_ts = time.time()
    with open(path, encoding="latin-1") as f:
        while True:
            lines = f.readlines(65536)  # ~1000 lines, as the file source batches them
            if not lines:
                break
            decoder.feed(lines, recv_ts, "bench")
            recv_ts += 1.0
    decoder.flush()
    return decoder


def best_of(fns, path: Path, repeat: int) -> list[tuple[float, object]]:
    """Best CPU time of each function, runs interleaved: this machine is shared, and
    CPU time of this process with alternating runs is what load elsewhere distorts least."""
    best: list[tuple[float, object]] = [(float("inf"), None)] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.process_time()
            result = fn(path)
            elapsed = time.process_time() - t
            if elapsed < best[i][0]:
                best[i] = (elapsed, result)
    return best


def run(label: str, path: Path, repeat: int, unique_positions: int | None = None) -> float:
    n_lines = sum(1 for _ in open(path, "rb"))
    (t_pyais, n_pyais), (t_ours, decoder) = best_of([bare_pyais_decode, ours], path, repeat)
    s = decoder.stats
    assert s.lines == s.accounted == n_lines, (s.lines, s.accounted, n_lines)
    if unique_positions is not None:
        assert s.positions == unique_positions, (s.positions, unique_positions)
    ratio = t_pyais / t_ours
    print(f"{label}: {n_lines:,} lines")
    print(f"  bare pyais   {n_lines / t_pyais:>10,.0f} lines/s  ({n_pyais:,} messages decoded)")
    print(
        f"  ingest       {n_lines / t_ours:>10,.0f} lines/s  ({s.messages:,} messages, "
        f"{s.positions:,} positions, {s.duplicates:,} duplicates, "
        f"{s.rejected_lines:,} lines rejected)"
    )
    print(f"  ratio        {ratio:>10.2f}  (target >= 0.8)")
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "generated.nmea"
        feed = generate(args.lines)
        generated.write_text("\n".join(feed.lines) + "\n")
        amsa_lines = gzip.open(ROOT / "tests/data/amsa/ais.txt.gz", "rb").read().splitlines(True)
        amsa = Path(tmp) / "amsa.nmea"
        with open(amsa, "wb") as f:
            for i in range(args.lines):
                f.write(amsa_lines[i % len(amsa_lines)])
        ratios = [
            run("generated mixed feed", generated, args.repeat, feed.unique_positions),
            run("AMSA corpus, repeated", amsa, args.repeat),
        ]
    print(f"worst ratio {min(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
