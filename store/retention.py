"""mda's own retention job, for databases without TimescaleDB's retention policies, and the
sources it keeps whatever their age.

On TimescaleDB (any licence) old chunks are dropped whole with ``drop_chunks``; on plain
PostgreSQL old rows are deleted. With the ``timescale`` licence a policy does this already
and the job has nothing to do, unless a source is kept: then the policy (which cannot
spare anything) is removed and the job does the work.

A **hold** (``retention_holds``) keeps a source's positions and raw sentences whatever
their age: an archive replayed on purpose (``mda ingest --keep``, ``keep = true`` in a
``[[sources]]`` table). Records are matched by their ``source``: the feed's name, or
``name/station``. A chunk holding kept rows is not dropped; the others' rows in it are
deleted once, when it leaves the window. ``preview`` says what the next run removes, for
``mda db status``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from .migrate import Capabilities

__all__ = ["apply_retention", "hold_source", "holds", "release_source", "preview"]

TABLES = {"positions": "time", "raw_chunks": "time_end"}  # a raw chunk goes with its last row
_HELD = "(source = ANY(%(held)s) OR split_part(source, '/', 1) = ANY(%(held)s))"
_BATCH_ID_DAYS = 7  # ids of committed write batches are kept this long (store/writer.py)
_ATTEMPT_DAYS = 30  # login attempts are kept this long (the rate limits look back minutes)


def hold_source(conn: psycopg.Connection, source: str, reason: str, by: str = "cli") -> None:
    """Keep ``source``'s data (and its stations') from the retention job."""
    conn.execute(
        "INSERT INTO retention_holds (source, reason, created_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (source) DO NOTHING",
        (source, reason, by),
    )
    _remove_policy(conn)
    conn.commit()


def _remove_policy(conn: psycopg.Connection) -> None:
    """TimescaleDB's retention policy (``timescale`` licence) drops whole chunks on its own
    schedule and cannot spare a kept source: once a source is kept it goes, and mda's own
    job (``apply_retention``) does the work. ``upgrade`` adds none while a hold exists."""
    if not conn.execute(
        "SELECT to_regclass('timescaledb_information.jobs') IS NOT NULL"
    ).fetchone()[0]:
        return
    policy = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_retention' AND hypertable_name = 'positions')"
    ).fetchone()[0]
    if policy:
        conn.execute("SELECT remove_retention_policy('positions', if_exists => TRUE)")


def release_source(conn: psycopg.Connection, source: str) -> bool:
    """Let the retention job remove ``source``'s old data again; False when it was not kept."""
    n = conn.execute("DELETE FROM retention_holds WHERE source = %s", (source,)).rowcount
    conn.commit()
    return n > 0


def holds(conn: psycopg.Connection) -> list[tuple[str, str | None, datetime]]:
    """(source, reason, since) of every kept source."""
    if not _has_holds_table(conn):
        return []
    return conn.execute(
        "SELECT source, reason, created_at FROM retention_holds ORDER BY source"
    ).fetchall()


def _has_holds_table(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('retention_holds') IS NOT NULL").fetchone()[0]


def _days(table: str, retention_days: int, raw_retention_days: int) -> int:
    return retention_days if table == "positions" else raw_retention_days


def apply_retention(
    conn: psycopg.Connection, caps: Capabilities, *, retention_days: int, raw_retention_days: int
) -> dict[str, int]:
    """Remove data older than the settings allow, except kept sources'; returns what was
    removed per table (chunks and rows on TimescaleDB, rows on plain PostgreSQL)."""
    held = [h[0] for h in holds(conn)]
    removed: dict[str, int] = {}
    for table, column in TABLES.items():
        keep = _days(table, retention_days, raw_retention_days)
        if keep <= 0:
            continue
        if caps.policies and table == "positions":
            if not held:
                continue  # TimescaleDB's own policy does it
            # The policy would drop kept rows with their chunks: this job does it instead.
            conn.execute("SELECT remove_retention_policy('positions', if_exists => TRUE)")
        cutoff = datetime.now(UTC) - timedelta(days=keep)
        if table in caps.hypertables:
            n = _drop_chunks(conn, table, column, cutoff, held)
        else:
            n = conn.execute(
                f"DELETE FROM {table} WHERE {column} < %(cutoff)s"
                + (f" AND NOT {_HELD}" if held else ""),
                {"cutoff": cutoff, "held": held},
            ).rowcount
        conn.commit()
        removed[table] = n
    _housekeeping(conn)
    return removed


def _chunks(conn: psycopg.Connection, table: str, cutoff: datetime) -> list[tuple]:
    """(schema, name, range_start, range_end) of the chunks wholly older than ``cutoff``."""
    return conn.execute(
        "SELECT chunk_schema, chunk_name, range_start, range_end "
        "FROM timescaledb_information.chunks WHERE hypertable_name = %s "
        "AND hypertable_schema = current_schema() AND range_end <= %s ORDER BY range_start",
        (table, cutoff),
    ).fetchall()


def _drop_chunks(
    conn: psycopg.Connection, table: str, column: str, cutoff: datetime, held: list[str]
) -> int:
    """Chunks older than ``cutoff`` dropped whole (one per chunk counted); with kept
    sources, a chunk holding any of their rows stays and loses the other rows instead
    (counted as rows)."""
    if not held:
        return len(
            conn.execute(
                "SELECT drop_chunks(%s::regclass, older_than => %s)", (table, cutoff)
            ).fetchall()
        )  # one row per dropped chunk
    removed = 0
    for schema, name, start, end in _chunks(conn, table, cutoff):
        chunk = f'"{schema}"."{name}"'
        kept = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {chunk} WHERE {_HELD})", {"held": held})
        if not kept.fetchone()[0]:
            conn.execute(
                "SELECT drop_chunks(%s::regclass, older_than => %s, newer_than => %s)",
                (table, end, start),
            )
            removed += 1
        elif end > cutoff - timedelta(days=2):
            # Leaving the window now (or lately): the others' rows go, once.
            removed += conn.execute(
                f"DELETE FROM {chunk} WHERE NOT {_HELD}", {"held": held}
            ).rowcount
    return removed


def _housekeeping(conn: psycopg.Connection) -> None:
    """What only needs keeping a while: ids of committed write batches, login attempts."""
    for table, column, days in (
        ("write_batches", "stored_at", _BATCH_ID_DAYS),
        ("login_attempts", "time", _ATTEMPT_DAYS),
    ):
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]:
            conn.execute(
                f"DELETE FROM {table} WHERE {column} < now() - make_interval(days => %s)",
                (days,),
            )
    conn.commit()


def preview(
    conn: psycopg.Connection, caps: Capabilities, *, retention_days: int, raw_retention_days: int
) -> list[str]:
    """What the next run of the retention job removes, and what it keeps, in words."""
    held = [h[0] for h in holds(conn)]
    lines = []
    names = {"positions": "positions", "raw_chunks": "raw sentence chunks"}
    for table, column in TABLES.items():
        keep = _days(table, retention_days, raw_retention_days)
        setting = "retention_days" if table == "positions" else "raw_retention_days"
        if keep <= 0:
            lines.append(f"retention: {names[table]} are kept for ever ({setting} = 0)")
            continue
        cutoff = datetime.now(UTC) - timedelta(days=keep)
        params = {"cutoff": cutoff, "held": held}
        going = conn.execute(
            f"SELECT count(*), min({column}) FROM {table} WHERE {column} < %(cutoff)s"
            + (f" AND NOT {_HELD}" if held else ""),
            params,
        ).fetchone()
        when = cutoff.strftime("%Y-%m-%d %H:%MZ")
        by = (
            "TimescaleDB's retention policy"
            if caps.policies and table == "positions" and not held
            else "the next run of mda's retention job (hourly while mda serve runs)"
        )
        if going[0]:
            lines.append(
                f"retention: {going[0]:,} {names[table]} older than {keep} days (before "
                f"{when}, the oldest from {going[1].strftime('%Y-%m-%d')}) go at {by}"
            )
        else:
            lines.append(
                f"retention: nothing to remove yet ({names[table]} older than {keep} days, "
                f"before {when}, go at {by})"
            )
        if held:
            kept = conn.execute(
                f"SELECT count(*) FROM {table} WHERE {column} < %(cutoff)s AND {_HELD}", params
            ).fetchone()[0]
            if kept:
                lines.append(f"retention: {kept:,} older {names[table]} of kept sources stay")
    for source, reason, since in holds(conn):
        lines.append(
            f"retention: kept whatever its age: source {source!r} (since "
            f"{since.astimezone(UTC).strftime('%Y-%m-%d')}; {reason or 'no reason given'})"
        )
    return lines
