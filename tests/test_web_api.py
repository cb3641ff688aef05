"""The web API through an in-process ASGI client, on a real TimescaleDB database.

Every test gets a fresh database (the ``db_url`` fixture), runs the migrations, seeds
what it needs with the store's own writers, and talks to ``create_app`` through
httpx's ASGI transport with the app's lifespan running (pool open, hub task started).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import stat
import time
from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from analytics import Alert, AlertChange
from ingest.records import PositionReport, VesselInfo
from mda.settings import load_settings
from store import alerts as store_alerts
from store.migrate import upgrade
from store.writer import write_batch
from web.app import create_app
from web.auth import create_token, create_user, load_secret_key
from web.live import LiveHub

pytestmark = pytest.mark.integration

BASE = "https://testserver"
NOW = time.time()


# --------------------------------------------------------------------------- fixtures


def make_settings(tmp_path, **env) -> object:
    environ = {"MDA_DATA_DIR": str(tmp_path / "data"), "MDA_SECRET_KEY": "test-secret-key-0123456789",
               "MDA_LOGIN_RATE_LIMIT": "3", "MDA_LOGIN_RATE_LIMIT_IP": "6"}
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

    async def login(self, name: str, password: str = "correct horse",
                    client: httpx.AsyncClient | None = None) -> httpx.Response:
        client = client or self.client
        page = await client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return await client.post("/login", data={"username": name, "password": password,
                                                 "csrf": csrf, "next": "/"})

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


def alert_change(key: str, kind: str = "loitering", severity: str = "medium", mmsi: int = 419000001,
                 start: float = NOW - 3600, end: float | None = None, lat: float = 12.0,
                 lon: float = 70.0, change: str = "opened", details: dict | None = None) -> AlertChange:
    """The analytics' own change record, as the service stores it."""
    a = Alert(key=key, kind=kind, severity=severity, mmsi=mmsi, other_mmsi=None, start=start,
              end=end, lat=lat, lon=lon, zone=None,
              details=details or {"rule": kind, "sog_max_kn": 1.2})
    return AlertChange(change, a)


@pytest.fixture
async def web(migrated, tmp_path):
    # the shape mda.service.Service.status() gives: feeds, and flat pipeline counters
    status = {"uptime_s": 12.5, "feeds": [{"name": "tcp-mumbai", "uri": "tcp://10.0.0.1:5631", "lines": 1234,
                         "state": "running", "last_message_age_s": 2.5, "last_event_ts": NOW,
                         "error": None},
                        {"name": "file-replay", "uri": "file:x.nmea", "lines": 0, "state": "starting",
                         "last_message_age_s": None, "last_event_ts": None, "error": None}],
              "lines": 1234, "positions_stored": 999, "mqtt_connected": True,
              "errors": {"bad_checksum": 3}}
    hub = LiveHub(interval=0.05, status_interval=0.1, auth_recheck_s=0.2)
    app = create_app(make_settings(tmp_path), migrated, hub=hub, status=lambda: status)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                     base_url=BASE) as client:
            yield Web(app, client, migrated, hub, status)


def vessel(mmsi: int, lat: float, lon: float, ts: float = NOW, sog: float = 12.0, cog: float = 90.0,
           heading: int | None = 91, name: str | None = None, callsign: str | None = None,
           ship_type: int | None = 70):
    p = PositionReport(ts=ts, mmsi=mmsi, lat=lat, lon=lon, sog=sog, cog=cog, heading=heading,
                       nav_status=0, msg_type=1, source="test")
    s = VesselInfo(ts=ts, mmsi=mmsi, name=name, callsign=callsign, ship_type=ship_type, imo=None,
                   to_bow=100, to_stern=50, to_port=10, to_starboard=12, draught=8.5,
                   destination="COLOMBO")
    return p, s


async def seed_vessels(web: Web) -> None:
    rows = [vessel(419000001, 18.9, 72.8, name="MUMBAI STAR", callsign="AVXY1"),
            vessel(419000002, 6.9, 79.8, ts=NOW - 7200, name="COLOMBO TRADER", callsign="4RAB",
                   ship_type=80),
            vessel(538000003, -20.1, 57.5, ts=NOW - 86400 * 3, name="PORT LOUIS",
                   callsign="V7AB3", ship_type=60)]
    await web.write([p for p, _ in rows], [s for _, s in rows])


# --------------------------------------------------------------------------- auth


PROTECTED_GET = ["/api/vessels", "/api/vessels/419000001", "/api/vessels/419000001/track",
                 "/api/alerts", "/api/alerts/1", "/api/zones", "/api/search?q=MUM", "/metrics",
                 "/api/openapi.json", "/api/me", "/api/audit", "/api/users", "/api/data-quality"]


async def test_healthz_needs_no_login_and_checks_the_database(web):
    r = await web.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema_version"] >= 2
    assert body["timescaledb"]  # the test server has the extension


async def test_without_credentials_the_api_answers_401_and_pages_redirect(web):
    for path in PROTECTED_GET:
        r = await web.client.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "unauthenticated", path
        assert r.headers["www-authenticate"] == "Bearer"
    for path in ("/api/alerts/1/ack", "/api/alerts/1/close"):
        r = await web.client.post(path, json={"note": "x"})
        assert r.status_code == 401
    r = await web.client.get("/", headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    r = await web.client.get("/api/docs", headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/api/docs")
    r = await web.client.get("/login")
    assert r.status_code == 200 and 'name="password"' in r.text


async def test_bearer_token_roles(web):
    await seed_vessels(web)
    [row] = await web.alerts(alert_change("k1"))
    viewer = await web.token("viewer")
    officer = await web.token("officer")
    r = await web.client.get("/api/vessels", headers=viewer)
    assert r.status_code == 200
    r = await web.client.post(f"/api/alerts/{row['id']}/ack", json={"note": "seen"}, headers=viewer)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    r = await web.client.get("/api/audit", headers=officer)
    assert r.status_code == 403
    # Bearer calls need no CSRF token: there is no ambient credential to abuse.
    r = await web.client.post(f"/api/alerts/{row['id']}/ack", json={"note": "seen"}, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "test-officer"

    bad = {"Authorization": "Bearer mda_not-a-real-token"}
    assert (await web.client.get("/api/vessels", headers=bad)).status_code == 401
    assert (await web.client.get("/api/vessels", headers={"Authorization": "Basic abc"})).status_code == 401
    expired = await web.token("admin", expires=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert (await web.client.get("/api/vessels", headers=expired)).status_code == 401
    await web.sql("UPDATE api_tokens SET revoked_at = now() WHERE owner = 'test-viewer'")
    assert (await web.client.get("/api/vessels", headers=viewer)).status_code == 401
    # Only the SHA-256 is stored.
    rows = await web.sql("SELECT token_sha256 FROM api_tokens")
    assert all(len(bytes(r[0])) == 32 for r in rows)


async def test_a_users_token_never_exceeds_the_users_current_role(web):
    await web.user("olga", "officer")
    async with await web.conn() as c:
        tok = await create_token(c, "olga", "officer", user="olga")
    headers = {"Authorization": f"Bearer {tok}"}
    assert (await web.client.get("/api/me", headers=headers)).json()["role"] == "officer"
    await web.sql("UPDATE users SET role = 'viewer' WHERE name = 'olga'")
    assert (await web.client.get("/api/me", headers=headers)).json()["role"] == "viewer"
    await web.sql("UPDATE users SET disabled = true WHERE name = 'olga'")
    assert (await web.client.get("/api/me", headers=headers)).status_code == 401


async def test_password_login_sets_a_hardened_session_cookie(web):
    await web.user("alice", "officer")
    r = await web.login("alice")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("mda_session="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attrs
    assert "samesite=lax" in cookie.lower()
    page = await web.client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert '<meta name="csrf-token" content="' in page.text
    assert "alice" in page.text
    me = (await web.client.get("/api/me")).json()
    assert me == {"name": "alice", "role": "officer", "via": "session", "can_acknowledge": True,
                  "csrf_token": me["csrf_token"]}
    # the password is stored as an argon2id hash only
    [(pw_hash,)] = await web.sql("SELECT password_hash FROM users WHERE name = 'alice'")
    assert pw_hash.startswith("$argon2id$") and "correct horse" not in pw_hash


async def test_wrong_password_and_unknown_user_fail_alike(web):
    await web.user("bob", "viewer")
    r1 = await web.login("bob", "wrong password")
    r2 = await web.login("nobody", "wrong password")
    assert r1.status_code == r2.status_code == 401
    assert "Wrong user name or password" in r1.text and "Wrong user name or password" in r2.text
    assert "mda_session" not in web.client.cookies


async def test_csrf_is_required_for_state_changes_made_with_the_session(web):
    await web.user("carol", "officer")
    [a1, a2] = await web.alerts(alert_change("c1"), alert_change("c2"))
    await web.login("carol")
    r = await web.client.post(f"/api/alerts/{a1['id']}/ack", json={"note": "no token"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = await web.client.post(f"/api/alerts/{a1['id']}/ack", json={},
                              headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = await web.client.post(f"/api/alerts/{a1['id']}/ack", json={},
                              headers={"X-CSRF-Token": "f\xe9ted".encode("latin-1")})
    assert r.status_code == 403
    csrf = await web.csrf()
    r = await web.client.post(f"/api/alerts/{a1['id']}/ack", json={"note": "ok"},
                              headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert r.status_code == 403
    r = await web.client.post(f"/api/alerts/{a1['id']}/ack", json={"note": "ok"},
                              headers={"X-CSRF-Token": csrf, "Origin": BASE})
    assert r.status_code == 200, r.text
    # Logging out is a state change too.
    r = await web.client.post("/logout")
    assert r.status_code == 403
    r = await web.client.post("/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303
    assert (await web.client.get("/api/me")).status_code == 401
    # the old cookie is dead server-side, even if a client kept it
    [(n,)] = await web.sql("SELECT count(*) FROM sessions")
    assert n == 0
    # the login form itself is protected by a double-submit token
    r = await web.client.post("/login", data={"username": "carol", "password": "correct horse",
                                              "csrf": "guess"})
    assert r.status_code == 403
    assert a2["status"] == "open"


async def test_disabling_a_user_ends_their_session(web):
    await web.user("dave", "supervisor")
    await web.login("dave")
    assert (await web.client.get("/api/audit")).status_code == 200
    await web.sql("UPDATE users SET disabled = true WHERE name = 'dave'")
    assert (await web.client.get("/api/audit")).status_code == 401


async def test_failed_logins_are_rate_limited_per_user_and_per_address(web):
    await web.user("erin", "officer")
    await web.user("frank", "officer")
    for _ in range(3):  # MDA_LOGIN_RATE_LIMIT=3
        assert (await web.login("erin", "nope")).status_code == 401
    r = await web.login("erin")  # right password, but locked for now
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "mda_session" not in web.client.cookies
    # another user from the same address still gets in, until the address's limit
    assert (await web.login("frank")).status_code == 303
    web.client.cookies.clear()
    for name in ("x1", "x2", "x3"):  # 6 failures from this address in all
        assert (await web.login(name, "nope")).status_code == 401
    assert (await web.login("frank")).status_code == 429
    [(fails,)] = await web.sql("SELECT count(*) FROM login_attempts WHERE NOT success")
    assert fails == 6
    # the one-click link is limited per address too
    r = await web.client.get("/?token=mda_guess", headers={"accept": "text/html"})
    assert r.status_code == 429


async def test_one_click_login_link_trades_a_token_for_a_session(web):
    headers = await web.token("officer", owner="demo-script")
    token = headers["Authorization"].split()[1]
    r = await web.client.get(f"/?token={token}", headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "mda_session" in web.client.cookies
    page = await web.client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "demo-script" in page.text
    # a session made from a token ends when the token is revoked
    await web.sql("UPDATE api_tokens SET revoked_at = now()")
    assert (await web.client.get("/api/me")).status_code == 401
    web.client.cookies.clear()
    r = await web.client.get("/?token=mda_nonsense", headers={"accept": "text/html"})
    assert r.status_code == 401 and "not valid" in r.text
    actions = [a for (a,) in await web.sql("SELECT action FROM audit_log ORDER BY id")]
    assert "login.token" in actions


async def test_demo_token_setting_presets_a_token(migrated, tmp_path):
    token = "demo-token-for-scripts-0123456789"
    app = create_app(make_settings(tmp_path, demo_token=token), migrated)
    async with LifespanManager(app) as m, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client:
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["name"] == "demo" and me.json()["role"] == "supervisor"
        r = await client.get(f"/?token={token}", headers={"accept": "text/html"})
        assert r.status_code == 303 and "mda_session" in client.cookies
    # a second start does not add a second token
    app2 = create_app(make_settings(tmp_path, demo_token=token), migrated)
    async with LifespanManager(app2):
        pass
    with psycopg.connect(migrated) as conn:
        assert conn.execute("SELECT count(*) FROM api_tokens WHERE owner = 'demo'").fetchone()[0] == 1


async def test_every_state_change_is_audited(web):
    await web.user("gina", "officer")
    [a1, a2] = await web.alerts(alert_change("g1"), alert_change("g2"))
    await web.login("gina")
    csrf = await web.csrf()
    h = {"X-CSRF-Token": csrf}
    assert (await web.client.post(f"/api/alerts/{a1['id']}/ack", json={"note": "on it"},
                                  headers=h)).status_code == 200
    assert (await web.client.post(f"/api/alerts/{a2['id']}/close",
                                  json={"note": "fishing fleet", "outcome": "no_action"},
                                  headers=h)).status_code == 200
    assert (await web.client.post("/logout", headers=h)).status_code == 303
    rows = await web.sql("SELECT actor, role, via, action, target, ip, details, time FROM audit_log "
                         "ORDER BY id")
    by_action = {r[3]: r for r in rows}
    assert by_action["user.create"][0] == "cli" and by_action["user.create"][4] == "user:gina"
    assert by_action["login.password"][:5] == ("gina", "officer", "login", "login.password", "user:gina")
    ack = by_action["alert.acknowledge"]
    assert ack[:5] == ("gina", "officer", "session", "alert.acknowledge", f"alert:{a1['id']}")
    assert ack[6]["note"] == "on it" and ack[5] is not None
    close = by_action["alert.close"]
    assert close[4] == f"alert:{a2['id']}" and close[6]["note"] == "fishing fleet"
    assert close[6]["outcome"] == "no_action"
    assert by_action["logout"][0] == "gina"
    assert all(isinstance(r[7], datetime) for r in rows)
    # supervisors read it through the API
    sup = await web.token("supervisor")
    r = await web.client.get("/api/audit?action=alert.", headers=sup)
    assert r.status_code == 200
    assert [e["action"] for e in r.json()] == ["alert.close", "alert.acknowledge"]


# --------------------------------------------------------------------------- vessels


async def test_vessels_geojson_with_bbox_and_since(web):
    await seed_vessels(web)
    h = await web.token("viewer")
    r = await web.client.get("/api/vessels", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert [f["properties"]["mmsi"] for f in fc["features"]] == [419000001, 419000002, 538000003]
    f = fc["features"][0]
    assert f["geometry"] == {"type": "Point", "coordinates": [72.8, 18.9]}
    p = f["properties"]
    assert set(p) == {"mmsi", "name", "callsign", "ship_type", "sog", "cog", "heading",
                      "nav_status", "last_seen"}
    assert p["name"] == "MUMBAI STAR" and p["callsign"] == "AVXY1" and p["ship_type"] == 70
    assert p["sog"] == 12.0 and p["cog"] == 90.0 and p["heading"] == 91 and p["nav_status"] == 0
    seen = datetime.fromisoformat(p["last_seen"])
    assert seen.utcoffset() == timedelta(0) and abs(seen.timestamp() - NOW) < 0.01

    r = await web.client.get("/api/vessels?bbox=70,0,85,25", headers=h)
    assert [f["id"] for f in r.json()["features"]] == [419000001, 419000002]
    r = await web.client.get("/api/vessels?since=-1h", headers=h)
    assert [f["id"] for f in r.json()["features"]] == [419000001]
    since = datetime.fromtimestamp(NOW - 86400, timezone.utc).isoformat()
    r = await web.client.get("/api/vessels", params={"since": since}, headers=h)
    assert [f["id"] for f in r.json()["features"]] == [419000001, 419000002]
    r = await web.client.get("/api/vessels?bbox=1,2,3", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = await web.client.get("/api/vessels?since=yesterday-ish", headers=h)
    assert r.status_code == 422
    r = await web.client.get("/api/vessels?bbox=0,0,1,1", headers=h)
    assert r.json() == {"type": "FeatureCollection", "features": []}


async def test_vessel_detail_and_404(web):
    await seed_vessels(web)
    h = await web.token("viewer")
    r = await web.client.get("/api/vessels/419000002", headers=h)
    assert r.status_code == 200
    v = r.json()
    assert v["name"] == "COLOMBO TRADER" and v["ship_type"] == 80 and v["length"] == 150
    assert v["beam"] == 22 and v["destination"] == "COLOMBO"
    assert v["position"]["lat"] == 6.9 and v["position"]["source"] == "test"
    r = await web.client.get("/api/vessels/123", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await web.client.get("/api/vessels/99999999999", headers=h)  # beyond any MMSI
    assert r.status_code == 422


async def test_track_defaults_to_the_last_24_hours_and_takes_a_range(web):
    h = await web.token("viewer")
    mmsi = 419000009
    fixes = [PositionReport(ts=NOW - i * 600, mmsi=mmsi, lat=10 + i * 0.01, lon=60 + i * 0.01,
                            sog=10.0 + (i % 3), cog=45.0, heading=45, msg_type=1, source="t")
             for i in range(0, 30 * 6)]  # 30 hours, every 10 min
    await web.write(fixes)
    r = await web.client.get(f"/api/vessels/{mmsi}/track", headers=h)
    assert r.status_code == 200
    t = r.json()
    assert t["type"] == "Feature" and t["geometry"]["type"] == "LineString"
    coords = t["geometry"]["coordinates"]
    assert t["properties"]["points"] == len(coords) == 24 * 6 + 1
    times = t["properties"]["times"]
    assert times == sorted(times) and abs(times[-1] - NOW) < 0.01
    assert coords[-1] == [60.0, 10.0]  # the newest fix is the last vertex
    assert len(t["properties"]["sog"]) == len(coords)
    start = datetime.fromtimestamp(NOW - 3600, timezone.utc).isoformat()
    end = datetime.fromtimestamp(NOW - 1800, timezone.utc).isoformat()
    r = await web.client.get(f"/api/vessels/{mmsi}/track", params={"start": start, "end": end},
                             headers=h)
    assert r.json()["properties"]["points"] == 4
    r = await web.client.get(f"/api/vessels/{mmsi}/track?start=-100d", headers=h)
    assert r.status_code == 422
    r = await web.client.get("/api/vessels/1/track", headers=h)
    assert r.status_code == 200 and r.json()["geometry"] is None


async def test_search_by_mmsi_name_and_callsign(web):
    await seed_vessels(web)
    h = await web.token("viewer")

    async def search(q):
        r = await web.client.get("/api/search", params={"q": q}, headers=h)
        assert r.status_code == 200
        return [v["mmsi"] for v in r.json()]

    assert await search("419000002") == [419000002]
    assert await search("4190") == [419000002, 419000001]  # by name: COLOMBO before MUMBAI
    assert await search("trader") == [419000002]
    assert await search("v7ab3") == [538000003]
    assert await search("star") == [419000001]
    assert await search("%") == []
    assert (await web.client.get("/api/search?q=", headers=h)).status_code == 422


# --------------------------------------------------------------------------- alerts


async def test_alert_list_filters_and_order(web):
    h = await web.token("viewer")
    await web.alerts(
        alert_change("a", kind="loitering", start=NOW - 5 * 3600, end=NOW - 4 * 3600, lat=12, lon=70),
        alert_change("b", kind="encounter", severity="high", start=NOW - 3 * 3600, lat=-5, lon=60),
        alert_change("c", kind="distress_beacon", severity="critical", start=NOW - 600, lat=20, lon=90),
    )
    await web.sql("UPDATE alerts SET status = 'closed' WHERE key = 'a'")

    async def ids(**params):
        r = await web.client.get("/api/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["count"] == len(body["alerts"])
        return [a["key"] for a in body["alerts"]]

    assert await ids() == ["c", "b", "a"]  # newest first
    assert await ids(status="open") == ["c", "b"]
    assert await ids(status="open,closed") == ["c", "b", "a"]
    assert await ids(kind="encounter,loitering") == ["b", "a"]
    assert await ids(since="-2h") == ["c", "b"]  # b goes on; a ended 4 h ago
    assert await ids(until="-1h") == ["b", "a"]
    assert await ids(bbox="55,-10,75,15") == ["b", "a"]
    assert await ids(limit=1) == ["c"]
    r = await web.client.get("/api/alerts?status=bogus", headers=h)
    assert r.status_code == 422
    one = (await web.client.get("/api/alerts", params={"kind": "distress_beacon"}, headers=h)).json()
    a = one["alerts"][0]
    assert isinstance(a["id"], int) and a["severity"] == "critical"
    assert a["details"] == {"rule": "distress_beacon", "sog_max_kn": 1.2}
    assert datetime.fromisoformat(a["start"]).utcoffset() == timedelta(0)


async def test_acknowledge_and_close_lifecycle_with_history(web):
    await seed_vessels(web)
    officer = await web.token("officer", owner="oscar")
    [row] = await web.alerts(alert_change("life", mmsi=419000001))
    aid = row["id"]
    r = await web.client.get(f"/api/alerts/{aid}", headers=officer)
    assert r.json()["status"] == "open" and r.json()["vessel_name"] == "MUMBAI STAR"
    assert [h["action"] for h in r.json()["history"]] == ["opened"]

    r = await web.client.post(f"/api/alerts/{aid}/ack", json={"note": "watching"}, headers=officer)
    assert r.status_code == 200
    assert r.json()["status"] == "acknowledged" and r.json()["acknowledged_by"] == "oscar"
    r = await web.client.post(f"/api/alerts/{aid}/ack", json={}, headers=officer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = await web.client.post(f"/api/alerts/{aid}/close",
                              json={"note": "fishing, legitimate", "outcome": "no_action"},
                              headers=officer)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "closed" and body["closed_by"] == "oscar"
    assert body["note"] == "fishing, legitimate" and body["outcome"] == "no_action"
    assert [(h["action"], h["actor"], h["outcome"]) for h in body["history"]] == [
        ("opened", "analytics", None), ("acknowledged", "oscar", None),
        ("closed", "oscar", "no_action")]
    r = await web.client.post(f"/api/alerts/{aid}/close", headers=officer)
    assert r.status_code == 409
    r = await web.client.post("/api/alerts/999999/ack", headers=officer)
    assert r.status_code == 404
    r = await web.client.post(f"/api/alerts/{aid}/close", json={"note": "x" * 3000}, headers=officer)
    assert r.status_code == 422


# --------------------------------------------------------------------------- alert quality


def notice(key: str, source: str, kind: str = "position_jump", mmsi: int = 419000001,
           start: float = NOW - 1800, text: str = "one fix 40 nm off the track, back in 10 s"
           ) -> AlertChange:
    """A data-quality notice as the analytics emit it: severity info, the feed in details."""
    return alert_change(key, kind=kind, severity="info", mmsi=mmsi, start=start, end=start,
                        details={"text": text, "source": source})


def metric_lines(text: str, name: str) -> dict[str, float]:
    """{'{labels}': value} of one metric's samples."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{.*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


async def test_notices_stay_off_the_desk_and_are_counted_by_source(web):
    await seed_vessels(web)
    h = await web.token("viewer")
    await web.alerts(
        alert_change("desk-1", mmsi=419000001), alert_change("desk-2", mmsi=419000002),
        notice("n-1", "feed-a/kochi", start=NOW - 3600, text="latitude off by 1.0 deg"),
        notice("n-2", "feed-a/kochi", start=NOW - 600, text="latitude off by 2.0 deg"),
        notice("n-3", "feed-b", kind="identity_clash", start=NOW - 1200,
               text="two transmitters as 419000001: garbled copies of one"),
        notice("n-old", "feed-a/kochi", start=NOW - 3 * 86400))
    # stored as they came, severity info
    assert await web.sql("SELECT count(*) FROM alerts WHERE severity = 'info'") == [(4,)]

    async def keys(**params) -> list[str]:
        r = await web.client.get("/api/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [a["key"] for a in r.json()["alerts"]]

    # the desk's default query leaves notices out; asked for, they are there
    assert sorted(await keys()) == ["desk-1", "desk-2"]
    assert await keys(severity="info", since="-24h") == ["n-2", "n-3", "n-1"]
    assert len(await keys(severity="medium,info")) == 6
    r = await web.client.get("/api/alerts?severity=urgent", headers=h)
    assert r.status_code == 422 and "severity: unknown urgent" in r.json()["error"]["message"]
    # a notice does not put its vessel in alert
    assert (await web.client.get("/api/vessels/419000001", headers=h)).json()["open_alerts"] == 1

    # the data-quality view: by source, then kind, the busiest first, with the latest examples
    r = await web.client.get("/api/data-quality", headers=h)
    assert r.status_code == 200, r.text
    dq = r.json()
    assert dq["total"] == 3  # the 3-day-old notice is outside the default 24 h
    since = datetime.fromisoformat(dq["since"])
    assert abs((datetime.now(timezone.utc) - since) - timedelta(hours=24)) < timedelta(minutes=1)
    assert [(src["source"], src["count"]) for src in dq["sources"]] == [("feed-a/kochi", 2),
                                                                       ("feed-b", 1)]
    [jumps] = dq["sources"][0]["kinds"]
    assert (jumps["kind"], jumps["count"]) == ("position_jump", 2)
    assert [e["text"] for e in jumps["examples"]] == ["latitude off by 2.0 deg",
                                                      "latitude off by 1.0 deg"]
    assert jumps["examples"][0]["vessel_name"] == "MUMBAI STAR"
    assert datetime.fromisoformat(jumps["latest"]).timestamp() == pytest.approx(NOW - 600, abs=1)
    one = (await web.client.get("/api/data-quality?examples=1&since=-7d", headers=h)).json()
    assert one["total"] == 4 and len(one["sources"][0]["kinds"][0]["examples"]) == 1
    r = await web.client.get("/api/data-quality?since=yesterday", headers=h)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("since: not a time")
    r = await web.client.get("/api/data-quality?examples=500", headers=h)
    assert r.status_code == 422 and "examples" in r.json()["error"]["message"]

    # /metrics: notices per source and kind over the last 24 h; the desk's gauges without them
    text = (await web.client.get("/metrics", headers=h)).text
    assert metric_lines(text, "mda_notices") == {
        '{source="feed-a/kochi",kind="position_jump"}': 2,
        '{source="feed-b",kind="identity_clash"}': 1}
    assert "# TYPE mda_notices gauge" in text
    assert metric_lines(text, "mda_alerts_open") == {'{kind="loitering"}': 2}


async def test_closing_takes_an_outcome_that_feeds_the_false_alarm_ratio(web):
    officer = await web.token("officer", owner="olga")
    viewer = await web.token("viewer")
    rows = await web.alerts(*(alert_change(f"c{i}") for i in range(3)),
                            alert_change("enc", kind="encounter", severity="high"),
                            notice("quiet", "feed-a"))
    c0, c1, c2, enc, quiet = (r["id"] for r in rows)

    async def close(aid, body):
        return await web.client.post(f"/api/alerts/{aid}/close", json=body, headers=officer)

    async def metrics() -> str:
        return (await web.client.get("/metrics", headers=viewer)).text

    # refused, with a message that says what to send, and nothing changes
    for body, message in (
            (None, "outcome: required to close alert"),
            ({"note": "looked at it"}, "outcome: required to close alert"),
            ({"note": "x", "outcome": "maybe"}, "outcome: Input should be 'false_alarm', "
                                                 "'confirmed' or 'no_action'")):
        r = await web.client.post(f"/api/alerts/{c0}/close", headers=officer,
                                  **({} if body is None else {"json": body}))
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid" and err["message"].startswith(message), err
    assert await web.sql("SELECT status, outcome FROM alerts WHERE id = %s", (c0,)) == [("open", None)]
    assert await web.sql("SELECT count(*) FROM audit_log WHERE action = 'alert.close'") == [(0,)]
    assert metric_lines(await metrics(), "mda_alert_false_alarm_ratio") == {}

    r = await close(c0, {"note": "buoy tender on station", "outcome": "false_alarm"})
    assert r.status_code == 200 and r.json()["outcome"] == "false_alarm"
    assert r.json()["history"][-1]["outcome"] == "false_alarm"
    assert (await close(c1, {"outcome": "confirmed"})).status_code == 200
    assert (await close(enc, {"outcome": "no_action", "note": "STS transfer, notified"})).status_code == 200
    text = await metrics()
    assert metric_lines(text, "mda_alert_false_alarm_ratio") == {'{kind="loitering"}': 0.5,
                                                                 '{kind="encounter"}': 0.0}
    assert metric_lines(text, "mda_alert_closures_total") == {
        '{kind="encounter",outcome="no_action"}': 1,
        '{kind="loitering",outcome="confirmed"}': 1,
        '{kind="loitering",outcome="false_alarm"}': 1}
    assert "# TYPE mda_alert_closures_total counter" in text
    assert "# HELP mda_alert_false_alarm_ratio per kind (rule), false_alarm closures divided by " \
           "all closures with an outcome, of desk alerts closed in the last 30 days" in text

    assert (await close(c2, {"outcome": "false_alarm"})).status_code == 200
    ratio = metric_lines(await metrics(), "mda_alert_false_alarm_ratio")
    assert ratio['{kind="loitering"}'] == pytest.approx(2 / 3, abs=1e-6)
    # a notice closes without an outcome, and is no closure of a rule
    r = await close(quiet, {"note": "known bad receiver"})
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["outcome"] is None
    # the share covers the last 30 days of closures; the counter every one
    await web.sql("UPDATE alert_history SET time = now() - interval '40 days' "
                  "WHERE alert_id = %s AND action = 'closed'", (c2,))
    text = await metrics()
    assert metric_lines(text, "mda_alert_false_alarm_ratio")['{kind="loitering"}'] == 0.5
    assert metric_lines(text, "mda_alert_closures_total")['{kind="loitering",outcome="false_alarm"}'] == 2
    assert metric_lines(text, "mda_alert_closures_recent") == {
        '{kind="encounter",outcome="no_action"}': 1,
        '{kind="loitering",outcome="confirmed"}': 1,
        '{kind="loitering",outcome="false_alarm"}': 1}
    audit = await web.sql("SELECT details FROM audit_log WHERE action = 'alert.close' ORDER BY id")
    assert [d["outcome"] for (d,) in audit] == ["false_alarm", "confirmed", "no_action",
                                                "false_alarm", None]


# --------------------------------------------------------------------------- zones, metrics


async def test_zones_geojson(web):
    h = await web.token("viewer")
    # an empty table: the analytics' built-in zones (IRTC lanes, TSS, ports)
    r = await web.client.get("/api/zones", headers=h)
    assert r.status_code == 200 and r.json()["type"] == "FeatureCollection"
    kinds = {f["properties"]["kind"] for f in r.json()["features"]}
    assert {"lane", "port"} <= kinds
    poly = {"type": "Polygon", "coordinates": [[[45, 12], [53, 14.5], [53, 14.4], [45, 11.9], [45, 12]]]}
    await web.sql("INSERT INTO zones (name, kind, direction, geometry, properties) "
                  "VALUES ('IRTC westbound', 'lane', 252, %s, '{\"note\": \"published\"}')",
                  (json.dumps(poly),))
    fc = (await web.client.get("/api/zones", headers=h)).json()
    [f] = fc["features"]
    assert f["geometry"] == poly
    assert f["properties"]["name"] == "IRTC westbound" and f["properties"]["kind"] == "lane"
    assert f["properties"]["direction"] == 252 and f["properties"]["note"] == "published"


PROM_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? '
                       r'-?[0-9.e+-]+(\s-?[0-9]+)?$')


async def test_metrics_in_prometheus_text_format(web):
    h = await web.token("viewer")
    await web.alerts(alert_change("m1"), alert_change("m2"),
                     alert_change("m3", kind="ais_gap"))
    await web.client.get("/api/vessels", headers=h)
    await web.client.get("/api/vessels/123", headers=h)
    r = await web.client.get("/metrics", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = r.text.splitlines()
    for line in lines:
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line), line
        else:
            assert PROM_LINE.match(line), line
    text = r.text
    assert 'mda_feed_last_message_age_seconds{feed="tcp-mumbai"} 2.5' in lines
    assert 'mda_feed_up{feed="tcp-mumbai",state="running"} 1' in lines
    assert 'mda_feed_up{feed="file-replay",state="starting"} 0' in lines
    assert "mda_pipeline_positions_stored 999" in lines
    assert "# TYPE mda_pipeline_positions_stored counter" in lines
    assert "mda_pipeline_uptime_s 12.5" in lines and "mda_pipeline_mqtt_connected 1" in lines
    assert 'mda_pipeline_errors{reason="bad_checksum"} 3' in lines
    assert 'mda_alerts_open{kind="loitering"} 2' in lines
    assert 'mda_alerts_open{kind="ais_gap"} 1' in lines
    assert 'mda_http_requests_total{method="GET",route="/api/vessels",status="200"} 1' in lines
    assert 'mda_http_requests_total{method="GET",route="/api/vessels/{mmsi}",status="404"} 1' in lines
    assert "# TYPE mda_http_requests_total counter" in lines
    assert "mda_live_clients 0" in lines
    assert text.endswith("\n")


# --------------------------------------------------------------------------- errors, docs


async def test_one_error_shape_for_json_and_a_page_for_people(web):
    h = await web.token("viewer")
    r = await web.client.get("/api/nothing-here", headers=h)
    assert r.status_code == 404
    assert r.json() == {"error": {"status": 404, "code": "not_found", "message": "Not Found"}}
    r = await web.client.get("/api/vessels/not-a-number", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    assert "mmsi" in r.json()["error"]["message"]
    r = await web.client.get("/no-such-page", headers={**h, "accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<h1>404</h1>" in r.text


async def test_openapi_docs_are_behind_the_login_and_offline(web):
    h = await web.token("viewer")
    spec = (await web.client.get("/api/openapi.json", headers=h)).json()
    for path in ("/api/vessels", "/api/vessels/{mmsi}", "/api/vessels/{mmsi}/track", "/api/alerts",
                 "/api/alerts/{alert_id}", "/api/alerts/{alert_id}/ack",
                 "/api/alerts/{alert_id}/close", "/api/data-quality", "/api/zones", "/api/search",
                 "/healthz", "/metrics"):
        assert path in spec["paths"], path
    page = await web.client.get("/api/docs", headers={**h, "accept": "text/html"})
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/static/") for s in srcs), srcs
    for s in srcs:
        assert (await web.client.get(s)).status_code == 200, s
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_the_map_page_loads_only_local_assets(web):
    h = await web.token("viewer")
    page = await web.client.get("/", headers={**h, "accept": "text/html"})
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/vendor/leaflet/leaflet.js" in srcs
    assert all(s.startswith("/static/") for s in srcs), srcs
    for s in srcs:
        r = await web.client.get(s)
        assert r.status_code == 200, s
    for asset in ("/static/basemap/land-overview.geojson", "/static/basemap/land-detail.geojson"):
        fc = (await web.client.get(asset)).json()
        assert fc["type"] == "FeatureCollection" and len(fc["features"]) > 100
    assert (await web.client.get("/static/vendor/leaflet/LICENSE")).status_code == 200


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    settings = load_settings(environ={"MDA_DATA_DIR": str(tmp_path / "d")})
    k1 = load_secret_key(settings)
    k2 = load_secret_key(settings)
    assert k1 == k2 and len(k1) >= 32
    path = tmp_path / "d" / "secret_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret_key(load_settings(environ={"MDA_SECRET_KEY": "abc" * 12})) == b"abc" * 12


# --------------------------------------------------------------------------- live


async def _ws_app(web: Web):
    return httpx.AsyncClient(transport=ASGIWebSocketTransport(app=web.app), base_url=BASE)


async def _next(ws, kind: str, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.receive_text())
            if msg["type"] == kind:
                return msg


async def test_live_pushes_positions_alerts_and_feed_status(web):
    officer = await web.token("officer", owner="olive")
    async with await _ws_app(web) as client, aconnect_ws("/api/live", client,
                                                         headers=officer) as ws:
        hello = await _next(ws, "hello")
        assert hello["user"] == "olive" and hello["role"] == "officer"
        assert hello["fields"][:3] == ["mmsi", "lat", "lon"]
        assert hello["feeds"][0]["name"] == "tcp-mumbai"
        status = await _next(ws, "status")
        assert status["feeds"][0]["last_message_age_s"] == 2.5

        p1, s1 = vessel(419000077, 10.0, 60.0, ts=NOW, name="LIVE ONE")
        p2, _ = vessel(419000077, 10.01, 60.02, ts=NOW + 1)
        web.hub.on_batch([p1], [s1])
        web.hub.on_batch([p2], [])  # coalesced: only the newest fix goes out
        msg = await _next(ws, "positions")
        assert msg["vessels"] == [[419000077, 10.01, 60.02, 12.0, 90.0, 91, 0, round(NOW + 1, 3)]]
        assert msg["statics"]["419000077"]["name"] == "LIVE ONE"

        [row] = await web.alerts(alert_change("live-1", kind="distress_beacon", severity="critical"))
        await web.hub.publish_alert(row)
        msg = await _next(ws, "alert")
        assert msg["change"] == "opened" and msg["alert"]["id"] == row["id"]
        assert msg["alert"]["severity"] == "critical"

        r = await web.client.post(f"/api/alerts/{row['id']}/ack", json={"note": "seen"},
                                  headers=officer)
        assert r.status_code == 200
        msg = await _next(ws, "alert")
        assert msg["change"] == "acknowledged"
        assert msg["alert"]["status"] == "acknowledged" and msg["alert"]["acknowledged_by"] == "olive"
        # the pushed alert has the same fields as the REST list
        listed = (await web.client.get("/api/alerts", headers=officer)).json()["alerts"][0]
        assert set(msg["alert"]) == set(listed)


async def test_live_at_most_once_a_second_per_vessel(migrated, tmp_path):
    hub = LiveHub(interval=1.0, status_interval=60)
    app = create_app(make_settings(tmp_path), migrated, hub=hub)
    async with LifespanManager(app) as m:
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            tok = await create_token(c, "t", "viewer")
        client = httpx.AsyncClient(transport=ASGIWebSocketTransport(app=m.app), base_url=BASE)
        async with client, aconnect_ws("/api/live", client,
                                       headers={"Authorization": f"Bearer {tok}"}) as ws:
            await _next(ws, "hello")
            t0 = time.monotonic()
            i = 0
            while time.monotonic() - t0 < 3.5:
                i += 1
                hub.on_batch([vessel(419000088, 10 + i * 1e-4, 60, ts=NOW + i)[0]], [])
                await asyncio.sleep(0.02)  # ~50 reports a second
            frames = []
            async with asyncio.timeout(3):
                while len(frames) < 3:
                    msg = json.loads(await ws.receive_text())
                    if msg["type"] == "positions":
                        frames.append(msg)
    # each frame carries the vessel once, and frames leave the hub a second apart
    assert all(len(f["vessels"]) == 1 for f in frames)
    gaps = [b["t"] - a["t"] for a, b in zip(frames, frames[1:], strict=False)]
    assert all(g > 0.9 for g in gaps), gaps
    assert frames[-1]["vessels"][0][7] > frames[0]["vessels"][0][7]  # newest fix each time
    assert i > 30  # many reports went in (fewer on a loaded machine), three frames came out


async def test_live_refuses_without_credentials(web):
    async with await _ws_app(web) as client:
        with pytest.raises(Exception) as info:
            async with aconnect_ws("/api/live", client) as ws:
                await ws.receive_text()
        assert "4401" in repr(info.value) or "401" in repr(info.value)


class _StuckSocket:
    """A socket whose sends block until released: a browser on a saturated link."""

    def __init__(self):
        self.sent: list[str] = []
        self.release = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(text)


async def test_a_slow_browser_drops_old_positions_but_never_alerts_and_blocks_nobody():
    from web.live import _Client

    hub = LiveHub()
    slow_ws, fast_ws = _StuckSocket(), _StuckSocket()
    fast_ws.release.set()
    slow, fast = _Client(slow_ws, backlog=4, max_alerts=100), _Client(fast_ws, backlog=4, max_alerts=100)
    hub._clients |= {slow, fast}
    tasks = [asyncio.create_task(c.send_loop()) for c in (slow, fast)]
    try:
        for i in range(20):
            hub.on_batch([vessel(419000100 + i, 10, 60, ts=NOW + i)[0]], [])
            hub.flush()
            if i % 5 == 0:
                await hub.publish_alert({"id": i, "kind": "loitering", "change": "opened"})
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        # the fast one got everything, at once
        fast_types = [json.loads(m)["type"] for m in fast_ws.sent]
        assert fast_types.count("positions") == 20 and fast_types.count("alert") == 4
        assert not slow_ws.sent  # still stuck
        # its backlog is bounded: 4 position frames; the first alert is in flight, 3 wait
        assert len(slow.positions) == 4 and len(slow.alerts) == 3
        slow_ws.release.set()
        await asyncio.sleep(0.05)
        types = [json.loads(m)["type"] for m in slow_ws.sent]
        assert types.count("alert") == 4  # none lost
        assert "resync" in types  # told to reload what it missed
        assert types.count("positions") < 20
        assert hub.stats["clients_dropped_frames"] > 0
    finally:
        for t in tasks:
            t.cancel()


# --------------------------------------------------------------------------- CLI


def test_cli_user_add_and_token_create(migrated, tmp_path, monkeypatch, capsys):
    import io

    from mda.cli import main

    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
    assert main(["user", "--database", migrated, "add", "hana", "--role", "officer",
                 "--password-stdin"]) == 0
    assert "hana" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
    assert main(["user", "--database", migrated, "add", "hana", "--role", "officer",
                 "--password-stdin"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["token", "--database", migrated, "create", "--user", "hana",
                 "--expires-days", "2"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("mda_") and len(token) > 40
    assert main(["token", "--database", migrated, "create", "--role", "viewer",
                 "--owner", "grafana"]) == 0
    viewer_token = capsys.readouterr().out.strip()
    assert main(["token", "--database", migrated, "list"]) == 0
    listing = capsys.readouterr().out
    assert "hana" in listing and "grafana" in listing and token not in listing

    with psycopg.connect(migrated) as conn:
        rows = conn.execute("SELECT owner, role, expires_at IS NOT NULL FROM api_tokens "
                            "ORDER BY id").fetchall()
        assert rows == [("hana", "officer", True), ("grafana", "viewer", False)]
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
        assert actions == ["user.create", "token.create", "token.create"]

    async def use() -> tuple[int, int]:
        app = create_app(make_settings(tmp_path), migrated)
        async with LifespanManager(app) as m, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client:
            a = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            b = await client.post("/api/alerts/1/ack",
                                  headers={"Authorization": f"Bearer {viewer_token}"})
            return a.json()["role"], b.status_code

    assert asyncio.run(use()) == ("officer", 403)


# --------------------------------------------------------------------------- review fixes


async def _closed_with(ws, timeout: float = 5.0) -> int:
    """Read frames until the server closes the socket; its close code."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await ws.receive_text()
            except WebSocketDisconnect as e:
                return e.code


@pytest.mark.parametrize("how", ["logout", "disable", "revoke_token", "revoke_link_token"])
async def test_live_socket_closes_4401_once_the_login_ends(web, how):
    """The login is re-checked while the socket is open (every auth_recheck_s; 0.2 s here),
    not only when it opens."""
    headers, cookies = {}, None
    if how in ("logout", "disable"):
        await web.user("lena", "viewer")
        assert (await web.login("lena")).status_code == 303
        cookies = web.client.cookies
    elif how == "revoke_token":
        headers = await web.token("viewer", owner="wall-display")
    else:  # a session made from a one-click link
        token = (await web.token("viewer", owner="link"))["Authorization"].split()[1]
        assert (await web.client.get(f"/?token={token}")).status_code == 303
        cookies = web.client.cookies
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app=web.app), base_url=BASE,
                                 cookies=cookies) as client:
        async with aconnect_ws("/api/live", client, headers=headers) as ws:
            await _next(ws, "hello")
            # while the login is valid, the re-checks leave the socket alone
            t0 = time.monotonic()
            while time.monotonic() - t0 < 0.8:
                await _next(ws, "status")
            if how == "logout":
                r = await web.client.post("/logout", headers={"X-CSRF-Token": await web.csrf()})
                assert r.status_code == 303
            elif how == "disable":
                await web.sql("UPDATE users SET disabled = true WHERE name = 'lena'")
            else:
                await web.sql("UPDATE api_tokens SET revoked_at = now()")
            assert await _closed_with(ws) == 4401
    assert web.hub.stats["clients_logged_out"] == 1
    assert web.hub.client_count == 0


async def test_a_session_from_a_users_token_follows_the_users_role_and_state(web):
    await web.user("uma", "supervisor")
    async with await web.conn() as c:
        full = await create_token(c, "uma", "supervisor", user="uma")
        limited = await create_token(c, "uma", "officer", user="uma")
    assert (await web.client.get(f"/?token={full}")).status_code == 303
    me = await web.client.get("/api/me")
    assert me.json()["role"] == "supervisor"
    assert (await web.client.get("/api/audit")).status_code == 200
    # demoted: the session made from her token drops to her current role at once
    await web.sql("UPDATE users SET role = 'viewer' WHERE name = 'uma'")
    assert (await web.client.get("/api/me")).json()["role"] == "viewer"
    assert (await web.client.get("/api/audit")).status_code == 403
    # promoted again: back to the token's role, never above it
    await web.sql("UPDATE users SET role = 'admin' WHERE name = 'uma'")
    assert (await web.client.get("/api/me")).json()["role"] == "supervisor"
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app), base_url=BASE)
    async with other:
        assert (await other.get(f"/?token={limited}")).status_code == 303
        assert (await other.get("/api/me")).json()["role"] == "officer"
        # disabled: every session made from her tokens ends
        await web.sql("UPDATE users SET disabled = true WHERE name = 'uma'")
        assert (await other.get("/api/me")).status_code == 401
    assert (await web.client.get("/api/me")).status_code == 401


async def test_parallel_logins_cannot_slip_past_the_rate_limit(web):
    """Each attempt is counted before its password is checked, atomically: however many
    arrive at once, only the limit reach argon2 (MDA_LOGIN_RATE_LIMIT=3, _IP=6)."""
    await web.user("ivan", "officer")
    page = await web.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)

    async def attempt(name: str, password: str = "wrong password") -> int:
        # each its own client: every answer sets a new form cookie
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app), base_url=BASE,
                                     cookies={"mda_login_csrf": csrf}) as client:
            r = await client.post("/login", data={"username": name, "password": password,
                                                  "csrf": csrf, "next": "/"})
        return r.status_code

    codes = await asyncio.gather(*(attempt("ivan") for _ in range(15)))
    assert sorted(codes) == [401] * 3 + [429] * 12, codes
    # the right password too: ivan is locked for now
    assert await attempt("ivan", "correct horse") == 429
    # many names from one address: the address's limit holds as well (3 used, 3 left)
    codes = await asyncio.gather(*(attempt(f"guess{i}") for i in range(15)))
    assert sorted(codes) == [401] * 3 + [429] * 12, codes
    [(fails, ok)] = await web.sql("SELECT count(*) FILTER (WHERE NOT success), "
                                  "count(*) FILTER (WHERE success) FROM login_attempts")
    assert (fails, ok) == (6, 0)


async def test_parallel_token_links_cannot_slip_past_the_rate_limit(web):
    codes = await asyncio.gather(*(web.client.get(f"/?token=mda_guess{i}") for i in range(12)))
    assert sorted(r.status_code for r in codes) == [401] * 6 + [429] * 6
    good = (await web.token("viewer", owner="later"))["Authorization"].split()[1]
    assert (await web.client.get(f"/?token={good}")).status_code == 429


async def test_a_success_is_recorded_as_such_and_resets_the_user_count(web):
    await web.user("jill", "viewer")
    for _ in range(2):
        assert (await web.login("jill", "nope")).status_code == 401
    assert (await web.login("jill")).status_code == 303
    web.client.cookies.clear()
    for _ in range(3):  # a fresh allowance of 3 after the success
        assert (await web.login("jill", "nope")).status_code == 401
    assert (await web.login("jill")).status_code == 429
    rows = await web.sql("SELECT username, success FROM login_attempts ORDER BY id")
    assert rows == [("jill", False)] * 2 + [("jill", True)] + [("jill", False)] * 3


async def test_argon2_work_is_bounded_whatever_the_number_of_requests():
    from web.auth import Argon2Gate, WebError, verify_password

    gate = Argon2Gate(slots=2, queue=4)
    h = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43  # a wrong hash

    def slow(x):
        time.sleep(0.1)
        return verify_password(h, x)

    results = await asyncio.gather(*(gate.run(slow, "pw") for _ in range(8)),
                                   return_exceptions=True)
    busy = [r for r in results if isinstance(r, WebError)]
    assert len(busy) == 2 and all(e.status == 503 for e in busy)  # 2 running + 4 waiting
    assert [r for r in results if not isinstance(r, Exception)] == [False] * 6
    assert gate.peak == 2 and gate.running == 0


async def test_demo_token_expires_and_each_start_renews_it(migrated, tmp_path):
    from web.auth import refresh_demo_token

    token = "demo-token-for-scripts-0123456789"
    bearer = {"Authorization": f"Bearer {token}"}

    async def start_and_call() -> int:
        app = create_app(make_settings(tmp_path, demo_token=token), migrated)
        async with LifespanManager(app) as m, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client:
            return (await client.get("/api/me", headers=bearer)).status_code

    def hours_left() -> float:
        with psycopg.connect(migrated) as conn:
            return conn.execute("SELECT extract(epoch FROM expires_at - now()) / 3600 "
                                "FROM api_tokens WHERE owner = 'demo'").fetchone()[0]

    assert await start_and_call() == 200
    assert 23.9 < hours_left() <= 24.0
    with psycopg.connect(migrated, autocommit=True) as conn:  # a day later
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 s'")
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
        assert not await refresh_demo_token(c, token)  # an expired token stays expired...
    assert hours_left() < 0
    assert await start_and_call() == 200  # ...until the next start renews it
    assert 23.9 < hours_left() <= 24.0
    # while a service runs it keeps the token alive, but never revives a revoked one
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("UPDATE api_tokens SET expires_at = now() + interval '1 h'")
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
        assert await refresh_demo_token(c, token)
        assert 23.9 < hours_left() <= 24.0
        await c.execute("UPDATE api_tokens SET revoked_at = now()")
        assert not await refresh_demo_token(c, token)


def test_mda_demo_keeps_its_data_in_a_demo_subdirectory(tmp_path, monkeypatch):
    from mda.cli import build_parser
    from mda.commands.demo import demo_settings

    parser = build_parser()
    prod = load_settings(environ={"MDA_DATA_DIR": str(tmp_path / "prod")})
    s = demo_settings(parser.parse_args(["demo"]), prod)
    assert s.data_path == tmp_path / "prod" / "demo"
    assert len(s.demo_token) >= 16  # a fresh token, passed on to the web app
    assert demo_settings(parser.parse_args(["demo"]), prod).demo_token != s.demo_token
    # the built-in default data directory gets the suffix too
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = demo_settings(parser.parse_args(["demo"]), load_settings(environ={}))
    assert default.data_path == load_settings(environ={}).data_path / "demo"
    assert default.data_path != load_settings(environ={}).data_path
    # --data-dir is used as given
    s = demo_settings(parser.parse_args(["demo", "--data-dir", str(tmp_path / "mine")]), prod)
    assert s.data_path == tmp_path / "mine"
    # a configured demo token is kept
    preset = load_settings(environ={"MDA_DEMO_TOKEN": "preset-demo-token-0123456789"})
    assert demo_settings(parser.parse_args(["demo"]), preset).demo_token == \
        "preset-demo-token-0123456789"


def _set_database_time_zone(url: str, tz: str) -> None:
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("ALTER DATABASE {} SET timezone = {}").format(
            sql.Identifier(name), sql.Literal(tz)))
    with psycopg.connect(url) as conn:  # new connections now default to it
        assert conn.execute("SHOW timezone").fetchone()[0] == tz


def test_cli_prints_utc_whatever_the_database_time_zone(migrated, tmp_path, monkeypatch, capsys):
    from mda.cli import main

    _set_database_time_zone(migrated, "Asia/Kolkata")  # UTC+05:30
    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    expires = datetime(2031, 1, 2, 3, 4, tzinfo=timezone.utc)

    async def make() -> None:
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            await create_token(c, "grafana", "viewer", expires)
            await c.execute("UPDATE api_tokens SET last_used_at = %s",
                            (datetime(2030, 12, 31, 22, 0, tzinfo=timezone.utc),))
            await create_user(c, "night", "correct horse", "viewer")
            await c.execute("UPDATE users SET created_at = %s",
                            (datetime(2030, 12, 31, 22, 0, tzinfo=timezone.utc),))

    asyncio.run(make())
    assert main(["token", "--database", migrated, "list"]) == 0
    out = capsys.readouterr().out
    assert "expires 2031-01-02 03:04Z" in out and "last used 2030-12-31 22:00Z" in out, out
    assert main(["user", "--database", migrated, "list"]) == 0
    out = capsys.readouterr().out
    assert "since 2030-12-31" in out, out  # 2031-01-01 03:30 in Kolkata


async def test_web_times_are_utc_whatever_the_database_time_zone(migrated, tmp_path):
    _set_database_time_zone(migrated, "Asia/Kolkata")
    app = create_app(make_settings(tmp_path), migrated)
    async with LifespanManager(app) as m, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client:
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            tok = await create_token(c, "tz", "supervisor")
            await write_batch(c, [vessel(419000001, 18.9, 72.8)[0]], [], [])
            await store_alerts.save_changes(c, [alert_change("tz1")])
        h = {"Authorization": f"Bearer {tok}"}
        seen = (await client.get("/api/vessels", headers=h)).json()["features"][0]
        alert = (await client.get("/api/alerts", headers=h)).json()["alerts"][0]
        audit = (await client.get("/api/audit", headers=h)).json()[0]
        for value in (seen["properties"]["last_seen"], alert["created_at"], alert["start"],
                      audit["time"]):
            assert datetime.fromisoformat(value).utcoffset() == timedelta(0), value


async def test_live_alert_times_are_sent_in_utc():
    """Alert rows reach the hub from the analytics' own connections, in whatever time zone
    those run: the frames carry UTC."""
    from web.live import _Client

    hub = LiveHub()
    ws = _StuckSocket()
    ws.release.set()
    client = _Client(ws, backlog=4, max_alerts=10)
    hub._clients.add(client)
    task = asyncio.create_task(client.send_loop())
    try:
        kolkata = timezone(timedelta(hours=5, minutes=30))
        t = datetime(2031, 1, 1, 3, 30, tzinfo=kolkata)
        await hub.publish_alert({"id": 1, "kind": "loitering", "change": "opened", "start": t,
                                 "created_at": t, "updated_at": t})
        await asyncio.sleep(0.05)
        [frame] = [json.loads(m) for m in ws.sent]
        assert frame["alert"]["start"] == "2030-12-31T22:00:00+00:00"
        assert frame["alert"]["created_at"] == frame["alert"]["updated_at"] == frame["alert"]["start"]
    finally:
        task.cancel()


@pytest.mark.parametrize("when", ["starting", "running"])
def test_a_stop_that_cancels_the_lifespan_is_quiet_and_closes_the_pool(migrated, tmp_path, caplog, when):
    """SIGTERM to `mda demo` while the web server starts (the database not answering yet)
    ends the event loop with the lifespan still running: asyncio cancels it. It must shut
    down in order (tasks, pool) without uvicorn's 'lifespan' traceback."""
    import logging
    import socket
    import threading
    from urllib.parse import urlsplit, urlunsplit

    import uvicorn

    db = migrated
    if when == "starting":  # a database that is not there yet: the demo token cannot be installed
        db = urlunsplit(urlsplit(migrated)._replace(path="/mda_not_created_yet"))
    app = create_app(make_settings(tmp_path, demo_token="demo-token-for-scripts-0123456789"), db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_config=None, log_level="info"))
    server.capture_signals = contextlib.nullcontext  # as mda.service does: it owns the signals

    async def main():
        asyncio.create_task(server.serve(), name="uvicorn")
        deadline = time.monotonic() + 20
        if when == "starting":
            await asyncio.sleep(1.5)
            assert not server.started  # still waiting for the database
        else:
            while not server.started:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        # returning ends asyncio.run, which cancels what is left: uvicorn and the lifespan

    caplog.set_level(logging.INFO)
    done = threading.Event()

    def run():
        asyncio.run(main())
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert done.is_set(), "the event loop did not finish: the lifespan hangs"
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage()[:2000] for r in loud]
    assert app.state.pool.closed
