"""What the web tests share: settings, a migrated database, and ``Web``: the app running
its lifespan behind an in-process ASGI client, with helpers to make users, tokens, vessels
and alerts with the store's own writers.

Every test gets a fresh database (the ``db_url`` fixture), runs the migrations, seeds what
it needs, and talks to ``create_app`` through httpx's ASGI transport with the lifespan
running (pool open, hub task started). Test modules import the fixtures they use
(``migrated``, ``web``) from here.
"""

from __future__ import annotations

import re
import time

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager

from mda.analytics import Alert, AlertChange
from mda.ingest.records import PositionReport, VesselInfo
from mda.settings import load_settings
from mda.store import alerts as store_alerts
from mda.store.accounts import create_token, create_user
from mda.store.migrate import upgrade
from mda.store.writer import write_batch
from mda.web.app import create_app
from mda.web.live import LiveHub

__all__ = [
    "BASE",
    "NOW",
    "make_settings",
    "migrated",
    "Web",
    "web",
    "alert_change",
    "vessel",
    "seed_vessels",
    "set_database_time_zone",
]

BASE = "https://testserver"
NOW = time.time()


def make_settings(tmp_path, **env) -> object:
    environ = {
        "MDA_DATA_DIR": str(tmp_path / "data"),
        "MDA_SECRET_KEY": "test-secret-key-0123456789",
        "MDA_LOGIN_RATE_LIMIT": "3",
        "MDA_LOGIN_RATE_LIMIT_IP": "6",
    }
    environ.update({f"MDA_{k.upper()}": str(v) for k, v in env.items()})
    return load_settings(environ=environ)


@pytest.fixture
def migrated(db_url: str) -> str:
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    return db_url


class Web:
    """The app, an ASGI client, and helpers to make users, tokens and data."""

    def __init__(self, app, client: httpx.AsyncClient, db_url: str, hub: LiveHub, status: dict):
        self.app, self.client, self.db_url, self.hub, self.status = app, client, db_url, hub, status

    async def conn(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(self.db_url, autocommit=True)

    async def user(self, name: str, role: str, password: str = "correct horse") -> None:
        async with await self.conn() as c:
            await create_user(c, name, password, role)

    async def token(self, role: str, **kw) -> dict[str, str]:
        async with await self.conn() as c:
            tok = await create_token(c, kw.pop("owner", f"test-{role}"), role, **kw)
        return {"Authorization": f"Bearer {tok}"}

    async def login(
        self, name: str, password: str = "correct horse", client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        client = client or self.client
        page = await client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return await client.post(
            "/login", data={"username": name, "password": password, "csrf": csrf, "next": "/"}
        )

    async def link_login(
        self, token: str, client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        """The one-click link as a browser follows it: ``GET /?token=`` answers a form,
        whose script posts the token to ``/login/token``."""
        client = client or self.client
        page = await client.get(f"/?token={token}", headers={"accept": "text/html"})
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        sent = re.search(r'name="token" value="([^"]*)"', page.text).group(1)
        return await client.post("/login/token", data={"token": sent, "csrf": csrf})

    async def csrf(self, client: httpx.AsyncClient | None = None) -> str:
        r = await (client or self.client).get("/api/me")
        assert r.status_code == 200, r.text
        return r.json()["csrf_token"]

    async def sql(self, query: str, params=()) -> list[tuple]:
        async with await self.conn() as c:
            cur = await c.execute(query, params)
            return await cur.fetchall() if cur.description else []

    async def write(self, positions=(), statics=()) -> None:
        async with await self.conn() as c:
            await write_batch(c, list(positions), list(statics), [])

    async def alerts(self, *changes) -> list[dict]:
        async with await self.conn() as c:
            return await store_alerts.save_changes(c, changes)


def alert_change(
    key: str,
    kind: str = "loitering",
    severity: str = "medium",
    mmsi: int = 419000001,
    start: float = NOW - 3600,
    end: float | None = None,
    lat: float = 12.0,
    lon: float = 70.0,
    change: str = "opened",
    details: dict | None = None,
) -> AlertChange:
    """The analytics' own change record, as the service stores it."""
    a = Alert(
        key=key,
        kind=kind,
        severity=severity,
        mmsi=mmsi,
        other_mmsi=None,
        start=start,
        end=end,
        lat=lat,
        lon=lon,
        zone=None,
        details=details or {"rule": kind, "sog_max_kn": 1.2},
    )
    return AlertChange(change, a)


@pytest.fixture
async def web(migrated, tmp_path):
    # the shape mda.service.Service.status() gives: feeds, and flat pipeline counters
    status = {
        "uptime_s": 12.5,
        "feeds": [
            {
                "name": "tcp-mumbai",
                "uri": "tcp://10.0.0.1:5631",
                "lines": 1234,
                "state": "running",
                "last_message_age_s": 2.5,
                "last_event_ts": NOW,
                "error": None,
            },
            {
                "name": "file-replay",
                "uri": "file:x.nmea",
                "lines": 0,
                "state": "starting",
                "last_message_age_s": None,
                "last_event_ts": None,
                "error": None,
            },
        ],
        "lines": 1234,
        "positions_stored": 999,
        "mqtt_connected": True,
        "errors": {"bad_checksum": 3},
    }
    hub = LiveHub(interval=0.05, status_interval=0.1, auth_recheck_s=0.2)
    app = create_app(make_settings(tmp_path), migrated, hub=hub, status=lambda: status)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url=BASE
        ) as client:
            yield Web(app, client, migrated, hub, status)


def vessel(
    mmsi: int,
    lat: float,
    lon: float,
    ts: float = NOW,
    sog: float = 12.0,
    cog: float = 90.0,
    heading: int | None = 91,
    name: str | None = None,
    callsign: str | None = None,
    ship_type: int | None = 70,
):
    p = PositionReport(
        ts=ts,
        mmsi=mmsi,
        lat=lat,
        lon=lon,
        sog=sog,
        cog=cog,
        heading=heading,
        nav_status=0,
        msg_type=1,
        source="test",
    )
    s = VesselInfo(
        ts=ts,
        mmsi=mmsi,
        name=name,
        callsign=callsign,
        ship_type=ship_type,
        imo=None,
        to_bow=100,
        to_stern=50,
        to_port=10,
        to_starboard=12,
        draught=8.5,
        destination="COLOMBO",
    )
    return p, s


async def seed_vessels(web: Web) -> None:
    rows = [
        vessel(419000001, 18.9, 72.8, name="MUMBAI STAR", callsign="AVXY1"),
        vessel(
            419000002,
            6.9,
            79.8,
            ts=NOW - 7200,
            name="COLOMBO TRADER",
            callsign="4RAB",
            ship_type=80,
        ),
        vessel(
            538000003,
            -20.1,
            57.5,
            ts=NOW - 86400 * 3,
            name="PORT LOUIS",
            callsign="V7AB3",
            ship_type=60,
        ),
    ]
    await web.write([p for p, _ in rows], [s for _, s in rows])


def set_database_time_zone(url: str, tz: str) -> None:
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET timezone = {}").format(
                sql.Identifier(name), sql.Literal(tz)
            )
        )
    with psycopg.connect(url) as conn:  # new connections now default to it
        assert conn.execute("SHOW timezone").fetchone()[0] == tz
