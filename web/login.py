"""The login page, password login, the one-click token link, and logout.

The forms are protected by a double-submit cookie (``mda_login_csrf``,
``SameSite=Strict``) and an ``Origin`` check. Each attempt is counted against the rate
limits before the password is checked (``sessions.reserve_attempt``); argon2 runs in a
thread through ``Argon2Gate``, which bounds how many verifications run at once, and no
pooled connection is held meanwhile. Logging out is CSRF-checked like every state change.

**Lockout nobody can turn against someone else** (device cookies, as OWASP recommends
against online guessing). A hard lock per user name lets anyone lock any officer out with
a few wrong passwords; a lock per address locks out everyone behind one NAT. Instead:

- A browser that has logged in as a user carries a signed device cookie for that name
  (``sessions.remember_device``). Its failed attempts count against that device only
  (``login_rate_limit`` per window): an attacker, who has no such cookie, can neither
  use up its allowance nor be helped by it. The officer at their own console always
  gets in, whatever happens elsewhere.
- Every other attempt is counted per user name *and* address (``login_rate_limit``), so
  guessing from one address locks out only that address for that name; per address
  (``login_rate_limit_ip``), against one machine trying many names; and per user name
  from all addresses together (``login_rate_limit_user``, larger), against guessing from
  many addresses. Only that last can stop the victim, and only on a browser they never
  logged in from before, for one window: the price of stopping a distributed guess.

Correct passwords are not accepted past a limit (an attacker would learn the password
that way); a refusal says how long to wait (``Retry-After``).

**The one-click link** ``/?token=T`` (``mda demo``) only shows a form that posts the token
to ``/login/token`` (sent by a small script at once): a link fetched by a preview bot, an
``<img>`` on another site or a prefetch logs nobody in, and the token leaves the address
bar before anything else is loaded.
"""

from __future__ import annotations

import asyncio
import html
import os
import secrets
from urllib.parse import parse_qs

import psycopg
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mda.store import accounts, audit, sessions

from .auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    AuthConfig,
    audit_request,
    authenticate,
    client_ip,
    constant_time_equal,
    same_origin,
)
from .errors import WebError
from .render import template
from .sessions import (
    device_of,
    login_with_token,
    remember_device,
    reserve_attempt,
    set_session_cookie,
    start_session,
)

__all__ = [
    "Argon2Gate",
    "LOGIN_CSRF_COOKIE",
    "safe_next",
    "login_page",
    "password_login",
    "token_link_page",
    "token_login",
    "logout",
]

LOGIN_CSRF_COOKIE = "mda_login_csrf"


class Argon2Gate:
    """Bounds the argon2 work running at once (each verification takes ~64 MiB and a core
    for tens of milliseconds): ``slots`` run, up to ``queue`` more wait, and the rest are
    turned away with 503 at once rather than piling up."""

    def __init__(self, slots: int | None = None, queue: int = 32):
        self.slots = max(1, slots or min(4, os.cpu_count() or 1))
        self.queue = max(0, queue)
        self._sem = asyncio.Semaphore(self.slots)
        self._inside = 0  # running + waiting
        self.running = 0
        self.peak = 0

    async def run(self, fn, *args):
        if self._inside >= self.slots + self.queue:
            raise WebError(
                503, "busy", "the server is busy; try again shortly", headers={"Retry-After": "2"}
            )
        self._inside += 1
        try:
            async with self._sem:
                self.running += 1
                self.peak = max(self.peak, self.running)
                fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
                try:
                    return await asyncio.shield(fut)
                except asyncio.CancelledError:
                    # the thread runs on regardless: its slot stays taken until it is done
                    await asyncio.wait({fut})
                    raise
                finally:
                    self.running -= 1
        finally:
            self._inside -= 1


def safe_next(target: str | None) -> str:
    """Only paths on this server: never '//host' or 'https://elsewhere'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(
    *,
    error: str = "",
    next_: str = "/",
    username: str = "",
    status: int = 200,
    headers: dict | None = None,
    secure: bool = False,
) -> HTMLResponse:
    """The form, with a fresh double-submit CSRF cookie."""
    csrf = secrets.token_urlsafe(24)
    text = template("login.html").substitute(
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        csrf=csrf,
        next=html.escape(next_, quote=True),
        username=html.escape(username, quote=True),
    )
    response = HTMLResponse(text, status_code=status, headers=headers)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return response


async def password_login(request: Request) -> Response:
    """``POST /login``: the form's name and password; a session and a redirect to ``next``,
    or the form again saying what went wrong."""
    body = (await request.body())[:8192].decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    secure = request.url.scheme == "https"
    username = form.get("username", "").strip()
    password = form.get("password", "")
    next_ = safe_next(form.get("next"))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if (
        not cookie
        or not constant_time_equal(cookie, form.get("csrf", ""))
        or not same_origin(request)
    ):
        return login_page(
            error="The login form expired; please try again.",
            next_=next_,
            username=username,
            status=403,
            secure=secure,
        )
    pool = request.app.state.pool
    gate: Argon2Gate = request.app.state.argon2
    ip = client_ip(request)
    device = device_of(request, username)
    # No pooled connection is held while argon2 runs (or waits for its turn).
    async with pool.connection(timeout=10) as db:
        try:
            attempt = await reserve_attempt(db, request, username, device)
        except WebError as e:
            return login_page(
                error="Too many failed logins. Wait a few minutes, then try again.",
                next_=next_,
                username=username,
                status=429,
                headers=e.headers,
                secure=secure,
            )
        user = await accounts.user_by_name(db, username) if username else None
    try:
        ok = await gate.run(
            accounts.verify_password, user["password_hash"] if user else None, password
        )
        new_hash = None
        if ok and user is not None and accounts.password_needs_rehash(user["password_hash"]):
            new_hash = await gate.run(accounts.hash_password, password)
    except WebError as e:  # too many logins in flight
        return login_page(
            error="The server is busy. Try again in a moment.",
            next_=next_,
            username=username,
            status=e.status,
            headers=e.headers,
            secure=secure,
        )
    if not ok or user is None or user["disabled"]:  # the attempt stays counted as a failure
        return login_page(
            error="Wrong user name or password.",
            next_=next_,
            username=username,
            status=401,
            secure=secure,
        )
    async with pool.connection(timeout=10) as db:
        async with db.transaction():
            if new_hash is not None:
                await accounts.set_password_hash(db, user["id"], new_hash)
            sid = await start_session(
                db, request, principal=user["name"], role=user["role"], user_id=user["id"]
            )
            await sessions.mark_login_success(db, attempt, user["name"])
            await audit.record(
                db,
                actor=user["name"],
                role=user["role"],
                via="login",
                action="login.password",
                target=f"user:{user['name']}",
                ip=ip,
            )
    response = RedirectResponse(next_, status_code=303)
    set_session_cookie(response, request.app.state.auth, sid)
    remember_device(response, request, user["name"])
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _login_csrf_cookie(response: Response, csrf: str, secure: bool) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def token_link_page(request: Request, token: str) -> HTMLResponse:
    """``GET /?token=T``: a form that posts the token (nothing is checked or changed by a
    GET); its script sends it at once, after taking the token out of the address bar."""
    csrf = secrets.token_urlsafe(24)
    text = template("login-link.html").substitute(
        csrf=csrf, token=html.escape(token[:512], quote=True)
    )
    # same-origin, not no-referrer: under no-referrer Chromium posts the form with
    # "Origin: null", which the origin check must refuse; same-origin still keeps the
    # token's address from any other site (the page loads nothing from elsewhere).
    response = HTMLResponse(
        text, headers={"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
    )
    _login_csrf_cookie(response, csrf, request.url.scheme == "https")
    return response


async def token_login(request: Request) -> Response:
    """``POST /login/token``: the link's form (token, csrf); a session and a redirect to
    ``/``, or the login page saying what went wrong."""
    body = (await request.body())[:4096].decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    secure = request.url.scheme == "https"
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if (
        not cookie
        or not constant_time_equal(cookie, form.get("csrf", ""))
        or not same_origin(request)
    ):
        return login_page(error="The login link expired; open it again.", status=403, secure=secure)
    try:
        async with request.app.state.pool.connection(timeout=10) as db:
            response = await login_with_token(db, request, form.get("token", ""))
    except WebError as e:
        return login_page(
            error="That login link is not valid (unknown, expired or revoked token)."
            if e.status == 401
            else "Too many failed logins. Wait a few minutes, then try again."
            if e.status == 429
            else e.message,
            status=e.status,
            headers=e.headers,
            secure=secure,
        )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def logout(request: Request, db: psycopg.AsyncConnection) -> Response:
    """``POST /logout``: end the session; audited. The CSRF token comes in the
    ``X-CSRF-Token`` header (scripts) or the form's ``csrf`` field (the map's button)."""
    principal = await authenticate(request, db, method="GET")
    if principal.session_id:
        cfg: AuthConfig = request.app.state.auth
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            body = (await request.body())[:4096].decode("utf-8", "replace")
            sent = (parse_qs(body).get("csrf") or [""])[0]
        if not same_origin(request) or not constant_time_equal(
            sent, cfg.csrf_token(principal.session_id)
        ):
            raise WebError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    async with db.transaction():
        if principal.session_id:
            await sessions.delete_session(db, accounts.hash_token(principal.session_id))
        await audit_request(db, request, principal, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
