"""Logging in: the password form and its hardened cookie, the rate limits (also under
parallel attempts) and that nobody can turn them against someone else, bounded argon2
work, the one-click token link (by POST only) and the demo token."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from web_support import BASE, make_settings

from mda.web.app import create_app

pytestmark = pytest.mark.integration


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
    assert me == {
        "name": "alice",
        "role": "officer",
        "via": "session",
        "can_acknowledge": True,
        "csrf_token": me["csrf_token"],
    }
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


def _client(web, ip: str, cookies=None) -> httpx.AsyncClient:
    """A browser at address ``ip`` (the ASGI transport's client address)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web.app, client=(ip, 40000)),
        base_url=BASE,
        cookies=cookies,
    )


async def _link(web, client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await web.link_login(token, client)


async def test_failed_logins_are_rate_limited_per_user_and_per_address(web):
    await web.user("erin", "officer")
    await web.user("frank", "officer")
    for _ in range(3):  # MDA_LOGIN_RATE_LIMIT=3: per user name and address
        assert (await web.login("erin", "nope")).status_code == 401
    r = await web.login("erin")  # right password, but this address is locked for erin
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "mda_session" not in web.client.cookies
    # another user from the same address still gets in, until the address's limit
    assert (await web.login("frank")).status_code == 303
    device = web.client.cookies.get("mda_device")
    assert device  # this browser is remembered for frank
    web.client.cookies.clear()
    for name in ("x1", "x2", "x3"):  # 6 failures from this address in all
        assert (await web.login(name, "nope")).status_code == 401
    assert (await web.login("frank")).status_code == 429  # a browser unknown here: refused
    [(fails,)] = await web.sql("SELECT count(*) FROM login_attempts WHERE NOT success")
    assert fails == 6
    # the one-click link is limited per address too
    r = await _link(web, web.client, "mda_guess")
    assert r.status_code == 429
    # ... but frank's own browser, which logged in as frank before, still gets in
    web.client.cookies.set("mda_device", device, path="/login")
    assert (await web.login("frank")).status_code == 303


async def test_an_attacker_elsewhere_cannot_lock_a_user_out(web):
    """Wrong passwords for someone else's name from another address: the victim, at their
    own address, logs in as always (before, five tries locked the name for everyone)."""
    await web.user("victim", "officer")
    async with _client(web, "203.0.113.66") as attacker:
        for _ in range(3):
            assert (await web.login("victim", "guess", attacker)).status_code == 401
        for _ in range(3):  # locked: for this name from this address only
            assert (await web.login("victim", "guess", attacker)).status_code == 429
        assert (await web.login("victim", client=attacker)).status_code == 429
    async with _client(web, "10.20.0.7") as officer:
        assert (await web.login("victim", client=officer)).status_code == 303


async def test_nobody_behind_the_same_address_is_locked_out_with_a_device_cookie(web):
    """One machine behind the ops room's NAT guesses many names: the address's allowance
    is used up, yet an officer whose browser logged in before still gets in."""
    await web.user("olga", "officer")
    async with _client(web, "192.0.2.10") as officer:
        assert (await web.login("olga", client=officer)).status_code == 303
        device = officer.cookies.get("mda_device")
    async with _client(web, "192.0.2.10") as guesser:
        for i in range(6):  # MDA_LOGIN_RATE_LIMIT_IP=6
            assert (await web.login(f"nobody{i}", "guess", guesser)).status_code == 401
        assert (await web.login("olga", "guess", guesser)).status_code == 429
    async with _client(web, "192.0.2.10", cookies={"mda_device": device}) as officer:
        assert (await web.login("olga", client=officer)).status_code == 303


async def test_guessing_from_many_addresses_stops_at_the_user_limit_but_not_for_her_browser(
    migrated, tmp_path
):
    app = create_app(make_settings(tmp_path, login_rate_limit_user=5), migrated)
    async with LifespanManager(app) as m:
        from web_support import Web

        web = Web(m.app, None, migrated, app.state.hub, {})
        await web.user("pat", "officer")
        async with _client(web, "10.9.0.1") as desk:
            assert (await web.login("pat", client=desk)).status_code == 303
            device = desk.cookies.get("mda_device")
        for i in range(5):  # a botnet: one guess per address
            async with _client(web, f"198.51.100.{i + 1}") as bot:
                assert (await web.login("pat", "guess", bot)).status_code == 401
        async with _client(web, "198.51.100.99") as bot:
            assert (await web.login("pat", "guess", bot)).status_code == 429
        async with _client(web, "10.9.0.77") as new_browser:  # the price: a browser she
            assert (await web.login("pat", client=new_browser)).status_code == 429  # never used
        async with _client(web, "10.9.0.1", cookies={"mda_device": device + "x"}) as forged:
            assert (await web.login("pat", client=forged)).status_code == 429  # not hers
        async with _client(web, "10.9.0.1", cookies={"mda_device": device}) as desk:
            assert (await web.login("pat", client=desk)).status_code == 303


async def test_parallel_logins_cannot_slip_past_the_rate_limit(web):
    """Each attempt is counted before its password is checked, atomically: however many
    arrive at once, only the limit reach argon2 (MDA_LOGIN_RATE_LIMIT=3, _IP=6)."""
    await web.user("ivan", "officer")
    page = await web.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)

    async def attempt(name: str, password: str = "wrong password") -> int:
        # each its own client: every answer sets a new form cookie
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web.app),
            base_url=BASE,
            cookies={"mda_login_csrf": csrf},
        ) as client:
            r = await client.post(
                "/login", data={"username": name, "password": password, "csrf": csrf, "next": "/"}
            )
        return r.status_code

    codes = await asyncio.gather(*(attempt("ivan") for _ in range(15)))
    assert sorted(codes) == [401] * 3 + [429] * 12, codes
    # the right password too: ivan is locked for now
    assert await attempt("ivan", "correct horse") == 429
    # many names from one address: the address's limit holds as well (3 used, 3 left)
    codes = await asyncio.gather(*(attempt(f"guess{i}") for i in range(15)))
    assert sorted(codes) == [401] * 3 + [429] * 12, codes
    [(fails, ok)] = await web.sql(
        "SELECT count(*) FILTER (WHERE NOT success), "
        "count(*) FILTER (WHERE success) FROM login_attempts"
    )
    assert (fails, ok) == (6, 0)


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
    from mda.store.accounts import verify_password
    from mda.web.errors import WebError
    from mda.web.login import Argon2Gate

    gate = Argon2Gate(slots=2, queue=4)
    h = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43  # a wrong hash

    def slow(x):
        time.sleep(0.1)
        return verify_password(h, x)

    results = await asyncio.gather(
        *(gate.run(slow, "pw") for _ in range(8)), return_exceptions=True
    )
    busy = [r for r in results if isinstance(r, WebError)]
    assert len(busy) == 2 and all(e.status == 503 for e in busy)  # 2 running + 4 waiting
    assert [r for r in results if not isinstance(r, Exception)] == [False] * 6
    assert gate.peak == 2 and gate.running == 0


async def test_one_click_login_link_trades_a_token_for_a_session(web):
    headers = await web.token("officer", owner="demo-script")
    token = headers["Authorization"].split()[1]
    # Opening the link changes nothing (a preview bot, an <img> elsewhere, a prefetch):
    page = await web.client.get(f"/?token={token}", headers={"accept": "text/html"})
    assert page.status_code == 200 and "mda_session" not in web.client.cookies
    assert 'action="/login/token"' in page.text and 'src="/static/login-link.js"' in page.text
    assert page.headers["referrer-policy"] == "same-origin"  # never to another site
    assert await web.sql("SELECT count(*) FROM login_attempts") == [(0,)]
    # ... its form posts the token, which makes the session
    r = await web.link_login(token)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "mda_session" in web.client.cookies
    page = await web.client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "demo-script" in page.text
    # a session made from a token ends when the token is revoked
    await web.sql("UPDATE api_tokens SET revoked_at = now()")
    assert (await web.client.get("/api/me")).status_code == 401
    web.client.cookies.clear()
    r = await web.link_login("mda_nonsense")
    assert r.status_code == 401 and "not valid" in r.text
    actions = [a for (a,) in await web.sql("SELECT action FROM audit_log ORDER BY id")]
    assert "login.token" in actions


async def test_the_link_form_is_refused_from_another_site(web):
    """Login CSRF: another site cannot post its own token into an officer's browser."""
    token = (await web.token("viewer", owner="attacker"))["Authorization"].split()[1]
    r = await web.client.post("/login/token", data={"token": token, "csrf": "forged"})
    assert r.status_code == 403 and "mda_session" not in web.client.cookies
    page = await web.client.get(f"/?token={token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = await web.client.post(
        "/login/token",
        data={"token": token, "csrf": csrf},
        headers={"origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "mda_session" not in web.client.cookies


async def test_parallel_token_links_cannot_slip_past_the_rate_limit(web):
    page = await web.client.get("/?token=x")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    codes = await asyncio.gather(
        *(
            web.client.post("/login/token", data={"token": f"mda_guess{i}", "csrf": csrf})
            for i in range(12)
        )
    )
    assert sorted(r.status_code for r in codes) == [401] * 6 + [429] * 6
    good = (await web.token("viewer", owner="later"))["Authorization"].split()[1]
    assert (await web.link_login(good)).status_code == 429


async def test_demo_token_setting_presets_a_token(migrated, tmp_path):
    token = "demo-token-for-scripts-0123456789"
    app = create_app(make_settings(tmp_path, demo_token=token), migrated)
    async with (
        LifespanManager(app) as m,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client,
    ):
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["name"] == "demo" and me.json()["role"] == "supervisor"
        from web_support import Web

        r = await Web(m.app, client, migrated, app.state.hub, {}).link_login(token)
        assert r.status_code == 303 and "mda_session" in client.cookies
    # a second start does not add a second token
    app2 = create_app(make_settings(tmp_path, demo_token=token), migrated)
    async with LifespanManager(app2):
        pass
    with psycopg.connect(migrated) as conn:
        assert (
            conn.execute("SELECT count(*) FROM api_tokens WHERE owner = 'demo'").fetchone()[0] == 1
        )


async def test_demo_token_expires_and_each_start_renews_it(migrated, tmp_path):
    from mda.store.accounts import refresh_demo_token

    token = "demo-token-for-scripts-0123456789"
    bearer = {"Authorization": f"Bearer {token}"}

    async def start_and_call() -> int:
        app = create_app(make_settings(tmp_path, demo_token=token), migrated)
        async with (
            LifespanManager(app) as m,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client,
        ):
            return (await client.get("/api/me", headers=bearer)).status_code

    def hours_left() -> float:
        with psycopg.connect(migrated) as conn:
            return conn.execute(
                "SELECT extract(epoch FROM expires_at - now()) / 3600 "
                "FROM api_tokens WHERE owner = 'demo'"
            ).fetchone()[0]

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
