"""Who may do what: bearer tokens and roles, a user's token capped at the user's role,
CSRF on session state changes, sessions that end with their user or token, the audit
row of every state change, the secret key. Through the ASGI client on a real database
(``web_support``)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from web_support import BASE, alert_change, seed_vessels

from mda.settings import load_settings
from mda.store.accounts import create_token
from mda.web.auth import load_secret_key

pytestmark = pytest.mark.integration


PROTECTED_GET = [
    "/api/vessels",
    "/api/vessels/419000001",
    "/api/vessels/419000001/track",
    "/api/alerts",
    "/api/alerts/1",
    "/api/zones",
    "/api/search?q=MUM",
    "/metrics",
    "/api/openapi.json",
    "/api/me",
    "/api/audit",
    "/api/users",
    "/api/data-quality",
]


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
    r = await web.client.post(
        f"/api/alerts/{row['id']}/ack", json={"note": "seen"}, headers=officer
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "test-officer"

    bad = {"Authorization": "Bearer mda_not-a-real-token"}
    assert (await web.client.get("/api/vessels", headers=bad)).status_code == 401
    assert (
        await web.client.get("/api/vessels", headers={"Authorization": "Basic abc"})
    ).status_code == 401
    expired = await web.token("admin", expires=datetime.now(UTC) - timedelta(seconds=1))
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


async def test_csrf_is_required_for_state_changes_made_with_the_session(web):
    await web.user("carol", "officer")
    [a1, a2] = await web.alerts(alert_change("c1"), alert_change("c2"))
    await web.login("carol")
    r = await web.client.post(f"/api/alerts/{a1['id']}/ack", json={"note": "no token"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = await web.client.post(
        f"/api/alerts/{a1['id']}/ack", json={}, headers={"X-CSRF-Token": "forged"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = await web.client.post(
        f"/api/alerts/{a1['id']}/ack",
        json={},
        headers={"X-CSRF-Token": "f\xe9ted".encode("latin-1")},
    )
    assert r.status_code == 403
    csrf = await web.csrf()
    r = await web.client.post(
        f"/api/alerts/{a1['id']}/ack",
        json={"note": "ok"},
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    r = await web.client.post(
        f"/api/alerts/{a1['id']}/ack",
        json={"note": "ok"},
        headers={"X-CSRF-Token": csrf, "Origin": BASE},
    )
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
    r = await web.client.post(
        "/login", data={"username": "carol", "password": "correct horse", "csrf": "guess"}
    )
    assert r.status_code == 403
    assert a2["status"] == "open"


async def test_disabling_a_user_ends_their_session(web):
    await web.user("dave", "supervisor")
    await web.login("dave")
    assert (await web.client.get("/api/audit")).status_code == 200
    await web.sql("UPDATE users SET disabled = true WHERE name = 'dave'")
    assert (await web.client.get("/api/audit")).status_code == 401


async def test_a_session_from_a_users_token_follows_the_users_role_and_state(web):
    await web.user("uma", "supervisor")
    async with await web.conn() as c:
        full = await create_token(c, "uma", "supervisor", user="uma")
        limited = await create_token(c, "uma", "officer", user="uma")
    assert (await web.link_login(full)).status_code == 303
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
        assert (await web.link_login(limited, other)).status_code == 303
        assert (await other.get("/api/me")).json()["role"] == "officer"
        # disabled: every session made from her tokens ends
        await web.sql("UPDATE users SET disabled = true WHERE name = 'uma'")
        assert (await other.get("/api/me")).status_code == 401
    assert (await web.client.get("/api/me")).status_code == 401


async def test_every_state_change_is_audited(web):
    await web.user("gina", "officer")
    [a1, a2] = await web.alerts(alert_change("g1"), alert_change("g2"))
    await web.login("gina")
    csrf = await web.csrf()
    h = {"X-CSRF-Token": csrf}
    assert (
        await web.client.post(f"/api/alerts/{a1['id']}/ack", json={"note": "on it"}, headers=h)
    ).status_code == 200
    assert (
        await web.client.post(
            f"/api/alerts/{a2['id']}/close",
            json={"note": "fishing fleet", "outcome": "no_action"},
            headers=h,
        )
    ).status_code == 200
    assert (await web.client.post("/logout", headers=h)).status_code == 303
    rows = await web.sql(
        "SELECT actor, role, via, action, target, ip, details, time FROM audit_log ORDER BY id"
    )
    by_action = {r[3]: r for r in rows}
    assert by_action["user.create"][0] == "cli" and by_action["user.create"][4] == "user:gina"
    assert by_action["login.password"][:5] == (
        "gina",
        "officer",
        "login",
        "login.password",
        "user:gina",
    )
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


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    settings = load_settings(environ={"MDA_DATA_DIR": str(tmp_path / "d")})
    k1 = load_secret_key(settings)
    k2 = load_secret_key(settings)
    assert k1 == k2 and len(k1) >= 32
    path = tmp_path / "d" / "secret_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret_key(load_settings(environ={"MDA_SECRET_KEY": "abc" * 12})) == b"abc" * 12
