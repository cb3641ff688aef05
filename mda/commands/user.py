"""``mda user add NAME --role R`` and ``mda user list``: people who log in to the map."""

from __future__ import annotations

import asyncio
import getpass
import sys
from datetime import UTC

from mda.store.accounts import ROLES

from ..database import database_url
from ..errors import MdaError


def register(sub) -> None:
    p = sub.add_parser("user", help="web users: add, list")
    p.add_argument("--database", metavar="URL", help="database URL (default: settings)")
    usub = p.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = usub.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("name", help="login name: letters, digits, . _ @ -")
    add.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="viewer: read only; officer: + acknowledge/close alerts; "
        "supervisor: + audit log; admin: everything",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    add.set_defaults(run=run_add)
    usub.add_parser("list", help="list users and their roles").set_defaults(run=run_list)


def _read_password(args) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise MdaError("no terminal to ask for the password; use --password-stdin")
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise MdaError("the passwords differ")
    if not password:
        raise MdaError("empty password")
    return password


def _upgraded(url: str, settings) -> None:
    from mda.store.db import connect_sync
    from mda.store.migrate import upgrade

    with connect_sync(url) as conn:
        upgrade(conn, retention_days=settings.retention_days)


def run_add(args, settings) -> int:
    password = _read_password(args)

    async def add(url: str) -> None:
        from mda.store.accounts import create_user
        from mda.store.db import connect

        # An AccountError (taken name, bad name, short password) is a StoreError: the CLI
        # prints its message as one line.
        async with await connect(url, autocommit=True) as conn:
            await create_user(conn, args.name, password, args.role, actor="cli")

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        asyncio.run(add(url))
    print(f"user {args.name} added with role {args.role}")
    return 0


def run_list(args, settings) -> int:
    async def rows(url: str) -> list:
        from mda.store.accounts import users
        from mda.store.db import connect

        async with await connect(url, autocommit=True) as conn:
            return await users(conn)

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        users = asyncio.run(rows(url))
    for u in users:
        flag = "  (disabled)" if u["disabled"] else ""
        since = u["created_at"].astimezone(UTC)
        print(f"{u['name']:<24} {u['role']:<10} since {since:%Y-%m-%d}{flag}")
    if not users:
        print("no users yet: mda user add NAME --role officer")
    return 0
