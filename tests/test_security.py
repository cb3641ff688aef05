"""Security findings of issue 13 that no other module tests, each as a user or attacker
would meet it: the embedded database's private socket and password (finding 5); the
client address behind no trusted proxy, credentials in ``mda config show``, an absurd
relative time, UDP kernel drops in the metrics (finding 7). The report's escaping and
content security policy (finding 6) are in ``test_report.py``."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import psycopg
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support import free_port
from web_support import make_settings

from mda.pipeline import FeedStatus, Pipeline
from mda.settings import SourceSpec
from mda.store.db import mask_credentials
from mda.store.embedded import MAX_SOCKET_PATH, SOCKET_NAME, embedded_database
from mda.web.metrics import render
from mda.web.server import server_config

# ------------------------------------------------------------- finding 5: embedded database


def _private_socket_dir(sock_dir: Path) -> os.stat_result:
    st = os.lstat(sock_dir)
    assert stat.S_ISDIR(st.st_mode), sock_dir
    assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    assert not os.path.samefile(sock_dir, tempfile.gettempdir())  # not the shared /tmp
    sock = os.lstat(sock_dir / SOCKET_NAME)
    assert stat.S_ISSOCK(sock.st_mode) and not stat.S_IMODE(sock.st_mode) & 0o077
    return st


@pytest.mark.integration
@pytest.mark.parametrize("long_path", [False, True], ids=["short-path", "long-path"])
def test_embedded_database_socket_is_private_and_needs_the_password(long_path):
    """Whatever the data directory's length (the wheel moved the socket of a long one to a
    world-writable directory with trust authentication), the socket is in a 0700 directory
    of its own and a connection without the password is refused."""
    # Outside pytest's temp root: as root the server runs as its own user (see conftest).
    base = Path(tempfile.mkdtemp(prefix="mda-sec-"))
    os.chmod(base, 0o755)
    data_dir = base / ("d" * 120 if long_path else "d")
    try:
        assert (len(os.fsencode(data_dir / "run" / SOCKET_NAME)) > MAX_SOCKET_PATH) == long_path
        with embedded_database(data_dir) as url:
            params = psycopg.conninfo.conninfo_to_dict(url)
            sock_dir = Path(params["host"])
            if long_path:
                assert not str(sock_dir).startswith(str(data_dir))
            else:
                assert sock_dir == data_dir / "run"
            st = _private_socket_dir(sock_dir)
            if os.geteuid() == 0:  # the server's own user owns it, no one else
                import pwd

                assert pwd.getpwuid(st.st_uid).pw_name == "embedded_postgres"
            with psycopg.connect(url, connect_timeout=10) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            no_password = f"postgresql://postgres@/postgres?host={sock_dir}"
            env_pass = os.environ.pop("PGPASSFILE", None)
            try:
                with pytest.raises(psycopg.OperationalError, match="password"):
                    psycopg.connect(no_password, connect_timeout=10, passfile="/dev/null")
            finally:
                if env_pass is not None:
                    os.environ["PGPASSFILE"] = env_pass
            hba = (data_dir / "postgres" / "pg_hba.conf").read_text()
            assert "trust" not in hba.split("\n", 3)[-1] and "scram-sha-256" in hba
            assert stat.S_IMODE(os.stat(data_dir / "postgres.pass").st_mode) == 0o600
        if long_path:
            assert not sock_dir.exists()  # the temporary socket directory went with it
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------- finding 7: forwarded addresses, secrets


async def _client_address(tmp_path, headers: dict, **settings_env) -> str:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"client": request.client.host if request.client else None})

    app = Starlette(routes=[Route("/", echo)])
    port = free_port()
    settings = make_settings(tmp_path, http_host="127.0.0.1", http_port=port, **settings_env)
    server = uvicorn.Server(server_config(app, settings))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{port}/", headers=headers)
        return r.json()["client"]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path):
    """A client on this machine cannot pick its address (and so dodge the per-address
    login limit or forge the audit log) by sending X-Forwarded-For."""
    forged = {"X-Forwarded-For": "203.0.113.9"}
    assert await _client_address(tmp_path, forged) == "127.0.0.1"
    # The same request through a proxy the operator named is believed.
    trusted = await _client_address(tmp_path, forged, trusted_proxies="127.0.0.1")
    assert trusted == "203.0.113.9"


@pytest.mark.parametrize(
    "uri, shown, secret",
    [
        ("https://APIKEY123@feeds.example/ais", "https://***@feeds.example/ais", "APIKEY123"),
        ("https://feeds.example/ais?api-key=K3Y&fmt=nmea", "api-key=***&fmt=nmea", "K3Y"),
        ("https://feeds.example/ais?apikey=K3Y", "apikey=***", "K3Y"),
        ("mqtt://user:hunter2@broker:1883/ais/#", "mqtt://user:***@broker:1883/ais/#", "hunter2"),
        ("tcp://u:pw9@10.0.0.1:10110", "tcp://u:***@10.0.0.1:10110", "pw9"),
    ],
)
def test_config_show_masks_credentials_in_source_uris(tmp_path, uri, shown, secret):
    cfg = tmp_path / "mda.toml"
    cfg.write_text(f'[[sources]]\nuri = "{uri}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    env["MDA_DATABASE_URL"] = "postgresql://mda@db/mda?sslpassword=S5L&sslmode=require"
    r = subprocess.run(
        [sys.executable, "-m", "mda", "--config", str(cfg), "config", "show"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert secret not in r.stdout and "S5L" not in r.stdout
    assert shown in r.stdout
    assert "sslpassword=***&sslmode=require" in r.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql:///mda",
        "postgresql://mda@db1:5432,db2:5433/mda?target_session_attrs=read-write",
        "postgresql://postgres@/mda?host=/var/lib/mda/run&passfile=/var/lib/mda/postgres.pass",
        "udp://:10110",
    ],
)
def test_masking_leaves_urls_without_secrets_as_written(url):
    assert mask_credentials(url) == url


def test_masking_keeps_every_host_of_a_multi_host_url():
    url = "postgresql://mda:pw@[::1]:5432,db2:5433/mda?password=x"
    assert mask_credentials(url) == "postgresql://mda:***@[::1]:5432,db2:5433/mda?password=***"


@pytest.mark.integration
async def test_an_absurd_relative_time_is_a_422_not_a_500(web):
    headers = await web.token("viewer")
    for since in ("-99999999999d", "-1e300h", "-99999999999999999999s"):
        r = await web.client.get("/api/vessels", params={"since": since}, headers=headers)
        assert r.status_code == 422, (since, r.text)
        assert r.json()["error"]["message"].startswith("since:")


def test_udp_kernel_drops_are_counted_and_in_the_metrics(tmp_path):
    """Datagrams the kernel dropped because the feed's receive buffer was full (which the
    feed itself never sees) are read per socket and reported as a metric."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(2000):  # nobody reads: the kernel drops most of them
            tx.sendto(b"!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C\n", ("127.0.0.1", port))

        class Source:  # what the pipeline asks an open UDP source
            def local_address(self):
                return rx.getsockname()

        writer = SimpleNamespace(stats=SimpleNamespace(as_dict=dict))  # nothing written
        pipeline = Pipeline(make_settings(tmp_path), writer, [SourceSpec(uri=f"udp://:{port}")])
        pipeline.feeds["udp"] = FeedStatus(name="udp", uri=f"udp://:{port}")
        pipeline.open_sources["udp"] = Source()
        pipeline.update_kernel_drops()
        drops = pipeline.feeds["udp"].kernel_drops
        assert drops is not None and drops > 100
        assert pipeline.stats()["udp_kernel_drops"] == drops
        text = render(
            status={"feeds": [pipeline.feeds["udp"].as_dict()]},
            alerts=[],
            http=None,
            live={},
            live_clients=0,
        )
        assert f'mda_feed_kernel_drops_total{{feed="udp"}} {float(drops)}' in text
    finally:
        rx.close()
        tx.close()
