"""Sessions: made from a password login or a token link, kept in a signed cookie.

The cookie ``mda_session`` holds a random id signed with the secret key (``HttpOnly``,
``SameSite=Lax``, ``Secure`` unless ``cookie_secure`` is off, ``Max-Age`` =
``session_hours``); the ``sessions`` table keeps the id's SHA-256. Every login attempt (a
password or a token link) is counted against the rate limits *before* its credential is
checked, and marked a success afterwards.

The **device cookie** ``mda_device`` (``HttpOnly``, ``SameSite=Strict``, path ``/login``,
``login_device_days``) remembers that this browser logged in as a user: one signed entry
per user name (the last ``DEVICE_ENTRIES``), each a random id. A login attempt that shows
a valid entry for the name it tries is counted against that device alone (``login.py``
says why).
"""

from __future__ import annotations

import base64
import hashlib
import secrets

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mda.store import accounts, audit, sessions

from .auth import SESSION_COOKIE, AuthConfig, client_ip, constant_time_equal, unauthenticated
from .errors import WebError

__all__ = [
    "start_session",
    "set_session_cookie",
    "reserve_attempt",
    "login_with_token",
    "device_of",
    "remember_device",
    "DEVICE_COOKIE",
]

DEVICE_COOKIE = "mda_device"
DEVICE_ENTRIES = 8  # user names one browser is remembered for (a shared console)


def _user_key(username: str) -> str:
    return base64.urlsafe_b64encode(username.lower().encode()).rstrip(b"=").decode()


def _entries(request: Request) -> list[tuple[str, str, str]]:
    raw = request.cookies.get(DEVICE_COOKIE, "")
    out = []
    for entry in raw.split("~")[: DEVICE_ENTRIES * 2]:
        parts = entry.split(".")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
    return out


def device_of(request: Request, username: str) -> bytes | None:
    """The device id (SHA-256 of the entry's random id) when this browser shows a valid
    device cookie entry for ``username``; else None."""
    if not username:
        return None
    cfg: AuthConfig = request.app.state.auth
    user = _user_key(username)
    for u, nonce, mac in _entries(request):
        if u == user and constant_time_equal(mac, cfg._mac(b"device:", f"{u}.{nonce}")):
            return hashlib.sha256(nonce.encode()).digest()
    return None


def remember_device(response: Response, request: Request, username: str) -> None:
    """After a correct password: (re)issue this browser's entry for ``username``."""
    cfg: AuthConfig = request.app.state.auth
    user = _user_key(username)
    nonce = secrets.token_urlsafe(18)
    keep = [e for e in _entries(request) if e[0] != user][-(DEVICE_ENTRIES - 1) :]
    entries = [*keep, (user, nonce, cfg._mac(b"device:", f"{user}.{nonce}"))]
    response.set_cookie(
        DEVICE_COOKIE,
        "~".join(".".join(e) for e in entries),
        max_age=int(cfg.settings.login_device_days * 86400),
        path="/login",
        httponly=True,
        secure=cfg.settings.cookie_secure,
        samesite="strict",
    )


def set_session_cookie(response: Response, cfg: AuthConfig, sid: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cfg.sign_session(sid),
        max_age=int(cfg.settings.session_hours * 3600),
        path="/",
        httponly=True,
        secure=cfg.settings.cookie_secure,
        samesite="lax",
    )


async def start_session(
    db: psycopg.AsyncConnection,
    request: Request,
    *,
    principal: str,
    role: str,
    user_id: int | None = None,
    token_id: int | None = None,
) -> str:
    """A new session row; its id, for the cookie."""
    cfg: AuthConfig = request.app.state.auth
    sid = secrets.token_urlsafe(32)
    await sessions.insert_session(
        db,
        accounts.hash_token(sid),
        principal,
        role,
        cfg.settings.session_hours,
        user_id=user_id,
        token_id=token_id,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return sid


async def reserve_attempt(
    db: psycopg.AsyncConnection,
    request: Request,
    username: str | None,
    device: bytes | None = None,
) -> int:
    """Count this login attempt against the rate limits before any credential is checked
    (atomically: parallel attempts cannot all slip under the limit); its id, or 429."""
    cfg: AuthConfig = request.app.state.auth
    attempt, retry = await sessions.reserve_login_attempt(
        db,
        username,
        client_ip(request),
        cfg.settings.login_rate_window_s,
        cfg.settings.login_rate_limit,
        cfg.settings.login_rate_limit_ip,
        device=device,
        limit_user_all=cfg.settings.login_rate_limit_user,
    )
    if attempt is None:
        raise WebError(
            429,
            "rate_limited",
            "too many failed logins; wait before trying again",
            headers={"Retry-After": str(max(1, int(retry) + 1))},
        )
    return attempt


async def login_with_token(db: psycopg.AsyncConnection, request: Request, token: str) -> Response:
    """``POST /login/token`` (the one-click link's form, CSRF-checked by the caller): a
    valid token becomes a session cookie and a redirect to ``/``. Counted against the
    address's rate limit like a password."""
    attempt = await reserve_attempt(db, request, None)
    row = await accounts.token_by_hash(db, accounts.hash_token(token.strip()))
    if row is None:  # the attempt stays counted as a failure
        raise unauthenticated("the login link's token is unknown, expired or revoked")
    if row["role"] not in accounts.ROLES:  # a receiver's or partner's token: no map for it
        raise WebError(403, "forbidden", "this token cannot open the map")
    async with db.transaction():
        sid = await start_session(
            db, request, principal=row["principal"], role=row["role"], token_id=row["id"]
        )
        await sessions.mark_login_success(db, attempt, row["principal"])
        await audit.record(
            db,
            actor=row["principal"],
            role=row["role"],
            via="token",
            action="login.token",
            target=f"token:{row['id']}",
            ip=client_ip(request),
        )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request.app.state.auth, sid)
    return response
