"""mda's own retention job, for databases without TimescaleDB's retention policies.

On TimescaleDB (any licence) old chunks are dropped whole with ``drop_chunks``; on plain
PostgreSQL old rows are deleted. With the ``timescale`` licence a policy does this already
and the job has nothing to do.
"""

from __future__ import annotations

import psycopg

from .migrate import Capabilities

__all__ = ["apply_retention"]


def apply_retention(
    conn: psycopg.Connection, caps: Capabilities, *, retention_days: int, raw_retention_days: int
) -> dict[str, int]:
    """Remove data older than the settings allow; returns what was removed per table
    (chunks on TimescaleDB, rows on plain PostgreSQL)."""
    days = {"positions": retention_days, "raw_chunks": raw_retention_days}
    removed: dict[str, int] = {}
    for table, keep in days.items():
        if keep <= 0 or (caps.policies and table == "positions"):
            continue
        if table in caps.hypertables:
            removed[table] = len(
                conn.execute(
                    "SELECT drop_chunks(%s::regclass, older_than => now() - make_interval(days => %s))",
                    (table, keep),
                ).fetchall()
            )  # one row per dropped chunk
        else:
            # A raw chunk goes when its last sentence is too old.
            column = "time_end" if table == "raw_chunks" else "time"
            removed[table] = conn.execute(
                f"DELETE FROM {table} WHERE {column} < now() - make_interval(days => %s)", (keep,)
            ).rowcount
        conn.commit()
    return removed
