"""Accounts: users, roles, passwords, API tokens and the demo token; the rules and their SQL.

Both front ends call this module and neither owns it: the command line (``mda user``,
``mda token``, the one-click link of ``mda demo``) and the web (password login, request
authentication, the demo token of a running service). A broken rule raises an
``AccountError`` (under the store's root, ``StoreError``); the CLI prints it as one line,
the web turns it into an HTTP status (``web/errors.py``).

- **Roles**, lowest first (``ROLES``): a higher role can do all that a lower one can.
- **Passwords**: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile). A
  login for a name that does not exist is verified against a dummy hash, so timing does not
  tell names apart.
- **Tokens**: ``mda_`` + 32 random bytes, shown once; only their SHA-256 is stored. A
  token tied to a user never carries more than that user's *current* role, and dies with
  the user (disabled or deleted).
- **Audit**: creating a user, creating or revoking a token writes an ``audit_log`` row in
  the same transaction.

Every function takes an open ``psycopg.AsyncConnection``; none commits outside its own
``conn.transaction()`` blocks.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg.rows import dict_row

from . import audit
from ._raw import fetch_raw
from .errors import StoreError

__all__ = [
    "ROLES",
    "RECEIVER",
    "PARTNER",
    "TOKEN_ROLES",
    "role_at_least",
    "check_role",
    "capped_role_sql",
    "AccountError",
    "InvalidName",
    "InvalidRole",
    "WeakPassword",
    "DuplicateUser",
    "UnknownUser",
    "RoleAboveUser",
    "InvalidDemoToken",
    "MIN_PASSWORD",
    "hash_password",
    "verify_password",
    "password_needs_rehash",
    "new_token",
    "hash_token",
    "create_user",
    "user_by_name",
    "set_password_hash",
    "users",
    "users_json",
    "create_token",
    "token_by_hash",
    "touch_token",
    "tokens",
    "revoke_token",
    "DEMO_TOKEN_ROLE",
    "DEMO_TOKEN_TTL",
    "ensure_demo_token",
    "refresh_demo_token",
]

# The one list of roles, lowest first; the users and api_tokens CHECKs (migration 0002)
# hold the same names.
ROLES = ("viewer", "officer", "supervisor", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
# Outside the ladder: a receiver's token may push data (POST /api/ingest) and read nothing
# (no role_at_least holds for it); only tokens without a user carry it (migration 0008).
RECEIVER = "receiver"
# Outside the ladder too: a partner agency's token reads only what was shared with it
# (/api/partner/...); made by ``partners.add_partner`` (migration 0010).
PARTNER = "partner"
TOKEN_ROLES = (*ROLES, RECEIVER, PARTNER)

MIN_PASSWORD = 8
_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")

DEMO_TOKEN_ROLE = "supervisor"
DEMO_TOKEN_TTL = timedelta(hours=24)  # from each start of the service that installs it


# ------------------------------------------------------------------------------ errors


class AccountError(StoreError):
    """An account rule was broken; the message says which and how to do it right."""


class InvalidName(AccountError):
    """A user name with characters or a length the rules do not allow."""


class InvalidRole(AccountError):
    """A role not in ``ROLES``."""


class WeakPassword(AccountError):
    """A password shorter than ``MIN_PASSWORD``."""


class DuplicateUser(AccountError):
    """The user name is taken (names compare case-insensitively)."""


class UnknownUser(AccountError):
    """No user by that name."""


class RoleAboveUser(AccountError):
    """A user's token asked for more than the user's role."""


class InvalidDemoToken(AccountError):
    """The ``demo_token`` setting is too short to be a secret."""


# ------------------------------------------------------------------------------ roles


def role_at_least(role: str, needed: str) -> bool:
    return _RANK.get(role, -1) >= _RANK[needed]


def check_role(role: str) -> str:
    """``role`` if it is one of ``ROLES``; ``InvalidRole`` otherwise."""
    if role not in _RANK:
        raise InvalidRole(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


_ROLE_ARRAY = "ARRAY[" + ",".join(f"'{r}'" for r in ROLES) + "]"


def capped_role_sql(role: str, user_role: str) -> str:
    """SQL: the role expression ``role``, but never more than ``user_role`` (when that is
    not NULL, i.e. the token or session belongs to a user)."""
    return (
        f"CASE WHEN {user_role} IS NULL THEN {role} "
        f"WHEN array_position({_ROLE_ARRAY}, {role}) > array_position({_ROLE_ARRAY}, {user_role}) "
        f"THEN {user_role} ELSE {role} END"
    )


# ------------------------------------------------------------------------------ secrets

# argon2id with the library's defaults (RFC 9106 "low memory" profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (no such user), the work of a real check
    against a dummy hash is done all the same and the answer is False. Slow (tens of
    milliseconds, 64 MiB): callers run it in a thread."""
    if password_hash is None:
        _verify(_dummy_hash(), password)
        return False
    return _verify(password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (upgraded on login)."""
    return _hasher.check_needs_rehash(password_hash)


def new_token() -> str:
    return "mda_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    """The SHA-256 kept instead of a token or a session id."""
    return hashlib.sha256(token.encode()).digest()


# ------------------------------------------------------------------------------ users


async def create_user(
    conn: psycopg.AsyncConnection,
    name: str,
    password: str,
    role: str,
    *,
    actor: str = "cli",
    via: str = "cli",
) -> int:
    """Add a user with an argon2id hash of ``password``; audited. Returns the user id.
    ``InvalidName``, ``InvalidRole``, ``WeakPassword`` or ``DuplicateUser`` otherwise."""
    if not _NAME_RE.match(name or ""):
        raise InvalidName("a user name is 1-64 letters, digits or . _ @ - (no spaces)")
    check_role(role)
    if len(password or "") < MIN_PASSWORD:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD} characters")
    pw_hash = await asyncio.to_thread(hash_password, password)
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO users (name, password_hash, role) VALUES (%s, %s, %s) RETURNING id",
                (name, pw_hash, role),
            )
            user_id = (await cur.fetchone())[0]
            await audit.record(
                conn,
                actor=actor,
                via=via,
                action="user.create",
                target=f"user:{name}",
                details={"role": role},
            )
    except psycopg.errors.UniqueViolation:
        raise DuplicateUser(f"user {name!r} already exists") from None
    return user_id


async def user_by_name(conn: psycopg.AsyncConnection, name: str) -> dict | None:
    """``id``, ``name``, ``password_hash``, ``role``, ``disabled``; None if no such user."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, name, password_hash, role, disabled FROM users "
            "WHERE lower(name) = lower(%s)",
            (name,),
        )
        return await cur.fetchone()


async def set_password_hash(
    conn: psycopg.AsyncConnection, user_id: int, password_hash: str
) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
        (password_hash, user_id),
    )


async def users(conn: psycopg.AsyncConnection) -> list[dict]:
    """Every user (``name``, ``role``, ``disabled``, ``created_at``), by name."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT name, role, disabled, created_at FROM users ORDER BY name")
        return await cur.fetchall()


async def users_json(conn: psycopg.AsyncConnection) -> bytes:
    """The same list as a JSON array, for ``GET /api/users``."""
    return await fetch_raw(
        conn,
        """
        SELECT coalesce(json_agg(json_build_object('name', name, 'role', role,
            'disabled', disabled, 'created_at', created_at) ORDER BY name), '[]')::text
        FROM users""",
    )


# ------------------------------------------------------------------------------ tokens


async def create_token(
    conn: psycopg.AsyncConnection,
    owner: str,
    role: str,
    expires: datetime | timedelta | None = None,
    *,
    user: str | None = None,
    actor: str = "cli",
    via: str = "cli",
) -> str:
    """A new random API token for ``owner`` with ``role``, valid until ``expires`` (a time
    or a duration; None: no expiry); audited. Only its SHA-256 is stored: the caller shows
    it once.

    With ``user``, the token belongs to that user: it ends with the user and never carries
    more than the user's role (``UnknownUser``, ``RoleAboveUser``)."""
    if role in (RECEIVER, PARTNER):
        if user is not None:
            raise InvalidRole(f"a {role}'s token is not a user's: use --role {role} --owner NAME")
    else:
        check_role(role)
    if isinstance(expires, timedelta):
        expires = datetime.now(UTC) + expires
    elif expires is not None:  # naive means UTC; shown and audited in UTC
        expires = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires.astimezone(UTC)
    user_id = None
    if user is not None:
        row = await user_by_name(conn, user)
        if row is None:
            raise UnknownUser(f"no user {user!r}")
        if not role_at_least(row["role"], role):
            raise RoleAboveUser(f"user {row['name']} is {row['role']}; a token cannot carry {role}")
        user_id, owner = row["id"], row["name"]
    token = new_token()
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO api_tokens (token_sha256, owner, role, expires_at, user_id) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (hash_token(token), owner, role, expires, user_id),
        )
        token_id = (await cur.fetchone())[0]
        await audit.record(
            conn,
            actor=actor,
            via=via,
            action="token.create",
            target=f"token:{token_id}",
            details={
                "owner": owner,
                "role": role,
                "expires_at": expires.isoformat() if expires else None,
            },
        )
    return token


async def token_by_hash(conn: psycopg.AsyncConnection, token_sha256: bytes) -> dict | None:
    """A usable token (not revoked, not expired, its user not disabled): ``id``, ``owner``,
    ``principal`` (its user's name, else the owner), ``role`` (capped at its user's),
    ``user_id``, ``stale`` (last use over a minute ago); or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT t.id, t.owner, coalesce(u.name, t.owner) AS principal,
                   -- a user's token never carries more than the user's current role
                   {capped_role_sql("t.role", "u.role")} AS role,
                   t.user_id, t.last_used_at < now() - interval '1 minute'
                              OR t.last_used_at IS NULL AS stale
            FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
            WHERE t.token_sha256 = %s AND t.revoked_at IS NULL
              AND (t.expires_at IS NULL OR t.expires_at > now())
              AND (u.id IS NULL OR NOT u.disabled)""",
            (token_sha256,),
        )
        return await cur.fetchone()


async def touch_token(conn: psycopg.AsyncConnection, token_id: int) -> None:
    await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s", (token_id,))


async def tokens(conn: psycopg.AsyncConnection) -> list[dict]:
    """Every token (never the token itself): ``id``, ``owner``, ``role``, ``created_at``,
    ``expires_at``, ``revoked_at``, ``last_used_at``, by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, owner, role, created_at, expires_at, revoked_at, last_used_at "
            "FROM api_tokens ORDER BY id"
        )
        return await cur.fetchall()


async def revoke_token(
    conn: psycopg.AsyncConnection, token_id: int, *, actor: str = "cli", via: str = "cli"
) -> bool:
    """Revoke an active token; audited. False if there is no active token ``token_id``."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
            (token_id,),
        )
        if cur.rowcount != 1:
            return False
        await audit.record(
            conn, actor=actor, via=via, action="token.revoke", target=f"token:{token_id}"
        )
    return True


# ------------------------------------------------------------------------------ demo token


async def ensure_demo_token(
    conn: psycopg.AsyncConnection,
    token: str,
    *,
    role: str = DEMO_TOKEN_ROLE,
    actor: str = "system",
    ttl: timedelta | None = DEMO_TOKEN_TTL,
) -> int:
    """Make ``token`` (the ``demo_token`` setting) a valid token owned by ``demo`` for
    ``ttl`` from now (each start renews it; None: no expiry); audited when it creates or
    revives the token. Returns its id."""
    if len(token or "") < 16:
        raise InvalidDemoToken("the demo token needs at least 16 characters")
    check_role(role)
    ttl_s = ttl.total_seconds() if ttl is not None else None
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO api_tokens (token_sha256, owner, role, expires_at) "
            "VALUES (%(h)s, 'demo', %(r)s, now() + make_interval(secs => %(ttl)s)) "
            "ON CONFLICT (token_sha256) DO UPDATE SET owner = EXCLUDED.owner, "
            "role = EXCLUDED.role, revoked_at = NULL, expires_at = EXCLUDED.expires_at "
            "RETURNING id, (xmax = 0)",
            {"h": hash_token(token), "r": role, "ttl": ttl_s},
        )
        token_id, created = await cur.fetchone()
        if created:
            await audit.record(
                conn,
                actor=actor,
                via="cli",
                action="token.create",
                target=f"token:{token_id}",
                details={"owner": "demo", "role": role, "preset": True, "expires_in_s": ttl_s},
            )
    return token_id


async def refresh_demo_token(
    conn: psycopg.AsyncConnection, token: str, *, ttl: timedelta = DEMO_TOKEN_TTL
) -> bool:
    """Keep a running service's demo token alive for ``ttl`` more; a token revoked (or
    expired) meanwhile stays dead until the next start. True if it was extended."""
    cur = await conn.execute(
        "UPDATE api_tokens SET expires_at = now() + make_interval(secs => %s) "
        "WHERE token_sha256 = %s AND revoked_at IS NULL AND expires_at > now()",
        (ttl.total_seconds(), hash_token(token)),
    )
    return cur.rowcount == 1
