"""Schema migrations and TimescaleDB features by capability.

PostgreSQL is the contract; TimescaleDB is a capability. The SQL files in ``migrations/``
create the same tables everywhere. Then, where the ``timescaledb`` extension can be
created, ``positions`` and ``raw_chunks`` become hypertables with 1-day chunks; where its
licence is ``timescale`` (not the ``apache`` build Debian ships), compression, retention and
continuous-aggregate policies are added. Everything is idempotent: running it again changes
nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources

import psycopg

from .errors import MigrationError

__all__ = ["Capabilities", "upgrade", "detect", "migration_files", "SCHEMA_VERSION"]

_LOCK_ID = 0x6D6461  # 'mda': one migrator at a time per database

HYPERTABLES = {"positions": "1 day", "raw_chunks": "1 day"}


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration shipped with the package, in order."""
    out = []
    for entry in resources.files("mda.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    return out


SCHEMA_VERSION = max(v for v, _, _ in migration_files())


@dataclass
class Capabilities:
    """What this database can do, and why, for ``mda db status`` and the retention job."""

    server_version: str = ""
    timescaledb: str | None = None  # installed extension version
    license: str | None = None  # 'apache' or 'timescale'
    hypertables: list[str] = field(default_factory=list)
    policies: bool = False
    reason: str = ""
    schema_version: int = 0

    def lines(self) -> list[str]:
        out = [
            f"server: PostgreSQL {self.server_version}",
            f"schema version: {self.schema_version} (package ships {SCHEMA_VERSION})",
        ]
        if self.timescaledb:
            out.append(f"timescaledb: {self.timescaledb} (license {self.license})")
            out.append("hypertables: " + (", ".join(self.hypertables) or "none"))
            if self.policies:
                out.append("compression, retention and continuous aggregate policies: enabled")
            else:
                out.append(
                    "compression and policies: off (they need the timescale license); "
                    "retention by mda's own job (drop_chunks)"
                )
        else:
            out.append(
                f"timescaledb: not used ({self.reason}); plain tables, "
                "retention by mda's own job (DELETE)"
            )
        return out


def _applied(conn: psycopg.Connection) -> dict[int, str]:
    conn.execute("""
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer PRIMARY KEY,
            name        text        NOT NULL,
            checksum    text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        )""")
    return {v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")}


def _enable_timescaledb(conn: psycopg.Connection) -> str:
    """Create the extension if this server has it; '' on success, else the reason it is off."""
    row = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions "
        "WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return "extension not installed on this server"
    if row[1] is not None:
        return ""
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]
    if "timescaledb" not in preload:
        return "extension present but not in shared_preload_libraries"
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as e:
        return f"CREATE EXTENSION failed: {e.diag.message_primary or e}"
    return ""


def _timescale_features(conn: psycopg.Connection, retention_days: int) -> None:
    for table, chunk in HYPERTABLES.items():
        conn.execute(
            f"SELECT create_hypertable('{table}', 'time', chunk_time_interval => INTERVAL '{chunk}', "
            "if_not_exists => TRUE, create_default_indexes => FALSE, migrate_data => TRUE)"
        )
    license = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0]
    if license != "timescale":
        return
    # Only the timescale-licensed build has these; the apache build raises on them.
    conn.execute(
        "ALTER TABLE positions SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'mmsi', timescaledb.compress_orderby = 'time DESC')"
    )
    conn.execute(
        "SELECT add_compression_policy('positions', INTERVAL '7 days', if_not_exists => TRUE)"
    )
    held = conn.execute("SELECT EXISTS (SELECT 1 FROM retention_holds)").fetchone()[0]
    if retention_days > 0 and not held:  # kept sources: mda's own job spares them
        conn.execute(
            f"SELECT add_retention_policy('positions', INTERVAL '{int(retention_days)} days', "
            "if_not_exists => TRUE)"
        )
    conn.execute("""
        CREATE MATERIALIZED VIEW IF NOT EXISTS positions_hourly
        WITH (timescaledb.continuous) AS
        SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, mmsi,
               count(*) AS fixes, avg(sog) AS avg_sog,
               last(lat, time) AS lat, last(lon, time) AS lon
        FROM positions GROUP BY bucket, mmsi WITH NO DATA""")
    conn.execute(
        "SELECT add_continuous_aggregate_policy('positions_hourly', "
        "start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', "
        "schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE)"
    )


def detect(conn: psycopg.Connection) -> Capabilities:
    caps = Capabilities()
    caps.server_version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    row = conn.execute(
        "SELECT installed_version FROM pg_extension e "
        "JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'timescaledb'"
    ).fetchone()
    if row:
        caps.timescaledb = row[0]
        caps.license = conn.execute(
            "SELECT current_setting('timescaledb.license', true)"
        ).fetchone()[0]
        caps.hypertables = [
            r[0]
            for r in conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = current_schema() ORDER BY 1"
            )
        ]
        caps.policies = caps.license == "timescale"
    else:
        avail = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        caps.reason = (
            "extension available but not created (run mda db upgrade)"
            if avail
            else "extension not installed on this server"
        )
    try:
        caps.schema_version = conn.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        ).fetchone()[0]
    except psycopg.errors.UndefinedTable:
        conn.rollback()
    return caps


def upgrade(
    conn: psycopg.Connection, *, retention_days: int = 90
) -> tuple[list[str], Capabilities]:
    """Apply what is missing; returns (names of migrations applied now, capabilities)."""
    applied_now: list[str] = []
    conn.autocommit = True
    reason = _enable_timescaledb(conn)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            done = _applied(conn)
            for version, name, sql in migration_files():
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if version in done:
                    if done[version] != checksum:
                        raise MigrationError(
                            f"migration {name} was changed after it was applied "
                            "(write a new migration instead)"
                        )
                    continue
                conn.execute(sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (version, name, checksum),
                )
                applied_now.append(name)
            if not reason:
                _timescale_features(conn, retention_days)
    except psycopg.Error as e:
        raise MigrationError(f"schema migration failed: {e.diag.message_primary or e}") from None
    caps = detect(conn)
    if reason:
        caps.reason = reason
    return applied_now, caps
