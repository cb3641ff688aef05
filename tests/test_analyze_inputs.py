"""`mda analyze` reads what it is given: several files are one feed merged by event time.

The same simulated traffic given as one file, as each receiver's own log, as two logs each
holding every message under another station, split message by message, or the files in
any order, gives the same alerts; a small file out of time order is sorted in memory, a large
one is refused with one line naming
it; small disorder is put right; each file's decoder is flushed at its end; the summary
accounts for every line. The logs are made by the simulator (two receivers, tag blocks)
and cut up here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from functools import reduce
from operator import xor
from types import SimpleNamespace

import pytest

from mda.analytics import Analyzer
from mda.commands import analyze as analyze_cmd
from mda.ingest import Decoder
from mda.simulator import output_paths, simulate


def _analyze(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    return subprocess.run(
        [sys.executable, "-m", "mda", "analyze", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _alerts(r: subprocess.CompletedProcess) -> list[tuple]:
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return sorted((a["kind"], a["mmsi"], a["other_mmsi"], a["start"], a["end"]) for a in rows)


def _num(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    assert m, (pattern, text)
    return int(m.group(1).replace(",", ""))


def _counts(r: subprocess.CompletedProcess) -> dict:
    """The figures of the summary line on standard error."""
    (line,) = [
        x for x in r.stderr.splitlines() if x.startswith("mda analyze: ") and " lines in " in x
    ]
    reasons = re.search(r" rejected lines \(([^)]*)\)", line)
    return {
        "lines": _num(r"([\d,]+) lines in", line),
        "message_lines": _num(r"= ([\d,]+) lines of [\d,]+ messages", line),
        "positions": _num(r"\(([\d,]+) positions", line),
        "statics": _num(r"([\d,]+) statics", line),
        "duplicate_lines": _num(r"\+ ([\d,]+) lines of [\d,]+ duplicates", line),
        "duplicates": _num(r"([\d,]+) duplicates", line),
        "rejected": _num(r"\+ ([\d,]+) rejected lines", line),
        "reasons": {
            k: int(v.replace(",", ""))
            for k, v in (p.rsplit(" ", 1) for p in reasons.group(1).split(", "))
        }
        if reasons
        else {},
        "out_of_order": _num(r"([\d,]+) positions out of order", line),
        "repeated": _num(r"([\d,]+) repeated", line),
        "late": _num(r"([\d,]+) messages came more than \d+ s late", line)
        if " late " in line
        else 0,
    }


def _accounted(c: dict) -> None:
    assert c["lines"] == c["message_lines"] + c["duplicate_lines"] + c["rejected"], c
    assert c["rejected"] == sum(c["reasons"].values()), c


# ------------------------------------------------------------------ cutting logs up


def _tag_fields(line: str) -> dict[str, str]:
    if not line.startswith("\\"):
        return {}
    body = line[1 : line.index("\\", 1)].split("*")[0]
    return dict(f.split(":", 1) for f in body.split(",") if ":" in f)


def _units(lines: list[str]) -> list[list[str]]:
    """The log as messages in reading order: the parts of a multi-sentence message (a
    tag-block group) together, a line without a time after the message before it."""
    units: list[list[str]] = []
    groups: dict[tuple, list[str]] = {}
    for line in lines:
        f = _tag_fields(line)
        g = f.get("g", "").split("-")
        if len(g) == 3 and g[0] != "1":
            groups[(f.get("s"), g[2])].append(line)
            continue
        unit = [line]
        if len(g) == 3:
            groups[(f.get("s"), g[2])] = unit
        if "c" not in f and units:
            units[-1].append(line)
        else:
            units.append(unit)
    return units


def _time(unit: list[str]) -> int:
    return int(_tag_fields(unit[0])["c"])


def _retag(line: str, station: str) -> str:
    """The line as heard by another station: its tag block's s: replaced, checksum anew."""
    f = _tag_fields(line)
    if not f:
        return line
    rest = line[line.index("\\", 1) + 1 :]
    body = ",".join(f"{k}:{station if k == 's' else v}" for k, v in f.items())
    return f"\\{body}*{reduce(xor, body.encode(), 0):02X}\\{rest}"


def _write(path, lines) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    nmea, _, zones = output_paths(root / "traffic.nmea")
    simulate(nmea, hours=3, vessels=30, seed=5)
    lines = nmea.read_text().splitlines()
    one = _analyze(nmea, "--zones", zones)
    return SimpleNamespace(
        root=root,
        nmea=str(nmea),
        zones=str(zones),
        lines=lines,
        one=one,
        alerts=_alerts(one),
        counts=_counts(one),
    )


def _split(log, how: str) -> list[str]:
    root, lines = log.root, log.lines
    if how == "the same file twice":
        return [log.nmea, log.nmea]
    if how.startswith("by receiver"):
        # Each receiver's own log; the lines naming no receiver go with the first.
        a = [x for x in lines if _tag_fields(x).get("s") != "rcvB"]
        b = [x for x in lines if _tag_fields(x).get("s") == "rcvB"]
        files = [_write(root / "rcvA.nmea", a), _write(root / "rcvB.nmea", b)]
    elif how.startswith("every other message"):
        units = _units(lines)
        files = [
            _write(root / f"half{i}.nmea", [x for u in units[i::2] for x in u]) for i in (0, 1)
        ]
    elif how.startswith("all lines, each file another station"):
        files = [
            _write(root / f"{s}.nmea", [_retag(x, s) for x in lines]) for s in ("east", "west")
        ]
    else:
        raise AssertionError(how)
    return files[::-1] if how.endswith("reversed") else files


@pytest.mark.parametrize(
    "how",
    [
        "by receiver",
        "by receiver, reversed",
        "every other message",
        "every other message, reversed",
        "all lines, each file another station",
        "all lines, each file another station, reversed",
        "the same file twice",
    ],
)
def test_the_same_traffic_split_into_files_gives_the_same_alerts(log, how):
    files = _split(log, how)
    r = _analyze(*files, "--zones", log.zones)
    assert _alerts(r) == log.alerts, r.stderr
    c = _counts(r)
    _accounted(c)
    # Every message is analysed once: a copy in another file is a duplicate.
    for key in ("positions", "statics", "out_of_order", "repeated", "late"):
        assert c[key] == log.counts[key], (key, c, log.counts)
    assert c["out_of_order"] == 0 and c["repeated"] == 0
    if how.startswith(("by receiver", "every other message")):
        assert c == log.counts  # the same lines, the same messages, the same copies
    else:  # every message twice
        assert c["lines"] == 2 * log.counts["lines"]
        assert c["message_lines"] == log.counts["message_lines"]


def test_the_summary_accounts_for_every_line(log):
    c = log.counts
    _accounted(c)
    assert c["lines"] == len(log.lines)
    assert c["duplicates"] > 0 and c["reasons"]  # the simulator's copies and junk
    assert log.one.stderr.count("\n") == 1  # one summary line, nothing else (timed log)


def _shuffled(units: list[list[str]], window: int) -> list[str]:
    """The messages in reverse order within each ``window`` seconds of event time."""
    buckets: dict[int, list[list[str]]] = {}
    for u in units:
        buckets.setdefault(_time(u) // window, []).append(u)
    return [x for k in sorted(buckets) for u in reversed(buckets[k]) for x in u]


def test_disorder_of_some_seconds_is_put_right(log):
    """One receiver's log whose messages come up to 30 s out of order: as if sorted."""
    a = [x for x in log.lines if _tag_fields(x).get("s") == "rcvA"]
    b = [x for x in log.lines if _tag_fields(x).get("s") != "rcvA"]
    shuffled = _shuffled(_units(a), 30)
    assert shuffled != a and sorted(shuffled) == sorted(a)
    files = [_write(log.root / "rcvA-shuffled.nmea", shuffled), _write(log.root / "others.nmea", b)]
    r = _analyze(*files, "--zones", log.zones)
    assert _alerts(r) == log.alerts
    c = _counts(r)
    assert (c["out_of_order"], c["late"]) == (0, 0)
    assert c["positions"] == log.counts["positions"]


def _out_of_order(log, how):
    lines = log.lines
    if how == "halves swapped":
        return lines[len(lines) // 2 :] + lines[: len(lines) // 2]
    return lines[::-1]


@pytest.mark.parametrize("how", ["halves swapped", "reversed"])
def test_a_large_file_out_of_time_order_is_refused_with_one_line(log, how):
    path = _write(log.root / "bad.nmea", _out_of_order(log, how))
    good = _write(log.root / "good.nmea", log.lines[:5000])
    r = _analyze(good, path, "--zones", log.zones, "--sort-limit", "0.1")  # "large": > 100 kB
    assert r.returncode == 2
    assert r.stdout == ""  # no alert printed from a wrong order
    assert "Traceback" not in r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"mda: error: {path}: not in time order: times go back by up to ")
    assert line.endswith("sort it by time first")
    assert re.search(r"up to \d h( \d+ min)? in [\d,]+ places", line), line


def test_a_small_file_out_of_time_order_is_sorted_in_memory(log):
    """Under --sort-limit a file out of order (a sample cut from a feed, a test log) is read
    whole and sorted: the same alerts as the ordered file, and the summary says so."""
    path = _write(log.root / "reversed-small.nmea", _out_of_order(log, "reversed"))
    r = _analyze(path, "--zones", log.zones)
    assert r.returncode == 0, r.stderr
    assert _alerts(r) == log.alerts
    assert f"{path} was not in time order: read whole and sorted in memory" in r.stderr


def test_a_few_late_messages_are_counted_not_refused(log, tmp_path):
    """Five position reports of the first minutes moved to the end of a receiver's log:
    analysed, said to be late, and skipped as out of order (their vessels are ahead)."""
    a = [x for x in log.lines if _tag_fields(x).get("s") == "rcvA"]
    decoder = Decoder()
    movable = [
        i
        for i, x in enumerate(a[:2000])
        if "!AIVDM,1,1," in x
        and any(201_000_000 <= p.mmsi <= 775_999_999 for p in decoder.feed([x], 2e9, "t").positions)
    ]
    moved = set(movable[100:105])
    late = [x for i, x in enumerate(a) if i not in moved] + [a[i] for i in sorted(moved)]
    r = _analyze(_write(tmp_path / "late.nmea", late))
    assert r.returncode == 0, r.stderr
    c = _counts(r)
    _accounted(c)
    assert c["late"] == 5
    assert c["out_of_order"] == 5


def test_untimed_lines_keep_the_modification_time_and_are_not_disorder(log, tmp_path):
    """Lines without a tag block in a timed log are not taken for lines out of order, and
    an untimed log merges with a timed one."""

    def bare(line: str) -> str:
        return line[line.index("\\", 1) + 1 :] if line.startswith("\\") else line

    mixed = [bare(x) if i % 50 == 0 and "!AIVDM,1,1," in x else x for i, x in enumerate(log.lines)]
    r = _analyze(_write(tmp_path / "mixed.nmea", mixed), "--zones", log.zones)
    assert r.returncode == 0, r.stderr
    assert _counts(r)["late"] == 0
    assert "carried no timestamp" in r.stderr
    untimed = _write(tmp_path / "untimed.nmea", [bare(x) for x in log.lines[:3000]])
    r = _analyze(untimed, log.nmea, "--zones", log.zones)
    assert r.returncode == 0, r.stderr
    c = _counts(r)
    _accounted(c)
    assert c["late"] == 0
    assert "carried no timestamp" in r.stderr


def _settings():
    return SimpleNamespace(dedupe_window_s=10.0, multipart_timeout_s=10.0, decode_process=True)


def test_each_file_is_flushed_and_its_last_messages_analysed(log, tmp_path):
    """What a file leaves in flight at its end (a first part without its second, a $PGHP
    line without its sentence) is counted as rejected; every decoded position, the last
    ones included, reaches the detectors."""
    a = [x for x in log.lines[:4000] if _tag_fields(x).get("s") == "rcvA"]
    b = log.lines[4000:6000]
    before = _counts(_analyze(_write(tmp_path / "a.nmea", a), _write(tmp_path / "b.nmea", b)))
    first_part = next(x for x in log.lines if "!AIVDM,2,1," in x)
    pghp = "$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B"  # Gatehouse, real
    files = [_write(tmp_path / "a.nmea", a + [first_part]), _write(tmp_path / "b.nmea", b + [pghp])]
    r = _analyze(*files, "--zones", log.zones)
    c = _counts(r)
    _accounted(c)
    assert c["lines"] == before["lines"] + 2
    grown = {k: n - before["reasons"].get(k, 0) for k, n in c["reasons"].items()}
    assert {k: n for k, n in grown.items() if n} == {"expired_fragment": 1, "orphan_timestamp": 1}
    run = asyncio.run(analyze_cmd._analyze(files, Analyzer, _settings()))
    totals = analyze_cmd._totals(run)
    assert totals.lines == totals.accounted == c["lines"]
    assert run.analyzer.stats["positions"] == totals.positions == c["positions"]
    assert run.analyzer.stats["statics"] == totals.statics


def test_merge_memory_is_a_small_buffer_per_file(log):
    """The merge holds about REORDER_S seconds of messages per file, never a file."""
    files = _split(log, "by receiver")
    most = [0]

    def sink(chunk):
        held = sum(len(inp.pending) for inp in inputs)
        most[0] = max(most[0], held)

    inputs: list = []
    real_input = analyze_cmd._Input

    class Watched(real_input):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            inputs.append(self)

    analyze_cmd._Input = Watched
    try:
        asyncio.run(analyze_cmd._merge(files, _settings(), sink))
    finally:
        analyze_cmd._Input = real_input
    # At most about two batches of 1,000 lines per file (3 h of this log is ~29,000 lines).
    assert 0 < most[0] <= 2 * 2 * 1000, most[0]
