"""Sessions: made from a password login or a token link, kept in a signed cookie.

The cookie ``mda_session`` holds a random id signed with the secret key (``HttpOnly``,
``SameSite=Lax``, ``Secure`` unless ``cookie_secure`` is off, ``Max-Age`` =
``session_hours``); the ``sessions`` table keeps the id's SHA-256. Every login attempt (a
password or a ``/?token=`` link) is counted against the rate limits *before* its
credential is checked, and marked a success afterwards.
"""

from __future__ import annotations

import secrets

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mda.store import accounts, audit, sessions

from .auth import SESSION_COOKIE, AuthConfig, client_ip, unauthenticated
from .errors import WebError

__all__ = ["start_session", "set_session_cookie", "reserve_attempt", "login_with_token"]


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
    db: psycopg.AsyncConnection, request: Request, username: str | None
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
    """``GET /?token=...``: a valid token becomes a session cookie and a redirect to ``/``
    (so the token leaves the address bar)."""
    attempt = await reserve_attempt(db, request, None)
    row = await accounts.token_by_hash(db, accounts.hash_token(token.strip()))
    if row is None:  # the attempt stays counted as a failure
        raise unauthenticated("the login link's token is unknown, expired or revoked")
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
