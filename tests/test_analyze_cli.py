"""`mda analyze` as an analyst uses it: JSON lines with the documented fields, the same
output for the same input, and bad input named with its problem."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime

import pytest

from mda.simulator import output_paths, simulate

FIELDS = {"kind", "mmsi", "other_mmsi", "start", "end", "lat", "lon", "severity", "details"}


def _analyze(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    return subprocess.run(
        [sys.executable, "-m", "mda", "analyze", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze") / "traffic.nmea"
    simulate(out, hours=2.5, vessels=20, seed=5)
    nmea, truth, zones = output_paths(out)
    gz = nmea.with_suffix(".nmea.gz")
    with nmea.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return gz, zones, [json.loads(x) for x in truth.read_text().splitlines()]


def test_jsonl_has_the_documented_fields_and_is_deterministic(log):
    gz, zones, truth = log
    first = _analyze(str(gz), "--zones", str(zones))
    assert first.returncode == 0, first.stderr
    alerts = [json.loads(line) for line in first.stdout.splitlines()]
    assert alerts, first.stderr
    for a in alerts:
        assert FIELDS <= a.keys()
        assert a["start"].endswith("Z") and datetime.fromisoformat(
            a["start"].replace("Z", "+00:00")
        )
        assert a["end"] is None or a["end"] >= a["start"]
        assert a["details"]["text"]
    kinds = {a["kind"] for a in alerts}
    assert {r["kind"] for r in truth if r["kind"] != "ais_gap"} <= kinds
    # Alerts still open at the end of the input are printed with end null.
    assert any(a["end"] is None for a in alerts)
    assert "alerts" in first.stderr and "lines" in first.stderr
    again = _analyze(str(gz), "--zones", str(zones))
    assert again.stdout == first.stdout


def test_table_format_lists_the_same_alerts(log):
    gz, zones, _ = log
    jsonl = _analyze(str(gz), "--zones", str(zones))
    table = _analyze(str(gz), "--zones", str(zones), "--format", "table")
    assert table.returncode == 0
    rows = table.stdout.splitlines()
    assert rows[0].split()[:3] == ["start", "end", "kind"]
    assert len(rows) - 1 == len(jsonl.stdout.splitlines())


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "JSON"),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"kind": "restricted"}, '
            '"geometry": {"type": "Polygon", "coordinates": [[[60, 10], [61, 10], [61, 11], [60, 11], [60, 10]]]}}]}',
            "name",
        ),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "bowtie", '
            '"kind": "restricted"}, "geometry": {"type": "Polygon", "coordinates": '
            "[[[60, 10], [61, 11], [61, 10], [60, 11], [60, 10]]]}}]}",
            "invalid",
        ),
    ],
)
def test_bad_zones_file_is_named_with_its_problem(log, tmp_path, content, problem):
    gz, _, _ = log
    bad = tmp_path / "zones.geojson"
    bad.write_text(content)
    r = _analyze(str(gz), "--zones", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert str(bad) in r.stderr and problem.lower() in r.stderr.lower(), r.stderr


@pytest.mark.parametrize("make", ["missing", "directory", "unreadable"])
def test_unreadable_log_is_named(tmp_path, make):
    path = tmp_path / "log.nmea"
    if make == "directory":
        path.mkdir()
    elif make == "unreadable":
        path.write_text("!AIVDM,1,1,,A,13u?etPv2;0n:dDPwUM1U1Cb069D,0*24\n")
        path.chmod(0)
        if os.access(path, os.R_OK):  # root reads anything: make it unreadable another way
            path.chmod(0o644)
            path.unlink()
            path.symlink_to(tmp_path / "dangling")
    r = _analyze(str(path))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert str(path) in r.stderr


def test_untimed_lines_are_warned_about(log, tmp_path):
    """A log whose lines carry no time of their own (no tag block c:, no $PGHP) takes the
    file's modification time: said on standard error, and only then."""
    gz, _, _ = log
    with gzip.open(gz, "rt") as src:
        lines = [next(src) for _ in range(3000)]
    bare = tmp_path / "bare.nmea"
    bare.write_text(
        "".join(line.split("\\", 2)[-1] if line.startswith("\\") else line for line in lines)
    )
    assert not bare.read_text().startswith("\\")
    r = _analyze(str(bare))
    assert r.returncode == 0, r.stderr
    warning = [x for x in r.stderr.splitlines() if "carried no timestamp" in x]
    assert len(warning) == 1, r.stderr
    assert "modification time" in warning[0] and "cannot be trusted" in warning[0]
    assert int(warning[0].split(":")[2].split()[0].replace(",", "")) > 0
    timed = _analyze(str(gz))
    assert "carried no timestamp" not in timed.stderr


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_map_that_cannot_be_written_is_named_before_the_work(log, tmp_path, where):
    gz, _, _ = log
    target = tmp_path / "nowhere" / "map.html" if where == "missing folder" else tmp_path
    r = _analyze(str(gz), "--map", str(target))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert str(target) in r.stderr
    assert r.stdout == ""  # refused before any alert was printed


def test_a_missing_file_among_several_is_named(log, tmp_path):
    gz, _, _ = log
    missing = tmp_path / "rx2.nmea"
    r = _analyze(str(gz), str(missing))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [f"mda: error: {missing}: cannot read the file (no such file)"]
    assert r.stdout == ""
