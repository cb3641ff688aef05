"""``mda token create|list|revoke``: API bearer tokens for scripts, shown once, stored hashed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from mda.store.accounts import ROLES, TOKEN_ROLES

from ..database import database_url
from ..errors import MdaError
from .user import _upgraded


def register(sub) -> None:
    p = sub.add_parser("token", help="API tokens for scripts: create, list, revoke")
    p.add_argument("--database", metavar="URL", help="database URL (default: settings)")
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = tsub.add_parser("create", help="create a token and print it once")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--user",
        metavar="NAME",
        help="the token acts as this user (at most the user's role; ends with the user)",
    )
    who.add_argument(
        "--role",
        choices=TOKEN_ROLES,
        dest="role_only",
        help="a token not tied to a user, with this role (receiver: may only push data to "
        "POST /api/ingest; --owner names the receiver)",
    )
    create.add_argument(
        "--role-limit",
        choices=ROLES,
        dest="role_limit",
        help="with --user: a lower role than the user's (e.g. viewer)",
    )
    create.add_argument(
        "--owner",
        default="script",
        help="with --role: a label naming who uses it (default: script)",
    )
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-days",
        type=float,
        metavar="N",
        help="valid for N days (default: the token_expiry_days setting, 90)",
    )
    expiry.add_argument(
        "--no-expiry",
        action="store_true",
        help="valid until revoked (not recommended: a leaked token works for ever)",
    )
    create.set_defaults(run=run_create)
    tsub.add_parser("list", help="list tokens (never the tokens themselves)").set_defaults(
        run=run_list
    )
    revoke = tsub.add_parser("revoke", help="revoke a token by its id (see list)")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(run=run_revoke)


def _utc(t: datetime) -> str:
    """A stored time as 'YYYY-MM-DD HH:MMZ', in UTC whatever the connection's time zone."""
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M}Z"


async def _with_conn(url: str, fn):
    from mda.store.db import connect

    # An AccountError (a role above the user's, ...) is a StoreError: the CLI prints it.
    async with await connect(url, autocommit=True) as conn:
        return await fn(conn)


def run_create(args, settings) -> int:
    from mda.store.accounts import create_token, user_by_name

    if args.expires_days is not None and args.expires_days <= 0:
        raise MdaError("--expires-days must be positive")
    days = args.expires_days if args.expires_days is not None else settings.token_expiry_days
    expires = None if args.no_expiry or days <= 0 else timedelta(days=days)

    async def create(conn):
        if args.user:
            user = await user_by_name(conn, args.user)
            if user is None:
                raise MdaError(f"no user {args.user!r}: add one with mda user add")
            role = args.role_limit or user["role"]
            return await create_token(conn, user["name"], role, expires, user=user["name"])
        return await create_token(conn, args.owner, args.role_only, expires)

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        token = asyncio.run(_with_conn(url, create))
    print(token)
    return 0


def run_list(args, settings) -> int:
    from mda.store.accounts import tokens

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows = asyncio.run(_with_conn(url, tokens))
    for t in rows:
        state = (
            "revoked"
            if t["revoked_at"]
            else f"expires {_utc(t['expires_at'])}"
            if t["expires_at"]
            else "no expiry"
        )
        used = f"last used {_utc(t['last_used_at'])}" if t["last_used_at"] else "never used"
        print(f"{t['id']:>5}  {t['owner']:<20} {t['role']:<10} {state:<24} {used}")
    if not rows:
        print("no tokens")
    forever = sum(1 for t in rows if not t["revoked_at"] and not t["expires_at"])
    if forever:
        print(
            f"{forever} token{'s' if forever != 1 else ''} never expire: revoke and replace "
            f"{'them' if forever != 1 else 'it'} (mda token create gives token_expiry_days)"
        )
    return 0


def run_revoke(args, settings) -> int:
    from mda.store.accounts import revoke_token

    async def revoke(conn):
        return await revoke_token(conn, args.id, actor="cli", via="cli")

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        ok = asyncio.run(_with_conn(url, revoke))
    if not ok:
        raise MdaError(f"no active token {args.id}")
    print(f"token {args.id} revoked")
    return 0
