"""``mda hazard add|list|end|vessels|share``: hazard areas (a cyclone, a tsunami warning, an oil
spill) from a CAP 1.2 alert or GeoJSON file, or a polygon or circle given here; the service
raises zone_entry alerts for vessels entering those in force, and the map lists the vessels
at risk; ``share ID --partner NAME`` shares a hazard and its vessels at risk with partners
(the share log). Every change is in the audit log (actor ``cli``)."""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ..database import database_url
from ..errors import MdaError


def register(sub) -> None:
    p = sub.add_parser(
        "hazard", help="hazard areas: add (CAP, GeoJSON, polygon, circle), list, end"
    )
    p.add_argument("--database", metavar="URL", help="database URL (default: settings)")
    hsub = p.add_subparsers(dest="hazard_command", metavar="ACTION", required=True)
    add = hsub.add_parser(
        "add", help="add hazard areas from a CAP 1.2 alert or GeoJSON file, or --polygon/--circle"
    )
    add.add_argument("file", nargs="?", help="a CAP 1.2 alert (XML) or a GeoJSON Feature(s) file")
    add.add_argument("--polygon", metavar="'LAT,LON LAT,LON ...'", help="the area, CAP notation")
    add.add_argument("--circle", metavar="LAT,LON,RADIUS_KM", help="the area as a circle")
    add.add_argument("--name", help="what it is (required with --polygon/--circle)")
    add.add_argument("--severity", default="high", choices=("critical", "high", "medium", "low"))
    add.add_argument("--onset", metavar="TIME", help="in force from (ISO 8601 or +2h); default now")
    add.add_argument(
        "--expires", metavar="TIME", help="until (ISO 8601 or +12h); default: until ended"
    )
    add.add_argument(
        "--confirm-large",
        action="store_true",
        help="accept an area larger than a third of the ocean",
    )
    add.set_defaults(run=run_add)
    ls = hsub.add_parser("list", help="hazards in force or pending (--all: also ended, expired)")
    ls.add_argument("--all", action="store_true", help="also those ended or expired")
    ls.set_defaults(run=run_list)
    end = hsub.add_parser("end", help="end a hazard before it expires")
    end.add_argument("id", type=int)
    end.set_defaults(run=run_end)
    ves = hsub.add_parser("vessels", help="the vessels at risk from a hazard, by time of entry")
    ves.add_argument("id", type=int)
    ves.add_argument(
        "--horizon-h", type=float, help="how far ahead (hours; default: hazard_horizon_h)"
    )
    ves.set_defaults(run=run_vessels)
    conf = hsub.add_parser(
        "confirm", help="confirm a hazard awaiting confirmation (a large CAP area from MQTT)"
    )
    conf.add_argument("id", type=int)
    conf.set_defaults(run=run_confirm)
    sh = hsub.add_parser(
        "share", help="share a hazard and its vessels at risk with partners (the share log)"
    )
    sh.add_argument("id", type=int)
    sh.add_argument(
        "--partner",
        action="append",
        required=True,
        metavar="NAME",
        help="a partner to share with (repeat, or NAME1,NAME2)",
    )
    sh.set_defaults(run=run_share)


def _hazards_from_args(args, settings, now: float) -> tuple[list, str]:
    from mda.exchange.hazard_input import hazard_from_text, parse_when, read_hazards

    if args.file and (args.polygon or args.circle):
        raise MdaError("give a FILE or --polygon/--circle, not both")
    if args.file:
        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise MdaError(f"{path}: {e.strerror or e}") from None
        hazards = read_hazards(
            data,
            now=now,
            confirm_large=args.confirm_large,
            max_area=settings.hazard_max_area_deg2,
        )
        source = "cap" if data.lstrip()[:1] == b"<" else "geojson"
        return hazards, source
    if not (args.polygon or args.circle):
        raise MdaError("give a FILE (CAP or GeoJSON), --polygon or --circle")
    if not args.name:
        raise MdaError("--name: what the hazard is (a cyclone's name, 'oil spill ...')")
    h = hazard_from_text(
        polygon=args.polygon,
        circle_text=args.circle,
        name=args.name,
        severity=args.severity,
        onset=parse_when(args.onset, "--onset", now),
        expires=parse_when(args.expires, "--expires", now),
        now=now,
        confirm_large=args.confirm_large,
        max_area=settings.hazard_max_area_deg2,
    )
    return [h], "cli"


def _fmt(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def run_add(args, settings) -> int:
    from .user import _upgraded

    now = time.time()
    hazards, source = _hazards_from_args(args, settings, now)
    user = getpass.getuser()

    async def work(url: str) -> list[dict]:
        from mda.store import audit
        from mda.store.db import connect
        from mda.store.hazards import save_hazard

        rows = []
        async with await connect(url) as conn:
            async with conn.transaction():
                for h in hazards:
                    row = await save_hazard(conn, h, source=source, created_by="cli")
                    rows.append(row)
                    if row.get("unchanged"):  # older than the message it was read from
                        continue
                    await audit.record(
                        conn,
                        actor="cli",
                        via="cli",
                        action="hazard.create" if row["created"] else "hazard.update",
                        target=f"hazard:{row['id']}",
                        details={"name": row["name"], "source": source, "system_user": user},
                    )
        return rows

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows = asyncio.run(work(url))
    for r in rows:
        verb = "added" if r["created"] else "updated"
        if r.get("unchanged"):
            verb = "unchanged (this message is older than the one it was read from)"
        print(
            f"hazard {r['id']} {verb}: {r['name']} ({r['severity']}, {r['state']}, "
            f"until {_fmt(r['expires'])})"
        )
        for note in r["details"].get("repairs") or []:
            print(f"  repaired: {note}", file=sys.stderr)
    return 0


def run_list(args, settings) -> int:
    from .user import _upgraded

    async def work(url: str) -> list[dict]:
        from mda.store.db import connect
        from mda.store.hazards import list_hazards

        async with await connect(url, autocommit=True) as conn:
            return await list_hazards(conn, all_=args.all)

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows = asyncio.run(work(url))
    if not rows:
        print("no hazards" + ("" if args.all else " in force (--all: also ended, expired)"))
        return 0
    print(f"{'id':>5}  {'state':<9} {'severity':<9} {'onset':<17} {'expires':<17} name")
    for r in rows:
        print(
            f"{r['id']:>5}  {r['state']:<9} {r['severity']:<9} {_fmt(r['onset']):<17} "
            f"{_fmt(r['expires']):<17} {r['name']}"
        )
    return 0


def run_end(args, settings) -> int:
    from .user import _upgraded

    user = getpass.getuser()

    async def work(url: str) -> dict:
        from mda.store import audit
        from mda.store.db import connect
        from mda.store.hazards import end_hazard

        async with await connect(url) as conn:
            async with conn.transaction():
                row = await end_hazard(conn, args.id, "cli")
                await audit.record(
                    conn,
                    actor="cli",
                    via="cli",
                    action="hazard.end",
                    target=f"hazard:{args.id}",
                    details={"name": row["name"], "system_user": user},
                )
                return row

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        row = asyncio.run(work(url))
    print(f"hazard {row['id']} ended: {row['name']}")
    return 0


def run_confirm(args, settings) -> int:
    from .user import _upgraded

    user = getpass.getuser()

    async def work(url: str) -> tuple[dict, bool]:
        from mda.store import audit
        from mda.store.db import connect
        from mda.store.hazards import InvalidHazard, confirm_hazard, get_hazard

        async with await connect(url) as conn:
            async with conn.transaction():
                before = await get_hazard(conn, args.id)
                try:
                    row = await confirm_hazard(conn, args.id, "cli")
                except InvalidHazard as e:
                    raise MdaError(str(e)) from None
                waiting = before["status"] == "unconfirmed"
                if waiting:
                    await audit.record(
                        conn,
                        actor="cli",
                        via="cli",
                        action="hazard.confirm",
                        target=f"hazard:{args.id}",
                        details={"name": row["name"], "system_user": user},
                    )
                return row, waiting

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        row, waiting = asyncio.run(work(url))
    verb = "confirmed, in force" if waiting else "needed no confirmation"
    print(f"hazard {row['id']} {verb}: {row['name']} ({row['state']})")
    return 0


def run_vessels(args, settings) -> int:
    from mda.analytics.hazards import beacon_prefixes, vessels_at_risk

    from .user import _upgraded

    async def work(url: str):
        from mda.store.db import connect
        from mda.store.hazards import get_hazard, vessel_states

        async with await connect(url, autocommit=True) as conn:
            row = await get_hazard(conn, args.id)
            # distress beacons left out, as the API does (the same prefixes)
            return row, await vessel_states(conn, exclude_prefixes=beacon_prefixes(settings))

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        row, states = asyncio.run(work(url))
    from mda.store.hazards import to_hazard

    now = time.time()
    horizon = args.horizon_h if args.horizon_h is not None else settings.hazard_horizon_h
    risk = vessels_at_risk(to_hazard(row), states, now, horizon_h=horizon)
    print(f"hazard {row['id']} {row['name']} ({row['state']}): {len(risk)} vessels at risk")
    for r in risk:
        when = "inside" if r.inside else "enters " + _fmt(datetime.fromtimestamp(r.entry_ts, UTC))
        print(f"{r.mmsi:>9}  {when:<24} {r.distance_nm:6.1f} nm  {r.vessel.name or ''}")
    return 0


def run_share(args, settings) -> int:
    from .user import _upgraded

    partners = [p.strip() for item in args.partner for p in item.split(",") if p.strip()]
    if not partners:
        raise MdaError("--partner NAME: the partners to share with")

    async def work(url: str) -> list[dict]:
        from mda.store.db import connect
        from mda.store.shares import share_hazard

        async with await connect(url, autocommit=True) as conn:
            return await share_hazard(conn, args.id, partners, actor="cli", via="cli")

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        rows = asyncio.run(work(url))
    for r in rows:
        print(f"hazard {args.id} shared with {r['partner']} (share log row {r['id']})")
    return 0
