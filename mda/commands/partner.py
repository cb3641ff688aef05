"""``mda partner add|list|disable|key``: the agencies alerts are shared with, their sharing
policies, their API tokens (role ``partner``) and their public keys (which verify their
events and extracts). Every change is audited (actor ``cli``);
see docs/partners.md."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from ..database import database_url
from ..errors import MdaError
from .user import _upgraded


def register(sub) -> None:
    p = sub.add_parser("partner", help="partner agencies and their sharing policies")
    p.add_argument("--database", metavar="URL", help="database URL (default: settings)")
    psub = p.add_subparsers(dest="partner_command", metavar="ACTION", required=True)
    add = psub.add_parser("add", help="add a partner and print its API token once")
    add.add_argument("name", help="the partner's name: letters, digits, . _ -")
    add.add_argument("--country", required=True, metavar="CC", help="ISO 3166-1 alpha-2 code")
    add.add_argument(
        "--kinds",
        nargs="+",
        default=[],
        metavar="KIND",
        help="alert kinds it may receive (space or comma separated; default: every kind)",
    )
    add.add_argument(
        "--min-severity",
        default="low",
        choices=("critical", "high", "medium", "low"),
        help="the lowest severity it may receive (default: low)",
    )
    add.add_argument(
        "--area", metavar="GEOJSON", help="a GeoJSON Polygon (file or text): only alerts inside"
    )
    add.add_argument(
        "--manual",
        action="store_true",
        help="share only when an officer does (default: matching alerts go automatically)",
    )
    add.add_argument(
        "--expires-days",
        type=float,
        metavar="N",
        help="the token is valid for N days (default: token_expiry_days; 0: no expiry)",
    )
    add.add_argument(
        "--key",
        metavar="FILE.pem",
        help="its Ed25519 public key (its `mda keys show`): verifies its events and extracts",
    )
    add.set_defaults(run=run_add)
    psub.add_parser("list", help="partners and their policies").set_defaults(run=run_list)
    key = psub.add_parser(
        "key", help="put or replace a partner's Ed25519 public key (PEM, its `mda keys show`)"
    )
    key.add_argument("name")
    key.add_argument("file", metavar="FILE.pem", help="the public key, PEM (or - for stdin)")
    key.set_defaults(run=run_key)
    dis = psub.add_parser("disable", help="disable a partner: nothing more goes to it")
    dis.add_argument("name")
    dis.set_defaults(run=run_disable)
    acl = psub.add_parser(
        "acl", help="a Mosquitto ACL file: each partner's broker account reads its own feed"
    )
    acl.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    acl.add_argument("--service-user", default="mda", help="the service's broker account")
    acl.set_defaults(run=run_acl)


async def _with_conn(url: str, fn):
    from mda.store.db import connect

    async with await connect(url, autocommit=True) as conn:
        return await fn(conn)


def _area(text: str | None):
    from mda.store.partners import parse_area

    if text is None:
        return None
    if not text.lstrip().startswith("{"):
        try:
            text = Path(text).read_text()
        except OSError as e:
            raise MdaError(f"--area {text}: {e.strerror or e}") from None
    return parse_area(text)


def _key(path: str) -> tuple[str, str]:
    """(PEM, fingerprint) of the public key in ``path`` (``-``: stdin)."""
    from mda.exchange.errors import ExchangeError
    from mda.exchange.signing import partner_key

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise MdaError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return partner_key(text)
    except ExchangeError as e:
        raise MdaError(f"{path}: {e}") from None


def run_add(args, settings) -> int:
    from mda.store.partners import add_partner

    kinds = [k for item in args.kinds for k in item.split(",")]
    area = _area(args.area)
    public_key = _key(args.key) if args.key else None
    days = args.expires_days if args.expires_days is not None else settings.token_expiry_days
    expires = timedelta(days=days) if days and days > 0 else None

    async def add(conn):
        return await add_partner(
            conn,
            args.name,
            args.country,
            kinds=kinds,
            min_severity=args.min_severity,
            area=area,
            automatic=not args.manual,
            token_expires=expires,
            public_key=public_key,
        )

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        row, token = asyncio.run(_with_conn(url, add))
    key = f", public key {row['key_fingerprint']}" if row["key_fingerprint"] else ""
    print(f"partner {row['name']} ({row['country']}) added{key}; its API token (shown once):")
    print(token)
    if not row["key_fingerprint"]:
        print(
            f"no public key yet: its events are refused until `mda partner key {row['name']} "
            "FILE.pem`",
            file=sys.stderr,
        )
    return 0


def run_key(args, settings) -> int:
    from mda.store.partners import set_partner_key

    public_key = _key(args.file)

    async def put(conn):
        return await set_partner_key(conn, args.name, public_key)

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        row = asyncio.run(_with_conn(url, put))
    print(f"partner {row['name']}: public key {row['key_fingerprint']}")
    return 0


def _policy(row) -> str:
    kinds = ",".join(row["kinds"]) if row["kinds"] else "all kinds"
    area = "in its area" if row["area"] else "anywhere"
    mode = "automatic" if row["automatic"] else "manual"
    return f"{kinds}, {row['min_severity']} and above, {area}, {mode}"


def run_list(args, settings) -> int:
    from mda.store.partners import list_partners

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows = asyncio.run(_with_conn(url, list_partners))
    for r in rows:
        state = "disabled" if r["disabled"] else "enabled"
        key = r["key_fingerprint"] or "no key"
        print(f"{r['name']:<20} {r['country']}  {state:<9} {key:<71} {_policy(r)}")
    if not rows:
        print("no partners yet: mda partner add NAME --country CC")
    return 0


def run_disable(args, settings) -> int:
    from mda.store.partners import disable_partner

    async def disable(conn):
        return await disable_partner(conn, args.name)

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        revoked = asyncio.run(_with_conn(url, disable))
    print(f"partner {args.name} disabled; {revoked} token{'s' if revoked != 1 else ''} revoked")
    return 0


def run_acl(args, settings) -> int:
    from datetime import UTC, datetime

    from mda.exchange.feeds import partner_acl
    from mda.store.partners import list_partners

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows = asyncio.run(_with_conn(url, list_partners))
    text = partner_acl(
        rows,
        service_user=args.service_user,
        generated=f" at {datetime.now(UTC):%Y-%m-%d %H:%M}Z",
    )
    if args.output:
        Path(args.output).write_text(text)
        enabled = sum(1 for r in rows if not r["disabled"])
        print(f"{args.output}: {enabled} partner account{'s' if enabled != 1 else ''}")
    else:
        print(text, end="")
    return 0
