"""Login sessions and login attempts: the SQL behind the web's cookies and rate limits.

A session row is keyed by the SHA-256 of its random id (``accounts.hash_token``); its role
is re-read from its user, or its token, on every request, so a demotion, a disabled user
or a revoked token ends or narrows it at once. Login attempts are counted per device
(a browser that logged in as the user before), else per user name and address, per
address and per user name, for rate limits nobody can turn against someone else.
"""

from __future__ import annotations

import hashlib

import psycopg
from psycopg.rows import dict_row

from .accounts import capped_role_sql

__all__ = [
    "insert_session",
    "session_by_hash",
    "delete_session",
    "delete_expired_sessions",
    "reserve_login_attempt",
    "mark_login_success",
]


# ------------------------------------------------------------------------------ sessions


async def insert_session(
    conn: psycopg.AsyncConnection,
    id_sha256: bytes,
    principal: str,
    role: str,
    hours: float,
    *,
    user_id: int | None = None,
    token_id: int | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO sessions (id_sha256, principal, role, user_id, token_id, expires_at, ip, "
        "user_agent) VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s), %s, %s)",
        (
            id_sha256,
            principal,
            role,
            user_id,
            token_id,
            hours * 3600.0,
            ip,
            (user_agent or "")[:300] or None,
        ),
    )


async def session_by_hash(conn: psycopg.AsyncConnection, id_sha256: bytes) -> dict | None:
    """The live session, with the current role of its user or token, touching
    ``last_seen_at`` at most once a minute; or None.

    A password session lives while its user is enabled and takes the user's current role.
    A session made from a token lives while the token is unrevoked and unexpired and, for a
    user's token, while that user is enabled; its role is the token's, capped at the
    token user's current role (as for the token itself)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            WITH s AS (
                SELECT s.id_sha256, s.principal,
                       CASE WHEN s.user_id IS NOT NULL THEN u.role
                            WHEN s.token_id IS NOT NULL THEN {capped_role_sql("t.role", "tu.role")}
                            ELSE s.role END AS role,
                       s.user_id, s.token_id, s.expires_at, s.last_seen_at
                FROM sessions s
                LEFT JOIN users u ON u.id = s.user_id
                LEFT JOIN api_tokens t ON t.id = s.token_id
                LEFT JOIN users tu ON tu.id = t.user_id
                WHERE s.id_sha256 = %(h)s AND s.expires_at > now()
                  AND (s.user_id IS NULL OR (u.id IS NOT NULL AND NOT u.disabled))
                  AND (s.token_id IS NULL OR (t.id IS NOT NULL AND t.revoked_at IS NULL
                       AND (t.expires_at IS NULL OR t.expires_at > now())
                       AND (t.user_id IS NULL OR (tu.id IS NOT NULL AND NOT tu.disabled))))),
            touched AS (
                UPDATE sessions x SET last_seen_at = now() FROM s
                WHERE x.id_sha256 = s.id_sha256 AND s.last_seen_at < now() - interval '1 minute')
            SELECT principal, role, user_id, token_id, expires_at FROM s""",
            {"h": id_sha256},
        )
        return await cur.fetchone()


async def delete_session(conn: psycopg.AsyncConnection, id_sha256: bytes) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_sha256 = %s", (id_sha256,))


async def delete_expired_sessions(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
    return cur.rowcount


# ------------------------------------------------------------------------------ login attempts


def _attempt_name(username: str | None) -> str | None:
    return (username or "")[:64] or None


def _lock_key(kind: str, value: str) -> int:
    """A signed 64-bit advisory lock key for one rate-limit bucket."""
    digest = hashlib.sha256(f"mda-login:{kind}:{value}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def reserve_login_attempt(
    conn: psycopg.AsyncConnection,
    username: str | None,
    ip: str | None,
    window_s: float,
    limit_user: int,
    limit_ip: int,
    *,
    device: bytes | None = None,
    limit_user_all: int | None = None,
) -> tuple[int | None, float]:
    """Check the rate limits and count this attempt in one step: (attempt id, 0) when the
    attempt may go ahead, recorded as a failure until ``mark_login_success``; (None,
    seconds to wait) when a limit is reached (nothing recorded).

    Failures are counted so that nobody can lock another person out (the web's
    ``login.py`` explains the scheme):

    - from a browser that proved it logged in as ``username`` before (``device``, the
      SHA-256 of its device cookie's id): per device, ``limit_user`` failures; nothing
      else applies to it;
    - from any other: per user name *and* address, ``limit_user``; per address,
      ``limit_ip``; per user name from all addresses, ``limit_user_all``.

    Counts per user name start again after that user's last success (from that address,
    for the pair). The check and the insert run under transaction-scoped advisory locks
    on the buckets concerned, so parallel attempts are counted one after the other: no
    more than a limit ever get through, however many arrive at once."""
    name = _attempt_name(username)
    user = name.lower() if name else None
    if device is not None:
        buckets = [("device", device.hex(), limit_user)]
    else:
        buckets = [("ip", ip or "", limit_ip)]
        if user:
            buckets.append(("pair", f"{user}\n{ip or ''}", limit_user))
            if limit_user_all:
                buckets.append(("user", user, limit_user_all))
    async with conn.transaction():
        for key in sorted(_lock_key(kind, value) for kind, value, _ in buckets):
            # always in the same order: no deadlock between two attempts
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        for kind, _, limit in buckets:
            count, retry = await _failures(conn, kind, user, ip, device, window_s)
            if count >= limit:
                return None, retry
        cur = await conn.execute(
            "INSERT INTO login_attempts (username, ip, success, device) "
            "VALUES (%s, %s, false, %s) RETURNING id",
            (name, ip, device),
        )
        return (await cur.fetchone())[0], 0.0


# Failures in the window per bucket, since the last success that resets it, and the
# seconds until the oldest of them leaves the window.
_BUCKETS = {
    "device": (
        "device = %(d)s",
        "success AND device = %(d)s",
    ),
    "pair": (
        "device IS NULL AND lower(username) = %(u)s AND ip IS NOT DISTINCT FROM %(ip)s",
        "success AND lower(username) = %(u)s AND ip IS NOT DISTINCT FROM %(ip)s",
    ),
    "ip": ("device IS NULL AND ip IS NOT DISTINCT FROM %(ip)s", None),
    "user": (
        "device IS NULL AND lower(username) = %(u)s",
        "success AND lower(username) = %(u)s",
    ),
}


async def _failures(
    conn: psycopg.AsyncConnection,
    kind: str,
    user: str | None,
    ip: str | None,
    device: bytes | None,
    window_s: float,
) -> tuple[int, float]:
    where, reset = _BUCKETS[kind]
    since = (
        f"AND time > coalesce((SELECT max(time) FROM login_attempts WHERE {reset} "
        "AND time > now() - make_interval(secs => %(w)s)), '-infinity')"
        if reset
        else ""
    )
    cur = await conn.execute(
        f"""SELECT count(*), extract(epoch FROM min(time) + make_interval(secs => %(w)s) - now())
            FROM login_attempts WHERE NOT success AND {where}
              AND time > now() - make_interval(secs => %(w)s) {since}""",
        {"w": window_s, "u": user, "ip": ip, "d": device},
    )
    count, retry = await cur.fetchone()
    return count, float(retry or 0.0)


async def mark_login_success(
    conn: psycopg.AsyncConnection, attempt_id: int, username: str | None = None
) -> None:
    """A reserved attempt succeeded (which resets the per-user count)."""
    await conn.execute(
        "UPDATE login_attempts SET success = true, username = coalesce(%s, username) WHERE id = %s",
        (_attempt_name(username), attempt_id),
    )
