"""Authentication, authorisation, CSRF, rate limits and the audit trail.

The model (see web/README.md for the full story):

- **Roles**, lowest to highest: ``viewer`` (read only: partner desks, wall displays,
  scripts), ``officer`` (acknowledge and close alerts), ``supervisor`` (and read the
  audit log and the users), ``admin`` (everything). A higher role can do all that a
  lower one can.
- **People** log in with a name and password (argon2id hashes) and get a server-side
  **session**: the cookie ``mda_session`` holds a random id signed with the secret key
  (HttpOnly, SameSite=Lax, Secure unless ``cookie_secure`` is off); the database keeps
  only the SHA-256 of the id, so logging out, disabling a user or revoking a token ends
  a session at once.
- **Scripts** send ``Authorization: Bearer <token>``. Tokens are random, shown once, and
  stored as SHA-256 only. ``GET /?token=...`` (the one-click link ``mda demo`` prints)
  trades a valid token for a session and redirects to ``/``.
- **CSRF**: a state change made with the session cookie must carry ``X-CSRF-Token`` (an
  HMAC of the session id, given to the page) and, when the browser sends one, an
  ``Origin`` of this server. Bearer-token calls carry no ambient credential and need
  neither. The login form uses a double-submit cookie.
- **Rate limits**: login attempts are counted per user name and per client address over
  a window, each counted (atomically, under a lock on its buckets) before its password is
  checked; past the limit the answer is 429 with ``Retry-After``. At most a few argon2
  verifications run at once, whatever the number of requests.
- **Audit**: every state change (logins, logouts, acknowledgements, closures, users and
  tokens created) is a row in ``audit_log``: who, what, when, from where.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import APIRouter, Depends, Request
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, RedirectResponse, Response

from store import queries as q

from .errors import WebError

__all__ = [
    "ROLES", "Principal", "AuthConfig", "role_at_least", "load_secret_key",
    "hash_password", "verify_password", "hash_token", "new_token",
    "create_user", "create_token", "ensure_demo_token", "refresh_demo_token", "DEMO_TOKEN_ROLE",
    "DEMO_TOKEN_TTL", "Argon2Gate",
    "authenticate", "require", "router", "SESSION_COOKIE", "CSRF_HEADER",
]

log = logging.getLogger(__name__)

from .roles import ROLES
_RANK = {r: i for i, r in enumerate(ROLES)}
DEMO_TOKEN_ROLE = "supervisor"
DEMO_TOKEN_TTL = timedelta(hours=24)  # from each start of the service that installs it

SESSION_COOKIE = "mda_session"
LOGIN_CSRF_COOKIE = "mda_login_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD = 8

# argon2id with the library's defaults (RFC 9106 "low memory" profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not tell names apart."""
    return _hasher.hash(secrets.token_hex(16))


def role_at_least(role: str, needed: str) -> bool:
    return _RANK.get(role, -1) >= _RANK[needed]


def _check_role(role: str) -> str:
    if role not in _RANK:
        raise WebError(400, "bad_request", f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


# ------------------------------------------------------------------------------ secrets


def load_secret_key(settings) -> bytes:
    """The key that signs cookies: the ``secret_key`` setting, else a random key generated
    once into ``data_dir/secret_key`` (mode 0600) and reused after."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_path) / "secret_key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    log.info("generated a new secret key in %s", path)
    return key


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return "mda_" + secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


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
            raise WebError(503, "busy", "the server is busy; try again shortly",
                           headers={"Retry-After": "2"})
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


def _argon2_gate(app) -> Argon2Gate:
    gate = getattr(app.state, "argon2", None)
    if gate is None:
        gate = app.state.argon2 = Argon2Gate()
    return gate


def _eq(a: str, b: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (a forged header)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"),
                               b.encode("utf-8", "surrogateescape"))


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@dataclass(frozen=True)
class AuthConfig:
    key: bytes
    session_hours: float = 12.0
    cookie_secure: bool = True
    rate_limit_user: int = 5
    rate_limit_ip: int = 20
    rate_window_s: float = 900.0

    @classmethod
    def from_settings(cls, settings) -> "AuthConfig":
        return cls(key=load_secret_key(settings), session_hours=settings.session_hours,
                   cookie_secure=settings.cookie_secure,
                   rate_limit_user=settings.login_rate_limit,
                   rate_limit_ip=settings.login_rate_limit_ip,
                   rate_window_s=settings.login_rate_window_s)

    def _mac(self, purpose: bytes, value: str) -> str:
        return _b64(hmac.new(self.key, purpose + value.encode(), hashlib.sha256).digest())

    def sign_session(self, sid: str) -> str:
        return f"{sid}.{self._mac(b'session:', sid)}"

    def unsign_session(self, cookie: str) -> str | None:
        sid, _, mac = cookie.rpartition(".")
        if sid and _eq(mac, self._mac(b"session:", sid)):
            return sid
        return None

    def csrf_token(self, sid: str) -> str:
        return self._mac(b"csrf:", sid)


@dataclass(frozen=True)
class Principal:
    """Who makes this request, and how they proved it."""

    name: str
    role: str
    via: str  # 'session' or 'token'
    session_id: str | None = None
    token_id: int | None = None

    def can(self, role: str) -> bool:
        return role_at_least(self.role, role)


def client_ip(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


# ------------------------------------------------------------------------------ CLI-facing


async def create_user(conn: psycopg.AsyncConnection, name: str, password: str, role: str, *,
                      actor: str = "cli", via: str = "cli") -> int:
    """Add a user with an argon2id hash of ``password``; audited. Returns the user id.
    Raises ``WebError`` (400/409) for a bad name, role or password, or a taken name."""
    if not _NAME_RE.match(name or ""):
        raise WebError(400, "bad_request",
                       "a user name is 1-64 letters, digits or . _ @ - (no spaces)")
    _check_role(role)
    if len(password or "") < MIN_PASSWORD:
        raise WebError(400, "bad_request", f"a password needs at least {MIN_PASSWORD} characters")
    pw_hash = await asyncio.to_thread(hash_password, password)
    try:
        async with conn.transaction():
            user_id = await q.insert_user(conn, name, pw_hash, role)
            await q.audit(conn, actor=actor, via=via, action="user.create", target=f"user:{name}",
                          details={"role": role})
    except psycopg.errors.UniqueViolation:
        raise WebError(409, "conflict", f"user {name!r} already exists") from None
    return user_id


async def create_token(conn: psycopg.AsyncConnection, owner: str, role: str,
                       expires: datetime | timedelta | None = None, *, user: str | None = None,
                       actor: str = "cli", via: str = "cli") -> str:
    """A new random API token for ``owner`` with ``role``, valid until ``expires`` (a time
    or a duration; None: no expiry). Only its SHA-256 is stored: the caller shows it once.

    With ``user``, the token belongs to that user: it ends with the user and never carries
    more than the user's role."""
    _check_role(role)
    if isinstance(expires, timedelta):
        expires = datetime.now(timezone.utc) + expires
    elif expires is not None:  # naive means UTC; shown and audited in UTC
        expires = (expires.replace(tzinfo=timezone.utc) if expires.tzinfo is None
                   else expires.astimezone(timezone.utc))
    user_id = None
    if user is not None:
        row = await q.user_by_name(conn, user)
        if row is None:
            raise WebError(404, "not_found", f"no user {user!r}")
        if not role_at_least(row["role"], role):
            raise WebError(400, "bad_request",
                           f"user {row['name']} is {row['role']}; a token cannot carry {role}")
        user_id, owner = row["id"], row["name"]
    token = new_token()
    async with conn.transaction():
        token_id = await q.insert_token(conn, hash_token(token), owner, role, expires, user_id)
        await q.audit(conn, actor=actor, via=via, action="token.create", target=f"token:{token_id}",
                      details={"owner": owner, "role": role,
                               "expires_at": expires.isoformat() if expires else None})
    return token


async def ensure_demo_token(conn: psycopg.AsyncConnection, token: str, *,
                            role: str = DEMO_TOKEN_ROLE, actor: str = "system",
                            ttl: timedelta | None = DEMO_TOKEN_TTL) -> int:
    """Make ``token`` (the ``demo_token`` setting) a valid token owned by ``demo`` for
    ``ttl`` from now (each start renews it; None: no expiry); audited when it creates or
    revives the token. Returns its id."""
    if len(token or "") < 16:
        raise WebError(400, "bad_request", "the demo token needs at least 16 characters")
    ttl_s = ttl.total_seconds() if ttl is not None else None
    async with conn.transaction():
        token_id, created = await q.upsert_token(conn, hash_token(token), "demo", role, ttl_s)
        if created:
            await q.audit(conn, actor=actor, via="cli", action="token.create",
                          target=f"token:{token_id}",
                          details={"owner": "demo", "role": role, "preset": True,
                                   "expires_in_s": ttl_s})
    return token_id


async def refresh_demo_token(conn: psycopg.AsyncConnection, token: str, *,
                             ttl: timedelta = DEMO_TOKEN_TTL) -> bool:
    """Keep a running service's demo token alive for ``ttl`` more; a token revoked (or
    expired) meanwhile stays dead until the next start."""
    return await q.extend_token(conn, hash_token(token), ttl.total_seconds())


# ------------------------------------------------------------------------------ requests


def _unauthenticated(message: str = "log in or send a bearer token") -> WebError:
    return WebError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


def _same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # no Origin (same-origin GET, old client): the CSRF token decides
    host = conn.headers.get("host", "")
    try:
        return urlsplit(origin).netloc.lower() == host.lower()
    except ValueError:
        return False


async def authenticate(conn_: HTTPConnection, db: psycopg.AsyncConnection, *,
                       method: str | None = None) -> Principal:
    """The principal behind a request or WebSocket, or ``WebError(401)``. Unsafe methods
    made with the session cookie must pass the CSRF checks (403 otherwise)."""
    cfg: AuthConfig = conn_.app.state.auth
    header = conn_.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthenticated("only 'Authorization: Bearer <token>' is accepted")
        row = await q.token_by_hash(db, hash_token(value.strip()))
        if row is None:
            raise _unauthenticated("the token is unknown, expired or revoked")
        if row["stale"]:
            await q.touch_token(db, row["id"])
        return Principal(row["principal"], row["role"], "token", token_id=row["id"])
    cookie = conn_.cookies.get(SESSION_COOKIE)
    sid = cfg.unsign_session(cookie) if cookie else None
    if sid is None:
        raise _unauthenticated()
    row = await q.session_by_hash(db, hash_token(sid))
    if row is None:
        raise _unauthenticated("the session has ended; log in again")
    principal = Principal(row["principal"], row["role"], "session", session_id=sid,
                          token_id=row["token_id"])
    method = method or getattr(conn_, "method", "GET")
    if method not in SAFE_METHODS:
        if not _same_origin(conn_):
            raise WebError(403, "csrf", "cross-origin request refused")
        sent = conn_.headers.get(CSRF_HEADER, "")
        if not _eq(sent, cfg.csrf_token(sid)):
            raise WebError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    return principal


async def db_conn(request: Request):
    """One pooled connection per request (FastAPI caches it across the dependencies)."""
    async with request.app.state.pool.connection(timeout=10) as conn:
        yield conn


def require(role: str = "viewer"):
    """A dependency: the request's principal, who must hold ``role`` or higher."""
    _check_role(role)

    async def dependency(request: Request, db=Depends(db_conn)) -> Principal:
        principal = await authenticate(request, db)
        if not principal.can(role):
            raise WebError(403, "forbidden",
                           f"this needs the {role} role; {principal.name} is {principal.role}")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


async def audit_request(db: psycopg.AsyncConnection, request: HTTPConnection, principal: Principal,
                        action: str, target: str | None = None, details: dict | None = None) -> None:
    await q.audit(db, actor=principal.name, role=principal.role, via=principal.via, action=action,
                  target=target, ip=client_ip(request), details=details)


# ------------------------------------------------------------------------------ sessions


def _set_session_cookie(response: Response, cfg: AuthConfig, sid: str) -> None:
    response.set_cookie(SESSION_COOKIE, cfg.sign_session(sid),
                        max_age=int(cfg.session_hours * 3600), path="/", httponly=True,
                        secure=cfg.cookie_secure, samesite="lax")


async def _start_session(db: psycopg.AsyncConnection, request: Request, *, principal: str,
                         role: str, user_id: int | None = None,
                         token_id: int | None = None) -> str:
    cfg: AuthConfig = request.app.state.auth
    sid = secrets.token_urlsafe(32)
    await q.insert_session(db, hash_token(sid), principal, role, cfg.session_hours,
                           user_id=user_id, token_id=token_id, ip=client_ip(request),
                           user_agent=request.headers.get("user-agent"))
    return sid


def _rate_limited(retry: float) -> WebError:
    return WebError(429, "rate_limited", "too many failed logins; wait before trying again",
                    headers={"Retry-After": str(max(1, int(retry) + 1))})


async def _reserve_attempt(db: psycopg.AsyncConnection, request: Request,
                           username: str | None) -> int:
    """Count this login attempt against the rate limits before any credential is checked
    (atomically: parallel attempts cannot all slip under the limit); its id, or 429."""
    cfg: AuthConfig = request.app.state.auth
    attempt, retry = await q.reserve_login_attempt(
        db, username, client_ip(request), cfg.rate_window_s, cfg.rate_limit_user,
        cfg.rate_limit_ip)
    if attempt is None:
        raise _rate_limited(retry)
    return attempt


async def login_with_token(db: psycopg.AsyncConnection, request: Request, token: str) -> Response:
    """``GET /?token=...``: a valid token becomes a session cookie and a redirect to ``/``."""
    attempt = await _reserve_attempt(db, request, None)
    row = await q.token_by_hash(db, hash_token(token.strip()))
    if row is None:  # the attempt stays counted as a failure
        raise _unauthenticated("the login link's token is unknown, expired or revoked")
    async with db.transaction():
        sid = await _start_session(db, request, principal=row["principal"], role=row["role"],
                                   token_id=row["id"])
        await q.mark_login_success(db, attempt, row["principal"])
        await q.audit(db, actor=row["principal"], role=row["role"], via="token",
                      action="login.token", target=f"token:{row['id']}", ip=client_ip(request))
    response = RedirectResponse("/", status_code=303)
    _set_session_cookie(response, request.app.state.auth, sid)
    return response


# ------------------------------------------------------------------------------ pages

router = APIRouter(include_in_schema=False)

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _safe_next(target: str | None) -> str:
    """Only paths on this server: never '//host' or 'https://elsewhere'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@functools.cache
def _login_template() -> Template:
    return Template((_TEMPLATES / "login.html").read_text(encoding="utf-8"))


def _login_page(*, error: str = "", next_: str = "/", username: str = "", status: int = 200,
                headers: dict | None = None, secure: bool = False) -> HTMLResponse:
    import html

    csrf = secrets.token_urlsafe(24)
    page = _login_template().substitute(
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        csrf=csrf, next=html.escape(next_, quote=True), username=html.escape(username, quote=True))
    response = HTMLResponse(page, status_code=status, headers=headers)
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=secure)
    return response


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    return _login_page(next_=_safe_next(next), secure=request.url.scheme == "https")


@router.post("/login")
async def login(request: Request) -> Response:
    body = (await request.body())[:8192].decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    secure = request.url.scheme == "https"
    username = form.get("username", "").strip()
    password = form.get("password", "")
    next_ = _safe_next(form.get("next"))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not _eq(cookie, form.get("csrf", "")) or not _same_origin(request):
        return _login_page(error="The login form expired; please try again.", next_=next_,
                           username=username, status=403, secure=secure)
    pool = request.app.state.pool
    gate = _argon2_gate(request.app)
    ip = client_ip(request)
    # No pooled connection is held while argon2 runs (or waits for its turn).
    async with pool.connection(timeout=10) as db:
        try:
            attempt = await _reserve_attempt(db, request, username)
        except WebError as e:
            return _login_page(error="Too many failed logins. Wait a few minutes, then try again.",
                               next_=next_, username=username, status=429, headers=e.headers,
                               secure=secure)
        user = await q.user_by_name(db, username) if username else None
    try:
        ok = await gate.run(verify_password, user["password_hash"] if user else _dummy_hash(),
                            password)
        new_hash = None
        if ok and user is not None and _hasher.check_needs_rehash(user["password_hash"]):
            new_hash = await gate.run(hash_password, password)
    except WebError as e:  # too many logins in flight
        return _login_page(error="The server is busy. Try again in a moment.", next_=next_,
                           username=username, status=e.status, headers=e.headers, secure=secure)
    if not ok or user is None or user["disabled"]:  # the attempt stays counted as a failure
        return _login_page(error="Wrong user name or password.", next_=next_, username=username,
                           status=401, secure=secure)
    async with pool.connection(timeout=10) as db:
        async with db.transaction():
            if new_hash is not None:
                await q.set_password_hash(db, user["id"], new_hash)
            sid = await _start_session(db, request, principal=user["name"], role=user["role"],
                                       user_id=user["id"])
            await q.mark_login_success(db, attempt, user["name"])
            await q.audit(db, actor=user["name"], role=user["role"], via="login",
                          action="login.password", target=f"user:{user['name']}", ip=ip)
    response = RedirectResponse(next_, status_code=303)
    _set_session_cookie(response, request.app.state.auth, sid)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, db=Depends(db_conn)) -> Response:
    """End the session; audited. CSRF-checked like every state change: the token comes in
    the ``X-CSRF-Token`` header (scripts) or the form's ``csrf`` field (the map's button)."""
    principal = await authenticate(request, db, method="GET")
    if principal.session_id:
        cfg: AuthConfig = request.app.state.auth
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            body = (await request.body())[:4096].decode("utf-8", "replace")
            sent = (parse_qs(body).get("csrf") or [""])[0]
        if not _same_origin(request) or not _eq(sent, cfg.csrf_token(principal.session_id)):
            raise WebError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    async with db.transaction():
        if principal.session_id:
            await q.delete_session(db, hash_token(principal.session_id))
        await audit_request(db, request, principal, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def me(principal: Principal, cfg: AuthConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"name": principal.name, "role": principal.role, "via": principal.via,
                           "can_acknowledge": principal.can("officer")}
    if principal.session_id:
        out["csrf_token"] = cfg.csrf_token(principal.session_id)
    return out
