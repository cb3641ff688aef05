"""The harness itself: the fixtures give real, isolated services, and CI never skips."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiomqtt
import psycopg
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- MQTT


async def test_broker_passes_a_message(mqtt_broker, mqtt_topic):
    assert mqtt_broker.url == f"mqtt://127.0.0.1:{mqtt_broker.port}"
    assert mqtt_broker.port != 1883, "must not use the machine's own broker"
    topic = f"{mqtt_topic}/ping"
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as client:
        await client.subscribe(f"{mqtt_topic}/#", qos=1)
        await client.publish(topic, b"hello", qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.topic.matches(topic)
                assert message.payload == b"hello"
                break


def test_topics_are_unique_and_literal(mqtt_topic):
    other = f"test/{os.urandom(16).hex()}"
    assert mqtt_topic.startswith("test/") and mqtt_topic != other
    assert not set("#+") & set(mqtt_topic)


# --------------------------------------------------------------------------- TimescaleDB


def test_server_offers_timescaledb(timescale_server):
    with psycopg.connect(timescale_server) as conn:
        (version,) = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        port = conn.info.port
    assert version is not None
    if not os.environ.get("MDA_TEST_DATABASE_URL"):
        assert port != 5432, "must not use the machine's own PostgreSQL"


def test_db_url_is_a_fresh_database_with_a_working_extension(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.info.dbname.startswith("mda_test_")
        (extensions,) = conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        assert extensions == 0, "the fixture must leave CREATE EXTENSION to the migrations"
        conn.execute("CREATE EXTENSION timescaledb")
        (license,) = conn.execute("SELECT current_setting('timescaledb.license')").fetchone()
        assert license in {"apache", "timescale"}
        conn.execute("CREATE TABLE t (time timestamptz NOT NULL, v int)")
        conn.execute("SELECT create_hypertable('t', by_range('time', INTERVAL '1 day'))")
        (is_hypertable,) = conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 't'"
        ).fetchone()
        assert is_hypertable == 1


_seen_databases: list[tuple[str, str]] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_database_dropped_afterwards(run, timescale_server, db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute("CREATE TABLE marker (run int)")  # fails if a database were reused
    with psycopg.connect(timescale_server, autocommit=True) as admin:
        for earlier, server in _seen_databases:
            assert earlier != name
            if server == timescale_server:
                (left,) = admin.execute(
                    "SELECT count(*) FROM pg_database WHERE datname = %s", (earlier,)
                ).fetchone()
                assert left == 0, f"{earlier} was not dropped"
    _seen_databases.append((name, timescale_server))


# --------------------------------------------------------------------------- embedded PostgreSQL


def test_embedded_server_is_plain_postgresql(embedded_pg, embedded_db_url, timescale_server):
    with psycopg.connect(embedded_db_url, autocommit=True) as conn:
        assert conn.info.dbname.startswith("mda_test_")
        (timescaledb,) = conn.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        assert timescaledb == 0
        (version,) = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert version >= 150000
        conn.execute("CREATE TABLE t (time timestamptz NOT NULL, v int)")
        conn.execute("INSERT INTO t VALUES (now(), 1)")
        embedded_socket = conn.info.host
    with psycopg.connect(timescale_server) as other:
        assert other.info.host != embedded_socket


# --------------------------------------------------------------------------- policy


def _run_pytest_with(
    env_overrides: dict[str, str], test_id: str, basetemp: Path
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "MDA_REQUIRE_SERVICES"}}
    env.update(env_overrides)
    return subprocess.run(  # its own --basetemp: leave the shared pytest temp root alone
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--basetemp={basetemp}",
            "-q",
            test_id,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "local"])
def test_missing_service_fails_in_ci_and_skips_elsewhere(ci, tmp_path):
    with socketless_port() as port:
        overrides = {"MDA_TEST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres"}
    if ci:
        overrides["CI"] = "true"
    result = _run_pytest_with(
        overrides, "tests/test_harness.py::test_server_offers_timescaledb", tmp_path / "inner"
    )
    out = result.stdout
    assert "TimescaleDB unavailable: cannot connect to MDA_TEST_DATABASE_URL" in out, out
    if ci:
        assert result.returncode == 1 and "1 error" in out, out
        assert "skipped" not in out
    else:
        assert result.returncode == 0 and "1 skipped" in out, out


def test_skip_probe():
    """Skips only when the policy test below asks it to; passes otherwise."""
    if os.environ.get("MDA_HARNESS_SKIP_PROBE") == "1":
        pytest.skip("probe asked to skip")


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "local"])
def test_skipped_integration_test_fails_in_ci(ci, tmp_path):
    overrides = {"MDA_HARNESS_SKIP_PROBE": "1"}
    if ci:
        overrides["MDA_REQUIRE_SERVICES"] = "1"
    result = _run_pytest_with(
        overrides, "tests/test_harness.py::test_skip_probe", tmp_path / "inner"
    )
    out = result.stdout
    if ci:
        assert result.returncode == 1 and "1 failed" in out, out
        assert "skipped under CI=true, which is a failure: probe asked to skip" in out, out
    else:
        assert result.returncode == 0 and "1 skipped" in out, out


class socketless_port:
    """A loopback port nothing listens on (bound, then released on exit)."""

    def __enter__(self) -> int:
        import socket

        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))
        return self._s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self._s.close()
