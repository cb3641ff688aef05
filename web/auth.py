"""Who makes a request: the bearer token or the session cookie behind it, and the CSRF
checks a state change made with the cookie must pass.

- **Scripts** send ``Authorization: Bearer <token>`` (tokens: ``store.accounts``). A bearer
  call carries no ambient credential, so it needs no CSRF token.
- **People** carry the cookie ``mda_session``: a random session id signed with the secret
  key (HMAC-SHA256); the database keeps only the id's SHA-256 (``store.sessions``), so
  logging out, disabling a user or revoking a token ends the session at the next request,
  and the role is re-read on every request.
- **CSRF**: an unsafe method made with the cookie must carry ``X-CSRF-Token`` (an HMAC of
  the session id, given to the page) and, when the browser sends one, an ``Origin`` of
  this server.

Sessions are made in ``sessions.py``, the login form is ``login.py``; the route
dependencies built on ``authenticate`` are in ``deps.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from starlette.requests import HTTPConnection

from mda.store import accounts, audit, sessions

from .config import WebConfig
from .errors import WebError

__all__ = [
    "AuthConfig",
    "Principal",
    "load_secret_key",
    "authenticate",
    "unauthenticated",
    "same_origin",
    "client_ip",
    "constant_time_equal",
    "audit_request",
    "SESSION_COOKIE",
    "CSRF_HEADER",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "mda_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_secret_key(settings) -> bytes:
    """The key that signs cookies: the ``secret_key`` setting, else a random key generated
    once into ``data_path/secret_key`` (mode 0600) and reused after. ``settings`` is the
    shell's settings object (a ``WebConfig`` with the ``data_path`` of the service)."""
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


def constant_time_equal(a: str, b: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (a forged header)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")
    )


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@dataclass(frozen=True)
class AuthConfig:
    """The secret key and the web settings it goes with, one per app (``app.state.auth``)."""

    key: bytes
    settings: WebConfig = field(default_factory=WebConfig)

    @classmethod
    def from_settings(cls, settings) -> AuthConfig:
        """From the shell's settings object: its web settings as they are, and the key."""
        return cls(key=load_secret_key(settings), settings=settings)

    def _mac(self, purpose: bytes, value: str) -> str:
        return _b64(hmac.new(self.key, purpose + value.encode(), hashlib.sha256).digest())

    def sign_session(self, sid: str) -> str:
        return f"{sid}.{self._mac(b'session:', sid)}"

    def unsign_session(self, cookie: str) -> str | None:
        sid, _, mac = cookie.rpartition(".")
        if sid and constant_time_equal(mac, self._mac(b"session:", sid)):
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
        return accounts.role_at_least(self.role, role)


def client_ip(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


def unauthenticated(message: str = "log in or send a bearer token") -> WebError:
    return WebError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


def same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # no Origin (same-origin GET, old client): the CSRF token decides
    host = conn.headers.get("host", "")
    try:
        return urlsplit(origin).netloc.lower() == host.lower()
    except ValueError:
        return False


async def authenticate(
    conn_: HTTPConnection,
    db: psycopg.AsyncConnection,
    *,
    method: str | None = None,
    partner: bool = False,
) -> Principal:
    """The principal behind a request or WebSocket, or ``WebError(401)``. Unsafe methods
    made with the session cookie must pass the CSRF checks (403 otherwise). A partner's
    token is refused (403) unless ``partner`` (only the ``/api/partner/`` routes)."""
    cfg: AuthConfig = conn_.app.state.auth
    header = conn_.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthenticated("only 'Authorization: Bearer <token>' is accepted")
        row = await accounts.token_by_hash(db, accounts.hash_token(value.strip()))
        if row is None:
            raise unauthenticated("the token is unknown, expired or revoked")
        if row["role"] == accounts.PARTNER and not partner:
            raise WebError(
                403, "forbidden", "a partner's token reads only what was shared: /api/partner/"
            )
        if row["stale"]:
            await accounts.touch_token(db, row["id"])
        return Principal(row["principal"], row["role"], "token", token_id=row["id"])
    cookie = conn_.cookies.get(SESSION_COOKIE)
    sid = cfg.unsign_session(cookie) if cookie else None
    if sid is None:
        raise unauthenticated()
    row = await sessions.session_by_hash(db, accounts.hash_token(sid))
    if row is None:
        raise unauthenticated("the session has ended; log in again")
    principal = Principal(
        row["principal"], row["role"], "session", session_id=sid, token_id=row["token_id"]
    )
    method = method or getattr(conn_, "method", "GET")
    if method not in SAFE_METHODS:
        if not same_origin(conn_):
            raise WebError(403, "csrf", "cross-origin request refused")
        sent = conn_.headers.get(CSRF_HEADER, "")
        if not constant_time_equal(sent, cfg.csrf_token(sid)):
            raise WebError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    return principal


async def audit_request(
    db: psycopg.AsyncConnection,
    request: HTTPConnection,
    principal: Principal,
    action: str,
    target: str | None = None,
    details: dict | None = None,
) -> None:
    """An audit row for what ``principal`` did through this request (and from where)."""
    await audit.record(
        db,
        actor=principal.name,
        role=principal.role,
        via=principal.via,
        action=action,
        target=target,
        ip=client_ip(request),
        details=details,
    )
