"""Retention and replayed archives on TimescaleDB, through the commands an operator runs:
``mda ingest --keep`` holds an archive that the retention job then spares, an old archive
without it is refused up front with a message saying what to do, and ``mda db status``
says what the retention job removes next (and then the job removes exactly that)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg
import pytest

from mda.ingest.nmea import checksum
from mda.store.migrate import detect
from mda.store.retention import apply_retention

pytestmark = pytest.mark.integration

SENTENCE = "!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C"  # MMSI 366053209
DAYS_AGO = 200  # the archive's age: beyond the default retention_days (90)
N = 20


def _archive(path, days_ago: float = DAYS_AGO) -> str:
    t0 = int(time.time() - days_ago * 86400)
    lines = []
    for i in range(N):
        tag = f"c:{t0 + 300 * i}"
        lines.append(f"\\{tag}*{checksum(tag.encode()):02X}\\{SENTENCE}")
    path.write_text("\n".join(lines) + "\n")
    return datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d")


def _mda(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    full.update({f"MDA_{k.upper()}": v for k, v in env.items()})
    return subprocess.run(
        [sys.executable, "-m", "mda", *args], capture_output=True, text=True, env=full, timeout=180
    )


def _count(url: str, source: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM positions WHERE source = %s", (source,)
        ).fetchone()[0]


def _retention_job(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return apply_retention(conn, detect(conn), retention_days=90, raw_retention_days=90)


def test_a_kept_archive_outlives_the_retention_job_and_status_says_so(db_url, tmp_path):
    old = tmp_path / "spring.nmea"
    day = _archive(old)
    r = _mda("ingest", str(old), "--keep", "--name", "spring", "--database", db_url)
    assert r.returncode == 0, r.stderr
    assert _count(db_url, "spring") == N

    status = _mda("db", "status", "--database", db_url)
    assert status.returncode == 0, status.stderr
    assert "kept whatever its age: source 'spring'" in status.stdout
    assert "mda ingest --keep" in status.stdout
    assert f"{N:,} older positions of kept sources stay" in status.stdout

    _retention_job(db_url)
    _retention_job(db_url)  # and again: nothing of it goes later either
    assert _count(db_url, "spring") == N, f"the kept archive from {day} was deleted"


def test_an_old_archive_without_keep_is_refused_up_front(db_url, tmp_path):
    old = tmp_path / "last-spring.nmea"
    day = _archive(old)
    r = _mda("ingest", str(old), "--name", "unkept", "--database", db_url)
    assert r.returncode != 0
    assert f"positions from {day} are older than the retention window" in r.stderr
    assert "retention_days = 90" in r.stderr and "--keep" in r.stderr
    assert "Traceback" not in r.stderr
    assert _count(db_url, "unkept") == 0  # nothing stored to be deleted silently later


def test_db_status_says_what_retention_removes_next_and_the_job_removes_that(db_url, tmp_path):
    old = tmp_path / "old.nmea"
    day = _archive(old)
    # Accepted under a longer window, then the window shrinks back to the default.
    r = _mda(
        "ingest", str(old), "--name", "lapsed", "--no-raw", "--database", db_url,
        retention_days="365",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    kept = tmp_path / "kept.nmea"
    _archive(kept, days_ago=DAYS_AGO + 1)
    assert (
        _mda("ingest", str(kept), "--keep", "--name", "held", "--database", db_url).returncode == 0
    )

    before = _mda("db", "status", "--database", db_url).stdout
    going = next(line for line in before.splitlines() if "positions older than 90 days" in line)
    assert f"{N:,} positions older than 90 days" in going and f"the oldest from {day}" in going
    assert "the next run of mda's retention job" in going

    removed = _retention_job(db_url)
    assert removed["positions"] > 0
    assert _count(db_url, "lapsed") == 0 and _count(db_url, "held") == N
    after = _mda("db", "status", "--database", db_url).stdout
    assert "retention: nothing to remove yet (positions older than 90 days" in after
