"""``mda share ALERT_ID --with P1,P2`` shares an alert (and optionally an extract of it)
with partners; ``mda share log [--verify]`` prints the share log and checks its hash chain,
naming the first broken row. Every share is audited (actor ``cli``); see docs/partners.md."""

from __future__ import annotations

import asyncio
from datetime import UTC

from ..database import database_url
from ..errors import MdaError
from .user import _upgraded


def register(sub) -> None:
    p = sub.add_parser(
        "share",
        help="share an alert with partners (ALERT_ID --with P1,P2); the share log (log)",
        description="mda share ALERT_ID --with P1,P2 [--extract | --extract-id N]  |  "
        "mda share log [--verify] [--last N]",
    )
    p.add_argument("what", metavar="ALERT_ID|log", help="the alert to share, or 'log'")
    p.add_argument("--database", metavar="URL", help="database URL (default: settings)")
    p.add_argument("--with", dest="partners", metavar="P1,P2", help="the partners to share with")
    p.add_argument(
        "--extract",
        action="store_true",
        help="make the alert's signed extract now and share it too (kept for the partners)",
    )
    p.add_argument(
        "--extract-id",
        type=int,
        metavar="N",
        help="also the extract N of this alert (its id as GET /api/alerts/{id}/extracts lists)",
    )
    p.add_argument(
        "--extract-sha256", metavar="HEX", help="with --extract-id: the SHA-256 it must have"
    )
    p.add_argument("--verify", action="store_true", help="with log: check the hash chain")
    p.add_argument("--last", type=int, metavar="N", help="with log: only the newest N rows")
    p.set_defaults(run=run)


async def _with_conn(url: str, fn):
    from mda.store.db import connect

    async with await connect(url, autocommit=True) as conn:
        return await fn(conn)


def run(args, settings) -> int:
    if args.what == "log":
        if args.partners or args.extract_id is not None:
            raise MdaError("mda share log takes --verify and --last, not --with")
        return _log(args, settings)
    try:
        alert_id = int(args.what)
    except ValueError:
        raise MdaError(f"{args.what!r}: give an alert id or 'log'") from None
    if args.verify or args.last is not None:
        raise MdaError("--verify and --last go with mda share log")
    if not args.partners:
        raise MdaError("--with P1,P2: the partners to share with")
    if args.extract and args.extract_id is not None:
        raise MdaError("--extract makes a new extract; --extract-id names one made before")
    from mda.store.shares import share_alert

    async def share(conn):
        if args.extract:
            return await _share_with_extract(conn, alert_id, args, settings)
        return await share_alert(
            conn,
            alert_id,
            args.partners.split(","),
            extract_id=args.extract_id,
            extract_sha256=args.extract_sha256,
            actor="cli",
            via="cli",
        )

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows = asyncio.run(_with_conn(url, share))
    for r in rows:
        extra = f" with extract {r['extract_id']}" if r["extract_id"] else ""
        print(f"alert {alert_id}{extra} shared with {r['partner']} (share log row {r['id']})")
    return 0


async def _share_with_extract(conn, alert_id: int, args, settings) -> list[dict]:
    import getpass

    from mda.exchange import extract, sharing
    from mda.exchange.errors import ExchangeError

    try:
        return await sharing.share_with_extract(
            conn,
            alert_id,
            args.partners.split(","),
            extract.ExtractOptions.from_settings(settings),
            extract.Maker(getpass.getuser(), None, "cli"),
            sharing.keep_dir_of(settings.data_path),
            actor="cli",
            via="cli",
        )
    except ExchangeError as e:
        raise MdaError(str(e)) from None


def _log(args, settings) -> int:
    from mda.store.shares import log_rows, verify

    async def read(conn):
        rows = await log_rows(conn, limit=args.last)
        return rows, (await verify(conn) if args.verify else None)

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows, checked = asyncio.run(_with_conn(url, read))
    for r in rows:
        what = f"hazard {r['hazard_id']}" if r.get("hazard_id") else f"alert {r['alert_id']}"
        extract = (
            f" extract {r['extract_id']} {r['extract_sha256'][:12]}" if r["extract_id"] else ""
        )
        print(
            f"{r['id']:>6}  {r['time'].astimezone(UTC):%Y-%m-%d %H:%M:%S}Z  "
            f"{what:<14} -> {r['partner']:<16} {r['mode']:<9} by {r['actor']}"
            f"{extract}  {r['sha256'][:16]}"
        )
    if not rows:
        print("nothing shared yet")
    if checked is None:
        return 0
    n, broken, head = checked
    if broken is not None:
        print(f"share log BROKEN at row {broken.id}: {broken.reason} ({n} rows before it hold)")
        return 1
    print(f"share log intact: {n} rows, head {head}")
    return 0
